//! The server's half of secure mode: the room key, the `hello.auth` it offers,
//! and the per-address throttle of failed proofs. The server relays chat
//! payloads as they came; it only decrypts for its own console.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Failed proofs per source address: after `max_failures` within a minute the
/// address is refused for `block`. Bounded: at most `MAX_TRACKED` addresses.
pub struct AuthThrottle {
    max_failures: u32,
    block: Duration,
    state: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
}

const WINDOW: Duration = Duration::from_secs(60);
const MAX_TRACKED: usize = 10_000;

impl AuthThrottle {
    pub fn new(max_failures: u32, block: Duration) -> AuthThrottle {
        AuthThrottle {
            max_failures: max_failures.max(1),
            block,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(remaining)` while `ip` is refused.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let until = self.lock().get(&ip)?.blocked_until?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Count a failure; true when this one started a block.
    pub fn fail(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, f| {
                now.duration_since(f.window_start) < WINDOW
                    || f.blocked_until.is_some_and(|u| u > now)
            });
            if map.len() >= MAX_TRACKED {
                // Still full of live entries: forget the oldest window.
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, f)| f.window_start)
                    .map(|(k, _)| *k)
                {
                    map.remove(&oldest);
                }
            }
        }
        let f = map.entry(ip).or_insert(Failures {
            count: 0,
            window_start: now,
            blocked_until: None,
        });
        if now.duration_since(f.window_start) >= WINDOW {
            f.count = 0;
            f.window_start = now;
        }
        f.count += 1;
        if f.count >= self.max_failures {
            f.blocked_until = Some(now + self.block);
            f.count = 0;
            f.window_start = now;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_one_address_and_not_another() {
        let t = AuthThrottle::new(3, Duration::from_secs(60));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(!t.fail(a) && !t.fail(a));
        assert!(t.blocked(a).is_none());
        assert!(t.fail(a));
        assert!(t.blocked(a).is_some());
        assert!(t.blocked(b).is_none());
    }
}
