//! Publishing: what happens in a room here goes into the node's one queue
//! and from there, pipelined, onto the room's stream; every node, this one
//! too, delivers it from there — never here first. Each entry carries this
//! run's next sequence number, and the append script lands a (run,
//! sequence) once: when a pipeline's outcome is unknown (a timeout, a
//! Redis paused or restarted) the same entries are sent again, in the same
//! order, until Redis answers, and the ones that landed before are not
//! added twice. So a member's lines keep their order, on this node too,
//! and none is doubled. While Redis is unreachable lines wait in the queue
//! (at most `HOLD` chat lines: more are refused to their sender).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{ErrorKind, Value};
use tokio::sync::mpsc;

use super::scripts::{APPEND, MARK_TTL_MS};
use super::{entry, Cluster, Out, Relay, Room, RoomEvent};
use crate::server::room::NotSent;

/// Chat lines waiting for Redis at most; more are refused to their sender.
pub(super) const HOLD: usize = 10_000;
/// Entries in one pipeline at most.
const BATCH: usize = 256;
/// An empty room's stream and topic are kept this long (then expire).
pub(super) const EMPTY_ROOM_TTL_MS: u64 = 300_000;

impl Relay for Cluster {
    /// Queue what happened in `room` here for every node (this one too
    /// delivers it from the room's stream). A chat line is refused when
    /// `HOLD` lines wait already (Redis has been unreachable a while).
    fn publish(&self, room: &Arc<Room>, event: RoomEvent) -> Result<(), NotSent> {
        let said = matches!(event, RoomEvent::Said(_));
        if said && self.held.fetch_add(1, Ordering::AcqRel) >= HOLD {
            self.held.fetch_sub(1, Ordering::AcqRel);
            self.m.refused.inc();
            return Err(NotSent(format!(
                "not sent: this server cannot reach the other servers, and {HOLD} lines wait for them already; try again when the link is back"
            )));
        }
        let out = Out {
            room: room.clone(),
            event,
            run: self.run(),
        };
        self.out
            .send(out)
            .map_err(|_| NotSent("not sent: this server is shutting down its cluster link".into()))
    }
}

/// An entry in the queue: its sequence number in this run.
struct Pending {
    seq: u64,
    out: Out,
}

/// What Redis said about one appended entry.
enum Outcome {
    /// It is in the stream (now, or from an earlier try).
    Landed,
    /// This run was declared dead: nothing of it is appended any more.
    Dead,
}

impl Cluster {
    /// Append what happens here, in order, pipelined, until each entry is
    /// known to be in its stream.
    pub(super) async fn publisher(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Out>) {
        let mut con = self.con.clone();
        let mut queue: VecDeque<Pending> = VecDeque::new();
        let mut next_seq = 0u64;
        let mut got = Vec::new();
        let mut pause = Duration::from_millis(50);
        loop {
            if queue.is_empty() && rx.recv_many(&mut got, BATCH).await == 0 {
                return;
            }
            while got.len() < BATCH * 4 {
                match rx.try_recv() {
                    Ok(o) => got.push(o),
                    Err(_) => break,
                }
            }
            for out in got.drain(..) {
                queue.push_back(Pending { seq: next_seq, out });
                next_seq += 1;
            }
            // What a run declared dead had waiting goes nowhere: its members
            // are being told and disconnected (no ghost lines afterwards).
            let run = self.run();
            queue.retain(|p| {
                let current = Arc::ptr_eq(&p.out.run, &run);
                if !current {
                    self.resolved(&p.out);
                }
                current
            });
            if queue.is_empty() {
                self.m.queued.set(0);
                continue;
            }
            self.m.queued.set(queue.len() as i64);
            let n = queue.len().min(BATCH);
            match self.append(&mut con, &run, queue.range(..n)).await {
                Ok(outcomes) => {
                    pause = Duration::from_millis(50);
                    self.link_up();
                    if outcomes.iter().any(|o| matches!(o, Outcome::Dead)) {
                        // Its members are dropped; what they said goes nowhere.
                        for p in queue.drain(..) {
                            self.resolved(&p.out);
                        }
                        self.lost_place(&run).await;
                        next_seq = 0;
                        continue;
                    }
                    for p in queue.drain(..n) {
                        self.resolved(&p.out);
                    }
                    self.m.queued.set(queue.len() as i64);
                }
                Err(e) if e.kind() == ErrorKind::NoScriptError => {
                    // Redis restarted: it forgot the script.
                    if let Err(e) = APPEND.prepare_invoke().load_async(&mut con).await {
                        self.link_down(&e);
                    }
                }
                Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                    // Unknown outcome: sent again, as they are, once Redis answers.
                    self.link_down(&e);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    // Redis refused something (a key of the wrong type?):
                    // each entry alone, and the one it refuses is told.
                    let e = e.to_string();
                    self.append_each(&mut con, &mut queue, n, &e).await;
                }
            }
        }
    }

    /// One entry is done with: a chat line no longer counts as held.
    fn resolved(&self, out: &Out) {
        if matches!(out.event, RoomEvent::Said(_)) {
            self.held.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// After Redis refused a pipeline: the first `n` entries one at a time;
    /// one it refuses is dropped and its room told why.
    async fn append_each(
        &self,
        con: &mut ConnectionManager,
        queue: &mut VecDeque<Pending>,
        n: usize,
        first_error: &str,
    ) {
        for _ in 0..n {
            let Some(p) = queue.front() else { return };
            let run = self.run();
            match self.append(con, &run, queue.range(..1)).await {
                Ok(_) => {}
                Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => return,
                Err(e) if e.kind() == ErrorKind::NoScriptError => return,
                Err(e) => {
                    tracing::warn!(node = %self.cfg.node, room = %p.out.room.name(), "cluster: Redis refused an entry ({e}; first: {first_error}); dropped");
                    p.out.room.notice(crate::protocol::Packet::event(
                        "cluster",
                        None,
                        format!("a line said in {} could not be stored for the other servers (Redis refused it: {e}); it was not delivered", p.out.room.name()),
                    ));
                }
            }
            if let Some(p) = queue.pop_front() {
                self.resolved(&p.out);
            }
        }
    }

    /// Send `entries` in one pipeline; what Redis said of each.
    async fn append<'a>(
        &self,
        con: &mut ConnectionManager,
        run: &str,
        entries: impl Iterator<Item = &'a Pending>,
    ) -> redis::RedisResult<Vec<Outcome>> {
        let seq_key = self.keys.seq(run);
        let dead_key = self.keys.dead(run);
        let rooms = self.keys.rooms();
        let mut pipe = redis::pipe();
        for p in entries {
            let room = &p.out.room;
            let key = room.key();
            let (op, a, b) = match &p.out.event {
                RoomEvent::Joined { name } => ("join", name.as_str(), ""),
                RoomEvent::Left { name, .. } => ("leave", name.as_str(), ""),
                RoomEvent::Renamed { old, new } => ("rename", old.as_str(), new.as_str()),
                RoomEvent::Topic { text, .. } => ("topic", text.as_deref().unwrap_or(""), ""),
                RoomEvent::Said(_) => ("", "", ""),
            };
            let (floor_ms, floor_seq) = floor(&room.cluster_last());
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(APPEND.get_hash())
                .arg(6)
                .arg(self.keys.log(key))
                .arg(&seq_key)
                .arg(&dead_key)
                .arg(self.keys.members(key))
                .arg(&rooms)
                .arg(self.keys.topic(key))
                .arg(run)
                .arg(p.seq)
                .arg(self.cfg.max_messages.max(1))
                .arg(floor_ms)
                .arg(floor_seq)
                .arg(op)
                .arg(a)
                .arg(b)
                .arg(key)
                .arg(room.name())
                .arg(if room.persistent() { "1" } else { "0" })
                .arg(EMPTY_ROOM_TTL_MS)
                .arg(MARK_TTL_MS);
            for (k, v) in entry::encode(&p.out.event, run) {
                cmd.arg(k).arg(v);
            }
            pipe.add_command(cmd);
        }
        let replies: Vec<Value> = pipe.query_async(con).await?;
        Ok(replies
            .into_iter()
            .map(|v| match v {
                Value::Int(-1) => Outcome::Dead,
                _ => Outcome::Landed,
            })
            .collect())
    }
}

/// The lowest id a new entry of a room may take is above `last` (the last
/// stream id this node delivered there): its ms and sequence.
fn floor(last: &str) -> (u64, u64) {
    last.split_once('-')
        .and_then(|(ms, seq)| Some((ms.parse().ok()?, seq.parse().ok()?)))
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    use super::floor;

    #[test]
    fn the_floor_is_the_last_id_read_or_nothing() {
        assert_eq!(floor("1700000000000-7"), (1_700_000_000_000, 7));
        assert_eq!(floor("$"), (0, 0));
        assert_eq!(floor("0-0"), (0, 0));
    }
}
