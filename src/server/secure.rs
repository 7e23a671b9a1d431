//! The server's half of secure mode: the room key and the `hello.auth` it
//! offers. The server relays chat payloads as they came; it only decrypts
//! for its own console. (Failed proofs are throttled per address in
//! `limits::addresses`.)

use crate::crypto::{self, CryptoError, KdfParams, RoomKey};
use crate::protocol::AuthParams;

/// A password-protected room.
pub struct SecureRoom {
    pub key: RoomKey,
    salt: [u8; 16],
    params: KdfParams,
}

impl std::fmt::Debug for SecureRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureRoom")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl SecureRoom {
    /// Derive the room key from the password with a fresh random salt.
    pub fn new(password: &[u8], params: KdfParams) -> Result<SecureRoom, CryptoError> {
        SecureRoom::with_salt(password, crypto::random_bytes::<16>(), params)
    }

    /// Derive the room key with a kept salt (stored with the history).
    pub fn with_salt(
        password: &[u8],
        salt: [u8; 16],
        params: KdfParams,
    ) -> Result<SecureRoom, CryptoError> {
        let key = RoomKey::derive(password, &salt, params)?;
        Ok(SecureRoom { key, salt, params })
    }

    /// What `hello.auth` carries for a connection with this `challenge`.
    pub fn offer(&self, challenge: &[u8; 32]) -> AuthParams {
        AuthParams {
            kdf: crypto::KDF_NAME.into(),
            m_kib: self.params.m_kib,
            t: self.params.t,
            p: self.params.p,
            salt: crypto::b64(&self.salt),
            challenge: crypto::b64(challenge),
        }
    }
}

impl SecureRoom {
    /// Set up the room from its password: the salt kept with the history
    /// (so the same password reads the stored messages after a restart; a
    /// fresh one without history), then Argon2id on a blocking thread.
    pub async fn start(
        password: crate::secret::Password,
        history: Option<&super::history::HistoryDb>,
    ) -> Result<SecureRoom, CryptoError> {
        let fresh = crypto::random_bytes::<16>();
        let salt = match history.map(|db| db.salt_or(fresh)) {
            Some(Ok(salt)) => salt,
            Some(Err(e)) => {
                tracing::warn!("history: cannot keep the room salt ({e}); stored messages will not be readable after a restart");
                fresh
            }
            None => fresh,
        };
        tokio::task::spawn_blocking(move || {
            SecureRoom::with_salt(password.as_bytes(), salt, KdfParams::default())
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}
