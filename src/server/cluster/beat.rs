//! The node's life in the cluster, once a second: its heartbeat (which
//! also tells it whether it was declared dead, or whether Redis lost its
//! keys), its names' leases, and other runs' deaths.
//!
//! - Declared dead (this run hung, or was cut off, longer than the
//!   heartbeat's expiry, and another node buried it): the run's members
//!   are told and disconnected, and the node goes on as a new run.
//! - Redis lost the node's key (restarted without its data, or paused
//!   past every expiry): the node announces its members again (their
//!   rooms' members and the cluster's rooms through join entries; their
//!   names through claims, a name another run took meanwhile is told to
//!   its member, who is disconnected).
//! - Other runs are declared dead only after `GRACE` of a calm link, so
//!   that a Redis restart never makes a live node look dead.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::scripts::{BEAT, BURY, CLAIM, GONE, MARK_TTL_MS, RENEW};
use super::{
    entry, Cluster, Out, Room, RoomEvent, GRACE, HEARTBEAT, NAME_TTL_MS, NODE_TTL_MS, SETTLE,
};
use crate::protocol::now_ms;

/// What a name's renewal found.
enum Lease {
    Held,
    /// Another run holds it now.
    Lost,
    /// Not settled yet (Redis lost it and is being told again).
    Unsettled,
}

impl Cluster {
    /// The node's heartbeat, its names' leases, and other runs' deaths.
    pub(super) async fn heartbeat(self: Arc<Self>) {
        let node_key = self.keys.node(&self.cfg.node);
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut beats = 0u32;
        loop {
            tick.tick().await;
            beats = beats.wrapping_add(1);
            // The connection as it is now (made anew after credentials failed).
            let mut con = self.con();
            let run = self.run();
            let beat: redis::RedisResult<(i64, u64)> = BEAT
                .key(&node_key)
                .key(self.keys.dead(&run))
                .arg(&*run)
                .arg(entry::heartbeat(&run, now_ms()))
                .arg(NODE_TTL_MS)
                .arg(self.keys.prefix())
                .invoke_async(&mut con)
                .await;
            let state = match beat {
                Ok((state, clock)) => {
                    *self.redis_clock.lock().unwrap_or_else(|e| e.into_inner()) =
                        (clock, tokio::time::Instant::now());
                    state
                }
                Err(e) => {
                    self.link_down(&e);
                    continue;
                }
            };
            self.link_up();
            match state {
                2 => self.set_refusing(Some(
                    "Redis refuses writes (the heartbeat could only be kept alive): out of memory?"
                        .into(),
                )),
                // Redis took the heartbeat: it takes writes.
                1 => self.set_refusing(None),
                -1 => {
                    self.lost_place(&run).await;
                    continue;
                }
                0 => {
                    // Redis lost this node's key: it lost the others' too.
                    // Nobody is declared dead until every node had time
                    // to beat again; this node's members are announced.
                    let now = Some(tokio::time::Instant::now());
                    *self.calm_since.lock().unwrap_or_else(|e| e.into_inner()) = now;
                    *self.repaired_at.lock().unwrap_or_else(|e| e.into_inner()) = now;
                    tracing::warn!(node = %self.cfg.node, "cluster: Redis lost this node's keys (restarted without its data, or paused past their expiry); announcing its members again");
                    self.tell_maybe_lost();
                    self.forgot.notify_one();
                    self.announce();
                    self.heal_due
                        .store(true, std::sync::atomic::Ordering::Release);
                }
                _ => {}
            }
            self.renew_names(&mut con, &run).await;
            self.heal_presence(&mut con, beats).await;
            if self.calm_for() >= GRACE {
                self.bury_dead(&mut con).await;
            }
        }
    }

    /// How long the link has been calm (up, Redis keeping its keys).
    pub(super) fn calm_for(&self) -> Duration {
        self.calm_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    /// Redis lost its keys less than `SETTLE` ago: names are being claimed
    /// again by their holders.
    pub(super) fn settling(&self) -> bool {
        self.repaired_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() < SETTLE)
    }

    /// This run was declared dead (or another run has the node's name):
    /// its members are told and disconnected, and the node goes on as a
    /// new run. Once per run.
    pub(super) async fn lost_place(&self, was: &Arc<str>) {
        let new: Arc<str> = format!("{}/{}", self.cfg.node, now_ms()).into();
        {
            let mut run = self.run.lock().unwrap_or_else(|e| e.into_inner());
            if !Arc::ptr_eq(&run, was) {
                return;
            }
            *run = new.clone();
        }
        self.names.lock().unwrap_or_else(|e| e.into_inner()).clear();
        tracing::warn!(node = %self.cfg.node, old = %was, new = %new, "cluster: this server was declared gone by the cluster (cut off longer than {} s); its members are disconnected, and it goes on as a new run", NODE_TTL_MS / 1000);
        if let Some(hub) = self.hub() {
            hub.drop_all(&format!(
                "this server was cut off from the cluster for longer than {} s and the other servers have let your name go: connect again (tcpplay join --reconnect does it by itself)",
                NODE_TTL_MS / 1000
            ));
        }
    }

    /// Redis lost its keys (or kept them past their expiry): what other
    /// servers said just before may be gone with them, unread here. Each
    /// room is told from which id on.
    fn tell_maybe_lost(&self) {
        let Some(hub) = self.hub() else { return };
        for room in hub.cluster_rooms() {
            let Some(after) = room.cluster_delivered() else {
                continue;
            };
            room.notice(crate::protocol::Packet::event(
                "cluster",
                None,
                format!("the cluster's store lost its data (restarted empty, or paused past its keys' expiry): lines said on other servers after id {after} may be missing here"),
            ));
        }
    }

    /// Redis lost its keys: this node's members into their rooms again
    /// (join entries: the members hashes, the rooms' registry; a node
    /// that still knows them shows nothing new).
    fn announce(self: &Arc<Self>) {
        let Some(hub) = self.hub() else { return };
        self.declare(&hub);
        for (room, name) in hub.memberships() {
            let _ = self.out.send(Out {
                room,
                event: RoomEvent::Joined { name },
                run: self.run(),
            });
        }
    }

    /// Renew this run's names; a name another run took is told to its
    /// member, who is disconnected; a name Redis lost is claimed again.
    async fn renew_names(&self, con: &mut ConnectionManager, run: &str) {
        let names: Vec<(String, String)> = self
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, n)| (k.clone(), n.clone()))
            .collect();
        for (key, name) in names {
            let lease = match self.renew(con, &key, run).await {
                Ok(l) => l,
                Err(e) => return self.link_down(&e),
            };
            if let Lease::Lost = lease {
                self.names
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                tracing::warn!(node = %self.cfg.node, "cluster: a name of this node was taken by another run while Redis had lost it; its member is disconnected");
                if let Some(hub) = self.hub() {
                    hub.drop_named(&name, &format!("the name '{name}' was given to another member while the cluster's store was being repaired: connect again to get a name"));
                }
            }
        }
    }

    async fn renew(
        &self,
        con: &mut ConnectionManager,
        key: &str,
        run: &str,
    ) -> redis::RedisResult<Lease> {
        let held: i64 = RENEW
            .key(key)
            .arg(run)
            .arg(NAME_TTL_MS)
            .invoke_async(con)
            .await?;
        Ok(match held {
            1 => Lease::Held,
            0 => Lease::Lost,
            _ => match self.claim_script(con, key, run).await? {
                0 => Lease::Lost,
                -1 => Lease::Unsettled,
                _ => Lease::Held,
            },
        })
    }

    /// The claim script for name key `key` by `run`: 1 or 2 claimed, 0
    /// held by a live run, -1 unsettled.
    pub(super) async fn claim_script(
        &self,
        con: &mut ConnectionManager,
        key: &str,
        run: &str,
    ) -> redis::RedisResult<i64> {
        CLAIM
            .key(key)
            .key(self.keys.node(&self.cfg.node))
            .arg(run)
            .arg(NAME_TTL_MS)
            .arg(self.keys.prefix())
            .arg(MARK_TTL_MS)
            .arg(self.not_after(Duration::from_millis(1500)))
            .invoke_async(con)
            .await
    }

    /// Runs with members in this node's rooms whose heartbeat is gone are
    /// declared dead; their members leave.
    async fn bury_dead(&self, con: &mut ConnectionManager) {
        let Some(hub) = self.hub() else { return };
        let mut alive = 0;
        for run in hub.remote_nodes() {
            match self.bury(con, &run).await {
                Ok(false) => alive += 1,
                Ok(true) => {
                    tracing::info!(run = %run, "cluster: a node's run is gone (no heartbeat); its members leave");
                    for (room, name) in hub.node_gone(&run) {
                        if let Err(e) = self.gone(con, &room, &name, &run).await {
                            return self.link_down(&e);
                        }
                    }
                }
                Err(e) => return self.link_down(&e),
            }
        }
        self.m.nodes_alive.set(alive);
    }

    /// Declare `run` dead if its heartbeat is gone: true when it is (and
    /// now marked so), false when it beats — or while the link has not
    /// been calm for `GRACE` (a live node may not have beaten again yet).
    pub(super) async fn bury(
        &self,
        con: &mut ConnectionManager,
        run: &str,
    ) -> redis::RedisResult<bool> {
        if self.calm_for() < GRACE {
            return Ok(false);
        }
        let dead: i64 = BURY
            .key(self.keys.node(entry::run_node(run)))
            .key(self.keys.dead(run))
            .arg(run)
            .arg(MARK_TTL_MS)
            .arg(self.not_after(Duration::from_millis(1500)))
            .invoke_async(con)
            .await?;
        Ok(dead == 1)
    }

    /// Member `name` of the dead run `run` out of `room` in Redis.
    pub(super) async fn gone(
        &self,
        con: &mut ConnectionManager,
        room: &Room,
        name: &str,
        run: &str,
    ) -> redis::RedisResult<()> {
        let key = room.key();
        GONE.key(self.keys.members(key))
            .key(self.keys.log(key))
            .key(self.keys.topic(key))
            .key(self.keys.rooms())
            .key(self.keys.makers())
            .arg(name)
            .arg(run)
            .arg(key)
            .arg(if room.persistent() { "1" } else { "0" })
            .arg(super::publish::EMPTY_ROOM_TTL_MS)
            .invoke_async::<i64>(con)
            .await
            .map(|_| ())
    }
}
