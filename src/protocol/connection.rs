//! A byte stream that speaks packets: bounded lines in, packets and shared
//! bytes out. The server's sessions, `join`, `check` and the examples all
//! talk through one of these; what differs is only the stream (TCP, TLS, a
//! tap that prints the wire).

use std::io::IoSlice;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{FutureExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::time::{timeout, Instant};
use tokio_util::codec::FramedRead;

use super::{parse, FrameCodec, FrameError, Packet, ParseError};

/// How long a goodbye may take to write.
const CLOSE_WRITE: Duration = Duration::from_millis(500);
/// How often a blocked write looks again at how far behind its reader is.
const LAG_POLL: Duration = Duration::from_millis(200);

/// What reading brought.
#[derive(Debug)]
pub enum Read {
    Packet(Packet),
    /// A line that is not a packet (the caller decides: refuse, skip or close).
    Unreadable(ParseError),
    /// The peer closed the stream.
    End,
}

/// Why a write gave up.
#[derive(Debug)]
pub enum WriteError {
    /// The peer is not taking what it is sent (behind, or past the deadline).
    TooSlow,
    Io(std::io::Error),
}

pub struct Connection<S> {
    /// Lines from the peer, bounded by the frame limit.
    reader: FramedRead<ReadHalf<S>, FrameCodec>,
    writer: WriteHalf<S>,
    /// The last write found the peer's socket buffer full.
    stalled: bool,
    /// Bytes written to the peer so far.
    written: u64,
    /// Room to read into: small for a quiet peer, growing (to
    /// [`READ_MAX`]) while reads bring several lines at once, shrinking
    /// back when they bring one.
    read_room: usize,
    read_min: usize,
}

/// Largest read buffer a busy peer gets.
const READ_MAX: usize = 16 * 1024;

impl<S> Connection<S> {
    /// Bytes of lines read from the peer so far.
    pub fn bytes_read(&self) -> u64 {
        self.reader.decoder().consumed()
    }

    /// Bytes written to the peer so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }
}

impl<S: AsyncRead + AsyncWrite> Connection<S> {
    /// Lines of at most `max_frame` bytes; the read buffer starts at
    /// `read_capacity` bytes (small, so that idle peers cost little).
    pub fn new(stream: S, max_frame: usize, read_capacity: usize) -> Self {
        let (r, w) = tokio::io::split(stream);
        Connection {
            reader: FramedRead::with_capacity(r, FrameCodec::new(max_frame), read_capacity),
            writer: w,
            stalled: false,
            written: 0,
            read_room: read_capacity,
            read_min: read_capacity,
        }
    }

    /// The next line as it came (without its `\n`).
    pub async fn read_line(&mut self) -> Option<Result<BytesMut, FrameError>> {
        self.make_read_room();
        let line = self.reader.next().await;
        self.adapt_read_room();
        line
    }

    /// A whole line is already read (the next packet needs no system call).
    pub fn has_line(&self) -> bool {
        memchr::memchr(b'\n', self.reader.read_buffer()).is_some()
    }

    /// Before reading: room for `read_room` bytes.
    fn make_read_room(&mut self) {
        let buf = self.reader.read_buffer_mut();
        if buf.capacity() - buf.len() < self.read_room / 2 {
            buf.reserve(self.read_room);
        }
    }

    /// After a line: more lines already here means the peer sends in
    /// bursts (read more at once); none, that one read brought one line
    /// (read less, and give memory back once it is quiet).
    fn adapt_read_room(&mut self) {
        let buf = self.reader.read_buffer_mut();
        if !buf.is_empty() {
            self.read_room = (self.read_room * 2).min(READ_MAX);
        } else if self.read_room > self.read_min {
            self.read_room = (self.read_room / 2).max(self.read_min);
            if buf.capacity() > 2 * self.read_room {
                *buf = BytesMut::with_capacity(self.read_room);
            }
        }
    }

    /// The next packet. `Err`: the stream is broken (a line too long, cut
    /// off, an I/O error) and nothing more can be read from it.
    pub async fn read_packet(&mut self) -> Result<Read, FrameError> {
        self.make_read_room();
        let next = self.reader.next().await;
        self.adapt_read_room();
        match next {
            None => Ok(Read::End),
            Some(Err(e)) => Err(e),
            Some(Ok(line)) => Ok(match parse(&line) {
                Ok(p) => Read::Packet(p),
                Err(e) => Read::Unreadable(e),
            }),
        }
    }

    /// Send one packet (and flush).
    pub async fn write_packet(&mut self, packet: &Packet) -> std::io::Result<()> {
        self.write_bytes(&packet.to_line()).await
    }

    /// Send bytes that already hold whole lines (and flush).
    pub async fn write_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.write_behind(bytes, None, || false).await {
            Ok(()) => Ok(()),
            Err(WriteError::Io(e)) => Err(e),
            Err(WriteError::TooSlow) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// Write and flush, keeping an eye on a write that cannot finish at once
    /// (the peer's socket buffer is full, remembered in [`stalled`](Self::stalled)):
    /// it gives up as soon as `behind()` says the peer fell too far behind,
    /// or at `deadline` after the write started.
    pub async fn write_behind(
        &mut self,
        bytes: &[u8],
        deadline: Option<Duration>,
        behind: impl Fn() -> bool,
    ) -> Result<(), WriteError> {
        self.write_pieces_behind(&[bytes], deadline, behind).await
    }

    /// [`write_behind`](Self::write_behind) for bytes in pieces (shared
    /// chunks of the room's feed): written with vectored writes, never
    /// copied into one buffer first.
    pub async fn write_pieces_behind<B: AsRef<[u8]> + Sync>(
        &mut self,
        pieces: &[B],
        deadline: Option<Duration>,
        behind: impl Fn() -> bool,
    ) -> Result<(), WriteError> {
        let len: u64 = pieces.iter().map(|p| p.as_ref().len() as u64).sum();
        let w = &mut self.writer;
        let mut fut = std::pin::pin!(async {
            write_all_pieces(w, pieces).await?;
            w.flush().await
        });
        if let Some(r) = fut.as_mut().now_or_never() {
            self.stalled = false;
            self.written += if r.is_ok() { len } else { 0 };
            return r.map_err(WriteError::Io);
        }
        self.stalled = true;
        let until = deadline.map(|d| Instant::now() + d);
        loop {
            tokio::select! {
                r = fut.as_mut() => {
                    self.written += if r.is_ok() { len } else { 0 };
                    return r.map_err(WriteError::Io);
                }
                _ = tokio::time::sleep(LAG_POLL) => {
                    if behind() || until.is_some_and(|u| Instant::now() >= u) {
                        return Err(WriteError::TooSlow);
                    }
                }
            }
        }
    }

    /// The two halves, for a program that reads and writes in separate tasks
    /// (the load generator).
    pub fn into_parts(self) -> (FramedRead<ReadHalf<S>, FrameCodec>, WriteHalf<S>) {
        (self.reader, self.writer)
    }

    /// The last write could not finish at once.
    pub fn stalled(&self) -> bool {
        self.stalled
    }

    /// End our side of the stream (the peer reads what we sent, then the end).
    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        self.writer.shutdown().await
    }

    /// Say `packet`, end our side, then read and throw away what the peer
    /// still sends for up to `linger` (a "lingering close"): closing a socket
    /// with unread input makes the kernel reset it, and a reset makes the
    /// peer's kernel discard what we wrote, our goodbye included. A flooding
    /// peer is exactly one with unread input. Best effort throughout.
    pub async fn close_with(&mut self, packet: &Packet, linger: Duration) {
        self.close_with_bytes(&packet.to_line(), linger).await
    }

    /// [`Connection::close_with`] for a line that is not a packet (the
    /// answer to another protocol).
    pub async fn close_with_bytes(&mut self, line: &[u8], linger: Duration) {
        let said = timeout(CLOSE_WRITE, async {
            self.writer.write_all(line).await?;
            self.writer.shutdown().await
        })
        .await;
        if matches!(said, Ok(Ok(()))) {
            self.written += line.len() as u64;
            let raw = self.reader.get_mut();
            let mut scratch = vec![0u8; 4096];
            let _ = timeout(linger, async {
                while matches!(raw.read(&mut scratch).await, Ok(n) if n > 0) {}
            })
            .await;
        }
    }
}

/// Write every piece, in order, a few at a time per system call.
async fn write_all_pieces<W: AsyncWrite + Unpin, B: AsRef<[u8]>>(
    w: &mut W,
    pieces: &[B],
) -> std::io::Result<()> {
    const AT_ONCE: usize = 64;
    let (mut i, mut off) = (0, 0);
    while i < pieces.len() {
        let mut slices = [IoSlice::new(&[]); AT_ONCE];
        let mut n = 0;
        for (k, p) in pieces[i..].iter().take(AT_ONCE).enumerate() {
            let p = p.as_ref();
            slices[k] = IoSlice::new(if k == 0 { &p[off..] } else { p });
            n = k + 1;
        }
        let mut written = match n {
            1 => w.write(&slices[0]).await?,
            _ => w.write_vectored(&slices[..n]).await?,
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let left = pieces[i].as_ref().len() - off;
            if written >= left {
                written -= left;
                i += 1;
                off = 0;
            } else {
                off += written;
                written = 0;
            }
        }
        // Skip empty pieces.
        while i < pieces.len() && pieces[i].as_ref().len() == off {
            i += 1;
            off = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn packets_go_both_ways_and_a_goodbye_survives_unread_input() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let mut server = Connection::new(a, 1024, 64);
        let mut client = Connection::new(b, 1024, 64);
        client.write_packet(&Packet::system("hi")).await.unwrap();
        client.write_bytes(b"not json\n").await.unwrap();
        assert!(matches!(
            server.read_packet().await,
            Ok(Read::Packet(Packet::System(_)))
        ));
        assert!(matches!(
            server.read_packet().await,
            Ok(Read::Unreadable(_))
        ));
        // Input the server never reads, then its goodbye.
        client.write_bytes(&[b'x'; 100]).await.unwrap();
        let bye = Packet::bye("closing");
        let (_, got) = tokio::join!(server.close_with(&bye, Duration::from_millis(100)), async {
            let p = client.read_packet().await.unwrap();
            client.shutdown().await.unwrap();
            p
        });
        assert!(matches!(got, Read::Packet(Packet::Bye(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_takes_gives_up_when_behind_or_late() {
        let (a, _b) = tokio::io::duplex(64);
        let mut c = Connection::new(a, 1024, 64);
        let r = c
            .write_behind(&[0u8; 1000], Some(Duration::from_secs(1)), || false)
            .await;
        assert!(matches!(r, Err(WriteError::TooSlow)) && c.stalled());
        let r = c.write_behind(&[0u8; 1000], None, || true).await;
        assert!(matches!(r, Err(WriteError::TooSlow)));
    }
}
