//! The client's half of secure mode: check what the server offers (before any
//! work), derive the room key, prove knowledge bound to this TLS session, and
//! verify the server's proof before anything is shown.

use std::sync::Arc;

use super::{ClientError, Connection};
use crate::crypto::{self, KdfParams, RoomKey};
use crate::protocol::{Auth, Chat, Packet};
use crate::secret::Password;

/// What the server's `hello.auth` offers, checked.
pub struct Offer {
    pub params: KdfParams,
    pub salt: Vec<u8>,
    pub challenge: Vec<u8>,
}

/// Refuse what this client must not do: a legacy secure server, a secure room
/// without TLS, unknown or hostile key-derivation parameters.
pub fn check_offer(conn: &Connection) -> Result<Offer, ClientError> {
    let hello = &conn.hello;
    if hello.proto.is_none() {
        return Err(ClientError::Auth(
            "this is a TCP-Playground (Python) server in its old secure mode, which sends the password to the \
             server and uses a home-made cipher; tcpplay does not support it. Run the room with \
             `tcpplay serve --secure`, or the Python server without --secure"
                .into(),
        ));
    }
    if conn.transport.tls.is_none() {
        return Err(ClientError::Auth(
            "the server offers a secure room over an unencrypted connection; refusing (secure rooms run over TLS only)"
                .into(),
        ));
    }
    let auth = hello.auth.as_ref().ok_or_else(|| {
        ClientError::Protocol(
            "the server's hello says secure but carries no auth parameters".into(),
        )
    })?;
    if auth.kdf != crypto::KDF_NAME {
        return Err(ClientError::Protocol(format!(
            "the server asks for key derivation '{}', which this client does not know (it speaks {})",
            crate::names::sanitize(&auth.kdf),
            crypto::KDF_NAME
        )));
    }
    let params = KdfParams {
        m_kib: auth.m_kib,
        t: auth.t,
        p: auth.p,
    };
    params
        .check_bounds()
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    let salt = crypto::unb64(&auth.salt).filter(|s| (8..=64).contains(&s.len()));
    let challenge = crypto::unb64(&auth.challenge).filter(|c| c.len() == 32);
    match (salt, challenge) {
        (Some(salt), Some(challenge)) => Ok(Offer {
            params,
            salt,
            challenge,
        }),
        _ => Err(ClientError::Protocol(
            "the server's salt or challenge is malformed".into(),
        )),
    }
}

/// Argon2id on a blocking thread, with a spinner on a terminal.
pub async fn derive(password: Password, offer: &Offer) -> Result<RoomKey, ClientError> {
    let spinner = crate::progress::spinner(format!(
        "deriving the room key (Argon2id, {} MiB)",
        offer.params.m_kib / 1024
    ));
    let (salt, params) = (offer.salt.clone(), offer.params);
    let started = std::time::Instant::now();
    let key =
        tokio::task::spawn_blocking(move || RoomKey::derive(password.as_bytes(), &salt, params))
            .await
            .map_err(|e| ClientError::Other(e.into()))?
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    tracing::debug!(
        "room key derived in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(key)
}

/// Send the proof; on success verify the server's. Returns the final name.
pub async fn prove(
    conn: &mut Connection,
    name: &str,
    key: &RoomKey,
    offer: &Offer,
) -> Result<String, ClientError> {
    let binding = conn
        .transport
        .tls
        .as_ref()
        .map(|t| t.binding)
        .ok_or_else(|| ClientError::Auth("no TLS session to bind the proof to".into()))?;
    let proof = key.client_proof(&offer.challenge, &binding, name);
    let auth = Packet::Auth(Auth {
        name: name.to_string(),
        proof: Some(crypto::b64(&proof)),
        proto: Some(crate::protocol::PROTO_VERSION),
        ..Default::default()
    });
    conn.send(&auth).await?;
    let result = super::await_auth_result(conn).await?;
    let server_proof = result.server_proof.as_deref().and_then(crypto::unb64);
    let verified = server_proof
        .is_some_and(|p| key.verify_server(&offer.challenge, &binding, &result.name, &p));
    if !verified {
        return Err(ClientError::Auth(
            "the server could not prove it knows the room password: the connection may be relayed by a man in \
             the middle, or the server is an impostor; refusing to continue"
                .into(),
        ));
    }
    Ok(result.name)
}

/// Decrypt a chat payload in place. What does not open is marked, never shown
/// as text: `text` stays empty and `encrypted` true.
pub fn open_chat(c: &mut Chat, key: &RoomKey) {
    open_payload("chat", &mut c.text, &mut c.payload, &mut c.encrypted, key);
}

fn open_payload(
    kind: &str,
    text: &mut Option<String>,
    payload: &mut Option<String>,
    encrypted: &mut bool,
    key: &RoomKey,
) {
    if let Some(p) = payload.take() {
        match key.open(kind, &p) {
            Ok(t) => {
                *text = Some(t);
                *encrypted = false;
            }
            Err(_) => {
                *text = None;
                *encrypted = true;
            }
        }
    }
}

/// Decrypt whatever this packet carries sealed.
pub fn open_packet(packet: &mut Packet, key: &RoomKey) {
    match packet {
        Packet::Chat(c) | Packet::History(c) => open_chat(c, key),
        Packet::Dm(d) => open_payload("dm", &mut d.text, &mut d.payload, &mut d.encrypted, key),
        _ => {}
    }
}

/// A room key shared by the UI's reader and writer.
pub type SharedKey = Arc<RoomKey>;
