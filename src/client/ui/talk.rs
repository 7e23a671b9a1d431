//! One connection's talk with the server ([`run`]): the loop that waits
//! for a packet, a typed line, the next paced send or a timer, and the state
//! of the room that lives as long as the connection. What the packets do is
//! in `receive`, what typed lines do in `send`.

use std::time::Duration;

use super::commands::Action;
use super::outbox::{Item, MAX_QUEUED};
use super::{renames, render, render_json, Client, Ending, Input, RoomList};
use crate::client::{ClientError, Connection};
use crate::names::sanitize;
use crate::protocol::{HelloLimits, Packet};

/// One connection's talk with the server: the connection and what we know
/// of the room.
pub(super) struct Talk<'a> {
    pub(super) conn: Connection,
    pub(super) c: &'a mut Client,
    /// Our current name (renames change it).
    pub(super) me: String,
    /// The server's limits (`hello.limits`), when it said them.
    pub(super) limits: Option<HelloLimits>,
    /// The oldest message id seen, for `/history`.
    pub(super) oldest: Option<u64>,
    /// `users` answers still due that only refresh the names (not shown).
    pub(super) silent_users: u32,
    /// When the names were last asked for.
    pub(super) names_asked: Option<std::time::Instant>,
    /// The server is tcpplay (not the Python original): it knows the commands.
    pub(super) tcpplay: bool,
    /// Rooms we asked to join (`/join`): the next `joined` for them becomes
    /// the current room.
    pub(super) switch_to: Vec<String>,
    /// Taking our name back (see [`Client::want_name`]): when to ask next,
    /// and how often we asked.
    pub(super) renick: Option<(std::time::Instant, u32)>,
    /// A quiet `nick` is on its way: its refusal is not shown.
    pub(super) renick_pending: bool,
    /// Waiting (until then at most) for the server's answer to our first
    /// `users`, which comes after its welcome: every room we asked for
    /// joined or refused. Typed and piped lines wait for it, so that they
    /// go to the room we are in, not to the server's default room because
    /// the `joined` had not arrived yet.
    pub(super) welcome_until: Option<std::time::Instant>,
    /// Renames shown: a member in several of our rooms is renamed in each,
    /// and is announced (and followed) once.
    pub(super) renames: renames::Renames,
    /// A registration (or new password) waiting for the server's answer.
    pub(super) registering: Option<crate::client::account::Registering>,
    /// The `rooms` requests sent and not answered yet, in order: the room
    /// of a `/topic` without a text (its answer shows that room's topic,
    /// not the whole list), or `None` for `/rooms`.
    pub(super) rooms_asked: std::collections::VecDeque<Option<String>>,
    /// Rooms we asked to leave (their name keys): a `parted` for another
    /// room is the server taking us out (a kick, a ban).
    pub(super) parting: Vec<String>,
}

/// The longest a first line waits for the server's welcome.
const WELCOME_WAIT: Duration = Duration::from_secs(5);

/// How often, and how many times, a client asks for its name back.
const RENICK_EVERY: Duration = Duration::from_secs(2);
const RENICK_TRIES: u32 = 8;

/// Run the chat until the user leaves or the connection ends. `me` is the
/// name the server gave.
pub async fn run(c: &mut Client, conn: Connection, me: String) -> Result<Ending, ClientError> {
    let mut s = Talk::new(c, conn, me);
    s.begin().await?;
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

impl<'a> Talk<'a> {
    fn new(c: &'a mut Client, conn: Connection, me: String) -> Talk<'a> {
        let tcpplay = conn.is_tcpplay();
        let limits = conn.hello.limits;
        c.outbox.pace_for(limits.as_ref());
        Talk {
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
        }
    }

    /// A new connection: forget which rooms we were in (the server says
    /// again), resend what it had not confirmed, and ask who is here.
    async fn begin(&mut self) -> Result<(), ClientError> {
        let s = self;
        if s.c.want_name.as_ref().is_some_and(|w| *w != s.me) && s.tcpplay {
            s.renick = Some((std::time::Instant::now() + RENICK_EVERY, 0));
        }
        {
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
        Ok(())
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
