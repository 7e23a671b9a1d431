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
mod talk;
pub mod terminal;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::names::validate_name;
use outbox::{Outbox, Tally, MAX_QUEUED};
pub(crate) use render::render_json;
pub use render::{render, View};
pub use talk::run;

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
pub(crate) struct StdoutOutput;

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
    pub(crate) async fn wait_input(&mut self) -> bool {
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
