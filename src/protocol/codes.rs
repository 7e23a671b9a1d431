//! Stable `error.code` words (documented in `docs/PROTOCOL.md`).

pub(crate) const BAD_FRAME: &str = "bad_frame";
pub(crate) const BAD_PACKET: &str = "bad_packet";
pub(crate) const TOO_LONG: &str = "too_long";
pub(crate) const EMPTY_TEXT: &str = "empty_text";
pub(crate) const NOT_AUTHENTICATED: &str = "not_authenticated";
pub(crate) const ALREADY_AUTHENTICATED: &str = "already_authenticated";
pub(crate) const NAME_INVALID: &str = "name_invalid";
pub(crate) const AUTH_FAILED: &str = "auth_failed";
pub(crate) const AUTH_THROTTLED: &str = "auth_throttled";
pub(crate) const LEGACY_SECURE: &str = "legacy_secure_unsupported";
pub(crate) const SERVER_FULL: &str = "server_full";
pub(crate) const TLS_REQUIRED: &str = "tls_required";
pub(crate) const TIMEOUT: &str = "timeout";
pub(crate) const RATE_LIMITED: &str = "rate_limited";
pub(crate) const TOO_MANY_CONNECTIONS: &str = "too_many_connections";
pub(crate) const NO_SUCH_USER: &str = "no_such_user";
pub(crate) const NAME_TAKEN: &str = "name_taken";
pub(crate) const HISTORY_UNAVAILABLE: &str = "history_unavailable";
pub(crate) const INBOX_FULL: &str = "inbox_full";
pub(crate) const UPGRADE_REQUIRED: &str = "upgrade_required";
pub(crate) const ROOM_INVALID: &str = "room_invalid";
pub(crate) const NO_SUCH_ROOM: &str = "no_such_room";
pub(crate) const NOT_IN_ROOM: &str = "not_in_room";
pub(crate) const TOO_MANY_ROOMS: &str = "too_many_rooms";
pub(crate) const ROOM_FULL: &str = "room_full";
/// Cluster mode: a chat line refused (the link to the other servers has
/// been down so long that the most lines wait already).
pub(crate) const NOT_SENT: &str = "not_sent";
/// Cluster mode: a name (or a new room) that cannot be checked across the
/// cluster now; asking again in a few seconds works.
pub(crate) const CLUSTER_UNAVAILABLE: &str = "cluster_unavailable";
// `bye.code` only: why the server closed the connection.
pub(crate) const SHUTDOWN: &str = "shutdown";
pub(crate) const KICKED: &str = "kicked";
pub(crate) const IDLE: &str = "idle";
pub(crate) const TOO_SLOW: &str = "too_slow";
pub(crate) const FLOODING: &str = "flooding";
/// Cluster mode: the member's server lost its place in the cluster (cut
/// off longer than the heartbeat's expiry), or their name went to another
/// member while the cluster repaired its store: connect again.
pub(crate) const CLUSTER_LOST: &str = "cluster_lost";
