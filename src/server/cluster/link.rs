//! The link to Redis: its state, and the notices every room gets when it
//! goes down and comes back.

use std::sync::atomic::Ordering;

use super::{key_err, publish::HOLD, Cluster};
use crate::protocol::Packet;

impl Cluster {
    pub(super) fn link_down(&self, e: &redis::RedisError) {
        self.con.heal_after(e);
        *self.calm_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if !self.up.load(Ordering::Acquire) || self.announcing.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(node = %self.cfg.node, "cluster: Redis is unreachable ({}); lines wait (at most {HOLD}), retrying", key_err(e));
        if let Some(hub) = self.hub() {
            hub.notice_all(Packet::event(
                "cluster",
                None,
                format!("the link to the other servers is down: what is said here now waits (up to {HOLD} lines) and is delivered, in order, when it comes back by itself; beyond that lines are refused"),
            ));
        }
        self.up.store(false, Ordering::Release);
        self.m.link_up.set(0);
        self.announcing.store(false, Ordering::Release);
    }

    pub(super) fn link_up(&self) {
        if self.up.load(Ordering::Acquire) || self.announcing.swap(true, Ordering::AcqRel) {
            return;
        }
        self.up.store(true, Ordering::Release);
        self.m.link_up.set(1);
        self.announcing.store(false, Ordering::Release);
        {
            let mut calm = self.calm_since.lock().unwrap_or_else(|e| e.into_inner());
            calm.get_or_insert_with(tokio::time::Instant::now);
        }
        let waiting = self.held.load(Ordering::Relaxed);
        tracing::info!(node = %self.cfg.node, "cluster: Redis is back ({waiting} lines to send)");
        if let Some(hub) = self.hub() {
            hub.notice_all(Packet::event(
                "cluster",
                None,
                format!("the link to the other servers is back; {waiting} line(s) that waited go out now, in order"),
            ));
        }
    }
}
