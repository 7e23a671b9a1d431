//! What the session sends, as IRC lines: chat and history as PRIVMSG
//! (with `time` and `msgid` tags where asked for; history in a
//! `chathistory` batch where batches were asked for), joins, leaves,
//! renames and topics as JOIN, PART/QUIT, NICK and TOPIC, answers as their
//! numerics, refusals as the numerics IRC has for them (or a NOTICE that
//! says what happened). Text from tcpplay never carries a raw `\x01` (no
//! CTCP can be forged through it), NUL, CR or LF: lines are split, the
//! rest dropped; long lines are cut into several within 512 bytes.

use super::state::{Asked, Cap, State, SERVER};
use crate::protocol::irc::{Message, MAX_BODY};
use crate::protocol::{AuthResult, Chat, Dm, Packet, RoomInfo, Rooms, Users};

/// Handle one packet from the session.
pub(super) fn packet(st: &mut State, p: Packet) {
    match p {
        Packet::AuthResult(r) => auth_result(st, r),
        Packet::Chat(c) => said(st, c, false),
        Packet::History(c) => said(st, c, true),
        Packet::HistoryEnd(_) => end_batch(st),
        Packet::Dm(d) => dm(st, d),
        Packet::System(s) => super::events::system(st, s),
        Packet::Error(e) => super::refusals::error(st, e),
        Packet::Joined(r) => joined(st, r),
        Packet::Parted(r) => {
            let me = st.me.clone().unwrap_or_default();
            let prefix = st.prefix_of(&me);
            if st.channels.remove(&r.room).is_none() {
                return; // a KICK said it already
            }
            let mut params = vec![r.room];
            params.extend(r.reason);
            st.send(Message::new(Some(&prefix), "PART", params));
        }
        Packet::Users(u) => users(st, u),
        Packet::Rooms(r) => rooms(st, r),
        Packet::Bye(b) => {
            st.send(Message::new(
                None,
                "ERROR",
                vec![format!("Closing link: {}", b.reason)],
            ));
        }
        Packet::Ping(p) => {
            let token = p.token.unwrap_or_default().to_string();
            st.send(Message::new(None, "PING", vec![token]));
        }
        Packet::Account(a) => {
            let text = a.text.unwrap_or_default();
            st.notice(&text);
        }
        _ => {}
    }
}

fn auth_result(st: &mut State, r: AuthResult) {
    st.reg.auth_sent = false;
    match (r.ok, r.client_name) {
        (true, Some(name)) => {
            super::welcome::welcome(st, &name);
            // What the client sent before registration was answered.
            for m in std::mem::take(&mut st.held) {
                super::table::dispatch(st, &m);
            }
        }
        _ => {
            st.held.clear();
            let nick = st.reg.nick.take().unwrap_or_else(|| "*".into());
            let why = r.reason.unwrap_or_default();
            match r.code.as_deref() {
                Some("name_invalid") => st.numeric("432", &[&nick, &why]),
                _ => st.numeric("433", &[&nick, &why]),
            }
            st.notice(&why);
            if r.code.as_deref() == Some("name_registered") {
                st.notice("an IRC client cannot log in to a tcpplay account by password (its OPAQUE login has no SASL mechanism): pick another nick, use tcpplay join for the account, or a client certificate bound to it (SASL EXTERNAL, on a server with --client-ca)");
            }
        }
    }
}

/// `ts` (ms since the epoch) as IRCv3 `server-time` writes it.
pub(super) fn iso_time(ts: u64) -> Option<String> {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts) * 1_000_000).ok()?;
    at.format(&fmt).ok()
}

/// Text for IRC: one string per line of it, no `\x01`, NUL or CR.
fn lines_of(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split('\n')
        .map(|l| {
            l.chars()
                .filter(|c| !matches!(c, '\u{1}' | '\0' | '\r'))
                .collect::<String>()
        })
        .filter(|l| !l.is_empty())
}

/// `text` in pieces of at most `room` bytes, cut between characters.
fn pieces(text: &str, room: usize) -> Vec<&str> {
    let room = room.max(4);
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > room {
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out.push(rest);
    out
}

/// PRIVMSG lines for `text` from `prefix` to `target`, with `tags`.
pub(super) fn privmsg(
    st: &mut State,
    prefix: &str,
    target: &str,
    text: &str,
    action: bool,
    tags: Vec<(String, Option<String>)>,
) {
    let overhead =
        prefix.len() + target.len() + " PRIVMSG  :\r\n::".len() + if action { 9 } else { 0 };
    for line in lines_of(text) {
        for piece in pieces(&line, MAX_BODY - overhead) {
            let body = match action {
                true => format!("\u{1}ACTION {piece}\u{1}"),
                false => piece.to_string(),
            };
            let mut m = Message::new(Some(prefix), "PRIVMSG", vec![target.to_string(), body]);
            m.tags = tags.clone();
            st.send(m);
        }
    }
}

/// The tags of a line with `id` and `ts`, as far as the client asked;
/// `live_from`: the sender of a live line, whose account (if it logged in
/// to one on this server) `account-tag` names.
fn tags_for(
    st: &mut State,
    id: Option<u64>,
    ts: Option<u64>,
    live_from: Option<&str>,
) -> Vec<(String, Option<String>)> {
    let mut tags = Vec::new();
    let account = match live_from {
        Some(n) if st.has(Cap::AccountTag) => st.account_of(n),
        _ => None,
    };
    if let Some(a) = account {
        tags.push(("account".to_string(), Some(a)));
    }
    if let Some(b) = &st.batch {
        tags.push(("batch".to_string(), Some(b.0.clone())));
    }
    if let (true, Some(t)) = (st.has(Cap::ServerTime), ts.and_then(iso_time)) {
        tags.push(("time".into(), Some(t)));
    }
    if let (true, Some(id)) = (st.has(Cap::MessageTags), id) {
        tags.push(("msgid".into(), Some(id.to_string())));
    }
    tags
}

/// A chat line, live or from the history.
fn said(st: &mut State, c: Chat, history: bool) {
    let room = st.room_or_default(c.room.as_deref());
    let from = c.from.unwrap_or_default();
    if !history && Some(&from) == st.me.as_ref() && !st.has(Cap::EchoMessage) {
        return;
    }
    if history && st.batch.is_none() && st.has(Cap::Batch) {
        st.batches += 1;
        let id = format!("h{}", st.batches);
        st.send(Message::new(
            Some(SERVER),
            "BATCH",
            vec![format!("+{id}"), "chathistory".into(), room.clone()],
        ));
        st.batch = Some((id, room.clone()));
    }
    let tags = tags_for(st, c.id, c.ts, (!history).then_some(from.as_str()));
    let prefix = st.prefix_of(&from);
    let text = c.text.unwrap_or_default();
    privmsg(st, &prefix, &room, &text, c.action, tags);
}

fn end_batch(st: &mut State) {
    if let Some((id, _)) = st.batch.take() {
        st.send(Message::new(Some(SERVER), "BATCH", vec![format!("-{id}")]));
    }
}

fn dm(st: &mut State, d: Dm) {
    let me = st.me.clone().unwrap_or_default();
    let from = d.from.unwrap_or_default();
    let tags = tags_for(st, None, d.ts, Some(from.as_str()));
    let text = d.text.unwrap_or_default();
    if from == me {
        if st.has(Cap::EchoMessage) {
            let prefix = st.prefix_of(&me);
            let to = st.nicks.nick_of(&d.to);
            privmsg(st, &prefix, &to, &text, d.action, tags);
        }
        return;
    }
    let prefix = st.prefix_of(&from);
    let to = st.nicks.nick_of(&me);
    privmsg(st, &prefix, &to, &text, d.action, tags);
}

fn joined(st: &mut State, r: RoomInfo) {
    let me = st.me.clone().unwrap_or_default();
    st.channels.insert(r.room.clone(), r.topic.clone());
    let join = st.join_line(&me, &r.room);
    st.send(join);
    if let Some(t) = r.topic {
        st.numeric("332", &[&r.room, &t]);
    }
    // The names as the session's `users` answer would give them, read
    // here so a JOIN costs one token of the chat rate, as a member's join does.
    let hub = st.ctx.hub.clone();
    if let Ok(room) = hub.find(&r.room) {
        let (users, total) = hub.users(&room);
        let u = Users {
            users,
            total: Some(total),
            room: Some(r.room),
        };
        names_reply(st, u, Asked::Names);
    }
}

/// The answer to `users`: NAMES (353, 366) or WHO (352, 315).
fn users(st: &mut State, u: Users) {
    let room = st.room_or_default(u.room.as_deref());
    let at = st.asked.iter().position(|(_, r)| *r == room);
    let asked = at
        .and_then(|i| st.asked.remove(i))
        .map_or(Asked::Names, |(a, _)| a);
    names_reply(st, u, asked);
}

fn names_reply(st: &mut State, u: Users, asked: Asked) {
    let room = st.room_or_default(u.room.as_deref());
    let mut names = Vec::new();
    for info in &u.users {
        let nick = st.nicks.nick_of(&info.name);
        let op = if info.op { "@" } else { "" };
        if asked == Asked::Who {
            let here = if info.away.is_some() { "G" } else { "H" };
            let flags = format!("{here}{op}");
            st.numeric(
                "352",
                &[
                    &room,
                    "u",
                    "tcpplay",
                    SERVER,
                    &nick,
                    &flags,
                    &format!("0 {}", info.name),
                ],
            );
        }
        names.push(format!("{op}{nick}"));
    }
    if asked == Asked::Who {
        st.numeric("315", &[&room, "End of WHO list"]);
        return;
    }
    let mut line = String::new();
    for n in names {
        if line.len() + n.len() > 400 {
            st.numeric("353", &["=", &room, &line]);
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&n);
    }
    if !line.is_empty() {
        st.numeric("353", &["=", &room, &line]);
    }
    st.numeric("366", &[&room, "End of /NAMES list"]);
}

fn rooms(st: &mut State, r: Rooms) {
    st.numeric("321", &["Channel", "Users  Name"]);
    for room in r.rooms {
        let total = room.total.to_string();
        let topic = room.topic.unwrap_or_default();
        st.numeric("322", &[&room.room, &total, &topic]);
    }
    st.numeric("323", &["End of /LIST"]);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::protocol::irc::parse;
    use crate::server::Ctx;

    #[tokio::test]
    async fn long_and_multi_line_text_leaves_as_lines_within_512_bytes_without_forged_ctcp() {
        let mut st = State::new(Arc::new(Ctx::for_tests()));
        let text = format!(
            "{}\nsecond\u{1}VERSION\u{1}\r\n\n{}",
            "é".repeat(700),
            "x".repeat(600)
        );
        privmsg(
            &mut st,
            "Ann_teacher|vrtg!u@tcpplay",
            "#lobby",
            &text,
            true,
            vec![("time".into(), Some("t".into()))],
        );
        let out = String::from_utf8(st.out.to_vec()).unwrap();
        let mut said = String::new();
        for line in out.split_inclusive("\r\n") {
            let body = line.split_once(' ').unwrap().1;
            assert!(body.len() <= MAX_BODY, "{} bytes: {line}", body.len());
            let m = parse(line.trim_end_matches("\r\n").as_bytes()).unwrap();
            let p = m.params[1]
                .strip_prefix("\u{1}ACTION ")
                .unwrap()
                .strip_suffix('\u{1}')
                .unwrap();
            assert!(!p.contains('\u{1}'), "{line}");
            said.push_str(p);
        }
        assert_eq!(
            said,
            format!("{}secondVERSION{}", "é".repeat(700), "x".repeat(600))
        );
    }

    #[test]
    fn server_time_is_written_as_ircv3_says() {
        assert_eq!(
            iso_time(1_700_000_000_123).as_deref(),
            Some("2023-11-14T22:13:20.123Z")
        );
    }
}
