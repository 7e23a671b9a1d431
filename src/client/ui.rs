//! The chat loop of `join`: input lines become packets, packets become output
//! lines. Two faces: a line editor on a terminal (incoming lines print above
//! the half-typed input), and a clean line filter when stdin/stdout are pipes
//! (one message per input line, one event per output line, `--json` optional).

use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::secure::SharedKey;
use super::{send, ClientError, Connection};
use crate::crypto::RoomKey;
use crate::names::sanitize;
use crate::protocol::{self, Chat, Packet};

/// What the user did.
#[derive(Debug)]
pub enum Input {
    Line(String),
    /// Ctrl-C, Ctrl-D, /quit or end of input.
    Quit,
}

/// Where rendered lines go.
pub trait Output: Send {
    fn line(&mut self, text: String);
}

/// Plain stdout, one line per event (pipes, `--json`).
pub struct StdoutOutput;

impl Output for StdoutOutput {
    fn line(&mut self, text: String) {
        let mut out = std::io::stdout().lock();
        // A closed pipe is the reader's choice: stop quietly.
        if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
            std::process::exit(0);
        }
    }
}

/// How the session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The user left.
    Left,
    /// The server said goodbye (`bye`).
    Bye(String),
    /// The connection dropped without a goodbye.
    Lost,
}

/// Decrypt a chat payload in place. What does not open is marked, never shown
/// as text: `text` stays empty and `encrypted` true.
pub fn open_chat(c: &mut Chat, key: &RoomKey) {
    if let Some(p) = c.payload.take() {
        match key.open("chat", &p) {
            Ok(text) => {
                c.text = Some(text);
                c.encrypted = false;
            }
            Err(_) => {
                c.text = None;
                c.encrypted = true;
            }
        }
    }
}

/// Render one packet as a line for people (`None`: nothing to show).
pub fn render(packet: &Packet) -> Option<String> {
    match packet {
        Packet::Chat(c) => {
            let from = sanitize(c.from.as_deref().unwrap_or("?")).into_owned();
            let text = match (&c.text, c.encrypted) {
                (Some(t), false) => sanitize(t).into_owned(),
                _ => "[undecryptable message: wrong password or altered in transit]".into(),
            };
            Some(format!("{from}: {text}"))
        }
        Packet::System(s) => Some(format!("* {}", sanitize(s.text.trim()))),
        Packet::Count(c) => Some(format!("* {} connected", c.total)),
        Packet::Error(e) => Some(format!(
            "! {} ({})",
            sanitize(&e.message),
            sanitize(&e.code)
        )),
        Packet::Bye(b) => Some(format!(
            "* server closed the connection: {}",
            sanitize(&b.reason)
        )),
        _ => None,
    }
}

/// Render one packet as a JSON event (`None`: nothing to show).
pub fn render_json(packet: &Packet) -> Option<String> {
    let v = match packet {
        Packet::Chat(c) => serde_json::json!({
            "event": "chat", "from": c.from, "text": c.text, "undecryptable": c.encrypted,
            "id": c.id, "ts": c.ts,
        }),
        Packet::System(s) => {
            serde_json::json!({"event": "system", "text": s.text.trim(), "ts": protocol::now_ms()})
        }
        Packet::Count(c) => {
            serde_json::json!({"event": "count", "total": c.total, "ts": protocol::now_ms()})
        }
        Packet::Error(e) => {
            serde_json::json!({"event": "error", "code": e.code, "message": e.message})
        }
        Packet::Bye(b) => serde_json::json!({"event": "bye", "reason": b.reason}),
        _ => return None,
    };
    Some(v.to_string())
}

const HELP: &str = "commands: /help this list, /quit leave; //text sends a line that starts with /";

/// Run the chat until the user leaves or the connection ends.
pub async fn run(
    mut conn: Connection,
    input: &mut mpsc::Receiver<Input>,
    out: &mut dyn Output,
    json: bool,
    key: Option<SharedKey>,
) -> Result<Ending, ClientError> {
    let show = |p: &Packet| if json { render_json(p) } else { render(p) };
    loop {
        tokio::select! {
            line = conn.reader.next() => {
                match line {
                    None | Some(Err(_)) => return Ok(Ending::Lost),
                    Some(Ok(line)) => {
                        let Ok(mut packet) = protocol::parse(&line) else { continue };
                        if let (Packet::Chat(c), Some(k)) = (&mut packet, &key) {
                            open_chat(c, k);
                        }
                        if let Some(text) = show(&packet) {
                            out.line(text);
                        }
                        match packet {
                            Packet::Bye(b) => return Ok(Ending::Bye(b.reason)),
                            // The server asks whether we are alive (serve --timeout).
                            Packet::Ping(p) => {
                                let answered = send(&mut conn.writer, &Packet::Pong(p)).await;
                                if answered.is_err() {
                                    return Ok(Ending::Lost);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            event = input.recv() => {
                match event {
                    Some(Input::Line(line)) => {
                        match command(&line, out) {
                            Typed::Message => {}
                            Typed::Handled => continue,
                            Typed::Quit => return leave(conn, out, &show).await,
                        }
                        let text = line.strip_prefix("//").map(|r| format!("/{r}")).unwrap_or(line);
                        let packet = match &key {
                            Some(k) => Packet::Chat(Chat { encrypted: true, payload: Some(k.seal("chat", &text)), ..Default::default() }),
                            None => Packet::Chat(Chat { encrypted: false, text: Some(text), ..Default::default() }),
                        };
                        if send(&mut conn.writer, &packet).await.is_err() {
                            return Ok(Ending::Lost);
                        }
                    }
                    Some(Input::Quit) | None => return leave(conn, out, &show).await,
                }
            }
        }
    }
}

/// What a typed line is.
enum Typed {
    /// A chat message (`//text` included).
    Message,
    /// A command handled here.
    Handled,
    /// Leave.
    Quit,
}

/// Local `/commands`; an unknown one is an error here, never sent as chat.
fn command(line: &str, out: &mut dyn Output) -> Typed {
    if line.starts_with("//") || !line.starts_with('/') {
        return Typed::Message;
    }
    let word = line[1..].split_whitespace().next().unwrap_or("");
    match word {
        "quit" | "exit" => Typed::Quit,
        "help" => {
            out.line(HELP.into());
            Typed::Handled
        }
        other => {
            out.line(format!(
                "! unknown command /{} (not sent): try /help",
                sanitize(other)
            ));
            Typed::Handled
        }
    }
}

/// Leave cleanly: half-close so the server reads everything we sent, then
/// show what it still sends until it closes (bounded in time).
async fn leave(
    mut conn: Connection,
    out: &mut dyn Output,
    show: &dyn Fn(&Packet) -> Option<String>,
) -> Result<Ending, ClientError> {
    let _ = conn.writer.shutdown().await;
    let drain = async {
        while let Some(Ok(line)) = conn.reader.next().await {
            if let Ok(p) = protocol::parse(&line) {
                if let Some(text) = show(&p) {
                    out.line(text);
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    Ok(Ending::Left)
}

/// Feed stdin lines (a pipe or file) into `tx`; `Quit` at end of input.
pub fn spawn_stdin_lines(tx: mpsc::Sender<Input>) {
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let line = line.trim_end_matches('\r').to_string();
            if line.trim().is_empty() {
                continue;
            }
            if tx.blocking_send(Input::Line(line)).is_err() {
                return;
            }
        }
        let _ = tx.blocking_send(Input::Quit);
    });
}

/// The terminal face: a rustyline editor on its own thread, whose external
/// printer puts incoming lines above the line being typed.
pub mod terminal {
    use rustyline::error::ReadlineError;
    use rustyline::{DefaultEditor, ExternalPrinter};
    use tokio::sync::mpsc;

    use super::{Input, Output};

    /// Restores the terminal's mode on drop (and so on every exit path of
    /// `join`, including when the editor thread is still inside `readline`).
    pub struct TermGuard {
        #[cfg(unix)]
        saved: Option<libc::termios>,
    }

    impl TermGuard {
        pub fn save() -> TermGuard {
            #[cfg(unix)]
            {
                // SAFETY: tcgetattr writes a termios for fd 0; a zeroed termios
                // is a valid value to pass in and we only keep it on success.
                let mut t: libc::termios = unsafe { std::mem::zeroed() };
                let ok = unsafe { libc::tcgetattr(0, &mut t) } == 0;
                let saved = ok.then_some(t);
                if let Some(t) = saved {
                    let prev = std::panic::take_hook();
                    std::panic::set_hook(Box::new(move |info| {
                        // SAFETY: restoring attributes read from the same fd.
                        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
                        prev(info);
                    }));
                }
                TermGuard { saved }
            }
            #[cfg(not(unix))]
            TermGuard {}
        }
    }

    impl Drop for TermGuard {
        fn drop(&mut self) {
            #[cfg(unix)]
            if let Some(t) = &self.saved {
                // SAFETY: restoring attributes read from the same fd.
                unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
            }
        }
    }

    pub struct EditorOutput<P: ExternalPrinter + Send>(P);

    impl<P: ExternalPrinter + Send> Output for EditorOutput<P> {
        fn line(&mut self, text: String) {
            let _ = self.0.print(format!("{text}\n"));
        }
    }

    /// Start the editor; `None` when this is not a terminal it can drive.
    pub fn start(tx: mpsc::Sender<Input>, prompt: String) -> Option<Box<dyn Output>> {
        let mut editor = DefaultEditor::new().ok()?;
        let printer = editor.create_external_printer().ok()?;
        std::thread::spawn(move || loop {
            match editor.readline(&prompt) {
                Ok(line) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let _ = editor.add_history_entry(line.as_str());
                    if tx.blocking_send(Input::Line(line)).is_err() {
                        return;
                    }
                }
                Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) => {
                    let _ = tx.blocking_send(Input::Quit);
                    return;
                }
                Err(_) => {
                    let _ = tx.blocking_send(Input::Quit);
                    return;
                }
            }
        });
        Some(Box::new(EditorOutput(printer)))
    }
}
