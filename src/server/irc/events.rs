//! A room's `system` events as IRC shows them: a join is JOIN, a member
//! leaving a room PART, a member leaving the server QUIT (once, however
//! many rooms it shared), a rename NICK (once), a topic TOPIC, a removal
//! by the operator KICK; what IRC has no line for (a room's message, a
//! moderation, a coalesced burst of joins) is a NOTICE in the channel.

use super::state::{Cap, State, SERVER};
use crate::protocol::irc::Message;
use crate::protocol::System;

pub(super) fn system(st: &mut State, s: System) {
    let room = st.room_or_default(s.room.as_deref());
    let me = st.me.clone().unwrap_or_default();
    let name = s.name.clone().unwrap_or_default();
    match (s.event.as_deref(), s.name.is_some()) {
        (Some("join"), true) if name != me => {
            st.quit.retain(|n| n != &name);
            let join = st.join_line(&name, &room);
            st.send(join);
            let prefix = st.prefix_of(&name);
            // away-notify: an away member's JOIN is followed by its AWAY.
            if let Some((_, why)) = st
                .ctx
                .hub
                .away_of(&name)
                .filter(|_| st.has(Cap::AwayNotify))
            {
                st.send(Message::new(Some(&prefix), "AWAY", vec![why]));
            }
        }
        (Some("join"), true) => {}
        (Some("leave"), true) => leave(st, &room, &name, &s.text),
        (Some("kick"), true) => {
            // Out of this room (by a room operator or the server's): KICK.
            let nick = st.nicks.nick_of(&name);
            if name == me {
                st.channels.remove(&room);
            }
            st.send(Message::new(Some(SERVER), "KICK", vec![room, nick, s.text]));
        }
        (Some("rename"), true) => rename(st, &name, s.new_name.as_deref().unwrap_or_default()),
        (Some(e @ ("away" | "back" | "away_reply")), true) => away(st, e, &name, &s.text),
        (Some("topic"), true) => {
            let topic = s
                .text
                .strip_prefix(&format!("{name} set the topic of {room}: "))
                .unwrap_or_default()
                .to_string();
            st.channels
                .insert(room.clone(), Some(topic.clone()).filter(|t| !t.is_empty()));
            let prefix = st.prefix_of(&name);
            st.send(Message::new(Some(&prefix), "TOPIC", vec![room, topic]));
        }
        // The server's message of the day came in the welcome (375–376).
        (Some("motd"), _) if s.room.is_none() => {}
        _ => {
            let target = if st.channels.contains_key(&room) {
                room
            } else {
                st.nick()
            };
            st.send(Message::new(Some(SERVER), "NOTICE", vec![target, s.text]));
        }
    }
}

/// "NAME left #ROOM (WHY)" is a PART; "NAME left (WHY)" and
/// "NAME disconnected." end the member's connection: one QUIT.
fn leave(st: &mut State, room: &str, name: &str, text: &str) {
    let prefix = st.prefix_of(name);
    let parted = format!("{name} left {room}");
    if let Some(rest) = text.strip_prefix(&parted) {
        let why = rest
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .to_string();
        let mut params = vec![room.to_string()];
        if !why.is_empty() {
            params.push(why);
        }
        st.send(Message::new(Some(&prefix), "PART", params));
        return;
    }
    let why = match text.strip_prefix(&format!("{name} left (")) {
        Some(r) => r.strip_suffix(')').unwrap_or(r).to_string(),
        None => "Disconnected".to_string(),
    };
    if !st.quit.iter().any(|n| n == name) {
        if st.quit.len() >= 64 {
            st.quit.remove(0);
        }
        st.quit.push(name.to_string());
        st.send(Message::new(
            Some(&prefix),
            "QUIT",
            vec![format!("Quit: {why}")],
        ));
    }
    st.nicks.forget(name);
}

/// Away and back: the member's own as 306/305 (answering its AWAY), another's
/// as AWAY to a client with `away-notify` (once, however many rooms say it);
/// the answer to a direct message to an away member as 301.
fn away(st: &mut State, event: &str, name: &str, text: &str) {
    let why = text
        .strip_prefix(&format!("{name} is away: "))
        .map(str::to_string);
    let nick = st.nicks.nick_of(name);
    if event == "away_reply" {
        st.numeric("301", &[&nick, why.as_deref().unwrap_or_default()]);
        return;
    }
    if st.me.as_deref() == Some(name) {
        if std::mem::take(&mut st.away_asked) {
            match why {
                Some(_) => st.numeric("306", &["You have been marked as being away"]),
                None => st.numeric("305", &["You are no longer marked as being away"]),
            }
        }
        return;
    }
    let change = (name.to_string(), why);
    if !st.has(Cap::AwayNotify) || st.last_away.as_ref() == Some(&change) {
        return;
    }
    let prefix = st.prefix_of(name);
    st.send(Message::new(
        Some(&prefix),
        "AWAY",
        change.1.iter().cloned().collect(),
    ));
    st.last_away = Some(change);
}

fn rename(st: &mut State, old: &str, new: &str) {
    let pair = (old.to_string(), new.to_string());
    if st.last_rename.as_ref() == Some(&pair) {
        return;
    }
    st.last_rename = Some(pair);
    let prefix = st.prefix_of(old);
    st.nicks.forget(old);
    if st.me.as_deref() == Some(old) {
        st.me = Some(new.to_string());
    }
    let nick = st.nicks.nick_of(new);
    st.send(Message::new(Some(&prefix), "NICK", vec![nick]));
}
