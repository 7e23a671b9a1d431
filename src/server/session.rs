//! One client connection: transport set-up (TLS or not), `hello`, auth, then
//! the session loop that reads the client's lines and writes what the room
//! publishes. One task per connection, one reader and one writer half.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::codec::FramedRead;

use super::limits::{Bucket, Counters, Verdict};
use super::room::{Departure, DirectError, Frame, Joined, RenameError, Sender};
use super::Ctx;
use crate::crypto;
use crate::names::{sanitize, validate_name};
use crate::protocol::{
    self, codes, AuthResult, Chat, FrameError, Hello, HistoryEnd, Packet, ParseError, Users,
    MAX_HISTORY_FETCH,
};

/// Largest batch of queued frames written with one syscall.
const WRITE_BATCH: usize = 64 * 1024;
/// First allocation of a batch buffer (it doubles as frames are added).
const BATCH_START: usize = 4 * 1024;
/// Initial read buffer per connection: small, so idle clients cost little.
const READ_BUF: usize = 256;
/// How often a blocked write re-checks how far behind the room it is.
const LAG_POLL: Duration = Duration::from_millis(200);
/// Longest reason a leaving client may give (`/quit REASON`).
const MAX_REASON_CHARS: usize = 200;
/// How long a goodbye may take to write.
const CLOSE_WRITE: Duration = Duration::from_millis(500);
/// How long a closing session reads (and discards) what the peer still sends.
const LINGER: Duration = Duration::from_millis(1000);

/// Why a session ended (for the log line).
#[derive(Debug)]
pub(super) enum End {
    Closed,
    /// The client said goodbye, perhaps with a reason.
    Left(Option<String>),
    /// The operator removed the client (the room knows why).
    Kicked,
    Protocol(&'static str),
    Io(std::io::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Closed => f.write_str("connection closed"),
            End::Left(_) => f.write_str("said goodbye"),
            End::Kicked => f.write_str("kicked by the operator"),
            End::Protocol(why) => f.write_str(why),
            End::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

async fn wait_idle(timer: &mut Option<std::pin::Pin<Box<tokio::time::Sleep>>>) {
    match timer {
        Some(t) => t.as_mut().await,
        None => std::future::pending().await,
    }
}

pub(super) fn timeout_packet() -> Packet {
    Packet::error(
        codes::TIMEOUT,
        "no auth packet within the handshake deadline",
    )
}

/// Secure mode: this connection's challenge and its TLS channel binding.
pub(super) struct Bound {
    pub challenge: [u8; 32],
    pub binding: [u8; 32],
}

impl Bound {
    pub(super) fn new<IO>(tls: &tokio_rustls::server::TlsStream<IO>) -> Bound {
        let mut binding = [0u8; 32];
        // Only fails before the handshake completes; it has completed here.
        let _ = tls
            .get_ref()
            .1
            .export_keying_material(&mut binding, crypto::EXPORTER_LABEL, None);
        Bound {
            challenge: crypto::random_bytes::<32>(),
            binding,
        }
    }
}

pub(super) struct Session<S> {
    /// Frames from the client, bounded by `limits.max_frame_bytes`.
    pub(super) reader: FramedRead<ReadHalf<S>, protocol::FrameCodec>,
    writer: WriteHalf<S>,
    pub(super) peer: SocketAddr,
    pub(super) ctx: Arc<Ctx>,
    pub(super) bound: Option<Bound>,
    /// Chat lines allowed per second (limits.messages_per_second).
    bucket: Bucket,
    /// The last write found the client's socket buffer full.
    stalled: bool,
    /// A legacy (Python) client: it knows no `bye`, so goodbyes are `system`.
    legacy: bool,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    pub(super) fn new(stream: S, peer: SocketAddr, ctx: Arc<Ctx>, bound: Option<Bound>) -> Self {
        let (r, w) = tokio::io::split(stream);
        let codec = protocol::FrameCodec::new(ctx.limits().max_frame_bytes);
        Session {
            reader: FramedRead::with_capacity(r, codec, READ_BUF),
            writer: w,
            peer,
            bucket: Bucket::new(&ctx.limits()),
            stalled: false,
            legacy: false,
            ctx,
            bound,
        }
    }

    pub(super) fn send(&mut self, packet: &Packet) -> BoxFuture<'_, std::io::Result<()>> {
        let line = packet.to_line();
        Box::pin(async move { self.write(&line).await })
    }

    /// Write and flush. A write that cannot finish at once means the client's
    /// socket buffer is full: remembered in `stalled` for the lag check.
    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_behind(bytes, None).await
    }

    /// As [`write`](Self::write); `upto` is the room offset this batch ends at:
    /// while the write is blocked, the session gives up as soon as the room is
    /// more than `limits.send_queue_bytes` past it (not only after the timeout).
    async fn write_behind(&mut self, bytes: &[u8], upto: Option<u64>) -> std::io::Result<()> {
        let w = &mut self.writer;
        let mut fut = std::pin::pin!(async {
            w.write_all(bytes).await?;
            w.flush().await
        });
        if let Some(r) = fut.as_mut().now_or_never() {
            self.stalled = false;
            return r;
        }
        self.stalled = true;
        let too_slow = || std::io::Error::new(std::io::ErrorKind::TimedOut, "client too slow");
        let deadline = Instant::now() + self.ctx.write_timeout();
        let (room, limit) = (&self.ctx.room, self.ctx.limits().send_queue_bytes as u64);
        loop {
            tokio::select! {
                r = fut.as_mut() => return r,
                _ = tokio::time::sleep(LAG_POLL) => {
                    let behind = upto.is_some_and(|u| room.published().saturating_sub(u) > limit);
                    if behind || Instant::now() >= deadline {
                        return Err(too_slow());
                    }
                }
            }
        }
    }

    /// Say why, then close (best effort: the peer may not be reading).
    ///
    /// After our last line and the FIN, what the peer still sends is read and
    /// thrown away for a moment (a "lingering close"): closing a socket with
    /// unread input makes the kernel send a reset, and a reset makes the
    /// peer's kernel discard what we wrote, the goodbye included. A flooding
    /// client is exactly one with unread input.
    pub(super) fn close_with(&mut self, packet: Packet) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let line = packet.to_line();
            let said = timeout(CLOSE_WRITE, async {
                self.writer.write_all(&line).await?;
                self.writer.shutdown().await
            })
            .await;
            if matches!(said, Ok(Ok(()))) {
                let raw = self.reader.get_mut();
                let mut scratch = vec![0u8; 4096];
                let _ = timeout(LINGER, async {
                    while matches!(raw.read(&mut scratch).await, Ok(n) if n > 0) {}
                })
                .await;
            }
        })
    }

    /// The server ends this session on purpose: `bye` with its code, and
    /// before it, for a legacy client (which shows no `bye`), a `system`
    /// line it shows.
    pub(super) fn goodbye(&mut self, code: &str, reason: String) -> BoxFuture<'_, ()> {
        let notice = self
            .legacy
            .then(|| Packet::system(format!("Disconnected by the server: {reason}")));
        let bye = Packet::bye_because(code, reason);
        Box::pin(async move {
            if let Some(n) = notice {
                let _ = timeout(CLOSE_WRITE, self.writer.write_all(&n.to_line())).await;
            }
            self.close_with(bye).await
        })
    }

    /// Authenticate, join, chat, leave. (`hello` was said by the transport.)
    pub(super) async fn run(mut self, deadline: Instant, slot: Option<OwnedSemaphorePermit>) {
        if slot.is_none() {
            return self.full().await;
        }
        let (name, legacy) = match timeout_at(deadline, Box::pin(self.authenticate())).await {
            Ok(Ok(joined)) => joined,
            Ok(Err(end)) => {
                tracing::debug!(peer = %self.peer, "closed before joining: {end}");
                return;
            }
            Err(_) => {
                tracing::info!(peer = %self.peer, "no successful auth within the handshake deadline: closing");
                self.close_with(timeout_packet()).await;
                return;
            }
        };
        self.legacy = legacy;
        let joined = self.ctx.room.join(&name, self.peer, legacy);
        tracing::debug!(peer = %self.peer, name = %sanitize(&joined.name), "joined");
        let id = joined.id;
        let end = self.chat(joined).await;
        let how = match &end {
            End::Left(Some(why)) => Departure::Said(why.clone()),
            _ => Departure::Gone,
        };
        if let Some(member) = self.ctx.room.leave(id, how) {
            tracing::debug!(peer = %self.peer, name = %sanitize(&member.name), "left: {end}");
        }
        drop(slot);
    }

    /// The next packet, `None` for one that was refused but does not end the
    /// session; `Err` when the session must end (after telling the peer).
    pub(super) async fn next_packet(&mut self) -> Result<Option<Packet>, End> {
        let parsed = match self.reader.next().await {
            None => return Err(End::Closed),
            Some(Ok(line)) => protocol::parse(&line),
            Some(Err(e)) => return Err(self.frame_error(e).await),
        };
        match parsed {
            Ok(p) => Ok(Some(p)),
            Err(e) => self.refuse(e).await,
        }
    }

    /// Answer a line that is not a packet (boxed: rare, and its state would
    /// otherwise be carried by every idle session).
    fn refuse(&mut self, e: ParseError) -> BoxFuture<'_, Result<Option<Packet>, End>> {
        Box::pin(async move {
            match e {
                ParseError::BadPacket(m) => {
                    let e = Packet::error(codes::BAD_PACKET, format!("malformed packet: {m}"));
                    self.send(&e).await.map_err(End::Io)?;
                    Ok(None)
                }
                ParseError::BadFrame(m) => {
                    tracing::info!(peer = %self.peer, "not a JSON object line: closing");
                    let why = format!("every line must be one JSON object in UTF-8 ({m})");
                    self.goodbye(codes::BAD_FRAME, why).await;
                    Err(End::Protocol("bad frame"))
                }
            }
        })
    }

    fn frame_error(&mut self, e: FrameError) -> BoxFuture<'_, End> {
        Box::pin(async move {
            match e {
                FrameError::TooLong { limit } => {
                    tracing::info!(peer = %self.peer, limit, "line over limits.max_frame_bytes: closing");
                    let why = format!("a line longer than {limit} bytes (limits.max_frame_bytes)");
                    self.goodbye(codes::TOO_LONG, why).await;
                    End::Protocol("frame too long")
                }
                FrameError::Truncated => End::Protocol("disconnected mid-line"),
                FrameError::Io(e) => End::Io(e),
            }
        })
    }

    /// The session loop: client lines in, room frames out.
    /// Tell the client it is in, with the server's proof in a secure room.
    fn welcome(&mut self, name: &str) -> BoxFuture<'_, std::io::Result<()>> {
        let server_proof = match (&self.ctx.secure, &self.bound) {
            (Some(room), Some(b)) => Some(crypto::b64(&room.key.server_proof(
                &b.challenge,
                &b.binding,
                name,
            ))),
            _ => None,
        };
        let ok = Packet::AuthResult(AuthResult {
            ok: true,
            client_name: Some(name.to_string()),
            server_proof,
            ..Default::default()
        });
        self.send(&ok)
    }

    async fn chat(&mut self, mut joined: Joined) -> End {
        if let Err(e) = self.welcome(&joined.name).await {
            return End::Io(e);
        }
        if let Err(end) = self.greet(&mut joined).await {
            return end;
        }
        let idle = self.ctx.idle_timeout;
        // Allocated only when an idle timeout is configured.
        let mut idle_timer = idle.map(|d| Box::pin(tokio::time::sleep(d)));
        let mut pinged = false;
        loop {
            tokio::select! {
                biased;
                // A child of the server's shutdown token: one wait for both.
                _ = joined.kick.cancelled() => return self.removed(&joined).await,
                _ = joined.link.ready() => {
                    if let Err(end) = self.deliver_inbox(&joined).await {
                        return end;
                    }
                }
                frame = joined.rx.recv() => {
                    if let Err(end) = Box::pin(self.deliver(frame, &mut joined)).await {
                        return end;
                    }
                }
                packet = self.next_packet() => {
                    match packet {
                        Ok(Some(p)) => {
                            pinged = false;
                            if let (Some(t), Some(d)) = (idle_timer.as_mut(), idle) {
                                t.as_mut().reset(Instant::now() + d);
                            }
                            if let Err(end) = Box::pin(self.handle_packet(p, &mut joined)).await {
                                return end;
                            }
                        }
                        Ok(None) => {}
                        Err(end) => return end,
                    }
                }
                _ = wait_idle(&mut idle_timer) => {
                    // Silent for a whole period: ask once (a live tcpplay client
                    // answers `pong` by itself); silent for another: drop it.
                    if !pinged {
                        pinged = true;
                        if let (Some(t), Some(d)) = (idle_timer.as_mut(), idle) {
                            t.as_mut().reset(Instant::now() + d);
                        }
                        if let Err(e) = self.send(&Packet::Ping(crate::protocol::Ping { token: None })).await {
                            return End::Io(e);
                        }
                        continue;
                    }
                    return self.idle_out(idle.unwrap_or_default()).await;
                }
            }
        }
    }

    /// No free client slot: say so and close.
    fn full(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            Counters::bump(&self.ctx.counters.server_full);
            tracing::warn!(peer = %self.peer, limit = self.ctx.limits().max_clients, "server full (limits.max_clients): refusing");
            let full = Packet::error(codes::SERVER_FULL, "the server is full: try again later");
            let _ = self.send(&full).await;
            let why = "server full: try again later".to_string();
            self.goodbye(codes::SERVER_FULL, why).await;
        })
    }

    /// Shutdown or a kick: say which, and end (boxed: rare, and its state
    /// would otherwise be carried by every idle session).
    fn removed<'a>(&'a mut self, joined: &'a Joined) -> BoxFuture<'a, End> {
        Box::pin(async move {
            if self.ctx.shutdown.is_cancelled() {
                self.goodbye(codes::SHUTDOWN, "server shutting down".into())
                    .await;
                return End::Closed;
            }
            let reason = joined.link.kick_reason().unwrap_or_default();
            let why = format!("removed by the operator: {reason}");
            self.goodbye(codes::KICKED, why).await;
            End::Kicked
        })
    }

    /// Silent for two idle periods: drop the client, saying why.
    fn idle_out(&mut self, period: Duration) -> BoxFuture<'_, End> {
        Box::pin(async move {
            Counters::bump(&self.ctx.counters.idle);
            tracing::info!(peer = %self.peer, "idle timeout (serve.timeout), no answer to a ping: closing");
            let why = format!(
                "idle timeout: silent for {} s twice (the server's --timeout)",
                period.as_secs_f64()
            );
            self.goodbye(codes::IDLE, why).await;
            End::Protocol("idle")
        })
    }

    /// Write one received frame and everything else already queued, as one batch.
    async fn deliver(
        &mut self,
        first: Result<Frame, RecvError>,
        joined: &mut Joined,
    ) -> Result<(), End> {
        // One frame is written as it is (the room's shared bytes, no copy).
        // More queued: one batch, copied into a buffer that lives only for
        // this write, so that an idle member keeps no buffer at all.
        let mut next = first;
        let mut single: Option<Bytes> = None;
        let mut batch = BytesMut::new();
        let mut upto;
        loop {
            match next {
                Ok(frame) => {
                    upto = frame.end;
                    if self.stalled
                        && self.ctx.room.published() - frame.end
                            > self.ctx.limits().send_queue_bytes as u64
                    {
                        // Behind the room by more than allowed, and not taking
                        // what we write: too slow. (Merely behind because this
                        // task was not scheduled yet is not the client's fault.)
                        return Err(self.too_slow().await);
                    }
                    match single.take() {
                        None if batch.is_empty() => single = Some(frame.bytes),
                        earlier => {
                            if let Some(e) = earlier {
                                batch.reserve(BATCH_START.max(e.len() + frame.bytes.len()));
                                batch.extend_from_slice(&e);
                            }
                            batch.extend_from_slice(&frame.bytes);
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => return Err(self.too_slow().await),
                Err(RecvError::Closed) => return Err(End::Closed),
            }
            if batch.len() >= WRITE_BATCH {
                break;
            }
            next = match joined.rx.try_recv() {
                Ok(f) => Ok(f),
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
        }
        let bytes: &[u8] = match &single {
            Some(one) => one,
            None => &batch,
        };
        match self.write_behind(bytes, Some(upto)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(self.too_slow().await),
            Err(e) => Err(End::Io(e)),
        }
    }

    /// After `auth_result`: the history from before the join (marked as
    /// such), then the message of the day.
    fn greet<'a>(&'a mut self, joined: &'a mut Joined) -> BoxFuture<'a, Result<(), End>> {
        Box::pin(async move {
            let history = std::mem::take(&mut joined.history);
            if !history.is_empty() {
                self.send_history(history.into_iter(), joined.more_history)
                    .await?;
            }
            if let Some(motd) = self.ctx.motd.load_full() {
                let p = Packet::event("motd", None, motd.as_str());
                self.send(&p).await.map_err(End::Io)?;
            }
            Ok(())
        })
    }

    /// Write what waits in this member's own inbox (direct messages).
    fn deliver_inbox<'a>(&'a mut self, joined: &'a Joined) -> BoxFuture<'a, Result<(), End>> {
        Box::pin(async move {
            let lines = joined.link.take();
            if lines.is_empty() {
                return Ok(());
            }
            let mut out = Vec::with_capacity(lines.iter().map(|l| l.len()).sum());
            for l in lines {
                out.extend_from_slice(&l);
            }
            self.write(&out).await.map_err(End::Io)
        })
    }

    fn too_slow(&mut self) -> BoxFuture<'_, End> {
        Box::pin(async move {
            tracing::warn!(peer = %self.peer, limit = self.ctx.limits().send_queue_bytes, "client too slow (limits.send_queue_bytes): dropping");
            let why = "too slow: fell too far behind the room (limits.send_queue_bytes)";
            self.goodbye(codes::TOO_SLOW, why.into()).await;
            End::Protocol("too slow")
        })
    }

    async fn handle_packet(&mut self, packet: Packet, joined: &mut Joined) -> Result<(), End> {
        let limited = matches!(
            packet,
            Packet::Chat(_)
                | Packet::Dm(_)
                | Packet::Nick(_)
                | Packet::Users(_)
                | Packet::FetchHistory(_)
        );
        let seq = packet.seq();
        if limited && self.bucket.take(&self.ctx.limits()) != Verdict::Pass {
            return self.refuse_rate(seq).await;
        }
        match packet {
            Packet::Chat(chat) => {
                if let Some(e) = self.check_body(chat.encrypted, &chat.text, &chat.payload) {
                    return self.send(&e.answering(seq)).await.map_err(End::Io);
                }
                if !self.ctx.quiet {
                    tracing::debug!(name = %sanitize(&joined.name), "chat");
                }
                let sender = Sender::Member {
                    name: &joined.name,
                    port: self.peer.port(),
                };
                // In a secure room the payload is relayed exactly as it came.
                self.ctx
                    .room
                    .chat(sender, chat.text, chat.payload, chat.action);
                Ok(())
            }
            Packet::Ping(p) => self.send(&Packet::Pong(p)).await.map_err(End::Io),
            Packet::Auth(_) => {
                let e = Packet::error(codes::ALREADY_AUTHENTICATED, "already joined");
                self.send(&e).await.map_err(End::Io)
            }
            Packet::Bye(b) => {
                // The client leaves, perhaps saying why (`/quit REASON`).
                let reason: String = b
                    .reason
                    .trim()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_REASON_CHARS)
                    .collect();
                Err(End::Left((!reason.is_empty()).then_some(reason)))
            }
            Packet::Unknown => {
                tracing::debug!(peer = %self.peer, "skipped a packet of an unknown type");
                Ok(())
            }
            other => Box::pin(self.handle_command(other, joined)).await,
        }
    }

    /// The less frequent packets: direct messages, renames, the user list,
    /// history fetches (boxed: their state stays out of every idle session).
    async fn handle_command(&mut self, packet: Packet, joined: &mut Joined) -> Result<(), End> {
        let seq = packet.seq();
        let reply = match packet {
            Packet::Dm(dm) => match self.check_body(dm.encrypted, &dm.text, &dm.payload) {
                Some(e) => e,
                None => {
                    let to = dm.to.clone();
                    match self.ctx.room.direct(&joined.name, dm) {
                        // The sender's copy: the same line the recipient got.
                        Ok(line) => return self.write(&line).await.map_err(End::Io),
                        Err(DirectError::NoSuchUser) => Packet::error(
                            codes::NO_SUCH_USER,
                            format!(
                                "nobody called '{}' is here (/users lists who is); not sent",
                                sanitize(to.trim())
                            ),
                        ),
                        Err(DirectError::InboxFull(n)) => Packet::error(
                            codes::INBOX_FULL,
                            format!(
                                "{} has too many unread direct messages; not sent",
                                sanitize(&n)
                            ),
                        ),
                    }
                }
            },
            Packet::Nick(n) => match validate_name(&n.name) {
                Err(e) => Packet::error(
                    codes::NAME_INVALID,
                    format!("'{}' cannot be a name: {e}", sanitize(&n.name)),
                ),
                Ok(new) => match self.ctx.room.rename(joined.id, &new) {
                    Ok(old) => {
                        tracing::info!(peer = %self.peer, old = %sanitize(&old), new = %sanitize(&new), "renamed");
                        joined.name = new;
                        return Ok(());
                    }
                    Err(RenameError::Taken(other)) => Packet::error(
                        codes::NAME_TAKEN,
                        format!("the name '{}' is taken; pick another", sanitize(&other)),
                    ),
                    Err(RenameError::Gone) => return Err(End::Closed),
                },
            },
            Packet::Users(_) => {
                let (users, total) = self.ctx.room.users();
                Packet::Users(Users {
                    users,
                    total: Some(total),
                })
            }
            Packet::FetchHistory(f) => {
                let Some(store) = self.ctx.room.history() else {
                    let e =
                        Packet::error(codes::HISTORY_UNAVAILABLE, "this server keeps no history");
                    return self.send(&e).await.map_err(End::Io);
                };
                let limit = f.limit.unwrap_or(20).clamp(1, MAX_HISTORY_FETCH) as usize;
                match store.fetch(f.before, limit).await {
                    Ok((rows, more)) => {
                        return self
                            .send_history(rows.into_iter().map(Arc::new), more)
                            .await
                    }
                    Err(why) => Packet::error(codes::HISTORY_UNAVAILABLE, why),
                }
            }
            other => {
                tracing::debug!(peer = %self.peer, "ignored a packet a client does not send: {other:?}");
                return Ok(());
            }
        };
        self.send(&reply.answering(seq)).await.map_err(End::Io)
    }

    /// A run of `history` packets and its `history_end`, in one write.
    fn send_history(
        &mut self,
        rows: impl Iterator<Item = Arc<Chat>> + Send + 'static,
        more: bool,
    ) -> BoxFuture<'_, Result<(), End>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut count = 0;
            for chat in rows {
                count += 1;
                out.extend_from_slice(&Packet::History((*chat).clone()).to_line());
            }
            out.extend_from_slice(&Packet::HistoryEnd(HistoryEnd { count, more }).to_line());
            self.write(&out).await.map_err(End::Io)
        })
    }

    /// A chat or direct message body fits this room: plaintext `text` in a
    /// plaintext room, a sealed `payload` in a secure one, within the limits.
    fn check_body(
        &self,
        encrypted: bool,
        text: &Option<String>,
        payload: &Option<String>,
    ) -> Option<Packet> {
        let bad = |m: &str| Some(Packet::error(codes::BAD_PACKET, m));
        if self.ctx.secure.is_some() {
            let max = crypto::max_payload_len(self.ctx.limits().max_text_chars);
            return match (payload, text) {
                (_, Some(_)) => bad("this room is encrypted: plaintext is refused"),
                (None, None) => bad("a message in a secure room needs a payload"),
                (Some(p), None) if p.len() > max => Some(Packet::error(
                    codes::TOO_LONG,
                    format!("encrypted payload over the limit of {max} bytes (limits.max_text_chars); not sent"),
                )),
                (Some(_), None) => None,
            };
        }
        if encrypted || payload.is_some() {
            return bad("this room is not encrypted: send text");
        }
        match text {
            None => bad("a message needs a text field"),
            Some(text) => self.check_text(text),
        }
    }

    /// Over the rate: drop the line and say so; flooding on: disconnect.
    fn refuse_rate(&mut self, seq: Option<u64>) -> BoxFuture<'_, Result<(), End>> {
        Box::pin(async move {
            let l = self.ctx.limits();
            let l = &*l;
            let (rate, burst) = (l.messages_per_second, l.message_burst);
            if self.bucket.flooding(l) {
                Counters::bump(&self.ctx.counters.flooding);
                tracing::warn!(peer = %self.peer, rate, "flooding past limits.messages_per_second: disconnecting");
                let why = format!(
                    "flooding: far more than {rate} lines per second (limits.messages_per_second)"
                );
                self.goodbye(codes::FLOODING, why).await;
                return Err(End::Protocol("flooding"));
            }
            Counters::bump(&self.ctx.counters.rate_limited);
            tracing::info!(peer = %self.peer, rate, burst, "line dropped: over limits.messages_per_second");
            let msg = format!("slow down: at most {rate} lines per second (bursts of {burst}); this line was not sent");
            self.send(&Packet::error(codes::RATE_LIMITED, msg).answering(seq))
                .await
                .map_err(End::Io)
        })
    }

    fn check_text(&self, text: &str) -> Option<Packet> {
        if text.trim().is_empty() {
            return Some(Packet::error(
                codes::EMPTY_TEXT,
                "empty message (nothing but spaces)",
            ));
        }
        let max = self.ctx.limits().max_text_chars;
        let n = text.chars().count();
        (n > max).then(|| {
            Packet::error(
                codes::TOO_LONG,
                format!("message of {n} characters is over the limit of {max} (limits.max_text_chars); not sent"),
            )
        })
    }
}

impl super::Ctx {
    pub(super) fn hello(&self, challenge: Option<&[u8; 32]>) -> Packet {
        let auth = match (&self.secure, challenge) {
            (Some(room), Some(c)) => Some(room.offer(c)),
            _ => None,
        };
        let l = self.limits();
        Packet::Hello(Hello {
            secure: self.secure.is_some(),
            proto: Some(protocol::PROTO_VERSION),
            server: Some(protocol::SERVER_SOFTWARE.into()),
            auth,
            limits: Some(protocol::HelloLimits {
                messages_per_second: l.messages_per_second,
                message_burst: l.message_burst,
                max_text_chars: l.max_text_chars,
                max_frame_bytes: l.max_frame_bytes,
            }),
        })
    }
}
