//! What the hub lists: the members, who is in a room, the rooms, and the
//! console's tap on every room's events.

use std::sync::Arc;

use std::sync::atomic::AtomicU64;
use std::sync::mpsc::sync_channel;

use super::hub::Member;
use super::{ConsoleFeed, ConsoleTap, Hub, MemberId, Room, CONSOLE_QUEUE};
use crate::protocol::{RoomInfo, UserInfo, MAX_ROOMS_LISTED, MAX_USERS_LISTED};

impl Hub {
    /// A snapshot of the members, oldest first.
    pub(crate) fn members(&self) -> Vec<Member> {
        let st = self.lock();
        let mut v: Vec<(MemberId, Member)> =
            st.members.iter().map(|(k, m)| (*k, m.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        v.into_iter().map(|(_, m)| m).collect()
    }

    /// The account the member of this server called `name` logged in to
    /// (`None`: a guest, or not on this server).
    pub(crate) fn account_of(&self, name: &str) -> Option<String> {
        let st = self.lock();
        let m = st.members.get(&st.by_name.get(name)?)?;
        m.identity.account.clone()
    }

    /// Who is in `room`, oldest there first (at most [`MAX_USERS_LISTED`]),
    /// and how many.
    pub(crate) fn users(&self, room: &Room) -> (Vec<UserInfo>, u64) {
        let st = self.lock();
        let (mut here, total) = room.present();
        here.sort_unstable();
        let mut seen: std::collections::HashSet<String> = here
            .iter()
            .filter_map(|(id, _)| st.members.get(id))
            .map(|m| crate::names::name_key(&m.name))
            .collect();
        let mut users: Vec<UserInfo> = here
            .into_iter()
            .filter_map(|(id, since)| {
                let m = st.members.get(&id)?;
                Some(UserInfo {
                    name: m.name.clone(),
                    since,
                    account: m.identity.account.clone(),
                    op: self.operates(&st, id, room),
                    away: m.away.clone(),
                })
            })
            .take(MAX_USERS_LISTED)
            .collect();
        // Cluster mode: the members on other nodes (since: unknown here),
        // each name once: a name a member here holds is theirs (a remote
        // entry for it is a ghost of its earlier holder, leaving).
        let remote: Vec<String> = room
            .remote_names()
            .into_iter()
            .filter(|n| seen.insert(crate::names::name_key(n)))
            .collect();
        let total = total + remote.len() as u64;
        for name in remote {
            if users.len() >= MAX_USERS_LISTED {
                break;
            }
            users.push(UserInfo {
                name,
                ..Default::default()
            });
        }
        (users, total)
    }

    /// Every room, by name (at most [`MAX_ROOMS_LISTED`]), and how many there are.
    pub(crate) fn rooms(&self) -> (Vec<RoomInfo>, u64) {
        let rooms: Vec<Arc<Room>> = self.lock().rooms.values().cloned().collect();
        let total = rooms.len() as u64;
        let list = rooms
            .iter()
            .take(MAX_ROOMS_LISTED)
            .map(|r| r.info())
            .collect();
        (list, total)
    }

    /// The keys of the declared rooms (they stay when empty).
    pub(crate) fn declared_keys(&self) -> Vec<String> {
        self.declared_rooms().into_iter().map(|(k, _)| k).collect()
    }

    /// The declared rooms: (key, name as shown).
    pub(crate) fn declared_rooms(&self) -> Vec<(String, String)> {
        let rooms: Vec<Arc<Room>> = self.lock().rooms.values().cloned().collect();
        rooms
            .iter()
            .filter(|r| r.persistent())
            .map(|r| (r.key().to_string(), r.name().to_string()))
            .collect()
    }

    /// The console's own feed of what every room publishes from now on:
    /// notices always, chat lines when `chat`. Once per server (`None` after).
    pub(crate) fn console_feed(&self, chat: bool) -> Option<ConsoleFeed> {
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
}
