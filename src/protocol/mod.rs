//! Wire protocol (v3: rooms): the packet types (serde) and what each is. One compact
//! JSON object per `\n`-terminated line. The legacy fields of the Python
//! TCP-Playground are kept exactly; everything else is optional so that old
//! peers ignore it. Unknown packet types decode to [`Packet::Unknown`] and
//! unknown fields are ignored (forward compatibility). See `docs/PROTOCOL.md`.
//!
//! - `codec`: lines (bounded) and their parsing
//! - `connection`: a stream speaking packets, used by server and client
//! - `foreign`: HTTP or IRC on tcpplay's port, and the line to answer it

mod accounts;
pub(crate) mod codec;
pub(crate) mod codes;
pub(crate) mod connection;
pub mod fast;
mod foreign;
mod handshake;
pub mod irc;
mod rooms;

pub use accounts::{AccountMsg, AccountOp, ModAction, Moderate};
pub use codec::{parse, FrameCodec, FrameError, ParseError};
pub use connection::Connection;
pub use foreign::Foreign;
pub use handshake::{Auth, AuthParams, AuthResult, AuthStep, Hello, HelloLimits, Registration};
pub use rooms::{RoomInfo, RoomRequest, Rooms, Topic, MAX_ROOMS_LISTED};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks (`hello.proto`, `auth.proto`).
/// Version 2 changed only secure rooms (OPAQUE); version 3 added rooms
/// (`join`, `part`, `rooms`, `topic`, and a `room` field on what belongs to
/// one). Lines of the default room carry no `room` field, so clients of
/// versions 1 and 2 (and the Python original) read them as before.
pub const PROTO_VERSION: u32 = 3;

/// The first version that speaks rooms.
pub const PROTO_ROOMS: u32 = 3;

/// `hello.server`: who we are.
pub const SERVER_SOFTWARE: &str = concat!("tcpplay/", env!("CARGO_PKG_VERSION"));

/// Every packet type of version 1. Fields that the Python original sends are
/// plain; our additions are `Option`s skipped when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Packet {
    Hello(Hello),
    Auth(Auth),
    AuthResult(AuthResult),
    Chat(Chat),
    System(System),
    Count(Count),
    Error(ErrorPacket),
    Bye(Bye),
    Ping(Ping),
    Pong(Ping),
    /// A direct message: client to server `to` + text; server to both ends with `from`.
    Dm(Dm),
    /// Client to server: rename me.
    Nick(Nick),
    /// Client to server: who is here (empty); server to client: the answer.
    Users(Users),
    /// Secure rooms: the key exchange's next message (server: KE2, client: KE3).
    AuthStep(AuthStep),
    /// Server to client: a chat line from before (replay on join, or fetched).
    History(Chat),
    /// Server to client: the end of a run of `history` packets.
    HistoryEnd(HistoryEnd),
    /// Client to server: send me older history.
    FetchHistory(FetchHistory),
    /// Client to server: put me in a room (created on first join).
    Join(RoomRequest),
    /// Server to client: you are in this room now (its topic and count).
    Joined(RoomInfo),
    /// Client to server: take me out of a room (with an optional reason).
    Part(RoomRequest),
    /// Server to client: you left this room.
    Parted(RoomRequest),
    /// Client to server (empty): which rooms are there; server to client: the list.
    Rooms(Rooms),
    /// Client to server: set a room's topic.
    Topic(Topic),
    /// Accounts: register, change the password, unregister, bind a
    /// certificate (both ways; `op: "done"` answers).
    Account(AccountMsg),
    /// Client to server: a room operator's action.
    Moderate(Moderate),
    /// Client to server: I am away (`text`: why), or back (no text).
    Away(Away),
    /// A packet type this build does not know: skipped, never an error.
    #[serde(other)]
    Unknown,
}

/// A chat line. Client to server it carries `text` (or `payload` when
/// encrypted); server to client it adds `from`, `port`, `id` and `ts`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Chat {
    #[serde(default)]
    pub encrypted: bool,
    pub from: Option<String>,
    /// Sender's source port (legacy); absent for the server operator.
    pub port: Option<u16>,
    pub text: Option<String>,
    /// Secure mode: base64(nonce || XChaCha20-Poly1305 ciphertext).
    pub payload: Option<String>,
    /// Secure mode: the sender's clock when it sealed (ms since the epoch),
    /// bound into the ciphertext; relayed as it came.
    pub sent: Option<u64>,
    /// Server-assigned, increasing per room.
    pub id: Option<u64>,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: Option<u64>,
    /// `/me`: the text is an action ("alice waves").
    #[serde(default, skip_serializing_if = "is_false")]
    pub action: bool,
    /// The room it was said in (absent: the default room).
    pub room: Option<String>,
    /// Client to server only: the client's number for this line, echoed in
    /// an `error` that refuses it (never relayed).
    pub seq: Option<u64>,
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// A direct message. Client to server: `to` and `text` (or `payload` in a
/// secure room). Server to the recipient and, as an echo, to the sender: the
/// same with `from` and `ts`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Dm {
    #[serde(default)]
    pub encrypted: bool,
    pub from: Option<String>,
    #[serde(default)]
    pub to: String,
    pub text: Option<String>,
    pub payload: Option<String>,
    /// As [`Chat::sent`].
    pub sent: Option<u64>,
    pub ts: Option<u64>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub action: bool,
    /// As [`Chat::seq`].
    pub seq: Option<u64>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Nick {
    #[serde(default)]
    pub name: String,
}

/// `away`: away with `text` (trimmed, one line, at most
/// [`MAX_AWAY_CHARS`]), or back when it is absent or empty.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Away {
    pub text: Option<String>,
}

/// Longest away message kept (longer ones are cut).
pub const MAX_AWAY_CHARS: usize = 200;

/// One member in a `users` answer.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct UserInfo {
    pub name: String,
    /// When they joined, milliseconds since the Unix epoch.
    pub since: u64,
    /// The account they logged in to (absent: a guest).
    pub account: Option<String>,
    /// An operator of the room asked about.
    #[serde(default, skip_serializing_if = "is_false")]
    pub op: bool,
    /// Away, saying this (absent: here).
    pub away: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Users {
    /// Empty in the request; oldest member first in the answer (at most
    /// [`MAX_USERS_LISTED`]; `total` says how many there are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserInfo>,
    pub total: Option<u64>,
    /// Whose members (absent: the default room).
    pub room: Option<String>,
}

/// Most names one `users` answer lists (keeps it well under a frame).
pub const MAX_USERS_LISTED: usize = 500;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct HistoryEnd {
    /// `history` packets in this run.
    pub count: u64,
    /// Older messages exist (fetch them with `fetch_history`).
    #[serde(default)]
    pub more: bool,
    /// Whose history (absent: the default room).
    pub room: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct FetchHistory {
    /// Only messages with an id below this (default: the newest).
    pub before: Option<u64>,
    /// How many at most (default 20, capped at [`MAX_HISTORY_FETCH`]).
    pub limit: Option<u32>,
    /// Whose history (absent: the default room).
    pub room: Option<String>,
}

/// Most messages one `fetch_history` returns.
pub const MAX_HISTORY_FETCH: u32 = 100;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct System {
    #[serde(default)]
    pub encrypted: bool,
    #[serde(default)]
    pub text: String,
    /// What happened, for clients that track the room: `join`, `leave`,
    /// `rename`, `kick`, `motd`. Absent on plain notices (and from legacy servers).
    pub event: Option<String>,
    /// Who it is about (`join`/`leave`/`kick`: absent on a coalesced summary;
    /// `rename`: the old name).
    pub name: Option<String>,
    /// `rename`: the new name.
    pub new_name: Option<String>,
    /// The room it happened in (absent: the default room, or the whole
    /// server for a rename).
    pub room: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Count {
    pub total: u64,
    /// Whose members (absent: the default room).
    pub room: Option<String>,
}

/// A refusal: `code` is a stable machine word, `message` is for people.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct ErrorPacket {
    pub code: String,
    pub message: String,
    /// The `seq` of the packet this refuses, when it had one.
    pub seq: Option<u64>,
    /// The room the refused packet was about.
    pub room: Option<String>,
}

/// Sent by the server before it closes a connection on purpose (a client's
/// `bye` is its goodbye, with an optional reason).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Bye {
    pub reason: String,
    /// Why, as an `error` code (`flooding`, `too_slow`, `kicked`, ...).
    pub code: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Ping {
    pub token: Option<u64>,
}

impl Packet {
    /// Counted against the sender's chat rate (`limits.messages_per_second`):
    /// everything a member asks the room for, not the protocol's own chatter.
    pub fn rate_limited(&self) -> bool {
        matches!(
            self,
            Packet::Chat(_)
                | Packet::Dm(_)
                | Packet::Nick(_)
                | Packet::Users(_)
                | Packet::FetchHistory(_)
                | Packet::Join(_)
                | Packet::Part(_)
                | Packet::Rooms(_)
                | Packet::Topic(_)
                | Packet::Account(_)
                | Packet::Moderate(_)
                | Packet::Away(_)
        )
    }

    /// A packet the Python original knows, with the meaning it knows: a
    /// legacy peer is sent (and a client sends a legacy server) only these.
    pub fn legacy(&self) -> bool {
        match self {
            Packet::Chat(c) | Packet::History(c) => !c.action && matches!(self, Packet::Chat(_)),
            Packet::Hello(_)
            | Packet::Auth(_)
            | Packet::AuthResult(_)
            | Packet::System(_)
            | Packet::Count(_) => true,
            _ => false,
        }
    }

    /// Serialize to one compact line, `\n` included, ready for every recipient.
    pub fn to_line(&self) -> Bytes {
        // Our packet types are maps with string keys: serialization cannot fail.
        let mut v = serde_json::to_vec(self).expect("packet types always serialize");
        v.push(b'\n');
        Bytes::from(v)
    }

    pub fn error(code: &str, message: impl Into<String>) -> Packet {
        Packet::Error(ErrorPacket {
            code: code.to_string(),
            message: message.into(),
            seq: None,
            room: None,
        })
    }

    pub fn system(text: impl Into<String>) -> Packet {
        Packet::System(System {
            text: text.into(),
            ..Default::default()
        })
    }

    /// A notice about `name` that clients tracking the room can act on.
    pub fn event(event: &str, name: Option<&str>, text: impl Into<String>) -> Packet {
        Packet::System(System {
            text: text.into(),
            event: Some(event.into()),
            name: name.map(Into::into),
            ..Default::default()
        })
    }

    pub fn bye(reason: impl Into<String>) -> Packet {
        Packet::Bye(Bye {
            reason: reason.into(),
            code: None,
        })
    }

    /// The client's number on a chat line or direct message (see [`Chat::seq`]).
    pub fn seq(&self) -> Option<u64> {
        match self {
            Packet::Chat(c) => c.seq,
            Packet::Dm(d) => d.seq,
            _ => None,
        }
    }

    /// An `error` that answers the packet numbered `seq`.
    pub fn answering(mut self, seq: Option<u64>) -> Packet {
        if let Packet::Error(e) = &mut self {
            e.seq = seq;
        }
        self
    }

    /// The same packet about `room` (`None`: the default room, no field).
    pub fn in_room(mut self, room: Option<&str>) -> Packet {
        let room = room.map(str::to_string);
        match &mut self {
            Packet::Chat(c) | Packet::History(c) => c.room = room,
            Packet::System(s) => s.room = room,
            Packet::Count(c) => c.room = room,
            Packet::Users(u) => u.room = room,
            Packet::HistoryEnd(h) => h.room = room,
            Packet::Error(e) => e.room = room,
            _ => {}
        }
        self
    }

    /// The server's goodbye, with the code that says why.
    pub fn bye_because(code: &str, reason: impl Into<String>) -> Packet {
        Packet::Bye(Bye {
            reason: reason.into(),
            code: Some(code.into()),
        })
    }
}

/// Milliseconds since the Unix epoch, for `chat.ts`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_packets_parse_exactly() {
        let p = parse(br#"{"type": "hello", "secure": false}"#).unwrap();
        assert_eq!(p, Packet::Hello(Hello::default()));
        let p =
            parse(br#"{"type":"chat","encrypted":false,"from":"Alice","port":56582,"text":"hi"}"#)
                .unwrap();
        let Packet::Chat(c) = p else {
            panic!("not chat")
        };
        assert_eq!(c.from.as_deref(), Some("Alice"));
        assert_eq!(c.port, Some(56582));
        assert_eq!(c.text.as_deref(), Some("hi"));
    }

    #[test]
    fn legacy_count_serializes_as_python_does() {
        let line = Packet::Count(Count {
            total: 3,
            room: None,
        })
        .to_line();
        assert_eq!(&line[..], b"{\"type\":\"count\",\"total\":3}\n");
        let line = Packet::system("x").to_line();
        assert_eq!(
            &line[..],
            b"{\"type\":\"system\",\"encrypted\":false,\"text\":\"x\"}\n"
        );
    }

    #[test]
    fn unknown_types_and_fields_are_ignored() {
        assert_eq!(
            parse(br#"{"type":"future_thing","x":1}"#),
            Ok(Packet::Unknown)
        );
        let p = parse(br#"{"type":"count","total":2,"extra":[1,2]}"#).unwrap();
        assert_eq!(
            p,
            Packet::Count(Count {
                total: 2,
                room: None
            })
        );
    }

    #[test]
    fn auth_debug_never_shows_secrets() {
        let a = Auth {
            name: "a".into(),
            password: Some("hunter2".into()),
            proof: Some("c2VjcmV0".into()),
            ke1: Some("a2UxIGJ5dGVz".into()),
            proto: None,
            rooms: Vec::new(),
            account_ke1: Some("YWNjb3VudA==".into()),
            signin: Some(Box::new("0123456789abcdef".into())),
        };
        let s = format!("{a:?}");
        for secret in [
            "hunter2",
            "c2VjcmV0",
            "a2UxIGJ5dGVz",
            "YWNjb3VudA==",
            "0123456789abcdef",
        ] {
            assert!(!s.contains(secret), "{s}");
        }
        let step = AuthStep {
            ke2: Some("a2Uy".into()),
            account_ke2: Some("YWNjMg==".into()),
            ..Default::default()
        };
        assert!(!format!("{step:?}").contains("YWNjMg=="));
        assert!(!format!("{step:?}").contains("a2Uy"));
    }
}
