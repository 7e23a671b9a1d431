//! The feed's relay of wake-ups: quiet readers are woken a slice at a
//! time, one slice per scheduler pass, with a rest between passes (see the
//! type's comment). Nothing here touches the bytes.

use super::{REST_MAX, SLICE, SLICE_WAIT};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

/// Wakes many waiting readers a slice at a time. Beside thousands of quiet
/// members, waking them all at once would queue thousands of tasks ahead
/// of the few who are talking, and every line would wait for all of them
/// (hundreds of milliseconds at 19,000 members). Readers who published
/// lately are woken at once; the others, one slice per scheduler pass, so
/// talkers woken by their sockets meanwhile run between slices. A quiet
/// reader that is still waiting for its slice when more is published takes
/// it all in one write: under load they cost fewer writes, not more.
pub(super) struct Relay {
    pub(super) queue: Mutex<VecDeque<Waker>>,
    pub(super) notify: tokio::sync::Notify,
    pub(super) closed: AtomicBool,
    /// A pass is under way: readers count themselves in `ran` when they
    /// find something to take.
    pub(super) passing: AtomicBool,
    pub(super) ran: AtomicU64,
    /// Bytes published when the feed last handed readers over.
    pub(super) seen: AtomicU64,
    /// Resting since this many bytes were published (`NOT_RESTING` when
    /// not): a rest ends early once a quarter of what the feed keeps was
    /// published meanwhile, so that waiting readers are never pushed out of
    /// it by the relay's own pause (they would be dropped as too slow for
    /// a delay that is ours).
    pub(super) rest_from: AtomicU64,
    pub(super) rest_over: tokio::sync::Notify,
    pub(super) rest_bytes: u64,
}

pub(super) const NOT_RESTING: u64 = u64::MAX;

impl Relay {
    /// The feed shows `published` bytes: a rest ends once a quarter of what
    /// the feed keeps came since it began.
    pub(super) fn published(&self, published: u64) {
        self.seen.store(published, Ordering::Release);
        let from = self.rest_from.load(Ordering::Acquire);
        if from != NOT_RESTING && published >= from.saturating_add(self.rest_bytes) {
            self.rest_from.store(NOT_RESTING, Ordering::Release);
            self.rest_over.notify_one();
        }
    }

    pub(super) fn queue(&self) -> MutexGuard<'_, VecDeque<Waker>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) async fn run(self: Arc<Self>) {
        loop {
            self.notify.notified().await;
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            loop {
                // One pass: the readers queued now (those re-queued by a
                // publish meanwhile wait for the next pass).
                let start = tokio::time::Instant::now();
                let mut left = self.queue().len();
                if left == 0 {
                    break;
                }
                self.passing.store(true, Ordering::Release);
                while left > 0 {
                    if self.closed.load(Ordering::Acquire) {
                        return;
                    }
                    let slice: Vec<Waker> = {
                        let mut q = self.queue();
                        let n = q.len().min(SLICE).min(left);
                        q.drain(..n).collect()
                    };
                    if slice.is_empty() {
                        break;
                    }
                    left -= slice.len();
                    let target = self.ran.load(Ordering::Acquire) + (slice.len() * 7 / 8) as u64;
                    for w in slice {
                        w.wake();
                    }
                    // Until (most of) the slice has run — a yield alone
                    // may come back before — so that whatever the sockets
                    // wake meanwhile waits behind one slice at most.
                    let woke = std::time::Instant::now();
                    loop {
                        tokio::task::yield_now().await;
                        if self.ran.load(Ordering::Acquire) >= target || woke.elapsed() > SLICE_WAIT
                        {
                            break;
                        }
                    }
                }
                self.passing.store(false, Ordering::Release);
                // Rest as long as the pass took (at most REST_MAX): when
                // quiet readers take all the time there is, they get half of
                // it, and what is published meanwhile reaches each of them
                // in one write.
                self.rest_from
                    .store(self.seen.load(Ordering::Acquire), Ordering::Release);
                tokio::select! {
                    _ = tokio::time::sleep(start.elapsed().min(REST_MAX)) => {}
                    _ = self.rest_over.notified() => {}
                }
                self.rest_from.store(NOT_RESTING, Ordering::Release);
            }
        }
    }
}
