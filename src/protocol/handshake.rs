//! The packets of a connection's start: the server's `hello` (with the
//! limits a client paces itself by, clamped by the client), and the login
//! (`auth`, a secure room's key-exchange steps, `auth_result`).

use serde::{Deserialize, Serialize};

/// First packet on every connection, server to client.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Hello {
    #[serde(default)]
    pub secure: bool,
    /// Absent on a legacy (Python) server.
    pub proto: Option<u32>,
    pub server: Option<String>,
    /// Secure mode: key-derivation parameters and this connection's challenge.
    pub auth: Option<AuthParams>,
    /// The server's limits that a client paces itself by.
    pub limits: Option<HelloLimits>,
    /// The room a client is in when it asks for none (rooms servers only).
    pub default_room: Option<String>,
    /// Accounts (TLS servers): who may register — `open`, `operator`
    /// (its operator only) or `closed`; absent: no accounts.
    pub accounts: Option<Registration>,
}

/// `hello.accounts`: who may register an account on this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    Open,
    Operator,
    Closed,
    /// A word this build does not know.
    #[serde(other)]
    Unknown,
}

/// `hello.limits`: what a well-behaved client needs to know to never be
/// refused (a line filter paces its lines by the rate and burst).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct HelloLimits {
    /// Chat lines (and other rate-limited packets) per second; 0 = no limit.
    #[cfg_attr(
        test,
        proptest(
            strategy = "proptest::strategy::Strategy::prop_map(0u32..4_000_000, |q| f64::from(q) / 4.0)"
        )
    )]
    pub messages_per_second: f64,
    pub message_burst: u32,
    pub max_text_chars: usize,
    pub max_frame_bytes: usize,
}

impl HelloLimits {
    /// Slowest rate a client paces itself by (a server that says less gets
    /// this: a line every 100 s at the most, never a wait that overflows).
    pub const MIN_RATE: f64 = 0.01;
    pub const MAX_RATE: f64 = 1_000_000.0;
    pub const MAX_BURST: u32 = 100_000;
    /// Smallest frame a client believes a server takes.
    pub const MIN_FRAME: usize = 256;

    /// What a client may act on, whatever the server said: every value
    /// within sane bounds, so no announcement can make a client wait
    /// forever, divide by zero or refuse every line. `max_frame` is the
    /// client's own frame limit. A rate of 0 (or less) means no limit.
    pub fn clamped(self, max_frame: usize) -> HelloLimits {
        let rate = self.messages_per_second;
        let messages_per_second = if rate.is_finite() && rate > 0.0 {
            rate.clamp(Self::MIN_RATE, Self::MAX_RATE)
        } else {
            0.0
        };
        let max_frame_bytes = self.max_frame_bytes.clamp(Self::MIN_FRAME, max_frame);
        HelloLimits {
            messages_per_second,
            message_burst: self.message_burst.clamp(1, Self::MAX_BURST),
            max_text_chars: self.max_text_chars.clamp(1, max_frame_bytes),
            max_frame_bytes,
        }
    }
}

/// Secure-mode parameters carried in `hello.auth` (see `docs/SECURITY.md`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct AuthParams {
    /// The key exchange: `opaque-ristretto255-3dh-sha512-argon2id`.
    #[serde(default)]
    pub scheme: String,
    /// base64 of the room's id (bound into the key exchange and messages).
    #[serde(default)]
    pub room: String,
}

/// Client to server: who I am (and, in secure mode, my proof).
#[serde_with::skip_serializing_none]
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Auth {
    #[serde(default)]
    pub name: String,
    /// Legacy secure mode only: a tcpplay server refuses it and never logs it.
    pub password: Option<String>,
    /// Secure rooms v1 sent an HMAC proof here: refused (`upgrade_required`).
    pub proof: Option<String>,
    /// Secure rooms: base64 of OPAQUE's first message (KE1).
    pub ke1: Option<String>,
    /// The protocol version the client speaks; absent from a legacy client,
    /// which then only gets the packet types it knows.
    pub proto: Option<u32>,
    /// Version 3: the rooms to be in (absent or empty: the default room).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<String>,
    /// Accounts: base64 of the account login's first message (KE1), for
    /// the account called `name`.
    pub account_ke1: Option<String>,
    /// Accounts: a one-time sign-in token (`account` `signin`) for the
    /// account called `name`, instead of its login (the browser page).
    /// Boxed: one pointer, so a session's future stays within 1 KiB
    /// (`server::transport::tests::long_lived_futures_stay_small`).
    #[allow(clippy::box_collection)]
    pub signin: Option<Box<String>>,
}

impl std::fmt::Debug for Auth {
    // Never print the password or proof, even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("proof", &self.proof.as_ref().map(|_| "***"))
            .field("ke1", &self.ke1.as_ref().map(|_| "***"))
            .field("proto", &self.proto)
            .field("rooms", &self.rooms)
            .field("account_ke1", &self.account_ke1.as_ref().map(|_| "***"))
            .field("signin", &self.signin.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A step of a secure room's login: the server's KE2, then the client's KE3.
#[serde_with::skip_serializing_none]
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct AuthStep {
    pub ke2: Option<String>,
    pub ke3: Option<String>,
    /// The account login's KE2 (server) and KE3 (client).
    pub account_ke2: Option<String>,
    pub account_ke3: Option<String>,
}

impl std::fmt::Debug for AuthStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStep").finish_non_exhaustive()
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct AuthResult {
    pub ok: bool,
    pub client_name: Option<String>,
    pub reason: Option<String>,
    /// Machine word for a refusal (`name_invalid`, `auth_failed`, ...).
    pub code: Option<String>,
    /// The account logged in to (absent: a guest).
    pub account: Option<String>,
}
