//! The packets of rooms (protocol 3): joining and leaving one, the list of
//! rooms, and topics.

use serde::{Deserialize, Serialize};

use super::is_false;

/// `join`, `part` (client to server) and `parted` (server to client).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct RoomRequest {
    #[serde(default)]
    pub room: String,
    /// `part`: why (shown to the room).
    pub reason: Option<String>,
}

/// A room as listed, and the `joined` answer.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct RoomInfo {
    #[serde(default)]
    pub room: String,
    pub topic: Option<String>,
    /// Members in it.
    #[serde(default)]
    pub total: u64,
    /// Declared by the operator: it stays when empty.
    #[serde(default, skip_serializing_if = "is_false")]
    pub persistent: bool,
}

/// `rooms`: empty in the request; the rooms in the answer (at most
/// [`MAX_ROOMS_LISTED`], by name; `total` says how many there are).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Rooms {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<RoomInfo>,
    pub total: Option<u64>,
}

/// Most rooms one `rooms` answer lists.
pub const MAX_ROOMS_LISTED: usize = 500;

/// Client to server: set the topic of a room one is in.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Topic {
    #[serde(default)]
    pub room: String,
    #[serde(default)]
    pub text: String,
}
