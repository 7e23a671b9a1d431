//! Rooms' rules are bounded: at most [`MAX_ROOMS_WITH_RULES`] rooms keep
//! rules (a new one past it is refused, with its reason), and a room none
//! of whose operators came for [`RULES_KEPT_UNOPERATED_MS`] loses them
//! (checked when the server starts and whenever the room opens again).

use super::{Accounts, Backend};
use crate::names::sanitize;
use crate::protocol::now_ms;
use crate::server::room::rules::{RoomRules, MAX_ROOMS_WITH_RULES};

impl Accounts {
    /// This server's database: drop the rules nobody operated for the
    /// stated time; stamp those kept before the time was noted.
    pub(super) fn sweep_rules(&self) {
        let Backend::Local(store) = &self.backend else {
            return;
        };
        let store = store.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_ms();
        for (room, json) in store.all_rules().unwrap_or_default() {
            let Ok(mut rules) = serde_json::from_str::<RoomRules>(&json) else {
                continue;
            };
            let done = if rules.stale(now) {
                tracing::info!(room = %sanitize(&room), "accounts: the rules of a room none of its operators came to were dropped");
                store.delete_rules(&room)
            } else if rules.operated.is_none() && rules.operated_at(now) {
                store.put_rules(&room, &serde_json::to_string(&rules).unwrap_or_default())
            } else {
                Ok(())
            };
            if let Err(e) = done {
                tracing::warn!(room = %sanitize(&room), "accounts database: cannot prune a room's rules ({e})");
            }
        }
    }

    /// May `room_key` keep rules: it has some, or fewer rooms than the cap do.
    pub(super) fn has_room_for(&self, room_key: &str) -> bool {
        let cap = self.rules_cap;
        match (&self.shared, &self.backend) {
            (Some(shared), _) => {
                let cached = shared.rules.lock().unwrap_or_else(|e| e.into_inner());
                cached.contains_key(room_key) || cached.len() < cap
            }
            (None, Backend::Local(store)) => {
                let store = store.lock().unwrap_or_else(|e| e.into_inner());
                matches!(store.rules(room_key), Ok(Some(_)))
                    || store.count_rules().is_ok_and(|n| n < cap)
            }
            (None, Backend::Cluster(_)) => true,
        }
    }

    /// At most `cap` rooms keep rules (tests; [`MAX_ROOMS_WITH_RULES`] otherwise).
    #[cfg(test)]
    pub(crate) fn with_rules_cap(mut self, cap: usize) -> Accounts {
        self.rules_cap = cap;
        self
    }
}

/// The cap a new [`Accounts`] starts with.
pub(super) const RULES_CAP: usize = MAX_ROOMS_WITH_RULES;
