//! An account that is unregistered takes what it was granted with it: its
//! place among rooms' operators and as a room's maker. An account later
//! registered under the same name is someone else and holds nothing by it.

use super::Accounts;
use crate::server::room::rules::{Owners, RoomRules};

impl Accounts {
    /// The account `key` is gone: drop it from every room's rules (kept
    /// here or in the cluster's Redis). The rooms whose rules changed, and
    /// their rules now, for the rooms open on this server to hold.
    pub(crate) fn drop_grants(&self, key: &str) -> Vec<(String, RoomRules)> {
        let all: Vec<(String, RoomRules)> = match &self.shared {
            Some(shared) => {
                let cached = shared.rules.lock().unwrap_or_else(|e| e.into_inner());
                cached.iter().map(|(k, r)| (k.clone(), r.clone())).collect()
            }
            None => self
                .store()
                .and_then(|s| s.all_rules().ok())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(room, json)| Some((room, serde_json::from_str(&json).ok()?)))
                .collect(),
        };
        let mut changed = Vec::new();
        for (room, mut rules) in all {
            if rules.drop_grants(key) {
                self.save(&room, &rules);
                changed.push((room, rules));
            }
        }
        changed
    }
}
