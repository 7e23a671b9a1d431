//! The link to Redis and the node's life: the heartbeat that keeps the
//! node's key and its names' leases, the notices when the link goes down
//! and comes back, and other nodes' deaths (their members leave).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redis::aio::ConnectionManager;

use super::{entry, key_err, Cluster, HEARTBEAT, NAME_TTL_MS, NODE_TTL_MS};
use crate::protocol::{now_ms, Packet};

impl Cluster {
    pub(super) fn link_down(&self, e: &redis::RedisError) {
        // The rooms are told before the link is marked down, so that lines
        // then delivered here only come after the notice (one announcer).
        if !self.up.load(Ordering::Acquire) || self.announcing.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(node = %self.cfg.node, "cluster: Redis is unreachable ({}); serving this node's members only, retrying", key_err(e));
        if let Some(hub) = self.hub() {
            hub.notice_all(Packet::event(
                "cluster",
                None,
                "the link to the other servers is down: what is said here now reaches only the members on this server; it comes back by itself",
            ));
        }
        self.up.store(false, Ordering::Release);
        self.announcing.store(false, Ordering::Release);
    }

    pub(super) fn link_up(&self) {
        if self.up.load(Ordering::Acquire) || self.announcing.swap(true, Ordering::AcqRel) {
            return;
        }
        self.up.store(true, Ordering::Release);
        self.announcing.store(false, Ordering::Release);
        let missed = self.local_only.swap(0, Ordering::Relaxed);
        tracing::info!(node = %self.cfg.node, "cluster: Redis is back ({missed} lines were said here meanwhile)");
        if let Some(hub) = self.hub() {
            hub.notice_all(Packet::event(
                "cluster",
                None,
                format!("the link to the other servers is back; {missed} line(s) said here while it was down reached only this server"),
            ));
        }
    }

    /// The node's heartbeat, its names' leases, and other nodes' deaths.
    pub(super) async fn heartbeat(self: Arc<Self>) {
        let mut con = self.con.clone();
        let node_key = self.keys.node(&self.cfg.node);
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tick.tick().await;
            let names: Vec<String> = self
                .names
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .keys()
                .cloned()
                .collect();
            let mut pipe = redis::pipe();
            pipe.cmd("SET")
                .arg(&node_key)
                .arg(entry::heartbeat(&self.id, now_ms()))
                .arg("PX")
                .arg(NODE_TTL_MS)
                .ignore();
            // Set, not only extended: a Redis that restarted empty gets
            // this node's names back.
            for n in &names {
                pipe.cmd("SET")
                    .arg(n)
                    .arg(&self.id)
                    .arg("PX")
                    .arg(NAME_TTL_MS)
                    .ignore();
            }
            let beat: redis::RedisResult<()> = pipe.query_async(&mut con).await;
            match beat {
                Ok(()) => self.link_up(),
                Err(e) => {
                    self.link_down(&e);
                    continue;
                }
            }
            // Members of nodes whose heartbeat is gone leave our rooms.
            let Some(hub) = self.hub() else { continue };
            for node in hub.remote_nodes() {
                if let Ok(false) = self.alive(&mut con, &node).await {
                    tracing::info!(node = %node, "cluster: node gone (no heartbeat); its members leave");
                    for room in hub.node_gone(&node) {
                        let _: redis::RedisResult<()> = redis::cmd("HDEL")
                            .arg(self.keys.members(&room.0))
                            .arg(&room.1)
                            .query_async(&mut con)
                            .await;
                    }
                }
            }
        }
    }

    /// Is the run `id` (`NODE/STARTED_MS`) of a node still beating?
    pub(super) async fn alive(
        &self,
        con: &mut ConnectionManager,
        id: &str,
    ) -> redis::RedisResult<bool> {
        let beat: Option<String> = redis::cmd("GET")
            .arg(self.keys.node(entry::run_node(id)))
            .query_async(con)
            .await?;
        Ok(beat.is_some_and(|b| entry::heartbeat_run(&b) == Some(id)))
    }
}
