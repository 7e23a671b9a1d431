//! The operator console: prints what happens in the room on stdout, and reads
//! lines from stdin (plain lines are chat as `server`, `/commands` are
//! operator commands). On a terminal the input is a line editor (history,
//! incoming lines above the prompt, Ctrl-C stops the server). End of stdin,
//! or losing the terminal, is not a shutdown: the server goes on, and signals
//! still stop it. Output goes through [`crate::output`], so a console nobody
//! reads never slows the room.

use std::io::{BufRead, IsTerminal};
use std::sync::atomic::Ordering;

use super::room::{Body, Speaker};
use super::ServerHandle;
use crate::crypto::{self, Kind};
use crate::names::{sanitize, split_name};
use crate::output;
use crate::protocol::{now_ms, parse, Packet};

/// Print room events on stdout in the original's style, on its own thread so a
/// slow terminal never slows the room (a lagging console skips, and says so).
/// Quiet: only joins, leaves and notices — the room does not even queue chat
/// lines for it.
pub fn spawn_console_printer(server: &ServerHandle, quiet: bool) {
    let secure = server.secure();
    let Some(feed) = server.room().console_feed(!quiet) else {
        return;
    };
    std::thread::spawn(move || loop {
        let Ok(frame) = feed.rx.recv() else { return };
        let missed = feed.dropped.swap(0, Ordering::Relaxed);
        if missed > 0 {
            output::out(format!("(console fell behind: {missed} events not shown)"));
        }
        let line = match parse(&frame) {
            Ok(Packet::Chat(c)) if !quiet => {
                let from = c.from.as_deref().unwrap_or("?");
                let sender = match c.port {
                    Some(p) => format!("{}[{p}]", sanitize(from)),
                    None => sanitize(from).into_owned(),
                };
                // A sealed line is shown only once the operator unlocked
                // the console with the room password (the server cannot).
                let key = secure.as_ref().and_then(|s| s.console_key());
                let text = match (&c.text, &c.payload, key) {
                    (Some(t), _, _) => t.clone(),
                    (None, Some(p), Some(key)) => {
                        let what = crypto::Sealed {
                            from,
                            kind: if c.action { Kind::Action } else { Kind::Chat },
                            sent: c.sent.unwrap_or_default(),
                        };
                        key.open(p, &what)
                            .map(|(t, _)| t)
                            .unwrap_or_else(|_| "[a sealed line that does not open]".into())
                    }
                    _ => "[sealed: /unlock to read]".into(),
                };
                if c.action {
                    format!("..:: * {sender} {}", sanitize(&text))
                } else {
                    format!("..:: {sender}: {}", sanitize(&text))
                }
            }
            Ok(Packet::System(s)) => sanitize(s.text.trim()).into_owned(),
            Ok(Packet::Count(c)) => format!("+ Total connected clients: [{}]", c.total),
            _ => continue,
        };
        output::out(line);
    });
}

/// Read operator lines from stdin on a plain thread (never blocks shutdown):
/// a line editor when stdin and stdout are a terminal, else plain lines.
pub fn spawn_console_input(server: ServerHandle) {
    std::thread::spawn(move || {
        let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        if !(terminal && edit_lines(&server)) {
            plain_lines(&server);
        }
        tracing::info!("console input closed; still serving (Ctrl-C or SIGTERM stops the server)");
    });
}

/// Lines from a pipe or file, until its end or an error (a closed terminal).
fn plain_lines(server: &ServerHandle) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { return };
        let line = line.trim_end_matches(['\r', '\n']);
        if !line.trim().is_empty() && !operator_line(server, line) {
            return;
        }
    }
}

/// Lines from a line editor whose printer shows output above the prompt;
/// false when the editor cannot drive this terminal.
fn edit_lines(server: &ServerHandle) -> bool {
    use rustyline::error::ReadlineError;
    use rustyline::ExternalPrinter;
    let Ok(mut editor) = rustyline::DefaultEditor::new() else {
        return false;
    };
    let Ok(mut printer) = editor.create_external_printer() else {
        return false;
    };
    output::set_printer(Box::new(move |line: &str| {
        printer
            .print(line.to_string())
            .map_err(std::io::Error::other)
    }));
    loop {
        match editor.readline("> ") {
            Ok(line) if line.trim().is_empty() => {}
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                if !operator_line(server, &line) {
                    break;
                }
            }
            // The terminal's Ctrl-C is a key here (raw mode), not a signal.
            Err(ReadlineError::Interrupted) => {
                output::out("shutting down");
                server.shutdown().cancel();
                break;
            }
            // Ctrl-D, or the terminal went away.
            Err(_) => break,
        }
    }
    output::clear_printer();
    true
}

const CONSOLE_HELP: &str =
    "console: a plain line is sent to everyone as `server`; //text sends a line starting with /
  /users                 who is connected, from where, for how long
  /kick NAME [REASON]    remove someone (they are told the reason)
  /motd [TEXT]           show, or set, the message of the day (/motd - clears it)
  /unlock                a secure room: read and speak (asks the room password; the server keeps none)
  /reload                re-read the settings (like SIGHUP): limits, MOTD, certificate
  /quit                  stop the server (everyone gets a goodbye)";

/// Handle one console line; false when the console should stop reading.
fn operator_line(server: &ServerHandle, line: &str) -> bool {
    let out = |s: String| output::out(s);
    let room = server.room();
    let secure = server.secure();
    // In a secure room the operator's lines are sealed like everyone
    // else's, which needs the console unlocked.
    let say = |text: String| {
        match &secure {
        Some(s) => match s.console_key() {
            Some(key) => {
                let sent = now_ms();
                let what = crypto::Sealed {
                    from: "server",
                    kind: Kind::Chat,
                    sent,
                };
                let body = Body {
                    payload: Some(key.seal(&text, &what)),
                    sent: Some(sent),
                    ..Default::default()
                };
                room.chat(Speaker::Server, body);
            }
            None => out("this room is sealed: /unlock with the room password to speak in it (the server does not keep it); not sent".into()),
        },
        None => room.chat(Speaker::Server, Body::text(text)),
    }
    };
    if let Some(rest) = line.strip_prefix("//") {
        say(format!("/{rest}"));
        return true;
    }
    let Some(cmd) = line.strip_prefix('/') else {
        say(line.to_string());
        return true;
    };
    let (word, args) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let args = args.trim();
    match word {
        "users" => {
            let members = room.members();
            out(format!("{} connected:", members.len()));
            for m in members {
                let secs = now_ms().saturating_sub(m.since) / 1000;
                out(format!(
                    "  {} from {} ({secs} s)",
                    sanitize(&m.name),
                    m.addr
                ));
            }
        }
        "kick" if args.is_empty() => out("usage: /kick NAME [REASON]".into()),
        "kick" => {
            let known: Vec<String> = room.members().into_iter().map(|m| m.name).collect();
            let (name, reason) = split_name(args, &known);
            let reason = if reason.is_empty() {
                "no reason given"
            } else {
                reason
            };
            match room.kick(&name, reason) {
                Some(n) => {
                    tracing::info!(name = %sanitize(&n), "kicked by the operator");
                    out(format!("removed {}", sanitize(&n)));
                }
                None => out(format!(
                    "nobody called '{}' is here: /users lists who is",
                    sanitize(&name)
                )),
            }
        }
        "motd" if args.is_empty() => match server.motd() {
            Some(m) => out(format!("message of the day: {}", sanitize(&m))),
            None => out("no message of the day (/motd TEXT sets one)".into()),
        },
        "motd" => {
            let motd = (args != "-").then(|| args.to_string());
            server.set_motd(motd.clone());
            match motd {
                Some(m) => {
                    room.notice(&Packet::event("motd", None, m));
                    out("message of the day set (and shown to everyone here)".into());
                }
                None => out("message of the day cleared".into()),
            }
        }
        "unlock" if secure.is_none() => {
            out("this room is not sealed: there is nothing to unlock".into())
        }
        "unlock" => {
            let Some(room) = &secure else { return true };
            match crate::prompt::password("Room password", false) {
                Ok(pw) if room.unlock(pw.as_bytes()) => {
                    out("unlocked: sealed lines are shown here, and yours are sealed".into())
                }
                Ok(_) => out("that is not the room's password; still locked".into()),
                Err(e) => out(format!(
                    "cannot ask for the password here ({e:#}): the console must be a terminal"
                )),
            }
        }
        "reload" => {
            out("reloading settings".into());
            server.request_reload();
        }
        "quit" => {
            out("shutting down".into());
            server.shutdown().cancel();
            return false;
        }
        "help" => out(CONSOLE_HELP.into()),
        other => out(format!(
            "unknown console command /{}: try /help",
            sanitize(other)
        )),
    }
    true
}
