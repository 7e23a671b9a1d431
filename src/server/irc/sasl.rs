//! SASL EXTERNAL (IRCv3 `sasl`): the client certificate this TLS
//! connection showed, bound to an account (`/certfp add`), logs in to that
//! account — the session's own rule (`Plan::Cert`), reached by asking for
//! the account's name. Offered only to a connection whose certificate is
//! bound to an account; no other mechanism is offered: accounts log in
//! with OPAQUE, which no SASL mechanism carries (docs/SECURITY.md, "IRC").

use super::state::{Sasl, State};
use crate::protocol::irc::Message;

/// `AUTHENTICATE MECHANISM`, then `AUTHENTICATE +` (or the authorization
/// identity, base64: it must be the account's name).
pub(super) fn authenticate(st: &mut State, m: &Message) {
    let arg = m.params[0].clone();
    let Some(account) = st.cert_account.clone() else {
        st.numeric("904", &["SASL authentication failed: no mechanism is offered to this connection (a client certificate bound to an account, over TLS, is the only one)"]);
        return;
    };
    if st.me.is_some() || matches!(st.sasl, Sasl::Done(_)) {
        st.numeric("907", &["You have already authenticated using SASL"]);
        return;
    }
    match (&st.sasl, arg.as_str()) {
        (_, "*") => {
            st.sasl = Sasl::Idle;
            st.numeric("906", &["SASL authentication aborted"]);
        }
        (Sasl::Idle, mech) if mech.eq_ignore_ascii_case("EXTERNAL") => {
            st.sasl = Sasl::Asked;
            st.send(Message::new(None, "AUTHENTICATE", vec!["+".into()]));
        }
        (Sasl::Idle, _) => {
            st.numeric("908", &["EXTERNAL", "are available SASL mechanisms"]);
            st.numeric("904", &["SASL authentication failed"]);
        }
        (Sasl::Asked, given) => {
            let authzid = match given {
                "+" => Some(account.clone()),
                b64 => crate::crypto::unb64(b64).and_then(|b| String::from_utf8(b).ok()),
            };
            if authzid.as_deref().map(crate::names::name_key)
                != Some(crate::names::name_key(&account))
            {
                st.sasl = Sasl::Idle;
                st.numeric(
                    "904",
                    &["SASL authentication failed: the certificate is bound to another account"],
                );
                return;
            }
            let mask = format!("{}!u@tcpplay", st.nick());
            st.numeric(
                "900",
                &[
                    &mask,
                    &account,
                    &format!("You are now logged in as {account}"),
                ],
            );
            st.numeric("903", &["SASL authentication successful"]);
            st.sasl = Sasl::Done(account);
        }
        (Sasl::Done(_), _) => {}
    }
}
