//! Room operators at work: who is one, who may come in (bans,
//! invite-only), who may speak (mutes) or set the topic (a locked one),
//! and the `moderate` actions themselves. Locks: the hub's, then a room's
//! moderation, never the other way; the notices are published after both
//! are released.

use std::sync::{Arc, MutexGuard};

use super::hub::{taken_out, HubState, Member};
use super::rules::{Hold, Moderation, Owners, RoomRules, MAX_ENTRIES, MAX_ROOMS_WITH_RULES};
use super::whom::{banned_inside, holds_for, lift_targets, listing, online, refuse};
use super::{Departure, Hub, MemberId, Room, RoomError};
use crate::names::{self, name_key, sanitize};
use crate::protocol::{codes, now_ms, ModAction, Moderate, Packet};

/// Who does a `moderate`: a member, or the server's own console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Actor {
    Member(MemberId),
    Console,
}

/// The longest a ban or mute may be asked for (ten years; longer is "for good").
const MAX_DURATION_S: u64 = 10 * 365 * 24 * 3600;

impl Room {
    pub(crate) fn moderation(&self) -> MutexGuard<'_, Moderation> {
        self.moderation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Someone may be muted here (false: nobody is; the chat path stops there).
    pub(crate) fn any_mutes(&self) -> bool {
        self.any_mutes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One of its operators is here: its rules are kept another while
    /// (a room with none keeps none).
    fn operator_here(&self) {
        let mut md = self.moderation();
        if md.rules != RoomRules::default() && md.rules.operated_at(now_ms()) {
            self.save_rules(&md);
        }
    }

    /// May its rules change: it has some kept, or the server keeps rules
    /// for fewer rooms than its most.
    fn room_for_rules(&self) -> Result<(), RoomError> {
        let has = self.moderation().rules != RoomRules::default();
        let room = has
            || self
                .shared
                .owners
                .get()
                .is_none_or(|o| o.room_for(&self.key));
        match room {
            true => Ok(()),
            false => Err(refuse(
                codes::TOO_MANY_BANS,
                format!(
                    "the server keeps the rules of {MAX_ROOMS_WITH_RULES} rooms, its most: {} can have none now (rooms none of whose operators came for 30 days lose theirs)",
                    self.name()
                ),
            )),
        }
    }

    pub(super) fn save_rules(&self, m: &Moderation) {
        self.any_mutes.store(
            !m.rules.mutes.is_empty(),
            std::sync::atomic::Ordering::Relaxed,
        );
        if let Some(o) = self.shared.owners.get() {
            o.save(&self.key, &m.rules);
        }
    }
}

impl Hub {
    /// The accounts: from now on names they hold are refused to guests,
    /// and rooms keep their rules in them (the rooms open now read theirs).
    pub(crate) fn set_owners(&self, owners: Arc<dyn Owners>) {
        let _ = self.shared.owners.set(owners.clone());
        for room in self.lock().rooms.values() {
            let rules = owners.load(room.key()).unwrap_or_default();
            let mut m = room.moderation();
            m.rules = rules;
            room.any_mutes.store(
                !m.rules.mutes.is_empty(),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    /// Cluster mode: another node changed the rules of the room `room_key`:
    /// they hold here now, and whoever a new ban holds leaves the room.
    pub(crate) fn apply_rules(&self, room_key: &str, rules: RoomRules) {
        let mut st = self.lock();
        let Some(room) = st.rooms.get(room_key).cloned() else {
            return;
        };
        {
            let mut md = room.moderation();
            md.rules = rules;
            room.any_mutes.store(
                !md.rules.mutes.is_empty(),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        let bans = room.moderation().rules.bans.clone();
        let mut out = Vec::new();
        for hold in &bans {
            for (id, name) in banned_inside(&mut st, &room, hold) {
                if let Some(m) = st.members.get(&id) {
                    let why = format!("you are banned from {} {}", room.name(), hold.describe());
                    taken_out(m, &room, &why);
                }
                out.push((id, name, hold.by.clone()));
            }
        }
        drop(st);
        for (id, _, by) in out {
            self.exit(id, &room, Departure::Kicked(format!("banned by {by}")));
        }
    }

    /// A declared room's operators (account names).
    pub(super) fn declare_operators(room: &Room, operators: &[String]) {
        room.moderation().declared = operators.iter().map(|o| name_key(o)).collect();
    }

    pub(super) fn operates(&self, st: &HubState, id: MemberId, room: &Room) -> bool {
        let Some(m) = st.members.get(&id) else {
            return false;
        };
        let account = m.identity.account_key();
        let server_op = account.as_deref().is_some_and(|a| {
            self.shared
                .owners
                .get()
                .is_some_and(|o| o.server_operator(a))
        });
        let md = room.moderation();
        server_op
            || md.creator == Some(id)
            || account
                .as_deref()
                .is_some_and(|a| md.declared.contains(a) || md.rules.operator(a))
    }

    /// May `member` come into `room` (a ban, an invite-only room)?
    /// Operators always may.
    pub(super) fn may_enter(
        &self,
        id: MemberId,
        member: &Member,
        room: &Room,
    ) -> Result<(), RoomError> {
        let (mut w, key) = member.who();
        w.account = key.as_deref();
        let now = now_ms();
        let account = key.as_deref();
        let server_op = account.is_some_and(|a| {
            self.shared
                .owners
                .get()
                .is_some_and(|o| o.server_operator(a))
        });
        let md = room.moderation();
        let op = md.operates(id, account, server_op);
        if md.above_bans(id, account, server_op) {
            drop(md);
            room.operator_here();
            return Ok(());
        }
        if let Some(ban) = md.rules.ban_of(&w, now) {
            let place = match ban.by_address_only(&w) {
                true => format!(
                    ": the ban on {} holds guests from your address (log in to your own account to come in)",
                    ban.whom()
                ),
                false => String::new(),
            };
            return Err(refuse(
                codes::BANNED,
                format!(
                    "you are banned from {} {}{place}",
                    room.name(),
                    ban.describe()
                ),
            ));
        }
        if md.rules.invite_only && !md.rules.invited(&w) && !op {
            return Err(refuse(
                codes::INVITE_ONLY,
                format!(
                    "{} is invite-only: ask one of its operators for /invite {}",
                    room.name(),
                    member.name
                ),
            ));
        }
        Ok(())
    }

    /// Why member `id` may not speak in `room` (muted), if so. A room's
    /// operators are never held by its mutes (they may lift them): a mute
    /// of a guest holds the guests from its address, not the operator
    /// beside them who made it.
    pub(crate) fn muted(&self, id: MemberId, room: &Room) -> Option<String> {
        let st = self.lock();
        let m = st.members.get(&id)?;
        if self.operates(&st, id, room) {
            return None;
        }
        let (mut w, key) = m.who();
        w.account = key.as_deref();
        let md = room.moderation();
        let hold = md.rules.mute_of(&w, now_ms())?;
        Some(format!(
            "you are muted in {} {}: not sent",
            room.name(),
            hold.describe()
        ))
    }

    /// Why member `id` may not rename or say why it is away: muted in one
    /// of its rooms (its words would be shown there), if so; `stays` says
    /// what is kept instead.
    pub(crate) fn muted_anywhere(&self, id: MemberId, stays: &str) -> Option<String> {
        let st = self.lock();
        let m = st.members.get(&id)?;
        let (mut w, key) = m.who();
        w.account = key.as_deref();
        m.rooms.iter().find_map(|room| {
            if self.operates(&st, id, room) {
                return None;
            }
            let md = room.moderation();
            let hold = md.rules.mute_of(&w, now_ms())?;
            Some(format!(
                "you are muted in {} {}: {stays}",
                room.name(),
                hold.describe(),
            ))
        })
    }

    /// May member `id` set `room`'s topic?
    pub(crate) fn may_set_topic(&self, id: MemberId, room: &Room) -> Result<(), RoomError> {
        if room.any_mutes() {
            if let Some(why) = self.muted(id, room) {
                return Err(refuse(
                    codes::MUTED,
                    why.replace(": not sent", ": the topic stays"),
                ));
            }
        }
        let st = self.lock();
        if room.moderation().rules.topic_locked && !self.operates(&st, id, room) {
            return Err(refuse(
                codes::TOPIC_LOCKED,
                format!("the topic of {} is locked to its operators", room.name()),
            ));
        }
        Ok(())
    }

    /// Do what an operator asked in `room`; the words that say what was
    /// done (also told to the room when it concerns it).
    pub(crate) fn moderate(
        &self,
        actor: Actor,
        room: &Arc<Room>,
        m: &Moderate,
    ) -> Result<String, RoomError> {
        let mut st = self.lock();
        let by = match actor {
            Actor::Console => "the operator".to_string(),
            Actor::Member(id) => {
                if !self.operates(&st, id, room) {
                    return Err(refuse(
                        codes::NOT_OPERATOR,
                        format!(
                            "only an operator of {} may do that (/users marks them with @)",
                            room.name()
                        ),
                    ));
                }
                room.operator_here();
                st.members
                    .get(&id)
                    .map(|m| m.name.clone())
                    .unwrap_or_default()
            }
        };
        let keeps = !matches!(
            m.action,
            ModAction::Kick
                | ModAction::List
                | ModAction::Unknown
                | ModAction::Unban
                | ModAction::Unmute
                | ModAction::Deop
        );
        if keeps {
            room.room_for_rules()?;
        }
        let reason = m
            .reason
            .as_deref()
            .map(|r| {
                r.chars()
                    .filter(|&c| !names::is_unsafe_char(c))
                    .take(200)
                    .collect::<String>()
            })
            .filter(|r| !r.trim().is_empty());
        let target = m.target.as_deref().unwrap_or("").trim();
        let needs_target = !matches!(
            m.action,
            ModAction::InviteOnly | ModAction::TopicLock | ModAction::List | ModAction::Unknown
        );
        if needs_target && target.is_empty() {
            return Err(refuse(
                codes::BAD_PACKET,
                "say whom: a name, account:NAME or address:IP",
            ));
        }
        let until = m
            .duration
            .filter(|&d| d > 0)
            .map(|d| now_ms() + d.min(MAX_DURATION_S) * 1000);
        let said = match m.action {
            ModAction::Kick => {
                drop(st);
                let why = reason.unwrap_or_else(|| "no reason given".into());
                return match self.kick_from_by(room, target, &by, &why) {
                    Some(n) => Ok(format!("{n} was removed from {}", room.name())),
                    None => Err(refuse(
                        codes::NO_SUCH_USER,
                        format!("nobody called '{}' is in {}", sanitize(target), room.name()),
                    )),
                };
            }
            ModAction::Ban | ModAction::Mute => {
                let (targets, label) = holds_for(&st, target)?;
                let hold = Hold {
                    targets,
                    until,
                    by: by.clone(),
                    reason: reason.clone(),
                    label: Some(label),
                };
                let ban = m.action == ModAction::Ban;
                {
                    let mut md = room.moderation();
                    md.rules.prune(now_ms());
                    let list = if ban {
                        &mut md.rules.bans
                    } else {
                        &mut md.rules.mutes
                    };
                    if list.len() >= MAX_ENTRIES {
                        return Err(refuse(
                            codes::TOO_MANY_BANS,
                            format!(
                                "{} holds {MAX_ENTRIES} already, its most: lift some first",
                                if ban { "its ban list" } else { "its mute list" }
                            ),
                        ));
                    }
                    list.push(hold.clone());
                    room.save_rules(&md);
                }
                let what = if ban { "banned" } else { "muted" };
                let text = format!(
                    "{by} {what} {} in {} {}",
                    hold.whom(),
                    room.name(),
                    hold.describe()
                );
                if ban {
                    // Whoever the ban holds leaves the room now.
                    let out = banned_inside(&mut st, room, &hold);
                    let why = format!("banned by {by}");
                    for (id, name) in &out {
                        if let Some(mem) = st.members.get(id) {
                            taken_out(
                                mem,
                                room,
                                &format!("you are banned from {} {}", room.name(), hold.describe()),
                            );
                        }
                        let _ = name;
                    }
                    drop(st);
                    room.notice(
                        Packet::event("moderation", Some(&by), text.clone()).in_room(room.tag()),
                    );
                    for (id, _) in out {
                        self.exit(id, room, Departure::Kicked(why.clone()));
                    }
                    return Ok(text);
                }
                text
            }
            ModAction::Unban | ModAction::Unmute => {
                let targets = lift_targets(&st, target)?;
                let unban = m.action == ModAction::Unban;
                let mut md = room.moderation();
                let list = if unban {
                    &mut md.rules.bans
                } else {
                    &mut md.rules.mutes
                };
                let n: usize = targets.iter().map(|t| RoomRules::lift(list, t)).sum();
                if n == 0 {
                    return Err(refuse(
                        codes::NO_SUCH_USER,
                        format!(
                            "no {} in {} holds '{}'",
                            if unban { "ban" } else { "mute" },
                            room.name(),
                            sanitize(target)
                        ),
                    ));
                }
                room.save_rules(&md);
                format!(
                    "{by} lifted the {} on {} in {}",
                    if unban { "ban" } else { "mute" },
                    sanitize(target),
                    room.name()
                )
            }
            ModAction::Invite => {
                let mut keys = vec![name_key(target)];
                if let Some(a) = online(&st, target).and_then(|m| m.identity.account_key()) {
                    keys.push(a);
                }
                let mut md = room.moderation();
                if md.rules.invited.len() + keys.len() > MAX_ENTRIES {
                    return Err(refuse(
                        codes::TOO_MANY_BANS,
                        format!("{} has {MAX_ENTRIES} invitations, its most", room.name()),
                    ));
                }
                md.rules.invited.extend(keys);
                room.save_rules(&md);
                format!("{by} invited {} to {}", sanitize(target), room.name())
            }
            ModAction::Op | ModAction::Deop => {
                // The key is kept; the name as the account spells it is said.
                let (account, spelled) = match target.strip_prefix("account:") {
                    Some(a) => names::validate_name(a)
                        .map(|a| (name_key(&a), a))
                        .map_err(|e| refuse(codes::NAME_INVALID, format!("'{}' is not an account name: {e}", sanitize(a))))?,
                    None => online(&st, target)
                        .and_then(|m| Some((m.identity.account_key()?, m.identity.account.clone()?)))
                        .ok_or_else(|| refuse(
                            codes::NOT_LOGGED_IN,
                            format!("'{}' is not logged in to an account here: operators are accounts (account:NAME names one)", sanitize(target)),
                        ))?,
                };
                let mut md = room.moderation();
                let op = m.action == ModAction::Op;
                if op {
                    if md.rules.operators.len() >= MAX_ENTRIES {
                        return Err(refuse(
                            codes::TOO_MANY_BANS,
                            format!("{} has {MAX_ENTRIES} operators, its most", room.name()),
                        ));
                    }
                    md.rules.operators.insert(account.clone());
                } else if !md.rules.operators.remove(&account) {
                    return Err(refuse(
                        codes::NO_SUCH_USER,
                        format!("account {spelled} was not made an operator of {} with /op (declared operators are in the settings)", room.name()),
                    ));
                }
                room.save_rules(&md);
                format!(
                    "{by} {} account {spelled} {} {}",
                    if op { "made" } else { "took" },
                    if op {
                        "an operator of"
                    } else {
                        "off the operators of"
                    },
                    room.name()
                )
            }
            ModAction::InviteOnly | ModAction::TopicLock => {
                let on = m.on.unwrap_or(true);
                let mut md = room.moderation();
                let what = if m.action == ModAction::InviteOnly {
                    md.rules.invite_only = on;
                    if on {
                        "made {room} invite-only"
                    } else {
                        "opened {room} to everyone"
                    }
                } else {
                    md.rules.topic_locked = on;
                    if on {
                        "locked the topic of {room} to its operators"
                    } else {
                        "unlocked the topic of {room}"
                    }
                };
                room.save_rules(&md);
                format!("{by} {}", what.replace("{room}", room.name()))
            }
            ModAction::List => {
                drop(st);
                return Ok(listing(room));
            }
            ModAction::Unknown => {
                return Err(refuse(
                    codes::BAD_PACKET,
                    "an operator action this server does not know",
                ))
            }
        };
        drop(st);
        room.notice(Packet::event("moderation", Some(&by), said.clone()).in_room(room.tag()));
        Ok(said)
    }

    /// Take the member called `name` out of `room` on behalf of `by`.
    pub(crate) fn kick_from_by(
        &self,
        room: &Arc<Room>,
        name: &str,
        by: &str,
        reason: &str,
    ) -> Option<String> {
        let (id, actual) = {
            let st = self.lock();
            let m = online(&st, name)?;
            if !m.rooms.iter().any(|r| Arc::ptr_eq(r, room)) {
                return None;
            }
            let id = st.by_name.get(name)?;
            taken_out(
                m,
                room,
                &format!(
                    "removed from {} by {by}: {reason}; /join {} to come back",
                    room.name(),
                    room.name()
                ),
            );
            (id, m.name.clone())
        };
        self.exit(id, room, Departure::Kicked(format!("{reason} (by {by})")));
        Some(actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::history::HistorySetup;
    use tokio_util::sync::CancellationToken;

    fn ban(target: String) -> Moderate {
        Moderate {
            action: ModAction::Ban,
            room: None,
            target: Some(target),
            duration: Some(60),
            reason: None,
            on: None,
        }
    }

    #[test]
    fn a_flood_of_bans_stops_at_the_bound_and_a_guest_is_no_operator() {
        let hub = Hub::new(
            "#lobby",
            1 << 20,
            1024,
            CancellationToken::new(),
            HistorySetup::default(),
            Default::default(),
            None,
        );
        let room = hub.default_room().clone();
        for i in 0..MAX_ENTRIES {
            let ip = format!("address:10.{}.{}.1", i / 256, i % 256);
            hub.moderate(Actor::Console, &room, &ban(ip)).unwrap();
        }
        let refused = hub
            .moderate(Actor::Console, &room, &ban("address:192.0.2.1".into()))
            .unwrap_err();
        assert_eq!(refused.code, codes::TOO_MANY_BANS);
        assert_eq!(room.moderation().rules.bans.len(), MAX_ENTRIES);
        // A member of the default room (not its creator, no account) is no operator.
        let m = hub.connect("guest", "127.0.0.1:5000".parse().unwrap(), false);
        let refused = hub
            .moderate(Actor::Member(m.id), &room, &ban("x".into()))
            .unwrap_err();
        assert_eq!(refused.code, codes::NOT_OPERATOR);
    }

    #[test]
    fn past_the_most_rooms_with_rules_a_new_rooms_ban_is_refused_with_its_reason() {
        let hub = Hub::new(
            "#lobby",
            1 << 20,
            1024,
            CancellationToken::new(),
            HistorySetup::default(),
            Default::default(),
            None,
        );
        let d = tempfile::tempdir().unwrap();
        let accounts = crate::server::accounts::Accounts::open(
            &d.path().join("a.sqlite3"),
            crate::config::Registration::Closed,
            &[],
            &[],
        )
        .unwrap()
        .with_rules_cap(1);
        hub.set_owners(Arc::new(accounts));
        let lobby = hub.default_room().clone();
        hub.moderate(Actor::Console, &lobby, &ban("address:192.0.2.1".into()))
            .unwrap();
        let m = hub.connect("guest", "127.0.0.1:5000".parse().unwrap(), false);
        hub.enter(m.id, "#two", &crate::config::Limits::default())
            .unwrap();
        let two = hub.find("#two").unwrap();
        let refused = hub
            .moderate(Actor::Console, &two, &ban("address:192.0.2.2".into()))
            .unwrap_err();
        assert_eq!(refused.code, codes::TOO_MANY_BANS);
        assert!(
            refused.message.contains("10000 rooms"),
            "{}",
            refused.message
        );
        // The room that has rules still changes them.
        hub.moderate(Actor::Console, &lobby, &ban("address:192.0.2.3".into()))
            .unwrap();
    }
}
