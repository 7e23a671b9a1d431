//! The end of registration: 001–005 with ISUPPORT that says what tcpplay
//! does (one `#` channel type, `@` for operators, names folded as
//! ASCII is and more — see docs/PROTOCOL.md), the message of the day or
//! 422; and the refusal of a secure room, which an IRC client cannot join.

use super::nick::NICKLEN;
use super::state::{State, SERVER};
use crate::protocol::irc::Message;
use crate::protocol::SERVER_SOFTWARE;

/// Channel names: `#` and at most 31 characters (docs/PROTOCOL.md, "Rooms").
const CHANNELLEN: usize = 32;

/// The member is in: say so as IRC servers do.
pub(super) fn welcome(st: &mut State, name: &str) {
    st.me = Some(name.to_string());
    let nick = st.nicks.nick_of(name);
    if nick != st.reg.nick.clone().unwrap_or_default() {
        let why = match &st.sasl {
            super::state::Sasl::Done(a) => format!("you are logged in to the account {a}"),
            _ => "the name you asked for was taken".into(),
        };
        st.notice(&format!("your nick is {nick}: {why}"));
    }
    st.numeric("001", &[&format!("Welcome to the tcpplay network, {nick}")]);
    st.numeric(
        "002",
        &[&format!(
            "Your host is {SERVER}, running version {SERVER_SOFTWARE}"
        )],
    );
    st.numeric(
        "003",
        &["This server speaks tcpplay's rooms as IRC channels"],
    );
    st.numeric("004", &[SERVER, SERVER_SOFTWARE, "o", "biotv", "bov"]);
    let limits = st.ctx.limits();
    let tokens = [
        "CHANTYPES=#".to_string(),
        "PREFIX=(o)@".into(),
        "CHANMODES=b,,,it".into(),
        "CASEMAPPING=ascii".into(),
        format!("NICKLEN={NICKLEN}"),
        format!("CHANNELLEN={CHANNELLEN}"),
        format!("TOPICLEN={}", limits.max_text_chars),
        format!("CHANLIMIT=#:{}", limits.max_rooms_per_member),
        "NETWORK=tcpplay".into(),
        "TARGMAX=PRIVMSG:1,NOTICE:1,KICK:1".into(),
    ];
    drop(limits);
    let mut params: Vec<&str> = tokens.iter().map(String::as_str).collect();
    params.push("are supported by this server");
    st.numeric("005", &params);
    motd(st, &Message::default());
}

/// `MOTD`: the operator's message of the day, or 422.
pub(super) fn motd(st: &mut State, _m: &Message) {
    let Some(text) = st.ctx.motd.load_full() else {
        st.numeric("422", &["MOTD File is missing"]);
        return;
    };
    st.numeric("375", &[&format!("- {SERVER} Message of the day - ")]);
    for line in text.lines() {
        st.numeric("372", &[&format!("- {line}")]);
    }
    st.numeric("376", &["End of /MOTD command."]);
}

/// A secure room seals every line with a key only its members' clients
/// hold; an IRC client cannot, so it is not let in, and told why.
pub(super) fn refuse_secure(st: &mut State) {
    let why =
        "this tcpplay server is a secure room: every line is sealed end to end with the room's \
               password, which an IRC client cannot do; join with `tcpplay join` instead";
    st.notice(why);
    st.numeric("465", &[why]);
    st.send(Message::new(
        None,
        "ERROR",
        vec![format!("Closing link: {why}")],
    ));
    st.ended = true;
}
