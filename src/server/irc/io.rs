//! An IRC client's connection as a session's byte stream, as a browser's
//! socket is (`web::socket`): what the client sends is read line by line
//! (`\r\n` or a bare `\n`), parsed (`protocol::irc`) and translated
//! (`commands`) into the session's packets, or answered at once (PING,
//! CAP, numerics); what the session writes is parsed back into packets
//! and rendered (`render`) as IRC lines. The session does not know it
//! talks IRC: its rate limit, slow-reader rule, names, rooms and
//! operators apply as to any member.
//!
//! Bounds: a line longer than 512 bytes plus 4,096 of tags is refused
//! (417) and skipped up to its end without being buffered; once 64 KiB of
//! answers wait for a client that does not read them (a PING flood), the
//! client is not read until they are written.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::state::State;
use crate::protocol::irc::{parse, LineError, MAX_BODY, MAX_TAGS};

/// Answers waiting for the client past which it is not read.
const HIGH: usize = 64 * 1024;

/// The longest line kept whole.
const MAX_LINE: usize = MAX_BODY + MAX_TAGS;

pub(crate) struct IrcIo<S> {
    io: S,
    /// What the client sent and is not yet a whole line.
    inbuf: BytesMut,
    /// Inside a line that is too long: drop bytes up to its end.
    skipping: bool,
    /// The start of a line the session has not finished writing.
    partial: Vec<u8>,
    /// Client input has ended (closed, or QUIT).
    eof: bool,
    /// The session's read, waiting: woken when a packet is staged while it
    /// writes (commands held until registration).
    reader: Option<std::task::Waker>,
    pub(super) st: State,
}

impl<S: AsyncRead + AsyncWrite + Unpin> IrcIo<S> {
    pub(crate) fn new(io: S, st: State) -> IrcIo<S> {
        IrcIo {
            io,
            inbuf: BytesMut::with_capacity(1024),
            skipping: false,
            partial: Vec::new(),
            eof: false,
            reader: None,
            st,
        }
    }

    /// Write out the answers waiting; `Pending` while some wait.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.st.out.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.st.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.st.out.advance(n);
        }
        // Over TLS, written is not sent until flushed.
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Handle every whole line in `inbuf`.
    fn take_lines(&mut self) {
        while !self.st.ended {
            let Some(end) = memchr::memchr(b'\n', &self.inbuf) else {
                if self.inbuf.len() > MAX_LINE {
                    self.inbuf.clear();
                    if !self.skipping {
                        self.refuse(LineError::TooLong);
                    }
                    self.skipping = true;
                }
                return;
            };
            let line = self.inbuf.split_to(end + 1);
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            let line = &line[..end];
            if line.iter().all(|b| matches!(b, b' ' | b'\r')) {
                continue; // empty lines are ignored (Modern IRC)
            }
            match parse(line) {
                Ok(m) => super::table::dispatch(&mut self.st, &m),
                Err(e) => self.refuse(e),
            }
        }
    }

    /// A line that is not a message: 417 for one too long, else a NOTICE
    /// (nothing of it reaches the rooms).
    fn refuse(&mut self, e: LineError) {
        match e {
            LineError::TooLong => self.st.numeric(
                "417",
                &["Input line was too long: at most 512 bytes plus 4096 bytes of tags"],
            ),
            other => self
                .st
                .notice(&format!("line refused: {}", other.explain())),
        }
    }

    /// Each whole line the session wrote, rendered for the client.
    fn take_packets(&mut self, mut buf: &[u8]) {
        while let Some(end) = memchr::memchr(b'\n', buf) {
            let line = if self.partial.is_empty() {
                &buf[..end]
            } else {
                self.partial.extend_from_slice(&buf[..end]);
                &self.partial[..]
            };
            if let Ok(p) = crate::protocol::parse(line) {
                super::render::packet(&mut self.st, p);
            }
            self.partial.clear();
            buf = &buf[end + 1..];
        }
        self.partial.extend_from_slice(buf);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for IrcIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.st.staged.is_empty() {
                let n = this.st.staged.len().min(buf.remaining());
                buf.put_slice(&this.st.staged[..n]);
                this.st.staged.advance(n);
                if !this.st.out.is_empty() {
                    let _ = this.poll_drain(cx)?;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof || this.st.ended {
                // Answers already said (ERROR) leave before the end.
                ready!(this.poll_drain(cx))?;
                return Poll::Ready(Ok(()));
            }
            if this.st.out.len() >= HIGH
                && this.poll_drain(cx)?.is_pending()
                && this.st.out.len() >= HIGH
            {
                return Poll::Pending;
            }
            this.inbuf.reserve(4096);
            let mut chunk = [0u8; 4096];
            let mut rb = ReadBuf::new(&mut chunk);
            let read = Pin::new(&mut this.io).poll_read(cx, &mut rb);
            if !this.st.out.is_empty() {
                let _ = this.poll_drain(cx)?;
            }
            if read.is_pending() {
                this.reader = Some(cx.waker().clone());
            }
            match ready!(read) {
                Ok(()) if rb.filled().is_empty() => this.eof = true,
                Ok(()) => {
                    this.inbuf.extend_from_slice(rb.filled());
                    this.take_lines();
                    if !this.st.out.is_empty() {
                        let _ = this.poll_drain(cx)?;
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for IrcIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.st.out.len() >= HIGH
            && this.poll_drain(cx)?.is_pending()
            && this.st.out.len() >= HIGH
        {
            return Poll::Pending;
        }
        let mut n = 0;
        for b in bufs {
            this.take_packets(b);
            n += b.len();
            if this.st.out.len() >= HIGH {
                break;
            }
        }
        if !this.st.staged.is_empty() || this.st.ended {
            if let Some(w) = this.reader.take() {
                w.wake();
            }
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
