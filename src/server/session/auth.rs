//! The auth step of a session: a name for everyone, and in a secure room
//! the OPAQUE login (KE1 in `auth`, KE2 back in `auth_step`, KE3 in the
//! client's `auth_step`), bound to this connection's TLS session. Logins
//! that do not finish count against the address (and the server's overall
//! budget), so each connection is at most one online guess.

use tokio::io::{AsyncRead, AsyncWrite};

use super::peer::refusal;
use super::{End, Session};
use crate::crypto::room::ServerStart;
use crate::crypto::{self};
use crate::names::validate_name;
use crate::protocol::{codes, Auth, AuthStep, Packet};
use crate::server::limits::Limit;

/// Name attempts before an unauthenticated connection is closed.
const MAX_AUTH_ATTEMPTS: u32 = 3;

/// Rooms an `auth` may ask for at most (more are ignored; the member's own
/// limit, `limits.max_rooms_per_member`, refuses what is past it).
const MAX_AUTH_ROOMS: usize = 64;

/// Who is joining, once `auth` is accepted.
pub(super) struct Joining {
    pub name: String,
    /// A legacy (Python) client (no `auth.proto`).
    pub legacy: bool,
    /// Speaks rooms (protocol 3 or later).
    pub rooms_aware: bool,
    /// The rooms it asks to be in (none: the default room).
    pub rooms: Vec<String>,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    /// Read packets until a valid `auth` (and in a secure room a finished
    /// login); answer everything else. Who is joining.
    pub(super) async fn authenticate(&mut self) -> Result<Joining, End> {
        let mut attempts = 0;
        loop {
            let Some(packet) = self.next_packet().await? else {
                continue;
            };
            match packet {
                Packet::Auth(auth) => {
                    let name = match validate_name(&auth.name) {
                        Ok(name) => name,
                        Err(e) => {
                            attempts += 1;
                            let r = refusal(codes::NAME_INVALID, format!("invalid name: {e}"));
                            self.send(&r).await.map_err(End::Io)?;
                            if attempts >= MAX_AUTH_ATTEMPTS {
                                return Err(End::Protocol("too many invalid names"));
                            }
                            continue;
                        }
                    };
                    if let (Some(a), Some(_)) = (self.ctx.accounts.clone(), &self.ctx.cluster) {
                        let fp = self
                            .bound
                            .as_ref()
                            .and_then(|b| b.cert.as_ref())
                            .map(|c| c.fp.clone());
                        a.refresh_for_login(&name, fp.as_deref()).await;
                    }
                    let plan = match self.plan(&name, &auth) {
                        Ok(plan) => plan,
                        Err(super::identify::Retry(r)) => {
                            attempts += 1;
                            self.send(&r).await.map_err(End::Io)?;
                            if attempts >= MAX_AUTH_ATTEMPTS {
                                return Err(End::Protocol("too many refused names"));
                            }
                            continue;
                        }
                    };
                    if self.ctx.secure.is_some() {
                        self.login(&auth).await?;
                    } else if auth.password.is_some() {
                        tracing::info!(peer = %self.peer, "a client sent a password to a room without one (ignored, not logged)");
                    }
                    let identity = self.identify(&name, plan).await?;
                    // Kept with the TLS session's state (a plaintext
                    // session proves nothing), not in every session's future.
                    if let Some(b) = self.bound.as_mut() {
                        b.identity = Some(identity);
                    }
                    let proto = auth.proto.unwrap_or(0);
                    let mut rooms = auth.rooms;
                    rooms.truncate(MAX_AUTH_ROOMS);
                    return Ok(Joining {
                        name,
                        legacy: auth.proto.is_none(),
                        rooms_aware: proto >= crate::protocol::PROTO_ROOMS,
                        rooms: if proto >= crate::protocol::PROTO_ROOMS {
                            rooms
                        } else {
                            Vec::new()
                        },
                    });
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

    /// Refuse and close, with a reason the client shows.
    async fn refuse_auth(&mut self, code: &str, reason: String, end: &'static str) -> End {
        self.close_with(refusal(code, reason)).await;
        End::Protocol(end)
    }

    /// A secure room's login: the client proves the password and the server
    /// proves the room, on this TLS session; or the connection ends.
    async fn login(&mut self, auth: &Auth) -> Result<(), End> {
        let ip = self.peer.ip();
        let ke1 = self.ke1(auth).await?;
        // A login is an online guess from the moment the client gets KE2
        // (it can tell then whether its password was right): the ticket
        // counts it as a failure unless it succeeds — also when this future
        // is dropped at the handshake deadline.
        let ticket = match self.ctx.throttle.start(ip) {
            Ok(t) => t,
            Err(left) => {
                self.count(Limit::AuthBlocked);
                tracing::warn!(peer = %self.peer, limit = "auth_blocked", "login refused: too many failed logins (limits.auth_failures, auth_failures_total)");
                let why = format!(
                    "too many failed attempts: try again in {} s",
                    left.as_secs().max(1)
                );
                return Err(self
                    .refuse_auth(codes::AUTH_THROTTLED, why, "auth throttled")
                    .await);
            }
        };
        let (Some(room), Some(bound)) = (self.ctx.secure.clone(), self.bound.as_ref()) else {
            return Err(End::Protocol("secure room without TLS"));
        };
        let Some(binding) = bound.binding else {
            self.close_with(Packet::error(
                codes::BAD_PACKET,
                "this connection's TLS session gave no channel binding; the login cannot be bound to it",
            ))
            .await;
            return Err(End::Protocol("no channel binding"));
        };
        let Ok(server) = ServerStart::new(&room.record, &ke1, &binding) else {
            let e = Packet::error(
                codes::BAD_PACKET,
                "the login's first message (ke1) is malformed",
            );
            self.close_with(e).await;
            return Err(End::Protocol("bad ke1"));
        };
        let step = Packet::AuthStep(AuthStep {
            ke2: Some(crypto::b64(&server.ke2)),
            ..Default::default()
        });
        self.send(&step).await.map_err(End::Io)?;
        // From here an unfinished login is a failed one (a wrong password
        // leaves without a KE3; so does a client that found us out).
        let ke3 = self.ke3().await.inspect_err(|_| self.failed_login())?;
        let proven = ke3.is_some_and(|k| server.finish(&k, &room.record.id, &binding).is_ok());
        if proven {
            ticket.succeeded();
            return Ok(());
        }
        self.failed_login();
        let why = "the login did not verify: check the room password".to_string();
        Err(self
            .refuse_auth(codes::AUTH_FAILED, why, "auth failed")
            .await)
    }

    /// The login's first message, or the refusal of a client that speaks
    /// another secure scheme (the Python original's, secure rooms v1).
    async fn ke1(&mut self, auth: &Auth) -> Result<Vec<u8>, End> {
        if auth.password.is_some() {
            // The Python client's secure mode. Its password is dropped unread.
            tracing::info!(peer = %self.peer, "legacy secure-mode client refused (its password was not logged)");
            let why = "this server's secure room uses tcpplay's scheme, in which the password never leaves the client; \
                 the Python TCP-Playground client's secure mode (password sent to the server) is not supported: join with `tcpplay join`";
            return Err(self
                .refuse_auth(codes::LEGACY_SECURE, why.into(), "legacy secure client")
                .await);
        }
        let Some(ke1) = auth.ke1.as_deref().and_then(crypto::unb64) else {
            // tcpplay 0.1's secure rooms (v1) sent an HMAC proof here.
            let why = "this secure room uses secure rooms v2 (OPAQUE, tcpplay protocol 2): upgrade tcpplay to join it";
            return Err(self
                .refuse_auth(codes::UPGRADE_REQUIRED, why.into(), "old secure client")
                .await);
        };
        Ok(ke1)
    }

    /// The client's KE3 (`None`: it sent something else, or nothing
    /// readable), answering pings meanwhile.
    async fn ke3(&mut self) -> Result<Option<Vec<u8>>, End> {
        loop {
            match self.next_packet().await? {
                Some(Packet::AuthStep(AuthStep { ke3: Some(k), .. })) => {
                    return Ok(crypto::unb64(&k))
                }
                Some(Packet::Ping(p)) => self.send(&Packet::Pong(p)).await.map_err(End::Io)?,
                _ => return Ok(None),
            }
        }
    }

    fn failed_login(&self) {
        self.count(Limit::AuthFailures);
        tracing::warn!(
            peer = %self.peer,
            limit = "auth_failures",
            "login failed: the client did not prove the room password (a wrong password, or a relay between client and server)"
        );
    }
}
