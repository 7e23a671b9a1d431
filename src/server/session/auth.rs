//! The auth step of a session: names for everyone, and in a secure room the
//! client's proof, checked against this connection's challenge and TLS
//! channel binding, with failures throttled per source address.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{End, Session};
use crate::crypto;
use crate::names::validate_name;
use crate::protocol::{codes, Auth, AuthResult, Packet};
use crate::server::limits::Limit;

/// Secure mode: this connection's challenge and its TLS channel binding.
pub(in crate::server) struct Bound {
    pub challenge: [u8; 32],
    pub binding: [u8; 32],
}

impl Bound {
    pub(in crate::server) fn new<IO>(tls: &tokio_rustls::server::TlsStream<IO>) -> Bound {
        Bound {
            challenge: crypto::random_bytes::<32>(),
            binding: crate::tls::channel_binding(tls.get_ref().1),
        }
    }
}

/// Name attempts before an unauthenticated connection is closed.
const MAX_AUTH_ATTEMPTS: u32 = 3;

fn refusal(code: &str, reason: impl Into<String>) -> Packet {
    Packet::AuthResult(AuthResult {
        ok: false,
        reason: Some(reason.into()),
        code: Some(code.into()),
        ..Default::default()
    })
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    /// The server's proof for `auth_result`, in a secure room.
    pub(super) fn server_proof(&self, name: &str) -> Option<String> {
        match (&self.ctx.secure, &self.bound) {
            (Some(room), Some(b)) => Some(crypto::b64(&room.key.server_proof(
                &b.challenge,
                &b.binding,
                name,
            ))),
            _ => None,
        }
    }

    /// Read packets until a valid `auth`; answer everything else.
    /// The name, and whether the client is a legacy one (no `auth.proto`).
    pub(super) async fn authenticate(&mut self) -> Result<(String, bool), End> {
        let mut attempts = 0;
        loop {
            let Some(packet) = self.next_packet().await? else {
                continue;
            };
            match packet {
                Packet::Auth(auth) => {
                    if self.ctx.secure.is_some() {
                        self.check_proof(&auth).await?;
                    } else if auth.password.is_some() {
                        tracing::info!(peer = %self.peer, "a client sent a password to a room without one (ignored, not logged)");
                    }
                    match validate_name(&auth.name) {
                        Ok(name) => return Ok((name, auth.proto.is_none())),
                        Err(e) => {
                            attempts += 1;
                            let r = refusal(codes::NAME_INVALID, format!("invalid name: {e}"));
                            self.send(&r).await.map_err(End::Io)?;
                            if attempts >= MAX_AUTH_ATTEMPTS {
                                return Err(End::Protocol("too many invalid names"));
                            }
                        }
                    }
                }
                Packet::Chat(_) => {
                    let e = Packet::error(
                        codes::NOT_AUTHENTICATED,
                        "send an auth packet with your name first",
                    );
                    self.send(&e).await.map_err(End::Io)?;
                }
                Packet::Ping(p) => self.send(&Packet::Pong(p)).await.map_err(End::Io)?,
                other => tracing::debug!(peer = %self.peer, "ignored before auth: {other:?}"),
            }
        }
    }

    /// Secure room: a valid proof, or the connection ends (with a generic reason).
    async fn check_proof(&mut self, auth: &Auth) -> Result<(), End> {
        let ip = self.peer.ip();
        if auth.password.is_some() {
            // The Python client's secure mode. Its password is dropped unread.
            tracing::info!(peer = %self.peer, "legacy secure-mode client refused (its password was not logged)");
            let r = refusal(
                codes::LEGACY_SECURE,
                "this server's secure room uses tcpplay's scheme, in which the password never leaves the client; \
                 the Python TCP-Playground client's secure mode (password sent to the server) is not supported: join with `tcpplay join`",
            );
            self.close_with(r).await;
            return Err(End::Protocol("legacy secure client"));
        }
        if let Some(left) = self.ctx.throttle.blocked(ip) {
            tracing::warn!(peer = %self.peer, "auth refused: address blocked after repeated failures (limits.auth_failures)");
            let r = refusal(
                codes::AUTH_THROTTLED,
                format!(
                    "too many failed attempts from your address: try again in {} s",
                    left.as_secs().max(1)
                ),
            );
            self.close_with(r).await;
            return Err(End::Protocol("auth throttled"));
        }
        let (Some(room), Some(bound)) = (&self.ctx.secure, &self.bound) else {
            return Err(End::Protocol("secure room without TLS"));
        };
        let ok = auth
            .proof
            .as_deref()
            .and_then(crypto::unb64)
            .is_some_and(|p| {
                room.key
                    .verify_client(&bound.challenge, &bound.binding, &auth.name, &p)
            });
        if ok {
            return Ok(());
        }
        self.count(Limit::AuthFailures);
        let started_block = self.ctx.throttle.fail(ip);
        tracing::warn!(
            peer = %self.peer,
            blocked = started_block,
            "auth failed: the password proof did not verify (wrong password, or a relay between client and server)"
        );
        self.close_with(refusal(
            codes::AUTH_FAILED,
            "the password proof did not verify",
        ))
        .await;
        Err(End::Protocol("auth failed"))
    }
}
