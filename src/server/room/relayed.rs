//! A room's side of a relay (the cluster): where this server is in the
//! room's stream, the events another server published delivered here, the
//! members of other servers, and a line shown here only while the relay is
//! down. The room imports nothing of the relay: it trades [`RoomEvent`]s
//! and [`Relayed`] entries (`event.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use super::link::Removal;
use super::presence::Presence;
use super::{Departure, Relayed, Room, RoomEvent, StreamPos};
use crate::protocol::Packet;

impl Room {
    /// Cluster mode: this node reads the room's stream.
    pub(crate) fn cluster_started(&self) -> bool {
        self.lock().stream.is_some()
    }

    /// Cluster mode: the last stream entry delivered here.
    pub(crate) fn cluster_last(&self) -> String {
        self.lock()
            .stream
            .as_ref()
            .map(|p| p.last.clone())
            .unwrap_or_else(|| "$".into())
    }

    /// Cluster mode: for a member who joined before this server read the
    /// room's stream, the first line id it gets live: the one after where
    /// the server began reading (not after what it delivered since: the
    /// member's cursor has those) — waiting for the start (at most
    /// `limit`); `None` when it did not start in time.
    pub(crate) async fn reading_from(&self, limit: std::time::Duration) -> Option<u64> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let started = self.reading.notified();
            tokio::pin!(started);
            // Registered before the check: a start in between is not missed.
            started.as_mut().enable();
            if let Some(began) = self.lock().stream.as_ref().map(|p| p.began) {
                return Some(began + 1);
            }
            tokio::time::timeout_at(deadline, started).await.ok()?;
        }
    }

    /// Cluster mode: the last chat line's id delivered here.
    pub(crate) fn cluster_delivered(&self) -> Option<u64> {
        self.lock().stream.as_ref().map(|p| p.delivered)
    }

    /// Cluster mode: read the stream from `last` on; `remote` are the
    /// members on other nodes now, `topic` the room's topic then.
    pub(crate) fn cluster_start(
        &self,
        last: String,
        delivered: u64,
        remote: HashMap<String, String>,
        topic: Option<String>,
    ) {
        let mut reg = self.lock();
        reg.stream = Some(StreamPos {
            last,
            delivered,
            began: delivered,
        });
        if topic.is_some() {
            reg.topic = topic;
        }
        self.reading.notify_waiters();
        if !remote.is_empty() {
            reg.remote = remote;
            let count = self.count_line(&reg);
            self.publish_locked(&mut reg, count, false);
        }
    }

    /// Cluster mode: an entry of the room's stream, delivered here (what
    /// this node's members did themselves it showed already). Chat lines
    /// leave the readers asleep: the reader wakes them once per batch
    /// ([`wake_readers`](Self::wake_readers)), as a session does.
    pub(crate) fn deliver_event(&self, entry: Relayed, own: &str) {
        let mut reg = self.lock();
        if let Some(p) = reg.stream.as_mut() {
            p.last = entry.id;
        }
        let node = entry.origin;
        if let RoomEvent::Topic { by, text } = entry.event {
            // The topic takes the stream's order on every node, this one too.
            drop(reg);
            self.apply_topic(text, &by);
            return;
        }
        match entry.event {
            RoomEvent::Said(said) => {
                if let Some(p) = reg.stream.as_mut() {
                    p.delivered = entry.line;
                }
                if node == own {
                    self.own_returned();
                }
                self.flush_presence(&mut reg);
                let chat = self.chat_of(said, entry.line, entry.line / 4096);
                self.publish_chat(reg, chat, false);
                return;
            }
            _ if node == own => return,
            RoomEvent::Joined { name } => {
                // Known already (a node announcing its members again to a
                // Redis that lost them): nothing new to tell.
                if reg.remote.get(&name) == Some(&node) {
                    return;
                }
                reg.remote.insert(name.clone(), node);
                reg.pending.push(Presence::Joined(name));
            }
            RoomEvent::Left { name, how } => {
                // Only the run that has the member takes them out (a dead
                // run's late leave does not remove the name's new holder).
                if reg.remote.get(&name) != Some(&node) {
                    return;
                }
                reg.remote.remove(&name);
                reg.pending.push(Presence::Left(name, how));
            }
            RoomEvent::Renamed { old, new } => {
                if reg.remote.get(&old) != Some(&node) {
                    return;
                }
                reg.remote.remove(&old);
                reg.remote.insert(new.clone(), node);
                drop(reg);
                self.renamed(&old, &new);
                return;
            }
            RoomEvent::Topic { .. } => return,
        }
        // The notice and one count (a second count here doubled it).
        self.flush_presence(&mut reg);
    }

    /// Cluster mode: an entry that was skipped (malformed): read on past it.
    pub(crate) fn skip_entry(&self, id: &str) {
        if let Some(p) = self.lock().stream.as_mut() {
            p.last = id.to_string();
        }
    }

    /// Cluster mode: the members of run `node` are gone (its heartbeat
    /// stopped); their names.
    pub(super) fn node_gone(self: &Arc<Self>, node: &str) -> Vec<String> {
        let mut reg = self.lock();
        let gone: Vec<String> = reg
            .remote
            .iter()
            .filter(|(_, n)| *n == node)
            .map(|(m, _)| m.clone())
            .collect();
        for m in &gone {
            reg.remote.remove(m);
            reg.pending.push(Presence::Left(m.clone(), Departure::Gone));
        }
        if !gone.is_empty() {
            self.presence_changed(&mut reg);
        }
        gone
    }

    /// Cluster mode: the members of other runs as Redis's members hash
    /// holds them (`held`: name → run) with the stream's newest entry at
    /// `at` (`None`: the stream is empty). A member listed here that the
    /// hash does not hold for its run is gone — a leave this node never
    /// read (Redis lost it, or this node was paused past it) — and leaves.
    /// Applied only when this node has delivered the stream to exactly
    /// `at` (then its list and the hash are of one moment); false when
    /// not (ask again later).
    pub(crate) fn reconcile_remote(
        self: &Arc<Self>,
        at: Option<&str>,
        held: &HashMap<String, String>,
    ) -> bool {
        let mut reg = self.lock();
        let here = reg.stream.as_ref().map(|p| p.last.as_str());
        if at.is_some() && here != at {
            return false;
        }
        let gone: Vec<String> = reg
            .remote
            .iter()
            .filter(|(name, run)| held.get(*name) != Some(*run))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &gone {
            reg.remote.remove(name);
            reg.pending
                .push(Presence::Left(name.clone(), Departure::Gone));
        }
        if !gone.is_empty() {
            self.presence_changed(&mut reg);
        }
        true
    }

    /// Cluster mode: the nodes with members here.
    pub(super) fn remote_nodes(&self) -> Vec<String> {
        self.lock().remote.values().cloned().collect()
    }

    /// Cluster mode: members on other nodes.
    pub(super) fn remote_names(&self) -> Vec<String> {
        self.lock().remote.keys().cloned().collect()
    }

    /// Cluster mode: the member of another node here called `name`
    /// (case-insensitively), as it spells itself.
    pub(crate) fn remote_member(&self, name: &str) -> Option<String> {
        let key = crate::names::name_key(name.trim());
        self.lock()
            .remote
            .keys()
            .find(|n| crate::names::name_key(n) == key)
            .cloned()
    }
}

impl super::Hub {
    /// Cluster mode: tell the other nodes what happened in `room`.
    pub(super) fn relay(&self, room: &Arc<Room>, event: impl FnOnce() -> RoomEvent) {
        if let Some(r) = &self.shared.relay {
            let _ = r.publish(room, event());
        }
    }

    /// A notice to every room (cluster link down or back).
    pub(crate) fn notice_all(&self, packet: Packet) {
        let rooms: Vec<Arc<Room>> = self.lock().rooms.values().cloned().collect();
        for r in rooms {
            r.notice(packet.clone());
        }
    }

    /// Cluster mode: the rooms whose streams this node reads.
    pub(crate) fn cluster_rooms(&self) -> Vec<Arc<Room>> {
        self.lock().rooms.values().cloned().collect()
    }

    /// Cluster mode: the other nodes with members in our rooms.
    pub(crate) fn remote_nodes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .cluster_rooms()
            .iter()
            .flat_map(|r| r.remote_nodes())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Cluster mode: run `node` died; its members leave our rooms.
    /// (room, member) pairs it had.
    pub(crate) fn node_gone(&self, node: &str) -> Vec<(Arc<Room>, String)> {
        let mut out = Vec::new();
        for r in self.cluster_rooms() {
            for m in r.node_gone(node) {
                out.push((r.clone(), m));
            }
        }
        out
    }

    /// Cluster mode: every (room, member) of this server, to announce
    /// them again to a Redis that lost them.
    pub(crate) fn memberships(&self) -> Vec<(Arc<Room>, String)> {
        let st = self.lock();
        st.members
            .values()
            .filter(|m| !m.link.removed())
            .flat_map(|m| m.rooms.iter().map(|r| (r.clone(), m.name.clone())))
            .collect()
    }

    /// Cluster mode: this server lost its place in the cluster: every
    /// member leaves, told `why`.
    pub(crate) fn drop_all(&self, why: &str) {
        let st = self.lock();
        for m in st.members.values() {
            m.link.remove(Some(Removal::Cluster(why.into())));
        }
    }

    /// Cluster mode: a packet for the member called `name` only (a line
    /// of theirs the cluster could not keep).
    pub(crate) fn tell_named(&self, name: &str, packet: Packet) {
        let st = self.lock();
        if let Some(m) = st.by_name.get(name).and_then(|id| st.members.get(&id)) {
            m.link.push(packet.to_line());
        }
    }

    /// Cluster mode: the member called `name` lost it to another run's
    /// member: they leave, told `why`.
    pub(crate) fn drop_named(&self, name: &str, why: &str) {
        let st = self.lock();
        if let Some(m) = st.by_name.get(name).and_then(|id| st.members.get(&id)) {
            m.link.remove(Some(Removal::Cluster(why.into())));
        }
    }
}
