//! The operator console: prints what happens in the room on stdout, and reads
//! lines from stdin (plain lines are chat as `server`, `/commands` are
//! operator commands). End of stdin is not a shutdown.

use std::io::{BufRead, Write};
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::room::{Room, Sender};
use super::secure::SecureRoom;
use crate::names::sanitize;
use crate::protocol::{parse, Packet};

/// Print room events on stdout in the original's style, on its own thread so a
/// slow terminal never slows the room (a lagging console skips, and says so).
pub fn spawn_console_printer(room: &Room, quiet: bool, secure: Option<Arc<SecureRoom>>) {
    let mut rx = room.subscribe();
    std::thread::spawn(move || {
        let stdout = std::io::stdout();
        loop {
            let frame = match rx.blocking_recv() {
                Ok(f) => f,
                Err(RecvError::Lagged(n)) => {
                    let _ = writeln!(stdout.lock(), "(console fell behind: {n} events not shown)");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            if frame.to.is_some() || (quiet && frame.bytes.starts_with(b"{\"type\":\"chat\"")) {
                continue;
            }
            let line = match parse(&frame.bytes) {
                Ok(Packet::Chat(c)) if !quiet => {
                    let from = c.from.as_deref().unwrap_or("?");
                    let sender = match c.port {
                        Some(p) => format!("{}[{p}]", sanitize(from)),
                        None => sanitize(from).into_owned(),
                    };
                    let text = match (&c.text, &c.payload, &secure) {
                        (Some(t), _, _) => t.clone(),
                        (None, Some(p), Some(room)) => room
                            .key
                            .open("chat", p)
                            .unwrap_or_else(|_| "[undecryptable message]".into()),
                        _ => "[encrypted message]".into(),
                    };
                    format!("..:: {sender}: {}", sanitize(&text))
                }
                Ok(Packet::System(s)) => sanitize(s.text.trim()).into_owned(),
                Ok(Packet::Count(c)) => format!("+ Total connected clients: [{}]", c.total),
                _ => continue,
            };
            if writeln!(stdout.lock(), "{line}").is_err() {
                return;
            }
        }
    });
}

/// Read operator lines from stdin on a plain thread (never blocks shutdown).
pub fn spawn_console_input(
    room: Arc<Room>,
    shutdown: CancellationToken,
    secure: Option<Arc<SecureRoom>>,
) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            let line = line.trim_end_matches(['\r', '\n']);
            if line.trim().is_empty() {
                continue;
            }
            if !operator_line(&room, &shutdown, secure.as_deref(), line) {
                return;
            }
        }
        tracing::info!("console input closed; still serving (Ctrl-C or SIGTERM stops the server)");
    });
}

/// Handle one console line; false when the console should stop reading.
fn operator_line(
    room: &Room,
    shutdown: &CancellationToken,
    secure: Option<&SecureRoom>,
    line: &str,
) -> bool {
    let out = |s: String| println!("{s}");
    // In a secure room the operator's lines are sealed like everyone else's.
    let say = |text: String| match secure {
        Some(s) => room.chat(Sender::Server, None, Some(s.key.seal("chat", &text))),
        None => room.chat(Sender::Server, Some(text), None),
    };
    if let Some(rest) = line.strip_prefix("//") {
        say(format!("/{rest}"));
        return true;
    }
    let Some(cmd) = line.strip_prefix('/') else {
        say(line.to_string());
        return true;
    };
    let (word, _args) = cmd.split_once(' ').unwrap_or((cmd, ""));
    match word {
        "users" => {
            let members = room.members();
            out(format!("{} connected:", members.len()));
            for m in members {
                let secs = m.joined.elapsed().as_secs();
                out(format!("  {} from {} ({secs} s)", sanitize(&m.name), m.addr));
            }
        }
        "quit" => {
            out("shutting down".into());
            shutdown.cancel();
            return false;
        }
        "help" => out(
            "console: a plain line is sent to everyone as `server`; //text sends a line starting with /\n  /users  who is connected\n  /quit   stop the server"
                .into(),
        ),
        other => out(format!("unknown console command /{other}: try /help")),
    }
    true
}
