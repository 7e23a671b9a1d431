//! The client's half of accounts: the login step that follows `auth` (the
//! server's KE2 for the account, checked here; KE3 back), and the
//! registration's messages (`/register`, a new password). The password is
//! held zeroized; only OPAQUE messages leave this process.

use std::time::Duration;

use super::{ClientError, Connection};
use crate::crypto;
use crate::crypto::account::{client_finish, ClientRegister};
use crate::crypto::room::ClientStart;
use crate::names::name_key;
use crate::protocol::{AccountMsg, AccountOp, AuthStep, Packet};
use crate::secret::Password;

/// A login under way: KE1 went out in `auth`.
pub(crate) struct Pending {
    start: ClientStart,
    password: Password,
}

impl Pending {
    /// KE1 for `password` (to put in `auth.account_ke1`).
    pub(crate) fn new(password: &Password) -> Result<(Pending, String), ClientError> {
        let start =
            ClientStart::new(password.as_bytes()).map_err(|e| ClientError::Auth(e.to_string()))?;
        let ke1 = crypto::b64(&start.ke1);
        Ok((
            Pending {
                start,
                password: password.clone(),
            },
            ke1,
        ))
    }

    /// The server's account KE2, checked (it proves the server holds the
    /// account's record, on this TLS session), then KE3 sent.
    pub(crate) async fn finish(
        self,
        conn: &mut Connection,
        name: &str,
        timeout: Option<Duration>,
    ) -> Result<(), ClientError> {
        let binding = super::step::binding(
            conn,
            "accounts log in over TLS only, and this connection has no TLS session to bind the login to",
        )?;
        let phase = "waiting for the account login step";
        let ke2 = super::step::await_step_within(conn, "account login", phase, timeout, |s| {
            s.account_ke2
        })
        .await?;
        let key = name_key(name);
        let Pending { start, password } = self;
        let ke3 = super::step::finish_off_thread(
            move || client_finish(start, password.as_bytes(), &ke2, &key, &binding),
            || {
                format!(
                    "the account login for {} did not verify: there is no such account on this server, or the \
                     password is wrong (nothing that could test the password was sent)",
                    crate::names::sanitize(name)
                )
            },
        )
        .await?;
        let step = Packet::AuthStep(AuthStep {
            account_ke3: Some(crypto::b64(&ke3)),
            ..Default::default()
        });
        conn.send(&step).await
    }
}

/// A registration (or password change) under way: the request went out.
pub(crate) struct Registering {
    state: ClientRegister,
    password: Password,
    pub op: AccountOp,
}

impl Registering {
    /// The first message, for `op` (`register` or `password`).
    pub fn start(op: AccountOp, password: &Password) -> Result<(Registering, Packet), String> {
        let state = ClientRegister::new(password.as_bytes()).map_err(|e| e.to_string())?;
        let mut m = AccountMsg::new(op);
        m.request = Some(crypto::b64(&state.request));
        Ok((
            Registering {
                state,
                password: password.clone(),
                op,
            },
            Packet::Account(m),
        ))
    }

    /// The upload that answers the server's `response` (slow: Argon2id).
    pub async fn finish(self, response: &str) -> Result<Packet, String> {
        let response =
            crypto::unb64(response).ok_or("the server's registration answer is malformed")?;
        let Registering {
            state,
            password,
            op,
        } = self;
        let upload =
            tokio::task::spawn_blocking(move || state.finish(password.as_bytes(), &response))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|_| "the server's registration answer is malformed".to_string())?;
        let mut m = AccountMsg::new(op);
        m.upload = Some(crypto::b64(&upload));
        Ok(Packet::Account(m))
    }
}
