//! Lines whose fate Redis forgot (issue 48 item 1). A batch this node
//! sent may have landed without the node hearing so (a timeout, a node
//! frozen while Redis answered), or landed and been answered but not read
//! back here yet — and then Redis restarts empty. Other nodes may have
//! shown those lines live; the stream, and this node, no longer have them.
//! Sent again they would be a second copy with other ids, in another order.
//! So they are never sent again: each chat line is refused to its sender
//! ("not_sent", saying it may have reached the other servers), each room
//! told from which id its lines may be missing here, a topic change told to
//! its room.
//!
//! How the node knows Redis forgot: the run's landing mark
//! (`{prefix}:seq:{run}`, made when the node starts and written by every
//! append) is gone. An append that expects it (all but a new run's first
//! after the node was declared dead, and the first after a loss) is
//! answered "forgotten" (`-2`) without appending anything; the publisher
//! then writes off what it was unsure of, and the next call makes the mark
//! again. While the publisher is idle, the heartbeat that finds Redis lost
//! the node's keys wakes it to ask (a call with no entries).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::{line_id, Cluster, Out, RoomEvent};
use crate::protocol::{codes, Packet};

/// An entry in the publisher's queue: its sequence number in this node
/// (kept here, below the publisher, as the doubt about it is).
pub(super) struct Pending {
    pub(super) seq: u64,
    /// The last line id delivered here in its room when it was said: the
    /// entry's id is above it.
    pub(super) after: u64,
    pub(super) out: Out,
}

/// Entries kept waiting for their echo at most (the oldest go first).
const UNECHOED_MAX: usize = 10_000;

/// What the publisher is unsure of.
#[derive(Default)]
pub(super) struct Doubt {
    /// Entries below this sequence number were sent in a call whose answer
    /// never came: they may have landed.
    uncertain_below: u64,
    /// Chat lines and topics Redis took that were not read back here yet.
    unechoed: VecDeque<Pending>,
    /// The run whose mark Redis holds, as far as the publisher knows
    /// (`None`: the next call makes it).
    marked: Option<Arc<str>>,
    /// Redis was found to have lost the node's keys: ask whether it forgot
    /// what still waits for its echo.
    pub(super) ask: bool,
}

impl Doubt {
    /// The next call of `run` makes the mark rather than expects it.
    pub(super) fn fresh(&self, run: &Arc<str>) -> bool {
        !self.marked.as_ref().is_some_and(|m| Arc::ptr_eq(m, run))
    }

    /// Something waits for Redis's word although the queue is empty.
    pub(super) fn ask_due(&self) -> bool {
        self.ask && !self.unechoed.is_empty()
    }

    /// A call of `run` whose answer never came; its entries were below
    /// `end`. A call that was to make the mark may have made it: the next
    /// one expects it, so that a Redis that lost its data meanwhile is
    /// found out (and what was sent written off) rather than the entries
    /// appended a second time under a new mark.
    pub(super) fn unanswered(&mut self, run: &Arc<str>, end: u64) {
        self.uncertain_below = self.uncertain_below.max(end);
        self.marked = Some(run.clone());
    }

    /// Redis answered a call of `run`: its mark is there — unless the call
    /// was to make it and every entry was refused (Redis out of memory
    /// refused the mark too).
    pub(super) fn answered(&mut self, run: &Arc<str>, fresh: bool, all_refused: bool) {
        self.ask = false;
        if !(fresh && all_refused) {
            self.marked = Some(run.clone());
        }
    }

    /// Taken by Redis, to be read back here.
    pub(super) fn taken(&mut self, p: Pending) {
        if matches!(p.out.event, RoomEvent::Said(_) | RoomEvent::Topic { .. }) {
            if self.unechoed.len() >= UNECHOED_MAX {
                self.unechoed.pop_front();
            }
            self.unechoed.push_back(p);
        }
    }

    /// Entries below `landed` were read back: no longer in doubt.
    pub(super) fn read_back(&mut self, landed: u64) {
        while self.unechoed.front().is_some_and(|p| p.seq < landed) {
            self.unechoed.pop_front();
        }
    }

    /// A new run: nothing of the old one's is in doubt.
    pub(super) fn new_run(&mut self) {
        self.unechoed.clear();
        self.marked = None;
    }
}

impl Cluster {
    /// Redis forgot this run (its mark is gone): what may have landed
    /// before — the front of `queue` sent without an answer, and what was
    /// answered but not read back — is written off and told; the rest of
    /// the queue goes out, the next call making the mark again.
    pub(super) fn forgotten(&self, queue: &mut VecDeque<Pending>, doubt: &mut Doubt) {
        let mut off = Vec::new();
        while queue.front().is_some_and(|p| p.seq < doubt.uncertain_below) {
            if let Some(p) = queue.pop_front() {
                self.resolved(&p.out);
                off.push(p);
            }
        }
        off.extend(doubt.unechoed.drain(..));
        doubt.marked = None;
        doubt.ask = false;
        if off.is_empty() {
            return;
        }
        tracing::warn!(node = %self.cfg.node, lines = off.len(), "cluster: Redis lost its data while entries of this server were on their way or not yet read back; they may have reached other servers and are not sent again (that would show them twice); their senders are told");
        let mut rooms: BTreeMap<String, (Arc<super::Room>, u64)> = BTreeMap::new();
        {
            // Under the lock the reader takes for each entry: one read back
            // meanwhile is either not written off (it raised `landed`
            // first) or skipped when it comes.
            let mut seen = self.delivered_seq.lock().unwrap_or_else(|e| e.into_inner());
            let landed = self.landed.load(std::sync::atomic::Ordering::Acquire);
            off.retain(|p| p.seq >= landed);
            for p in &off {
                let key = self.keys.log(p.out.room.key());
                let next = seen.entry((key, p.out.run.to_string())).or_insert(0);
                *next = (*next).max(p.seq + 1);
            }
        }
        for p in &off {
            let room = &p.out.room;
            let after = p.after;
            rooms
                .entry(room.key().to_string())
                .and_modify(|(_, a)| *a = (*a).min(after))
                .or_insert((room.clone(), after));
            self.written_off(p);
        }
        for (room, after) in rooms.into_values() {
            room.notice(Packet::event(
                "cluster",
                None,
                format!("the cluster's store (Redis) lost its data while lines said here were on their way: they may have reached the other servers and are not sent again (that would show them twice, with other ids); lines after id {after} may be missing here"),
            ));
        }
    }

    /// One entry written off: its sender (or its room) is told.
    fn written_off(&self, p: &Pending) {
        let room = p.out.room.name();
        match &p.out.event {
            RoomEvent::Said(said) => {
                self.m.refused.inc();
                let text = format!("not sent to {room} again: the cluster's store (Redis) lost its data while your line was on its way, after it may have reached members on other servers; sending it again could show it twice, with another id — say it again if it matters");
                let packet = Packet::error(codes::NOT_SENT, text)
                    .in_room(p.out.room.tag())
                    .answering(said.body.seq);
                if let Some(hub) = self.hub() {
                    hub.tell_named(&said.from, packet);
                }
            }
            RoomEvent::Topic { .. } => p.out.room.notice(Packet::event(
                "cluster",
                None,
                format!("a topic change in {room} may not have reached the other servers: the cluster's store (Redis) lost its data while it was on its way; set it again if it matters"),
            )),
            _ => {}
        }
    }
}

/// The line id a room's stream position (`ms-seq`) stands for (0: none).
pub(super) fn id_of(last: &str) -> u64 {
    line_id(last).unwrap_or(0)
}
