//! Secure-mode cryptography, and nothing else: Argon2id room key, HKDF-SHA256
//! sub-keys, HMAC-SHA256 proofs bound to the TLS session, XChaCha20-Poly1305
//! message payloads. Key material is zeroized on drop and never printed.
//! The scheme is described in `docs/SECURITY.md`.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// TLS exporter label for the channel binding (RFC 5705 / RFC 9266 style).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-tcpplay-auth-v1";
/// The only key-derivation function this version speaks.
pub const KDF_NAME: &str = "argon2id";

/// Argon2id cost parameters, as sent in `hello.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for KdfParams {
    /// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        KdfParams {
            m_kib: 19456,
            t: 2,
            p: 1,
        }
    }
}

/// The most a client will spend for a server: a hostile server must not make it
/// allocate gigabytes or spin for minutes.
pub const MAX_PARAMS: KdfParams = KdfParams {
    m_kib: 256 * 1024,
    t: 10,
    p: 8,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the server asks for key-derivation parameters beyond this client's limits ({0}); refusing to derive")]
    HostileParams(String),
    #[error("invalid key-derivation parameters: {0}")]
    BadParams(String),
    #[error("message could not be decrypted (wrong password, or altered in transit)")]
    Decrypt,
}

impl KdfParams {
    /// Refuse parameters outside this client's bounds, before any work.
    pub fn check_bounds(&self) -> Result<(), CryptoError> {
        let m = MAX_PARAMS;
        if self.m_kib > m.m_kib || self.t > m.t || self.p > m.p {
            return Err(CryptoError::HostileParams(format!(
                "asked m={} KiB, t={}, p={}; limits m<={} KiB, t<={}, p<={}",
                self.m_kib, self.t, self.p, m.m_kib, m.t, m.p
            )));
        }
        if self.t < 1 || self.p < 1 || self.m_kib < 8 * self.p {
            return Err(CryptoError::BadParams(format!(
                "m={} KiB, t={}, p={} (need t>=1, p>=1, m>=8*p)",
                self.m_kib, self.t, self.p
            )));
        }
        Ok(())
    }
}

/// The room's keys, derived from the password. Only sub-keys are kept.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RoomKey {
    auth_key: [u8; 32],
    msg_key: [u8; 32],
}

impl std::fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomKey(***)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl RoomKey {
    /// `K = Argon2id(password, salt)`, then `auth_key` and `msg_key` by HKDF-SHA256.
    pub fn derive(password: &[u8], salt: &[u8], params: KdfParams) -> Result<RoomKey, CryptoError> {
        let p = Params::new(params.m_kib, params.t, params.p, Some(32))
            .map_err(|e| CryptoError::BadParams(e.to_string()))?;
        let mut k = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
            .hash_password_into(password, salt, &mut *k)
            .map_err(|e| CryptoError::BadParams(e.to_string()))?;
        let hk = Hkdf::<Sha256>::new(None, &*k);
        let mut key = RoomKey {
            auth_key: [0; 32],
            msg_key: [0; 32],
        };
        hk.expand(b"tcpplay/1 auth", &mut key.auth_key)
            .map_err(|e| CryptoError::BadParams(e.to_string()))?;
        hk.expand(b"tcpplay/1 msg", &mut key.msg_key)
            .map_err(|e| CryptoError::BadParams(e.to_string()))?;
        Ok(key)
    }

    fn mac(&self, role: &[u8], challenge: &[u8], binding: &[u8], name: &str) -> HmacSha256 {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.auth_key).expect("HMAC takes any key length");
        mac.update(role);
        mac.update(challenge);
        mac.update(binding);
        mac.update(name.as_bytes());
        mac
    }

    /// `HMAC(auth_key, "client" || challenge || binding || name)`.
    pub fn client_proof(&self, challenge: &[u8], binding: &[u8], name: &str) -> [u8; 32] {
        self.mac(b"client", challenge, binding, name)
            .finalize()
            .into_bytes()
            .into()
    }

    /// `HMAC(auth_key, "server" || challenge || binding || final_name)`.
    pub fn server_proof(&self, challenge: &[u8], binding: &[u8], name: &str) -> [u8; 32] {
        self.mac(b"server", challenge, binding, name)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Constant-time check of a client's proof.
    pub fn verify_client(
        &self,
        challenge: &[u8],
        binding: &[u8],
        name: &str,
        proof: &[u8],
    ) -> bool {
        self.mac(b"client", challenge, binding, name)
            .verify_slice(proof)
            .is_ok()
    }

    /// Constant-time check of the server's proof.
    pub fn verify_server(
        &self,
        challenge: &[u8],
        binding: &[u8],
        name: &str,
        proof: &[u8],
    ) -> bool {
        self.mac(b"server", challenge, binding, name)
            .verify_slice(proof)
            .is_ok()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.msg_key))
    }

    /// `base64(nonce || XChaCha20-Poly1305(msg_key, nonce, text, aad(kind)))`.
    pub fn seal(&self, kind: &str, text: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        self.seal_with_nonce(kind, text, nonce)
    }

    /// [`seal`](Self::seal) with a caller-chosen nonce. Only for the load
    /// generator, which puts a sender id, sequence number and timestamp in the
    /// nonce so receivers can account for messages without decrypting each.
    /// Never reuse a nonce: that breaks the cipher.
    #[doc(hidden)]
    pub fn seal_with_nonce(&self, kind: &str, text: &str, nonce: [u8; 24]) -> String {
        let ct = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: text.as_bytes(),
                    aad: &aad(kind),
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(24 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    /// Open a payload sealed for packet type `kind`.
    pub fn open(&self, kind: &str, payload: &str) -> Result<String, CryptoError> {
        let raw = B64.decode(payload).map_err(|_| CryptoError::Decrypt)?;
        if raw.len() < 24 + 16 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = raw.split_at(24);
        let pt = self
            .cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad(kind),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(pt).map_err(|_| CryptoError::Decrypt)
    }
}

/// Associated data: protocol version and packet type, so a ciphertext cannot be
/// moved from one packet type to another.
fn aad(kind: &str) -> Vec<u8> {
    format!("tcpplay/1 {kind}").into_bytes()
}

/// The longest base64 payload that can hold `max_chars` characters of text.
pub fn max_payload_len(max_chars: usize) -> usize {
    let max_bytes = max_chars * 4 + 24 + 16;
    max_bytes.div_ceil(3) * 4
}

/// `n` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Vectors computed independently in Python with argon2-cffi
    /// (`argon2.low_level.hash_secret_raw(pw, salt, time_cost=2,
    /// memory_cost=19456, parallelism=1, hash_len=32, type=Type.ID)`) and an
    /// RFC 5869 HKDF / HMAC written with Python's `hmac` and `hashlib`:
    /// password "correct horse battery staple", salt 00..0f, challenge 32×0x07,
    /// binding 32×0x09.
    const SALT: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    fn key() -> RoomKey {
        RoomKey::derive(b"correct horse battery staple", &SALT, KdfParams::default()).unwrap()
    }

    #[test]
    fn derived_sub_keys_match_independent_vectors() {
        let k = key();
        assert_eq!(
            hex(&k.auth_key),
            "d7fc7fd184ffbc70d8cadc578ea202584f69dc31918b1829e70b1fdb37e9b551"
        );
        assert_eq!(
            hex(&k.msg_key),
            "eef7b25fc0e5f4eb8e6d417665d0af5a2dffe243024f95f75921177d7241c222"
        );
    }

    #[test]
    fn proofs_match_independent_vectors_and_verify() {
        let k = key();
        let (ch, bind) = ([7u8; 32], [9u8; 32]);
        let c = k.client_proof(&ch, &bind, "Alice");
        assert_eq!(
            hex(&c),
            "dfa1af7f94de6d340afba5198a8bbc74ad72ad243a01d9d645f38861df3e5b4e"
        );
        let s = k.server_proof(&ch, &bind, "Alice-2");
        assert_eq!(
            hex(&s),
            "4519b9960f44d86d2d735b7054b7a352d1efd8cdd1bc7a1b86a31f63d2256652"
        );
        assert!(k.verify_client(&ch, &bind, "Alice", &c));
        assert!(
            !k.verify_client(&ch, &[8u8; 32], "Alice", &c),
            "bound to the TLS session"
        );
        assert!(
            !k.verify_client(&ch, &bind, "Mallory", &c),
            "bound to the name"
        );
        assert!(!k.verify_server(&ch, &bind, "Alice-2", &c), "roles differ");
    }

    #[test]
    fn argon2id_matches_rfc_9106_vector() {
        // RFC 9106 section 5.3 (with secret and associated data, as the RFC has it).
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .data(argon2::AssociatedData::new(&[4; 12]).unwrap())
            .output_len(32)
            .build()
            .unwrap();
        let a =
            Argon2::new_with_secret(&[3; 8], Algorithm::Argon2id, Version::V0x13, params).unwrap();
        let mut out = [0u8; 32];
        a.hash_password_into(&[1; 32], &[2; 16], &mut out).unwrap();
        assert_eq!(
            hex(&out),
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }

    #[test]
    fn hkdf_matches_rfc_5869_case_1() {
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let mut okm = [0u8; 42];
        Hkdf::<Sha256>::new(Some(&salt), &ikm)
            .expand(&info, &mut okm)
            .unwrap();
        assert_eq!(
            hex(&okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn sealed_text_opens_only_unaltered_and_for_its_packet_type() {
        let k = key();
        let p = k.seal("chat", "hello secret");
        assert!(!p.contains("hello"));
        assert_eq!(k.open("chat", &p).unwrap(), "hello secret");
        assert_eq!(k.open("system", &p), Err(CryptoError::Decrypt));
        let mut raw = unb64(&p).unwrap();
        raw[30] ^= 1;
        assert_eq!(k.open("chat", &b64(&raw)), Err(CryptoError::Decrypt));
        let other = RoomKey::derive(
            b"wrong",
            &SALT,
            KdfParams {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        )
        .unwrap();
        assert_eq!(other.open("chat", &p), Err(CryptoError::Decrypt));
        assert!(p.len() <= max_payload_len("hello secret".chars().count()));
    }

    #[test]
    fn hostile_parameters_are_refused_before_derivation() {
        assert!(KdfParams::default().check_bounds().is_ok());
        let huge = KdfParams {
            m_kib: 4 * 1024 * 1024,
            t: 2,
            p: 1,
        };
        assert!(matches!(
            huge.check_bounds(),
            Err(CryptoError::HostileParams(_))
        ));
        assert!(KdfParams {
            m_kib: 19456,
            t: 1000,
            p: 1
        }
        .check_bounds()
        .is_err());
        assert!(KdfParams {
            m_kib: 19456,
            t: 2,
            p: 64
        }
        .check_bounds()
        .is_err());
        assert!(KdfParams {
            m_kib: 4,
            t: 2,
            p: 1
        }
        .check_bounds()
        .is_err());
    }

    #[test]
    fn debug_never_shows_key_material() {
        assert_eq!(format!("{:?}", key()), "RoomKey(***)");
    }
}
