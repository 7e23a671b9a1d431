//! What happens in a room, typed: what the room hands a relay (the cluster)
//! to publish, and what a relay hands back to be delivered here. The room
//! owns this type; a relay translates it to and from its own wire, so the
//! room never sees a relay's field names or strings.

use super::{Body, Departure};

/// One thing that happened in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// A chat line or action.
    Said(Said),
    /// A member came into the room.
    Joined { name: String },
    /// A member left the room (or the server), and how.
    Left { name: String, how: Departure },
    /// A member took another name.
    Renamed { old: String, new: String },
    /// The topic was set (or cleared) by `by`.
    Topic { by: String, text: Option<String> },
}

/// A chat line as its sender's server accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub from: String,
    /// The sender's source port (legacy clients show it); none for the server.
    pub port: Option<u16>,
    pub body: Body,
}
