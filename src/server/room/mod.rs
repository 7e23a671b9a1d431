//! Rooms: who is where (the [`Hub`], server-wide: names are unique on the
//! server, direct messages and kicks find anyone), and each [`Room`]'s
//! broadcast of packets to its members.
//!
//! Broadcast is the hot path. A packet is serialized once and appended to
//! the room's [`Feed`], one shared byte stream; every member's session reads
//! the same bytes from it, lines published together in one piece. Publishing
//! never waits for a recipient: a member that falls more than
//! `send_queue_bytes` behind its rooms together (or out of what a feed keeps)
//! is dropped as too slow by its own session.
//! The locks are plain mutexes, held only for a few map operations and never
//! across an `.await` or a socket write; the hub's is taken before a room's,
//! never after, and the chat path takes only its room's.
//!
//! Lines of the default room carry no `room` field (clients that know no
//! rooms read them as before); every other room's do.
//!
//! Presence (join/leave notices and the count) is coalesced per room
//! ([`presence`]); a chat line flushes pending presence first, so order is
//! kept. Each member's own inbox (direct messages, a kick) is its [`Link`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::history::{HistorySetup, HistoryStore};
#[cfg(test)]
use super::limits::Limit;
use crate::protocol::{now_ms, Chat, Packet, RoomInfo};

mod away;
mod declare;
mod direct;
mod event;
mod feed;
mod hub;
mod link;
mod listing;
mod maker;
mod moderate;
mod name_index;
mod presence;
mod relayed;
pub(crate) mod rules;
mod say;
mod whom;

pub(crate) use direct::dm_lines;
pub(crate) use event::{Direct, NotSent, Relay, Relayed, RoomEvent, Said};
pub(crate) use feed::{Cursor, Feed, Taken};
pub(crate) use hub::RoomDecl;
pub(crate) use hub::{Hub, Identity, InRoom, Membership, RenameError, RoomError};
pub(crate) use link::{Link, Removal};
pub(crate) use maker::{Candidate, Maker};
pub(crate) use moderate::Actor;
pub(crate) use presence::Departure;
use presence::Presence;
#[cfg(test)]
use presence::PRESENCE_INTERVAL;
pub(crate) use say::{Body, Speaker};

pub(crate) type MemberId = u64;

/// Why a direct message was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DirectError {
    NoSuchUser,
    InboxFull(String),
}

#[derive(Default)]
struct Registry {
    pending: Vec<Presence>,
    last_flush: Option<Instant>,
    flush_scheduled: bool,
    /// Who is here, and since when (ms since the Unix epoch); their names
    /// are the hub's.
    members: HashMap<MemberId, u64>,
    /// The newest messages, for replay to new members (`None`: this room
    /// was made after the start; a joiner reads its past from the store).
    recent: Option<VecDeque<Arc<Chat>>>,
    topic: Option<String>,
    /// The operator's message for this room, sent to each member who joins.
    motd: Option<String>,
    /// Declared in the settings: it stays when empty.
    persistent: bool,
    /// Closed (emptied and dropped by the hub): nobody joins it any more.
    closed: bool,
    /// Cluster mode: members on other nodes (name -> node).
    remote: HashMap<String, String>,
    /// Cluster mode: the last stream entry delivered here, once this node
    /// reads the room's stream.
    stream: Option<StreamPos>,
}

/// Where a node is in a room's stream (cluster mode).
#[derive(Debug, Clone)]
struct StreamPos {
    last: String,
    /// The last chat line's id delivered (0: none yet).
    delivered: u64,
    /// Where this server began reading: a member who came before that
    /// gets everything after it live, and what came before as history.
    began: u64,
}

/// The operator console's view of the rooms: its own bounded queue, fed
/// without waiting and without waking anyone for what it does not show.
struct ConsoleTap {
    tx: SyncSender<Bytes>,
    /// Chat lines too (not `--quiet`).
    chat: bool,
    dropped: Arc<AtomicU64>,
}

/// What the console printer reads: the rooms' packets it shows, and how
/// many it missed because it fell behind.
pub(crate) struct ConsoleFeed {
    pub rx: Receiver<Bytes>,
    pub dropped: Arc<AtomicU64>,
}

/// Packets waiting for the console printer at most.
const CONSOLE_QUEUE: usize = 4096;

/// What every room shares: the console's tap, the history store, the chat
/// ids (one sequence for the server: rows never collide), the shutdown.
pub(crate) struct Shared {
    console: OnceLock<ConsoleTap>,
    history: Option<HistoryStore>,
    replay: usize,
    next_chat: AtomicU64,
    shutdown: CancellationToken,
    /// Bytes a feed keeps, and chunks at most.
    retain: u64,
    chunks: usize,
    /// Cluster mode: rooms span the servers through this.
    relay: Option<Arc<dyn Relay>>,
    /// Accounts: reserved names, server operators, rooms' rules.
    owners: OnceLock<Arc<dyn rules::Owners>>,
}

impl Shared {
    fn console(&self, bytes: Bytes, chat: bool) {
        if let Some(tap) = self.console.get().filter(|t| t.chat || !chat) {
            if tap.tx.try_send(bytes).is_err() {
                tap.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn next_chat(&self) -> u64 {
        self.next_chat.fetch_add(1, Ordering::Relaxed) + 1
    }
}

pub(crate) struct Room {
    /// Its name as shown ("#help").
    name: String,
    /// Its one key (folded: `#room1` is `#rooml`), computed once.
    key: String,
    /// The `room` field of its lines: `None` for the default room.
    tag: Option<String>,
    /// Also serializes publishing, so ids, counts and byte offsets are in order.
    registry: Mutex<Registry>,
    /// What members that sent `proto` read: chat lines in the compact
    /// form.
    feed: Feed,
    /// What legacy (Python) members read: the same lines, chat lines in the
    /// legacy form (`encrypted`, `port`). Made when the first legacy member
    /// joins (under the registry lock, so it misses nothing it should see);
    /// until then no line is written twice.
    legacy_feed: std::sync::OnceLock<Feed>,
    shared: Arc<Shared>,
    /// Members in it (read without the lock).
    count: AtomicU64,
    /// Was ever listed as closed (see `Registry::closed`).
    gone: AtomicBool,
    /// Cluster mode: rung when this server starts reading the room's stream.
    reading: tokio::sync::Notify,
    /// Its operators, bans, mutes and modes (taken after the hub's lock,
    /// never with the registry's).
    moderation: Mutex<rules::Moderation>,
    /// Someone is muted here (the chat path looks no further when not).
    any_mutes: AtomicBool,
    /// Cluster mode: chat lines this node's members said here (handed to
    /// the relay), and how many of them came back (or were refused): a
    /// member saying goodbye reads its own last lines first.
    own: OwnLines,
}

/// Chat lines of this node's members in one room, relayed and returned.
#[derive(Debug, Default)]
struct OwnLines {
    sent: AtomicU64,
    back: AtomicU64,
}

impl Room {
    /// How many lines this node's members said here so far (cluster mode).
    pub(crate) fn own_sent(&self) -> u64 {
        self.own.sent.load(Ordering::Acquire)
    }

    /// Have the first `mark` lines this node's members said here come back
    /// from the relay (or been refused)?
    pub(crate) fn own_back(&self, mark: u64) -> bool {
        self.own.back.load(Ordering::Acquire) >= mark
    }

    /// One of this node's lines came back from the relay, or never will
    /// (the relay refused it).
    pub(crate) fn own_returned(&self) {
        self.own.back.fetch_add(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Where a member is in one room when it comes in: its cursor, and the
/// past it is shown first.
pub(crate) struct Entered {
    pub room: Arc<Room>,
    pub cursor: Cursor,
    /// The member reads the legacy feed.
    pub legacy: bool,
    /// The newest messages from before the join, oldest first.
    pub history: Vec<Arc<Chat>>,
    /// Older messages exist in the store.
    pub more_history: bool,
    /// The room keeps no replay in memory: read the messages before this
    /// id from the store instead.
    pub fetch_before: Option<u64>,
    /// Cluster mode: the replay comes from the room's stream, below
    /// `fetch_before` (`None`: below where this node starts reading it).
    pub cluster: bool,
}

impl Room {
    /// A room with its own feed; `recent` seeds its replay (`None`: read
    /// from the store on each join).
    fn open(
        name: &str,
        default: bool,
        shared: &Arc<Shared>,
        recent: Option<Vec<Chat>>,
    ) -> Arc<Room> {
        let replay = shared.replay;
        let recent = recent.map(|r| {
            let skip = r.len().saturating_sub(replay);
            r.into_iter().skip(skip).map(Arc::new).collect()
        });
        let rules = shared
            .owners
            .get()
            .and_then(|o| o.load(&crate::names::name_key(name)))
            .unwrap_or_default();
        let any_mutes = !rules.mutes.is_empty();
        Arc::new(Room {
            name: name.to_string(),
            key: crate::names::name_key(name),
            tag: (!default).then(|| name.to_string()),
            registry: Mutex::new(Registry {
                recent,
                ..Default::default()
            }),
            feed: Feed::new(shared.retain, shared.chunks),
            legacy_feed: std::sync::OnceLock::new(),
            shared: shared.clone(),
            count: AtomicU64::new(0),
            gone: AtomicBool::new(false),
            reading: tokio::sync::Notify::new(),
            moderation: Mutex::new(rules::Moderation {
                rules,
                ..Default::default()
            }),
            any_mutes: AtomicBool::new(any_mutes),
            own: OwnLines::default(),
        })
    }

    /// Its name as shown ("#help").
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Its one key: the folded name, the same on every server.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The `room` field of its lines (`None`: the default room).
    pub(crate) fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The history store, when history is kept.
    pub(crate) fn history(&self) -> Option<&HistoryStore> {
        self.shared.history.as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publish under the registry lock (callers hold it), keeping order.
    /// `chat`: a chat line (the console shows those only when not quiet).
    fn publish_locked(&self, _reg: &mut Registry, bytes: Bytes, chat: bool) {
        self.feed.publish(&bytes, true);
        if let Some(legacy) = self.legacy_feed.get() {
            legacy.publish(&bytes, true);
        }
        self.shared.console(bytes, chat);
    }

    /// The room's `count` line: its members here and on other nodes.
    fn count_line(&self, reg: &Registry) -> Bytes {
        let total = (reg.members.len() + reg.remote.len()) as u64;
        Packet::Count(crate::protocol::Count {
            total,
            room: self.tag.clone(),
        })
        .to_line()
    }

    /// A packet of this room, with its `room` field.
    fn tagged(&self, p: Packet) -> Packet {
        p.in_room(self.tag())
    }

    /// Add member `id` called `name` (the hub checked everything), and
    /// announce the join and the new count to the room, the joiner included.
    /// A `legacy` member gets no history replay (a packet type it does not know).
    fn add(self: &Arc<Self>, id: MemberId, name: &str, legacy: bool) -> Entered {
        let mut reg = self.lock();
        reg.members.insert(id, now_ms());
        self.count
            .store(reg.members.len() as u64, Ordering::Relaxed);
        // Subscribing and copying the replay ring under one lock: the joiner
        // gets every message exactly once, as history or live.
        let cursor = self.feed_of(legacy, true).cursor();
        let replay = self.shared.replay;
        let cluster = self.shared.relay.is_some();
        let (history, fetch_before) = match (&reg.recent, legacy || replay == 0) {
            (_, true) => (Vec::new(), None),
            // What this node delivered so far is before the joiner's cursor.
            _ if cluster => (Vec::new(), reg.stream.as_ref().map(|p| p.delivered + 1)),
            (Some(r), false) => (r.iter().cloned().collect(), None),
            // Every line of this room published later has a higher id.
            (None, false) => (
                Vec::new(),
                Some(self.shared.next_chat.load(Ordering::Relaxed) + 1),
            ),
        };
        let more_history = replay > 0 && history.len() >= replay;
        reg.pending.push(Presence::Joined(name.to_string()));
        self.presence_changed(&mut reg);
        Entered {
            room: self.clone(),
            cursor,
            legacy,
            history,
            more_history,
            fetch_before,
            cluster: cluster && !legacy && replay > 0,
        }
    }

    /// Take member `id`, called `name`, out and announce how they left
    /// (one notice, coalesced with other presence). True when it is empty now.
    fn remove(self: &Arc<Self>, id: MemberId, name: &str, how: Departure) -> bool {
        let mut reg = self.lock();
        if reg.members.remove(&id).is_some() {
            self.count
                .store(reg.members.len() as u64, Ordering::Relaxed);
            reg.pending.push(Presence::Left(name.to_string(), how));
            self.presence_changed(&mut reg);
        }
        reg.members.is_empty()
    }

    /// Close it if it is empty and not declared (the hub then forgets it);
    /// true when it was closed.
    fn close_if_unused(&self) -> bool {
        let mut reg = self.lock();
        if reg.members.is_empty() && !reg.persistent {
            reg.closed = true;
            self.gone.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Members in it now.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Tell the room that `old` is now `new` (the hub renamed them).
    fn renamed(&self, old: &str, new: &str) {
        let mut reg = self.lock();
        self.flush_presence(&mut reg);
        let packet = Packet::System(crate::protocol::System {
            text: format!("{old} is now {new}"),
            event: Some("rename".into()),
            name: Some(old.to_string()),
            new_name: Some(new.into()),
            ..Default::default()
        });
        let line = self.tagged(packet).to_line();
        self.publish_locked(&mut reg, line, false);
    }

    /// Broadcast a notice to the room (not stored, not a chat line).
    pub(crate) fn notice(&self, packet: Packet) {
        let mut reg = self.lock();
        self.flush_presence(&mut reg);
        let line = self.tagged(packet).to_line();
        self.publish_locked(&mut reg, line, false);
    }

    /// Who is here and since when (the hub adds their names), and how many.
    fn present(&self) -> (Vec<(MemberId, u64)>, u64) {
        let reg = self.lock();
        let v: Vec<(MemberId, u64)> = reg.members.iter().map(|(id, t)| (*id, *t)).collect();
        let n = v.len() as u64;
        (v, n)
    }

    /// Its name, topic and count, as `rooms` and `joined` say them.
    /// Declared by the operator: it stays when empty.
    pub(crate) fn persistent(&self) -> bool {
        self.lock().persistent
    }

    pub(crate) fn info(&self) -> RoomInfo {
        let reg = self.lock();
        RoomInfo {
            room: self.name.clone(),
            topic: reg.topic.clone(),
            total: (reg.members.len() + reg.remote.len()) as u64,
            persistent: reg.persistent,
        }
    }

    /// The feed a member reads (through its cursor): the legacy one for
    /// a legacy member, made now if `make` (callers hold the registry lock).
    pub(crate) fn feed_of(&self, legacy: bool, make: bool) -> &Feed {
        match (legacy, make) {
            (false, _) => &self.feed,
            (true, true) => self
                .legacy_feed
                .get_or_init(|| Feed::new(self.shared.retain, self.shared.chunks)),
            (true, false) => self.legacy_feed.get().unwrap_or(&self.feed),
        }
    }

    /// The legacy members' feed, when one has joined.
    pub(super) fn legacy_feed(&self) -> Option<&Feed> {
        self.legacy_feed.get()
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
    use crate::config::Limits;
    use std::net::SocketAddr;

    fn addr() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    fn hub() -> Arc<Hub> {
        Hub::new(
            "#lobby",
            1 << 20,
            1024,
            CancellationToken::new(),
            HistorySetup::default(),
            Default::default(),
            None,
        )
    }

    /// Connected and in the default room.
    fn member(hub: &Hub, name: &str) -> (Membership, Entered) {
        let m = hub.connect(name, addr(), false);
        let e = hub.enter(m.id, "#lobby", &Limits::default()).unwrap();
        (m, e)
    }

    fn lines(e: &mut Entered) -> Vec<String> {
        let mut seen = Vec::new();
        if let Taken::Bytes(chunks) = e
            .room
            .feed_of(e.legacy, false)
            .take(&mut e.cursor, usize::MAX)
        {
            seen = chunks.concat();
        }
        String::from_utf8(seen)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn names_are_made_unique_case_insensitively_across_the_server() {
        let hub = hub();
        let a = hub.connect("Alice", addr(), false);
        let b = hub.connect("alice", addr(), false);
        let c = hub.connect("ALICE", addr(), false);
        assert_eq!(
            (a.name.as_str(), b.name.as_str(), c.name.as_str()),
            ("Alice", "alice-2", "ALICE-3")
        );
        hub.disconnect(b.id, Departure::Gone);
        assert_eq!(hub.connect("Alice", addr(), false).name, "Alice-2");
        assert_eq!(hub.members().len(), 3);
    }

    #[test]
    fn joiner_sees_its_join_and_count_and_leave_is_idempotent() {
        let hub = hub();
        let (a, mut e) = member(&hub, "A");
        let lines = lines(&mut e);
        assert!(lines[0].contains("A joined"), "{lines:?}");
        assert_eq!(lines[1], "{\"type\":\"count\",\"total\":1}");
        assert_eq!(e.room.feed_of(e.legacy, false).behind(&e.cursor), 0);
        assert!(hub.disconnect(a.id, Departure::Gone).is_some());
        assert!(hub.disconnect(a.id, Departure::Gone).is_none());
    }

    #[test]
    fn a_room_carries_its_name_and_only_its_lines_and_closes_when_empty() {
        let hub = hub();
        let limits = Limits::default();
        let (a, mut lobby) = member(&hub, "a");
        let mut help = hub.enter(a.id, "Help", &limits).unwrap();
        assert_eq!(help.room.name(), "#help");
        help.room
            .chat(Speaker::Server, Body::text("in help"))
            .unwrap();
        lobby
            .room
            .chat(Speaker::Server, Body::text("in lobby"))
            .unwrap();
        let h = lines(&mut help);
        let l = lines(&mut lobby);
        assert!(h.iter().all(|x| x.contains("\"room\":\"#help\"")), "{h:?}");
        assert!(
            h.iter().any(|x| x.contains("in help")) && !h.iter().any(|x| x.contains("in lobby"))
        );
        assert!(
            l.iter().all(|x| !x.contains("\"room\"")),
            "default room lines carry no room: {l:?}"
        );
        assert!(
            l.iter().any(|x| x.contains("in lobby")) && !l.iter().any(|x| x.contains("in help"))
        );
        // Twice in one room, a name that is no room name.
        assert_eq!(
            hub.enter(a.id, "#HELP", &limits).err().unwrap().code,
            "bad_packet"
        );
        assert_eq!(
            hub.enter(a.id, "#a b", &limits).err().unwrap().code,
            "room_invalid"
        );
        // Empty and not declared: gone.
        hub.exit(a.id, &help.room, Departure::Parted(None));
        assert_eq!(hub.find("#help").err().unwrap().code, "no_such_room");
        assert!(hub.find("lobby").is_ok(), "the default room stays");
    }

    #[test]
    fn room_limits_refuse_with_their_codes_and_declared_rooms_stay() {
        let hub = hub();
        let limits = Limits {
            max_rooms: 3,
            max_rooms_per_member: 2,
            max_room_members: 1,
            ..Limits::default()
        };
        assert_eq!(
            hub.declare(&[RoomDecl {
                name: "#kept".into(),
                topic: Some("t".into()),
                motd: None,
                operators: Vec::new(),
            }]),
            vec!["room #kept opened"]
        );
        let a = hub.connect("a", addr(), false);
        let b = hub.connect("b", addr(), false);
        let kept = hub.enter(a.id, "#kept", &limits).unwrap();
        assert_eq!(kept.room.topic().as_deref(), Some("t"));
        let e = hub.enter(b.id, "#kept", &limits).err().unwrap();
        assert_eq!(
            (e.code, e.limit),
            ("room_full", Some(Limit::MaxRoomMembers))
        );
        hub.enter(a.id, "#x", &limits).unwrap();
        let e = hub.enter(a.id, "#y", &limits).err().unwrap();
        assert_eq!(
            (e.code, e.limit),
            ("too_many_rooms", Some(Limit::MaxRoomsPerMember))
        );
        let e = hub.enter(b.id, "#z", &limits).err().unwrap();
        assert_eq!((e.code, e.limit), ("too_many_rooms", Some(Limit::MaxRooms)));
        hub.disconnect(a.id, Departure::Gone);
        assert!(hub.find("#kept").is_ok(), "declared: kept when empty");
        assert!(hub.find("#x").is_err(), "made by a member: gone when empty");
        hub.set_create(false);
        assert_eq!(
            hub.enter(b.id, "#new", &limits).err().unwrap().code,
            "no_such_room"
        );
        // No longer declared: closed.
        assert_eq!(
            hub.declare(&[]),
            vec!["room #kept closed (no longer declared)"]
        );
        assert!(hub.find("#kept").is_err());
    }

    #[tokio::test]
    async fn bursts_of_presence_are_coalesced_and_flushed_before_chat() {
        let hub = hub();
        let room = hub.default_room().clone();
        let mut rx = room.subscribe();
        let ids: Vec<_> = (0..10)
            .map(|i| member(&hub, &format!("u{i}")).0.id)
            .collect();
        // The first join went out at once; the other nine wait for the flush,
        // which a chat line forces.
        room.chat(Speaker::Server, Body::text("hi")).unwrap();
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
        hub.disconnect(ids[0], Departure::Gone);
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
    fn chat_ids_increase_across_rooms() {
        let hub = hub();
        let (a, _) = member(&hub, "a");
        let other = hub.enter(a.id, "#other", &Limits::default()).unwrap();
        let room = hub.default_room().clone();
        let mut rx = room.subscribe();
        let mut ox = other.room.subscribe();
        room.chat(Speaker::Server, Body::text("one")).unwrap();
        other.room.chat(Speaker::Server, Body::text("two")).unwrap();
        room.chat(Speaker::Member { name: "A", port: 1 }, Body::text("three"))
            .unwrap();
        let id = |l: Bytes| match crate::protocol::parse(&l) {
            Ok(Packet::Chat(c)) => c.id.unwrap(),
            other => panic!("{other:?}"),
        };
        let ids = (
            id(rx.try_recv().unwrap()),
            id(ox.try_recv().unwrap()),
            id(rx.try_recv().unwrap()),
        );
        assert_eq!(ids, (1, 2, 3));
    }
}
