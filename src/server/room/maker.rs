//! Who made a room, and so operates it: on one server the first member in
//! (while the room lives; an account for good, as the rules' maker). In a
//! cluster the cluster decides it once for every node (a check-and-set in
//! Redis, `server::cluster::rooms`) and hands each node the answer as a
//! [`Maker`]: no node decides "first to join" alone, so a guest first in
//! on one node never operates a room an account made on another.

use super::rules::{Moderation, RoomRules};
use super::{Hub, MemberId, Room};
use crate::names;
use crate::protocol::now_ms;

/// The cluster's answer to "who made this room".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Maker {
    /// An account (its key): it operates the room for good. `ours`: this
    /// join is the one that made it (its node keeps the rules).
    Account { key: String, ours: bool },
    /// The member joining now, on this node (a guest, or an account whose
    /// room keeps no rules): it operates the room while the room lives.
    Joining,
    /// A member of another node, a guest who left, or nobody (the room
    /// had rules before): nobody here is its creator.
    Elsewhere,
}

/// Who a member is to the maker check-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Member `id` of this node.
    pub id: MemberId,
    /// Its account's key, when it has one and the room may keep rules
    /// (under `MAX_ROOMS_WITH_RULES`): then it would make the room for good.
    pub account: Option<String>,
}

impl Moderation {
    /// Member `id` (logged in to `account`, a key, when the room may keep
    /// rules) made the room on this server alone: its creator, unless it
    /// had rules before (bans, operators: those hold); an account makes it
    /// for good. True when the rules changed (to be kept).
    pub(super) fn made_here(&mut self, id: MemberId, account: Option<String>) -> bool {
        if self.rules != RoomRules::default() {
            return false;
        }
        self.creator = Some(id);
        let Some(account) = account else {
            return false;
        };
        self.rules.maker = Some(account);
        self.rules.operated = Some(now_ms());
        true
    }

    /// The cluster says who made the room; member `id` is joining it here.
    /// True when the rules changed and this node keeps them.
    pub(super) fn made_by(&mut self, id: MemberId, maker: &Maker) -> bool {
        match maker {
            Maker::Account { key, ours } => {
                let new = self.rules.maker.as_deref() != Some(key.as_str());
                self.rules.maker = Some(key.clone());
                if *ours {
                    self.creator.get_or_insert(id);
                    self.rules.operated = Some(now_ms());
                }
                new && *ours
            }
            Maker::Joining => {
                self.creator.get_or_insert(id);
                false
            }
            Maker::Elsewhere => false,
        }
    }
}

impl Room {
    /// Member `id` is the first here: the room's maker is as the cluster
    /// says (`maker`), or, on one server (`None`), decided here.
    pub(super) fn first_in(&self, id: MemberId, account: Option<String>, maker: Option<&Maker>) {
        let mut md = self.moderation();
        let keep = match maker {
            Some(m) => md.made_by(id, m),
            None => md.made_here(id, account),
        };
        if keep {
            self.save_rules(&md);
        }
    }

    /// A room that was here already: the cluster's answer still holds
    /// (another member of this node made the room between the question
    /// and this join).
    pub(super) fn made(&self, id: MemberId, maker: &Maker) {
        let mut md = self.moderation();
        if md.made_by(id, maker) {
            self.save_rules(&md);
        }
    }
}

impl Hub {
    /// May room `key` keep rules (it has, or there is room for more)?
    pub(super) fn keeps_rules(&self, key: &str) -> bool {
        self.shared.owners.get().is_some_and(|o| o.room_for(key))
    }

    /// Who member `id` would be as the maker of room `raw` (its account
    /// only when the room may keep rules): the cluster's question.
    pub(crate) fn candidate(&self, id: MemberId, raw: &str) -> Candidate {
        let key = names::room_name(raw)
            .map(|n| names::name_key(&n))
            .unwrap_or_default();
        let account = self
            .lock()
            .members
            .get(&id)
            .and_then(|m| m.identity.account_key());
        Candidate {
            id,
            account: account.filter(|_| self.keeps_rules(&key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_joining_a_room_an_account_made_elsewhere_holds_nothing() {
        let mut md = Moderation::default();
        let alice = Maker::Account {
            key: "alice".into(),
            ours: false,
        };
        assert!(!md.made_by(7, &alice), "kept by the node that made it");
        assert_eq!(md.creator, None);
        assert!(md.rules.operator("alice"));
        assert!(!md.operates(7, None, false));
        let mut md = Moderation::default();
        assert!(!md.made_by(7, &Maker::Elsewhere));
        assert!(!md.operates(7, None, false));
        assert!(!md.made_by(7, &Maker::Joining));
        assert!(md.operates(7, None, false));
    }

    #[test]
    fn on_one_server_rules_from_before_hold_and_an_account_makes_it_for_good() {
        let mut md = Moderation::default();
        md.rules.invite_only = true;
        assert!(!md.made_here(1, Some("bob".into())));
        assert_eq!(md.creator, None);
        let mut md = Moderation::default();
        assert!(md.made_here(1, Some("bob".into())));
        assert_eq!(
            (md.creator, md.rules.maker.as_deref()),
            (Some(1), Some("bob"))
        );
    }
}
