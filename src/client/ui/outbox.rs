//! What `join` has to send, and what became of it.
//!
//! Lines wait in a queue and leave at the pace the server allows (its
//! `hello.limits`, with a margin), the way good IRC clients queue, so a file
//! piped into `join` is delivered whole and in order instead of being refused
//! by the server's rate limit. A chat line or direct message that was sent
//! stays "in flight" until the server either relays it back to us (confirmed)
//! or refuses it by its `seq`; after a lost connection the lines in flight are
//! sent again. [`Tally`] counts every line that could not be sent, for the
//! exit code.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::commands::Action;
use crate::protocol::HelloLimits;

/// Lines that could not be sent, by why; any of them makes the exit code 1.
#[derive(Debug, Default)]
pub struct Tally {
    invalid: AtomicU64,
    refused: AtomicU64,
    unsent: AtomicU64,
}

impl Tally {
    /// An input line that was not text (or not readable).
    pub fn invalid(&self) {
        self.invalid.fetch_add(1, Ordering::Relaxed);
    }
    /// A line the server (or this client, for the server's limits) refused.
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
    /// Lines that were still waiting, or unconfirmed, when the session ended.
    pub(crate) fn unsent(&self, n: u64) {
        self.unsent.fetch_add(n, Ordering::Relaxed);
    }
    pub fn failed(&self) -> u64 {
        self.invalid.load(Ordering::Relaxed)
            + self.refused.load(Ordering::Relaxed)
            + self.unsent.load(Ordering::Relaxed)
    }
}

/// A line to send: what it asks for, and its input line number (piped input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub line: Option<u64>,
    pub action: Action,
    /// A request this client makes by itself (the name list): not shown.
    pub quiet: bool,
    /// The room it was typed in (chat lines go there).
    pub room: Option<String>,
}

impl Item {
    /// "line 12" for piped input, "your line" for typed input.
    pub fn label(&self) -> String {
        match self.line {
            Some(n) => format!("line {n}"),
            None => "your line".into(),
        }
    }
}

/// Share of the server's rate this client uses: a margin for network jitter.
const RATE_SHARE: f64 = 0.9;

/// A token bucket a little inside the server's, so it never refuses us.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    /// `None` when the server sets no rate (or is the Python original).
    pub(crate) fn for_server(limits: Option<&HelloLimits>) -> Option<Pacer> {
        let l = limits.filter(|l| l.messages_per_second > 0.0)?;
        let burst = (l.message_burst.max(1) as f64 / 2.0).ceil();
        Some(Pacer {
            rate: l.messages_per_second * RATE_SHARE,
            burst,
            tokens: burst,
            last: Instant::now(),
        })
    }

    fn refill(&mut self, now: Instant) {
        let grown = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + grown).min(self.burst);
        self.last = now;
    }

    /// When the next line may go.
    fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }

    fn take(&mut self) {
        self.tokens -= 1.0;
    }

    /// When the next line may go, from `now` (for the fuzz harness).
    #[doc(hidden)]
    pub(crate) fn due_at(&mut self, now: Instant) -> Instant {
        self.ready_at(now)
    }

    /// The server refused us for rate anyway: start again from empty.
    fn drain(&mut self) {
        self.tokens = 0.0;
    }
}

/// A sent chat line or direct message awaiting its echo or refusal.
#[derive(Debug)]
struct Sent {
    seq: u64,
    item: Item,
}

/// Most lines queued before input is no longer read (backpressure).
pub(crate) const MAX_QUEUED: usize = 256;

#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<Item>,
    says: VecDeque<Sent>,
    directs: VecDeque<Sent>,
    next_seq: u64,
    pacer: Option<Pacer>,
}

impl Outbox {
    /// Pace by this server's limits (a new connection starts a new bucket).
    pub(crate) fn pace_for(&mut self, limits: Option<&HelloLimits>) {
        self.pacer = Pacer::for_server(limits);
    }

    pub fn push(&mut self, item: Item) {
        self.queue.push_back(item);
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.says.len() + self.directs.len()
    }

    /// When the next queued line may go (`None`: nothing is queued).
    pub(crate) fn due(&mut self) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        let now = Instant::now();
        Some(self.pacer.as_mut().map_or(now, |p| p.ready_at(now)))
    }

    /// The next line to send now, with its `seq`; it is in flight from here.
    pub fn pop(&mut self) -> Option<(u64, Item)> {
        let now = Instant::now();
        if let Some(p) = &mut self.pacer {
            if p.ready_at(now) > now {
                return None;
            }
        }
        let item = self.queue.pop_front()?;
        if let Some(p) = &mut self.pacer {
            p.take();
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        let sent = Sent {
            seq,
            item: item.clone(),
        };
        match item.action {
            Action::Say { .. } => self.says.push_back(sent),
            Action::Direct { .. } => self.directs.push_back(sent),
            _ => {}
        }
        Some((seq, item))
    }

    /// A line popped but not sent after all (refused before sending).
    pub fn forget(&mut self, seq: u64) {
        self.says.retain(|s| s.seq != seq);
        self.directs.retain(|s| s.seq != seq);
    }

    /// Our own chat line came back: the oldest in flight arrived.
    pub(crate) fn confirm_say(&mut self) {
        self.says.pop_front();
    }

    /// Our own direct message came back.
    pub(crate) fn confirm_direct(&mut self) {
        self.directs.pop_front();
    }

    /// The server refused the line numbered `seq`: it is no longer in flight.
    pub fn refused(&mut self, seq: u64) -> Option<Item> {
        for list in [&mut self.says, &mut self.directs] {
            if let Some(i) = list.iter().position(|s| s.seq == seq) {
                return list.remove(i).map(|s| s.item);
            }
        }
        None
    }

    /// Send `item` again before anything else, after a pause (it was refused
    /// for rate).
    pub(crate) fn retry_first(&mut self, item: Item) {
        if let Some(p) = &mut self.pacer {
            p.drain();
        }
        self.queue.push_front(item);
    }

    /// The connection is gone: what was in flight goes out again first, in
    /// the order it was sent. How many lines that is.
    pub(crate) fn resend_in_flight(&mut self) -> usize {
        let mut sent: Vec<Sent> = self.says.drain(..).chain(self.directs.drain(..)).collect();
        sent.sort_by_key(|s| s.seq);
        let n = sent.len();
        for s in sent.into_iter().rev() {
            self.queue.push_front(s.item);
        }
        n
    }

    /// Give up: every line still queued or in flight, which are not sent.
    pub(crate) fn abandon(&mut self) -> u64 {
        let n = self.queue.iter().filter(|i| !i.quiet).count() + self.in_flight();
        self.queue.clear();
        self.says.clear();
        self.directs.clear();
        n as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(n: u64) -> Item {
        Item {
            room: None,
            line: Some(n),
            action: Action::Say {
                text: format!("line {n}"),
                action: false,
            },
            quiet: false,
        }
    }

    fn limits(rate: f64, burst: u32) -> HelloLimits {
        HelloLimits {
            messages_per_second: rate,
            message_burst: burst,
            max_text_chars: 4000,
            max_frame_bytes: 65536,
        }
    }

    #[test]
    fn lines_leave_in_a_half_burst_then_at_the_rate() {
        let mut o = Outbox::default();
        o.pace_for(Some(&limits(10.0, 20)));
        for n in 1..=30 {
            o.push(say(n));
        }
        let burst: Vec<u64> = std::iter::from_fn(|| o.pop().map(|(s, _)| s)).collect();
        assert_eq!(burst.len(), 10, "half the server's burst at once");
        let wait = o.due().unwrap().saturating_duration_since(Instant::now());
        let expected = 1.0 / (10.0 * RATE_SHARE);
        assert!(
            (wait.as_secs_f64() - expected).abs() < 0.02,
            "then one every {expected} s, not {wait:?}"
        );
        let mut free = Outbox::default();
        free.pace_for(None);
        free.push(say(1));
        assert!(free.pop().is_some(), "no limit: no pacing");
    }

    #[test]
    fn in_flight_lines_are_confirmed_refused_or_sent_again_in_order() {
        let mut o = Outbox::default();
        for n in 1..=4 {
            o.push(say(n));
        }
        let seqs: Vec<u64> = (0..4).map(|_| o.pop().unwrap().0).collect();
        assert_eq!(o.in_flight(), 4);
        assert_eq!(o.refused(seqs[1]).unwrap().line, Some(2));
        o.confirm_say();
        assert_eq!(o.in_flight(), 2);
        assert_eq!(o.resend_in_flight(), 2);
        let again: Vec<Option<u64>> = std::iter::from_fn(|| o.pop().map(|(_, i)| i.line)).collect();
        assert_eq!(again, vec![Some(3), Some(4)], "the unconfirmed, in order");
        assert_eq!(o.abandon(), 2, "still in flight");
    }
}
