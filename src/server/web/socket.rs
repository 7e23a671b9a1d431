//! A browser's WebSocket as a session's byte stream, with no task, pipe or
//! message object between them: each line the session writes leaves as one
//! text frame (a header and the line, framed straight into one buffer per
//! write), and each text message the browser sends reaches the session as
//! one line. So a browser member costs what a TCP member does plus a frame
//! header — measured with `benches/web.sh` (docs/BENCHMARKS.md).
//!
//! What the browser sends is read by tungstenite's protocol engine — frame
//! parsing, masking, fragments, size limits, UTF-8, pings and the closing
//! handshake — over a view of the socket that hands its replies (pongs, the
//! answer to a close) to the same outgoing buffer, between whole frames.
//!
//! A message that breaks the protocol or this one's rules (binary, several
//! packets in one message, too long, not UTF-8, not valid WebSocket) ends
//! the session's input as a closed TCP connection would; the socket's
//! close frame then carries the code and the reason.

use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Error as WsError, Message};

/// Framed bytes waiting for the socket past which the session's writes
/// wait too (as a full socket buffer makes a TCP member's wait).
const HIGH: usize = 64 * 1024;

/// Bytes the protocol engine reads from the socket at once (it zero-fills
/// that much before each read: small, as a member sends small messages).
const READ_BUFFER: usize = 4 * 1024;

/// Longest close reason a close frame carries (RFC 6455: 123 bytes).
const MAX_REASON: usize = 123;

/// The header of an unmasked frame with `opcode` and FIN, for `len` bytes.
fn header(opcode: u8, len: usize, out: &mut BytesMut) {
    out.extend_from_slice(&[0x80 | opcode]);
    if len < 126 {
        out.extend_from_slice(&[len as u8]);
    } else if len <= usize::from(u16::MAX) {
        out.extend_from_slice(&[126]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;

/// The socket, for the protocol engine: reads come from the socket (not
/// ready: `WouldBlock`), writes (its pongs and close replies) go to the
/// outgoing buffer, after the whole frames already there.
struct View<'a, 'b, S> {
    io: Pin<&'a mut S>,
    cx: &'a mut Context<'b>,
    out: &'a mut BytesMut,
}

impl<S: AsyncRead> Read for View<'_, '_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rb = ReadBuf::new(buf);
        match self.io.as_mut().poll_read(self.cx, &mut rb) {
            Poll::Ready(Ok(())) => Ok(rb.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<S> Write for View<'_, '_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A WebSocket as the session's stream (see the module's notes).
pub(crate) struct WsIo<S> {
    io: S,
    /// tungstenite's state for what the browser sends.
    incoming: WebSocketContext,
    /// A message read and not yet handed to the session in full (with its
    /// line end).
    staged: Bytes,
    /// Whole frames not yet written to the socket.
    out: BytesMut,
    /// The start of a line the session has not finished writing.
    partial: Vec<u8>,
    /// The session's input has ended: the browser closed, went away or
    /// broke a rule (then `close` says what to tell it).
    ended: bool,
    /// The close frame to send when the session ends (`None`: 1000).
    close: Option<(u16, String)>,
    /// A close frame is in `out` (ours, or tungstenite's reply to the
    /// browser's): nothing may follow it.
    closed: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsIo<S> {
    /// `io` after the upgrade; messages and frames of at most `max` bytes.
    pub(crate) fn new(io: S, max: usize) -> WsIo<S> {
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        WsIo {
            io,
            incoming: WebSocketContext::new(Role::Server, Some(config)),
            staged: Bytes::new(),
            out: BytesMut::new(),
            partial: Vec::new(),
            ended: false,
            close: None,
            closed: false,
        }
    }

    /// One text frame holding `line` (without its line end).
    fn frame(&mut self, line: &[u8]) {
        if self.closed {
            return;
        }
        header(TEXT, line.len(), &mut self.out);
        self.out.extend_from_slice(line);
    }

    /// Frame each whole line of `buf`, keeping an unfinished one.
    fn take(&mut self, mut buf: &[u8]) {
        while let Some(end) = memchr::memchr(b'\n', buf) {
            if self.partial.is_empty() {
                self.frame(&buf[..end]);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&buf[..end]);
                self.frame(&line);
            }
            buf = &buf[end + 1..];
        }
        self.partial.extend_from_slice(buf);
    }

    /// Write out what is waiting; `Pending` while some of it is.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    /// End the session's input, closing with `code` and `reason` later.
    fn refuse(&mut self, code: u16, reason: String) {
        self.ended = true;
        self.close.get_or_insert((code, reason));
    }

    /// The next message from the browser into `staged`; `Pending` until
    /// one is whole, `ended` when there will be none.
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let read = self
                .incoming
                .read(&mut view_of(&mut self.io, cx, &mut self.out));
            match read {
                Ok(Message::Text(t)) => {
                    if t.as_str().contains(['\n', '\r']) {
                        self.refuse(
                            u16::from(CloseCode::Invalid),
                            "one JSON packet per message, without line breaks".into(),
                        );
                        return Poll::Ready(());
                    }
                    let mut line = BytesMut::with_capacity(t.len() + 1);
                    line.extend_from_slice(t.as_bytes());
                    line.extend_from_slice(b"\n");
                    self.staged = line.freeze();
                    return Poll::Ready(());
                }
                Ok(Message::Binary(_)) => {
                    self.refuse(
                        u16::from(CloseCode::Unsupported),
                        "text messages only: one JSON packet each".into(),
                    );
                    return Poll::Ready(());
                }
                // The engine queued the pong: have it written into `out`.
                Ok(Message::Ping(_)) => {
                    let _ = self
                        .incoming
                        .flush(&mut view_of(&mut self.io, cx, &mut self.out));
                }
                Ok(Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(_)) => {
                    // Its reply is written into `out` as it is queued.
                    let _ = self
                        .incoming
                        .flush(&mut view_of(&mut self.io, cx, &mut self.out));
                    self.closed = true;
                    self.ended = true;
                    return Poll::Ready(());
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Poll::Pending;
                }
                Err(e) => {
                    match refusal(&e, self.incoming.get_config().max_message_size) {
                        Some((code, reason)) => self.refuse(code, reason),
                        None => {
                            self.ended = true;
                            self.closed = true;
                        }
                    }
                    return Poll::Ready(());
                }
            }
        }
    }
}

fn view_of<'a, 'b, S: Unpin>(
    io: &'a mut S,
    cx: &'a mut Context<'b>,
    out: &'a mut BytesMut,
) -> View<'a, 'b, S> {
    View {
        io: Pin::new(io),
        cx,
        out,
    }
}

/// What a socket that broke the rules is told as it is closed; `None`: it
/// went away (nothing to tell).
fn refusal(e: &WsError, max: Option<usize>) -> Option<(u16, String)> {
    match e {
        WsError::Capacity(_) => Some((
            u16::from(CloseCode::Size),
            format!(
                "a message longer than {} bytes (limits.max_frame_bytes)",
                max.unwrap_or_default()
            ),
        )),
        WsError::Protocol(_) => Some((
            u16::from(CloseCode::Protocol),
            "not a valid WebSocket frame sequence".into(),
        )),
        WsError::Utf8(_) => Some((
            u16::from(CloseCode::Invalid),
            "a text message that is not UTF-8".into(),
        )),
        _ => None,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.staged.is_empty() && !this.ended {
            // A browser that sends pings and never reads their pongs stops
            // being read once its replies fill the buffer.
            if this.out.len() >= HIGH && this.poll_drain(cx)?.is_pending() {
                return Poll::Pending;
            }
            let got = this.poll_message(cx);
            // Replies the engine queued leave now if the socket takes them.
            if !this.out.is_empty() {
                let _ = this.poll_drain(cx)?;
            }
            ready!(got);
        }
        let n = this.staged.len().min(buf.remaining());
        buf.put_slice(&this.staged[..n]);
        this.staged.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
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
        if this.out.len() >= HIGH && this.poll_drain(cx)?.is_pending() && this.out.len() >= HIGH {
            return Poll::Pending;
        }
        let mut n = 0;
        for b in bufs {
            this.take(b);
            n += b.len();
            if this.out.len() >= HIGH {
                break;
            }
        }
        // Out at the flush that ends the session's write (it flushes after
        // every one), in as few system calls as a TCP member's writes.
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
        if !this.closed {
            this.closed = true;
            let (code, reason) = this
                .close
                .take()
                .unwrap_or((u16::from(CloseCode::Normal), String::new()));
            let mut end = reason.len().min(MAX_REASON);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            header(CLOSE, 2 + end, &mut this.out);
            this.out.extend_from_slice(&code.to_be_bytes());
            this.out.extend_from_slice(&reason.as_bytes()[..end]);
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::Message as M;
    use tokio_tungstenite::WebSocketStream;

    async fn pair(
        max: usize,
    ) -> (
        WsIo<tokio::io::DuplexStream>,
        WebSocketStream<tokio::io::DuplexStream>,
    ) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let client = WebSocketStream::from_raw_socket(
            b,
            tokio_tungstenite::tungstenite::protocol::Role::Client,
            None,
        )
        .await;
        (WsIo::new(a, max), client)
    }

    #[tokio::test]
    async fn lines_become_text_messages_and_back_whatever_the_write_boundaries() {
        let (mut io, mut client) = pair(1024).await;
        // A line split over writes, two lines in one, a long one (16-bit length).
        let long = "x".repeat(300);
        io.write_all(b"{\"a\":").await.unwrap();
        io.write_all(b"1}\n{\"b\":2}\n").await.unwrap();
        io.write_all(format!("{long}\n").as_bytes()).await.unwrap();
        io.flush().await.unwrap();
        for want in ["{\"a\":1}", "{\"b\":2}", long.as_str()] {
            assert_eq!(client.next().await.unwrap().unwrap(), M::Text(want.into()));
        }
        client
            .send(M::Text("{\"type\":\"chat\"}".into()))
            .await
            .unwrap();
        client.send(M::Ping(b"p".to_vec().into())).await.unwrap();
        client.send(M::Text("second".into())).await.unwrap();
        let mut got = vec![0u8; 64];
        let mut read = Vec::new();
        while read.len() < "{\"type\":\"chat\"}\nsecond\n".len() {
            let n = io.read(&mut got).await.unwrap();
            read.extend_from_slice(&got[..n]);
        }
        assert_eq!(read, b"{\"type\":\"chat\"}\nsecond\n");
        // The ping was answered.
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            M::Pong(b"p".to_vec().into())
        );
    }

    #[tokio::test]
    async fn a_binary_message_ends_the_input_and_the_close_frame_says_why() {
        let (mut io, mut client) = pair(1024).await;
        client.send(M::Binary(vec![1, 2, 3].into())).await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(
            io.read(&mut buf).await.unwrap(),
            0,
            "the session's input ends"
        );
        io.write_all(b"{\"type\":\"error\"}\n").await.unwrap();
        io.shutdown().await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            M::Text("{\"type\":\"error\"}".into())
        );
        match client.next().await.unwrap().unwrap() {
            M::Close(Some(f)) => {
                assert_eq!(f.code, CloseCode::Unsupported);
                assert!(f.reason.contains("text messages only"), "{}", f.reason);
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Raw bytes from a hostile client: the close code the server answers.
    async fn close_code_for(raw: &[u8]) -> u16 {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut io = WsIo::new(a, 1024);
        b.write_all(raw).await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(
            io.read(&mut buf).await.unwrap(),
            0,
            "the session's input ends"
        );
        io.shutdown().await.unwrap();
        let mut out = Vec::new();
        b.read_to_end(&mut out).await.unwrap();
        assert_eq!(out[0], 0x88, "a close frame: {out:?}");
        u16::from_be_bytes([out[2], out[3]])
    }

    #[tokio::test]
    async fn text_that_is_not_utf8_closes_with_1007_and_an_unmasked_frame_with_1002() {
        // Masked (with a zero key) text frame holding 0xff 0xfe.
        assert_eq!(
            close_code_for(&[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe]).await,
            1007
        );
        // A client's frame must be masked.
        assert_eq!(close_code_for(&[0x81, 0x02, b'h', b'i']).await, 1002);
    }

    #[tokio::test]
    async fn fragments_past_the_limit_close_with_1009() {
        use tokio_tungstenite::tungstenite::protocol::frame::{
            coding::Data, coding::OpCode, Frame,
        };
        let (mut io, mut client) = pair(1000).await;
        // A text message in 100-byte fragments, never finished: 1,100 bytes.
        let first = Frame::message(vec![b'x'; 100], OpCode::Data(Data::Text), false);
        client.send(M::Frame(first)).await.unwrap();
        for _ in 0..10 {
            let more = Frame::message(vec![b'x'; 100], OpCode::Data(Data::Continue), false);
            client.send(M::Frame(more)).await.unwrap();
        }
        let mut buf = [0u8; 16];
        assert_eq!(io.read(&mut buf).await.unwrap(), 0);
        io.shutdown().await.unwrap();
        match client.next().await.unwrap().unwrap() {
            M::Close(Some(f)) => {
                assert_eq!(f.code, CloseCode::Size);
                assert!(f.reason.contains("1000 bytes"), "{}", f.reason);
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
