//! SASL (IRCv3 `sasl`). `EXTERNAL`: the client certificate this TLS
//! connection showed, bound to an account (`/certfp add`), logs in to that
//! account — the session's own rule (`Plan::Cert`), reached by asking for
//! the account's name; offered only to a connection whose certificate is
//! bound to one. `PLAIN`: only where the operator turned it on
//! (`[irc] sasl_plain`), only over TLS: the password reaches this server,
//! which checks it against the account's OPAQUE record by running both
//! sides of the login, throttled as any login is; a verified password
//! becomes a one-time sign-in token the session's `auth` logs in with
//! (docs/SECURITY.md, "IRC"). The password is never kept or logged.

use zeroize::Zeroizing;

use super::state::{Sasl, State};
use crate::crypto::account::{client_finish, AccountLogin};
use crate::crypto::room::ClientStart;
use crate::names::name_key;
use crate::protocol::irc::Message;
use crate::server::accounts::Accounts;

/// A piece of a SASL payload (a full one means more follow).
const PIECE: usize = 400;
/// The longest PLAIN payload read (base64): past it, 904.
const MAX_PLAIN: usize = 2400;

/// The mechanisms this connection is offered.
pub(super) fn mechanisms(st: &State) -> Vec<&'static str> {
    let mut m = Vec::new();
    if st.cert_account.is_some() {
        m.push("EXTERNAL");
    }
    if st.sasl_plain {
        m.push("PLAIN");
    }
    m
}

/// `AUTHENTICATE MECHANISM`, then `AUTHENTICATE +` (EXTERNAL: or the
/// authorization identity, base64: it must be the account's name; PLAIN:
/// `authzid NUL authcid NUL password`, base64, in 400-byte pieces).
pub(super) fn authenticate(st: &mut State, m: &Message) {
    let arg = m.params[0].clone();
    let offered = mechanisms(st);
    if offered.is_empty() {
        st.numeric("904", &["SASL authentication failed: no mechanism is offered to this connection (a client certificate bound to an account, over TLS; or PLAIN where the operator turned it on)"]);
        return;
    }
    if st.me.is_some() || matches!(st.sasl, Sasl::Done(_)) {
        st.numeric("907", &["You have already authenticated using SASL"]);
        return;
    }
    match (&mut st.sasl, arg.as_str()) {
        (_, "*") => {
            st.sasl = Sasl::Idle;
            st.numeric("906", &["SASL authentication aborted"]);
        }
        (Sasl::Idle, mech) if offered.iter().any(|o| mech.eq_ignore_ascii_case(o)) => {
            st.sasl = match mech.eq_ignore_ascii_case("PLAIN") {
                true => Sasl::AskedPlain(Zeroizing::new(String::new())),
                false => Sasl::Asked,
            };
            st.send(Message::new(None, "AUTHENTICATE", vec!["+".into()]));
        }
        (Sasl::Idle, _) => {
            st.numeric(
                "908",
                &[&offered.join(","), "are available SASL mechanisms"],
            );
            st.numeric("904", &["SASL authentication failed"]);
        }
        (Sasl::Asked, given) => external(st, given),
        (Sasl::AskedPlain(so_far), piece) => {
            if piece != "+" {
                so_far.push_str(piece);
            }
            if piece.len() == PIECE && so_far.len() <= MAX_PLAIN {
                return; // more follow
            }
            let Sasl::AskedPlain(all) = std::mem::take(&mut st.sasl) else {
                return;
            };
            plain(st, &all);
        }
        (Sasl::Done(_), _) => {}
    }
}

/// EXTERNAL's answer: the certificate's account, if the client named it.
fn external(st: &mut State, given: &str) {
    let Some(account) = st.cert_account.clone() else {
        return;
    };
    let authzid = match given {
        "+" => Some(account.clone()),
        b64 => crate::crypto::unb64(b64).and_then(|b| String::from_utf8(b).ok()),
    };
    if authzid.as_deref().map(name_key) != Some(name_key(&account)) {
        st.sasl = Sasl::Idle;
        let why = "SASL authentication failed: the certificate is bound to another account";
        st.numeric("904", &[why]);
        return;
    }
    logged_in(st, account);
}

/// PLAIN's answer: the password checked against the account's record.
fn plain(st: &mut State, b64: &str) {
    let fail = |st: &mut State, why: &str| {
        st.numeric("904", &[&format!("SASL authentication failed: {why}")]);
    };
    if b64.len() > MAX_PLAIN {
        return fail(st, "the PLAIN message is longer than 2,400 bytes of base64");
    }
    let Some(raw) = crate::crypto::unb64(b64).map(Zeroizing::new) else {
        return fail(st, "the PLAIN message is not base64");
    };
    let mut parts = raw.split(|b| *b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return fail(
            st,
            "the PLAIN message is not authzid NUL authcid NUL password",
        );
    };
    let Ok(account) = std::str::from_utf8(authcid).map(str::to_string) else {
        return fail(st, "the account name is not UTF-8");
    };
    if !authzid.is_empty() && authzid != authcid {
        return fail(
            st,
            "logging in as another account than one's own is not supported",
        );
    }
    let Some(accounts) = st.ctx.accounts.clone() else {
        return fail(st, "this server has no accounts");
    };
    if let Err(wait) = accounts.may_try(&account) {
        let why = format!(
            "too many failed logins to this account: try again in {} s",
            wait.as_secs().max(1)
        );
        return fail(st, &why);
    }
    // Argon2id runs in the check: off the runtime's other tasks.
    let checked = run_blocking(|| verify(&accounts, &account, password));
    let Some(name) = checked else {
        accounts.failed(&account);
        tracing::info!(account = %crate::names::sanitize(&account), "IRC SASL PLAIN: the password did not verify");
        return fail(st, "no such account, or a wrong password");
    };
    accounts.succeeded(&account);
    st.signin = Some(accounts.signins.issue(&name, None));
    logged_in(st, name);
}

/// 900 and 903: the registration will ask for `account`'s name.
fn logged_in(st: &mut State, account: String) {
    let mask = format!("{}!u@tcpplay", st.nick());
    let said = format!("You are now logged in as {account}");
    st.numeric("900", &[&mask, &account, &said]);
    st.numeric("903", &["SASL authentication successful"]);
    st.sasl = Sasl::Done(account);
}

/// Run `f`, which blocks, without holding up the runtime's other tasks
/// where the runtime allows it.
fn run_blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// `password` for `account`, checked by running both sides of its OPAQUE
/// login here (a name with no account runs against OPAQUE's fake record,
/// as a login does): the account's name as registered when it verifies.
fn verify(accounts: &Accounts, account: &str, password: &[u8]) -> Option<String> {
    let key = name_key(account);
    let found = accounts.lookup(account);
    let record = found.as_ref().map(|(_, r)| r);
    // Both sides are here: no TLS session to bind the exchange to.
    let binding = [0u8; 32];
    let start = ClientStart::new(password).ok()?;
    let server = AccountLogin::start(accounts.setup(), record, &start.ke1, &key, &binding).ok()?;
    let ke3 = client_finish(start, password, &server.ke2, &key, &binding).ok()?;
    server.finish(&ke3, &key, &binding).ok()?;
    found.map(|(name, _)| name)
}
