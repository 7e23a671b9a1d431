//! The room's feed: everything published, as one shared byte stream that
//! each member reads at its own pace.
//!
//! Published lines are appended to an open chunk, sealed into shared
//! [`Bytes`] once it holds a few KiB: under load, a reader's batch is a few
//! shared chunks written as they are (no copy), one write for many lines.
//! The newest lines, in the chunk still open, are copied by each reader
//! that wants them now (at low load, a line or two). A reader is a byte position: how far
//! behind the room it is, is exact (`published - position`), and the feed
//! keeps the newest `retain` bytes, so a reader that fell out of them was
//! too slow. Per batch a reader takes a read lock once and clones one
//! `Bytes` per chunk; nothing is counted per line or per reader.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

mod relay;
use relay::{Relay, NOT_RESTING};

/// First allocation of an open chunk (it grows while lines accumulate).
const CHUNK_START: usize = 8 * 1024;
/// An open chunk this large is sealed and shared by the next reader; a
/// reader of a smaller one copies the lines it needs (cheaper than many
/// small pieces per write).
const SEAL_AT: usize = 4 * 1024;
/// Quiet readers woken at once at most; more are woken in slices of this
/// many, each after the last has run (see [`Relay`]).
const SLICE: usize = 64;
/// The longest wait for a slice to run (readers that are gone never do).
const SLICE_WAIT: Duration = Duration::from_millis(5);
/// The longest rest between two passes over the quiet readers.
const REST_MAX: Duration = Duration::from_millis(250);
/// A reader that published within this long is woken first.
const HOT_FOR: Duration = Duration::from_secs(30);

pub(crate) struct Feed {
    data: RwLock<Data>,
    /// Bytes published so far (read without a lock).
    published: AtomicU64,
    /// Bytes readers may take: published and woken for. A session that
    /// publishes several lines read together shows them at once.
    visible: AtomicU64,
    waiters: Mutex<Waiters>,
    /// Wakes quiet readers in slices, when there are many (`None` outside
    /// a tokio runtime: then all are woken at once).
    relay: Option<Arc<Relay>>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(r) = &self.relay {
            r.closed.store(true, Ordering::Release);
            r.notify.notify_one();
        }
    }
}

struct Data {
    /// Sealed chunks, oldest first, contiguous.
    chunks: VecDeque<Chunk>,
    /// Lines published since the last seal; starts at `open_start`.
    open: Vec<u8>,
    open_start: u64,
    /// Bytes kept behind the newest (older chunks are let go).
    retain: u64,
    /// Sealed chunks kept at most.
    max_chunks: usize,
}

#[derive(Default)]
struct Waiters {
    /// Readers waiting for the next publish who published lately.
    list: Vec<Waker>,
    /// The others.
    quiet: Vec<Waker>,
    /// Counts how often the list was woken: a reader registered in the
    /// current round need not register again.
    round: u64,
}

struct Chunk {
    start: u64,
    bytes: Bytes,
}

/// One reader's place in the feed (always polled from the same task).
#[derive(Debug)]
pub(crate) struct Cursor {
    pos: u64,
    /// The round this reader is registered in, if any.
    waiting: Option<u64>,
    /// Until when this reader counts as talking (woken first).
    hot_until: Option<Instant>,
}

impl Cursor {
    /// Bytes of the feed this reader has taken.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// This reader's member just published: wake it first for a while.
    pub(crate) fn spoke(&mut self, now: Instant) {
        self.hot_until = Some(now + HOT_FOR);
    }

    fn hot(&mut self) -> bool {
        match self.hot_until {
            Some(t) if t > Instant::now() => true,
            Some(_) => {
                self.hot_until = None;
                false
            }
            None => false,
        }
    }
}

/// What a reader takes from the feed.
#[derive(Debug)]
pub(crate) enum Taken {
    /// The next bytes, in order (at most about the asked size).
    Bytes(Vec<Bytes>),
    /// The reader fell out of what the feed keeps: too slow.
    Overrun,
}

impl Feed {
    /// A feed that keeps the newest `retain` bytes, in at most `max_chunks`
    /// chunks.
    pub(crate) fn new(retain: u64, max_chunks: usize) -> Feed {
        Feed {
            data: RwLock::new(Data {
                chunks: VecDeque::new(),
                open: Vec::new(),
                open_start: 0,
                retain,
                max_chunks: max_chunks.max(2),
            }),
            published: AtomicU64::new(0),
            visible: AtomicU64::new(0),
            waiters: Mutex::new(Waiters::default()),
            relay: tokio::runtime::Handle::try_current().ok().map(|rt| {
                let relay = Arc::new(Relay {
                    queue: Mutex::new(VecDeque::new()),
                    notify: tokio::sync::Notify::new(),
                    closed: AtomicBool::new(false),
                    passing: AtomicBool::new(false),
                    ran: AtomicU64::new(0),
                    seen: AtomicU64::new(0),
                    rest_from: AtomicU64::new(NOT_RESTING),
                    rest_over: tokio::sync::Notify::new(),
                    rest_bytes: retain / 4,
                });
                rt.spawn(relay.clone().run());
                relay
            }),
        }
    }

    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes published so far.
    pub(crate) fn published(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    /// Append whole lines; `wake`: wake the readers waiting for them now
    /// (else a later [`wake`](Self::wake) or publish does).
    pub(crate) fn publish(&self, line: &[u8], wake: bool) {
        self.publish_with(wake, |out| out.extend_from_slice(line));
    }

    /// Append what `write` writes (whole lines), serialized in place.
    pub(crate) fn publish_with(&self, wake: bool, write: impl FnOnce(&mut Vec<u8>)) {
        {
            let mut d = self.data.write().unwrap_or_else(|e| e.into_inner());
            let before = d.open.len();
            if before == 0 && d.open.capacity() < CHUNK_START {
                d.open = Vec::with_capacity(CHUNK_START);
            }
            write(&mut d.open);
            let added = (d.open.len() - before) as u64;
            if d.open.len() >= SEAL_AT {
                d.seal();
            }
            self.published.fetch_add(added, Ordering::Release);
        }
        if wake {
            self.wake();
        }
    }

    /// Show the readers what was published, and wake those waiting.
    pub(crate) fn wake(&self) {
        // Under the data lock, so that `visible` never passes what a
        // reader can find.
        let published = {
            let _d = self.data.read().unwrap_or_else(|e| e.into_inner());
            let p = self.published();
            self.visible.store(p, Ordering::Release);
            p
        };
        if let Some(relay) = &self.relay {
            relay.published(published);
        }
        let (hot, quiet) = {
            let mut w = self.waiters();
            if w.list.is_empty() && w.quiet.is_empty() {
                return;
            }
            w.round += 1;
            (std::mem::take(&mut w.list), std::mem::take(&mut w.quiet))
        };
        for waker in hot {
            waker.wake();
        }
        match &self.relay {
            Some(relay) if quiet.len() > SLICE => {
                relay.queue().extend(quiet);
                relay.notify.notify_one();
            }
            _ => {
                for waker in quiet {
                    waker.wake();
                }
            }
        }
    }

    fn visible(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    /// A reader from the next byte published on.
    pub(crate) fn cursor(&self) -> Cursor {
        Cursor {
            pos: self.published(),
            waiting: None,
            hot_until: None,
        }
    }

    /// How far behind the newest byte `cursor` is.
    pub(crate) fn behind(&self, cursor: &Cursor) -> u64 {
        self.published().saturating_sub(cursor.pos)
    }

    /// Ready when there is something past `cursor`.
    pub(crate) fn poll_ready(&self, cursor: &mut Cursor, cx: &mut Context<'_>) -> Poll<()> {
        if self.visible() > cursor.pos {
            if let Some(r) = &self.relay {
                if r.passing.load(Ordering::Relaxed) {
                    r.ran.fetch_add(1, Ordering::Release);
                }
            }
            return Poll::Ready(());
        }
        let mut w = self.waiters();
        // Wakers show before they look at the list: seen now, or woken.
        if self.visible() > cursor.pos {
            return Poll::Ready(());
        }
        if cursor.waiting != Some(w.round) {
            let waker = cx.waker().clone();
            // The clock is read only when registering (it was read on
            // every poll: 0.7% of a 10-member blast's server CPU).
            if cursor.hot() {
                w.list.push(waker);
            } else {
                w.quiet.push(waker);
            }
            cursor.waiting = Some(w.round);
        }
        Poll::Pending
    }

    /// Take what is past `cursor`, about `max` bytes at most (whole chunks;
    /// at least one), and move the cursor past it. Empty when nothing is.
    pub(crate) fn take(&self, cursor: &mut Cursor, max: usize) -> Taken {
        let mut out = Vec::new();
        let d = self.data.read().unwrap_or_else(|e| e.into_inner());
        let visible = self.visible();
        if visible <= cursor.pos {
            return Taken::Bytes(out);
        }
        if d.chunks.front().map_or(d.open_start, |c| c.start) > cursor.pos {
            return Taken::Overrun;
        }
        // Chunks are contiguous: find the one holding `pos` from the back
        // (a reader that keeps up wants the newest ones).
        let i = d
            .chunks
            .iter()
            .rposition(|c| c.start <= cursor.pos)
            .unwrap_or(d.chunks.len());
        let mut taken = 0usize;
        for c in d.chunks.range(i..) {
            // A chunk sealed past what is visible yet (lines published but
            // not released to readers): nothing of it is taken now.
            if c.start >= visible {
                break;
            }
            let from = (cursor.pos - c.start) as usize;
            let to = c.bytes.len().min((visible - c.start) as usize);
            if from >= to {
                break;
            }
            let piece = c.bytes.slice(from..to);
            taken += piece.len();
            cursor.pos += piece.len() as u64;
            out.push(piece);
            if taken >= max {
                return Taken::Bytes(out);
            }
        }
        // The newest lines, still in the open chunk: a copy (a little).
        if cursor.pos < d.open_start {
            return Taken::Bytes(out); // what is visible ends in a sealed chunk
        }
        let from = (cursor.pos - d.open_start) as usize;
        let to = (visible.saturating_sub(d.open_start) as usize).min(d.open.len());
        if from < to {
            let piece = Bytes::copy_from_slice(&d.open[from..to]);
            cursor.pos += piece.len() as u64;
            out.push(piece);
        }
        Taken::Bytes(out)
    }
}

impl Data {
    fn seal(&mut self) {
        let bytes = Bytes::from(std::mem::take(&mut self.open));
        let start = self.open_start;
        self.open_start += bytes.len() as u64;
        self.chunks.push_back(Chunk { start, bytes });
        // Keep the newest `retain` bytes (and the chunk that holds their start).
        let end = self.open_start;
        while self.chunks.len() > self.max_chunks
            || self
                .chunks
                .get(1)
                .is_some_and(|c| end - c.start >= self.retain)
        {
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_all(feed: &Feed, c: &mut Cursor) -> Vec<u8> {
        match feed.take(c, usize::MAX) {
            Taken::Bytes(v) => v.concat(),
            Taken::Overrun => panic!("overrun"),
        }
    }

    #[test]
    fn readers_get_every_byte_once_in_order_and_lines_published_together_share_a_chunk() {
        let feed = Feed::new(1 << 20, 1024);
        let mut a = feed.cursor();
        feed.publish(b"one\n", true);
        let mut b = feed.cursor();
        feed.publish(b"two\n", true);
        feed.publish(b"three\n", true);
        assert_eq!(take_all(&feed, &mut a), b"one\ntwo\nthree\n");
        assert_eq!(take_all(&feed, &mut b), b"two\nthree\n");
        assert_eq!(take_all(&feed, &mut a), b"");
        feed.publish(b"four\n", true);
        assert_eq!(feed.behind(&a), 5);
        assert_eq!(take_all(&feed, &mut b), b"four\n");
        assert_eq!(take_all(&feed, &mut a), b"four\n");
        assert_eq!(feed.behind(&a), 0);
        // Published but not shown yet (a session still publishing what it
        // read in one go): readers see it all at once, on the wake.
        for _ in 0..100 {
            feed.publish(
                &[b'y'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>(),
                false,
            );
        }
        assert_eq!(take_all(&feed, &mut a), b"");
        feed.wake();
        assert_eq!(take_all(&feed, &mut a).len(), 100 * 100);
        assert_eq!(take_all(&feed, &mut b).len(), 100 * 100);
        // A burst: a few shared chunks, not a piece per line.
        let line = [b'x'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        for _ in 0..200 {
            feed.publish(&line, true);
        }
        let Taken::Bytes(pieces) = feed.take(&mut a, usize::MAX) else {
            panic!("overrun")
        };
        assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), 200 * 100);
        assert!(pieces.len() <= 200 * 100 / SEAL_AT + 2, "{}", pieces.len());
    }

    /// A reader behind what is shown, while a session's unwoken lines seal
    /// chunks past it: it takes what is shown and nothing beyond (found by
    /// `web::a_browser_that_stops_reading_is_dropped_as_too_slow`: the
    /// sum underflowed and panicked the worker in a debug build).
    #[test]
    fn lines_published_but_not_shown_are_not_taken_from_chunks_sealed_past_them() {
        let feed = Feed::new(1 << 20, 1024);
        let mut a = feed.cursor();
        feed.publish(b"shown\n", true);
        let line = [b'y'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        for _ in 0..200 {
            feed.publish(&line, false);
        }
        assert_eq!(take_all(&feed, &mut a), b"shown\n");
        feed.wake();
        assert_eq!(take_all(&feed, &mut a).len(), 200 * 100);
    }

    #[test]
    fn a_reader_past_what_the_feed_keeps_is_overrun() {
        let feed = Feed::new(10_000, 1024);
        let mut slow = feed.cursor();
        let mut fast = feed.cursor();
        for i in 0..5000 {
            feed.publish(format!("line {i:04}\n").as_bytes(), true);
            take_all(&feed, &mut fast);
        }
        assert!(matches!(feed.take(&mut slow, usize::MAX), Taken::Overrun));
        let d = feed.data.read().unwrap();
        let kept: usize = d.chunks.iter().map(|c| c.bytes.len()).sum();
        assert!(kept <= 10_000 + SEAL_AT, "{kept}");
    }

    #[test]
    fn waiting_readers_are_woken_once_per_publish_and_register_once_per_round() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::Arc;
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let feed = Feed::new(1 << 20, 1024);
        let mut c = feed.cursor();
        for _ in 0..3 {
            assert!(feed.poll_ready(&mut c, &mut cx).is_pending());
        }
        assert_eq!(feed.waiters().quiet.len(), 1);
        feed.publish(b"x\n", true);
        feed.publish(b"y\n", true);
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert!(feed.poll_ready(&mut c, &mut cx).is_ready());
    }

    /// Beside many quiet readers, one who spoke is woken first and the
    /// quiet ones after, in slices — every one of them exactly once.
    #[tokio::test]
    async fn a_talker_is_woken_before_many_quiet_readers_and_every_reader_once() {
        let feed = Arc::new(Feed::new(1 << 20, 1024));
        let quiet = 5 * SLICE + 7;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..=quiet {
            let mut c = feed.cursor();
            if i == quiet {
                c.spoke(Instant::now());
            }
            let (feed, order) = (feed.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                std::future::poll_fn(|cx| feed.poll_ready(&mut c, cx)).await;
                order.lock().unwrap().push(i);
            }));
        }
        let waiting = || {
            let w = feed.waiters();
            w.quiet.len() + w.list.len()
        };
        while waiting() < quiet + 1 {
            tokio::task::yield_now().await;
        }
        feed.publish(b"hello\n", true);
        for t in tasks {
            t.await.unwrap();
        }
        let mut order = order.lock().unwrap().clone();
        assert_eq!(order[0], quiet, "the talker first");
        order.sort_unstable();
        assert_eq!(order, (0..=quiet).collect::<Vec<_>>(), "everyone once");
    }

    /// The relay rests after a pass as long as the pass took; a room that
    /// publishes a quarter of what its feed keeps meanwhile ends the rest,
    /// so waiting readers are not pushed out of the feed (and dropped as
    /// too slow) by the relay's pause. Paused time: the clock moves only
    /// when told, so "before the rest would have ended" is exact.
    #[tokio::test(start_paused = true)]
    async fn a_rest_ends_early_when_the_room_publishes_a_quarter_of_what_it_keeps() {
        use std::sync::atomic::AtomicUsize;
        let feed = Arc::new(Feed::new(4096, 1024));
        let readers = SLICE + 1;
        let taken = Arc::new(AtomicUsize::new(0));
        let advanced = Arc::new(AtomicBool::new(false));
        for _ in 0..readers {
            let mut c = feed.cursor();
            let (feed, taken, advanced) = (feed.clone(), taken.clone(), advanced.clone());
            tokio::spawn(async move {
                loop {
                    std::future::poll_fn(|cx| feed.poll_ready(&mut c, cx)).await;
                    // The first pass "takes" 200 ms: the rest after it would too.
                    if !advanced.swap(true, Ordering::AcqRel) {
                        tokio::time::advance(Duration::from_millis(200)).await;
                    }
                    match feed.take(&mut c, usize::MAX) {
                        Taken::Bytes(p) => {
                            let n: usize = p.iter().map(|b| b.len()).sum();
                            taken.fetch_add(n, Ordering::AcqRel);
                        }
                        Taken::Overrun => panic!("a reader was pushed out of the feed"),
                    }
                }
            });
        }
        let waiting = || {
            let w = feed.waiters();
            w.quiet.len() + w.list.len()
        };
        while waiting() < readers {
            tokio::task::yield_now().await;
        }
        let relay = feed.relay.clone().unwrap();
        let settle = |want: usize, resting: bool| {
            let (taken, relay) = (taken.clone(), relay.clone());
            async move {
                for _ in 0..100_000 {
                    if taken.load(Ordering::Acquire) == want
                        && (!resting || relay.rest_from.load(Ordering::Acquire) != NOT_RESTING)
                    {
                        return true;
                    }
                    tokio::task::yield_now().await;
                }
                false
            }
        };
        feed.publish(b"first\n", true);
        assert!(
            settle(readers * 6, true).await,
            "every reader took the first line, and the relay rests"
        );
        let resting_since = tokio::time::Instant::now();
        // A quarter of what the feed keeps (4096 / 4), in lines.
        let line = [b'x'; 99];
        for _ in 0..11 {
            feed.publish_with(true, |out| {
                out.extend_from_slice(&line);
                out.push(b'\n');
            });
        }
        assert!(
            settle(readers * (6 + 1100), false).await,
            "the rest ended early and every reader took every line"
        );
        assert!(resting_since.elapsed() < Duration::from_millis(200));
    }
}
