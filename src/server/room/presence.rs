//! Presence: join and leave notices and the count, coalesced. A lone join is
//! announced at once; a burst within [`PRESENCE_INTERVAL`] is flushed
//! together (up to three notices stay individual, more become one summary)
//! with one count per flush. Without this, N joins would cost N² deliveries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::rules::Who;
use super::{Registry, Room};
use crate::protocol::Packet;

/// Shortest time between two presence broadcasts.
pub(crate) const PRESENCE_INTERVAL: Duration = Duration::from_millis(50);
/// Pending notices up to this many are sent one by one; more are summarised.
const PRESENCE_SINGLE: usize = 3;

pub(super) enum Presence {
    Joined(String),
    Left(String, Departure),
}

/// How a member left, for the notice everyone gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Departure {
    /// The connection ended: "NAME disconnected."
    Gone,
    /// The client said goodbye with a reason: "NAME left (REASON)".
    Said(String),
    /// The operator removed them: "NAME was removed by the operator: REASON".
    Kicked(String),
    /// They left this room only: "NAME left #ROOM" (with their reason).
    Parted(Option<String>),
}

impl Room {
    /// Flush presence now if the last flush is old enough, else make sure a
    /// flush is scheduled for when it is.
    pub(super) fn presence_changed(self: &Arc<Self>, reg: &mut Registry) {
        let wait = reg
            .last_flush
            .map(|t| PRESENCE_INTERVAL.saturating_sub(t.elapsed()))
            .unwrap_or_default();
        match tokio::runtime::Handle::try_current() {
            Ok(h) if !wait.is_zero() => {
                if !reg.flush_scheduled {
                    reg.flush_scheduled = true;
                    let room = Arc::downgrade(self);
                    h.spawn(async move {
                        tokio::time::sleep(wait).await;
                        if let Some(room) = room.upgrade() {
                            let mut reg = room.lock();
                            room.flush_presence(&mut reg);
                        }
                    });
                }
            }
            _ => self.flush_presence(reg),
        }
    }

    /// Publish pending join/leave notices and one count.
    pub(super) fn flush_presence(&self, reg: &mut Registry) {
        reg.flush_scheduled = false;
        if reg.pending.is_empty() {
            return;
        }
        reg.last_flush = Some(Instant::now());
        let pending = std::mem::take(&mut reg.pending);
        if pending.len() <= PRESENCE_SINGLE {
            for p in pending {
                let packet = match p {
                    Presence::Joined(n) => Packet::event("join", Some(&n), format!("{n} joined")),
                    Presence::Left(n, Departure::Gone) => {
                        Packet::event("leave", Some(&n), format!("{n} disconnected."))
                    }
                    Presence::Left(n, Departure::Said(why)) => {
                        Packet::event("leave", Some(&n), format!("{n} left ({why})"))
                    }
                    Presence::Left(n, Departure::Kicked(why)) => Packet::event(
                        "kick",
                        Some(&n),
                        format!("{n} was removed by the operator: {why}"),
                    ),
                    Presence::Left(n, Departure::Parted(None)) => {
                        Packet::event("leave", Some(&n), format!("{n} left {}", self.name))
                    }
                    Presence::Left(n, Departure::Parted(Some(why))) => {
                        Packet::event("leave", Some(&n), format!("{n} left {} ({why})", self.name))
                    }
                };
                let line = self.tagged(packet).to_line();
                self.publish_locked(reg, line, false);
            }
        } else {
            let mut joined = Vec::new();
            let mut left = Vec::new();
            for p in pending {
                match p {
                    Presence::Joined(n) => joined.push(n),
                    Presence::Left(n, _) => left.push(n),
                }
            }
            let mut parts = Vec::new();
            if !joined.is_empty() {
                parts.push(summary(&joined, "joined"));
            }
            if !left.is_empty() {
                parts.push(summary(&left, "disconnected"));
            }
            // No single name: a client tracking the room asks for `users` again.
            let event = if left.is_empty() { "join" } else { "leave" };
            let packet = Packet::event(event, None, parts.join("; "));
            let line = self.tagged(packet).to_line();
            self.publish_locked(reg, line, false);
        }
        let count = self.count_line(reg);
        self.publish_locked(reg, count, false);
    }
}

/// "alice, bob, carol, dave, erin and 95 more joined"
fn summary(names: &[String], verb: &str) -> String {
    const SHOWN: usize = 5;
    let shown = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match names.len() {
        n if n > SHOWN => format!("{shown} and {} more {verb}", n - SHOWN),
        _ => format!("{shown} {verb}"),
    }
}

/// How a member (`who`, with its account's key) leaves `room`, as the room
/// is told: a muted member's own words (a part or goodbye reason) are not
/// shown there.
pub(super) fn departure_in(
    who: (Who<'_>, Option<String>),
    room: &Room,
    how: Departure,
) -> Departure {
    if !room.any_mutes() {
        return how;
    }
    let (mut w, key) = who;
    w.account = key.as_deref();
    if room
        .moderation()
        .rules
        .mute_of(&w, crate::protocol::now_ms())
        .is_none()
    {
        return how;
    }
    match how {
        Departure::Said(_) => Departure::Gone,
        Departure::Parted(Some(_)) => Departure::Parted(None),
        other => other,
    }
}
