//! The room: who is here (registry) and the broadcast of packets to them.
//!
//! Broadcast is the hot path. A packet is serialized once and appended to
//! the room's [`Feed`], one shared byte stream; every member's session reads
//! the same bytes from it, lines published together in one piece. Publishing
//! never waits for a recipient: a member that falls more than
//! `send_queue_bytes` behind the room (or out of what the feed keeps) is
//! dropped as too slow by its own session.
//! The registry lock is a plain mutex, held only for a few map operations and
//! never across an `.await` or a socket write.
//!
//! Presence (join/leave notices and the count) is coalesced ([`presence`]);
//! a chat line flushes pending presence first, so order is kept. Each
//! member's own inbox (direct messages, a kick) is its [`Link`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::history::{HistorySetup, HistoryStore};
use crate::names;
use crate::protocol::{fast, now_ms, Chat, Dm, Packet, System, UserInfo, MAX_USERS_LISTED};

mod feed;
mod link;
mod presence;

pub use feed::{Cursor, Feed, Taken};
pub use link::Link;
pub use presence::Departure;
use presence::Presence;
#[cfg(test)]
use presence::PRESENCE_INTERVAL;

pub type MemberId = u64;

/// Why a rename was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RenameError {
    Taken(String),
    Gone,
}

/// Why a direct message was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum DirectError {
    NoSuchUser,
    InboxFull(String),
}

/// Someone in the room, as the registry sees them.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub addr: SocketAddr,
    /// When they joined, milliseconds since the Unix epoch.
    pub since: u64,
    pub link: Arc<Link>,
    /// A legacy (Python) client: it only gets the packet types it knows.
    pub legacy: bool,
}

#[derive(Default)]
struct Registry {
    pending: Vec<Presence>,
    last_flush: Option<Instant>,
    flush_scheduled: bool,
    members: HashMap<MemberId, Member>,
    /// Lower-cased name -> member, for case-insensitive uniqueness.
    by_name: HashMap<String, MemberId>,
    next_member: MemberId,
    next_chat: u64,
    /// The newest room messages, for replay to new members.
    recent: VecDeque<Arc<Chat>>,
}

/// The operator console's view of the room: its own bounded queue, fed
/// without waiting and without waking anyone for what it does not show.
struct ConsoleTap {
    tx: SyncSender<Bytes>,
    /// Chat lines too (not `--quiet`).
    chat: bool,
    dropped: Arc<AtomicU64>,
}

/// What the console printer reads: the room's packets it shows, and how
/// many it missed because it fell behind.
pub struct ConsoleFeed {
    pub rx: Receiver<Bytes>,
    pub dropped: Arc<AtomicU64>,
}

/// Packets waiting for the console printer at most.
const CONSOLE_QUEUE: usize = 4096;

pub struct Room {
    /// Also serializes publishing, so ids, counts and byte offsets are in order.
    registry: Mutex<Registry>,
    console: OnceLock<ConsoleTap>,
    feed: Feed,
    /// The server's shutdown token: a member who joins after it was
    /// cancelled is told to leave at once (see [`close`](Self::close)).
    shutdown: CancellationToken,
    history: Option<HistoryStore>,
    replay: usize,
}

/// What a session gets when it joins: its place in the room.
pub struct Membership {
    pub id: MemberId,
    /// The member's name, kept current by renames.
    pub name: String,
    /// Where this member is in the room's feed.
    pub cursor: Cursor,
    pub link: Arc<Link>,
    /// The newest messages from before the join, oldest first.
    pub history: Vec<Arc<Chat>>,
    /// Older messages exist in the store.
    pub more_history: bool,
}

/// A chat line's content: text in a plaintext room; in a secure room a
/// sealed payload and the sender's clock, relayed as they came.
#[derive(Debug, Default)]
pub struct Body {
    pub text: Option<String>,
    pub payload: Option<String>,
    pub sent: Option<u64>,
    /// `/me`.
    pub action: bool,
}

impl Body {
    pub fn text(text: impl Into<String>) -> Body {
        Body {
            text: Some(text.into()),
            ..Default::default()
        }
    }
}

/// Who sent a chat line.
pub enum Speaker<'a> {
    Member { name: &'a str, port: u16 },
    Server,
}

impl Room {
    /// A room whose feed keeps `buffer` entries, without history.
    #[cfg(test)]
    pub fn new(buffer: usize, shutdown: CancellationToken) -> Arc<Room> {
        Room::with_history(
            Feed::new(1 << 20, buffer),
            shutdown,
            HistorySetup::default(),
        )
    }

    /// A room that keeps (and replays) history as `h` says. Without a store
    /// there is no history at all: nothing kept, nothing replayed.
    pub fn with_history(feed: Feed, shutdown: CancellationToken, h: HistorySetup) -> Arc<Room> {
        let replay = if h.store.is_some() { h.replay } else { 0 };
        let skip = h.recent.len().saturating_sub(replay);
        let registry = Registry {
            next_chat: h.last_id,
            recent: h.recent.into_iter().skip(skip).map(Arc::new).collect(),
            ..Default::default()
        };
        Arc::new(Room {
            registry: Mutex::new(registry),
            console: OnceLock::new(),
            feed,
            shutdown,
            history: h.store,
            replay,
        })
    }

    /// The history store, when history is kept.
    pub fn history(&self) -> Option<&HistoryStore> {
        self.history.as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publish under the registry lock (callers hold it), keeping order.
    /// `chat`: a chat line (the console shows those only when not quiet).
    fn publish_locked(&self, _reg: &mut Registry, bytes: Bytes, chat: bool) {
        self.publish_as(bytes, chat, true);
    }

    fn publish_as(&self, bytes: Bytes, chat: bool, wake: bool) {
        self.feed.publish(&bytes, wake);
        if let Some(tap) = self.console.get().filter(|t| t.chat || !chat) {
            if tap.tx.try_send(bytes).is_err() {
                tap.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Add a member under a unique name (`-2`, `-3`, ... on collision), then
    /// announce the join and the new count to everyone, the joiner included.
    /// A `legacy` member gets no history replay (a packet type it does not know).
    pub fn join(self: &Arc<Self>, requested: &str, addr: SocketAddr, legacy: bool) -> Membership {
        let mut reg = self.lock();
        let mut name = requested.to_string();
        let mut n = 2;
        while reg.by_name.contains_key(&names::name_key(&name)) {
            name = names::with_suffix(requested, n);
            n += 1;
        }
        let id = reg.next_member;
        reg.next_member += 1;
        let link = Arc::new(Link::default());
        if self.shutdown.is_cancelled() {
            link.remove(None);
        }
        reg.by_name.insert(names::name_key(&name), id);
        reg.members.insert(
            id,
            Member {
                name: name.clone(),
                addr,
                since: now_ms(),
                link: link.clone(),
                legacy,
            },
        );
        // Subscribing and copying the replay ring under one lock: the joiner
        // gets every message exactly once, as history or live.
        let cursor = self.feed.cursor();
        let history: Vec<Arc<Chat>> = match legacy {
            true => Vec::new(),
            false => reg.recent.iter().cloned().collect(),
        };
        let more_history = self.replay > 0 && history.len() >= self.replay;
        reg.pending.push(Presence::Joined(name.clone()));
        self.presence_changed(&mut reg);
        Membership {
            id,
            name,
            cursor,
            link,
            history,
            more_history,
        }
    }

    /// Remove a member and announce how they left (one notice, coalesced
    /// with other presence); a member the operator kicked is announced as
    /// such. Safe to call twice: the second is a no-op.
    pub fn leave(self: &Arc<Self>, id: MemberId, how: Departure) -> Option<Member> {
        let mut reg = self.lock();
        let member = reg.members.remove(&id)?;
        let how = match member.link.kick_reason() {
            Some(why) => Departure::Kicked(why),
            None => how,
        };
        reg.by_name.remove(&names::name_key(&member.name));
        reg.pending.push(Presence::Left(member.name.clone(), how));
        self.presence_changed(&mut reg);
        Some(member)
    }

    /// Broadcast a chat line to everyone, its sender included. The packet gets
    /// the next id and the server time; it is serialized once for all.
    pub fn chat(&self, from: Speaker<'_>, body: Body) {
        self.chat_and(from, body, true)
    }

    /// [`chat`](Self::chat), leaving the readers asleep: a session with more
    /// lines already read publishes them all, then wakes the readers once
    /// ([`wake_readers`](Self::wake_readers)), so that they write them in
    /// one go.
    pub fn chat_batched(&self, from: Speaker<'_>, body: Body) {
        self.chat_and(from, body, false)
    }

    /// Wake the members waiting for what was published.
    pub fn wake_readers(&self) {
        self.feed.wake();
    }

    fn chat_and(&self, from: Speaker<'_>, body: Body, wake: bool) {
        let Body {
            text,
            payload,
            sent,
            action,
        } = body;
        let (from, port) = match from {
            Speaker::Member { name, port } => (name.to_string(), Some(port)),
            Speaker::Server => ("server".to_string(), None),
        };
        let mut reg = self.lock();
        self.flush_presence(&mut reg);
        reg.next_chat += 1;
        let chat = Chat {
            encrypted: payload.is_some(),
            from: Some(from),
            port,
            text,
            payload,
            id: Some(reg.next_chat),
            ts: Some(now_ms()),
            action,
            sent,
            seq: None,
        };
        // Serialized straight into the feed (the hot path).
        self.feed
            .publish_with(wake, |out| fast::write_chat_line(out, &chat));
        if let Some(tap) = self.console.get().filter(|t| t.chat) {
            if tap
                .tx
                .try_send(Packet::Chat(chat.clone()).to_line())
                .is_err()
            {
                tap.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(store) = &self.history {
            let chat = Arc::new(chat);
            if self.replay > 0 {
                if reg.recent.len() >= self.replay {
                    reg.recent.pop_front();
                }
                reg.recent.push_back(chat.clone());
            }
            // Queued after the lock is released: the room never waits on it.
            drop(reg);
            store.record(chat);
        }
    }

    /// Rename member `id` to `new` (already validated); everyone is told.
    /// A change of case only is allowed; another member's name is not.
    pub fn rename(&self, id: MemberId, new: &str) -> Result<String, RenameError> {
        let mut reg = self.lock();
        let key = names::name_key(new);
        if let Some(&other) = reg.by_name.get(&key) {
            if other != id {
                let taken = reg.members.get(&other).map(|m| m.name.clone());
                return Err(RenameError::Taken(taken.unwrap_or_default()));
            }
        }
        let member = reg.members.get_mut(&id).ok_or(RenameError::Gone)?;
        let old = std::mem::replace(&mut member.name, new.to_string());
        reg.by_name.remove(&names::name_key(&old));
        reg.by_name.insert(key, id);
        self.flush_presence(&mut reg);
        let packet = Packet::System(System {
            text: format!("{old} is now {new}"),
            event: Some("rename".into()),
            name: Some(old.clone()),
            new_name: Some(new.into()),
            ..Default::default()
        });
        self.publish_locked(&mut reg, packet.to_line(), false);
        Ok(old)
    }

    /// Deliver a direct message from `from` to the member named `dm.to`
    /// (case-insensitively). Returns the line as sent, for the sender's echo.
    pub fn direct(&self, from: &str, mut dm: Dm) -> Result<Bytes, DirectError> {
        let mut reg = self.lock();
        let to = *reg
            .by_name
            .get(&names::name_key(dm.to.trim()))
            .ok_or(DirectError::NoSuchUser)?;
        let member = reg.members.get(&to).ok_or(DirectError::NoSuchUser)?;
        dm.from = Some(from.to_string());
        dm.to = member.name.clone();
        dm.seq = None;
        dm.ts = Some(now_ms());
        let line = Packet::Dm(dm.clone()).to_line();
        let is_self = names::name_key(from) == names::name_key(&dm.to);
        // A legacy client knows no `dm`: it gets a chat line only it receives.
        let theirs = match member.legacy {
            true => Packet::Chat(Chat {
                from: Some(format!("{from} (direct)")),
                text: dm.text.clone(),
                ts: dm.ts,
                action: dm.action,
                ..Default::default()
            })
            .to_line(),
            false => line.clone(),
        };
        if !is_self && !member.link.push(theirs) {
            return Err(DirectError::InboxFull(member.name.clone()));
        }
        if let Some(store) = self.history.as_ref().filter(|h| h.keeps_direct()) {
            // A stored direct message takes an id too, so rows never collide.
            reg.next_chat += 1;
            let chat = Chat {
                encrypted: dm.encrypted,
                from: dm.from,
                text: dm.text,
                payload: dm.payload,
                id: Some(reg.next_chat),
                ts: dm.ts,
                action: dm.action,
                port: None,
                sent: dm.sent,
                seq: None,
            };
            store.record_direct(Arc::new(chat), &dm.to);
        }
        Ok(line)
    }

    /// Make the member called `name` leave with `reason`: their session says
    /// `bye` with it, and their leave is announced as a kick. Their actual
    /// name, or `None` when nobody is called that.
    pub fn kick(&self, name: &str, reason: &str) -> Option<String> {
        let reg = self.lock();
        let member = reg
            .members
            .get(reg.by_name.get(&names::name_key(name.trim()))?)?;
        member.link.remove(Some(reason));
        Some(member.name.clone())
    }

    /// The server is shutting down (its token is cancelled): every member
    /// leaves, saying goodbye.
    pub fn close(&self) {
        let reg = self.lock();
        for m in reg.members.values() {
            m.link.remove(None);
        }
    }

    /// Broadcast a notice (not stored, not a chat line).
    pub fn notice(&self, packet: &Packet) {
        let mut reg = self.lock();
        self.flush_presence(&mut reg);
        self.publish_locked(&mut reg, packet.to_line(), false);
    }

    /// Who is here, oldest first (at most [`MAX_USERS_LISTED`]), and how many.
    pub fn users(&self) -> (Vec<UserInfo>, u64) {
        let reg = self.lock();
        let mut v: Vec<(&MemberId, &Member)> = reg.members.iter().collect();
        v.sort_unstable_by_key(|(id, _)| **id);
        let users = v
            .into_iter()
            .take(MAX_USERS_LISTED)
            .map(|(_, m)| UserInfo {
                name: m.name.clone(),
                since: m.since,
            })
            .collect();
        (users, reg.members.len() as u64)
    }

    /// The room's feed (members read it through their cursor).
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// Lines published from now on, for tests: a cursor, and a way to read.
    #[cfg(test)]
    pub fn subscribe(self: &Arc<Self>) -> TestReader {
        TestReader {
            room: self.clone(),
            cursor: self.feed.cursor(),
            lines: VecDeque::new(),
        }
    }

    /// The console's own feed of what is published from now on: notices
    /// always, chat lines when `chat`. Once per room (`None` after).
    pub fn console_feed(&self, chat: bool) -> Option<ConsoleFeed> {
        let (tx, rx) = sync_channel(CONSOLE_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let tap = ConsoleTap {
            tx,
            chat,
            dropped: dropped.clone(),
        };
        self.console.set(tap).ok()?;
        Some(ConsoleFeed { rx, dropped })
    }

    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.lock().members.len()
    }

    /// A snapshot of the members, oldest first.
    pub fn members(&self) -> Vec<Member> {
        let reg = self.lock();
        let mut v: Vec<(MemberId, Member)> =
            reg.members.iter().map(|(k, m)| (*k, m.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        v.into_iter().map(|(_, m)| m).collect()
    }
}

/// Reads a room's feed line by line (tests).
#[cfg(test)]
pub struct TestReader {
    room: Arc<Room>,
    cursor: Cursor,
    lines: VecDeque<Bytes>,
}

#[cfg(test)]
impl TestReader {
    /// The next line published, if there is one yet.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        if self.lines.is_empty() {
            if let Taken::Bytes(chunks) = self.room.feed.take(&mut self.cursor, usize::MAX) {
                for c in chunks {
                    let mut c = c;
                    while let Some(i) = memchr::memchr(b'\n', &c) {
                        self.lines.push_back(c.split_to(i + 1));
                    }
                }
            }
        }
        self.lines.pop_front()
    }

    /// The next line, waiting for it.
    pub async fn recv(&mut self) -> Bytes {
        loop {
            if let Some(l) = self.try_recv() {
                return l;
            }
            let (feed, cursor) = (&self.room.feed, &mut self.cursor);
            std::future::poll_fn(|cx| feed.poll_ready(cursor, cx)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn names_are_made_unique_case_insensitively() {
        let room = Room::new(64, CancellationToken::new());
        let a = room.join("Alice", addr(), false);
        let b = room.join("alice", addr(), false);
        let c = room.join("ALICE", addr(), false);
        assert_eq!(
            (a.name.as_str(), b.name.as_str(), c.name.as_str()),
            ("Alice", "alice-2", "ALICE-3")
        );
        room.leave(b.id, Departure::Gone);
        assert_eq!(room.join("Alice", addr(), false).name, "Alice-2");
        assert_eq!(room.count(), 3);
    }

    #[test]
    fn joiner_sees_its_join_and_count_and_leave_is_idempotent() {
        let room = Room::new(64, CancellationToken::new());
        let mut a = room.join("A", addr(), false);
        let mut seen = Vec::new();
        if let Taken::Bytes(chunks) = room.feed().take(&mut a.cursor, usize::MAX) {
            seen = chunks.concat();
        }
        let seen = String::from_utf8(seen).unwrap();
        let lines: Vec<&str> = seen.lines().collect();
        assert!(lines[0].contains("A joined"), "{lines:?}");
        assert_eq!(lines[1], "{\"type\":\"count\",\"total\":1}");
        assert_eq!(room.feed().behind(&a.cursor), 0);
        assert!(room.leave(a.id, Departure::Gone).is_some());
        assert!(room.leave(a.id, Departure::Gone).is_none());
    }

    #[tokio::test]
    async fn bursts_of_presence_are_coalesced_and_flushed_before_chat() {
        let room = Room::new(1024, CancellationToken::new());
        let mut rx = room.subscribe();
        let ids: Vec<_> = (0..10)
            .map(|i| room.join(&format!("u{i}"), addr(), false).id)
            .collect();
        // The first join went out at once; the other nine wait for the flush,
        // which a chat line forces.
        room.chat(Speaker::Server, Body::text("hi"));
        let mut texts = Vec::new();
        while let Some(f) = rx.try_recv() {
            texts.push(String::from_utf8(f.to_vec()).unwrap());
        }
        assert_eq!(texts.len(), 5, "{texts:#?}");
        assert!(texts[0].contains("u0 joined") && texts[1].contains("\"total\":1"));
        assert!(
            texts[2].contains("u1, u2, u3, u4, u5 and 4 more joined"),
            "{}",
            texts[2]
        );
        assert!(texts[3].contains("\"total\":10"));
        assert!(texts[4].contains("\"text\":\"hi\""));
        room.leave(ids[0], Departure::Gone);
        let f = tokio::time::timeout(PRESENCE_INTERVAL * 20, rx.recv())
            .await
            .unwrap();
        assert!(
            std::str::from_utf8(&f)
                .unwrap()
                .contains("u0 disconnected."),
            "flushed by the timer"
        );
    }

    #[test]
    fn chat_ids_increase() {
        let room = Room::new(64, CancellationToken::new());
        let mut rx = room.subscribe();
        room.chat(Speaker::Server, Body::text("one"));
        room.chat(Speaker::Member { name: "A", port: 1 }, Body::text("two"));
        let ids: Vec<u64> = (0..2)
            .map(|_| match crate::protocol::parse(&rx.try_recv().unwrap()) {
                Ok(Packet::Chat(c)) => c.id.unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, vec![1, 2]);
    }
}
