//! A web connection whose peer stops reading (a slow-read attack: requests
//! sent, answers never taken) would hold its admission for good: the header
//! timeout only bounds what the peer sends. So while a connection speaks
//! HTTP, a write that cannot make progress for `limits.write_timeout` fails
//! it (as a member's blocked write does); once it is a WebSocket, the
//! session's own slow-reader rules apply instead and this one is disarmed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, Sleep};

/// `S` whose writes fail after stalling `limit` while `armed`.
pub(super) struct Stall<S> {
    inner: S,
    limit: Duration,
    armed: Arc<AtomicBool>,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> Stall<S> {
    pub(super) fn new(inner: S, limit: Duration, armed: Arc<AtomicBool>) -> Stall<S> {
        Stall {
            inner,
            limit,
            armed,
            stalled: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Stall<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stall<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if polled.is_ready() || !this.armed.load(Ordering::Relaxed) {
            this.stalled = None;
            return polled;
        }
        let limit = this.limit;
        let timer = this.stalled.get_or_insert_with(|| Box::pin(sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer took nothing for limits.write_timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
