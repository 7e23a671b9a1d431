//! Declared rooms (`[[rooms]]`): made at start and on a reload, kept when
//! empty; a room no longer declared is closed (its members are told).

use std::sync::Arc;

use super::hub::taken_out;
use super::{Departure, Hub, MemberId, Room, RoomDecl};
use crate::names;
use crate::protocol::Packet;

impl Hub {
    /// Make the declared rooms exist with their topic and message (their
    /// history is read from the store as members join), and make rooms no
    /// longer declared ordinary (closed when empty). One line per change,
    /// for the operator.
    pub(crate) fn declare(&self, decls: &[RoomDecl]) -> Vec<String> {
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
            Hub::declare_operators(&room, &decl.operators);
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
