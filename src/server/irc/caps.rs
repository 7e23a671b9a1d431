//! IRCv3 capability negotiation (`CAP LS 302`, `REQ`, `LIST`, `END`):
//! only the capabilities of [`Cap::ALL`] are offered, each one the
//! listener honours; `sasl` only with a mechanism to offer: EXTERNAL to a
//! connection whose client certificate is bound to an account, PLAIN
//! where the operator turned it on, over TLS (`sasl`).

use super::commands::{caps_enabled, try_register};
use super::state::{Cap, State, SERVER};
use crate::protocol::irc::Message;

/// `CAP SUBCOMMAND ...`.
pub(super) fn cap(st: &mut State, m: &Message) {
    let nick = st.nick();
    let reply = |st: &mut State, sub: &str, text: String| {
        st.send(Message::new(
            Some(SERVER),
            "CAP",
            vec![nick.clone(), sub.into(), text],
        ));
    };
    match m.params[0].to_ascii_uppercase().as_str() {
        "LS" => {
            if st.me.is_none() {
                st.reg.cap_hold = true;
            }
            let mut all: Vec<String> = Cap::ALL.iter().map(|c| c.name().to_string()).collect();
            let mechs = super::sasl::mechanisms(st);
            if !mechs.is_empty() {
                all.push(match m.param(1) {
                    Some(_) => format!("sasl={}", mechs.join(",")),
                    None => "sasl".into(),
                });
            }
            reply(st, "LS", all.join(" "));
        }
        "LIST" => {
            let on = caps_enabled(st);
            reply(st, "LIST", on);
        }
        "REQ" => {
            if st.me.is_none() {
                st.reg.cap_hold = true;
            }
            let asked = m.param(1).unwrap_or_default().to_string();
            let wanted: Option<Vec<(Cap, bool)>> = asked
                .split_whitespace()
                .filter(|w| *w != "sasl" || super::sasl::mechanisms(st).is_empty())
                .map(|w| match w.strip_prefix('-') {
                    Some(off) => Cap::named(off).map(|c| (c, false)),
                    None => Cap::named(w).map(|c| (c, true)),
                })
                .collect();
            match wanted {
                Some(list) if !list.is_empty() || !asked.trim().is_empty() => {
                    list.into_iter().for_each(|(c, on)| st.set(c, on));
                    reply(st, "ACK", asked);
                }
                _ => reply(st, "NAK", asked),
            }
        }
        "END" => {
            st.reg.cap_hold = false;
            try_register(st);
        }
        _ => st.numeric("410", &[&m.params[0], "Invalid CAP command"]),
    }
}
