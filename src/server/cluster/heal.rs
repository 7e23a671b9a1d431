//! Presence heals: every node's list of the other nodes' members is
//! checked against Redis's members hashes — soon after Redis lost its data
//! (once every node has had two heartbeats to announce its members again)
//! and every `EVERY` beats — so a leave a node never read (Redis lost it
//! while this node was paused, say) is applied, and no ghost stays listed.

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use redis::Value;

use super::{entry, Cluster, HEARTBEAT};

/// Beats between two checks of a calm cluster.
pub(super) const EVERY: u32 = 10;

impl Cluster {
    /// Check, if one is due and the link has been calm two heartbeats
    /// (every live node announced itself again). Beat number `beat`.
    pub(super) async fn heal_presence(&self, con: &mut ConnectionManager, beat: u32) {
        let due =
            self.heal_due.load(std::sync::atomic::Ordering::Acquire) || beat.is_multiple_of(EVERY);
        if !due || self.calm_for() < HEARTBEAT * 2 {
            return;
        }
        match self.reconcile(con).await {
            Ok(all) => self
                .heal_due
                .store(!all, std::sync::atomic::Ordering::Release),
            Err(e) => self.link_down(&e),
        }
    }

    /// Each room this node reads against its members hash; false when a
    /// room could not be checked now (its reader was mid-way).
    async fn reconcile(&self, con: &mut ConnectionManager) -> redis::RedisResult<bool> {
        let Some(hub) = self.hub() else {
            return Ok(true);
        };
        let mut all = true;
        for room in hub.cluster_rooms().iter().filter(|r| r.cluster_started()) {
            let key = room.key();
            let (last, members): (Value, HashMap<String, String>) = redis::pipe()
                .atomic()
                .cmd("XREVRANGE")
                .arg(self.keys.log(key))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .cmd("HGETALL")
                .arg(self.keys.members(key))
                .query_async(con)
                .await?;
            let at = entry::entries(last).into_iter().next().map(|e| e.id);
            let held: HashMap<String, String> = members
                .into_iter()
                .filter(|(name, run)| {
                    entry::checked_run(run) && entry::checked_name(name).is_some()
                })
                .collect();
            all &= room.reconcile_remote(at.as_deref(), &held);
        }
        Ok(all)
    }
}
