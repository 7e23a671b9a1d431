//! What an IRC client says, as the session's packets: one table of the
//! commands this listener knows (when each may be used, how many
//! parameters it needs), one handler each. Registration (`CAP`, `NICK`,
//! `USER`, `PASS`) ends in the session's own `auth`; after it, every
//! request a member can make is the packet a `tcpplay join` member would
//! send, so the session's rules (rate, names, rooms, operators) decide.
//! Unknown commands get 421, the rest their numerics.

use super::nick::is_nick;
use super::state::{Asked, Cap, State, SERVER};
use crate::protocol::irc::Message;
use crate::protocol::{
    Auth, Bye, Chat, Dm, ModAction, Moderate, Nick, Packet, Ping, RoomRequest, Rooms, Topic, Users,
};

/// A command: its name, whether it may come before registration, the
/// parameters it needs, and its handler.
struct Command {
    name: &'static str,
    pre_reg: bool,
    min_params: usize,
    run: fn(&mut State, &Message),
}

const fn cmd(
    name: &'static str,
    pre_reg: bool,
    min_params: usize,
    run: fn(&mut State, &Message),
) -> Command {
    Command {
        name,
        pre_reg,
        min_params,
        run,
    }
}

/// Every command this listener answers.
const COMMANDS: &[Command] = &[
    cmd("CAP", true, 1, super::caps::cap),
    cmd("NICK", true, 0, nick),
    cmd("USER", true, 4, user),
    cmd("PASS", true, 1, pass),
    cmd("AUTHENTICATE", true, 1, super::sasl::authenticate),
    cmd("PING", true, 1, ping),
    cmd("PONG", true, 0, pong),
    cmd("QUIT", true, 0, quit),
    cmd("JOIN", false, 1, join),
    cmd("PART", false, 1, part),
    cmd("PRIVMSG", false, 0, privmsg),
    cmd("NOTICE", false, 0, privmsg),
    cmd("TOPIC", false, 1, topic),
    cmd("NAMES", false, 0, names),
    cmd("WHO", false, 0, who),
    cmd("WHOIS", false, 1, whois),
    cmd("LIST", false, 0, list),
    cmd("MOTD", false, 0, super::welcome::motd),
    cmd("MODE", false, 1, super::modes::mode),
    cmd("KICK", false, 2, kick),
    cmd("INVITE", false, 2, invite),
];

/// Handle one message from the client.
pub(super) fn dispatch(st: &mut State, m: &Message) {
    let Some(c) = COMMANDS.iter().find(|c| c.name == m.command) else {
        let why = match m.command.as_str() {
            "AWAY" => "Unknown command: tcpplay has no away status",
            _ => "Unknown command",
        };
        if st.me.is_some() || !m.command.chars().all(|c| c.is_ascii_digit()) {
            st.numeric("421", &[&m.command, why]);
        }
        return;
    };
    if !c.pre_reg && st.me.is_none() {
        if st.reg.auth_sent && st.held.len() < super::state::HELD {
            st.held.push(m.clone());
            return;
        }
        st.numeric("451", &["You have not registered"]);
        return;
    }
    if m.params.len() < c.min_params {
        st.numeric("461", &[c.name, "Not enough parameters"]);
        return;
    }
    (c.run)(st, m)
}

fn nick(st: &mut State, m: &Message) {
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

fn user(st: &mut State, m: &Message) {
    if st.me.is_some() || st.reg.user.is_some() {
        st.numeric("462", &["You may not reregister"]);
        return;
    }
    st.reg.user = Some(m.params[3].clone());
    try_register(st);
}

/// Server passwords are not used: tcpplay has none. Accounts log in
/// with their own proof, never through PASS.
fn pass(st: &mut State, _m: &Message) {
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
        super::sasl::Sasl::Done(account) => account.clone(),
        _ => nick,
    };
    if st.ctx.secure.is_some() {
        super::welcome::refuse_secure(st);
        return;
    }
    st.reg.auth_sent = true;
    st.stage(&Packet::Auth(Auth {
        name,
        proto: Some(crate::protocol::PROTO_VERSION),
        ..Default::default()
    }));
}

fn ping(st: &mut State, m: &Message) {
    let token = m.params[0].clone();
    st.send(Message::new(
        Some(SERVER),
        "PONG",
        vec![SERVER.into(), token],
    ));
}

/// The answer to the session's `ping` (its token is a number).
fn pong(st: &mut State, m: &Message) {
    let token = m.params.last().and_then(|t| t.parse().ok());
    if token.is_some() {
        st.stage(&Packet::Pong(Ping { token }));
    }
}

fn quit(st: &mut State, m: &Message) {
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

fn join(st: &mut State, m: &Message) {
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

fn part(st: &mut State, m: &Message) {
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
fn privmsg(st: &mut State, m: &Message) {
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

fn topic(st: &mut State, m: &Message) {
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

fn names(st: &mut State, m: &Message) {
    match m.param(0) {
        Some(chans) => chans
            .split(',')
            .filter(|c| c.starts_with('#'))
            .for_each(|c| ask_users(st, c, Asked::Names)),
        None => st.numeric("366", &["*", "End of /NAMES list"]),
    }
}

fn who(st: &mut State, m: &Message) {
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
fn whois(st: &mut State, m: &Message) {
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
    st.numeric("318", &[&shown, "End of /WHOIS list"]);
}

fn list(st: &mut State, _m: &Message) {
    st.stage(&Packet::Rooms(Rooms::default()));
}

fn kick(st: &mut State, m: &Message) {
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

fn invite(st: &mut State, m: &Message) {
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
