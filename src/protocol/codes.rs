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
/// Accounts: the name belongs to an account (log in to it), or is an
/// operator's (guests cannot take it).
pub(crate) const NAME_REGISTERED: &str = "name_registered";
/// Accounts: the login did not verify (no such account, or a wrong password:
/// the same answer, on purpose).
pub(crate) const ACCOUNT_AUTH_FAILED: &str = "account_auth_failed";
/// `--client-ca`: the name is not the certificate's, nor its account's.
pub(crate) const NAME_NOT_CERTIFIED: &str = "name_not_certified";
/// Accounts: registration is closed, or operators only.
pub(crate) const REGISTRATION_CLOSED: &str = "registration_closed";
/// Accounts: too many registrations from this address just now.
pub(crate) const REGISTRATION_THROTTLED: &str = "registration_throttled";
/// Accounts: this server has none (no TLS, or not set up).
pub(crate) const ACCOUNTS_UNAVAILABLE: &str = "accounts_unavailable";
/// Accounts: it needs a logged-in member.
pub(crate) const NOT_LOGGED_IN: &str = "not_logged_in";
/// Room operators: only an operator of the room may.
pub(crate) const NOT_OPERATOR: &str = "not_operator";
/// The room keeps this member out (`reason` says until when).
pub(crate) const BANNED: &str = "banned";
/// The member's lines are refused in this room.
pub(crate) const MUTED: &str = "muted";
/// The room is invite-only and the member was not invited.
pub(crate) const INVITE_ONLY: &str = "invite_only";
/// The room's topic is locked to its operators.
pub(crate) const TOPIC_LOCKED: &str = "topic_locked";
/// A room holds its most bans (or mutes, or invitations).
pub(crate) const TOO_MANY_BANS: &str = "too_many_bans";
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
