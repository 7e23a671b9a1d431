//! Reading: one `XREAD` over the streams of the rooms this node has
//! members in, and its inbox; every entry decoded and checked, then
//! delivered into the local room.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Value;

use super::{entry, line_id, Cluster, Room, READ_BLOCK_MS};

impl Cluster {
    /// Read the streams of the rooms this node has members in, and its
    /// inbox; deliver each entry into the local room.
    pub(super) async fn reader(self: Arc<Self>) {
        let mut con = self.reader_connection().await;
        let inbox = self.keys.inbox(&self.id);
        // This run's inbox is new: everything in it is for this run ("$"
        // would miss what arrives between two reads).
        let mut inbox_last = "0-0".to_string();
        let mut pause = Duration::from_millis(100);
        loop {
            let Some(hub) = self.hub() else { return };
            let rooms = hub.cluster_rooms();
            drop(hub);
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
                    for (key, mut ids) in entry::read_reply(reply) {
                        if key == inbox {
                            for e in &mut ids {
                                inbox_last = e.id.clone();
                                self.inbox_entry(&key, e);
                            }
                        } else if let Some(i) = logs.iter().position(|l| *l == key) {
                            self.deliver(started[i], &key, &mut ids);
                        }
                    }
                }
                Err(e) => {
                    self.link_down(&e);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
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
    fn deliver(&self, room: &Arc<Room>, key: &str, ids: &mut [entry::Entry]) {
        for e in ids {
            match entry::decode(e, &self.cfg.rules) {
                Ok(entry) => room.deliver_event(entry, &self.id),
                Err(why) => {
                    self.skip(key, &e.id, &why);
                    // Past it all the same: read on from there.
                    room.skip_entry(&e.id);
                }
            }
        }
        room.wake_readers();
    }

    pub(super) async fn start_room(
        &self,
        con: &mut ConnectionManager,
        room: &Arc<Room>,
    ) -> redis::RedisResult<()> {
        let room_key = room.key();
        let last: Value = redis::cmd("XREVRANGE")
            .arg(self.keys.log(room_key))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(con)
            .await?;
        let members: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.members(room_key))
            .query_async(con)
            .await?;
        let last = entry::entries(last)
            .into_iter()
            .next()
            .map(|e| e.id)
            .unwrap_or_else(|| "0-0".into());
        // Members of runs that died while nobody read this room are gone.
        let mut remote = HashMap::new();
        let mut runs: HashMap<String, bool> = HashMap::new();
        for (name, run) in members {
            if run == self.id {
                continue;
            }
            let alive = match runs.get(&run) {
                Some(a) => *a,
                None => {
                    let a = self.alive(con, &run).await?;
                    runs.insert(run.clone(), a);
                    a
                }
            };
            if alive {
                remote.insert(name, run);
            } else {
                redis::cmd("HDEL")
                    .arg(self.keys.members(room_key))
                    .arg(&name)
                    .query_async::<()>(con)
                    .await?;
            }
        }
        let delivered = line_id(&last).unwrap_or(0);
        room.cluster_start(last, delivered, remote);
        Ok(())
    }
}
