//! Publishing: what happens in a room here goes into the node's one queue
//! and from there, a batch per script call, onto the rooms' streams; every node, this one
//! too, delivers it from there — never here first. Each entry carries the
//! node's next sequence number (rising across its runs), and the append script lands a (run,
//! sequence) once: when a batch's outcome is unknown (a timeout, a
//! Redis paused or restarted) the same entries are sent again, in the same
//! order, until Redis answers, and the ones that landed before are not
//! added twice — unless Redis lost its data (and that mark) meanwhile:
//! then they are not sent again but written off and told (`doubt`). So a
//! member's lines keep their order, on this node too, and none is doubled.
//! While Redis is unreachable lines wait in the queue
//! (at most `HOLD` chat lines: more are refused to their sender).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Value;
use tokio::sync::mpsc;

use super::doubt::{id_of, Doubt, Pending};
use super::scripts::{APPEND, MARK_TTL_MS};
use super::{entry, Cluster, Out, Relay, Room, RoomEvent};
use crate::server::room::NotSent;

/// Chat lines waiting for Redis at most; more are refused to their sender.
pub(super) const HOLD: usize = 10_000;
/// Entries in one script call at most.
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

/// What Redis said about a batch.
enum Outcome {
    /// In the streams (now, or from an earlier try), but for these
    /// (indexes in the batch, with Redis's words) which Redis refused.
    Landed(Vec<(usize, String)>),
    /// This run was declared dead: nothing of it is appended any more.
    Dead,
    /// Redis forgot this run (it lost its data): nothing was appended.
    Forgotten,
}

impl Cluster {
    /// Append what happens here, in order, a batch per script call, until
    /// each entry is known to be in its stream (or, when Redis lost its
    /// data, written off: `doubt`).
    /// `marked`: Redis holds the run's mark already.
    pub(super) async fn publisher(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<Out>,
        marked: bool,
    ) {
        let mut con = self.con();
        let mut queue: VecDeque<Pending> = VecDeque::new();
        // Rises for as long as the node runs, across its runs (see
        // `Cluster::landed`).
        let mut next_seq = 0u64;
        let mut got = Vec::new();
        let mut pause = Duration::from_millis(50);
        let mut doubt = Doubt::default();
        if marked {
            doubt.answered(&self.run(), false, false);
        }
        loop {
            if queue.is_empty() && !doubt.ask_due() {
                tokio::select! {
                    n = rx.recv_many(&mut got, BATCH) => if n == 0 { return },
                    () = self.forgot.notified() => doubt.ask = true,
                }
            }
            let run = self.take(&mut rx, &mut got, &mut queue, &mut next_seq, &mut doubt);
            if queue.is_empty() && !doubt.ask_due() {
                continue;
            }
            let n = queue.len().min(BATCH);
            let fresh = doubt.fresh(&run);
            match self.append(&mut con, &run, fresh, queue.range(..n)).await {
                Ok(Outcome::Dead) => {
                    // Its members are dropped; what they said goes nowhere.
                    for p in queue.drain(..) {
                        self.resolved(&p.out);
                    }
                    doubt.new_run();
                    self.lost_place(&run).await;
                    // The sequence numbers go on rising in the new run (never
                    // from 0 again): an entry of this run that the reader
                    // reads back late then never counts as one of the new
                    // run's landing (seed 32 of the refusing schedules).
                }
                Ok(Outcome::Forgotten) => self.forgotten(&mut queue, &mut doubt),
                Ok(Outcome::Landed(refused)) => {
                    pause = Duration::from_millis(50);
                    self.link_up();
                    if refused.is_empty() {
                        self.set_refusing(None);
                    }
                    doubt.answered(&run, fresh, n > 0 && refused.len() >= n);
                    for (i, p) in queue.drain(..n).enumerate() {
                        self.resolved(&p.out);
                        match refused.iter().find(|(r, _)| *r == i) {
                            Some((_, why)) => self.refused_by_redis(&p.out, why),
                            None => doubt.taken(p),
                        }
                    }
                    self.m.queued.set(queue.len() as i64);
                }
                Err(e) => {
                    // Unknown outcome: sent again, as they are, once Redis
                    // answers (what landed is not added twice) — unless
                    // Redis lost its data meanwhile (`doubt`).
                    if n > 0 && may_have_landed(&e) {
                        doubt.unanswered(&run, queue[n - 1].seq + 1);
                    }
                    self.link_down(&e);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                    con = self.con();
                }
            }
        }
    }

    /// Into the queue what waits in `rx` (numbered), then out of it what a
    /// dead run had and what was read back already; the run as it is now.
    fn take(
        &self,
        rx: &mut mpsc::UnboundedReceiver<Out>,
        got: &mut Vec<Out>,
        queue: &mut VecDeque<Pending>,
        next_seq: &mut u64,
        doubt: &mut Doubt,
    ) -> Arc<str> {
        while got.len() < BATCH * 4 {
            match rx.try_recv() {
                Ok(o) => got.push(o),
                Err(_) => break,
            }
        }
        for out in got.drain(..) {
            let after = id_of(&out.room.cluster_last());
            queue.push_back(Pending {
                seq: *next_seq,
                after,
                out,
            });
            *next_seq += 1;
        }
        // What a run declared dead had waiting goes nowhere: its members
        // are being told and disconnected (no ghost lines afterwards). The
        // run is read after the queue is filled: no entry is of a newer one.
        let run = self.run();
        queue.retain(|p| {
            let current = Arc::ptr_eq(&p.out.run, &run);
            if !current {
                self.resolved(&p.out);
            }
            current
        });
        // Read back from the streams already: landed (a batch lands
        // whole and in order, so every entry below the highest seen did).
        let landed = self.landed.load(Ordering::Acquire);
        while queue.front().is_some_and(|p| p.seq < landed) {
            if let Some(p) = queue.pop_front() {
                self.resolved(&p.out);
            }
        }
        doubt.read_back(landed);
        self.m.queued.set(queue.len() as i64);
        run
    }

    /// One entry is done with: a chat line no longer counts as held.
    pub(super) fn resolved(&self, out: &Out) {
        if matches!(out.event, RoomEvent::Said(_)) {
            self.held.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Send `entries` (of run `run`) in one script call.
    async fn append<'a>(
        &self,
        con: &mut ConnectionManager,
        run: &str,
        fresh: bool,
        entries: impl ExactSizeIterator<Item = &'a Pending>,
    ) -> redis::RedisResult<Outcome> {
        let mut call = APPEND.prepare_invoke();
        call.key(self.keys.seq(run))
            .key(self.keys.dead(run))
            .key(self.keys.rooms())
            .key(self.keys.makers())
            .arg(run)
            .arg(self.cfg.max_messages.max(1))
            .arg(EMPTY_ROOM_TTL_MS)
            .arg(MARK_TTL_MS)
            .arg(entries.len())
            .arg(if fresh { "0" } else { "1" });
        for p in entries {
            let room = &p.out.room;
            let key = room.key();
            call.key(self.keys.log(key))
                .key(self.keys.members(key))
                .key(self.keys.topic(key));
            let (op, a, b) = match &p.out.event {
                RoomEvent::Joined { name } => ("join", name.as_str(), ""),
                RoomEvent::Left { name, .. } => ("leave", name.as_str(), ""),
                RoomEvent::Renamed { old, new } => ("rename", old.as_str(), new.as_str()),
                RoomEvent::Topic { text, .. } => ("topic", text.as_deref().unwrap_or(""), ""),
                RoomEvent::Said(_) => ("", "", ""),
            };
            let (floor_ms, floor_seq) = floor(&room.cluster_last());
            let mut fields = entry::encode(&p.out.event, run);
            fields.push(("q", p.seq.to_string()));
            call.arg(p.seq)
                .arg(op)
                .arg(a)
                .arg(b)
                .arg(key)
                .arg(room.name())
                .arg(if room.persistent() { "1" } else { "0" })
                .arg(floor_ms)
                .arg(floor_seq)
                .arg(fields.len() * 2);
            for (k, v) in fields {
                call.arg(k).arg(v);
            }
        }
        match call.invoke_async::<Value>(con).await? {
            Value::Int(-1) => Ok(Outcome::Dead),
            Value::Int(-2) => Ok(Outcome::Forgotten),
            Value::Array(refused) => Ok(Outcome::Landed(super::refusal::refused_entries(&refused))),
            _ => Ok(Outcome::Landed(Vec::new())),
        }
    }
}

/// An error after which the call may have run in Redis without its answer
/// reaching here: no answer in time (Redis paused or stalled, this node
/// frozen), or the connection reset or cut under it. Not a connection
/// refused, nor one found closed (redis-rs's "broken pipe": Redis was gone
/// before it could run the call, or gone before it answered anyone).
fn may_have_landed(e: &redis::RedisError) -> bool {
    // `is_connection_dropped` counts "broken pipe" too; redis-rs shows its
    // I/O error's kind only in its words.
    e.is_timeout()
        || (e.is_connection_dropped() && !e.to_string().to_lowercase().contains("broken pipe"))
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
    use super::{floor, may_have_landed};
    use std::io::{Error, ErrorKind};

    #[test]
    fn a_call_may_have_landed_after_a_timeout_or_a_reset_not_on_a_closed_link() {
        let e = |k: ErrorKind| redis::RedisError::from(Error::from(k));
        assert!(may_have_landed(&e(ErrorKind::TimedOut)));
        assert!(may_have_landed(&e(ErrorKind::ConnectionReset)));
        assert!(may_have_landed(&e(ErrorKind::UnexpectedEof)));
        assert!(!may_have_landed(&e(ErrorKind::BrokenPipe)));
        assert!(!may_have_landed(&e(ErrorKind::ConnectionRefused)));
    }

    #[test]
    fn the_floor_is_the_last_id_read_or_nothing() {
        assert_eq!(floor("1700000000000-7"), (1_700_000_000_000, 7));
        assert_eq!(floor("$"), (0, 0));
        assert_eq!(floor("0-0"), (0, 0));
    }
}
