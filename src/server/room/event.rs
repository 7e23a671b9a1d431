//! What happens in a room, typed: what the room hands a relay (the cluster)
//! to publish, and what a relay hands back to be delivered here. The room
//! owns this type; a relay translates it to and from its own wire, so the
//! room never sees a relay's field names or strings.

use std::sync::Arc;

use super::{Body, Departure, Room};

/// One thing that happened in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoomEvent {
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
pub(crate) struct Said {
    pub from: String,
    /// The sender's source port (legacy clients show it); none for the server.
    pub port: Option<u16>,
    pub body: Body,
}

/// An event another server published, as a relay hands it back: its place
/// in the relay's order and the line id it gives, and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relayed {
    /// Its place in the relay's order (read on after it).
    pub id: String,
    /// The line id it gives (the same on every server).
    pub line: u64,
    pub event: RoomEvent,
    /// The server run that wrote it.
    pub origin: String,
    /// That run's sequence number for it (absent from older writers): a
    /// node that reads its own entry back knows it landed.
    pub seq: Option<u64>,
}

/// A direct message from a member of another server, for a member here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Direct {
    pub from: String,
    pub to: String,
    pub body: Body,
    /// When the sender's server accepted it (ms).
    pub ts: u64,
}

/// A chat line the relay refused: why, in words for its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotSent(pub String);

/// What a room calls to tell the other servers what happened in it (the
/// cluster implements it; a lone server has none).
pub(crate) trait Relay: Send + Sync {
    /// Publish `event` of `room` for every server, this one included, which
    /// then delivers it from the relay ([`Room::deliver_event`]) — never
    /// here first. A chat line it cannot take is refused, with why.
    fn publish(&self, room: &Arc<Room>, event: RoomEvent) -> Result<(), NotSent>;
}
