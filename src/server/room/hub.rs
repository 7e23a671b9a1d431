//! The hub: every member of the server (names are unique server-wide) and
//! every room, created on first join within the limits, declared by the
//! operator, or gone when empty.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::name_index::NameIndex;
use super::{
    Body, ConsoleFeed, ConsoleTap, Cursor, Departure, Direct, DirectError, Entered, HistorySetup,
    Link, MemberId, Relay, Room, RoomEvent, Shared, CONSOLE_QUEUE,
};
use crate::config::Limits;
use crate::names;
use crate::protocol::{
    codes, now_ms, Chat, Dm, Packet, RoomInfo, UserInfo, MAX_ROOMS_LISTED, MAX_USERS_LISTED,
};
use crate::server::limits::Limit;

/// Why a rename was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RenameError {
    Taken(String),
    Gone,
}

/// Why a room could not be joined, left or used: an `error` code and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomError {
    pub code: &'static str,
    pub message: String,
    /// The limit that refused it, if one did.
    pub limit: Option<Limit>,
}

impl RoomError {
    fn new(code: &'static str, message: impl Into<String>) -> RoomError {
        RoomError {
            code,
            message: message.into(),
            limit: None,
        }
    }

    fn limit(mut self, limit: Limit) -> RoomError {
        self.limit = Some(limit);
        self
    }

    /// The `error` packet that says it, about `room`.
    pub fn packet(&self, room: Option<&str>) -> Packet {
        Packet::error(self.code, self.message.clone()).in_room(room)
    }
}

/// A room the operator declares in the settings (`[[rooms]]`): it exists
/// from the start and stays when empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomDecl {
    pub name: String,
    pub topic: Option<String>,
    pub motd: Option<String>,
}

/// Someone on the server, as the hub sees them.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub addr: SocketAddr,
    /// When they joined, milliseconds since the Unix epoch.
    pub since: u64,
    pub link: Arc<Link>,
    /// A legacy (Python) client: it only gets the packet types it knows.
    pub legacy: bool,
    /// The rooms they are in, in the order they joined them.
    pub rooms: Vec<Arc<Room>>,
}

/// A member's place in one room.
pub struct InRoom {
    pub room: Arc<Room>,
    pub cursor: Cursor,
}

/// What a session holds while it is a member.
pub struct Membership {
    pub id: MemberId,
    /// The member's name, kept current by renames.
    pub name: String,
    pub link: Arc<Link>,
    /// The rooms it is in, in the order it joined them.
    pub rooms: Vec<InRoom>,
}

impl Membership {
    /// Bytes its rooms published that it has not taken yet, together.
    pub fn behind(&self) -> u64 {
        self.rooms
            .iter()
            .map(|r| r.room.feed().behind(&r.cursor))
            .sum()
    }
}

#[derive(Default)]
struct HubState {
    members: HashMap<MemberId, Member>,
    /// Name key -> member, for uniqueness across the server.
    by_name: NameIndex,
    /// Room key -> room.
    rooms: BTreeMap<String, Arc<Room>>,
    next_member: MemberId,
}

pub struct Hub {
    state: Mutex<HubState>,
    shared: Arc<Shared>,
    default: Arc<Room>,
    /// Members may make rooms by joining one that does not exist.
    create: AtomicBool,
    /// Rooms open, for the metrics.
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl Hub {
    /// The hub with its default room called `default` (already a valid
    /// room name), whose feeds keep `retain` bytes in `chunks` chunks at
    /// most, and history as `h` says.
    pub fn new(
        default: &str,
        retain: u64,
        chunks: usize,
        shutdown: CancellationToken,
        mut h: HistorySetup,
        gauge: prometheus_client::metrics::gauge::Gauge,
        relay: Option<Arc<dyn Relay>>,
    ) -> Arc<Hub> {
        // A cluster keeps history in its streams.
        let replay = if h.store.is_some() || relay.is_some() {
            h.replay
        } else {
            0
        };
        let shared = Arc::new(Shared {
            console: OnceLock::new(),
            history: h.store.take(),
            replay,
            next_chat: AtomicU64::new(h.last_id),
            shutdown,
            retain,
            chunks,
            relay,
        });
        let recent = std::mem::take(&mut h.recent);
        let room = Room::open(default, true, &shared, Some(recent));
        // The default room is always there, empty or not.
        room.lock().persistent = true;
        let mut state = HubState::default();
        state.rooms.insert(names::name_key(default), room.clone());
        gauge.set(1);
        Arc::new(Hub {
            state: Mutex::new(state),
            shared,
            default: room,
            create: AtomicBool::new(true),
            gauge,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room a client is in when it asks for none.
    pub fn default_room(&self) -> &Arc<Room> {
        &self.default
    }

    /// The history store, when history is kept.
    pub fn history(&self) -> Option<&super::HistoryStore> {
        self.shared.history.as_ref()
    }

    /// May members make rooms (`serve.create_rooms`)?
    pub fn set_create(&self, create: bool) {
        self.create.store(create, Ordering::Relaxed);
    }

    /// Register a member under a unique name (`-2`, `-3`, ... on
    /// collision); it is in no room yet.
    pub fn connect(&self, requested: &str, addr: SocketAddr, legacy: bool) -> Membership {
        let mut st = self.lock();
        let mut name = requested.to_string();
        let mut n = 2;
        while st.by_name.holder(&name).is_some() {
            name = names::with_suffix(requested, n);
            n += 1;
        }
        let id = st.next_member;
        st.next_member += 1;
        let link = Arc::new(Link::default());
        if self.shared.shutdown.is_cancelled() {
            link.remove(None);
        }
        st.by_name.insert(&name, id);
        st.members.insert(
            id,
            Member {
                name: name.clone(),
                addr,
                since: now_ms(),
                link: link.clone(),
                legacy,
                rooms: Vec::new(),
            },
        );
        Membership {
            id,
            name,
            link,
            // Most members are in one room: room for exactly one (every
            // idle member keeps this).
            rooms: Vec::with_capacity(1),
        }
    }

    /// The room called `raw`, if it exists (the default room's name, with
    /// or without its `#`, is it too).
    pub fn find(&self, raw: &str) -> Result<Arc<Room>, RoomError> {
        let name = room_name(raw)?;
        self.lock()
            .rooms
            .get(&names::name_key(&name))
            .cloned()
            .ok_or_else(|| {
                RoomError::new(
                    codes::NO_SUCH_ROOM,
                    format!("there is no room {name} (/rooms lists them)"),
                )
            })
    }

    /// Put member `id` in the room called `raw`, making it when it does not
    /// exist (members may, within `limits`).
    pub fn enter(&self, id: MemberId, raw: &str, limits: &Limits) -> Result<Entered, RoomError> {
        let name = room_name(raw)?;
        let key = names::name_key(&name);
        let mut st = self.lock();
        let st = &mut *st;
        let member = st
            .members
            .get_mut(&id)
            .ok_or_else(|| RoomError::new(codes::NOT_IN_ROOM, "you are not connected"))?;
        if member
            .rooms
            .iter()
            .any(|r| names::name_key(r.name()) == key)
        {
            return Err(RoomError::new(
                codes::BAD_PACKET,
                format!("you are in {name} already"),
            ));
        }
        let per_member = limits.max_rooms_per_member;
        if per_member > 0 && member.rooms.len() >= per_member {
            return Err(RoomError::new(
                codes::TOO_MANY_ROOMS,
                format!("you are in {per_member} rooms, the most one may be in (limits.max_rooms_per_member): /part one first"),
            )
            .limit(Limit::MaxRoomsPerMember));
        }
        let room = match st.rooms.get(&key) {
            Some(r) => r.clone(),
            None => {
                if !self.create.load(Ordering::Relaxed) {
                    return Err(RoomError::new(
                        codes::NO_SUCH_ROOM,
                        format!("there is no room {name}, and this server's rooms are made by its operator (/rooms lists them)"),
                    ));
                }
                if limits.max_rooms > 0 && st.rooms.len() >= limits.max_rooms {
                    return Err(RoomError::new(
                        codes::TOO_MANY_ROOMS,
                        format!("the server has {} rooms, its most (limits.max_rooms): join one of them (/rooms)", st.rooms.len()),
                    )
                    .limit(Limit::MaxRooms));
                }
                let room = Room::open(&name, false, &self.shared, None);
                st.rooms.insert(key.clone(), room.clone());
                self.gauge.set(st.rooms.len() as i64);
                room
            }
        };
        let max = limits.max_room_members;
        if max > 0 && room.count() >= max as u64 {
            return Err(RoomError::new(
                codes::ROOM_FULL,
                format!(
                    "{} is full ({max} members, limits.max_room_members)",
                    room.name()
                ),
            )
            .limit(Limit::MaxRoomMembers));
        }
        if member.rooms.capacity() == 0 {
            member.rooms.reserve_exact(1);
        }
        member.rooms.push(room.clone());
        let entered = room.add(id, &member.name, member.legacy);
        self.relay(&room, || RoomEvent::Joined {
            name: member.name.clone(),
        });
        Ok(entered)
    }

    /// Take member `id` out of `room`; it is forgotten when it is empty
    /// and not declared.
    pub fn exit(&self, id: MemberId, room: &Arc<Room>, how: Departure) {
        let mut st = self.lock();
        let key = names::name_key(room.name());
        let Some(m) = st.members.get_mut(&id) else {
            return;
        };
        m.rooms.retain(|r| !Arc::ptr_eq(r, room));
        let name = m.name.clone();
        self.relay(room, || RoomEvent::Left {
            name: name.clone(),
            how: how.clone(),
        });
        if room.remove(id, &name, how) && room.close_if_unused() {
            st.rooms.remove(&key);
            self.gauge.set(st.rooms.len() as i64);
        }
    }

    /// Remove a member from every room and the server, announcing how they
    /// left; a member the operator kicked is announced as such. Safe to
    /// call twice: the second is a no-op.
    pub fn disconnect(&self, id: MemberId, how: Departure) -> Option<Member> {
        let mut st = self.lock();
        let member = st.members.remove(&id)?;
        let how = match member.link.kick_reason() {
            Some(why) => Departure::Kicked(why),
            None => how,
        };
        st.by_name.remove(&member.name, id);
        for room in &member.rooms {
            self.relay(room, || RoomEvent::Left {
                name: member.name.clone(),
                how: how.clone(),
            });
            if room.remove(id, &member.name, how.clone()) && room.close_if_unused() {
                st.rooms.remove(&names::name_key(room.name()));
            }
        }
        self.gauge.set(st.rooms.len() as i64);
        Some(member)
    }

    /// Rename member `id` to `new` (already validated); every room it is
    /// in is told. A change of case only is allowed; another member's name is not.
    pub fn rename(&self, id: MemberId, new: &str) -> Result<String, RenameError> {
        let mut st = self.lock();
        if let Some(other) = st.by_name.holder(new) {
            if other != id {
                let taken = st.members.get(&other).map(|m| m.name.clone());
                return Err(RenameError::Taken(taken.unwrap_or_default()));
            }
        }
        let member = st.members.get_mut(&id).ok_or(RenameError::Gone)?;
        let old = std::mem::replace(&mut member.name, new.to_string());
        for room in &member.rooms {
            room.renamed(&old, new);
            self.relay(room, || RoomEvent::Renamed {
                old: old.clone(),
                new: new.to_string(),
            });
        }
        st.by_name.remove(&old, id);
        st.by_name.insert(new, id);
        Ok(old)
    }

    /// Deliver a direct message from `from` to the member named `dm.to`
    /// (case-insensitively), whatever rooms they share. Returns the line as
    /// sent, for the sender's echo.
    pub fn direct(&self, from: &str, mut dm: Dm) -> Result<Bytes, DirectError> {
        let st = self.lock();
        let to = st.by_name.get(&dm.to).ok_or(DirectError::NoSuchUser)?;
        let member = st.members.get(&to).ok_or(DirectError::NoSuchUser)?;
        dm.to = member.name.clone();
        let (line, legacy) = dm_lines(from, &mut dm, now_ms());
        let is_self = names::name_key(from) == names::name_key(&dm.to);
        // A legacy client knows no `dm`: it gets a chat line only it receives.
        let theirs = match member.legacy {
            true => legacy,
            false => line.clone(),
        };
        if !is_self && !member.link.push(theirs) {
            return Err(DirectError::InboxFull(member.name.clone()));
        }
        if let Some(store) = self.history().filter(|h| h.keeps_direct()) {
            // A stored direct message takes an id too, so rows never collide.
            let chat = Chat {
                encrypted: dm.encrypted,
                from: dm.from,
                text: dm.text,
                payload: dm.payload,
                id: Some(self.shared.next_chat()),
                ts: dm.ts,
                action: dm.action,
                port: None,
                sent: dm.sent,
                room: None,
                seq: None,
            };
            store.record_direct(Arc::new(chat), &dm.to);
        }
        Ok(line)
    }

    /// Cluster mode: tell the other nodes what happened in `room`.
    fn relay(&self, room: &Arc<Room>, event: impl FnOnce() -> RoomEvent) {
        if let Some(r) = &self.shared.relay {
            let _ = r.publish(room, event());
        }
    }

    /// Cluster mode: a direct message from another node for the member
    /// called `dm.to` here; its lines are made here, like a local one's.
    pub fn deliver_direct(&self, dm: Direct) {
        let st = self.lock();
        let Some(m) = st.by_name.get(&dm.to).and_then(|id| st.members.get(&id)) else {
            // Left between the sender's lookup and now.
            tracing::info!(to = %names::sanitize(&dm.to), "cluster: a direct message from another node found nobody of that name here");
            return;
        };
        let mut packet = direct_packet(dm.to.clone(), dm.body);
        let (line, legacy) = dm_lines(&dm.from, &mut packet, dm.ts);
        if !m.link.push(if m.legacy { legacy } else { line }) {
            tracing::info!(to = %names::sanitize(&dm.to), "cluster: a direct message from another node was not delivered: the inbox is full");
        }
    }

    /// A notice to every room (cluster link down or back).
    pub fn notice_all(&self, packet: Packet) {
        let rooms: Vec<Arc<Room>> = self.lock().rooms.values().cloned().collect();
        for r in rooms {
            r.notice(packet.clone());
        }
    }

    /// Cluster mode: the rooms whose streams this node reads.
    pub fn cluster_rooms(&self) -> Vec<Arc<Room>> {
        self.lock().rooms.values().cloned().collect()
    }

    /// Cluster mode: the other nodes with members in our rooms.
    pub fn remote_nodes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .cluster_rooms()
            .iter()
            .flat_map(|r| r.remote_nodes())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Cluster mode: node `node` died; its members leave our rooms.
    /// (room, member) pairs it had.
    pub fn node_gone(&self, node: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for r in self.cluster_rooms() {
            for m in r.node_gone(node) {
                out.push((r.name().to_string(), m));
            }
        }
        out
    }

    /// Make the member called `name` leave the server with `reason`: their
    /// session says `bye` with it, and their leave is announced as a kick.
    /// Their actual name, or `None` when nobody is called that.
    pub fn kick(&self, name: &str, reason: &str) -> Option<String> {
        let st = self.lock();
        let member = st.members.get(&st.by_name.get(name)?)?;
        member.link.remove(Some(reason));
        Some(member.name.clone())
    }

    /// Take the member called `name` out of `room` only, telling them and
    /// the room why. Their actual name, or `None` when nobody there is
    /// called that.
    pub fn kick_from(&self, room: &Arc<Room>, name: &str, reason: &str) -> Option<String> {
        let (id, actual) = {
            let st = self.lock();
            let id = st.by_name.get(name)?;
            let m = st.members.get(&id)?;
            if !m.rooms.iter().any(|r| Arc::ptr_eq(r, room)) {
                return None;
            }
            // Their session drops the room and tells its client.
            taken_out(m, room, &format!("removed by the operator: {reason}"));
            (id, m.name.clone())
        };
        self.exit(id, room, Departure::Kicked(reason.to_string()));
        Some(actual)
    }

    /// The server is shutting down (its token is cancelled): every member
    /// leaves, saying goodbye.
    pub fn close(&self) {
        let st = self.lock();
        for m in st.members.values() {
            m.link.remove(None);
        }
    }

    /// A snapshot of the members, oldest first.
    pub fn members(&self) -> Vec<Member> {
        let st = self.lock();
        let mut v: Vec<(MemberId, Member)> =
            st.members.iter().map(|(k, m)| (*k, m.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        v.into_iter().map(|(_, m)| m).collect()
    }

    /// Who is in `room`, oldest there first (at most [`MAX_USERS_LISTED`]),
    /// and how many.
    pub fn users(&self, room: &Room) -> (Vec<UserInfo>, u64) {
        let st = self.lock();
        let (mut here, total) = room.present();
        here.sort_unstable();
        let mut users: Vec<UserInfo> = here
            .into_iter()
            .filter_map(|(id, since)| {
                let m = st.members.get(&id)?;
                Some(UserInfo {
                    name: m.name.clone(),
                    since,
                })
            })
            .take(MAX_USERS_LISTED)
            .collect();
        // Cluster mode: the members on other nodes (since: unknown here).
        let remote = room.remote_names();
        let total = total + remote.len() as u64;
        for name in remote {
            if users.len() >= MAX_USERS_LISTED {
                break;
            }
            users.push(UserInfo { name, since: 0 });
        }
        (users, total)
    }

    /// Every room, by name (at most [`MAX_ROOMS_LISTED`]), and how many there are.
    pub fn rooms(&self) -> (Vec<RoomInfo>, u64) {
        let rooms: Vec<Arc<Room>> = self.lock().rooms.values().cloned().collect();
        let total = rooms.len() as u64;
        let list = rooms
            .iter()
            .take(MAX_ROOMS_LISTED)
            .map(|r| r.info())
            .collect();
        (list, total)
    }

    /// The console's own feed of what every room publishes from now on:
    /// notices always, chat lines when `chat`. Once per server (`None` after).
    pub fn console_feed(&self, chat: bool) -> Option<ConsoleFeed> {
        let (tx, rx) = sync_channel(CONSOLE_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let tap = ConsoleTap {
            tx,
            chat,
            dropped: dropped.clone(),
        };
        self.shared.console.set(tap).ok()?;
        Some(ConsoleFeed { rx, dropped })
    }

    /// Make the declared rooms exist with their topic and message (their
    /// history is read from the store as members join), and make rooms no
    /// longer declared ordinary (closed when empty). One line per change,
    /// for the operator.
    pub fn declare(&self, decls: &[RoomDecl]) -> Vec<String> {
        let mut report = Vec::new();
        let mut st = self.lock();
        let keys: Vec<String> = decls.iter().map(|d| names::name_key(&d.name)).collect();
        for (decl, key) in decls.iter().zip(&keys) {
            let room = match st.rooms.get(key) {
                Some(r) => r.clone(),
                None => {
                    let room = Room::open(&decl.name, false, &self.shared, None);
                    st.rooms.insert(key.clone(), room.clone());
                    self.gauge.set(st.rooms.len() as i64);
                    report.push(format!("room {} opened", decl.name));
                    room
                }
            };
            let mut reg = room.lock();
            reg.persistent = true;
            if reg.motd != decl.motd {
                reg.motd = decl.motd.clone();
            }
            let changed = reg.topic != decl.topic;
            drop(reg);
            if changed {
                room.set_topic(decl.topic.clone(), "the operator");
            }
        }
        // Rooms declared before and not now: announced and closed; their
        // members are taken out of them (each is told with `parted`).
        let undeclared: Vec<(String, Arc<Room>)> = st
            .rooms
            .iter()
            .filter(|(k, r)| !keys.contains(k) && !Arc::ptr_eq(r, &self.default))
            .filter(|(_, r)| r.lock().persistent)
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        for (key, room) in undeclared {
            let why = format!("the operator closed {}", room.name());
            room.notice(Packet::event("closed", None, why.clone()));
            let inside: Vec<MemberId> = {
                let mut reg = room.lock();
                reg.persistent = false;
                reg.members.keys().copied().collect()
            };
            for id in inside {
                let Some(m) = st.members.get_mut(&id) else {
                    continue;
                };
                m.rooms.retain(|r| !Arc::ptr_eq(r, &room));
                taken_out(m, &room, &why);
                room.remove(id, &m.name, Departure::Parted(Some(why.clone())));
            }
            room.close_if_unused();
            st.rooms.remove(&key);
            self.gauge.set(st.rooms.len() as i64);
            report.push(format!("room {} closed (no longer declared)", room.name()));
        }
        report
    }
}

/// `raw` as a room name, or the `room_invalid` refusal that says why not.
fn room_name(raw: &str) -> Result<String, RoomError> {
    names::room_name(raw).map_err(|e| {
        RoomError::new(
            codes::ROOM_INVALID,
            format!("'{}' is not a room name: {e}", names::sanitize(raw)),
        )
    })
}

/// The operator took `m` out of `room`: its session stops reading the room
/// and tells its client (`parted`, with `why`).
fn taken_out(m: &Member, room: &Arc<Room>, why: &str) {
    let parted = Packet::Parted(crate::protocol::RoomRequest {
        room: room.name().to_string(),
        reason: Some(why.to_string()),
    });
    m.link.left_room(room.clone(), parted.to_line());
}

/// How a leave is told to the other nodes: its kind of entry, and its text
/// (the member's reason, or the operator's).
/// The `dm` packet for `to` carrying `body`.
pub fn direct_packet(to: String, body: Body) -> Dm {
    Dm {
        encrypted: body.payload.is_some(),
        from: None,
        to,
        text: body.text,
        payload: body.payload,
        sent: body.sent,
        ts: None,
        action: body.action,
        seq: None,
    }
}

/// A direct message as its recipient gets it from `from` (stamped `ts`),
/// and as the Python original gets it (a chat line only it receives).
pub fn dm_lines(from: &str, dm: &mut Dm, ts: u64) -> (Bytes, Bytes) {
    dm.from = Some(from.to_string());
    dm.seq = None;
    dm.ts = Some(ts);
    let line = Packet::Dm(dm.clone()).to_line();
    let legacy = Packet::Chat(Chat {
        from: Some(format!("{from} (direct)")),
        text: dm.text.clone(),
        ts: dm.ts,
        action: dm.action,
        ..Default::default()
    })
    .to_line();
    (line, legacy)
}
