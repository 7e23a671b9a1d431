//! What the user typed or piped, on its way out: a line becomes what it
//! asks for ([`super::commands`]), is checked against the server's limits,
//! queued in the [`super::outbox`], and sent at the server's pace.

use super::commands::{self, Action};
use super::outbox::Item;
use super::talk::Talk;
use crate::client::ClientError;
use crate::names::sanitize;
use crate::protocol::{
    AccountMsg, AccountOp, Away, FetchHistory, Nick, Packet, RoomRequest, Rooms, Topic, Users,
};

impl Talk<'_> {
    /// A typed or piped line: queued to send, or handled here.
    pub(super) fn typed(&mut self, number: Option<u64>, line: &str) -> std::io::Result<()> {
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
                // Typed lines go to the first room named, as with --room.
                self.switch_to.extend(rooms.first().cloned());
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

    /// A name as its member has it (`BOB` typed, `bob` here): names are
    /// one in any case, and a secure room seals a direct message for the
    /// recipient's own spelling, which is what it checks.
    fn spelled(&self, typed: &str) -> String {
        let key = crate::names::name_key(typed);
        self.names()
            .iter()
            .find(|n| crate::names::name_key(n) == key)
            .cloned()
            .unwrap_or_else(|| typed.to_string())
    }

    /// Over the server's text limit (said in `hello.limits`)?
    pub(super) fn too_long(&self, text: &str) -> Option<String> {
        let max = self.limits?.max_text_chars;
        let n = text.chars().count();
        (n > max).then(|| {
            format!(
                "it has {n} characters, over this server's limit of {max} (limits.max_text_chars)"
            )
        })
    }

    /// Send the first message of a registration (or new password); the
    /// server's answer is finished in [`Talk::registered_step`].
    pub(super) async fn start_registering(
        &mut self,
        op: AccountOp,
        password: &crate::secret::Password,
    ) -> Result<(), ClientError> {
        if self.conn.hello.accounts.is_none() {
            let why = "this server has no accounts (they need a TLS server that turns them on with serve.registration)";
            return Ok(self.c.not_sent("the registration", why)?);
        }
        match crate::client::account::Registering::start(op, password) {
            Ok((r, packet)) => {
                self.registering = Some(r);
                Ok(self.conn.send(&packet).await?)
            }
            Err(e) => Ok(self
                .c
                .report(format!("cannot start the registration: {e}"))?),
        }
    }

    /// The server answered a registration's first message: send the
    /// record (Argon2id on a blocking thread first).
    pub(super) async fn registered_step(&mut self, response: &str) -> Result<(), ClientError> {
        let Some(r) = self.registering.take() else {
            return Ok(());
        };
        match r.finish(response).await {
            Ok(packet) => Ok(self.conn.send(&packet).await?),
            Err(e) => Ok(self.c.report(format!("the registration failed: {e}"))?),
        }
    }

    /// Send the next queued line, if the pace allows it now.
    pub(super) async fn send_next(&mut self) -> Result<(), ClientError> {
        let Some((seq, item)) = self.c.outbox.pop() else {
            return Ok(());
        };
        if matches!(item.action, Action::Register) {
            self.c.outbox.forget(seq);
            let Some(pw) = self.c.account_password.clone() else {
                let why = format!(
                    "/register takes the new password from --account-password-file or {}; or quit and run \
                     `tcpplay join --register`, which asks for it without echo",
                    crate::config::ENV_ACCOUNT_PASSWORD
                );
                return Ok(self.c.not_sent(&item.label(), &why)?);
            };
            return self.start_registering(AccountOp::Register, &pw).await;
        }
        let packets = self.packets(seq, &item);
        if packets.is_empty() {
            return Ok(());
        }
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

    /// The packets that carry a queued line (none for what is done here).
    fn packets(&mut self, seq: u64, item: &Item) -> Vec<Packet> {
        let room = item.room.as_deref();
        let this_room = |r: &Option<String>| r.clone().or(item.room.clone()).unwrap_or_default();
        match &item.action {
            Action::Say { text, action } => vec![self.conn.chat(text, *action, room, Some(seq))],
            Action::Direct { to, text } => vec![self.conn.dm(&self.spelled(to), text, Some(seq))],
            Action::Nick(name) => vec![Packet::Nick(Nick { name: name.clone() })],
            Action::Away(text) => vec![Packet::Away(Away { text: text.clone() })],
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
            Action::Part { room: r, reason } => {
                // A `parted` for it is our own leaving, not a kick.
                self.parting.push(crate::names::name_key(&this_room(r)));
                vec![Packet::Part(RoomRequest {
                    room: this_room(r),
                    reason: reason.clone(),
                })]
            }
            Action::Rooms => {
                self.rooms_asked.push_back(None);
                vec![Packet::Rooms(Rooms::default())]
            }
            // The rooms' list carries their topics: the answer shows this one's.
            Action::ShowTopic(r) => {
                let asked = this_room(r);
                let room = match asked.is_empty() {
                    true => self.rooms().current.clone().unwrap_or_default(),
                    false => asked,
                };
                self.rooms_asked.push_back(Some(room));
                vec![Packet::Rooms(Rooms::default())]
            }
            Action::Topic { room: r, text } => vec![Packet::Topic(Topic {
                room: this_room(r),
                text: text.clone(),
            })],
            Action::Account(op, fp) => {
                let mut m = AccountMsg::new(*op);
                m.fp = fp.clone();
                vec![Packet::Account(m)]
            }
            Action::Moderate(m) => {
                let mut m = m.clone();
                m.room = self.conn.wire_room(room).map(str::to_string);
                vec![Packet::Moderate(m)]
            }
            Action::Register
            | Action::Help
            | Action::Quit(_)
            | Action::Refuse(_)
            | Action::Switch(_) => Vec::new(),
        }
    }
}
