//! The client's half of a secure room: check what the server offers before
//! anything is sent, log in with OPAQUE — the server proves it holds the
//! room, we prove the password, both on this TLS session — and open and
//! seal messages, refusing any ciphertext that is not what it claims to be
//! (another sender, another kind, a replay).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::transport::with_timeout;
use super::{ClientError, Connection};
use crate::crypto::room::{ClientStart, SCHEME};
use crate::crypto::{self, CryptoError, Kind, RoomKey, Sealed};
use crate::protocol::{Auth, AuthStep, Chat, Packet};
use crate::secret::Password;

/// A room key shared by the UI's reader and writer.
pub type SharedKey = Arc<RoomKey>;

/// Nonces remembered to spot a replay.
const REMEMBERED: usize = 100_000;

/// What the server's `hello.auth` offers, checked.
pub struct Offer {
    /// The room's id (bound into the login and into every message).
    pub room: Vec<u8>,
}

/// Refuse what this client must not do, before sending anything: a legacy
/// secure server, secure rooms v1, a secure room without TLS 1.3, a scheme
/// this client does not speak.
pub fn check_offer(conn: &Connection) -> Result<Offer, ClientError> {
    let hello = &conn.hello;
    let refuse = |why: &str| Err(ClientError::Auth(why.to_string()));
    match hello.proto {
        None => {
            return refuse(
                "this is a TCP-Playground (Python) server in its old secure mode, which sends the password to the \
                 server and uses a home-made cipher; tcpplay does not support it. Run the room with \
                 `tcpplay serve --secure`, or the Python server without --secure",
            )
        }
        Some(1) => {
            return refuse(
                "this server runs tcpplay's secure rooms v1, whose login hands the server (or anyone posing as it) \
                 a proof it can test passwords against; nothing was sent. Ask its operator to upgrade tcpplay \
                 (secure rooms v2, OPAQUE)",
            )
        }
        Some(_) => {}
    }
    match &conn.transport.tls {
        None => {
            return refuse(
                "the server offers a secure room over an unencrypted connection; refusing (secure rooms run over TLS only)",
            )
        }
        Some(t) if t.version != "TLSv1.3" => {
            return refuse(&format!(
                "the server offers a secure room over {}; secure rooms need TLS 1.3 (their login is bound to the TLS session)",
                t.version
            ))
        }
        Some(_) => {}
    }
    let auth = hello.auth.as_ref().ok_or_else(|| {
        ClientError::Protocol(
            "the server's hello says secure but carries no auth parameters".into(),
        )
    })?;
    if auth.scheme != SCHEME {
        return refuse(&format!(
            "the server's secure room uses '{}', which this client does not speak ({SCHEME})",
            crate::names::sanitize(&auth.scheme)
        ));
    }
    match crypto::unb64(&auth.room).filter(|r| r.len() == 16) {
        Some(room) => Ok(Offer { room }),
        None => Err(ClientError::Protocol(
            "the server's room id is malformed".into(),
        )),
    }
}

/// Log in as `name`: KE1, then the server's KE2 (checked: it proves the
/// room), then KE3. The final name and the room key.
pub async fn login(
    conn: &mut Connection,
    name: &str,
    password: Password,
    offer: &Offer,
    timeout: Option<Duration>,
) -> Result<(String, RoomKey), ClientError> {
    crypto::no_core_dumps();
    let binding = conn
        .transport
        .tls
        .as_ref()
        .map(|t| t.binding)
        .ok_or_else(|| ClientError::Auth("no TLS session to bind the login to".into()))?;
    let client =
        ClientStart::new(password.as_bytes()).map_err(|e| ClientError::Auth(e.to_string()))?;
    let auth = Packet::Auth(Auth {
        name: name.to_string(),
        proto: Some(crate::protocol::PROTO_VERSION),
        ke1: Some(crypto::b64(&client.ke1)),
        rooms: conn.auth_rooms(),
        ..Default::default()
    });
    conn.send(&auth).await?;
    let t = conn.transport.addr.to_string();
    let ke2 = with_timeout(
        await_ke2(conn),
        "waiting for the server's login step",
        &t,
        timeout,
    )
    .await?;
    let spinner = crate::progress::spinner("opening the room (Argon2id)");
    let room = offer.room.clone();
    let finished = tokio::task::spawn_blocking(move || {
        client.finish(password.as_bytes(), &ke2, &room, &binding)
    })
    .await
    .map_err(|e| ClientError::Other(e.into()))?;
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    let (ke3, key) = match finished {
        Ok(done) => done,
        Err(CryptoError::NotProven) => {
            return Err(ClientError::Auth(
                "the server could not prove it holds this room: the password is wrong, or the server is not the \
                 room's (an impostor, or a relay between you and it). Nothing that could be used to guess the \
                 password was sent"
                    .into(),
            ))
        }
        Err(e) => return Err(ClientError::Protocol(e.to_string())),
    };
    let step = Packet::AuthStep(AuthStep {
        ke2: None,
        ke3: Some(crypto::b64(&ke3)),
    });
    conn.send(&step).await?;
    let phase = "waiting for the auth result";
    let result = with_timeout(super::await_auth_result(conn), phase, &t, timeout).await?;
    Ok((result.name, key))
}

/// The server's KE2, or its refusal.
async fn await_ke2(conn: &mut Connection) -> Result<Vec<u8>, ClientError> {
    loop {
        let Some(packet) = conn.next().await? else {
            return Err(ClientError::Protocol(
                "the server closed the connection during the login".into(),
            ));
        };
        match packet {
            Packet::AuthStep(AuthStep { ke2: Some(k), .. }) => {
                return crypto::unb64(&k).ok_or_else(|| {
                    ClientError::Protocol("the server's login step is malformed".into())
                })
            }
            other => match super::refusal(other) {
                Some(e) => return Err(e),
                None => continue,
            },
        }
    }
}

/// Nonces seen on this connection: a ciphertext seen twice is a replay.
#[derive(Default)]
pub struct Replays {
    seen: HashSet<[u8; 24]>,
    order: VecDeque<[u8; 24]>,
}

impl Replays {
    /// True the first time a nonce is seen.
    fn first(&mut self, nonce: [u8; 24]) -> bool {
        if !self.seen.insert(nonce) {
            return false;
        }
        self.order.push_back(nonce);
        if self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

/// Open what this packet carries sealed, in place. What does not open — or
/// is not what it claims (sender, kind, recipient, time), or was seen
/// before — is marked, never shown as text: `text` empty, `encrypted` true.
pub fn open_packet(packet: &mut Packet, key: &RoomKey, replays: &mut Replays) {
    let (text, payload, encrypted, what) = match packet {
        Packet::Chat(c) | Packet::History(c) => {
            let kind = if c.action { Kind::Action } else { Kind::Chat };
            let Chat {
                text,
                payload,
                encrypted,
                from,
                sent,
                room,
                ..
            } = c;
            let what = (
                from.clone().unwrap_or_default(),
                kind_owned(kind),
                sent.unwrap_or_default(),
                room.clone().unwrap_or_default(),
            );
            (text, payload, encrypted, what)
        }
        Packet::Dm(d) => {
            let what = (
                d.from.clone().unwrap_or_default(),
                OwnedKind::Dm(d.to.clone()),
                d.sent.unwrap_or_default(),
                String::new(),
            );
            (&mut d.text, &mut d.payload, &mut d.encrypted, what)
        }
        _ => return,
    };
    let Some(p) = payload.take() else { return };
    let (from, kind, sent, room) = what;
    let sealed = Sealed {
        from: &from,
        kind: kind.as_kind(),
        sent,
        room: &room,
    };
    match key.open(&p, &sealed) {
        Ok((t, nonce)) if replays.first(nonce) => {
            *text = Some(t);
            *encrypted = false;
        }
        _ => {
            *text = None;
            *encrypted = true;
        }
    }
}

enum OwnedKind {
    Chat,
    Action,
    Dm(String),
}

fn kind_owned(k: Kind<'_>) -> OwnedKind {
    match k {
        Kind::Chat => OwnedKind::Chat,
        Kind::Action => OwnedKind::Action,
        Kind::Dm { to } => OwnedKind::Dm(to.to_string()),
    }
}

impl OwnedKind {
    fn as_kind(&self) -> Kind<'_> {
        match self {
            OwnedKind::Chat => Kind::Chat,
            OwnedKind::Action => Kind::Action,
            OwnedKind::Dm(to) => Kind::Dm { to },
        }
    }
}
