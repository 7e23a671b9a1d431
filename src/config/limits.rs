//! `[limits]`: every limit in one section, with defaults that protect a
//! small machine (docs/LIMITS.md says what each one does).

use serde::{Deserialize, Serialize};

/// Everything a peer could otherwise grow or hold. See `docs/LIMITS.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Connected clients at most; more get an `error` `server_full`.
    pub max_clients: usize,
    /// Connections from one source address at most (0 = no limit).
    pub max_clients_per_address: usize,
    /// New connections from one source address per minute at most (0 = no limit).
    pub new_connections_per_minute: usize,
    /// Chat lines per second per client, refilled continuously (0 = no limit).
    pub messages_per_second: f64,
    /// Chat lines a client may send at once before the rate applies.
    pub message_burst: u32,
    /// Longest line a peer may send, in bytes.
    pub max_frame_bytes: usize,
    /// Longest chat text, in characters.
    pub max_text_chars: usize,
    /// Seconds for TLS handshake + `auth` after connecting.
    pub handshake_timeout: f64,
    /// Bytes a client may fall behind the room before it is dropped as too slow.
    pub send_queue_bytes: usize,
    /// Chunks (about 4 KiB of lines each) the room's feed keeps at most.
    pub room_buffer: usize,
    /// Seconds a single write to a client may take before it is dropped.
    pub write_timeout: f64,
    /// Failed secure-room logins an address may make at once before it must
    /// wait (one more every `auth_block / auth_failures` seconds).
    pub auth_failures: u32,
    /// Seconds over which an address's failed logins are forgiven (it gets
    /// another try every `auth_block / auth_failures` seconds).
    pub auth_block: f64,
    /// Failed secure-room logins per minute from all addresses together.
    pub auth_failures_total: u32,
    /// Connections still in their handshake (TLS, hello, auth) at most;
    /// they do not take `max_clients` slots.
    pub max_handshakes: usize,
    /// Connections open on the web address at most (page loads and browser
    /// members together); never more than half the process's descriptors.
    pub max_web_connections: usize,
    /// Rooms on the server at most, the default and declared ones included
    /// (0 = no limit).
    pub max_rooms: usize,
    /// Rooms one member may be in at once (0 = no limit).
    pub max_rooms_per_member: usize,
    /// Members in one room at most (0 = no limit but `max_clients`).
    pub max_room_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clients: 4096,
            max_clients_per_address: 64,
            new_connections_per_minute: 240,
            messages_per_second: 10.0,
            message_burst: 20,
            max_frame_bytes: 64 * 1024,
            max_text_chars: 4000,
            handshake_timeout: 10.0,
            send_queue_bytes: 1024 * 1024,
            room_buffer: 4096,
            write_timeout: 30.0,
            auth_failures: 5,
            auth_block: 60.0,
            auth_failures_total: 100,
            max_handshakes: 512,
            max_web_connections: 1024,
            max_rooms: 64,
            max_rooms_per_member: 16,
            max_room_members: 0,
        }
    }
}
