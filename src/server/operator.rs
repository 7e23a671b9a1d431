//! What the operator can do to a running server, as methods on its handle
//! with plain outcomes: say a line, list members and rooms, kick, set
//! topics and messages, unlock a secure room, read the room's events.
//! Rooms are named as people type them. No terminal here: the console that
//! reads the operator's lines and prints the answers is the binary's
//! (`app::serve::console`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::room::{Body, NotSent, Room, Speaker};
use super::ServerHandle;
use crate::crypto::{self, Kind};
use crate::names::split_name;
use crate::protocol::{now_ms, Chat, RoomInfo, UserInfo};

/// Why an operator action did not happen, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OperatorError {
    /// No such room (or a name that cannot be one): the hub's words.
    #[error("{0}")]
    Room(String),
    #[error("this room is sealed: /unlock with the room password to speak in it (the server does not keep it); not sent")]
    Locked,
    #[error("this room is not sealed: there is nothing to unlock")]
    NotSealed,
    #[error("this server has no accounts (serve --tls --accounts FILE turns them on), so there is no one to sign in")]
    NoAccounts,
    #[error("no account is called '{0}': /weblink takes a registered name (tcpplay gen-account NAME makes one)")]
    NoAccount(String),
}

/// A connected member, as the operator sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Connected {
    pub name: String,
    pub addr: SocketAddr,
    /// When they joined, ms since the Unix epoch.
    pub since: u64,
    pub rooms: Vec<String>,
}

/// Who was removed, and where from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kicked {
    /// From the server (here).
    Server(String),
    /// From one room.
    Room { name: String, room: String },
    /// On another node, asked to remove them.
    Elsewhere(String),
    /// Nobody of that name (in that room).
    Nobody { name: String, room: Option<String> },
}

/// What a sealed line reads as on the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConsoleText {
    Plain(String),
    /// The console is not unlocked.
    Sealed,
    /// It does not open under the room key.
    DoesNotOpen,
}

/// The room's events for the console: packets as the room sends them, and
/// how many it skipped because the console fell behind.
pub(crate) struct ConsoleEvents {
    pub rx: std::sync::mpsc::Receiver<bytes::Bytes>,
    pub dropped: Arc<AtomicU64>,
}

impl ConsoleEvents {
    /// Events skipped since the last call.
    pub(crate) fn missed(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

impl ServerHandle {
    fn room(&self, raw: Option<&str>) -> Result<Arc<Room>, OperatorError> {
        match raw {
            None => Ok(self.hub().default_room().clone()),
            Some(raw) => self
                .hub()
                .find(raw)
                .map_err(|e| OperatorError::Room(e.message)),
        }
    }

    /// An operator's action in a room (`None`: the default room), as the
    /// server's operator: what was done, in words.
    pub(crate) fn moderate(
        &self,
        raw: Option<&str>,
        m: &crate::protocol::Moderate,
    ) -> Result<String, OperatorError> {
        let room = self.room(raw)?;
        self.hub()
            .moderate(super::room::Actor::Console, &room, m)
            .map_err(|e| OperatorError::Room(e.message))
    }

    /// The room's name as shown (`None`: the default room).
    pub(crate) fn room_name(&self, raw: Option<&str>) -> Result<String, OperatorError> {
        Ok(self.room(raw)?.name().to_string())
    }

    /// Say `text` in a room (`None`: the default room) as `server`; in a
    /// secure room sealed, which needs the console unlocked.
    pub(crate) fn say(&self, room: Option<&str>, text: &str) -> Result<(), OperatorError> {
        let room = self.room(room)?;
        let body = match self.secure() {
            None => Body::text(text),
            Some(s) => {
                let key = s.console_key().ok_or(OperatorError::Locked)?;
                let sent = now_ms();
                let what = crypto::Sealed {
                    from: "server",
                    kind: Kind::Chat,
                    sent,
                    room: room.tag().unwrap_or(""),
                };
                Body {
                    payload: Some(key.seal(text, &what)),
                    sent: Some(sent),
                    ..Default::default()
                }
            }
        };
        room.chat(Speaker::Server, body)
            .map_err(|NotSent(why)| OperatorError::Room(why))
    }

    /// Everyone connected, in the order they came.
    pub(crate) fn connected(&self) -> Vec<Connected> {
        self.hub()
            .members()
            .into_iter()
            .map(|m| Connected {
                name: m.name,
                addr: m.addr,
                since: m.since,
                rooms: m.rooms.iter().map(|r| r.name().to_string()).collect(),
            })
            .collect()
    }

    /// Who is in a room: its name, the members listed, and how many in all.
    pub(crate) fn room_users(
        &self,
        raw: &str,
    ) -> Result<(String, Vec<UserInfo>, u64), OperatorError> {
        let room = self.room(Some(raw))?;
        let (users, total) = self.hub().users(&room);
        Ok((room.name().to_string(), users, total))
    }

    /// The rooms (at most the protocol's listing limit), and how many in all.
    pub(crate) fn room_list(&self) -> (Vec<RoomInfo>, u64) {
        self.hub().rooms()
    }

    /// Remove the member named at the start of `words` (a name with spaces
    /// is matched against who is here; the rest is the reason) from the
    /// server, or from `room` only.
    pub(crate) fn kick(&self, room: Option<&str>, words: &str) -> Result<Kicked, OperatorError> {
        let hub = self.hub();
        let room = room.map(|r| self.room(Some(r))).transpose()?;
        let known: Vec<String> = hub.members().into_iter().map(|m| m.name).collect();
        let (name, reason) = split_name(words, &known);
        let reason = if reason.is_empty() {
            "no reason given"
        } else {
            reason
        };
        Ok(match &room {
            Some(room) => match hub.kick_from(room, &name, reason) {
                Some(n) => Kicked::Room {
                    name: n,
                    room: room.name().to_string(),
                },
                None => Kicked::Nobody {
                    name,
                    room: Some(room.name().to_string()),
                },
            },
            None => match hub.kick(&name, reason) {
                Some(n) => Kicked::Server(n),
                None if self.kick_elsewhere(&name, reason) => Kicked::Elsewhere(name),
                None => Kicked::Nobody { name, room: None },
            },
        })
    }

    /// A room's topic.
    pub(crate) fn topic(&self, raw: &str) -> Result<Option<String>, OperatorError> {
        Ok(self.room(Some(raw))?.topic())
    }

    /// Set (or clear) a room's topic, as "the operator".
    pub(crate) fn set_topic(&self, raw: &str, topic: Option<String>) -> Result<(), OperatorError> {
        self.room(Some(raw))?.set_topic(topic, "the operator");
        Ok(())
    }

    /// A room's message for whoever joins it.
    pub(crate) fn room_motd(&self, raw: &str) -> Result<Option<String>, OperatorError> {
        Ok(self.room(Some(raw))?.motd())
    }

    /// Set (and show its members) or clear a room's message.
    pub(crate) fn set_room_motd(
        &self,
        raw: &str,
        motd: Option<String>,
    ) -> Result<(), OperatorError> {
        let room = self.room(Some(raw))?;
        room.set_motd(motd.clone());
        if let Some(m) = motd {
            room.notice(crate::protocol::Packet::event("motd", None, m));
        }
        Ok(())
    }

    /// Set (and show the default room) or clear the message of the day.
    pub(crate) fn announce_motd(&self, motd: Option<String>) {
        self.set_motd(motd.clone());
        if let Some(m) = motd {
            let p = crate::protocol::Packet::event("motd", None, m);
            self.hub().default_room().notice(p);
        }
    }

    /// A secure room: unlock the console with the room's password (a
    /// login run here; the key stays in memory). Ok(false): not the password.
    pub(crate) fn unlock(&self, password: &[u8]) -> Result<bool, OperatorError> {
        let s = self.secure().ok_or(OperatorError::NotSealed)?;
        Ok(s.unlock(password))
    }

    /// A one-time sign-in link's end (`#signin=…&name=…`) for the account
    /// called `name`, made by the server's operator (as `/weblink` makes
    /// one for a member logged in to it): good once, within 10 minutes.
    pub(crate) fn signin_link(&self, name: &str) -> Result<(String, String), OperatorError> {
        let accounts = self
            .ctx
            .accounts
            .as_ref()
            .ok_or(OperatorError::NoAccounts)?;
        let (account, _) = accounts
            .lookup(name)
            .ok_or_else(|| OperatorError::NoAccount(crate::names::sanitize(name).into_owned()))?;
        let token = accounts.signins.issue(&account, None);
        let fragment = super::accounts::signin_fragment(&token, &account);
        Ok((account, fragment))
    }

    /// Is this a secure room (so `/unlock` means something)?
    pub(crate) fn is_sealed(&self) -> bool {
        self.secure().is_some()
    }

    /// The room's events for a console (`chat`: chat lines too, not only
    /// joins, leaves and notices); `None` when a console already has them.
    pub(crate) fn console_events(&self, chat: bool) -> Option<ConsoleEvents> {
        let feed = self.hub().console_feed(chat)?;
        Some(ConsoleEvents {
            rx: feed.rx,
            dropped: feed.dropped,
        })
    }

    /// A chat line's text as the console may show it: sealed lines only
    /// once the operator unlocked the console.
    pub(crate) fn console_text(&self, c: &Chat) -> ConsoleText {
        if let Some(t) = &c.text {
            return ConsoleText::Plain(t.clone());
        }
        let key = self.secure().and_then(|s| s.console_key());
        let (Some(p), Some(key)) = (&c.payload, key) else {
            return ConsoleText::Sealed;
        };
        let what = crypto::Sealed {
            from: c.from.as_deref().unwrap_or(""),
            kind: if c.action { Kind::Action } else { Kind::Chat },
            sent: c.sent.unwrap_or_default(),
            room: c.room.as_deref().unwrap_or(""),
        };
        match key.open(p, &what) {
            Ok((t, _)) => ConsoleText::Plain(t),
            Err(_) => ConsoleText::DoesNotOpen,
        }
    }
}
