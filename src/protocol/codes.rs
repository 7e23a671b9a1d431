//! Stable `error.code` words (documented in `docs/PROTOCOL.md`).

pub const BAD_FRAME: &str = "bad_frame";
pub const BAD_PACKET: &str = "bad_packet";
pub const TOO_LONG: &str = "too_long";
pub const EMPTY_TEXT: &str = "empty_text";
pub const NOT_AUTHENTICATED: &str = "not_authenticated";
pub const ALREADY_AUTHENTICATED: &str = "already_authenticated";
pub const NAME_INVALID: &str = "name_invalid";
pub const AUTH_FAILED: &str = "auth_failed";
pub const AUTH_THROTTLED: &str = "auth_throttled";
pub const LEGACY_SECURE: &str = "legacy_secure_unsupported";
pub const SERVER_FULL: &str = "server_full";
pub const TLS_REQUIRED: &str = "tls_required";
pub const TIMEOUT: &str = "timeout";
pub const RATE_LIMITED: &str = "rate_limited";
pub const TOO_MANY_CONNECTIONS: &str = "too_many_connections";
pub const NO_SUCH_USER: &str = "no_such_user";
pub const NAME_TAKEN: &str = "name_taken";
pub const HISTORY_UNAVAILABLE: &str = "history_unavailable";
pub const INBOX_FULL: &str = "inbox_full";
pub const UPGRADE_REQUIRED: &str = "upgrade_required";
pub const ROOM_INVALID: &str = "room_invalid";
pub const NO_SUCH_ROOM: &str = "no_such_room";
pub const NOT_IN_ROOM: &str = "not_in_room";
pub const TOO_MANY_ROOMS: &str = "too_many_rooms";
pub const ROOM_FULL: &str = "room_full";
// `bye.code` only: why the server closed the connection.
pub const SHUTDOWN: &str = "shutdown";
pub const KICKED: &str = "kicked";
pub const IDLE: &str = "idle";
pub const TOO_SLOW: &str = "too_slow";
pub const FLOODING: &str = "flooding";
