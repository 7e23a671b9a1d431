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
pub mod refusals;
pub mod render;
pub mod terminal;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::secure::Seal;
use super::{ClientError, Connection};
use crate::names::{sanitize, validate_name};
use crate::protocol::{
    self, codes, FetchHistory, HelloLimits, Nick, Packet, RoomRequest, Rooms, Topic, Users,
};
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
    fn rooms(&self) -> std::sync::MutexGuard<'_, RoomList> {
        self.c.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Show a packet; `vouched`: a member's line the room's key opened.
    fn show(&mut self, packet: &Packet, vouched: bool) -> std::io::Result<()> {
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
        let text = if self.c.view.json {
            render_json(packet, room.as_deref(), vouched)
        } else {
            render(packet, &self.c.view, &self.me).map(|t| match &label {
                Some(l) => format!("[{}] {t}", sanitize(l)),
                None => t,
            })
        };
        match text {
            Some(t) => self.c.out.line(t),
            None => Ok(()),
        }
    }

    /// Ask (quietly) for our name back; give up after a while, saying so.
    fn ask_name_back(&mut self) -> std::io::Result<()> {
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
    fn welcomed(&mut self) -> std::io::Result<()> {
        self.welcome_until = None;
        while let Some((number, line)) = self.c.pending.pop_front() {
            self.typed(number, &line)?;
        }
        Ok(())
    }

    fn ask_users(&mut self, silent: bool) {
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

    fn names(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.c.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A typed or piped line: queued to send, or handled here.
    fn typed(&mut self, number: Option<u64>, line: &str) -> std::io::Result<()> {
        let known = self.names().clone();
        let action = commands::parse(line, &known, self.tcpplay);
        let (current, has_rooms) = {
            let r = self.rooms();
            (r.current.clone(), r.default.is_some())
        };
        let item = Item {
            line: number,
            action,
            quiet: false,
            room: current,
        };
        let word = line.strip_prefix('/').and_then(|c| c.split(' ').next());
        if !has_rooms && self.tcpplay && word.is_some_and(|w| commands::NEEDS_ROOMS.contains(&w)) {
            let why = "this server has no rooms (it speaks an older tcpplay protocol)";
            return self.c.not_sent(&item.label(), why);
        }
        match &item.action {
            Action::Switch(raw) => {
                let found = self.rooms().find(raw);
                match found {
                    Some(room) => {
                        self.rooms().current = Some(room.clone());
                        self.note(&format!("typed lines now go to {}", sanitize(&room)))
                    }
                    None => {
                        let why =
                            format!("you are not in {}: /join it first", sanitize(raw.trim()));
                        self.c.not_sent(&item.label(), &why)
                    }
                }
            }
            Action::Join(rooms) => {
                self.switch_to.extend(rooms.iter().cloned());
                self.c.outbox.push(item);
                Ok(())
            }
            Action::Help => self.c.out.line(commands::help()),
            Action::Quit(reason) => {
                self.c.quit_reason = reason.clone();
                self.c.input_done = true;
                Ok(())
            }
            Action::Refuse(why) => {
                let why = why.clone();
                self.c.not_sent(&item.label(), &why)
            }
            Action::Say { text, .. } | Action::Direct { text, .. } => match self.too_long(text) {
                Some(why) => self.c.not_sent(&item.label(), &why),
                None => {
                    self.c.outbox.push(item);
                    Ok(())
                }
            },
            _ => {
                self.c.outbox.push(item);
                Ok(())
            }
        }
    }

    /// A line for the user from this client itself.
    fn note(&mut self, text: &str) -> std::io::Result<()> {
        if self.c.view.json {
            let v = serde_json::json!({"event": "local", "text": text});
            return self.c.out.line(render::json_safe(&v.to_string()));
        }
        self.c.out.line(format!("{}{text}", render::SYSTEM_MARK))
    }

    /// Over the server's text limit (said in `hello.limits`)?
    fn too_long(&self, text: &str) -> Option<String> {
        let max = self.limits?.max_text_chars;
        let n = text.chars().count();
        (n > max).then(|| {
            format!(
                "it has {n} characters, over this server's limit of {max} (limits.max_text_chars)"
            )
        })
    }

    /// Send the next queued line, if the pace allows it now.
    async fn send_next(&mut self) -> Result<(), ClientError> {
        let Some((seq, item)) = self.c.outbox.pop() else {
            return Ok(());
        };
        let room = item.room.as_deref();
        let this_room = |r: &Option<String>| r.clone().or(item.room.clone()).unwrap_or_default();
        let packets = match &item.action {
            Action::Say { text, action } => vec![self.conn.chat(text, *action, room, Some(seq))],
            Action::Direct { to, text } => vec![self.conn.dm(to, text, Some(seq))],
            Action::Nick(name) => vec![Packet::Nick(Nick { name: name.clone() })],
            Action::Users(r) => vec![Packet::Users(Users {
                room: self
                    .conn
                    .wire_room(r.as_deref().or(room))
                    .map(str::to_string),
                ..Default::default()
            })],
            Action::History(n) => vec![Packet::FetchHistory(FetchHistory {
                before: self.oldest,
                limit: Some(*n),
                room: self.conn.wire_room(room).map(str::to_string),
            })],
            Action::Join(rooms) => rooms
                .iter()
                .map(|r| {
                    Packet::Join(RoomRequest {
                        room: r.clone(),
                        reason: None,
                    })
                })
                .collect(),
            Action::Part { room: r, reason } => vec![Packet::Part(RoomRequest {
                room: this_room(r),
                reason: reason.clone(),
            })],
            Action::Rooms => vec![Packet::Rooms(Rooms::default())],
            Action::Topic { room: r, text } => vec![Packet::Topic(Topic {
                room: this_room(r),
                text: text.clone(),
            })],
            Action::Help | Action::Quit(_) | Action::Refuse(_) | Action::Switch(_) => return Ok(()),
        };
        let mut line = Vec::new();
        for p in packets {
            line.extend_from_slice(&p.to_line());
        }
        if let Some(max) = self.limits.map(|l| l.max_frame_bytes) {
            if line.len() > max {
                self.c.outbox.forget(seq);
                let why = format!(
                    "encoded it is {} bytes, over this server's limit of {max} (limits.max_frame_bytes)",
                    line.len()
                );
                return Ok(self.c.not_sent(&item.label(), &why)?);
            }
        }
        Ok(self.conn.conn.write_bytes(&line).await?)
    }

    /// Handle a packet from the server, with what a secure room's key said
    /// of it; `Some` when the session is over.
    async fn received(
        &mut self,
        packet: Packet,
        seal: Option<Seal>,
    ) -> Result<Option<Ending>, ClientError> {
        if let Some(Seal::Refused(why)) = seal {
            // Never shown as a member's words, nor taken as our own echo.
            let json = self.c.view.json;
            if let Some(line) = self.c.refusals.refused(why, &packet, json) {
                self.c.out.line(line)?;
            }
            return Ok(None);
        }
        match &packet {
            Packet::Chat(c) | Packet::History(c) => {
                if let Some(id) = c.id {
                    self.oldest = Some(self.oldest.map_or(id, |o| o.min(id)));
                }
                if matches!(packet, Packet::Chat(_)) && c.from.as_deref() == Some(&self.me) {
                    self.c.outbox.confirm_say();
                }
            }
            Packet::Dm(d) if d.from.as_deref() == Some(&self.me) => self.c.outbox.confirm_direct(),
            Packet::Error(e) => {
                if let Some(item) = e.seq.and_then(|s| self.c.outbox.refused(s)) {
                    return self.refused(item, e).map(|()| None);
                }
                // Our quiet request for our name back: still taken.
                if self.renick_pending && e.code == codes::NAME_TAKEN {
                    self.renick_pending = false;
                    return Ok(None);
                }
            }
            Packet::Users(u) => {
                *self.names() = u
                    .users
                    .iter()
                    .filter(|u| validate_name(&u.name).is_ok())
                    .take(MAX_NAMES)
                    .map(|u| u.name.clone())
                    .collect();
                if self.welcome_until.is_some() {
                    self.welcomed()?;
                }
                if self.silent_users > 0 {
                    self.silent_users -= 1;
                    return Ok(None);
                }
            }
            Packet::System(sys) => self.track(sys.event.as_deref(), &sys.name, &sys.new_name),
            Packet::Joined(j) => {
                let key = crate::names::name_key(&j.room);
                let asked = self.switch_to.iter().position(|w| {
                    crate::names::room_name(w).is_ok_and(|w| crate::names::name_key(&w) == key)
                });
                if let Some(i) = asked {
                    self.switch_to.remove(i);
                }
                let mut r = self.rooms();
                if !r.joined.contains(&j.room) && r.joined.len() < MAX_KNOWN_ROOMS {
                    r.joined.push(j.room.clone());
                }
                if asked.is_some() || r.current.is_none() {
                    r.current = Some(j.room.clone());
                }
            }
            Packet::Parted(p) => {
                let mut r = self.rooms();
                r.joined.retain(|x| *x != p.room);
                if r.current.as_deref() == Some(p.room.as_str()) {
                    r.current = r.joined.first().cloned();
                }
            }
            Packet::Rooms(list) => {
                let mut r = self.rooms();
                r.known = list
                    .rooms
                    .iter()
                    .filter(|x| crate::names::room_name(&x.room).is_ok())
                    .take(MAX_KNOWN_ROOMS)
                    .map(|x| x.room.clone())
                    .collect();
            }
            _ => {}
        }
        self.show(&packet, seal == Some(Seal::Vouched))?;
        if let Packet::Parted(_) | Packet::Joined(_) = &packet {
            let (current, several) = {
                let r = self.rooms();
                (r.current.clone(), r.joined.len() > 1)
            };
            match current {
                Some(c)
                    if !self.c.view.json && (several || matches!(packet, Packet::Parted(_))) =>
                {
                    self.note(&format!("typed lines go to {}", sanitize(&c)))?
                }
                None if !self.c.view.json => {
                    self.note("you are in no room now: /join #ROOM to talk")?
                }
                _ => {}
            }
        }
        match packet {
            Packet::Bye(b) => Ok(Some(Ending::Bye {
                code: b.code,
                reason: b.reason,
            })),
            // The server asks whether we are alive (serve --timeout).
            Packet::Ping(p) => match self.conn.send(&Packet::Pong(p)).await {
                Ok(()) => Ok(None),
                Err(_) => Ok(Some(Ending::Lost)),
            },
            _ => Ok(None),
        }
    }

    /// The server refused one of our lines (its `error` named our `seq`).
    fn refused(&mut self, item: Item, e: &protocol::ErrorPacket) -> Result<(), ClientError> {
        let why = format!("{} ({})", sanitize(&e.message), sanitize(&e.code));
        if self.c.view.json {
            let v = serde_json::json!({
                "event": "error", "code": e.code, "message": e.message, "line": item.line,
            });
            self.c.out.line(render::json_safe(&v.to_string()))?;
        }
        if e.code == codes::RATE_LIMITED {
            // Paced inside the server's rate, yet refused (a delayed burst
            // on the way): slow down and send it again.
            self.c.report(format!(
                "{} was refused by the server's rate limit; sending it again (it may arrive after later lines)",
                item.label()
            ))?;
            self.c.outbox.retry_first(item);
            return Ok(());
        }
        Ok(self.c.not_sent(&item.label(), &why)?)
    }

    /// Keep the name list current from a `system` event.
    fn track(&mut self, event: Option<&str>, name: &Option<String>, new_name: &Option<String>) {
        let mut names = self.names();
        match (event, name, new_name) {
            (Some("join"), Some(n), _) => remember(&mut names, n),
            (Some("leave" | "kick"), Some(n), _) => names.retain(|x| x != n),
            (Some("rename"), Some(old), Some(new)) => {
                names.retain(|x| x != old);
                remember(&mut names, new);
                drop(names);
                if *old == self.me {
                    self.me = new.clone();
                    if self.c.want_name.as_ref() == Some(new) {
                        self.c.want_name = None;
                        self.renick = None;
                        self.renick_pending = false;
                    }
                }
            }
            // A coalesced summary names only some: ask again, now and then.
            (Some("join" | "leave"), None, _) => {
                drop(names);
                let due = self
                    .names_asked
                    .is_none_or(|t| t.elapsed() >= NAMES_REFRESH);
                if self.silent_users == 0 && due {
                    self.ask_users(true);
                }
            }
            _ => {}
        }
    }

    /// Leave cleanly: say goodbye (with the reason), half-close so the server
    /// reads everything we sent, then show what it still sends until it
    /// closes (bounded in time). Lines still unconfirmed then are counted.
    async fn leave(mut self, reason: Option<String>) -> Result<Ending, ClientError> {
        self.conn.leave(reason).await;
        let drain = async {
            while let Ok(Some((p, seal))) = self.conn.next_judged().await {
                if !matches!(p, Packet::Bye(_)) {
                    self.received(p, seal).await?;
                }
            }
            Ok::<(), ClientError>(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        let unconfirmed = self.c.outbox.abandon();
        if unconfirmed > 0 {
            self.c.tally.unsent(unconfirmed);
            self.c.report(format!(
                "{unconfirmed} line(s) were sent but the server never confirmed them before it closed"
            ))?;
        }
        Ok(Ending::Left)
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
