//! The operator console of `serve`: prints what happens in the rooms on
//! stdout, and reads lines from stdin (plain lines are chat as `server`,
//! `/commands` are operator commands, [`super::commands`]). On a terminal
//! the input is a line editor (history, incoming lines above the prompt,
//! Ctrl-C stops the server). End of stdin, or losing the terminal, is not a
//! shutdown: the server goes on, and signals still stop it. Output goes
//! through [`crate::output`], so a console nobody reads never slows the
//! rooms. The server is reached only through its handle's operator actions.

use std::io::{BufRead, IsTerminal};

use super::commands::{self, Change, Command};
use crate::names::sanitize;
use crate::output;
use crate::protocol::{now_ms, parse, Packet};
use crate::server::operator::{ConsoleText, Kicked, OperatorError};
use crate::server::ServerHandle;

/// Print room events on stdout in the original's style, on its own thread so a
/// slow terminal never slows the room (a lagging console skips, and says so).
/// Quiet: only joins, leaves and notices — the room does not even queue chat
/// lines for it.
pub(crate) fn spawn_printer(server: &ServerHandle, quiet: bool) {
    let Some(events) = server.console_events(!quiet) else {
        return;
    };
    let server = server.clone();
    std::thread::spawn(move || loop {
        let Ok(frame) = events.rx.recv() else { return };
        let missed = events.missed();
        if missed > 0 {
            output::out(format!("(console fell behind: {missed} events not shown)"));
        }
        if let Some(line) = event_line(&server, &frame, quiet) {
            output::out(line);
        }
    });
}

/// One room event as the console shows it (`None`: not shown).
fn event_line(server: &ServerHandle, frame: &[u8], quiet: bool) -> Option<String> {
    Some(match parse(frame).ok()? {
        Packet::Chat(c) if !quiet => {
            let label = room_label(c.room.as_deref());
            let from = c.from.as_deref().unwrap_or("?");
            let sender = match c.port {
                Some(p) => format!("{}[{p}]", sanitize(from)),
                None => sanitize(from).into_owned(),
            };
            // A sealed line is shown only once the operator unlocked the
            // console with the room password (the server cannot).
            let text = match server.console_text(&c) {
                ConsoleText::Plain(t) => sanitize(&t).into_owned(),
                ConsoleText::Sealed => "[sealed: /unlock to read]".into(),
                ConsoleText::DoesNotOpen => "[a sealed line that does not open]".into(),
            };
            match c.action {
                true => format!("..:: {label}* {sender} {text}"),
                false => format!("..:: {label}{sender}: {text}"),
            }
        }
        Packet::System(s) => format!(
            "{}{}",
            room_label(s.room.as_deref()),
            sanitize(s.text.trim())
        ),
        // The original's line, for the default room.
        Packet::Count(c) => match &c.room {
            None => format!("+ Total connected clients: [{}]", c.total),
            Some(r) => format!("+ {}: [{}] members", sanitize(r), c.total),
        },
        _ => return None,
    })
}

/// "[#room] " before a line of a room other than the default one.
fn room_label(room: Option<&str>) -> String {
    room.map(|r| format!("[{}] ", sanitize(r)))
        .unwrap_or_default()
}

/// Read operator lines from stdin on a plain thread (never blocks shutdown):
/// a line editor when stdin and stdout are a terminal, else plain lines.
/// `pages`: the browser page's addresses (for `/weblink`'s links).
pub(crate) fn spawn_input(server: ServerHandle, pages: Vec<String>) {
    std::thread::spawn(move || {
        let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        if !(terminal && edit_lines(&server, &pages)) {
            plain_lines(&server, &pages);
        }
        tracing::info!("console input closed; still serving (Ctrl-C or SIGTERM stops the server)");
    });
}

/// Lines from a pipe or file, until its end or an error (a closed terminal).
fn plain_lines(server: &ServerHandle, pages: &[String]) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { return };
        let line = line.trim_end_matches(['\r', '\n']);
        if !line.trim().is_empty() && !run(server, pages, commands::parse(line)) {
            return;
        }
    }
}

/// Lines from a line editor whose printer shows output above the prompt;
/// false when the editor cannot drive this terminal.
fn edit_lines(server: &ServerHandle, pages: &[String]) -> bool {
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
                if !run(server, pages, commands::parse(&line)) {
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

/// Run one command and print its answer; false when the console should
/// stop reading.
fn run(server: &ServerHandle, pages: &[String], cmd: Command) -> bool {
    let out = |s: String| output::out(s);
    let done = match cmd {
        Command::Say { room, text } => server.say(room.as_deref(), &text),
        Command::Users(Some(room)) => server.room_users(&room).map(|(name, users, total)| {
            out(format!("{total} in {name}:"));
            for u in users {
                let secs = now_ms().saturating_sub(u.since) / 1000;
                out(format!("  {} ({secs} s)", sanitize(&u.name)));
            }
        }),
        Command::Users(None) => {
            users(server);
            Ok(())
        }
        Command::Rooms => {
            rooms(server);
            Ok(())
        }
        Command::Kick { room, words } => server.kick(room.as_deref(), &words).map(said_kick),
        Command::Topic { room, change } => topic(server, &room, change),
        Command::Motd {
            room: Some(room),
            change,
        } => room_motd(server, &room, change),
        Command::Motd { room: None, change } => {
            motd(server, change);
            Ok(())
        }
        Command::Moderate { room, action } => server
            .moderate(room.as_deref(), &action)
            .map(|said| out(crate::names::sanitize(&said).into_owned())),
        Command::Unlock => unlock(server),
        Command::Weblink(name) => weblink(server, pages, &name),
        Command::Reload => {
            out("reloading settings".into());
            server.request_reload();
            Ok(())
        }
        Command::Quit => {
            out("shutting down".into());
            server.shutdown().cancel();
            return false;
        }
        Command::Help => {
            out(commands::help());
            Ok(())
        }
        Command::Usage(how) => {
            out(how.into());
            Ok(())
        }
        Command::Unknown(word) => {
            out(format!(
                "unknown console command /{}: try /help",
                sanitize(&word)
            ));
            Ok(())
        }
    };
    if let Err(e) = done {
        out(e.to_string());
    }
    true
}

/// `/weblink NAME`: a one-time sign-in link to the page for an account,
/// for the operator to hand to its holder. Shown on a terminal only: the
/// link is a password for 10 minutes, and a console piped to a file or a
/// journal would keep it.
fn weblink(server: &ServerHandle, pages: &[String], name: &str) -> Result<(), OperatorError> {
    if pages.is_empty() {
        output::out("this server serves no browser page (serve --web ADDR turns it on): a sign-in link needs one");
        return Ok(());
    }
    if !std::io::stdout().is_terminal() {
        output::out(
            "a sign-in link is a password for 10 minutes: the console shows one only on a terminal, \
             never into a pipe, file or log; run serve in a terminal, or have the account's holder type /weblink in tcpplay join",
        );
        return Ok(());
    }
    let (account, fragment) = server.signin_link(name)?;
    let account = sanitize(&account);
    tracing::info!(account = %account, "a sign-in link for the page made at the console");
    output::out(format!(
        "a sign-in link for {account}, good once within 10 minutes; give it to {account} only (whoever opens it first is signed in):"
    ));
    for page in pages {
        output::out(format!("  {page}{fragment}"));
    }
    Ok(())
}

fn users(server: &ServerHandle) {
    let members = server.connected();
    output::out(format!("{} connected:", members.len()));
    for m in members {
        let secs = now_ms().saturating_sub(m.since) / 1000;
        let rooms = match m.rooms.is_empty() {
            true => "no room".to_string(),
            false => m.rooms.join(" "),
        };
        output::out(format!(
            "  {} from {} ({secs} s) in {rooms}",
            sanitize(&m.name),
            m.addr
        ));
    }
}

fn rooms(server: &ServerHandle) {
    let (rooms, total) = server.room_list();
    output::out(format!("{}:", output::plural(total, "room", "rooms")));
    for r in rooms {
        let topic = r
            .topic
            .map(|t| format!(": {}", sanitize(&t)))
            .unwrap_or_default();
        let kept = if r.persistent { " (kept)" } else { "" };
        output::out(format!("  {} [{}]{kept}{topic}", r.room, r.total));
    }
}

fn said_kick(k: Kicked) {
    output::out(match k {
        Kicked::Server(n) => {
            tracing::info!(name = %sanitize(&n), "kicked by the operator");
            format!("removed {}", sanitize(&n))
        }
        Kicked::Room { name, room } => {
            tracing::info!(name = %sanitize(&name), room = %room, "taken out of a room by the operator");
            format!("removed {} from {room}", sanitize(&name))
        }
        Kicked::Elsewhere(n) => {
            tracing::info!(name = %sanitize(&n), "kicked by the operator (on another node)");
            format!("asked the node of {} to remove them", sanitize(&n))
        }
        Kicked::Nobody { name, room: None } => {
            format!(
                "nobody called '{}' is here: /users lists who is",
                sanitize(&name)
            )
        }
        Kicked::Nobody {
            name,
            room: Some(r),
        } => {
            format!(
                "nobody called '{}' is in {r}: /users {r} lists who is",
                sanitize(&name)
            )
        }
    });
}

fn topic(server: &ServerHandle, room: &str, change: Option<Change>) -> Result<(), OperatorError> {
    let name = server.room_name(Some(room))?;
    match change {
        None => match server.topic(room)? {
            Some(t) => output::out(format!("{name}: {}", sanitize(&t))),
            None => output::out(format!("{name} has no topic (/topic {name} TEXT sets one)")),
        },
        Some(c) => {
            server.set_topic(room, c.into_option())?;
            output::out(format!("topic of {name} set"));
        }
    }
    Ok(())
}

fn room_motd(
    server: &ServerHandle,
    room: &str,
    change: Option<Change>,
) -> Result<(), OperatorError> {
    let name = server.room_name(Some(room))?;
    match change {
        None => match server.room_motd(room)? {
            Some(m) => output::out(format!("{name}: {}", sanitize(&m))),
            None => output::out(format!(
                "{name} has no message (/motd {name} TEXT sets one)"
            )),
        },
        Some(c) => {
            let set = matches!(c, Change::Set(_));
            server.set_room_motd(room, c.into_option())?;
            output::out(match set {
                true => format!("message of {name} set (and shown to its members)"),
                false => format!("message of {name} cleared"),
            });
        }
    }
    Ok(())
}

fn motd(server: &ServerHandle, change: Option<Change>) {
    match change {
        None => match server.motd() {
            Some(m) => output::out(format!("message of the day: {}", sanitize(&m))),
            None => output::out("no message of the day (/motd TEXT sets one)"),
        },
        Some(c) => {
            let set = matches!(c, Change::Set(_));
            server.announce_motd(c.into_option());
            output::out(match set {
                true => "message of the day set (and shown to the default room)",
                false => "message of the day cleared",
            });
        }
    }
}

/// Ask for the room's password at the terminal and unlock the console.
fn unlock(server: &ServerHandle) -> Result<(), OperatorError> {
    if !server.is_sealed() {
        return Err(OperatorError::NotSealed);
    }
    match crate::prompt::password("Room password", false) {
        Ok(pw) if server.unlock(pw.as_bytes())? => {
            output::out("unlocked: sealed lines are shown here, and yours are sealed")
        }
        Ok(_) => output::out("that is not the room's password; still locked"),
        Err(e) => output::out(format!(
            "cannot ask for the password here ({e:#}): the console must be a terminal"
        )),
    }
    Ok(())
}
