//! A room's rules: who operates it, who is kept out (bans) or silenced
//! (mutes), who was invited, and its modes (invite-only, topic locked).
//! Operators are accounts (names a guest cannot take) — the room's
//! creator while the room lives, the accounts declared in `[[rooms]]
//! operators`, those given `/op`, and the server's operators everywhere.
//!
//! The rules persist with the room through [`Owners`] (the accounts
//! database), saved on every change and read when the room opens again.
//! Every list is bounded ([`MAX_ENTRIES`]); entries that expired are pruned
//! as they are met. Nothing here reaches a socket: the hub and the session
//! decide what to say.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::MemberId;

/// Most bans, mutes, invitations or operators one room keeps (each).
pub(crate) const MAX_ENTRIES: usize = 1000;

/// What a ban or mute holds to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub(crate) enum Target {
    /// A name's key (whoever holds it).
    Name(String),
    /// An account's key (under any name).
    Account(String),
    /// A source address (IPv6 by its /64, as the limits count it).
    Address(IpAddr),
    /// A client certificate's SHA-256 fingerprint.
    Cert(String),
    /// The address a banned member came from, as it holds guests: another
    /// connection from there under any name, not a member logged in to
    /// another account (a classroom behind one address keeps its accounts).
    GuestsFrom(IpAddr),
}

impl Target {
    fn matches(&self, who: &Who<'_>) -> bool {
        match self {
            Target::Name(k) => crate::names::NameKeys::of(who.name).is_key(k),
            Target::Account(k) => who.account == Some(k.as_str()),
            Target::Address(a) => {
                crate::server::limits::addresses::key(*a)
                    == crate::server::limits::addresses::key(who.addr)
            }
            Target::Cert(fp) => who.cert == Some(fp.as_str()),
            Target::GuestsFrom(a) => who.account.is_none() && Target::Address(*a).matches(who),
        }
    }

    /// Holds a person (a name, an account, a certificate), not a place.
    fn personal(&self) -> bool {
        matches!(self, Target::Name(_) | Target::Account(_) | Target::Cert(_))
    }

    /// As an operator reads it.
    pub(crate) fn shown(&self) -> String {
        match self {
            Target::Name(k) => k.clone(),
            Target::Account(k) => format!("account:{k}"),
            Target::Address(a) => format!("address:{a}"),
            Target::Cert(fp) => format!("cert:{}", &fp[..fp.len().min(16)]),
            Target::GuestsFrom(a) => format!("guests from {a}"),
        }
    }
}

/// A ban or a mute: its targets (one member may be held by name, account
/// and certificate at once), until when, by whom and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hold {
    pub targets: Vec<Target>,
    /// ms since the Unix epoch (`None`: until lifted).
    pub until: Option<u64>,
    pub by: String,
    pub reason: Option<String>,
    /// Whom it was said of, as the operator spelled them (the targets
    /// hold keys); absent in rules kept before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Hold {
    fn live(&self, now: u64) -> bool {
        self.until.is_none_or(|u| u > now)
    }

    fn holds(&self, who: &Who<'_>, now: u64) -> bool {
        self.live(now) && self.targets.iter().any(|t| t.matches(who))
    }

    /// It holds `who` only by the address it comes from (another name
    /// from the place of someone banned), not as that person.
    pub(crate) fn by_address_only(&self, who: &Who<'_>) -> bool {
        !self.targets.iter().any(|t| t.personal() && t.matches(who))
    }

    /// Whom it holds, as an operator reads it: the name as spelled when
    /// it was said of a member, else its first target.
    pub(crate) fn whom(&self) -> String {
        match &self.label {
            Some(l) => l.clone(),
            None => self.targets.first().map(Target::shown).unwrap_or_default(),
        }
    }

    /// "until 14:05 UTC" or "for good", and why.
    pub(crate) fn describe(&self) -> String {
        let until = match self.until {
            Some(ms) => {
                let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                format!(
                    "until {:04}-{:02}-{:02} {:02}:{:02} UTC",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute()
                )
            }
            None => "until an operator lifts it".into(),
        };
        match &self.reason {
            Some(r) => format!("{until} (by {}: {r})", self.by),
            None => format!("{until} (by {})", self.by),
        }
    }
}

/// Who is asking to come in or to speak.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub name: &'a str,
    /// The account's key, when logged in.
    pub account: Option<&'a str>,
    pub addr: IpAddr,
    pub cert: Option<&'a str>,
}

/// What persists of a room's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RoomRules {
    /// Accounts given `/op` (keys).
    pub operators: BTreeSet<String>,
    pub bans: Vec<Hold>,
    pub mutes: Vec<Hold>,
    pub invite_only: bool,
    /// Name or account keys let into an invite-only room.
    pub invited: BTreeSet<String>,
    pub topic_locked: bool,
    /// The account that made the room (its key): its operator for good,
    /// and the room is no guest's to make again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maker: Option<String>,
    /// When one of its operators was last in the room or acted (ms since
    /// the epoch, to the day): rules nobody operates are dropped after
    /// [`RULES_KEPT_UNOPERATED_MS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operated: Option<u64>,
}

/// How long a room's rules are kept without any of its operators in it
/// (30 days; docs/LIMITS.md).
pub(crate) const RULES_KEPT_UNOPERATED_MS: u64 = 30 * 24 * 3600 * 1000;

/// Most rooms whose rules are kept (docs/LIMITS.md).
pub(crate) const MAX_ROOMS_WITH_RULES: usize = 10_000;

impl RoomRules {
    /// The ban that keeps `who` out, if any.
    pub(crate) fn ban_of(&self, who: &Who<'_>, now: u64) -> Option<&Hold> {
        self.bans.iter().find(|b| b.holds(who, now))
    }

    pub(crate) fn mute_of(&self, who: &Who<'_>, now: u64) -> Option<&Hold> {
        self.mutes.iter().find(|b| b.holds(who, now))
    }

    pub(crate) fn invited(&self, who: &Who<'_>) -> bool {
        let keys = crate::names::NameKeys::of(who.name);
        self.invited.contains(&keys.folded)
            || self.invited.contains(&keys.look)
            || who.account.is_some_and(|a| self.invited.contains(a))
    }

    /// Drop what expired; true when something was.
    pub(crate) fn prune(&mut self, now: u64) -> bool {
        let before = self.bans.len() + self.mutes.len();
        self.bans.retain(|b| b.live(now));
        self.mutes.retain(|b| b.live(now));
        before != self.bans.len() + self.mutes.len()
    }

    /// Nobody operated the room for [`RULES_KEPT_UNOPERATED_MS`] (rules
    /// kept before this was noted are not stale: they are stamped now).
    pub(crate) fn stale(&self, now: u64) -> bool {
        self.operated
            .is_some_and(|t| now.saturating_sub(t) > RULES_KEPT_UNOPERATED_MS)
    }

    /// An operator is here at `now`: true when the stamp moved (at most
    /// once a day, so that joins do not each write the rules).
    pub(crate) fn operated_at(&mut self, now: u64) -> bool {
        const DAY: u64 = 24 * 3600 * 1000;
        if self.operated.is_some_and(|t| now.saturating_sub(t) < DAY) {
            return false;
        }
        self.operated = Some(now);
        true
    }

    /// Is `account` (a key) one of its operators by these rules?
    pub(crate) fn operator(&self, account: &str) -> bool {
        self.operators.contains(account) || self.maker.as_deref() == Some(account)
    }

    /// The account `key` is gone: what it was granted goes with it (an
    /// account registered again under the name is someone else). True when
    /// something was.
    pub(crate) fn drop_grants(&mut self, key: &str) -> bool {
        let was = self.operators.remove(key);
        let made = self.maker.as_deref() == Some(key);
        if made {
            self.maker = None;
        }
        was || made
    }

    /// Lift every ban (or mute) holding `target`; how many.
    pub(crate) fn lift(list: &mut Vec<Hold>, target: &Target) -> usize {
        let before = list.len();
        list.retain(|h| !h.targets.contains(target));
        before - list.len()
    }
}

/// A room's rules as the room holds them: what persists, and what lives
/// only as long as the room (its creator, its declared operators).
#[derive(Debug, Default)]
pub(crate) struct Moderation {
    pub rules: RoomRules,
    /// The member who made the room (operator while the room lives).
    pub creator: Option<MemberId>,
    /// `[[rooms]] operators` (account keys).
    pub declared: BTreeSet<String>,
}

impl Moderation {
    /// Does member `id` (logged in to `account`, a key; `server_op`: an
    /// operator of the whole server) operate this room?
    pub(crate) fn operates(&self, id: MemberId, account: Option<&str>, server_op: bool) -> bool {
        server_op
            || self.creator == Some(id)
            || account.is_some_and(|a| self.declared.contains(a) || self.rules.operator(a))
    }

    /// Is member `id` beyond this room's bans? Its operators are — all but
    /// a guest who is one only for having made the room, whom a server
    /// operator may still ban.
    pub(crate) fn above_bans(&self, id: MemberId, account: Option<&str>, server_op: bool) -> bool {
        self.operates(id, account, server_op) && self.creator != Some(id)
    }
}

/// The accounts, as the rooms need them: which names a guest cannot take,
/// who operates the whole server, and where rooms' rules are kept (read
/// when a room opens, written on every change).
pub(crate) trait Owners: Send + Sync {
    /// The name, or one that is the same by [`crate::names::NameKeys::clash`],
    /// belongs to an account or an operator list.
    fn reserved(&self, name: &str) -> bool;
    /// An account's key that operates every room.
    fn server_operator(&self, account_key: &str) -> bool;
    fn load(&self, room_key: &str) -> Option<RoomRules>;
    fn save(&self, room_key: &str, rules: &RoomRules);
    /// May `room_key` have rules kept (it has, or fewer than
    /// [`MAX_ROOMS_WITH_RULES`] rooms do)?
    fn room_for(&self, room_key: &str) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who<'a>(name: &'a str, account: Option<&'a str>, addr: &str) -> Who<'a> {
        Who {
            name,
            account,
            addr: addr.parse().unwrap(),
            cert: None,
        }
    }

    #[test]
    fn a_ban_holds_its_targets_until_it_expires() {
        let mut r = RoomRules::default();
        r.bans.push(Hold {
            targets: vec![
                Target::Name("carol".into()),
                Target::Address("192.0.2.7".parse().unwrap()),
            ],
            until: Some(1_000),
            by: "teacher".into(),
            reason: None,
            label: None,
        });
        assert!(r.ban_of(&who("Carol", None, "10.0.0.1"), 500).is_some());
        // Another name from the same address.
        assert!(r.ban_of(&who("dave", None, "192.0.2.7"), 500).is_some());
        assert!(r.ban_of(&who("dave", None, "10.0.0.1"), 500).is_none());
        assert!(r.ban_of(&who("carol", None, "10.0.0.1"), 1_000).is_none());
        assert!(r.prune(1_000));
        assert!(r.bans.is_empty());
    }

    #[test]
    fn an_account_ban_holds_under_any_name_and_v6_by_its_64() {
        let mut r = RoomRules::default();
        r.bans.push(Hold {
            targets: vec![
                Target::Account("bob".into()),
                Target::Address("2001:db8::1".parse().unwrap()),
            ],
            until: None,
            by: "op".into(),
            reason: Some("spam".into()),
            label: None,
        });
        assert!(r
            .ban_of(&who("robert", Some("bob"), "10.0.0.1"), 0)
            .is_some());
        assert!(r.ban_of(&who("x", None, "2001:db8::99"), 0).is_some());
        assert!(r.ban_of(&who("x", None, "2001:db9::1"), 0).is_none());
        assert_eq!(
            RoomRules::lift(&mut r.bans, &Target::Account("bob".into())),
            1
        );
    }

    #[test]
    fn the_address_of_a_banned_member_holds_its_guests_not_other_accounts() {
        let mut r = RoomRules::default();
        r.bans.push(Hold {
            targets: vec![
                Target::Name("dave".into()),
                Target::GuestsFrom("2001:db8::7".parse().unwrap()),
            ],
            until: None,
            by: "teacher".into(),
            reason: None,
            label: Some("Dave".into()),
        });
        let guest = who("dave-2", None, "2001:db8::8");
        let ban = r.ban_of(&guest, 0).expect("a guest from the same /64");
        assert!(ban.by_address_only(&guest));
        assert_eq!(ban.whom(), "Dave");
        let renamed = who("Dave", None, "10.0.0.1");
        assert!(!r.ban_of(&renamed, 0).unwrap().by_address_only(&renamed));
        assert!(r
            .ban_of(&who("erin", Some("erin"), "2001:db8::8"), 0)
            .is_none());
        assert!(r.ban_of(&who("x", None, "2001:db9::8"), 0).is_none());
    }
}
