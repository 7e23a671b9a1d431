//! The operator console: prints what happens in the room on stdout, and reads
//! lines from stdin (plain lines are chat as `server`, `/commands` are
//! operator commands). On a terminal the input is a line editor (history,
//! incoming lines above the prompt, Ctrl-C stops the server). End of stdin,
//! or losing the terminal, is not a shutdown: the server goes on, and signals
//! still stop it. Output goes through [`crate::output`], so a console nobody
//! reads never slows the room.

use std::io::{BufRead, IsTerminal};
use std::sync::atomic::Ordering;

use std::sync::Arc;

use super::room::{Body, Room, Speaker};
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
    let Some(feed) = server.hub().console_feed(!quiet) else {
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
                let label = room_label(c.room.as_deref());
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
                            room: c.room.as_deref().unwrap_or(""),
                        };
                        key.open(p, &what)
                            .map(|(t, _)| t)
                            .unwrap_or_else(|_| "[a sealed line that does not open]".into())
                    }
                    _ => "[sealed: /unlock to read]".into(),
                };
                if c.action {
                    format!("..:: {label}* {sender} {}", sanitize(&text))
                } else {
                    format!("..:: {label}{sender}: {}", sanitize(&text))
                }
            }
            Ok(Packet::System(s)) => format!(
                "{}{}",
                room_label(s.room.as_deref()),
                sanitize(s.text.trim())
            ),
            // The original's line, for the default room.
            Ok(Packet::Count(c)) => match &c.room {
                None => format!("+ Total connected clients: [{}]", c.total),
                Some(r) => format!("+ {}: [{}] members", sanitize(r), c.total),
            },
            _ => continue,
        };
        output::out(line);
    });
}

/// "[#room] " before a line of a room other than the default one.
fn room_label(room: Option<&str>) -> String {
    room.map(|r| format!("[{}] ", sanitize(r)))
        .unwrap_or_default()
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
    "console: a plain line is said in the default room as `server`; //text sends a line starting with /
  /users [#ROOM]         who is connected (or in a room), from where, for how long
  /rooms                 the rooms, their members and topics
  /say #ROOM TEXT        say TEXT in a room as `server`
  /kick NAME [REASON]    remove someone from the server (they are told the reason)
  /kick #ROOM NAME [REASON]  take someone out of one room
  /topic #ROOM [TEXT]    show, or set, a room's topic (/topic #ROOM - clears it)
  /motd [TEXT]           show, or set, the message of the day (/motd - clears it)
  /motd #ROOM [TEXT]     show, or set, a room's message for whoever joins it
  /unlock                a secure room: read and speak (asks the room password; the server keeps none)
  /reload                re-read the settings (like SIGHUP): limits, MOTD, certificate
  /quit                  stop the server (everyone gets a goodbye)";

/// Handle one console line; false when the console should stop reading.
fn operator_line(server: &ServerHandle, line: &str) -> bool {
    let out = |s: String| output::out(s);
    let hub = server.hub();
    let secure = server.secure();
    // In a secure room the operator's lines are sealed like everyone
    // else's, which needs the console unlocked.
    let say = |room: &Arc<Room>, text: String| {
        match &secure {
        Some(s) => match s.console_key() {
            Some(key) => {
                let sent = now_ms();
                let what = crypto::Sealed {
                    from: "server",
                    kind: Kind::Chat,
                    sent,
                    room: room.tag().unwrap_or(""),
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
    let lobby = hub.default_room().clone();
    if let Some(rest) = line.strip_prefix("//") {
        say(&lobby, format!("/{rest}"));
        return true;
    }
    let Some(cmd) = line.strip_prefix('/') else {
        say(&lobby, line.to_string());
        return true;
    };
    let (word, args) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let args = args.trim();
    // `#room REST`: the room (or why not) and the rest.
    let in_room = |args: &str| -> Option<(Arc<Room>, String)> {
        let (raw, rest) = args.split_once(' ').unwrap_or((args, ""));
        match hub.find(raw) {
            Ok(room) => Some((room, rest.trim().to_string())),
            Err(e) => {
                out(e.message);
                None
            }
        }
    };
    match word {
        "users" if args.starts_with('#') => {
            let Some((room, _)) = in_room(args) else {
                return true;
            };
            let (users, total) = hub.users(&room);
            out(format!("{total} in {}:", room.name()));
            for u in users {
                let secs = now_ms().saturating_sub(u.since) / 1000;
                out(format!("  {} ({secs} s)", sanitize(&u.name)));
            }
        }
        "users" => {
            let members = hub.members();
            out(format!("{} connected:", members.len()));
            for m in members {
                let secs = now_ms().saturating_sub(m.since) / 1000;
                out(format!(
                    "  {} from {} ({secs} s) in {}",
                    sanitize(&m.name),
                    m.addr,
                    if m.rooms.is_empty() {
                        "no room".to_string()
                    } else {
                        m.rooms
                            .iter()
                            .map(|r| r.name())
                            .collect::<Vec<_>>()
                            .join(" ")
                    }
                ));
            }
        }
        "rooms" => {
            let (rooms, total) = hub.rooms();
            out(format!("{total} rooms:"));
            for r in rooms {
                let topic = r
                    .topic
                    .map(|t| format!(": {}", sanitize(&t)))
                    .unwrap_or_default();
                let kept = if r.persistent { " (kept)" } else { "" };
                out(format!("  {} [{}]{kept}{topic}", r.room, r.total));
            }
        }
        "say" => match in_room(args) {
            Some((_, text)) if text.is_empty() => out("usage: /say #ROOM TEXT".into()),
            Some((room, text)) => say(&room, text),
            None => {}
        },
        "kick" if args.is_empty() => out("usage: /kick [#ROOM] NAME [REASON]".into()),
        "kick" => {
            let (room, args) = match args.starts_with('#') {
                true => match in_room(args) {
                    Some((room, rest)) => (Some(room), rest),
                    None => return true,
                },
                false => (None, args.to_string()),
            };
            let known: Vec<String> = hub.members().into_iter().map(|m| m.name).collect();
            let (name, reason) = split_name(&args, &known);
            let reason = if reason.is_empty() {
                "no reason given"
            } else {
                reason
            };
            let kicked = match &room {
                Some(room) => hub.kick_from(room, &name, reason),
                None => hub.kick(&name, reason),
            };
            match (kicked, &room) {
                (Some(n), None) => {
                    tracing::info!(name = %sanitize(&n), "kicked by the operator");
                    out(format!("removed {}", sanitize(&n)));
                }
                (Some(n), Some(room)) => {
                    tracing::info!(name = %sanitize(&n), room = %room.name(), "taken out of a room by the operator");
                    out(format!("removed {} from {}", sanitize(&n), room.name()));
                }
                (None, None) if server.kick_elsewhere(&name, reason) => {
                    tracing::info!(name = %sanitize(&name), "kicked by the operator (on another node)");
                    out(format!(
                        "asked the node of {} to remove them",
                        sanitize(&name)
                    ));
                }
                (None, None) => out(format!(
                    "nobody called '{}' is here: /users lists who is",
                    sanitize(&name)
                )),
                (None, Some(room)) => out(format!(
                    "nobody called '{}' is in {}: /users {} lists who is",
                    sanitize(&name),
                    room.name(),
                    room.name()
                )),
            }
        }
        "topic" => match in_room(args) {
            None => {}
            Some((room, text)) if text.is_empty() => match room.topic() {
                Some(t) => out(format!("{}: {}", room.name(), sanitize(&t))),
                None => out(format!(
                    "{} has no topic (/topic {} TEXT sets one)",
                    room.name(),
                    room.name()
                )),
            },
            Some((room, text)) => {
                let topic = (text != "-").then_some(text);
                room.set_topic(topic, "the operator");
                out(format!("topic of {} set", room.name()));
            }
        },
        "motd" if args.starts_with('#') => match in_room(args) {
            None => {}
            Some((room, text)) if text.is_empty() => match room.motd() {
                Some(m) => out(format!("{}: {}", room.name(), sanitize(&m))),
                None => out(format!(
                    "{} has no message (/motd {} TEXT sets one)",
                    room.name(),
                    room.name()
                )),
            },
            Some((room, text)) => {
                let motd = (text != "-").then_some(text);
                room.set_motd(motd.clone());
                match motd {
                    Some(m) => {
                        room.notice(Packet::event("motd", None, m));
                        out(format!(
                            "message of {} set (and shown to its members)",
                            room.name()
                        ));
                    }
                    None => out(format!("message of {} cleared", room.name())),
                }
            }
        },
        "motd" if args.is_empty() => match server.motd() {
            Some(m) => out(format!("message of the day: {}", sanitize(&m))),
            None => out("no message of the day (/motd TEXT sets one)".into()),
        },
        "motd" => {
            let motd = (args != "-").then(|| args.to_string());
            server.set_motd(motd.clone());
            match motd {
                Some(m) => {
                    lobby.notice(Packet::event("motd", None, m));
                    out("message of the day set (and shown to the default room)".into());
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
