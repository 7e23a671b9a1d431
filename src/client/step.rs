//! The steps the room's OPAQUE login (`secure.rs`) and the account's
//! (`account.rs`) share — the TLS session's binding, waiting for the
//! server's next `auth_step`, the slow last step off the async threads —
//! here so that neither imports the other, and neither repeats them.

use std::time::Duration;

use super::transport::with_timeout;
use super::{ClientError, Connection};
use crate::crypto::{self, CryptoError};
use crate::protocol::{AuthStep, Packet};

/// This connection's TLS channel binding, which a login is tied to; without
/// one, `refusal` is the error.
pub(super) fn binding(conn: &Connection, refusal: &str) -> Result<[u8; 32], ClientError> {
    conn.transport
        .tls
        .as_ref()
        .and_then(|t| t.binding)
        .ok_or_else(|| ClientError::Auth(refusal.to_string()))
}

/// [`await_step`] within `timeout`; `phase` names the wait when it runs out.
pub(super) async fn await_step_within(
    conn: &mut Connection,
    what: &str,
    phase: &'static str,
    timeout: Option<Duration>,
    pick: impl Fn(AuthStep) -> Option<String>,
) -> Result<Vec<u8>, ClientError> {
    let addr = conn.transport.addr.to_string();
    with_timeout(await_step(conn, what, pick), phase, &addr, timeout).await
}

/// OPAQUE's last client step (slow: Argon2id) on a blocking thread; the
/// server not proving itself is `not_proven`, in the user's words.
pub(super) async fn finish_off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CryptoError> + Send + 'static,
    not_proven: impl FnOnce() -> String,
) -> Result<T, ClientError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(CryptoError::NotProven)) => Err(ClientError::Auth(not_proven())),
        Ok(Err(e)) => Err(ClientError::Protocol(e.to_string())),
        Err(e) => Err(ClientError::Other(e.into())),
    }
}

/// The server's next login step, as `pick` takes it from an `auth_step`
/// (the room's KE2, or the account's), or its refusal; `what` names the
/// login in the error.
pub(super) async fn await_step(
    conn: &mut Connection,
    what: &str,
    pick: impl Fn(AuthStep) -> Option<String>,
) -> Result<Vec<u8>, ClientError> {
    loop {
        let Some(packet) = conn.next().await? else {
            return Err(ClientError::Protocol(format!(
                "the server closed the connection during the {what}"
            )));
        };
        match packet {
            Packet::AuthStep(step) => {
                if let Some(k) = pick(step) {
                    return crypto::unb64(&k).ok_or_else(|| {
                        ClientError::Protocol(format!("the server's {what} step is malformed"))
                    });
                }
            }
            other => match super::refusal(other) {
                Some(e) => return Err(e),
                None => continue,
            },
        }
    }
}
