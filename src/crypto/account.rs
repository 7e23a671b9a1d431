//! Accounts: a registered name's OPAQUE record, with the same suite as
//! secure rooms ([`super::opaque::Suite`]). The server keeps one
//! [`AccountSetup`] (its OPRF seed and key pair) and, per account, the
//! registration record ([`AccountRecord`]) — never a password, nor anything
//! an offline attack can test a guess against without the setup *and* one
//! Argon2id run per guess.
//!
//! Registration is two round trips ([`ClientRegister`] → [`respond`] →
//! upload → [`AccountRecord::from_upload`]); the login is the three
//! messages of a secure room, bound to the account's name and to the TLS
//! session. A login for a name with no account runs against OPAQUE's fake
//! record: the client cannot tell "no such account" from "wrong password",
//! by the answer or by its time.

use opaque_ke::rand::rngs::OsRng;
use opaque_ke::{ClientRegistration, ServerLogin, ServerRegistration, ServerSetup};
use zeroize::Zeroizing;

use super::opaque::{self, bad, Suite};
use super::room::ClientStart;
use super::CryptoError;

/// The key exchange's context: the protocol, the account's name key and
/// this TLS session's exporter output.
fn context(account: &str, binding: &[u8; 32]) -> Vec<u8> {
    let mut c = b"tcpplay/3 account ".to_vec();
    c.extend_from_slice(account.as_bytes());
    c.push(0);
    c.extend_from_slice(binding);
    c
}

/// The server's OPAQUE setup for every account it holds.
pub(crate) struct AccountSetup(ServerSetup<Suite>);

impl AccountSetup {
    pub fn generate() -> AccountSetup {
        AccountSetup(ServerSetup::new(&mut OsRng))
    }

    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.serialize().to_vec())
    }

    pub(crate) fn from_bytes(b: &[u8]) -> Result<AccountSetup, CryptoError> {
        ServerSetup::deserialize(b).map(AccountSetup).map_err(bad)
    }
}

/// One account's registration record (no password in it).
#[derive(Clone)]
pub(crate) struct AccountRecord(ServerRegistration<Suite>);

impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountRecord(***)")
    }
}

impl AccountRecord {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.0.serialize().to_vec()
    }

    pub(crate) fn from_bytes(b: &[u8]) -> Result<AccountRecord, CryptoError> {
        ServerRegistration::deserialize(b)
            .map(AccountRecord)
            .map_err(bad)
    }

    /// The client's last registration message, as the record kept.
    pub(crate) fn from_upload(upload: &[u8]) -> Result<AccountRecord, CryptoError> {
        opaque::register_record(upload).map(AccountRecord)
    }

    /// Register `account` for `password` in one process (`gen-account`);
    /// slow (Argon2id).
    pub fn offline(
        setup: &AccountSetup,
        account: &str,
        password: &[u8],
    ) -> Result<AccountRecord, CryptoError> {
        opaque::register(&setup.0, password, account.as_bytes()).map(AccountRecord)
    }
}

/// The server's answer to a registration request for `account`.
pub(crate) fn respond(
    setup: &AccountSetup,
    request: &[u8],
    account: &str,
) -> Result<Vec<u8>, CryptoError> {
    opaque::register_respond(&setup.0, request, account.as_bytes())
}

/// The client's side of a registration (or a password change).
pub(crate) struct ClientRegister {
    state: ClientRegistration<Suite>,
    pub request: Vec<u8>,
}

impl ClientRegister {
    pub fn new(password: &[u8]) -> Result<ClientRegister, CryptoError> {
        let (request, state) = opaque::register_start(password)?;
        Ok(ClientRegister { request, state })
    }

    /// The upload that finishes it (slow: Argon2id).
    pub fn finish(self, password: &[u8], response: &[u8]) -> Result<Vec<u8>, CryptoError> {
        opaque::register_finish(self.state, password, response)
    }
}

/// The client's login to `account`: KE1 now ([`ClientStart::new`]), KE3
/// from the server's KE2. An error says only that it did not verify.
pub(crate) fn client_finish(
    start: ClientStart,
    password: &[u8],
    ke2: &[u8],
    account: &str,
    binding: &[u8; 32],
) -> Result<Vec<u8>, CryptoError> {
    let context = context(account, binding);
    let done = opaque::login_finish(start.into_state(), password, ke2, &context)?;
    Ok(done.message.serialize().to_vec())
}

/// The server's step of an account login: KE2 to send, and its state.
/// `record` is `None` for a name with no account (OPAQUE's fake record).
pub(crate) struct AccountLogin {
    state: ServerLogin<Suite>,
    pub ke2: Vec<u8>,
}

impl AccountLogin {
    pub fn start(
        setup: &AccountSetup,
        record: Option<&AccountRecord>,
        ke1: &[u8],
        account: &str,
        binding: &[u8; 32],
    ) -> Result<AccountLogin, CryptoError> {
        let context = context(account, binding);
        let record = record.map(|r| r.0.clone());
        let (ke2, state) =
            opaque::serve_start(&setup.0, record, ke1, account.as_bytes(), &context)?;
        Ok(AccountLogin { ke2, state })
    }

    /// Check the client's KE3: it proves the account's password, on this
    /// TLS session.
    pub fn finish(self, ke3: &[u8], account: &str, binding: &[u8; 32]) -> Result<(), CryptoError> {
        opaque::serve_finish(self.state, ke3, &context(account, binding))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(setup: &AccountSetup, rec: Option<&AccountRecord>, pw: &[u8], name: &str) -> bool {
        let b = [7u8; 32];
        let c = ClientStart::new(pw).unwrap();
        let s = AccountLogin::start(setup, rec, &c.ke1, name, &b).unwrap();
        let Ok(ke3) = client_finish(c, pw, &s.ke2, name, &b) else {
            return false;
        };
        s.finish(&ke3, name, &b).is_ok()
    }

    #[test]
    fn the_right_password_logs_in_and_a_wrong_one_or_no_account_does_not() {
        let setup = AccountSetup::generate();
        let rec = AccountRecord::offline(&setup, "alice", b"hunter22").unwrap();
        let rec = AccountRecord::from_bytes(&rec.to_bytes()).unwrap();
        assert!(login(&setup, Some(&rec), b"hunter22", "alice"));
        assert!(!login(&setup, Some(&rec), b"hunter23", "alice"));
        // Another account's name: the record is bound to "alice".
        assert!(!login(&setup, Some(&rec), b"hunter22", "bob"));
        assert!(!login(&setup, None, b"hunter22", "alice"));
        let setup2 = AccountSetup::from_bytes(&setup.to_bytes()).unwrap();
        assert!(login(&setup2, Some(&rec), b"hunter22", "alice"));
    }
}
