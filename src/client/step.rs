//! Waiting for the server's next login step (`auth_step`), shared by the
//! room's OPAQUE login (`secure.rs`) and the account's (`account.rs`): here
//! so that neither imports the other.

use super::{ClientError, Connection};
use crate::crypto;
use crate::protocol::{AuthStep, Packet};

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
