//! Whom an operator's words hold: a name, `account:NAME` or `address:…`
//! turned into a ban's or mute's targets (with the member's account,
//! certificate and the guests from its address when it is here), who a
//! new ban takes out, how a muted member's leaving is told, and `/bans`
//! in words. Nothing here changes a room: [`super::moderate`] does.

use std::net::IpAddr;
use std::sync::Arc;

use super::hub::{HubState, Member};
use super::rules::{Hold, RoomRules, Target};
use super::{MemberId, Room, RoomError};
use crate::names::{self, name_key, sanitize};
use crate::protocol::{codes, now_ms};

pub(super) fn refuse(code: &'static str, message: impl Into<String>) -> RoomError {
    RoomError::new(code, message)
}

pub(super) fn online<'a>(st: &'a HubState, name: &str) -> Option<&'a Member> {
    st.members.get(&st.by_name.get(name)?)
}

/// What a ban or mute of `target` holds: `account:NAME`, `address:IP` or
/// `address:NAME` (that member's address), or a name — with its account,
/// certificate and the guests from its address when that member is here —
/// and whom it names, as spelled (the member's own spelling when here).
pub(super) fn holds_for(st: &HubState, target: &str) -> Result<(Vec<Target>, String), RoomError> {
    let label = |t: &[Target]| match (
        online(st, target.strip_prefix("address:").unwrap_or(target)),
        t.first(),
    ) {
        (Some(m), Some(Target::Address(ip))) => format!("address:{ip} ({})", m.name),
        (Some(m), _) if !target.starts_with("account:") => m.name.clone(),
        _ => match t.first() {
            Some(Target::Name(_)) | None => sanitize(target).into_owned(),
            Some(first) => first.shown(),
        },
    };
    let targets = targets_of(st, target)?;
    let label = label(&targets);
    Ok((targets, label))
}

fn targets_of(st: &HubState, target: &str) -> Result<Vec<Target>, RoomError> {
    if let Some(a) = target.strip_prefix("account:") {
        let a = names::validate_name(a).map_err(|e| {
            refuse(
                codes::NAME_INVALID,
                format!("'{}' is not an account name: {e}", sanitize(a)),
            )
        })?;
        return Ok(vec![Target::Account(name_key(&a))]);
    }
    if let Some(a) = target.strip_prefix("address:") {
        if let Ok(ip) = a.parse::<IpAddr>() {
            return Ok(vec![Target::Address(ip)]);
        }
        return match online(st, a) {
            Some(m) => Ok(vec![
                Target::Address(m.addr.ip()),
                Target::Name(name_key(&m.name)),
            ]),
            None => Err(refuse(
                codes::NO_SUCH_USER,
                format!(
                    "'{}' is neither an IP address nor someone here",
                    sanitize(a)
                ),
            )),
        };
    }
    let name = names::validate_name(target).map_err(|e| {
        refuse(
            codes::NAME_INVALID,
            format!("'{}' is not a name: {e}", sanitize(target)),
        )
    })?;
    let mut t = vec![Target::Name(name_key(&name))];
    if let Some(m) = online(st, &name) {
        t.push(Target::GuestsFrom(m.addr.ip()));
        if let Some(a) = m.identity.account_key() {
            t.push(Target::Account(a));
        }
        if let Some(c) = &m.identity.cert {
            t.push(Target::Cert(c.clone()));
        }
    }
    Ok(t)
}

/// What `/unban` or `/unmute` of `target` lifts: every hold that names it.
pub(super) fn lift_targets(st: &HubState, target: &str) -> Result<Vec<Target>, RoomError> {
    if let Some(a) = target.strip_prefix("address:") {
        if let Ok(ip) = a.parse::<IpAddr>() {
            return Ok(vec![Target::Address(ip)]);
        }
    }
    // A member's place is not theirs alone: lifting their ban lifts what
    // holds them, not every other ban on guests from there.
    let mut t = targets_of(st, target)?;
    t.retain(|t| !matches!(t, Target::GuestsFrom(_)));
    Ok(t)
}

/// Members in `room` that `hold` keeps out (operators too: a ban is a ban).
pub(super) fn banned_inside(
    st: &mut HubState,
    room: &Arc<Room>,
    hold: &Hold,
) -> Vec<(MemberId, String)> {
    let now = now_ms();
    let rules = RoomRules {
        bans: vec![hold.clone()],
        ..Default::default()
    };
    let md = room.moderation();
    let owners = room.shared.owners.get();
    st.members
        .iter()
        .filter(|(_, m)| m.rooms.iter().any(|r| Arc::ptr_eq(r, room)))
        .filter(|(id, m)| {
            let (mut w, key) = m.who();
            w.account = key.as_deref();
            let server_op = key
                .as_deref()
                .is_some_and(|a| owners.is_some_and(|o| o.server_operator(a)));
            // A ban never takes out the member who made it (a guest's ban
            // holds the guests from an address: its own too), nor an
            // operator above the room's bans.
            rules.ban_of(&w, now).is_some()
                && hold.by != m.name
                && !md.above_bans(**id, key.as_deref(), server_op)
        })
        .map(|(id, m)| (*id, m.name.clone()))
        .collect()
}

/// `/bans`: the room's operators, modes, bans and mutes, in words.
pub(super) fn listing(room: &Room) -> String {
    let mut md = room.moderation();
    if md.rules.prune(now_ms()) {
        room.save_rules(&md);
    }
    let r = &md.rules;
    let mut ops: Vec<String> = md
        .declared
        .iter()
        .chain(&r.operators)
        .chain(&r.maker)
        .cloned()
        .collect();
    ops.sort();
    ops.dedup();
    let mut out = format!(
        "{}: operators {}; {}; topic {}",
        room.name(),
        if ops.is_empty() {
            "(its creator only)".into()
        } else {
            ops.join(", ")
        },
        if r.invite_only {
            "invite-only"
        } else {
            "open to everyone"
        },
        if r.topic_locked { "locked" } else { "open" },
    );
    for (what, list) in [("ban", &r.bans), ("mute", &r.mutes)] {
        if list.is_empty() {
            out.push_str(&format!("; no {what}s"));
        }
        for h in list.iter().take(50) {
            out.push_str(&format!("; {what} {} {}", h.whom(), h.describe()));
        }
    }
    out
}
