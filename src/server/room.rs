//! The room: who is here (registry) and the broadcast of packets to them.
//!
//! Broadcast is the hot path. A packet is serialized once into [`Bytes`] and
//! pushed into one shared, bounded ring (`tokio::sync::broadcast`); every
//! member's session reads the same bytes from it. Publishing never waits for a
//! recipient: a member that falls more than `send_queue_bytes` behind the room
//! (or is overrun by the ring) is dropped as too slow by its own session.
//! The registry lock is a plain mutex, held only for a few map operations and
//! never across an `.await` or a socket write.
//!
//! Presence (join/leave notices and the count) is flushed at most every
//! [`PRESENCE_INTERVAL`]: a lone join is announced at once, a burst is
//! coalesced (up to three notices stay individual, more become one summary)
//! with one count per flush. Without this, N joins would cost N² deliveries.
//! A chat line flushes pending presence first, so order is kept.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::names;
use crate::protocol::{now_ms, Chat, Count, Packet};

pub type MemberId = u64;

/// One published packet, shared by every recipient.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The serialized line, `\n` included.
    pub bytes: Bytes,
    /// Bytes published to the room up to and including this frame.
    pub end: u64,
    /// `Some(id)`: only that member's session delivers it (direct messages).
    pub to: Option<MemberId>,
}

/// Someone in the room, as the registry sees them.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub addr: SocketAddr,
    pub joined: Instant,
    /// Cancelled to make this member's session leave: by a kick, or (as a
    /// child of the server's shutdown token) at shutdown.
    pub kick: CancellationToken,
}

/// Shortest time between two presence broadcasts.
pub const PRESENCE_INTERVAL: Duration = Duration::from_millis(50);
/// Pending notices up to this many are sent one by one; more are summarised.
const PRESENCE_SINGLE: usize = 3;

enum Presence {
    Joined(String),
    Left(String),
}

#[derive(Default)]
struct Registry {
    pending: Vec<Presence>,
    last_flush: Option<Instant>,
    flush_scheduled: bool,
    members: HashMap<MemberId, Member>,
    /// Lower-cased name -> member, for case-insensitive uniqueness.
    by_name: HashMap<String, MemberId>,
    next_member: MemberId,
    next_chat: u64,
}

pub struct Room {
    /// Also serializes publishing, so ids, counts and byte offsets are in order.
    registry: Mutex<Registry>,
    tx: broadcast::Sender<Frame>,
    /// Total bytes published; a reader compares it with `Frame::end` to know its lag.
    published: AtomicU64,
    /// The server's shutdown token: every member's kick token is its child.
    shutdown: CancellationToken,
}

/// What a session gets when it joins.
pub struct Joined {
    pub id: MemberId,
    pub name: String,
    pub rx: broadcast::Receiver<Frame>,
    pub kick: CancellationToken,
}

/// Who sent a chat line.
pub enum Sender<'a> {
    Member { name: &'a str, port: u16 },
    Server,
}

impl Room {
    /// A room whose shared ring holds `buffer` packets.
    pub fn new(buffer: usize, shutdown: CancellationToken) -> Arc<Room> {
        let (tx, _) = broadcast::channel(buffer.max(16));
        Arc::new(Room {
            registry: Mutex::new(Registry::default()),
            tx,
            published: AtomicU64::new(0),
            shutdown,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publish under the registry lock (callers hold it), keeping order.
    fn publish_locked(&self, _reg: &mut Registry, bytes: Bytes, to: Option<MemberId>) {
        let end = self
            .published
            .fetch_add(bytes.len() as u64, Ordering::Relaxed)
            + bytes.len() as u64;
        // An error only means nobody is subscribed: nothing to deliver.
        let _ = self.tx.send(Frame { bytes, end, to });
    }

    /// Add a member under a unique name (`-2`, `-3`, ... on collision), then
    /// announce the join and the new count to everyone, the joiner included.
    pub fn join(self: &Arc<Self>, requested: &str, addr: SocketAddr) -> Joined {
        let mut reg = self.lock();
        let mut name = requested.to_string();
        let mut n = 2;
        while reg.by_name.contains_key(&names::name_key(&name)) {
            name = names::with_suffix(requested, n);
            n += 1;
        }
        let id = reg.next_member;
        reg.next_member += 1;
        let kick = self.shutdown.child_token();
        reg.by_name.insert(names::name_key(&name), id);
        reg.members.insert(
            id,
            Member {
                name: name.clone(),
                addr,
                joined: Instant::now(),
                kick: kick.clone(),
            },
        );
        let rx = self.tx.subscribe();
        reg.pending.push(Presence::Joined(name.clone()));
        self.presence_changed(&mut reg);
        Joined { id, name, rx, kick }
    }

    /// Flush presence now if the last flush is old enough, else make sure a
    /// flush is scheduled for when it is.
    fn presence_changed(self: &Arc<Self>, reg: &mut Registry) {
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
    fn flush_presence(&self, reg: &mut Registry) {
        reg.flush_scheduled = false;
        if reg.pending.is_empty() {
            return;
        }
        reg.last_flush = Some(Instant::now());
        let pending = std::mem::take(&mut reg.pending);
        if pending.len() <= PRESENCE_SINGLE {
            for p in pending {
                let text = match p {
                    Presence::Joined(n) => format!("{n} joined"),
                    Presence::Left(n) => format!("{n} disconnected."),
                };
                self.publish_locked(reg, Packet::system(text).to_line(), None);
            }
        } else {
            let mut joined = Vec::new();
            let mut left = Vec::new();
            for p in pending {
                match p {
                    Presence::Joined(n) => joined.push(n),
                    Presence::Left(n) => left.push(n),
                }
            }
            let mut parts = Vec::new();
            if !joined.is_empty() {
                parts.push(summary(&joined, "joined"));
            }
            if !left.is_empty() {
                parts.push(summary(&left, "disconnected"));
            }
            self.publish_locked(reg, Packet::system(parts.join("; ")).to_line(), None);
        }
        let total = reg.members.len() as u64;
        self.publish_locked(reg, Packet::Count(Count { total }).to_line(), None);
    }

    /// Remove a member and announce it. Safe to call twice: the second is a no-op.
    pub fn leave(self: &Arc<Self>, id: MemberId) -> Option<Member> {
        let mut reg = self.lock();
        let member = reg.members.remove(&id)?;
        reg.by_name.remove(&names::name_key(&member.name));
        reg.pending.push(Presence::Left(member.name.clone()));
        self.presence_changed(&mut reg);
        Some(member)
    }

    /// Broadcast a chat line to everyone, its sender included. The packet gets
    /// the next id and the server time; it is serialized once for all.
    pub fn chat(&self, from: Sender<'_>, text: Option<String>, payload: Option<String>) {
        let (from, port) = match from {
            Sender::Member { name, port } => (name.to_string(), Some(port)),
            Sender::Server => ("server".to_string(), None),
        };
        let mut reg = self.lock();
        self.flush_presence(&mut reg);
        reg.next_chat += 1;
        let packet = Packet::Chat(Chat {
            encrypted: payload.is_some(),
            from: Some(from),
            port,
            text,
            payload,
            id: Some(reg.next_chat),
            ts: Some(now_ms()),
        });
        self.publish_locked(&mut reg, packet.to_line(), None);
    }

    /// A receiver of everything published from now on (the console uses one).
    pub fn subscribe(&self) -> broadcast::Receiver<Frame> {
        self.tx.subscribe()
    }

    /// Bytes published so far (see [`Frame::end`]).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    pub fn count(&self) -> usize {
        self.lock().members.len()
    }

    /// A snapshot of the members, oldest first.
    pub fn members(&self) -> Vec<Member> {
        let reg = self.lock();
        let mut v: Vec<(MemberId, Member)> =
            reg.members.iter().map(|(k, m)| (*k, m.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        v.into_iter().map(|(_, m)| m).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn names_are_made_unique_case_insensitively() {
        let room = Room::new(64, CancellationToken::new());
        let a = room.join("Alice", addr());
        let b = room.join("alice", addr());
        let c = room.join("ALICE", addr());
        assert_eq!(
            (a.name.as_str(), b.name.as_str(), c.name.as_str()),
            ("Alice", "alice-2", "ALICE-3")
        );
        room.leave(b.id);
        assert_eq!(room.join("Alice", addr()).name, "Alice-2");
        assert_eq!(room.count(), 3);
    }

    #[test]
    fn joiner_sees_its_join_and_count_and_leave_is_idempotent() {
        let room = Room::new(64, CancellationToken::new());
        let mut a = room.join("A", addr());
        let f1 = a.rx.try_recv().unwrap();
        let f2 = a.rx.try_recv().unwrap();
        assert!(std::str::from_utf8(&f1.bytes).unwrap().contains("A joined"));
        assert_eq!(&f2.bytes[..], b"{\"type\":\"count\",\"total\":1}\n");
        assert_eq!(f2.end, room.published());
        assert!(room.leave(a.id).is_some());
        assert!(room.leave(a.id).is_none());
    }

    #[tokio::test]
    async fn bursts_of_presence_are_coalesced_and_flushed_before_chat() {
        let room = Room::new(1024, CancellationToken::new());
        let mut rx = room.subscribe();
        let ids: Vec<_> = (0..10)
            .map(|i| room.join(&format!("u{i}"), addr()).id)
            .collect();
        // The first join went out at once; the other nine wait for the flush,
        // which a chat line forces.
        room.chat(Sender::Server, Some("hi".into()), None);
        let mut texts = Vec::new();
        while let Ok(f) = rx.try_recv() {
            texts.push(String::from_utf8(f.bytes.to_vec()).unwrap());
        }
        assert_eq!(texts.len(), 5, "{texts:#?}");
        assert!(texts[0].contains("u0 joined") && texts[1].contains("\"total\":1"));
        assert!(
            texts[2].contains("u1, u2, u3, u4, u5 and 4 more joined"),
            "{}",
            texts[2]
        );
        assert!(texts[3].contains("\"total\":10"));
        assert!(texts[4].contains("\"text\":\"hi\""));
        room.leave(ids[0]);
        let f = tokio::time::timeout(PRESENCE_INTERVAL * 20, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            std::str::from_utf8(&f.bytes)
                .unwrap()
                .contains("u0 disconnected."),
            "flushed by the timer"
        );
    }

    #[test]
    fn chat_ids_increase() {
        let room = Room::new(64, CancellationToken::new());
        let mut rx = room.subscribe();
        room.chat(Sender::Server, Some("one".into()), None);
        room.chat(
            Sender::Member { name: "A", port: 1 },
            Some("two".into()),
            None,
        );
        let ids: Vec<u64> = (0..2)
            .map(
                |_| match crate::protocol::parse(&rx.try_recv().unwrap().bytes[..]) {
                    Ok(Packet::Chat(c)) => c.id.unwrap(),
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(ids, vec![1, 2]);
    }
}
