//! Connections for the load generator: tcpplay's protocol (plaintext, TLS,
//! secure, and over a WebSocket) through the library's own client, or raw
//! lines for `ncat --chat`.
//! And the message identity: sender, sequence number and send time, carried in
//! the text (or, in secure mode, in the nonce) so receivers can account for
//! every delivery cheaply.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::BytesMut;
use futures_util::StreamExt;
use tcpplay::client::{self, ConnectOptions, Stream};
use tcpplay::crypto::{self, RoomKey};
use tcpplay::protocol::FrameCodec;
use tcpplay::tls::TlsMode;
use tcpplay::tls::Trust;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio_util::codec::{Decoder, FramedRead};

use crate::ncat::NcatDemux;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Plain,
    Tls,
    Secure,
    /// Plain text lines (for `ncat --chat`, which prefixes `<userN> `).
    Lines,
    /// tcpplay's protocol over a WebSocket (`serve --web`): `--addr` is
    /// the web address.
    Ws,
    /// IRC (ngircd, InspIRCd, `tcpplay serve --irc`): `NICK`/`USER`,
    /// `JOIN`, `PRIVMSG`.
    Irc,
}

impl Mode {
    /// Does the server send a line back to its sender? (ncat and IRC
    /// servers do not.)
    pub fn echoes(self) -> bool {
        !matches!(self, Mode::Lines | Mode::Irc)
    }
}

/// The IRC channel of a room (`None`: the one channel of a one-room run).
fn channel(room: Option<&str>) -> &str {
    room.unwrap_or("#lg")
}

/// Register as `name` on an IRC server and join `room`'s channel: the
/// connection once the server listed the channel's names (from then on
/// every PRIVMSG to it reaches this client).
async fn irc(host: &str, port: u16, name: &str, room: Option<&str>) -> Result<Conn> {
    let mut s = tokio::net::TcpStream::connect((host, port)).await?;
    s.set_nodelay(true)?;
    // Neither ngircd nor InspIRCd sets TCP_NODELAY: ack at once, as for ncat.
    let quickack = socket2::SockRef::from(&s).try_clone()?;
    quickack.set_tcp_quickack(true)?;
    let hello = format!("NICK {name}\r\nUSER {name} 0 * :loadgen\r\n");
    s.write_all(hello.as_bytes()).await?;
    let mut seen = Vec::new();
    // Until the welcome (001), then until the end of this channel's names
    // (366 NICK #CHANNEL: tcpplay's listener also puts every member in its
    // default room, whose names come first).
    let names_end = format!(" 366 {name} {} ", channel(room));
    for (numeric, then) in [
        (" 001 ", Some(format!("JOIN {}\r\n", channel(room)))),
        (names_end.as_str(), None),
    ] {
        loop {
            let found = memchr::memmem::find(&seen, numeric.as_bytes())
                .and_then(|at| memchr::memchr(b'\n', &seen[at..]).map(|end| at + end + 1));
            if let Some(end) = found {
                seen.drain(..end);
                break;
            }
            // A PING before the welcome (some servers' anti-spoofing cookie).
            if let Some(at) = memchr::memmem::find(&seen, b"PING :") {
                if let Some(end) = memchr::memchr(b'\n', &seen[at..]) {
                    let cookie = seen[at + 6..at + end].to_vec();
                    s.write_all(&[b"PONG :".as_slice(), &cookie, b"\n"].concat())
                        .await?;
                    seen.drain(..at + end + 1);
                    continue;
                }
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::io::AsyncReadExt::read(&mut s, &mut chunk);
            let n = tokio::time::timeout(Duration::from_secs(30), read)
                .await
                .with_context(|| {
                    format!("the IRC server did not answer with{numeric}within 30 s")
                })??;
            anyhow::ensure!(
                n > 0,
                "the IRC server closed the connection during registration: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&chunk[..n]);
        }
        if let Some(join) = then {
            s.write_all(join.as_bytes()).await?;
        }
    }
    let (r, w) = tokio::io::split(Box::new(s) as Box<dyn Stream>);
    let mut reader = FramedRead::new(
        Counted(r, Some(quickack)),
        Lines::Frames(FrameCodec::new(1 << 16)),
    );
    reader.read_buffer_mut().extend_from_slice(&seen);
    Ok(Conn {
        reader,
        writer: w,
        key: None,
    })
}

/// How received bytes become lines: tcpplay's frames, or ncat's chunks
/// demultiplexed into each sender's lines.
pub enum Lines {
    Frames(FrameCodec),
    Ncat(NcatDemux),
}

impl Decoder for Lines {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> std::io::Result<Option<BytesMut>> {
        match self {
            Lines::Frames(f) => f.decode(buf).map_err(std::io::Error::other),
            Lines::Ncat(d) => d.decode(buf),
        }
    }
}

/// Bytes every client received so far (for bytes per server write).
pub static RECEIVED_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A read half that counts what it reads into [`RECEIVED_BYTES`], and (for
/// ncat) acknowledges what it read at once.
///
/// ncat does not set `TCP_NODELAY`: while a receiver delays its ACK (up to
/// 40 ms on Linux, when it has nothing to send back — a sender waiting for
/// its window), Nagle's rule holds ncat's next small write to it. Under the
/// windowed blast every receiver does that, and ncat ran at 66 k deliveries/s
/// with a 42 ms median latency at 10 clients; acking at once, 1.6 M/s and
/// 1.1 ms. The benchmark measures the server, not that interplay, so the
/// ncat client re-arms `TCP_QUICKACK` after each read (the kernel leaves
/// quick-ack mode by itself). tcpplay sets `TCP_NODELAY`: nothing waits on
/// its peers' ACKs, and its clients need no such help.
pub struct Counted(ReadHalf<Box<dyn Stream>>, Option<socket2::Socket>);

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        RECEIVED_BYTES.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        if let (Some(s), true) = (&self.1, n > 0) {
            let _ = s.set_tcp_quickack(true);
        }
        r
    }
}

pub type Reader = FramedRead<Counted, Lines>;

pub struct Conn {
    pub reader: Reader,
    pub writer: WriteHalf<Box<dyn Stream>>,
    pub key: Option<Arc<RoomKey>>,
}

pub struct Target {
    pub host: String,
    /// Every server's port (cluster nodes): client i uses the i-th in turn.
    pub ports: Vec<u16>,
    pub mode: Mode,
    pub cert: Option<std::path::PathBuf>,
    pub password: Option<String>,
    /// Speak the original's protocol: `auth` without `proto`.
    pub legacy: bool,
}

pub async fn connect(t: &Target, name: &str, room: Option<String>, i: usize) -> Result<Conn> {
    let port = t.ports[i % t.ports.len()];
    if t.mode == Mode::Irc {
        return irc(&t.host, port, name, room.as_deref()).await;
    }
    if t.mode == Mode::Lines {
        let mut s = tokio::net::TcpStream::connect((t.host.as_str(), port)).await?;
        s.set_nodelay(true)?;
        let quickack = socket2::SockRef::from(&s).try_clone()?;
        quickack.set_tcp_quickack(true)?;
        // Connected is not yet in the room: ncat accepts when it gets to it,
        // and what others send before then never reaches this client. It
        // tells a client it accepted who else is here: wait for that.
        let mut seen = Vec::new();
        let accepted = |b: &[u8]| {
            memchr::memmem::find(b, b"<announce> already connected: ")
                .is_some_and(|at| memchr::memchr(b'\n', &b[at..]).is_some())
        };
        while !accepted(&seen) {
            let mut chunk = [0u8; 4096];
            let read = tokio::io::AsyncReadExt::read(&mut s, &mut chunk);
            let n = tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .context("ncat did not accept the connection within 10 s")??;
            anyhow::ensure!(n > 0, "ncat closed the connection before accepting it");
            seen.extend_from_slice(&chunk[..n]);
        }
        let (r, w) = tokio::io::split(Box::new(s) as Box<dyn Stream>);
        let mut reader = FramedRead::new(
            Counted(r, Some(quickack)),
            Lines::Ncat(NcatDemux::new(1 << 20)),
        );
        reader.read_buffer_mut().extend_from_slice(&seen);
        return Ok(Conn {
            reader,
            writer: w,
            key: None,
        });
    }
    let opts = ConnectOptions {
        target: tcpplay::hostport::HostPort::new(&t.host, port),
        timeout: Some(Duration::from_secs(60)),
        tls: if matches!(t.mode, Mode::Plain | Mode::Ws) {
            TlsMode::Off
        } else {
            TlsMode::On
        },
        trust: match &t.cert {
            Some(c) => Trust::File(c.clone()),
            None => Trust::Insecure,
        },
        client_auth: None,
        show_wire: false,
        progress: None,
    };
    let mut conn = if t.mode == Mode::Ws {
        let stream = crate::ws::open(&t.host, port).await?;
        let addr = std::net::SocketAddr::new(t.host.parse()?, port);
        client::over(stream, addr, opts.timeout)
            .await
            .context("hello")?
    } else {
        client::connect(&opts).await.context("connect")?
    };
    conn.want_rooms = room.into_iter().collect();
    if t.legacy {
        // The client library sends `proto` only to a server whose hello has
        // one: forget it, and this client is one of the original's.
        conn.hello.proto = None;
    }
    let pw = t.password.clone();
    let joined = client::authenticate(
        &mut conn,
        name,
        opts.timeout,
        move || Ok(zeroize::Zeroizing::new(pw.unwrap_or_default())),
        None,
    )
    .await
    .context("auth")?;
    let _ = joined;
    let key = conn.key.clone();
    let (reader, writer) = conn.conn.into_parts();
    // Keep what was already read past the handshake.
    let parts = reader.into_parts();
    let mut reader = FramedRead::new(Counted(parts.io, None), Lines::Frames(parts.codec));
    reader.read_buffer_mut().extend_from_slice(&parts.read_buf);
    Ok(Conn {
        reader,
        writer,
        key,
    })
}

/// Who sent a message, which one, and when (µs since the run's epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id {
    pub sender: u32,
    pub seq: u32,
    pub ts_us: u64,
}

/// The text of a message: identity then padding up to `bytes`.
pub fn text(id: Id, bytes: usize) -> String {
    let mut s = format!("{:05}|{:09}|{:013}|", id.sender, id.seq, id.ts_us);
    while s.len() < bytes {
        s.push('x');
    }
    s
}

/// One message for `room` (`None`: the default room), framed for the wire.
pub fn frame(
    mode: Mode,
    key: Option<&RoomKey>,
    id: Id,
    bytes: usize,
    room: Option<&str>,
    out: &mut BytesMut,
) {
    let t = text(id, bytes);
    match (mode, key) {
        (Mode::Lines, _) => {
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\n");
        }
        (Mode::Irc, _) => {
            out.extend_from_slice(b"PRIVMSG ");
            out.extend_from_slice(channel(room).as_bytes());
            out.extend_from_slice(b" :");
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        (Mode::Secure, Some(k)) => {
            let mut nonce = [0u8; 24];
            nonce[..4].copy_from_slice(&id.sender.to_be_bytes());
            nonce[4..8].copy_from_slice(&id.seq.to_be_bytes());
            nonce[8..16].copy_from_slice(&id.ts_us.to_be_bytes());
            nonce[16..].copy_from_slice(&crypto::random_bytes::<8>());
            let from = format!("lg{}", id.sender);
            let what = crypto::Sealed {
                from: &from,
                kind: crypto::Kind::Chat,
                sent: id.ts_us,
                room: room.unwrap_or(""),
            };
            let payload = k.seal_with_nonce(&t, &what, nonce);
            out.extend_from_slice(b"{\"type\":\"chat\",\"encrypted\":true,\"payload\":\"");
            out.extend_from_slice(payload.as_bytes());
            out.extend_from_slice(format!("\",\"sent\":{}", id.ts_us).as_bytes());
            room_field(room, out);
        }
        _ => {
            out.extend_from_slice(b"{\"type\":\"chat\",\"encrypted\":false,\"text\":\"");
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\"");
            room_field(room, out);
        }
    }
}

/// `,"room":"#r"` when not the default room, and the end of the packet.
fn room_field(room: Option<&str>, out: &mut BytesMut) {
    if let Some(r) = room {
        out.extend_from_slice(b",\"room\":\"");
        out.extend_from_slice(r.as_bytes());
        out.extend_from_slice(b"\"");
    }
    out.extend_from_slice(b"}\n");
}

fn field<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let start = memchr::memmem::find(line, name)? + name.len();
    let len = memchr::memchr(b'"', &line[start..])?;
    Some(&line[start..start + len])
}

fn parse_text(t: &[u8], bytes: usize) -> Option<(Id, bool)> {
    let s = std::str::from_utf8(t).ok()?;
    let mut it = s.splitn(4, '|');
    let sender = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    let ts_us = it.next()?.parse().ok()?;
    let pad = it.next()?;
    let intact = t.len() == bytes.max(30) && pad.bytes().all(|b| b == b'x');
    Some((Id { sender, seq, ts_us }, intact))
}

/// The text of an `error` packet from a tcpplay server (a room refused,
/// a limit fired), shown so a run that loses a room says why.
pub fn refusal(mode: Mode, line: &[u8]) -> Option<String> {
    if matches!(mode, Mode::Lines | Mode::Irc) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    if v["type"] != "error" {
        return None;
    }
    Some(format!(
        "{} ({})",
        v["message"].as_str()?,
        v["code"].as_str()?
    ))
}

/// What a received line is: `None` for lines that are not load messages.
/// `Some((id, intact))`: `intact` is false for a cut or altered message.
pub fn identify(
    mode: Mode,
    line: &[u8],
    bytes: usize,
    key: Option<&RoomKey>,
    open: bool,
) -> Option<(Id, bool)> {
    match mode {
        // Already demultiplexed (ncat's prefixes removed, chunks reassembled).
        Mode::Lines => parse_text(line, bytes),
        // ":nick!user@host PRIVMSG #chan :TEXT\r" (the `:` may be left
        // out of a one-word text, as tcpplay's listener does)
        Mode::Irc => {
            let at = memchr::memmem::find(line, b" PRIVMSG ")? + b" PRIVMSG ".len();
            let target_end = at + memchr::memchr(b' ', &line[at..])? + 1;
            let t = &line[target_end..];
            let t = t.strip_prefix(b":").unwrap_or(t);
            parse_text(t.strip_suffix(b"\r").unwrap_or(t), bytes)
        }
        Mode::Secure => {
            let payload = field(line, b"\"payload\":\"")?;
            let head = crypto::unb64(std::str::from_utf8(payload.get(..32)?).ok()?)?;
            let id = Id {
                sender: u32::from_be_bytes(head[..4].try_into().ok()?),
                seq: u32::from_be_bytes(head[4..8].try_into().ok()?),
                ts_us: u64::from_be_bytes(head[8..16].try_into().ok()?),
            };
            if !open {
                return Some((id, true));
            }
            // Sealed by "lgN" at its send time (the loadgen's names and clock).
            let from = format!("lg{}", id.sender);
            let room = field(line, b"\"room\":\"").and_then(|r| std::str::from_utf8(r).ok());
            let what = crypto::Sealed {
                from: &from,
                kind: crypto::Kind::Chat,
                sent: id.ts_us,
                room: room.unwrap_or(""),
            };
            let opened = key.and_then(|k| k.open(std::str::from_utf8(payload).ok()?, &what).ok());
            let intact = opened.is_some_and(|(t, _)| {
                parse_text(t.as_bytes(), bytes).is_some_and(|(i, ok)| ok && i == id)
            });
            Some((id, intact))
        }
        _ => {
            memchr::memmem::find(line, b"\"type\":\"chat\"")?;
            parse_text(field(line, b"\"text\":\"")?, bytes)
        }
    }
}

/// Write everything buffered.
pub async fn flush(w: &mut WriteHalf<Box<dyn Stream>>, buf: &mut BytesMut) -> Result<()> {
    if !buf.is_empty() {
        w.write_all(buf).await?;
        w.flush().await?;
        buf.clear();
    }
    Ok(())
}

/// The next line, or `None` at end of stream.
pub async fn next_line(r: &mut Reader) -> Option<BytesMut> {
    match r.next().await {
        Some(Ok(l)) => Some(l),
        _ => None,
    }
}
