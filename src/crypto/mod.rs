//! Secure-room cryptography, and nothing else: the OPAQUE login and the
//! room's registration ([`room`]), and the messages — XChaCha20-Poly1305
//! under a key derived from OPAQUE's `export_key`, with associated data that
//! binds each ciphertext to its room, kind, sender, recipient and send time.
//! Key material is zeroized on drop and never printed. The scheme is
//! described in `docs/SECURITY.md`.

pub mod account;
mod opaque;
pub mod room;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// TLS exporter label for the channel binding (RFC 5705 / RFC 9266 style).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-tcpplay-room-v2";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("a secure-room message from the peer is malformed")]
    Malformed,
    /// The other side did not prove the room's password (or record).
    #[error("the other side could not prove it knows the room")]
    NotProven,
    #[error("message could not be decrypted (wrong room, altered, or not from whom it says)")]
    Decrypt,
}

/// What a sealed message is: bound into its ciphertext as associated data,
/// so it cannot be shown as anything else.
#[derive(Debug, Clone, Copy)]
pub struct Sealed<'a> {
    /// The sender, as the server named it.
    pub from: &'a str,
    pub kind: Kind<'a>,
    /// The sender's clock when it sealed, ms since the Unix epoch.
    pub sent: u64,
    /// The chat room a chat line or action was said in ("" for the default
    /// room, so that its lines seal as before rooms): the server cannot
    /// move a line into another room.
    pub room: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    Chat,
    /// `/me`.
    Action,
    /// A direct message to this member.
    Dm {
        to: &'a str,
    },
}

/// The room's message key. Every holder of the password derives the same
/// one; the server never has it (unless its operator unlocks the console).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RoomKey {
    key: [u8; 32],
    room: [u8; 16],
}

impl std::fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomKey(***)")
    }
}

impl RoomKey {
    /// HKDF-SHA256 of OPAQUE's export key, salted with the room's id.
    pub(crate) fn from_export_key(export_key: &[u8], room: &[u8]) -> RoomKey {
        let hk = Hkdf::<Sha256>::new(Some(room), export_key);
        let mut key = [0u8; 32];
        hk.expand(b"tcpplay/2 messages", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        let mut id = [0u8; 16];
        let n = room.len().min(16);
        id[..n].copy_from_slice(&room[..n]);
        RoomKey { key, room: id }
    }

    /// The room's id (16 bytes), bound into every message.
    pub(crate) fn room_id(&self) -> [u8; 16] {
        self.room
    }

    fn ad(&self, what: &Sealed<'_>) -> Vec<u8> {
        let (kind, to) = match what.kind {
            Kind::Chat => ("chat", what.room),
            Kind::Action => ("action", what.room),
            Kind::Dm { to } => ("dm", to),
        };
        let mut ad = b"tcpplay/2\0".to_vec();
        ad.extend_from_slice(&self.room);
        for part in [kind, what.from, to] {
            ad.push(0);
            ad.extend_from_slice(part.as_bytes());
        }
        ad.push(0);
        ad.extend_from_slice(&what.sent.to_be_bytes());
        ad
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.key))
    }

    /// `base64(nonce || XChaCha20-Poly1305(key, nonce, text, ad(what)))`.
    pub fn seal(&self, text: &str, what: &Sealed<'_>) -> String {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        self.seal_with_nonce(text, what, nonce)
    }

    /// [`seal`](Self::seal) with a caller-chosen nonce. Only for the load
    /// generator, which puts a sender id, sequence number and timestamp in the
    /// nonce so receivers can account for messages without decrypting each.
    /// Never reuse a nonce: that breaks the cipher.
    #[doc(hidden)]
    pub fn seal_with_nonce(&self, text: &str, what: &Sealed<'_>, nonce: [u8; 24]) -> String {
        let ct = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: text.as_bytes(),
                    aad: &self.ad(what),
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(24 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    /// Open a payload that claims to be `what`; the text and its nonce (for
    /// spotting a replay).
    pub fn open(
        &self,
        payload: &str,
        what: &Sealed<'_>,
    ) -> Result<(String, [u8; 24]), CryptoError> {
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
                    aad: &self.ad(what),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        let text = String::from_utf8(pt).map_err(|_| CryptoError::Decrypt)?;
        Ok((text, nonce.try_into().expect("24 bytes")))
    }
}

/// The longest base64 payload that can hold `max_chars` characters of text.
pub(crate) fn max_payload_len(max_chars: usize) -> usize {
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

/// While a room key or password is in this process's memory, a crash must
/// not write it to a core file (nor another process read it through
/// ptrace): no core dumps, not dumpable. Harmless to call more than once.
pub(crate) fn no_core_dumps() {
    #[cfg(unix)]
    // SAFETY: setting resource limits and the dumpable flag of this process.
    unsafe {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::room::{ClientStart, RoomRecord, ServerStart};
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
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

    /// One login: the client's key, or where it failed.
    fn login(
        room: &RoomRecord,
        password: &[u8],
        client_binding: [u8; 32],
        server_binding: [u8; 32],
    ) -> Result<RoomKey, &'static str> {
        let client = ClientStart::new(password).unwrap();
        let server = ServerStart::new(room, &client.ke1, &server_binding).unwrap();
        let (ke3, key) = client
            .finish(password, &server.ke2, &room.id, &client_binding)
            .map_err(|_| "client refused the server")?;
        server
            .finish(&ke3, &room.id, &server_binding)
            .map_err(|_| "server refused the client")?;
        Ok(key)
    }

    #[test]
    fn opaque_logins_agree_on_the_room_key_and_fail_for_a_wrong_password_or_a_relay() {
        let room = RoomRecord::register(b"correct horse").unwrap();
        let stored = RoomRecord::from_bytes(&room.to_bytes()).unwrap();
        let a = login(&stored, b"correct horse", [1; 32], [1; 32]).unwrap();
        let b = login(&stored, b"correct horse", [2; 32], [2; 32]).unwrap();
        let what = Sealed {
            from: "alice",
            kind: Kind::Chat,
            sent: 1,
            room: "",
        };
        let sealed = a.seal("hello", &what);
        assert_eq!(
            b.open(&sealed, &what).unwrap().0,
            "hello",
            "one key per room"
        );
        assert_eq!(
            login(&stored, b"wrong horse", [1; 32], [1; 32]).err(),
            Some("client refused the server"),
            "a wrong password is found out by the client, before it proves anything"
        );
        assert_eq!(
            login(&stored, b"correct horse", [1; 32], [9; 32]).err(),
            Some("client refused the server"),
            "a relay between two TLS sessions fails"
        );
        let other_room = RoomRecord::register(b"correct horse").unwrap();
        let c = login(&other_room, b"correct horse", [3; 32], [3; 32]).unwrap();
        assert!(c.open(&sealed, &what).is_err(), "another room, another key");
        assert!(stored.unlock(b"correct horse").is_some());
        assert!(stored.unlock(b"nope").is_none());
    }

    #[test]
    fn a_ciphertext_opens_only_as_what_it_was_sealed_as() {
        let key = RoomKey::from_export_key(&[7; 64], &[1; 16]);
        let what = Sealed {
            from: "alice",
            kind: Kind::Chat,
            sent: 1000,
            room: "",
        };
        let p = key.seal("plan 42", &what);
        assert!(!p.contains("plan"));
        let (text, nonce) = key.open(&p, &what).unwrap();
        assert_eq!(text, "plan 42");
        assert_eq!(nonce.len(), 24);
        for other in [
            Sealed {
                from: "mallory",
                ..what
            },
            Sealed {
                kind: Kind::Action,
                ..what
            },
            Sealed {
                kind: Kind::Dm { to: "bob" },
                ..what
            },
            Sealed { sent: 1001, ..what },
            Sealed {
                room: "#elsewhere",
                ..what
            },
        ] {
            assert_eq!(key.open(&p, &other), Err(CryptoError::Decrypt), "{other:?}");
        }
        let mut raw = unb64(&p).unwrap();
        raw[30] ^= 1;
        assert_eq!(key.open(&b64(&raw), &what), Err(CryptoError::Decrypt));
        assert!(p.len() <= max_payload_len("plan 42".chars().count()));
    }

    #[test]
    fn debug_never_shows_key_material() {
        assert_eq!(
            format!("{:?}", RoomKey::from_export_key(&[1; 64], &[2; 16])),
            "RoomKey(***)"
        );
    }
}
