//! `MODE` on tcpplay's room rules. `MODE #room` answers the room's real
//! modes (`+i` invite-only, `+t` topic lock); `MODE #room b` lists its
//! bans (367/368) to its operators, as `/bans` does. Changes are the
//! operator's `moderate` actions, so the session's rules decide: `±o` an
//! operator (an account's), `±b` ban or unban (`nick!*@*` a name,
//! `*!*@IP` an address, `$a:NAME` an account), `±i`, `±t`, and tcpplay's
//! mutes as voice in a moderated room: `-v nick` mutes, `+v nick` lifts
//! it. tcpplay has no room-wide moderation, so `±m` is refused (472), as
//! is any mode tcpplay has no rule for; user modes are none (221 `+`, 501).

use super::commands::{moderate, set_mode};
use super::state::State;
use crate::protocol::irc::Message;
use crate::protocol::{now_ms, ModAction};
use crate::server::room::rules::Target;

pub(super) fn mode(st: &mut State, m: &Message) {
    let target = m.params[0].clone();
    if !target.starts_with('#') {
        match m.param(1) {
            None => st.numeric("221", &["+"]),
            Some(_) => st.numeric("501", &["Unknown MODE flag: tcpplay has no user modes"]),
        }
        return;
    }
    let Some(changes) = m.param(1) else {
        return room_modes(st, &target);
    };
    let mut args = m.params.iter().skip(2);
    let mut on = true;
    for c in changes.chars() {
        match c {
            '+' => on = true,
            '-' => on = false,
            'b' => match args.next() {
                None => ban_list(st, &target),
                Some(mask) => {
                    let who = whom_of(st, mask);
                    let action = if on { ModAction::Ban } else { ModAction::Unban };
                    moderate(st, action, &target, Some(who), None);
                }
            },
            'o' | 'v' => {
                if let Some(nick) = args.next() {
                    let name = st.nicks.name_of(nick);
                    let action = match (c, on) {
                        ('o', true) => ModAction::Op,
                        ('o', false) => ModAction::Deop,
                        (_, true) => ModAction::Unmute,
                        (_, false) => ModAction::Mute,
                    };
                    moderate(st, action, &target, Some(name), None);
                }
            }
            'i' => set_mode(st, ModAction::InviteOnly, &target, on),
            't' => set_mode(st, ModAction::TopicLock, &target, on),
            'm' => st.numeric(
                "472",
                &[
                    "m",
                    "tcpplay has no room-wide moderation: mute members one by one (-v nick)",
                ],
            ),
            other => {
                let c = other.to_string();
                st.numeric(
                    "472",
                    &[&c, "is not a mode tcpplay has (b, i, o, t and v are)"],
                );
            }
        }
    }
}

/// A ban mask as tcpplay's target: `$a:NAME` an account, `*!*@IP` an
/// address, `nick!…` the member shown under that nick.
fn whom_of(st: &State, mask: &str) -> String {
    if let Some(account) = mask.strip_prefix("$a:") {
        return format!("account:{}", st.nicks.name_of(account));
    }
    let (nick, host) = mask.split_once('@').unwrap_or((mask, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return format!("address:{host}");
    }
    st.nicks.name_of(nick.split('!').next().unwrap_or(nick))
}

/// 324: the room's real modes (anyone may ask: its refusals say them too).
fn room_modes(st: &mut State, chan: &str) {
    let Ok(room) = st.ctx.hub.find(chan) else {
        st.numeric("403", &[chan, "No such channel"]);
        return;
    };
    let (invite_only, topic_locked) = {
        let md = room.moderation();
        (md.rules.invite_only, md.rules.topic_locked)
    };
    let mut modes = "+".to_string();
    if invite_only {
        modes.push('i');
    }
    if topic_locked {
        modes.push('t');
    }
    st.numeric("324", &[room.name(), &modes]);
}

/// 367 for each ban in force, then 368 — to the room's operators; others
/// get 368 alone, saying why (tcpplay shows bans to operators only).
fn ban_list(st: &mut State, chan: &str) {
    let Ok(room) = st.ctx.hub.find(chan) else {
        st.numeric("403", &[chan, "No such channel"]);
        return;
    };
    let me = st.me.clone().unwrap_or_default();
    let (users, _) = st.ctx.hub.users(&room);
    if !users.iter().any(|u| u.op && u.name == me) {
        let why = "End of channel ban list (tcpplay shows a room's bans to its operators only)";
        st.numeric("368", &[room.name(), why]);
        return;
    }
    let now = now_ms();
    let bans: Vec<(Target, Option<String>)> = {
        let md = room.moderation();
        md.rules
            .bans
            .iter()
            .filter(|h| h.until.is_none_or(|u| u > now))
            .filter_map(|h| Some((h.targets.first()?.clone(), h.label.clone())))
            .collect()
    };
    for (target, label) in bans {
        if let Some(mask) = mask_of(st, &target, label.as_deref()) {
            st.numeric("367", &[room.name(), &mask]);
        }
    }
    st.numeric("368", &[room.name(), "End of channel ban list"]);
}

/// A ban's first target as an IRC mask (a name's as the operator spelled
/// it, by its nick).
fn mask_of(st: &mut State, t: &Target, label: Option<&str>) -> Option<String> {
    Some(match t {
        Target::Name(key) => format!("{}!*@*", st.nicks.nick_of(label.unwrap_or(key))),
        Target::Account(key) => {
            let account = label.map_or(key.as_str(), |l| l.strip_prefix("account:").unwrap_or(l));
            format!("$a:{}", st.nicks.nick_of(account))
        }
        Target::Address(ip) | Target::GuestsFrom(ip) => format!("*!*@{ip}"),
        Target::Cert(_) => return None,
    })
}
