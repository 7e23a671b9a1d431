//! A member's own inbox beside the shared feed: direct messages, and being
//! removed (a kick, with its reason, or the server's shutdown).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use futures_util::task::AtomicWaker;

/// Lines for one member only (direct messages), beside the shared ring, and
/// the reason of a kick. Small, because every member has one: a lock over
/// state allocated only when first needed (most members never get a direct
/// message or a kick), a flag and an `AtomicWaker` (the session's wait for its
/// inbox is a one-pointer future that reads the flag, never the lock).
#[derive(Debug, Default)]
pub(crate) struct Link {
    state: Mutex<Option<Box<LinkState>>>,
    has_mail: AtomicBool,
    /// The member must leave (kicked, or the server is shutting down).
    removed: AtomicBool,
    waker: AtomicWaker,
}

/// Why a member is removed by the server (not at shutdown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Removal {
    /// The operator kicked them, with this reason.
    Kicked(Box<str>),
    /// The cluster let their place go (their server was cut off, or their
    /// name was given to another member): why, for them.
    Cluster(Box<str>),
}

#[derive(Default)]
struct LinkState {
    inbox: VecDeque<Bytes>,
    removal: Option<Removal>,
    /// Rooms the member was taken out of by the operator.
    left: Vec<std::sync::Arc<super::Room>>,
}

impl std::fmt::Debug for LinkState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkState")
            .field("inbox", &self.inbox.len())
            .field("left", &self.left.len())
            .finish_non_exhaustive()
    }
}

/// Lines waiting in one member's inbox at most; more are refused to the sender.
pub(crate) const INBOX_MAX: usize = 256;

impl Link {
    fn lock(&self) -> MutexGuard<'_, Option<Box<LinkState>>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything waiting, in order.
    pub(crate) fn take(&self) -> VecDeque<Bytes> {
        let mut s = self.lock();
        self.has_mail.store(false, Ordering::Release);
        s.as_mut()
            .map(|s| std::mem::take(&mut s.inbox))
            .unwrap_or_default()
    }

    /// Resolves when the inbox has lines (the caller then `take`s them) or
    /// the member was [`removed`](Self::removed).
    pub(crate) fn ready(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            // Register first, then look: a push in between wakes us again.
            self.waker.register(cx.waker());
            if self.has_mail.load(Ordering::Acquire) || self.removed.load(Ordering::Acquire) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
    }

    /// Why the member was removed (none at shutdown).
    pub(crate) fn removal(&self) -> Option<Removal> {
        self.lock().as_ref()?.removal.clone()
    }

    /// The operator's reason, when the member was kicked.
    pub(crate) fn kick_reason(&self) -> Option<String> {
        match self.removal()? {
            Removal::Kicked(why) => Some(why.into()),
            Removal::Cluster(_) => None,
        }
    }

    /// Make the member leave; why, none at shutdown.
    pub(super) fn remove(&self, removal: Option<Removal>) {
        if let Some(removal) = removal {
            self.lock().get_or_insert_default().removal = Some(removal);
        }
        self.removed.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// The member must leave.
    pub(crate) fn removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// The member was taken out of `room`: its session stops reading it
    /// and sends `line` (the `parted`).
    pub(super) fn left_room(&self, room: std::sync::Arc<super::Room>, line: Bytes) {
        {
            let mut guard = self.lock();
            let s = guard.get_or_insert_default();
            s.left.push(room);
            s.inbox.push_back(line);
            self.has_mail.store(true, Ordering::Release);
        }
        self.waker.wake();
    }

    /// The rooms the member was taken out of since the last call.
    pub(crate) fn take_left(&self) -> Vec<std::sync::Arc<super::Room>> {
        self.lock()
            .as_mut()
            .map(|s| std::mem::take(&mut s.left))
            .unwrap_or_default()
    }

    pub(super) fn push(&self, line: Bytes) -> bool {
        {
            let mut guard = self.lock();
            let s = guard.get_or_insert_default();
            if s.inbox.len() >= INBOX_MAX {
                return false;
            }
            s.inbox.push_back(line);
            self.has_mail.store(true, Ordering::Release);
        }
        self.waker.wake();
        true
    }
}
