//! The manual pages: `tcpplay(1)` and `tcpplay-COMMAND(1)`. clap_mangen
//! renders the synopsis and the options (grouped under the same headings as
//! `--help`); this adds what a manual has and `--help` cannot hold —
//! COMMANDS, FILES, ENVIRONMENT, EXIT STATUS, EXAMPLES, SEE ALSO — and the
//! version. Generated into `man/` (`tcpplay man --dir man`; a test keeps the
//! committed pages current).

use clap::CommandFactory;
use clap_mangen::Man;
use roff::{bold, roman, Roff};

use crate::cli::{help, Cli, CHECK_EXIT_CODES};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What goes into a page besides clap's parts.
struct Extra {
    commands: Option<(&'static str, String)>,
    examples: &'static [(&'static str, &'static str)],
    exit: String,
}

const FILES: &[(&str, &str)] = &[
    (
        "./tcpplay.toml, ~/.config/tcpplay/config.toml",
        "settings, when --config and TCPPLAY_CONFIG name none (examples/tcpplay.toml lists every key)",
    ),
    (
        "~/.local/share/tcpplay/known_hosts",
        "join: certificates trusted on first use (HOST:PORT and SHA-256), and servers known to be secure rooms; join --forget-host HOST:PORT forgets one",
    ),
    (
        "~/.local/share/tcpplay/history/BIND-PORT.sqlite3",
        "serve: the chat history of the server on that address (history.path overrides)",
    ),
    (
        "cert.pem, key.pem, ca.pem, ca-key.pem, room.record",
        "what gen-cert and gen-room write (keys and records owner-only)",
    ),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    ("TCPPLAY_CONFIG", "the settings file (like --config)"),
    (
        "TCPPLAY_SECTION__KEY",
        "one setting, e.g. TCPPLAY_SERVE__PORT=7000 or TCPPLAY_JOIN__NAME=Bob: above the file, below flags",
    ),
    (
        "TCPPLAY_PASSWORD",
        "a secure room's password (serve, join, gen-room), instead of a prompt",
    ),
    (
        "TCPPLAY_LOG",
        "log filter on stderr, e.g. debug or tcpplay=trace (overrides -v)",
    ),
    ("NO_COLOR", "no colours in join's output"),
];

const GENERAL_EXIT: &str =
    "0 success; 1 runtime failure; 2 usage or configuration error; 130 cancelled at a prompt.";

fn extra(name: &str) -> Extra {
    let exit = GENERAL_EXIT.to_string();
    match name {
        "tcpplay-join" => Extra {
            commands: Some(("Typed in the chat (Tab completes them):", help::chat_commands())),
            examples: &[
                ("tcpplay join", "asks for the server, the port and your name"),
                ("tcpplay join 192.168.1.5:12345 --name Bob", "no prompts for what you pass"),
                (
                    "tcpplay join 'tcpplay://192.168.1.5:12345/?fp=AB:CD:...#maths'",
                    "the link serve printed: pins its certificate, joins #maths",
                ),
                ("echo done | tcpplay join chat.lan --name ci-bot --no-tls", "one line from a script"),
                ("tcpplay join chat.lan --name logger --json --listen </dev/null", "a logger: every event as JSON until SIGTERM"),
            ],
            exit: "0 left with /quit, Ctrl-D or the end of piped input with every line sent \
                   (typed lines the server refused were answered on the screen and do not count); \
                   1 connection refused or lost, closed by the server, a piped line not sent, \
                   lines a secure room refused as forged, TLS or authentication failure; \
                   2 usage or configuration error; 130 cancelled at a prompt."
                .into(),
        },
        "tcpplay-serve" => Extra {
            commands: Some(("Typed at the console where serve runs:", help::CONSOLE_COMMANDS.to_string())),
            examples: &[
                ("tcpplay serve", "plaintext on port 12345; prints where to join"),
                ("tcpplay gen-cert --lan && tcpplay serve --tls --cert cert.pem --key key.pem", "TLS for a LAN"),
                (
                    "tcpplay serve --secure --cert cert.pem --key key.pem",
                    "a password-protected secure room (asks the password)",
                ),
                ("tcpplay serve --cluster redis://127.0.0.1:6379", "one node of a cluster on Redis"),
            ],
            exit: "0 stopped by Ctrl-C, SIGTERM or /quit; 1 runtime failure; 2 usage or configuration \
                   error (also what --check-config finds)."
                .into(),
        },
        "tcpplay-check" => Extra {
            commands: None,
            examples: &[
                ("tcpplay check --local", "settings and files only"),
                ("tcpplay check chat.lan:12345 --name probe", "connect, join, ping, leave"),
            ],
            exit: CHECK_EXIT_CODES.trim_start_matches("Exit codes:").replace("\n  ", "; ").trim_start_matches("; ").to_string(),
        },
        "tcpplay-gen-cert" => Extra {
            commands: None,
            examples: &[
                ("tcpplay gen-cert --lan", "a self-signed certificate for this machine's names and LAN addresses"),
                ("tcpplay gen-cert --ca --client alice", "a local CA and a client certificate for alice"),
            ],
            exit,
        },
        "tcpplay-gen-room" => Extra {
            commands: None,
            examples: &[("tcpplay gen-room --out room.record", "asks the password twice, writes the record")],
            exit,
        },
        _ => Extra {
            commands: None,
            examples: &[
                ("tcpplay serve", "a chat server on port 12345"),
                ("tcpplay join 192.168.1.5", "join it from another machine"),
            ],
            exit,
        },
    }
}

/// `(label, text)` pairs as tagged paragraphs.
fn tagged(roff: &mut Roff, items: &[(&str, &str)]) {
    for (label, text) in items {
        roff.control("TP", []);
        roff.text([bold(*label)]);
        roff.text([roman(*text)]);
    }
}

/// A block kept as typed (commands lists).
fn verbatim(roff: &mut Roff, text: &str) {
    roff.control("nf", []);
    for line in text.lines() {
        roff.text([roman(line)]);
    }
    roff.control("fi", []);
}

fn page(name: &str, cmd: clap::Command, all: &[String]) -> Vec<u8> {
    let cmd = cmd.disable_help_subcommand(true);
    let man = Man::new(cmd.clone())
        .title(name.to_uppercase())
        .date(format!("version {VERSION}"))
        .source("tcpplay")
        .manual("tcpplay manual");
    let mut out = Vec::new();
    // Rendering into memory cannot fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    let _ = man.render_options_section(&mut out);
    if cmd.get_subcommands().next().is_some() {
        let _ = man.render_subcommands_section(&mut out);
    }
    let x = extra(name);
    let mut roff = Roff::new();
    if let Some((intro, list)) = &x.commands {
        roff.control("SH", ["COMMANDS"]);
        roff.text([roman(*intro)]);
        verbatim(&mut roff, list);
    }
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman(x.exit.as_str())]);
    roff.control("SH", ["ENVIRONMENT"]);
    tagged(&mut roff, ENVIRONMENT);
    roff.control("SH", ["FILES"]);
    tagged(&mut roff, FILES);
    roff.control("SH", ["EXAMPLES"]);
    tagged(&mut roff, x.examples);
    roff.control("SH", ["SEE ALSO"]);
    let others: Vec<String> = all
        .iter()
        .filter(|p| p.as_str() != name)
        .map(|p| format!("{p}(1)"))
        .collect();
    roff.text([roman(others.join(", "))]);
    roff.control("SH", ["VERSION"]);
    roff.text([roman(VERSION)]);
    let _ = roff.to_writer(&mut out);
    out
}

/// The manual pages: `tcpplay.1` and `tcpplay-COMMAND.1`, with their text.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let cmd = Cli::command();
    let mut names = vec!["tcpplay".to_string()];
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .cloned()
        .collect();
    names.extend(subs.iter().map(|s| format!("tcpplay-{}", s.get_name())));
    let mut pages = vec![(
        "tcpplay.1".to_string(),
        page("tcpplay", cmd.clone(), &names),
    )];
    for sub in subs {
        let name = format!("tcpplay-{}", sub.get_name());
        let bin = format!("tcpplay {}", sub.get_name());
        let body = page(&name, sub.name(name.clone()).bin_name(bin), &names);
        pages.push((format!("{name}.1"), body));
    }
    pages
}

/// `tcpplay man [COMMAND]` without `--dir`: the page, as `git help` shows
/// one — through man(1) on a terminal, else its roff source on stdout
/// (`tcpplay man | man -l -`).
pub fn show(command: Option<&str>) -> anyhow::Result<u8> {
    use std::io::{IsTerminal, Write};
    let file = match command {
        Some(c) => format!("tcpplay-{c}.1"),
        None => "tcpplay.1".to_string(),
    };
    let pages = man_pages();
    let Some((_, page)) = pages.iter().find(|(n, _)| *n == file) else {
        let commands: Vec<&str> = pages
            .iter()
            .filter_map(|(n, _)| n.strip_prefix("tcpplay-")?.strip_suffix(".1"))
            .collect();
        return Err(crate::config::usage(format!(
            "there is no manual page for '{}': the commands are {}",
            crate::names::sanitize(command.unwrap_or_default()),
            commands.join(", ")
        )));
    };
    let terminal = std::io::stdout().is_terminal();
    if terminal {
        let shown = std::process::Command::new("man")
            .args(["-l", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .ok()
            .and_then(|mut child| {
                let _ = child.stdin.take()?.write_all(page);
                child.wait().ok()
            });
        if shown.is_some_and(|s| s.success()) {
            return Ok(0);
        }
    }
    std::io::stdout().write_all(page)?;
    if terminal {
        eprintln!("(this is the page's source: no man program here could show it; `tcpplay man --dir DIR` writes every page)");
    }
    Ok(0)
}
