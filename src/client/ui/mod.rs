//! The chat loop of `join`: input lines become packets, packets become output
//! lines. Two faces: a line editor on a terminal (incoming lines print above
//! the half-typed input, Tab completes commands and names), and a clean line
//! filter when stdin/stdout are pipes (one message per input line, one event
//! per output line, `--json` optional). Either way, what is typed leaves
//! through the [`outbox`] at the server's pace, and every line that cannot be
//! sent is said, with its reason.
//!
//! - [`commands`]: a line → what it asks for (pure)
//! - [`mod@render`]: a packet → a line for people, or a JSON event
//! - [`outbox`]: pacing, lines in flight, the tally of what was not sent
//! - [`input`]: lines from a pipe or file, checked one by one
//! - [`terminal`]: the line editor

pub mod commands;
pub mod input;
pub mod outbox;
mod receive;
pub mod refusals;
mod renames;
pub mod render;
mod send;
pub mod terminal;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{ClientError, Connection};
use crate::names::{sanitize, validate_name};
use crate::protocol::{HelloLimits, Packet};
use commands::Action;
use outbox::{Item, Outbox, Tally, MAX_QUEUED};
pub use render::{render, render_json, View};

/// What the user did.
#[derive(Debug)]
pub enum Input {
    /// A line, with its number when it came from a pipe or file.
    Line(Option<u64>, String),
    /// Ctrl-D, or the end of piped input: leave once queued lines are sent.
    Quit,
    /// Ctrl-C: leave now.
    Interrupt,
}

/// Where rendered lines go. An error (a closed pipe) ends the session.
pub trait Output: Send {
    fn line(&mut self, text: String) -> std::io::Result<()>;
}

/// Plain stdout, one line per event (pipes, `--json`). Blocks while the
/// reader is slow: a filter's output is never dropped.
pub struct StdoutOutput;

impl Output for StdoutOutput {
    fn line(&mut self, text: String) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").and_then(|_| out.flush())
    }
}

/// How the session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The user left (or the input ended and everything was sent).
    Left,
    /// The server said goodbye (`bye`), with its code when it gave one.
    Bye {
        code: Option<String>,
        reason: String,
    },
    /// The connection dropped without a goodbye.
    Lost,
}

/// The names in the room, shared with the line editor's completer.
pub type Names = Arc<Mutex<Vec<String>>>;

/// The rooms this client is in, and where typed lines go; shared with the
/// line editor's completer (Tab completes `#room` names).
#[derive(Debug, Default, Clone)]
pub struct RoomList {
    /// The rooms we are in, in the order we joined them.
    pub joined: Vec<String>,
    /// Where typed lines go.
    pub current: Option<String>,
    /// Rooms the server listed (`/rooms`), for Tab.
    pub known: Vec<String>,
    /// The server's default room (its lines carry no `room` field).
    pub default: Option<String>,
}

impl RoomList {
    /// The room a packet belongs to: its `room` field, or the default room.
    pub fn of<'a>(&'a self, room: Option<&'a str>) -> Option<&'a str> {
        room.or(self.default.as_deref())
    }

    /// Every room name we know, for Tab.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.joined.iter().chain(&self.known).cloned().collect();
        v.sort();
        v.dedup();
        v
    }

    /// The joined room `raw` names (case-insensitively, `#` optional).
    fn find(&self, raw: &str) -> Option<String> {
        let want = crate::names::room_name(raw).ok()?;
        let key = crate::names::name_key(&want);
        self.joined
            .iter()
            .find(|r| crate::names::name_key(r) == key)
            .cloned()
    }
}

pub type SharedRooms = Arc<Mutex<RoomList>>;

/// Most rooms remembered from `/rooms` answers (a hostile server cannot
/// grow this client).
const MAX_KNOWN_ROOMS: usize = 1000;

/// Most names kept for Tab completion (a hostile server cannot grow it).
const MAX_NAMES: usize = 10_000;

/// Add a name the server announced, for Tab: only a valid name, and never
/// past [`MAX_NAMES`] (a hostile server must not grow this client).
fn remember(names: &mut Vec<String>, n: &str) {
    if names.len() < MAX_NAMES && validate_name(n).is_ok() {
        names.push(n.to_string());
    }
}

/// The names are refreshed after a coalesced join/leave summary at most this
/// often (every client asking at every summary would load a busy server).
const NAMES_REFRESH: Duration = Duration::from_secs(10);

/// What lives across connections (a `--reconnect` keeps it): the input,
/// where output goes, what is still to send and what could not be sent.
pub struct Client {
    pub input: mpsc::Receiver<Input>,
    pub out: Box<dyn Output>,
    pub view: View,
    pub names: Names,
    pub rooms: SharedRooms,
    pub outbox: Outbox,
    pub tally: Arc<Tally>,
    /// Lines a secure room's key refused (forged, replayed, redirected).
    pub refusals: refusals::Refusals,
    /// Input comes from a pipe or file: refusals go to stderr with line numbers.
    pub piped: bool,
    /// The input ended (or `/quit`): leave once the queue is empty.
    pub input_done: bool,
    /// The reason given to `/quit`.
    pub quit_reason: Option<String>,
    /// Lines typed while there was no connection, handled first by the next.
    pending: std::collections::VecDeque<(Option<u64>, String)>,
    /// The name to take back after a reconnection gave another (the lost
    /// server's claim on it lasts a few seconds in a cluster).
    pub want_name: Option<String>,
    /// `join --register` / `--change-password`: done once joined.
    pub account_change: Option<(crate::protocol::AccountOp, crate::secret::Password)>,
    /// The account password given to `join` (`/register` uses it).
    pub account_password: Option<crate::secret::Password>,
}

impl Client {
    pub fn new(
        input: mpsc::Receiver<Input>,
        out: Box<dyn Output>,
        view: View,
        piped: bool,
    ) -> Self {
        Client {
            input,
            out,
            view,
            names: Names::default(),
            rooms: SharedRooms::default(),
            outbox: Outbox::default(),
            tally: Arc::default(),
            refusals: Default::default(),
            piped,
            input_done: false,
            quit_reason: None,
            pending: Default::default(),
            want_name: None,
            account_change: None,
            account_password: None,
        }
    }

    /// While there is no connection: wait for the next input event and keep
    /// it for the next session. True when the user gave up (Ctrl-C).
    pub async fn wait_input(&mut self) -> bool {
        if self.pending.len() >= MAX_QUEUED {
            return std::future::pending().await;
        }
        match self.input.recv().await {
            Some(Input::Line(n, line)) => self.pending.push_back((n, line)),
            Some(Input::Quit) | None => self.input_done = true,
            Some(Input::Interrupt) => return true,
        }
        false
    }

    /// Say that something was not sent: on stderr for piped input (the
    /// output stays the received events), else among the output lines.
    fn not_sent(&mut self, what: &str, why: &str) -> std::io::Result<()> {
        self.tally.refused();
        self.report(format!("{what} not sent: {why}"))
    }

    fn report(&mut self, text: String) -> std::io::Result<()> {
        if self.piped {
            crate::output::err(format!("tcpplay: {text}"));
            Ok(())
        } else if self.view.json {
            let v = serde_json::json!({"event": "local", "text": text});
            self.out.line(render::json_safe(&v.to_string()))
        } else {
            self.out.line(format!("! {text}"))
        }
    }
}

/// One connection's talk with the server: the connection and what we know
/// of the room.
struct Talk<'a> {
    conn: Connection,
    c: &'a mut Client,
    /// Our current name (renames change it).
    me: String,
    /// The server's limits (`hello.limits`), when it said them.
    limits: Option<HelloLimits>,
    /// The oldest message id seen, for `/history`.
    oldest: Option<u64>,
    /// `users` answers still due that only refresh the names (not shown).
    silent_users: u32,
    /// When the names were last asked for.
    names_asked: Option<std::time::Instant>,
    /// The server is tcpplay (not the Python original): it knows the commands.
    tcpplay: bool,
    /// Rooms we asked to join (`/join`): the next `joined` for them becomes
    /// the current room.
    switch_to: Vec<String>,
    /// Taking our name back (see [`Client::want_name`]): when to ask next,
    /// and how often we asked.
    renick: Option<(std::time::Instant, u32)>,
    /// A quiet `nick` is on its way: its refusal is not shown.
    renick_pending: bool,
    /// Waiting (until then at most) for the server's answer to our first
    /// `users`, which comes after its welcome: every room we asked for
    /// joined or refused. Typed and piped lines wait for it, so that they
    /// go to the room we are in, not to the server's default room because
    /// the `joined` had not arrived yet.
    welcome_until: Option<std::time::Instant>,
    /// Renames shown: a member in several of our rooms is renamed in each,
    /// and is announced (and followed) once.
    renames: renames::Renames,
    /// A registration (or new password) waiting for the server's answer.
    registering: Option<crate::client::account::Registering>,
    /// The `rooms` requests sent and not answered yet, in order: the room
    /// of a `/topic` without a text (its answer shows that room's topic,
    /// not the whole list), or `None` for `/rooms`.
    rooms_asked: std::collections::VecDeque<Option<String>>,
    /// Rooms we asked to leave (their name keys): a `parted` for another
    /// room is the server taking us out (a kick, a ban).
    parting: Vec<String>,
}

/// The longest a first line waits for the server's welcome.
const WELCOME_WAIT: Duration = Duration::from_secs(5);

/// How often, and how many times, a client asks for its name back.
const RENICK_EVERY: Duration = Duration::from_secs(2);
const RENICK_TRIES: u32 = 8;

/// Run the chat until the user leaves or the connection ends. `me` is the
/// name the server gave.
pub async fn run(c: &mut Client, conn: Connection, me: String) -> Result<Ending, ClientError> {
    let tcpplay = conn.is_tcpplay();
    let limits = conn.hello.limits;
    c.outbox.pace_for(limits.as_ref());
    let mut s = Talk {
        conn,
        c,
        me,
        limits,
        oldest: None,
        silent_users: 0,
        names_asked: None,
        tcpplay,
        switch_to: Vec::new(),
        renick: None,
        renick_pending: false,
        welcome_until: tcpplay.then(|| std::time::Instant::now() + WELCOME_WAIT),
        renames: Default::default(),
        registering: None,
        rooms_asked: Default::default(),
        parting: Vec::new(),
    };
    if s.c.want_name.as_ref().is_some_and(|w| *w != s.me) && s.tcpplay {
        s.renick = Some((std::time::Instant::now() + RENICK_EVERY, 0));
    }
    {
        // A new connection: the server says again which rooms we are in.
        let mut r = s.rooms();
        r.default = s.conn.default_room().map(str::to_string);
        r.joined.clear();
        r.current = None;
    }
    s.renames.joined(None);
    if let Some((op, pw)) = s.c.account_change.take() {
        s.start_registering(op, &pw).await?;
    }
    let resent = s.c.outbox.resend_in_flight();
    if resent > 0 {
        s.c.report(format!(
            "sending again {resent} line(s) the server had not confirmed before the connection was lost"
        ))?;
    }
    if s.tcpplay {
        s.ask_users(true);
    } else {
        s.welcomed()?;
    }
    loop {
        if s.c.input_done && s.c.outbox.queued() == 0 {
            let reason = s.c.quit_reason.take();
            return s.leave(reason).await;
        }
        let due = s.c.outbox.due();
        let reading =
            s.welcome_until.is_none() && !s.c.input_done && s.c.outbox.queued() < MAX_QUEUED;
        tokio::select! {
            packet = s.conn.next_judged() => {
                let Ok(Some((packet, seal))) = packet else { return Ok(Ending::Lost) };
                if let Some(end) = s.received(packet, seal).await? {
                    return Ok(end);
                }
            }
            event = s.c.input.recv(), if reading => match event {
                Some(Input::Line(number, line)) => s.typed(number, &line)?,
                Some(Input::Quit) | None => s.c.input_done = true,
                Some(Input::Interrupt) => {
                    let left = s.c.outbox.abandon();
                    if left > 0 {
                        s.c.tally.unsent(left);
                        s.c.report(format!("{left} queued line(s) were not sent: you left before they were"))?;
                    }
                    return s.leave(None).await;
                }
            },
            _ = sleep_until(due), if due.is_some() => {
                if s.send_next().await.is_err() {
                    return Ok(Ending::Lost);
                }
            }
            _ = sleep_until(s.renick.map(|r| r.0)), if s.renick.is_some() => s.ask_name_back()?,
            _ = sleep_until(s.welcome_until), if s.welcome_until.is_some() => s.welcomed()?,
        }
    }
}

async fn sleep_until(at: Option<std::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

impl Talk<'_> {
    pub(super) fn rooms(&self) -> std::sync::MutexGuard<'_, RoomList> {
        self.c.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Show a packet; `vouched`: a member's line the room's key opened.
    pub(super) fn show(&mut self, packet: &Packet, vouched: bool) -> std::io::Result<()> {
        let (room, label) = {
            let r = self.rooms();
            let room = render::room_of(packet).map(|f| r.of(f).map(str::to_string));
            // Lines are labelled by room when we are in more than one.
            let label = match &room {
                Some(Some(name)) if r.joined.len() > 1 => Some(name.clone()),
                _ => None,
            };
            (room.flatten(), label)
        };
        let mention = render::mentions(packet, &self.me);
        let text = if self.c.view.json {
            render_json(packet, room.as_deref(), vouched, mention)
        } else {
            render(packet, &self.c.view, &self.me).map(|t| {
                let t = match &label {
                    Some(l) => format!("[{}] {t}", sanitize(l)),
                    None => t,
                };
                match mention && self.c.view.bell {
                    true => format!("{t}\x07"),
                    false => t,
                }
            })
        };
        match text {
            Some(t) => self.c.out.line(t),
            None => Ok(()),
        }
    }

    /// Ask (quietly) for our name back; give up after a while, saying so.
    pub(super) fn ask_name_back(&mut self) -> std::io::Result<()> {
        let (Some(want), Some((_, tries))) = (self.c.want_name.clone(), self.renick) else {
            self.renick = None;
            return Ok(());
        };
        if tries >= RENICK_TRIES {
            self.renick = None;
            self.c.want_name = None;
            return self.c.report(format!(
                "the name {} is still taken; you stay {} (/nick to try again)",
                sanitize(&want),
                sanitize(&self.me)
            ));
        }
        self.renick = Some((std::time::Instant::now() + RENICK_EVERY, tries + 1));
        self.renick_pending = true;
        self.c.outbox.push(Item {
            line: None,
            action: Action::Nick(want),
            quiet: true,
            room: None,
        });
        Ok(())
    }

    /// The server's welcome is over (or took too long): lines typed
    /// meanwhile, or while there was no connection, go now.
    pub(super) fn welcomed(&mut self) -> std::io::Result<()> {
        self.welcome_until = None;
        while let Some((number, line)) = self.c.pending.pop_front() {
            self.typed(number, &line)?;
        }
        Ok(())
    }

    pub(super) fn ask_users(&mut self, silent: bool) {
        if silent {
            self.silent_users += 1;
        }
        self.names_asked = Some(std::time::Instant::now());
        self.c.outbox.push(Item {
            line: None,
            action: Action::Users(None),
            quiet: silent,
            room: None,
        });
    }

    pub(super) fn names(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.c.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A line for the user from this client itself.
    pub(super) fn note(&mut self, text: &str) -> std::io::Result<()> {
        if self.c.view.json {
            let v = serde_json::json!({"event": "local", "text": text});
            return self.c.out.line(render::json_safe(&v.to_string()));
        }
        self.c.out.line(format!("{}{text}", render::SYSTEM_MARK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_server_cannot_grow_the_name_list() {
        let mut names = Vec::new();
        let huge = "x".repeat(900 * 1024);
        for _ in 0..100 {
            remember(&mut names, &huge);
        }
        for i in 0..MAX_NAMES + 500 {
            remember(&mut names, &format!("n{i}"));
        }
        assert_eq!(names.len(), MAX_NAMES);
        assert!(names.iter().all(|n| n.len() < 30));
    }
}
