//! What the server sends, coming in: a member's line refused by the room's
//! key is counted and said ([`super::refusals`]), our own lines confirmed,
//! refusals of our lines said with their reason, the names and rooms kept
//! current, and every packet shown; and leaving, with what is still due.

use std::time::Duration;

use super::outbox::Item;
use super::talk::Talk;
use super::{remember, render, Ending, MAX_KNOWN_ROOMS, MAX_NAMES, NAMES_REFRESH};
use crate::client::secure::Seal;
use crate::client::ClientError;
use crate::names::{sanitize, validate_name};
use crate::protocol::{self, codes, Packet};

impl Talk<'_> {
    /// Handle a packet from the server, with what a secure room's key said
    /// of it; `Some` when the session is over.
    pub(super) async fn received(
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
            // Taken care of (a refusal said, a quiet answer): not shown.
            Packet::Error(e) if self.error_taken(e)? => return Ok(None),
            Packet::Users(u) if self.users_taken(u)? => return Ok(None),
            Packet::System(sys) => {
                if self.rename_seen_before(sys) {
                    // Followed and shown when another room reported it.
                    if !self.c.view.json {
                        return Ok(None);
                    }
                } else {
                    self.track(sys.event.as_deref(), &sys.name, &sys.new_name);
                }
            }
            Packet::Joined(_) | Packet::Parted(_) | Packet::Rooms(_) => self.follow_rooms(&packet),
            Packet::Account(a) => {
                if let Some(resp) = a.response.clone() {
                    self.registered_step(&resp).await?;
                    return Ok(None);
                }
            }
            _ => {}
        }
        if self.said_otherwise(&packet)? {
            return Ok(None);
        }
        self.show(&packet, seal == Some(Seal::Vouched))?;
        if let Packet::Parted(_) | Packet::Joined(_) = &packet {
            self.say_current_room(matches!(packet, Packet::Parted(_)))?;
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

    /// An `error`: the refusal of a line we sent (said with its reason), of
    /// a registration, or of our quiet request for our name back. True when
    /// it is taken care of and not to be shown.
    fn error_taken(&mut self, e: &protocol::ErrorPacket) -> Result<bool, ClientError> {
        if let Some(item) = e.seq.and_then(|s| self.c.outbox.refused(s)) {
            return self.refused(item, e).map(|()| true);
        }
        // A registration (or new password) the server refused: it
        // failed, and a script's exit status says so.
        if self.registering.is_some() && e.seq.is_none() && refuses_registration(&e.code) {
            self.registering = None;
            self.c.tally.refused();
        }
        // Our quiet request for our name back: still taken.
        if self.renick_pending && e.code == codes::NAME_TAKEN {
            self.renick_pending = false;
            return Ok(true);
        }
        Ok(false)
    }

    /// A `users` answer: the names kept for Tab, the welcome over; true when
    /// it was one we asked for quietly (not shown).
    fn users_taken(&mut self, u: &protocol::Users) -> Result<bool, ClientError> {
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
            return Ok(true);
        }
        Ok(false)
    }

    /// Keep the rooms we are in, where typed lines go, and the rooms the
    /// server listed, from `joined`, `parted` and `rooms`.
    fn follow_rooms(&mut self, packet: &Packet) {
        match packet {
            Packet::Joined(j) => {
                let key = crate::names::name_key(&j.room);
                let asked = self.switch_to.iter().position(|w| {
                    crate::names::room_name(w).is_ok_and(|w| crate::names::name_key(&w) == key)
                });
                if let Some(i) = asked {
                    self.switch_to.remove(i);
                }
                self.renames.joined(Some(&j.room));
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
    }

    /// Packets shown in their own words: the answer to `/topic` without a
    /// text (one room's topic out of the rooms' list), and being taken out
    /// of a room. True when shown (not in `--json`, which shows the packets).
    fn said_otherwise(&mut self, packet: &Packet) -> std::io::Result<bool> {
        // Kept in step with the server's answers in every mode.
        let taken_out = match packet {
            Packet::Parted(p) => !self.asked_to_leave(&p.room),
            _ => false,
        };
        let topic_of = match packet {
            Packet::Rooms(_) => self.rooms_asked.pop_front().flatten(),
            _ => None,
        };
        if self.c.view.json {
            return Ok(false);
        }
        match (packet, topic_of) {
            (Packet::Rooms(list), Some(room)) => self.note(&topic_line(list, &room))?,
            (Packet::Parted(p), _) if taken_out => self.taken_out(p)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Did we ask to leave `room` (then its `parted` is our own leaving)?
    fn asked_to_leave(&mut self, room: &str) -> bool {
        let key = crate::names::name_key(room);
        match self.parting.iter().position(|k| *k == key) {
            Some(i) => {
                self.parting.remove(i);
                true
            }
            None => false,
        }
    }

    /// The server took us out of a room we did not leave — an operator's
    /// kick or ban (its reason says by whom, and a ban until when), a room
    /// the operator removed: say so, where typed lines go now, and how to
    /// come back.
    fn taken_out(&mut self, p: &protocol::RoomRequest) -> std::io::Result<()> {
        let room = sanitize(&p.room);
        let why = p
            .reason
            .as_deref()
            .map(|r| format!(": {}", sanitize(r)))
            .unwrap_or_default();
        self.c
            .out
            .line(format!("{}you are out of {room}{why}", render::SYSTEM_MARK))?;
        let back = format!("/join {room} to come back (refused while a ban holds)");
        let current = self.rooms().current.clone();
        match current {
            Some(c) => self.note(&format!("typed lines go to {} now; {back}", sanitize(&c))),
            None => self.note(&format!(
                "you are in no room now: {back}, or /join another (/rooms lists them)"
            )),
        }
    }

    /// After a join or a part: say where typed lines go now.
    fn say_current_room(&mut self, parted: bool) -> std::io::Result<()> {
        let (current, several) = {
            let r = self.rooms();
            (r.current.clone(), r.joined.len() > 1)
        };
        match current {
            Some(c) if !self.c.view.json && (several || parted) => {
                self.note(&format!("typed lines go to {}", sanitize(&c)))
            }
            None if !self.c.view.json => self.note("you are in no room now: /join #ROOM to talk"),
            _ => Ok(()),
        }
    }

    /// The server refused one of our lines (its `error` named our `seq`).
    pub(super) fn refused(
        &mut self,
        item: Item,
        e: &protocol::ErrorPacket,
    ) -> Result<(), ClientError> {
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

    /// A rename another of our rooms reported already (see [`super::renames`]).
    fn rename_seen_before(&mut self, sys: &protocol::System) -> bool {
        let (Some("rename"), Some(old), Some(new)) =
            (sys.event.as_deref(), &sys.name, &sys.new_name)
        else {
            return false;
        };
        !self.renames.first_sight(sys.room.as_deref(), old, new)
    }

    /// Keep the name list current from a `system` event.
    pub(super) fn track(
        &mut self,
        event: Option<&str>,
        name: &Option<String>,
        new_name: &Option<String>,
    ) {
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
    pub(super) async fn leave(mut self, reason: Option<String>) -> Result<Ending, ClientError> {
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

/// An `error` code that answers a registration or a new password.
fn refuses_registration(code: &str) -> bool {
    [
        codes::REGISTRATION_CLOSED,
        codes::REGISTRATION_THROTTLED,
        codes::NAME_REGISTERED,
        codes::ACCOUNTS_UNAVAILABLE,
        codes::NOT_LOGGED_IN,
    ]
    .contains(&code)
}

/// `/topic` without a text: the line for `room` out of the rooms' list.
fn topic_line(list: &protocol::Rooms, room: &str) -> String {
    let key = crate::names::name_key(room);
    let found = list
        .rooms
        .iter()
        .find(|r| crate::names::name_key(&r.room) == key);
    match found {
        Some(r) => match r.topic.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => format!("topic of {}: {}", sanitize(&r.room), sanitize(t)),
            None => format!("{} has no topic (/topic TEXT sets one)", sanitize(&r.room)),
        },
        None => format!(
            "{} is not among the server's rooms (/rooms lists them)",
            sanitize(room)
        ),
    }
}
