//! The hub: every member of the server (names are unique server-wide) and
//! every room, created on first join within the limits, declared by the
//! operator, or gone when empty.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio_util::sync::CancellationToken;

use super::maker::Maker;
use super::name_index::NameIndex;
use super::rules::Who;
use super::{
    Cursor, Departure, Entered, HistorySetup, Link, MemberId, Relay, Removal, Room, RoomEvent,
    Shared,
};
use crate::config::Limits;
use crate::names;
use crate::protocol::{codes, now_ms, Packet};
use crate::server::limits::Limit;

/// Why a rename was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RenameError {
    Taken(String),
    Gone,
}

/// Why a room could not be joined, left or used: an `error` code and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoomError {
    pub code: &'static str,
    pub message: String,
    /// The limit that refused it, if one did.
    pub limit: Option<Limit>,
}

impl RoomError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> RoomError {
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
    pub(crate) fn packet(&self, room: Option<&str>) -> Packet {
        Packet::error(self.code, self.message.clone()).in_room(room)
    }
}

/// A room the operator declares in the settings (`[[rooms]]`): it exists
/// from the start and stays when empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoomDecl {
    pub name: String,
    pub topic: Option<String>,
    pub motd: Option<String>,
    /// Accounts that operate it.
    pub operators: Vec<String>,
}

/// Someone on the server, as the hub sees them.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub name: String,
    pub addr: SocketAddr,
    /// When they joined, milliseconds since the Unix epoch.
    pub since: u64,
    pub link: Arc<Link>,
    /// A legacy (Python) client: it only gets the packet types it knows.
    pub legacy: bool,
    /// The rooms they are in, in the order they joined them.
    pub rooms: Vec<Arc<Room>>,
    pub identity: Identity,
    /// Away, saying this (`/away`; `None`: here).
    pub away: Option<String>,
}

impl Member {
    /// Who the member is to a room's bans and mutes, and its account's key.
    pub(super) fn who(&self) -> (Who<'_>, Option<String>) {
        let key = self.identity.account_key();
        (
            Who {
                name: &self.name,
                account: None,
                addr: self.addr.ip(),
                cert: self.identity.cert.as_deref(),
            },
            key,
        )
    }
}

/// Who a member proved to be: the account logged in to, the client
/// certificate shown.
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity {
    /// The account's name as registered (absent: a guest).
    pub account: Option<String>,
    /// The client certificate's SHA-256 fingerprint (hex), under `--client-ca`.
    pub cert: Option<String>,
}

impl Identity {
    /// The account's key.
    pub(crate) fn account_key(&self) -> Option<String> {
        self.account.as_deref().map(names::name_key)
    }
}

/// A member's place in one room.
pub(crate) struct InRoom {
    pub room: Arc<Room>,
    pub cursor: Cursor,
    /// A legacy member: it reads the room's legacy feed.
    pub legacy: bool,
}

impl InRoom {
    /// The feed this member reads.
    pub(crate) fn feed(&self) -> &super::Feed {
        self.room.feed_of(self.legacy, false)
    }
}

/// What a session holds while it is a member.
pub(crate) struct Membership {
    pub id: MemberId,
    /// The member's name, kept current by renames.
    pub name: String,
    pub link: Arc<Link>,
    /// The rooms it is in, in the order it joined them.
    pub rooms: Vec<InRoom>,
}

impl Membership {
    /// Bytes its rooms published that it has not taken yet, together.
    pub(crate) fn behind(&self) -> u64 {
        self.rooms.iter().map(|r| r.feed().behind(&r.cursor)).sum()
    }
}

#[derive(Default)]
pub(super) struct HubState {
    pub(super) members: HashMap<MemberId, Member>,
    /// Name key -> member, for uniqueness across the server.
    pub(super) by_name: NameIndex,
    /// Room key -> room.
    pub(super) rooms: BTreeMap<String, Arc<Room>>,
    pub(super) next_member: MemberId,
}

pub(crate) struct Hub {
    pub(super) state: Mutex<HubState>,
    pub(super) shared: Arc<Shared>,
    pub(super) default: Arc<Room>,
    /// Members may make rooms by joining one that does not exist.
    pub(super) create: AtomicBool,
    /// Rooms open, for the metrics.
    pub(super) gauge: prometheus_client::metrics::gauge::Gauge,
}

impl Hub {
    /// The hub with its default room called `default` (already a valid
    /// room name), whose feeds keep `retain` bytes in `chunks` chunks at
    /// most, and history as `h` says.
    pub(crate) fn new(
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
            owners: OnceLock::new(),
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

    pub(super) fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room a client is in when it asks for none.
    pub(crate) fn default_room(&self) -> &Arc<Room> {
        &self.default
    }

    /// The history store, when history is kept.
    pub(crate) fn history(&self) -> Option<&super::HistoryStore> {
        self.shared.history.as_ref()
    }

    /// May members make rooms (`serve.create_rooms`)?
    pub(crate) fn set_create(&self, create: bool) {
        self.create.store(create, Ordering::Relaxed);
    }

    /// Register a guest (see [`connect_as`](Self::connect_as)).
    #[cfg(test)]
    pub(crate) fn connect(&self, requested: &str, addr: SocketAddr, legacy: bool) -> Membership {
        self.connect_as(requested, addr, legacy, None)
    }

    /// Register a member under a unique name (`-2`, `-3`, ... on
    /// collision, never a name an account holds); it is in no room yet.
    pub(crate) fn connect_as(
        &self,
        requested: &str,
        addr: SocketAddr,
        legacy: bool,
        identity: Option<Identity>,
    ) -> Membership {
        let identity = identity.unwrap_or_default();
        let mut st = self.lock();
        let mut name = requested.to_string();
        let mut n = 2;
        let owners = self.shared.owners.get();
        let reserved = |name: &str| owners.is_some_and(|o| o.reserved(name));
        while st.by_name.holder(&name).is_some() || (n > 2 && reserved(&name)) {
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
        if name != requested {
            // Said after the welcome (the session sends what waits on its link then).
            let text = format!(
                "the name {} is taken here: you are {name} (/nick NAME changes it)",
                names::sanitize(requested)
            );
            let note = Packet::System(crate::protocol::System {
                text,
                ..Default::default()
            });
            link.push(note.to_line());
        }
        st.members.insert(
            id,
            Member {
                name: name.clone(),
                addr,
                since: now_ms(),
                link: link.clone(),
                legacy,
                rooms: Vec::new(),
                identity,
                away: None,
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
    pub(crate) fn find(&self, raw: &str) -> Result<Arc<Room>, RoomError> {
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

    /// The room called `raw`: its name as shown and its key — whether or not
    /// it exists here — and whether members may make it.
    pub(crate) fn room_to_make(&self, raw: &str) -> Result<Option<(String, String)>, RoomError> {
        let name = room_name(raw)?;
        let key = names::name_key(&name);
        if self.lock().rooms.contains_key(&key) || !self.create.load(Ordering::Relaxed) {
            return Ok(None);
        }
        Ok(Some((name, key)))
    }

    /// Put member `id` in the room called `raw`, making it when it does not
    /// exist (members may, within `limits`).
    #[cfg(test)]
    pub(crate) fn enter(
        &self,
        id: MemberId,
        raw: &str,
        limits: &Limits,
    ) -> Result<Entered, RoomError> {
        self.enter_made(id, raw, limits, None)
    }

    /// [`enter`](Self::enter), the room's maker being as the cluster says
    /// (`maker`; `None`: decided here, on one server).
    pub(crate) fn enter_made(
        &self,
        id: MemberId,
        raw: &str,
        limits: &Limits,
        maker: Option<&Maker>,
    ) -> Result<Entered, RoomError> {
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
            Some(r) => {
                if let Some(m) = maker {
                    r.made(id, m);
                }
                r.clone()
            }
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
                let account = member
                    .identity
                    .account_key()
                    .filter(|_| self.keeps_rules(&key));
                room.first_in(id, account, maker);
                st.rooms.insert(key.clone(), room.clone());
                self.gauge.set(st.rooms.len() as i64);
                room
            }
        };
        self.may_enter(id, member, &room)?;
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
    pub(crate) fn exit(&self, id: MemberId, room: &Arc<Room>, how: Departure) {
        let mut st = self.lock();
        let key = names::name_key(room.name());
        let Some(m) = st.members.get_mut(&id) else {
            return;
        };
        let how = super::presence::departure_in(m.who(), room, how);
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
    pub(crate) fn disconnect(&self, id: MemberId, how: Departure) -> Option<Member> {
        let mut st = self.lock();
        let member = st.members.remove(&id)?;
        let how = match member.link.kick_reason() {
            Some(why) => Departure::Kicked(why),
            None => how,
        };
        st.by_name.remove(&member.name, id);
        for room in &member.rooms {
            let how = super::presence::departure_in(member.who(), room, how.clone());
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

    /// Whether a member on this server holds `name` (or one that looks
    /// like it): the IRC listener answers 433 before asking for it.
    pub(crate) fn holds(&self, name: &str) -> bool {
        self.lock().by_name.holder(name).is_some()
    }

    /// Rename member `id` to `new` (already validated); every room it is
    /// in is told. A change of case only is allowed; another member's name is not.
    pub(crate) fn rename(&self, id: MemberId, new: &str) -> Result<String, RenameError> {
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

    /// Member `id` is now logged in to `account` (or, `None`, no account).
    pub(crate) fn set_account(&self, id: MemberId, account: Option<String>) {
        if let Some(m) = self.lock().members.get_mut(&id) {
            m.identity.account = account;
        }
    }

    /// Who member `id` proved to be.
    pub(crate) fn identity(&self, id: MemberId) -> Option<Identity> {
        self.lock().members.get(&id).map(|m| m.identity.clone())
    }

    /// Make the member called `name` leave the server with `reason`: their
    /// session says `bye` with it, and their leave is announced as a kick.
    /// Their actual name, or `None` when nobody is called that.
    pub(crate) fn kick(&self, name: &str, reason: &str) -> Option<String> {
        let st = self.lock();
        let member = st.members.get(&st.by_name.get(name)?)?;
        member.link.remove(Some(Removal::Kicked(reason.into())));
        Some(member.name.clone())
    }

    /// Take the member called `name` out of `room` only, telling them and
    /// the room why. Their actual name, or `None` when nobody there is
    /// called that.
    pub(crate) fn kick_from(&self, room: &Arc<Room>, name: &str, reason: &str) -> Option<String> {
        let (id, actual) = {
            let st = self.lock();
            let id = st.by_name.get(name)?;
            let m = st.members.get(&id)?;
            if !m.rooms.iter().any(|r| Arc::ptr_eq(r, room)) {
                return None;
            }
            // Their session drops the room and tells its client.
            let back = room.name();
            taken_out(
                m,
                room,
                &format!("removed by the operator: {reason}; /join {back} to come back"),
            );
            (id, m.name.clone())
        };
        self.exit(id, room, Departure::Kicked(reason.to_string()));
        Some(actual)
    }

    /// The server is shutting down (its token is cancelled): every member
    /// leaves, saying goodbye.
    pub(crate) fn close(&self) {
        let st = self.lock();
        for m in st.members.values() {
            m.link.remove(None);
        }
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
pub(super) fn taken_out(m: &Member, room: &Arc<Room>, why: &str) {
    let parted = Packet::Parted(crate::protocol::RoomRequest {
        room: room.name().to_string(),
        reason: Some(why.to_string()),
    });
    m.link.left_room(room.clone(), parted.to_line());
}
