//! One client's session after the transport said `hello`: auth, joining the
//! room, then the chat loop that reads the client's packets ([`inbound`])
//! and writes what the room publishes ([`outbound`]), until either side
//! leaves. One task per connection; the [`Connection`] holds both halves.
//!
//! Memory note: every connected client keeps this task's future for its
//! whole life, and an async fn's state keeps room for every local of every
//! await in it. So what is rare — refusals, goodbyes, commands, history —
//! runs in futures boxed with [`rare`], allocated only when it happens; the
//! size guard test in `transport.rs` keeps this honest.

mod account;
mod auth;
mod commands;
mod direct;
mod farewell;
mod identify;
mod inbound;
mod outbound;
mod peer;

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{timeout_at, Instant};

pub(super) use outbound::LINGER;
pub(super) use peer::Bound;

use super::admission::Admission;
use super::limits::{Bucket, Limit};
use super::room::{Departure, Membership, Room};
use super::Ctx;
use crate::names::sanitize;
use crate::protocol::{codes, Connection, Packet};

/// Initial read buffer per connection: small, so idle clients cost little.
const READ_BUF: usize = 256;

/// Box a future that runs rarely, so its state is not part of every idle
/// session's (see the module's memory note).
fn rare<'a, T>(f: impl std::future::Future<Output = T> + Send + 'a) -> BoxFuture<'a, T> {
    Box::pin(f)
}

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

pub(super) fn timeout_packet() -> Packet {
    Packet::error(
        codes::TIMEOUT,
        "no auth packet within the handshake deadline",
    )
}

pub(super) struct Session<S> {
    conn: Connection<S>,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    /// Secure rooms: this connection's TLS channel binding (boxed: plain
    /// sessions, most of them, keep 8 bytes for it, not 40 — the session
    /// future then fits the allocator's 1 KiB size class).
    bound: Option<Box<Bound>>,
    /// Chat lines allowed per second (limits.messages_per_second).
    bucket: Bucket,
    /// A legacy (Python) client: it knows no `bye`, so goodbyes are `system`.
    legacy: bool,
    /// Speaks rooms (protocol 3): it is told what it joined and left.
    rooms_aware: bool,
    /// Chat lines published without waking the room's readers yet.
    unwoken: u32,
    /// The room they were published in.
    unwoken_room: Option<Arc<Room>>,
    /// Bytes read and written already counted in the metrics.
    counted: (u64, u64),
}

impl<S> Session<S> {
    /// Add what was read and written since the last call to the metrics.
    fn count_bytes(&mut self) {
        let now = (self.conn.bytes_read(), self.conn.bytes_written());
        let m = &self.ctx.metrics;
        if now.0 > self.counted.0 {
            m.bytes_in.inc_by(now.0 - self.counted.0);
        }
        if now.1 > self.counted.1 {
            m.bytes_out.inc_by(now.1 - self.counted.1);
        }
        self.counted = now;
    }
}

/// Whatever way a session ends, its last bytes are counted.
impl<S> Drop for Session<S> {
    fn drop(&mut self) {
        self.count_bytes();
    }
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    pub(super) fn new(stream: S, peer: SocketAddr, ctx: Arc<Ctx>, bound: Option<Bound>) -> Self {
        let conn = Connection::new(stream, ctx.limits().max_frame_bytes, READ_BUF);
        Session {
            conn,
            peer,
            bucket: Bucket::new(&ctx.limits()),
            legacy: false,
            rooms_aware: false,
            unwoken: 0,
            unwoken_room: None,
            counted: (0, 0),
            ctx,
            bound: bound.map(Box::new),
        }
    }

    /// Authenticate, join, chat, leave. (`hello` was said by the transport.)
    ///
    /// Not an `async fn`: its arguments would be kept twice in the future
    /// (as arguments, and as the locals they are moved into), and every
    /// member's task holds this future for its whole life.
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub(super) fn run(
        mut self,
        deadline: Instant,
        mut admission: Admission,
    ) -> impl std::future::Future<Output = ()> + Send {
        async move {
            'life: {
                if admission.room_for_member().is_err() {
                    {
                        self.full().await;
                        break 'life;
                    }
                }
                let mut joining = match timeout_at(deadline, rare(self.authenticate())).await {
                    Ok(Ok(joining)) => joining,
                    Ok(Err(end)) => {
                        tracing::debug!(peer = %self.peer, "closed before joining: {end}");
                        break 'life;
                    }
                    Err(_) => {
                        self.handshake_timeout().await;
                        break 'life;
                    }
                };
                // A member now: from a handshake permit to a member's place.
                if admission.join().is_err() {
                    self.full().await;
                    break 'life;
                }
                self.legacy = joining.legacy;
                self.rooms_aware = joining.rooms_aware;
                // Cluster mode: the name is unique across the nodes; when that
                // cannot be made sure now, the client is told to come back.
                if self.ctx.cluster.is_some() {
                    match self
                        .claim_in_cluster(std::mem::take(&mut joining.name))
                        .await
                    {
                        Some(name) => joining.name = name,
                        None => break 'life,
                    }
                }
                let (mut joined, rooms) = self.connect(joining);
                self.ctx.metrics.joins.inc();
                self.ctx.metrics.members.inc();
                tracing::debug!(peer = %self.peer, name = %sanitize(&joined.name), "joined");
                let id = joined.id;
                let end = self.chat(&mut joined, rooms).await;
                if matches!(end, End::Left(_) | End::Closed) {
                    self.own_lines_back(&mut joined).await;
                }
                let how = match &end {
                    End::Left(Some(why)) => Departure::Said(why.clone()),
                    _ => Departure::Gone,
                };
                self.ctx.metrics.leaves.inc();
                self.ctx.metrics.members.dec();
                joined.rooms.clear();
                if let Some(c) = &self.ctx.cluster {
                    c.release(&joined.name);
                }
                if let Some(member) = self.ctx.hub.disconnect(id, how) {
                    tracing::debug!(peer = %self.peer, name = %sanitize(&member.name), "left: {end}");
                }
                admission.leave();
            }
            // However it ended, the stream ends properly: a WebSocket with
            // its close frame, TLS with close_notify.
            rare(self.end_stream()).await;
        }
    }

    /// Say that nothing more follows, within a second.
    async fn end_stream(&mut self) {
        let linger = std::time::Duration::from_secs(1);
        let _ = tokio::time::timeout(linger, self.conn.shutdown()).await;
    }

    /// Into the hub under the name given, as who it proved to be; the rooms
    /// it asked for. (Consumes `joining`, so that nothing of it is kept in
    /// the session's future while it chats.)
    fn connect(&mut self, joining: auth::Joining) -> (Membership, Vec<String>) {
        let auth::Joining {
            name,
            legacy,
            rooms,
            ..
        } = joining;
        let identity = self.bound.as_mut().and_then(|b| b.identity.take());
        let joined = self.ctx.hub.connect_as(&name, self.peer, legacy, identity);
        (joined, rooms)
    }

    /// The chat loop: client packets in, room frames and direct messages out,
    /// a kick or shutdown, and the idle timer.
    async fn chat(&mut self, joined: &mut Membership, rooms: Vec<String>) -> End {
        if let Err(end) = self.welcome(joined, rooms).await {
            return end;
        }
        let idle = self.ctx.idle_timeout;
        // Allocated only when an idle timeout is configured.
        let mut idle_timer = idle.map(|d| Box::pin(tokio::time::sleep(d)));
        let mut pinged = false;
        loop {
            self.count_bytes();
            tokio::select! {
                biased;
                // Direct messages, or being removed (a kick, the shutdown).
                _ = joined.link.ready() => {
                    if joined.link.removed() {
                        return self.removed(joined).await;
                    }
                    if let Err(end) = self.leave_taken_rooms(joined).await {
                        return end;
                    }
                    if let Err(end) = self.deliver_inbox(joined).await {
                        return end;
                    }
                }
                _ = ready_rooms(&mut joined.rooms) => {
                    if let Err(end) = rare(self.deliver(joined)).await {
                        return end;
                    }
                }
                packet = self.next_packet() => match packet {
                    Ok(Some(p)) => {
                        pinged = false;
                        if let (Some(t), Some(d)) = (idle_timer.as_mut(), idle) {
                            t.as_mut().reset(Instant::now() + d);
                        }
                        let handled = match self.dispatch(p, joined) {
                            Some(f) => f.await,
                            None => Ok(()),
                        };
                        if self.unwoken > 0 && (handled.is_err() || !self.conn.has_line()) {
                            self.wake_room();
                        }
                        if let Err(end) = handled {
                            return end;
                        }
                    }
                    Ok(None) => {}
                    Err(end) => return end,
                },
                _ = wait_idle(&mut idle_timer) => {
                    // Silent for a whole period: ask once (a live tcpplay client
                    // answers `pong` by itself); silent for another: drop it.
                    if pinged {
                        return self.idle_out(idle.unwrap_or_default()).await;
                    }
                    pinged = true;
                    if let (Some(t), Some(d)) = (idle_timer.as_mut(), idle) {
                        t.as_mut().reset(Instant::now() + d);
                    }
                    let ping = Packet::Ping(crate::protocol::Ping { token: None });
                    if let Err(e) = self.send(&ping).await {
                        return End::Io(e);
                    }
                }
            }
        }
    }

    /// Cluster mode: `requested`, or the name the cluster gives (`-2`,
    /// …); `None` after telling the client that no name can be given now
    /// (boxed: rare, and kept out of the session's future).
    fn claim_in_cluster(&mut self, requested: String) -> BoxFuture<'_, Option<String>> {
        rare(async move {
            let c = self.ctx.cluster.clone()?;
            match c.claim(&requested).await {
                Ok(name) => Some(name),
                Err(e) => {
                    tracing::info!(peer = %self.peer, "cluster: no name given ({e})");
                    let why = format!("cannot give you a name now: {e}");
                    self.goodbye(codes::CLUSTER_UNAVAILABLE, why).await;
                    None
                }
            }
        })
    }

    /// Taken out of rooms by the operator: what those rooms said until
    /// then (the notice why, too) is delivered first, then they are read no
    /// more (boxed: rare, and kept out of the session's future).
    fn leave_taken_rooms<'a>(
        &'a mut self,
        joined: &'a mut Membership,
    ) -> BoxFuture<'a, Result<(), End>> {
        rare(async move {
            let left = joined.link.take_left();
            if !left.is_empty() {
                self.deliver(joined).await?;
            }
            for gone in left {
                joined.rooms.retain(|r| !Arc::ptr_eq(&r.room, &gone));
            }
            Ok(())
        })
    }

    /// Wake the readers of the room this session published to without
    /// waking them.
    fn wake_room(&mut self) {
        if let Some(room) = self.unwoken_room.take() {
            room.wake_readers();
        }
        self.unwoken = 0;
    }

    /// Count a limit that fired (for the shutdown summary and metrics).
    fn count(&self, limit: Limit) {
        self.ctx.metrics.bump(limit);
    }
}

/// Ready when any of the member's rooms has published past its cursor
/// (never, in no room: joining one happens in this task).
fn ready_rooms(rooms: &mut [super::room::InRoom]) -> impl std::future::Future<Output = ()> + '_ {
    std::future::poll_fn(move |cx| {
        for r in rooms.iter_mut() {
            if r.room
                .feed_of(r.legacy, false)
                .poll_ready(&mut r.cursor, cx)
                .is_ready()
            {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
}

async fn wait_idle(timer: &mut Option<std::pin::Pin<Box<tokio::time::Sleep>>>) {
    match timer {
        Some(t) => t.as_mut().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::protocol::connection::Read;

    /// The idle rule in paused time: silent for a period, a `ping`; silent
    /// for another, a `bye` with code `idle` — in-process, no sleeping.
    #[tokio::test(start_paused = true)]
    async fn a_silent_member_is_pinged_then_dropped_after_two_idle_periods() {
        let ctx = Arc::new(Ctx::for_tests_with(Some(Duration::from_secs(10))));
        let (server_end, client_end) = tokio::io::duplex(1 << 16);
        let peer = "127.0.0.1:4000".parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let admission = ctx
            .admit(crate::server::admission::Door::Chat, peer)
            .unwrap();
        let session =
            tokio::spawn(Session::new(server_end, peer, ctx, None).run(deadline, admission));
        let mut client = Connection::new(client_end, 1 << 16, 256);
        let auth = r#"{"type":"auth","name":"sleepy","proto":1}"#;
        client
            .write_bytes(format!("{auth}\n").as_bytes())
            .await
            .unwrap();
        let started = Instant::now();
        let mut seen = Vec::new();
        loop {
            match client.read_packet().await.unwrap() {
                Read::Packet(Packet::Ping(_)) => seen.push(("ping", started.elapsed())),
                Read::Packet(Packet::Bye(b)) => {
                    assert_eq!(b.code.as_deref(), Some(codes::IDLE));
                    seen.push(("bye", started.elapsed()));
                }
                Read::End => break,
                _ => {}
            }
        }
        let secs: Vec<(&str, u64)> = seen.iter().map(|(w, d)| (*w, d.as_secs())).collect();
        assert_eq!(secs, vec![("ping", 10), ("bye", 20)]);
        session.await.unwrap();
    }
}
