//! Reading: one `XREAD` over the streams of the rooms this node has
//! members in, and its inbox; every entry decoded and checked, then
//! delivered into the local room.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Value;

use super::{entry, line_id, Cluster, Room, RoomEvent, READ_BLOCK_MS};
use crate::protocol::now_ms;

impl Cluster {
    /// Read the streams of the rooms this node has members in, and its
    /// inbox; deliver each entry into the local room.
    pub(super) async fn reader(self: Arc<Self>) {
        let mut con = self.reader_connection().await;
        let mut run = self.run();
        let mut inbox = self.keys.inbox(&run);
        // This run's inbox is new: everything in it is for this run ("$"
        // would miss what arrives between two reads).
        let mut inbox_last = "0-0".to_string();
        let mut pause = Duration::from_millis(100);
        loop {
            let Some(hub) = self.hub() else { return };
            let rooms = hub.cluster_rooms();
            drop(hub);
            let now = self.run();
            if !Arc::ptr_eq(&now, &run) {
                // A new run (the old one was declared dead): its own inbox.
                run = now;
                inbox = self.keys.inbox(&run);
                inbox_last = "0-0".to_string();
            }
            self.start_rooms(&mut con, &rooms).await;
            let started: Vec<&Arc<Room>> = rooms.iter().filter(|r| r.cluster_started()).collect();
            let logs: Vec<String> = started.iter().map(|r| self.keys.log(r.key())).collect();
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT")
                .arg(1024)
                .arg("BLOCK")
                .arg(READ_BLOCK_MS)
                .arg("STREAMS")
                .arg(&inbox)
                .arg(&logs)
                .arg(&inbox_last);
            for r in &started {
                cmd.arg(r.cluster_last());
            }
            match cmd.query_async::<Value>(&mut con).await {
                Ok(reply) => {
                    pause = Duration::from_millis(100);
                    let mut newest = 0;
                    for (key, mut ids) in entry::read_reply(reply) {
                        if let Some(ms) = ids.last().and_then(|e| line_id(&e.id)) {
                            newest = newest.max(ms / 4096);
                        }
                        if key == inbox {
                            for e in &mut ids {
                                inbox_last = e.id.clone();
                                self.inbox_entry(&key, e);
                            }
                        } else if let Some(i) = logs.iter().position(|l| *l == key) {
                            self.deliver(started[i], &key, &mut ids, &run);
                        }
                    }
                    let lag = if newest == 0 {
                        0
                    } else {
                        now_ms().saturating_sub(newest)
                    };
                    self.m.read_lag_ms.set(lag as i64);
                }
                Err(e) => {
                    self.link_down(&e);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                    if super::con::stuck(&e) {
                        // It will not come back by itself: made anew.
                        con = self.reader_connection().await;
                    }
                }
            }
        }
    }

    /// The reader's own connection (a blocking `XREAD` must not hold up
    /// the node's other commands), retried until Redis answers.
    async fn reader_connection(&self) -> ConnectionManager {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_millis(READ_BLOCK_MS + 2000))
            .set_number_of_retries(1);
        loop {
            match self
                .client
                .get_connection_manager_with_config(config.clone())
                .await
            {
                Ok(c) => return c,
                Err(e) => {
                    self.link_down(&e);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Rooms new to this node start at the stream's end (what came before
    /// is their members' history).
    async fn start_rooms(&self, con: &mut ConnectionManager, rooms: &[Arc<Room>]) {
        for room in rooms.iter().filter(|r| !r.cluster_started()) {
            if let Err(e) = self.start_room(con, room).await {
                self.link_down(&e);
                return;
            }
        }
    }

    /// A room's new entries, each decoded and checked, delivered here; the
    /// batch's lines shown at once (one wake, fewer writes).
    fn deliver(&self, room: &Arc<Room>, key: &str, ids: &mut [entry::Entry], run: &str) {
        for e in ids {
            match entry::decode(e, &self.cfg.rules) {
                // This node's members as an earlier run of it had them (it
                // was declared dead): not members of another node.
                Ok(entry)
                    if entry.origin != run
                        && entry::run_node(&entry.origin) == self.cfg.node
                        && !matches!(entry.event, RoomEvent::Said(_) | RoomEvent::Topic { .. }) =>
                {
                    room.skip_entry(&e.id)
                }
                Ok(entry) => {
                    if let Some(q) = entry.seq {
                        // Read back before the check: an entry written off
                        // meanwhile (`doubt`) is either not written off or
                        // skipped here, never both shown and refused.
                        if entry.origin == run {
                            self.landed
                                .fetch_max(q + 1, std::sync::atomic::Ordering::AcqRel);
                        }
                        if !self.first_copy(key, &entry.origin, q) {
                            tracing::debug!(room = %key, "cluster: a second copy of an entry skipped");
                            room.skip_entry(&e.id);
                            continue;
                        }
                    }
                    room.deliver_event(entry, run)
                }
                Err(why) => {
                    self.skip(key, &e.id, &why);
                    // Past it all the same: read on from there.
                    room.skip_entry(&e.id);
                }
            }
        }
        room.wake_readers();
    }

    /// The entry numbered `q` by run `origin` in room `key` is the first
    /// copy delivered here (see `Cluster::delivered_seq`).
    fn first_copy(&self, key: &str, origin: &str, q: u64) -> bool {
        let mut seen = self.delivered_seq.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= 10_000 {
            seen.clear();
        }
        let next = seen
            .entry((key.to_string(), origin.to_string()))
            .or_insert(0);
        if q < *next {
            return false;
        }
        *next = q + 1;
        true
    }

    pub(super) async fn start_room(
        &self,
        con: &mut ConnectionManager,
        room: &Arc<Room>,
    ) -> redis::RedisResult<()> {
        let room_key = room.key();
        // One snapshot: the stream's end, its members and its topic as of
        // that entry (the append script changes them with the entry).
        let (last, members, topic): (Value, HashMap<String, String>, Option<String>) =
            redis::pipe()
                .atomic()
                .cmd("XREVRANGE")
                .arg(self.keys.log(room_key))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .cmd("HGETALL")
                .arg(self.keys.members(room_key))
                .cmd("GET")
                .arg(self.keys.topic(room_key))
                .query_async(con)
                .await?;
        let last = entry::entries(last)
            .into_iter()
            .next()
            .map(|e| e.id)
            .unwrap_or_else(|| "0-0".into());
        let run = self.run();
        // Members of runs that died while nobody read this room are gone.
        let mut remote = HashMap::new();
        let mut runs: HashMap<String, bool> = HashMap::new();
        for (name, owner) in members {
            if *owner == *run || !entry::checked_run(&owner) {
                continue;
            }
            let Some(name) = entry::checked_name(&name) else {
                continue;
            };
            let dead = match runs.get(&owner) {
                Some(d) => *d,
                None => {
                    let d = self.bury(con, &owner).await?;
                    runs.insert(owner.clone(), d);
                    d
                }
            };
            if dead {
                self.gone(con, room, &name, &owner).await?;
            } else {
                remote.insert(name, owner);
            }
        }
        let topic = topic.and_then(|t| entry::checked_topic(&t, &self.cfg.rules));
        let delivered = line_id(&last).unwrap_or(0);
        room.cluster_start(last, delivered, remote, topic);
        Ok(())
    }
}
