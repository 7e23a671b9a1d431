//! The secure room's password-authenticated key exchange: OPAQUE (RFC 9807)
//! with the `opaque-ke` crate — ristretto255, 3DH with SHA-512, Argon2id as
//! the key-stretching function (19 MiB, 2 passes: fixed by the suite, so a
//! server cannot lower it).
//!
//! A room is registered once ([`RoomRecord::register`]); the server keeps
//! only the [`RoomRecord`] — its setup and the registration record — never
//! the password, and nothing it could decrypt with. A member logs in with
//! three messages (KE1 → KE2 → KE3), each side proving itself to the other,
//! bound to its own TLS session (the exporter in the key exchange's context):
//! a server without the record, or a relay between two TLS sessions, learns
//! nothing it can test a password guess against. What a member gets is the
//! `export_key`, the same for every holder of the password and unknown to
//! the server: the room's message key comes from it.

use opaque_ke::rand::rngs::OsRng;
use opaque_ke::{ClientLogin, ServerLogin, ServerRegistration, ServerSetup};
use zeroize::Zeroizing;

use super::opaque::{self, bad, Suite};
use super::{CryptoError, RoomKey};

/// `hello.auth.scheme` for the suite ([`Suite`]).
pub const SCHEME: &str = "opaque-ristretto255-3dh-sha512-argon2id";

/// What a server keeps of a room: an id (binds messages to this room), the
/// OPAQUE server setup and the registration record. No password.
pub struct RoomRecord {
    pub id: [u8; 16],
    setup: ServerSetup<Suite>,
    record: ServerRegistration<Suite>,
}

impl std::fmt::Debug for RoomRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomRecord").finish_non_exhaustive()
    }
}

/// The key exchange's context: the protocol, the room and this TLS
/// session's exporter output — a relay has two sessions, two contexts.
pub fn context(room: &[u8], binding: &[u8; 32]) -> Vec<u8> {
    let mut c = b"tcpplay/2 secure room ".to_vec();
    c.extend_from_slice(room);
    c.extend_from_slice(binding);
    c
}

impl RoomRecord {
    /// Register a room for `password`: the client's and the server's half of
    /// OPAQUE registration, here in one process (Argon2id: slow, on purpose).
    pub fn register(password: &[u8]) -> Result<RoomRecord, CryptoError> {
        let id = super::random_bytes::<16>();
        let setup = ServerSetup::<Suite>::new(&mut OsRng);
        let record = opaque::register(&setup, password, &id)?;
        Ok(RoomRecord { id, setup, record })
    }

    /// Version, id, setup, record: what the history database or a
    /// `--room-record` file holds.
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![2u8]);
        out.extend_from_slice(&self.id);
        let setup = self.setup.serialize();
        out.extend_from_slice(&(setup.len() as u16).to_be_bytes());
        out.extend_from_slice(&setup);
        out.extend_from_slice(&self.record.serialize());
        out
    }

    pub(crate) fn from_bytes(b: &[u8]) -> Result<RoomRecord, CryptoError> {
        let (&version, rest) = b.split_first().ok_or(CryptoError::Malformed)?;
        if version != 2 || rest.len() < 18 {
            return Err(CryptoError::Malformed);
        }
        let (id, rest) = rest.split_at(16);
        let (len, rest) = rest.split_at(2);
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        if rest.len() < len {
            return Err(CryptoError::Malformed);
        }
        let (setup, record) = rest.split_at(len);
        Ok(RoomRecord {
            id: id.try_into().map_err(bad)?,
            setup: ServerSetup::deserialize(setup).map_err(bad)?,
            record: ServerRegistration::deserialize(record).map_err(bad)?,
        })
    }

    /// Log in locally with `password` (the operator's console, or checking
    /// a password against a stored room): the room key, or `None` when the
    /// password is not the room's. Slow (Argon2id).
    pub fn unlock(&self, password: &[u8]) -> Option<RoomKey> {
        let binding = [0u8; 32];
        let client = ClientStart::new(password).ok()?;
        let server = ServerStart::new(self, &client.ke1, &binding).ok()?;
        let (ke3, key) = client
            .finish(password, &server.ke2, &self.id, &binding)
            .ok()?;
        server.finish(&ke3, &self.id, &binding).ok()?;
        Some(key)
    }
}

/// The client's first step: KE1 to send, and its state.
pub struct ClientStart {
    state: ClientLogin<Suite>,
    pub ke1: Vec<u8>,
}

impl ClientStart {
    pub fn new(password: &[u8]) -> Result<ClientStart, CryptoError> {
        let (ke1, state) = opaque::login_start(password)?;
        Ok(ClientStart { ke1, state })
    }

    pub(super) fn into_state(self) -> ClientLogin<Suite> {
        self.state
    }

    /// Check the server's KE2 (it proves the server holds the room's record,
    /// on this TLS session) and derive the room key; KE3 to send back. An
    /// error says nothing more: the password is wrong, or the server is not
    /// the room's. Slow (Argon2id).
    pub fn finish(
        self,
        password: &[u8],
        ke2: &[u8],
        room: &[u8],
        binding: &[u8; 32],
    ) -> Result<(Vec<u8>, RoomKey), CryptoError> {
        let done = opaque::login_finish(self.state, password, ke2, &context(room, binding))?;
        let key = RoomKey::from_export_key(&done.export_key, room);
        Ok((done.message.serialize().to_vec(), key))
    }
}

/// The server's step: KE2 to send, and its state until KE3.
pub struct ServerStart {
    state: ServerLogin<Suite>,
    pub ke2: Vec<u8>,
}

impl ServerStart {
    pub fn new(
        room: &RoomRecord,
        ke1: &[u8],
        binding: &[u8; 32],
    ) -> Result<ServerStart, CryptoError> {
        let context = context(&room.id, binding);
        let record = Some(room.record.clone());
        let (ke2, state) = opaque::serve_start(&room.setup, record, ke1, &room.id, &context)?;
        Ok(ServerStart { ke2, state })
    }

    /// Check the client's KE3: it proves the password, on this TLS session.
    pub fn finish(self, ke3: &[u8], room: &[u8], binding: &[u8; 32]) -> Result<(), CryptoError> {
        opaque::serve_finish(self.state, ke3, &context(room, binding))
    }
}
