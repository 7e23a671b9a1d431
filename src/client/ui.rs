//! The chat loop of `join`: input lines become packets, packets become output
//! lines. Two faces: a line editor on a terminal (incoming lines print above
//! the half-typed input, Tab completes commands and names), and a clean line
//! filter when stdin/stdout are pipes (one message per input line, one event
//! per output line, `--json` optional).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use console::{Color, Style};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::secure::SharedKey;
use super::{send, ClientError, Connection};
use crate::crypto::RoomKey;
use crate::names::{name_key, sanitize, split_name};
use crate::protocol::{self, Bye, Chat, Dm, FetchHistory, Nick, Packet, Users};

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

/// How received events are shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct View {
    /// One JSON object per event.
    pub json: bool,
    /// `[HH:MM:SS]` before each line (local time).
    pub timestamps: bool,
    /// ANSI colours (only on a terminal, never with `NO_COLOR`).
    pub color: bool,
}

/// The names in the room, shared with the line editor's completer.
pub type Names = Arc<Mutex<Vec<String>>>;

/// Decrypt a chat payload in place. What does not open is marked, never shown
/// as text: `text` stays empty and `encrypted` true.
pub fn open_chat(c: &mut Chat, key: &RoomKey) {
    open_payload("chat", &mut c.text, &mut c.payload, &mut c.encrypted, key);
}

fn open_payload(
    kind: &str,
    text: &mut Option<String>,
    payload: &mut Option<String>,
    encrypted: &mut bool,
    key: &RoomKey,
) {
    if let Some(p) = payload.take() {
        match key.open(kind, &p) {
            Ok(t) => {
                *text = Some(t);
                *encrypted = false;
            }
            Err(_) => {
                *text = None;
                *encrypted = true;
            }
        }
    }
}

/// Decrypt whatever this packet carries sealed.
fn open_packet(packet: &mut Packet, key: &RoomKey) {
    match packet {
        Packet::Chat(c) | Packet::History(c) => open_chat(c, key),
        Packet::Dm(d) => open_payload("dm", &mut d.text, &mut d.payload, &mut d.encrypted, key),
        _ => {}
    }
}

const UNDECRYPTABLE: &str = "[undecryptable message: wrong password or altered in transit]";

/// `HH:MM:SS` of a time in ms since the epoch, in local time where known.
pub fn clock(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    #[cfg(unix)]
    {
        // SAFETY: localtime_r writes into the tm we own and only reads `t`.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let t = secs as libc::time_t;
        if !unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
            return format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
        }
    }
    let s = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// "3 s", "12 min", "2 h", "4 d".
fn ago(ms: u64) -> String {
    let s = protocol::now_ms().saturating_sub(ms) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// Styles when colour is on ([`View::color`]), plain text otherwise.
struct Paint(bool);

impl Paint {
    fn with(&self, style: Style, s: &str) -> String {
        if self.0 {
            style.force_styling(true).apply_to(s).to_string()
        } else {
            s.to_string()
        }
    }
    fn dim(&self, s: &str) -> String {
        self.with(Style::new().dim(), s)
    }
    /// A stable colour per sender name (same name, same colour); own name bold.
    fn sender(&self, name: &str, me: &str) -> String {
        if name_key(name) == name_key(me) {
            return self.with(Style::new().bold(), name);
        }
        const COLOURS: [Color; 6] = [
            Color::Red,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::Cyan,
        ];
        let h = name_key(name)
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        self.with(Style::new().fg(COLOURS[h as usize % COLOURS.len()]), name)
    }
}

/// Render one packet as a line for people (`None`: nothing to show). `me` is
/// our current name (own lines and direct messages are shown as such).
pub fn render(packet: &Packet, view: &View, me: &str) -> Option<String> {
    let paint = Paint(view.color);
    let stamp = |ts: Option<u64>| {
        if view.timestamps {
            format!("[{}] ", clock(ts.unwrap_or_else(protocol::now_ms)))
        } else {
            String::new()
        }
    };
    let body = |text: &Option<String>, encrypted: bool| match (text, encrypted) {
        (Some(t), false) => sanitize(t).into_owned(),
        _ => UNDECRYPTABLE.into(),
    };
    let line = match packet {
        Packet::Chat(c) | Packet::History(c) => {
            let raw_from = c.from.as_deref().unwrap_or("?");
            let from = paint.sender(&sanitize(raw_from), me);
            let text = body(&c.text, c.encrypted);
            let line = if c.action {
                format!("* {from} {text}")
            } else {
                format!("{from}: {text}")
            };
            match packet {
                Packet::History(_) => {
                    let when = clock(c.ts.unwrap_or_default());
                    paint.dim(&format!("[history {when}] {line}"))
                }
                _ => format!("{}{line}", stamp(c.ts)),
            }
        }
        Packet::Dm(d) => {
            let from = d.from.as_deref().unwrap_or("?");
            let text = body(&d.text, d.encrypted);
            let head = if name_key(from) == name_key(me) {
                format!("[dm to {}]", sanitize(&d.to))
            } else {
                format!("[dm from {}]", sanitize(from))
            };
            let text = if d.action {
                format!("* {} {text}", sanitize(from))
            } else {
                text
            };
            format!(
                "{}{} {text}",
                stamp(d.ts),
                paint.with(Style::new().bold().magenta(), &head)
            )
        }
        Packet::HistoryEnd(h) if h.count == 0 => paint.dim("-- no older messages --"),
        Packet::HistoryEnd(h) => {
            let older = if h.more { "; /history for older" } else { "" };
            paint.dim(&format!("-- {} earlier messages above{older} --", h.count))
        }
        Packet::System(s) if s.event.as_deref() == Some("motd") => paint.with(
            Style::new().bold(),
            &format!("* message of the day: {}", sanitize(s.text.trim())),
        ),
        Packet::System(s) => format!(
            "{}{}",
            stamp(None),
            paint.dim(&format!("* {}", sanitize(s.text.trim())))
        ),
        Packet::Count(c) => paint.dim(&format!("* {} connected", c.total)),
        Packet::Users(u) => {
            let list: Vec<String> = u
                .users
                .iter()
                .map(|x| format!("{} ({})", sanitize(&x.name), ago(x.since)))
                .collect();
            let total = u.total.unwrap_or(u.users.len() as u64);
            let more = total.saturating_sub(u.users.len() as u64);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("* {total} here: {}{more}", list.join(", "))
        }
        Packet::Error(e) => paint.with(
            Style::new().red(),
            &format!("! {} ({})", sanitize(&e.message), sanitize(&e.code)),
        ),
        Packet::Bye(b) => format!("* server closed the connection: {}", sanitize(&b.reason)),
        _ => return None,
    };
    Some(line)
}

/// Render one packet as a JSON event (`None`: nothing to show).
pub fn render_json(packet: &Packet) -> Option<String> {
    let now = protocol::now_ms();
    let v = match packet {
        Packet::Chat(c) | Packet::History(c) => serde_json::json!({
            "event": if matches!(packet, Packet::History(_)) { "history" } else { "chat" },
            "from": c.from, "text": c.text, "action": c.action,
            "undecryptable": c.encrypted, "id": c.id, "ts": c.ts,
        }),
        Packet::Dm(d) => serde_json::json!({
            "event": "dm", "from": d.from, "to": d.to, "text": d.text, "action": d.action,
            "undecryptable": d.encrypted, "ts": d.ts,
        }),
        Packet::HistoryEnd(h) => {
            serde_json::json!({"event": "history_end", "count": h.count, "more": h.more})
        }
        Packet::System(s) => serde_json::json!({
            "event": "system", "text": s.text.trim(), "kind": s.event, "name": s.name,
            "new_name": s.new_name, "ts": now,
        }),
        Packet::Count(c) => serde_json::json!({"event": "count", "total": c.total, "ts": now}),
        Packet::Users(u) => serde_json::json!({
            "event": "users", "users": u.users, "total": u.total, "ts": now,
        }),
        Packet::Error(e) => {
            serde_json::json!({"event": "error", "code": e.code, "message": e.message})
        }
        Packet::Bye(b) => serde_json::json!({"event": "bye", "reason": b.reason}),
        _ => return None,
    };
    Some(v.to_string())
}

/// Every command, for `/help` and Tab.
pub const COMMANDS: [(&str, &str); 8] = [
    ("/help", "this list"),
    ("/users", "who is here, and for how long"),
    ("/nick NEW", "change your name"),
    (
        "/msg NAME TEXT",
        "a direct message (only NAME sees it; quote names with spaces)",
    ),
    ("/me ACTION", "an action: /me waves"),
    ("/history [N]", "fetch N older messages (default 20)"),
    ("/quit [REASON]", "leave, saying why"),
    ("//text", "send a line that starts with /"),
];

fn help() -> String {
    let mut s = String::from("commands:");
    for (c, what) in COMMANDS {
        s.push_str(&format!("\n  {c:<16} {what}"));
    }
    s
}

/// After a typed line: go on, or leave (with the reason given to `/quit`).
enum Next {
    Stay,
    Leave(Option<String>),
}

/// The names are refreshed after a coalesced join/leave summary at most this
/// often (every client asking at every summary would load a busy server).
const NAMES_REFRESH: Duration = Duration::from_secs(10);

/// One session: the connection and what the client knows of the room.
struct Session<'a> {
    conn: Connection,
    out: &'a mut dyn Output,
    view: View,
    key: Option<SharedKey>,
    /// Our current name (renames change it).
    me: String,
    names: Names,
    /// The oldest message id seen, for `/history`.
    oldest: Option<u64>,
    /// `users` answers still due that only refresh the names (not shown).
    silent_users: u32,
    /// When the names were last asked for.
    names_asked: Option<std::time::Instant>,
    /// The server is tcpplay (not the Python original): it knows the commands.
    tcpplay: bool,
}

/// Run the chat until the user leaves or the connection ends. `me` is the
/// name the server gave; `names` is kept up to date for Tab completion.
pub async fn run(
    conn: Connection,
    input: &mut mpsc::Receiver<Input>,
    out: &mut dyn Output,
    view: View,
    key: Option<SharedKey>,
    me: String,
    names: Names,
) -> Result<Ending, ClientError> {
    let tcpplay = conn.hello.proto.is_some();
    let mut s = Session {
        conn,
        out,
        view,
        key,
        me,
        names,
        oldest: None,
        silent_users: 0,
        names_asked: None,
        tcpplay,
    };
    if s.tcpplay && s.ask_users(true).await.is_err() {
        return Ok(Ending::Lost);
    }
    loop {
        tokio::select! {
            line = s.conn.reader.next() => {
                match line {
                    None | Some(Err(_)) => return Ok(Ending::Lost),
                    Some(Ok(line)) => {
                        let Ok(packet) = protocol::parse(&line) else { continue };
                        if let Some(end) = s.received(packet).await {
                            return Ok(end);
                        }
                    }
                }
            }
            event = input.recv() => {
                let line = match event {
                    Some(Input::Line(line)) => line,
                    Some(Input::Quit) | None => return s.leave(None).await,
                };
                match s.typed(&line).await {
                    Ok(Next::Stay) => {}
                    Ok(Next::Leave(reason)) => return s.leave(reason).await,
                    Err(_) => return Ok(Ending::Lost),
                }
            }
        }
    }
}

impl Session<'_> {
    fn show(&mut self, packet: &Packet) {
        let text = if self.view.json {
            render_json(packet)
        } else {
            render(packet, &self.view, &self.me)
        };
        if let Some(t) = text {
            self.out.line(t);
        }
    }

    fn note(&mut self, text: String) {
        if self.view.json {
            let v = serde_json::json!({"event": "local", "text": text});
            self.out.line(v.to_string());
        } else {
            self.out.line(text);
        }
    }

    async fn send(&mut self, p: &Packet) -> std::io::Result<()> {
        send(&mut self.conn.writer, p)
            .await
            .map_err(std::io::Error::other)
    }

    async fn ask_users(&mut self, silent: bool) -> std::io::Result<()> {
        if silent {
            self.silent_users += 1;
        }
        self.names_asked = Some(std::time::Instant::now());
        self.send(&Packet::Users(Users::default())).await
    }

    /// Handle a packet from the server; `Some` when the session is over.
    async fn received(&mut self, mut packet: Packet) -> Option<Ending> {
        if let Some(k) = &self.key {
            open_packet(&mut packet, k);
        }
        match &packet {
            Packet::Chat(c) | Packet::History(c) => {
                if let Some(id) = c.id {
                    self.oldest = Some(self.oldest.map_or(id, |o| o.min(id)));
                }
            }
            Packet::Users(u) => {
                *self.names.lock().unwrap_or_else(|e| e.into_inner()) =
                    u.users.iter().map(|u| u.name.clone()).collect();
                if self.silent_users > 0 {
                    self.silent_users -= 1;
                    return None;
                }
            }
            Packet::System(sys) => {
                let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
                match (sys.event.as_deref(), &sys.name, &sys.new_name) {
                    (Some("join"), Some(n), _) => names.push(n.clone()),
                    (Some("leave" | "kick"), Some(n), _) => names.retain(|x| x != n),
                    (Some("rename"), Some(old), Some(new)) => {
                        names.retain(|x| x != old);
                        names.push(new.clone());
                        if *old == self.me {
                            self.me = new.clone();
                        }
                    }
                    // A coalesced summary names only some: ask again, now and then.
                    (Some("join" | "leave"), None, _) => {
                        drop(names);
                        let due = self
                            .names_asked
                            .is_none_or(|t| t.elapsed() >= NAMES_REFRESH);
                        if self.silent_users == 0 && due && self.ask_users(true).await.is_err() {
                            return Some(Ending::Lost);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        self.show(&packet);
        match packet {
            Packet::Bye(b) => Some(Ending::Bye(b.reason)),
            // The server asks whether we are alive (serve --timeout).
            Packet::Ping(p) => self
                .send(&Packet::Pong(p))
                .await
                .err()
                .map(|_| Ending::Lost),
            _ => None,
        }
    }

    /// Seal for a secure room, or plaintext.
    fn body(&self, kind: &str, text: String) -> (bool, Option<String>, Option<String>) {
        match &self.key {
            Some(k) => (true, None, Some(k.seal(kind, &text))),
            None => (false, Some(text), None),
        }
    }

    /// A typed line: a message or a command.
    async fn typed(&mut self, line: &str) -> std::io::Result<Next> {
        let text = if let Some(rest) = line.strip_prefix("//") {
            format!("/{rest}")
        } else if let Some(cmd) = line.strip_prefix('/') {
            return self.command(cmd).await;
        } else {
            line.to_string()
        };
        let (encrypted, text, payload) = self.body("chat", text);
        let chat = Chat {
            encrypted,
            text,
            payload,
            ..Default::default()
        };
        self.send(&Packet::Chat(chat)).await.map(|_| Next::Stay)
    }

    /// A `/command` (without its slash). Unknown ones never leave this client.
    async fn command(&mut self, cmd: &str) -> std::io::Result<Next> {
        let (word, args) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let args = args.trim();
        let needs_tcpplay = matches!(word, "users" | "nick" | "msg" | "me" | "history");
        if needs_tcpplay && !self.tcpplay {
            self.note(format!(
                "! /{word} needs a tcpplay server; this one is the original Python host (not sent)"
            ));
            return Ok(Next::Stay);
        }
        let usage = |u: &str| format!("! usage: {u} (not sent)");
        let packet = match word {
            "quit" | "exit" => {
                return Ok(Next::Leave((!args.is_empty()).then(|| args.to_string())));
            }
            "help" => {
                self.note(help());
                return Ok(Next::Stay);
            }
            "users" => {
                self.ask_users(false).await?;
                return Ok(Next::Stay);
            }
            "nick" if args.is_empty() => {
                self.note(usage("/nick NEW"));
                return Ok(Next::Stay);
            }
            "nick" => Packet::Nick(Nick { name: args.into() }),
            "msg" => {
                let known = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let (to, text) = split_name(args, &known);
                if to.is_empty() || text.trim().is_empty() {
                    self.note(usage("/msg NAME TEXT"));
                    return Ok(Next::Stay);
                }
                let (encrypted, text, payload) = self.body("dm", text.to_string());
                Packet::Dm(Dm {
                    encrypted,
                    to,
                    text,
                    payload,
                    ..Default::default()
                })
            }
            "me" if args.is_empty() => {
                self.note(usage("/me ACTION"));
                return Ok(Next::Stay);
            }
            "me" => {
                let (encrypted, text, payload) = self.body("chat", args.to_string());
                Packet::Chat(Chat {
                    encrypted,
                    text,
                    payload,
                    action: true,
                    ..Default::default()
                })
            }
            "history" => {
                let limit = match args {
                    "" => 20,
                    n => match n.parse::<u32>() {
                        Ok(n) if n >= 1 => n.min(protocol::MAX_HISTORY_FETCH),
                        _ => {
                            self.note(format!(
                                "! /history takes a number of messages, 1-{} (not '{}')",
                                protocol::MAX_HISTORY_FETCH,
                                sanitize(n)
                            ));
                            return Ok(Next::Stay);
                        }
                    },
                };
                Packet::FetchHistory(FetchHistory {
                    before: self.oldest,
                    limit: Some(limit),
                })
            }
            other => {
                self.note(format!(
                    "! unknown command /{} (not sent): try /help, or //text to send a line starting with /",
                    sanitize(other)
                ));
                return Ok(Next::Stay);
            }
        };
        self.send(&packet).await.map(|_| Next::Stay)
    }

    /// Leave cleanly: say goodbye (with the reason), half-close so the server
    /// reads everything we sent, then show what it still sends until it
    /// closes (bounded in time).
    async fn leave(mut self, reason: Option<String>) -> Result<Ending, ClientError> {
        if self.tcpplay {
            let bye = Packet::Bye(Bye {
                reason: reason.unwrap_or_default(),
            });
            let _ = self.send(&bye).await;
        }
        let _ = self.conn.writer.shutdown().await;
        let drain = async {
            while let Some(Ok(line)) = self.conn.reader.next().await {
                if let Ok(p) = protocol::parse(&line) {
                    self.show(&p);
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        Ok(Ending::Left)
    }
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
    use rustyline::completion::Completer;
    use rustyline::error::ReadlineError;
    use rustyline::highlight::Highlighter;
    use rustyline::hint::Hinter;
    use rustyline::history::DefaultHistory;
    use rustyline::validate::Validator;
    use rustyline::{Context, Editor, ExternalPrinter, Helper};
    use tokio::sync::mpsc;

    use super::{Input, Names, Output, COMMANDS};

    /// Tab: command names after a leading `/`, else the names in the room.
    pub struct ChatHelper {
        pub names: Names,
    }

    /// Completions of the word that ends at `pos`: where it starts, and the candidates.
    pub fn complete(line: &str, pos: usize, names: &[String]) -> (usize, Vec<String>) {
        let head = &line[..pos];
        if !head.contains(' ') && head.starts_with('/') {
            let mut c: Vec<String> = COMMANDS
                .iter()
                .filter_map(|(c, _)| c.split(' ').next())
                .filter(|c| c.starts_with(head) && *c != "//text")
                .map(|c| format!("{c} "))
                .collect();
            c.dedup();
            return (0, c);
        }
        let start = head.rfind(' ').map_or(0, |i| i + 1);
        let word = head[start..].to_lowercase();
        let mut c: Vec<String> = names
            .iter()
            .filter(|n| n.to_lowercase().starts_with(&word))
            .map(|n| {
                if n.contains(' ') {
                    format!("\"{n}\" ")
                } else {
                    format!("{n} ")
                }
            })
            .collect();
        c.sort();
        (start, c)
    }

    impl Completer for ChatHelper {
        type Candidate = String;
        fn complete(
            &self,
            line: &str,
            pos: usize,
            _ctx: &Context<'_>,
        ) -> rustyline::Result<(usize, Vec<String>)> {
            let names = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Ok(complete(line, pos, &names))
        }
    }
    impl Hinter for ChatHelper {
        type Hint = String;
    }
    impl Highlighter for ChatHelper {}
    impl Validator for ChatHelper {}
    impl Helper for ChatHelper {}

    pub struct EditorOutput<P: ExternalPrinter + Send>(P);

    impl<P: ExternalPrinter + Send> Output for EditorOutput<P> {
        fn line(&mut self, text: String) {
            let _ = self.0.print(format!("{text}\n"));
        }
    }

    /// Start the editor; `None` when this is not a terminal it can drive.
    pub fn start(tx: mpsc::Sender<Input>, prompt: String, names: Names) -> Option<Box<dyn Output>> {
        let mut editor: Editor<ChatHelper, DefaultHistory> = Editor::new().ok()?;
        editor.set_helper(Some(ChatHelper { names }));
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

#[cfg(test)]
mod tests {
    use super::terminal::complete;
    use super::*;

    #[test]
    fn tab_completes_commands_and_names() {
        let names = vec![
            "alice".to_string(),
            "Alan Turing".to_string(),
            "bob".to_string(),
        ];
        assert_eq!(complete("/ni", 3, &names), (0, vec!["/nick ".to_string()]));
        assert_eq!(complete("/h", 2, &names).1, vec!["/help ", "/history "]);
        assert_eq!(
            complete("/msg al", 7, &names),
            (
                5,
                vec!["\"Alan Turing\" ".to_string(), "alice ".to_string()]
            )
        );
        assert_eq!(complete("hi B", 4, &names), (3, vec!["bob ".to_string()]));
    }

    #[test]
    fn rendering_marks_history_dms_actions_and_colours_only_when_asked() {
        let chat = Chat {
            from: Some("bob".into()),
            text: Some("waves\u{1b}[2J".into()),
            action: true,
            ts: Some(0),
            ..Default::default()
        };
        let plain = View::default();
        assert_eq!(
            render(&Packet::Chat(chat.clone()), &plain, "me").unwrap(),
            "* bob waves\\u{1b}[2J"
        );
        let past = render(&Packet::History(chat.clone()), &plain, "me").unwrap();
        assert!(
            past.starts_with("[history ") && past.ends_with("* bob waves\\u{1b}[2J"),
            "{past}"
        );
        let dm = Dm {
            from: Some("me".into()),
            to: "bob".into(),
            text: Some("psst".into()),
            ..Default::default()
        };
        assert_eq!(
            render(&Packet::Dm(dm), &plain, "me").unwrap(),
            "[dm to bob] psst"
        );
        let coloured = View {
            color: true,
            ..View::default()
        };
        let line = render(&Packet::Chat(chat), &coloured, "me").unwrap();
        assert!(
            line.contains("\x1b[3") && !line.contains("\x1b[2J"),
            "{line:?}"
        );
        let stamped = View {
            timestamps: true,
            ..View::default()
        };
        let line = render(&Packet::system("x"), &stamped, "me").unwrap();
        assert!(
            line.starts_with('[') && line[1..9].chars().filter(|c| *c == ':').count() == 2,
            "{line}"
        );
    }
}
