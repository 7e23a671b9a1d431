//! `[limits]`: every limit in one section, with defaults that protect a
//! small machine (docs/LIMITS.md says what each one does). One table
//! declares each setting once: its type, default, and whether a running
//! server takes a new value live (`SIGHUP`, `/reload`) or needs a restart.

use serde::{Deserialize, Serialize};

/// Declares [`Limits`] from one table: `pub name: type = default` and, for a
/// setting sized when the server starts (slots, the ring, the throttle),
/// `at start`. From it come the struct, its `Default`, [`Limits::KEYS`] and
/// [`Limits::sized_at_start`].
macro_rules! limits {
    ($($(#[$doc:meta])* pub $key:ident: $ty:ty = $default:expr $(, at $start:ident)?;)*) => {
        /// Everything a peer could otherwise grow or hold. See `docs/LIMITS.md`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Limits {
            $($(#[$doc])* pub $key: $ty,)*
        }

        impl Default for Limits {
            fn default() -> Self {
                Limits { $($key: $default,)* }
            }
        }

        impl Limits {
            /// Every key of `[limits]`, in the order they are declared (what
            /// docs/LIMITS.md's table is checked against).
            #[cfg(test)]
            pub(crate) const KEYS: [&'static str; [$(stringify!($key)),*].len()] = [$(stringify!($key)),*];

            /// Whether the limit `key` (`max_clients`, without the section)
            /// is sized when the server starts, so a new value needs a restart.
            pub(crate) fn sized_at_start(key: &str) -> bool {
                $(if key == stringify!($key) {
                    return limits!(@start $($start)?);
                })*
                false
            }
        }
    };
    (@start start) => { true };
    (@start) => { false };
}

limits! {
    /// Connected clients at most; more get an `error` `server_full`.
    pub max_clients: usize = 4096, at start;
    /// Connections from one source address at most (0 = no limit).
    pub max_clients_per_address: usize = 64;
    /// New connections from one source address per minute at most (0 = no limit).
    pub new_connections_per_minute: usize = 240;
    /// Chat lines per second per client, refilled continuously (0 = no limit).
    pub messages_per_second: f64 = 10.0;
    /// Chat lines a client may send at once before the rate applies.
    pub message_burst: u32 = 20;
    /// Longest line a peer may send, in bytes.
    pub max_frame_bytes: usize = 64 * 1024;
    /// Longest chat text, in characters.
    pub max_text_chars: usize = 4000;
    /// Seconds for TLS handshake + `auth` after connecting.
    pub handshake_timeout: f64 = 10.0;
    /// Bytes a client may fall behind the room before it is dropped as too slow.
    pub send_queue_bytes: usize = 1024 * 1024;
    /// Chunks (about 4 KiB of lines each) the room's feed keeps at most.
    pub room_buffer: usize = 4096, at start;
    /// Seconds a single write to a client may take before it is dropped.
    pub write_timeout: f64 = 30.0;
    /// Failed secure-room logins an address may make at once before it must
    /// wait (one more every `auth_block / auth_failures` seconds).
    pub auth_failures: u32 = 5, at start;
    /// Seconds over which an address's failed logins are forgiven (it gets
    /// another try every `auth_block / auth_failures` seconds).
    pub auth_block: f64 = 60.0, at start;
    /// Failed secure-room logins per minute from all addresses together.
    pub auth_failures_total: u32 = 100, at start;
    /// Connections still in their handshake (TLS, hello, auth) at most;
    /// they do not take `max_clients` slots.
    pub max_handshakes: usize = 512, at start;
    /// Connections open on the web address at most (page loads and browser
    /// members together); never more than half the process's descriptors.
    pub max_web_connections: usize = 1024, at start;
    /// Rooms on the server at most, the default and declared ones included
    /// (0 = no limit).
    pub max_rooms: usize = 64;
    /// Rooms one member may be in at once (0 = no limit).
    pub max_rooms_per_member: usize = 16;
    /// Members in one room at most (0 = no limit but `max_clients`).
    pub max_room_members: usize = 0;
}
