//! What an IRC client says, as the session's packets: one handler per
//! command of the table (`table.rs`). Registration (`CAP`, `NICK`,
//! `USER`, `PASS`) ends in the session's own `auth`; after it, every
//! request a member can make is the packet a `tcpplay join` member would
//! send, so the session's rules (rate, names, rooms, operators) decide.
//! Unknown commands get 421, the rest their numerics.

use super::nick::is_nick;
use super::state::{Asked, Cap, State, SERVER};
use crate::protocol::irc::Message;
use crate::protocol::{
    Auth, Away, Bye, Chat, Dm, ModAction, Moderate, Nick, Packet, Ping, RoomRequest, Rooms, Topic,
    Users,
};

pub(super) fn nick(st: &mut State, m: &Message) {
    let Some(new) = m.param(0).filter(|n| !n.is_empty()) else {
        st.numeric("431", &["No nickname given"]);
        return;
    };
    if !is_nick(new) {
        st.numeric("432", &[new, "Erroneous nickname: letters, digits and -_[]\\`^{}| only, not starting with a digit or -, at most 24"]);
        return;
    }
    if st.me.is_some() {
        st.stage(&Packet::Nick(Nick {
            name: new.to_string(),
        }));
        return;
    }
    if st.ctx.hub.holds(new) {
        st.numeric(
            "433",
            &[
                new,
                "Nickname is already in use (by a member of this server)",
            ],
        );
        return;
    }
    st.reg.nick = Some(new.to_string());
    try_register(st);
}

pub(super) fn user(st: &mut State, m: &Message) {
    if st.me.is_some() || st.reg.user.is_some() {
        st.numeric("462", &["You may not reregister"]);
        return;
    }
    st.reg.user = Some(m.params[3].clone());
    try_register(st);
}

/// Server passwords are not used: tcpplay has none. Accounts log in
/// with their own proof, never through PASS.
pub(super) fn pass(st: &mut State, _m: &Message) {
    if st.me.is_some() {
        st.numeric("462", &["You may not reregister"]);
    }
}

/// Once NICK and USER are in and CAP negotiation (if any) has ended, ask
/// the session for the name: the session's `auth` decides.
pub(super) fn try_register(st: &mut State) {
    if st.reg.auth_sent || st.reg.cap_hold || st.reg.user.is_none() || st.me.is_some() {
        return;
    }
    let Some(nick) = st.reg.nick.clone() else {
        return;
    };
    // Logged in by SASL: the account's name is the name asked for.
    let name = match &st.sasl {
        super::state::Sasl::Done(account) => account.clone(),
        _ => nick,
    };
    if st.ctx.secure.is_some() {
        super::welcome::refuse_secure(st);
        return;
    }
    st.reg.auth_sent = true;
    let signin = st.signin.take().map(Box::new);
    st.stage(&Packet::Auth(Auth {
        name,
        proto: Some(crate::protocol::PROTO_VERSION),
        signin,
        ..Default::default()
    }));
}

pub(super) fn ping(st: &mut State, m: &Message) {
    let token = m.params[0].clone();
    st.send(Message::new(
        Some(SERVER),
        "PONG",
        vec![SERVER.into(), token],
    ));
}

/// The answer to the session's `ping` (its token is a number).
pub(super) fn pong(st: &mut State, m: &Message) {
    let token = m.params.last().and_then(|t| t.parse().ok());
    if token.is_some() {
        st.stage(&Packet::Pong(Ping { token }));
    }
}

pub(super) fn quit(st: &mut State, m: &Message) {
    let reason = m
        .param(0)
        .filter(|r| !r.trim().is_empty())
        .map(str::to_string);
    if st.me.is_some() {
        st.stage(&Packet::Bye(Bye {
            reason: reason.clone().unwrap_or_default(),
            code: None,
        }));
    }
    let why = reason.unwrap_or_else(|| "Client Quit".into());
    st.send(Message::new(
        None,
        "ERROR",
        vec![format!("Closing link: {why}")],
    ));
    st.ended = true;
}

pub(super) fn join(st: &mut State, m: &Message) {
    if m.params[0] == "0" {
        let rooms: Vec<String> = st.channels.keys().cloned().collect();
        for room in rooms {
            st.stage(&Packet::Part(RoomRequest { room, reason: None }));
        }
        return;
    }
    let most = st.ctx.limits().max_rooms_per_member;
    for (i, chan) in m.params[0].split(',').filter(|c| !c.is_empty()).enumerate() {
        if !chan.starts_with('#') {
            st.numeric(
                "403",
                &[chan, "No such channel: tcpplay's channels start with #"],
            );
        } else if i >= most {
            st.numeric(
                "405",
                &[
                    chan,
                    "You have joined too many channels (limits.max_rooms_per_member)",
                ],
            );
        } else if !st.channels.contains_key(&chan.to_lowercase()) {
            st.stage(&Packet::Join(RoomRequest {
                room: chan.to_string(),
                reason: None,
            }));
        }
    }
}

pub(super) fn part(st: &mut State, m: &Message) {
    let reason = m.param(1).filter(|r| !r.is_empty()).map(str::to_string);
    for chan in m.params[0].split(',').filter(|c| !c.is_empty()) {
        st.stage(&Packet::Part(RoomRequest {
            room: chan.to_string(),
            reason: reason.clone(),
        }));
    }
}

/// PRIVMSG and NOTICE: to a channel a chat line, to a nick a DM; CTCP
/// ACTION is `/me`, other CTCP is not relayed (tcpplay members cannot answer it).
pub(super) fn privmsg(st: &mut State, m: &Message) {
    let notice = m.command == "NOTICE";
    let (Some(target), Some(text)) = (m.param(0), m.param(1)) else {
        if !notice {
            let code = if m.params.is_empty() { "411" } else { "412" };
            st.numeric(code, &["No recipient or no text to send"]);
        }
        return;
    };
    if target.contains(',') {
        st.numeric("407", &[target, "Too many targets: one per message"]);
        return;
    }
    let (text, action) = match text.strip_prefix('\u{1}') {
        Some(ctcp) => {
            let ctcp = ctcp.strip_suffix('\u{1}').unwrap_or(ctcp);
            match ctcp.strip_prefix("ACTION ") {
                Some(a) => (a, true),
                None => {
                    if !notice {
                        st.notice(
                            "CTCP requests are not relayed: tcpplay members cannot answer them",
                        );
                    }
                    return;
                }
            }
        }
        None => (text, false),
    };
    let seq = Some(st.seq_for(target));
    let packet = if target.starts_with('#') {
        Packet::Chat(Chat {
            text: Some(text.into()),
            room: Some(target.into()),
            action,
            seq,
            ..Default::default()
        })
    } else {
        let to = st.nicks.name_of(target);
        Packet::Dm(Dm {
            to,
            text: Some(text.into()),
            action,
            seq,
            ..Default::default()
        })
    };
    st.stage(&packet);
}

pub(super) fn topic(st: &mut State, m: &Message) {
    let chan = m.params[0].to_lowercase();
    match m.param(1) {
        Some(text) => st.stage(&Packet::Topic(Topic {
            room: chan,
            text: text.into(),
        })),
        None => match st.channels.get(&chan).cloned() {
            None => st.numeric("442", &[&chan, "You're not on that channel"]),
            Some(Some(t)) => st.numeric("332", &[&chan, &t]),
            Some(None) => st.numeric("331", &[&chan, "No topic is set"]),
        },
    }
}

pub(super) fn ask_users(st: &mut State, room: &str, asked: Asked) {
    if st.asked.len() >= 64 {
        st.asked.pop_front();
    }
    st.asked.push_back((asked, room.to_lowercase()));
    st.stage(&Packet::Users(Users {
        room: Some(room.to_string()),
        ..Default::default()
    }));
}

pub(super) fn names(st: &mut State, m: &Message) {
    match m.param(0) {
        Some(chans) => chans
            .split(',')
            .filter(|c| c.starts_with('#'))
            .for_each(|c| ask_users(st, c, Asked::Names)),
        None => st.numeric("366", &["*", "End of /NAMES list"]),
    }
}

pub(super) fn who(st: &mut State, m: &Message) {
    let mask = m.param(0).unwrap_or("*").to_string();
    if mask.starts_with('#') {
        ask_users(st, &mask, Asked::Who);
        return;
    }
    let me = st.me.clone().unwrap_or_default();
    if st.nicks.name_of(&mask) == me {
        let nick = st.nicks.nick_of(&me);
        st.numeric(
            "352",
            &["*", "u", "tcpplay", SERVER, &nick, "H", &format!("0 {me}")],
        );
    }
    st.numeric("315", &[&mask, "End of WHO list"]);
}

/// WHOIS: a member of this server (or one seen on the connection) by
/// nick, with its name (the real name for a derived nick) as realname.
pub(super) fn whois(st: &mut State, m: &Message) {
    let nick = m.params.last().cloned().unwrap_or_default();
    let name = st.nicks.name_of(&nick);
    let me = st.me.clone().unwrap_or_default();
    if !st.nicks.knows(&name) && name != me {
        st.numeric(
            "401",
            &[
                &nick,
                "No such nick (not seen in your channels: join one of theirs, or LIST)",
            ],
        );
        st.numeric("318", &[&nick, "End of /WHOIS list"]);
        return;
    }
    let shown = st.nicks.nick_of(&name);
    st.numeric("311", &[&shown, "u", "tcpplay", "*", &name]);
    st.numeric("312", &[&shown, SERVER, "tcpplay chat server"]);
    if let Some((_, why)) = st.ctx.hub.away_of(&name) {
        st.numeric("301", &[&shown, &why]);
    }
    if let Some(account) = st.account_of(&name) {
        st.numeric("330", &[&shown, &account, "is logged in as"]);
    }
    st.numeric("318", &[&shown, "End of /WHOIS list"]);
}

/// AWAY with a message: away; without (or empty): back. 306/305 answer
/// once the session has said it (a muted member's away is refused).
pub(super) fn away(st: &mut State, m: &Message) {
    let text = m.param(0).filter(|t| !t.is_empty()).map(str::to_string);
    st.away_asked = true;
    st.stage(&Packet::Away(Away { text }));
}

pub(super) fn list(st: &mut State, _m: &Message) {
    st.stage(&Packet::Rooms(Rooms::default()));
}

pub(super) fn kick(st: &mut State, m: &Message) {
    let reason = m.param(2).map(str::to_string);
    for nick in m.params[1].split(',').filter(|n| !n.is_empty()) {
        let target = st.nicks.name_of(nick);
        moderate(
            st,
            ModAction::Kick,
            &m.params[0],
            Some(target),
            reason.clone(),
        );
    }
}

pub(super) fn invite(st: &mut State, m: &Message) {
    let target = st.nicks.name_of(&m.params[0]);
    let room = m.params[1].clone();
    moderate(st, ModAction::Invite, &room, Some(target.clone()), None);
    st.numeric("341", &[&m.params[0], &room]);
}

/// A room operator's action, as `tcpplay join`'s `/kick`, `/ban`, ... send it.
pub(super) fn moderate(
    st: &mut State,
    action: ModAction,
    room: &str,
    target: Option<String>,
    reason: Option<String>,
) {
    st.stage(&Packet::Moderate(Moderate {
        action,
        room: Some(room.into()),
        target,
        duration: None,
        reason,
        on: None,
    }));
}

/// A room's mode on or off (`invite_only`, `topic_lock`).
pub(super) fn set_mode(st: &mut State, action: ModAction, room: &str, on: bool) {
    st.stage(&Packet::Moderate(Moderate {
        action,
        room: Some(room.into()),
        target: None,
        duration: None,
        reason: None,
        on: Some(on),
    }));
}

pub(super) fn caps_enabled(st: &State) -> String {
    Cap::ALL
        .iter()
        .filter(|c| st.has(**c))
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(" ")
}
