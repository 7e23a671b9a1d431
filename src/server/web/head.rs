//! Every request head is read and checked here before the HTTP library
//! (hyper) sees a byte of it, so that no answer of the web address is one
//! hyper writes by itself: hyper answers a malformed request or an
//! oversized head with a bare 400 or 431, without the page's security
//! headers, and offers no hook to add them. A head is passed on only when
//! it is whole and parses as hyper parses it (the same `httparse`, the
//! same `http` types, at most [`MAX_HEADERS`] headers, [`MAX_HEAD`] bytes);
//! a request with a body is refused too (the page and the socket take
//! none), which also keeps every request's end where its head ends. The
//! first bad head of a connection gets the server's own answer with the
//! security headers ([`super::guard::whole`]). A bad one after a good one
//! on a kept-alive connection (which no browser sends) is never given to
//! hyper: the good one is answered, then nothing more is read and the
//! header timeout (`limits.handshake_timeout`) closes the connection —
//! answering it ourselves could cross an answer of hyper's still on its way
//! (hyper reads ahead while it answers), and ending the reads at once would
//! make hyper drop that answer. Once the connection is a WebSocket the
//! bytes pass untouched.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::http::{HeaderName, Method, StatusCode, Uri};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes a request head may take (hyper's own bound is about 400 KiB;
/// a browser's head, cookies included, is a few KiB).
pub(crate) const MAX_HEAD: usize = 32 * 1024;
/// Most headers in a request (hyper's default).
pub(crate) const MAX_HEADERS: usize = 100;

/// Why a head is refused: the status and the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bad(pub StatusCode, pub &'static str);

/// The length of the whole, acceptable head at the start of `buf`;
/// `Ok(None)` while it is not whole yet.
pub(super) fn check(buf: &[u8]) -> Result<Option<usize>, Bad> {
    let too_big = Bad(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "the request's head is over 32 KiB or 100 headers",
    );
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
        Ok(httparse::Status::Complete(_)) => return Err(too_big),
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(too_big),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(too_big),
        Err(_) => {
            return Err(Bad(
                StatusCode::BAD_REQUEST,
                "this is not an HTTP/1 request",
            ))
        }
    };
    let method = req.method.map(|m| Method::from_bytes(m.as_bytes()));
    let target = req.path.map(Uri::try_from);
    if !matches!(method, Some(Ok(_))) || !matches!(target, Some(Ok(_))) {
        return Err(Bad(
            StatusCode::BAD_REQUEST,
            "the request's method or target is not one HTTP allows",
        ));
    }
    for h in req.headers.iter() {
        let named = HeaderName::from_bytes(h.name.as_bytes());
        let body = h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length") && h.value != b"0");
        if named.is_err() {
            return Err(Bad(
                StatusCode::BAD_REQUEST,
                "a header's name is not one HTTP allows",
            ));
        }
        if body {
            return Err(Bad(
                StatusCode::PAYLOAD_TOO_LARGE,
                "this address serves a page and a WebSocket: a request carries no body",
            ));
        }
    }
    Ok(Some(len))
}

/// `S` that gives hyper only whole, checked heads while the connection
/// speaks HTTP (`http`), and everything once it is a WebSocket.
pub(super) struct Heads<S> {
    inner: S,
    http: Arc<AtomicBool>,
    /// Read from `inner`, not yet given on.
    buf: Vec<u8>,
    /// Bytes at the front of `buf` checked and free to go.
    free: usize,
    /// A head was given on: hyper may be answering it.
    passed: bool,
    /// Our refusal, while it is written (then the reads end).
    refusal: Option<(Vec<u8>, usize)>,
    ended: bool,
    /// A bad head after a good one: nothing more is read.
    held: bool,
}

impl<S> Heads<S> {
    pub(super) fn new(inner: S, http: Arc<AtomicBool>) -> Heads<S> {
        Heads {
            inner,
            http,
            buf: Vec::new(),
            free: 0,
            passed: false,
            refusal: None,
            ended: false,
            held: false,
        }
    }

    /// Give up to `out`'s room of the free bytes.
    fn give(&mut self, out: &mut ReadBuf<'_>) {
        let n = self.free.min(out.remaining());
        out.put_slice(&self.buf[..n]);
        self.buf.drain(..n);
        self.free -= n;
        if self.buf.is_empty() {
            // An idle member keeps no buffer (its WebSocket reads pass through).
            self.buf = Vec::new();
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Heads<S> {
    /// Write our refusal whole (hyper has written nothing: no head passed).
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((answer, at)) = &mut self.refusal {
            if *at == answer.len() {
                ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
                self.refusal = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *at += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Read more of the peer's bytes into `buf`; false at its end.
    fn poll_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut chunk = [0u8; 4096];
        let mut rb = ReadBuf::new(&mut chunk);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut rb))?;
        self.buf.extend_from_slice(rb.filled());
        Poll::Ready(Ok(!rb.filled().is_empty()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Heads<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.refusal.is_some() {
                let _ = ready!(this.poll_refusal(cx));
                this.ended = true;
            }
            if this.ended {
                return Poll::Ready(Ok(()));
            }
            if this.free > 0 {
                this.give(out);
                return Poll::Ready(Ok(()));
            }
            if !this.http.load(Ordering::Relaxed) {
                // A WebSocket: what is left (frames sent early too), then the stream itself.
                if !this.buf.is_empty() {
                    this.free = this.buf.len();
                    continue;
                }
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            if this.held {
                return Poll::Pending;
            }
            match check(&this.buf) {
                Ok(Some(len)) => {
                    this.free = len;
                    this.passed = true;
                }
                Ok(None) => {
                    if !ready!(this.poll_more(cx))? {
                        // The peer's end, a partial head (if any) dropped.
                        this.ended = true;
                    }
                }
                Err(Bad(status, why)) => {
                    tracing::debug!("web: a request refused before parsing ({status}): {why}");
                    match this.passed {
                        // Kept: if hyper's answer makes this a WebSocket, they are its frames.
                        true => this.held = true,
                        false => {
                            this.buf.clear();
                            let answer = super::guard::whole(status, &[], &format!("{why}\n"));
                            this.refusal = Some((answer, 0));
                        }
                    }
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Heads<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_heads_pass_and_bad_or_big_ones_are_refused_with_their_status() {
        let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /app.js";
        assert_eq!(check(get), Ok(Some(27)));
        assert_eq!(check(&get[..20]), Ok(None));
        let status = |b: &[u8]| check(b).unwrap_err().0.as_u16();
        assert_eq!(status(b"\x16\x03\x01 hello\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
        assert_eq!(status(b"GET http://[x/ HTTP/1.1\r\n\r\n"), 400);
        let long = format!("GET / HTTP/1.1\r\nCookie: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(status(long.as_bytes()), 431);
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(status(many.as_bytes()), 431);
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
            413
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            413
        );
        assert_eq!(
            check(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Ok(Some(37))
        );
    }
}
