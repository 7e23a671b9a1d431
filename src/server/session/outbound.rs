//! What the session writes: the welcome (auth result, history, message of
//! the day), frames from the room (batched, with the slow-reader rule),
//! direct messages from the member's inbox, history pages, and every goodbye.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{rare, End, Session};
use crate::protocol::connection::WriteError;
use crate::protocol::{codes, AuthResult, Chat, HistoryEnd, Packet};
use crate::server::archive::Unavailable;
use crate::server::limits::Limit;
use crate::server::room::{InRoom, Maker, Membership, Removal, Room, RoomError, Taken};

/// A room just joined, to be told to the client.
pub(super) struct Greeting {
    room: Arc<Room>,
    /// Its newest messages from before the join (or read from the store
    /// below `fetch_before`).
    history: Vec<Arc<Chat>>,
    more: bool,
    fetch_before: Option<u64>,
    /// Cluster mode: the history is the room's stream.
    cluster: bool,
}

/// Bytes of the feed taken for one write at most (then the session looks
/// at its other work before taking more).
const WRITE_BATCH: usize = 256 * 1024;
/// How long a closing session reads (and discards) what the peer still sends.
/// How long a closing session reads what the peer still sends, so its
/// goodbye is not lost to a reset.
pub(in crate::server) const LINGER: Duration = Duration::from_millis(1000);

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    /// One packet to this client.
    pub(super) fn send(&mut self, packet: &Packet) -> BoxFuture<'_, std::io::Result<()>> {
        let line = packet.to_line();
        rare(async move { self.conn.write_bytes(&line).await })
    }

    /// Put the member in the rooms it asked for (the default room when
    /// none), then tell the client it is in (with the server's proof in a
    /// secure room) — so that whatever is said after the client reads its
    /// `auth_result` reaches it — then each room's `joined`, history from
    /// before the join (marked as such) and message, or why it could not
    /// join; then the message of the day.
    pub(super) fn welcome<'a>(
        &'a mut self,
        joined: &'a mut Membership,
        mut rooms: Vec<String>,
    ) -> BoxFuture<'a, Result<(), End>> {
        rare(async move {
            if rooms.is_empty() {
                rooms.push(self.ctx.hub.default_room().name().to_string());
            }
            let mut admitted: Vec<(String, Result<Greeting, RoomError>)> = Vec::new();
            for raw in rooms {
                let r = match self.open_in_cluster(joined, &raw).await {
                    Ok(maker) => self.admit(joined, &raw, maker.as_ref()),
                    Err(e) => Err(e),
                };
                admitted.push((raw, r));
            }
            let account = self.ctx.hub.identity(joined.id).and_then(|i| i.account);
            let ok = Packet::AuthResult(AuthResult {
                ok: true,
                client_name: Some(joined.name.clone()),
                account,
                ..Default::default()
            });
            self.send(&ok).await.map_err(End::Io)?;
            for (raw, r) in admitted {
                match r {
                    Ok(g) => self.greet(g).await?,
                    Err(e) => self.refuse_room(&e, &raw, None).await?,
                }
            }
            if let Some(motd) = self.ctx.motd.load_full() {
                let p = Packet::event("motd", None, motd.as_str());
                self.send(&p).await.map_err(End::Io)?;
            }
            Ok(())
        })
    }

    /// Put the member in the room called `raw` (`joined`, its history, its
    /// message), or say why not (answering `seq`).
    pub(super) fn enter_room<'a>(
        &'a mut self,
        joined: &'a mut Membership,
        raw: &'a str,
        seq: Option<u64>,
    ) -> BoxFuture<'a, Result<(), End>> {
        rare(async move {
            let maker = match self.open_in_cluster(joined, raw).await {
                Ok(m) => m,
                Err(e) => return self.refuse_room(&e, raw, seq).await,
            };
            match self.admit(joined, raw, maker.as_ref()) {
                Ok(g) => self.greet(g).await,
                Err(e) => self.refuse_room(&e, raw, seq).await,
            }
        })
    }

    /// Cluster mode: a room new to this server is made one of the
    /// cluster's first, within the cluster's room limit; the cluster says
    /// who made it (decided once for every node).
    async fn open_in_cluster(
        &mut self,
        joined: &Membership,
        raw: &str,
    ) -> Result<Option<Maker>, RoomError> {
        let Some(c) = self.ctx.cluster.clone() else {
            return Ok(None);
        };
        let Some((name, key)) = self.ctx.hub.room_to_make(raw)? else {
            return Ok(None);
        };
        let max = self.ctx.limits().max_rooms;
        let joining = self.ctx.hub.candidate(joined.id, raw);
        let opened = c.open_room(&key, &name, max, &joining).await;
        match opened {
            Ok(Some(maker)) => Ok(Some(maker)),
            Ok(None) => {
                self.count(Limit::MaxRooms);
                Err(RoomError::new(
                    codes::TOO_MANY_ROOMS,
                    format!("the cluster has {max} rooms, its most (limits.max_rooms): join one of them (/rooms)"),
                ))
            }
            Err(e) => Err(RoomError::new(
                codes::CLUSTER_UNAVAILABLE,
                format!("cannot make {name} now: the cluster cannot be asked ({e}); try again in a few seconds"),
            )),
        }
    }

    /// Make the member one of the room called `raw`: from now on it reads
    /// what the room publishes.
    fn admit(
        &mut self,
        joined: &mut Membership,
        raw: &str,
        maker: Option<&Maker>,
    ) -> Result<Greeting, RoomError> {
        let entered = self
            .ctx
            .hub
            .enter_made(joined.id, raw, &self.ctx.limits(), maker)
            .inspect_err(|e| {
                if let Some(limit) = e.limit {
                    self.count(limit);
                }
            })?;
        joined.rooms.push(InRoom {
            room: entered.room.clone(),
            cursor: entered.cursor,
            legacy: entered.legacy,
        });
        Ok(Greeting {
            room: entered.room,
            history: entered.history,
            more: entered.more_history,
            fetch_before: entered.fetch_before,
            cluster: entered.cluster,
        })
    }

    /// Why the member could not join `raw`, answering `seq`.
    fn refuse_room<'a>(
        &'a mut self,
        e: &'a RoomError,
        raw: &'a str,
        seq: Option<u64>,
    ) -> BoxFuture<'a, Result<(), End>> {
        rare(async move {
            let shown = crate::names::room_name(raw).unwrap_or_else(|_| raw.to_string());
            let p = e.packet(Some(&shown)).answering(seq);
            self.send(&p).await.map_err(End::Io)
        })
    }

    /// A room just joined: `joined` (to a client that speaks rooms), the
    /// history from before the join, the room's message.
    fn greet(&mut self, g: Greeting) -> BoxFuture<'_, Result<(), End>> {
        rare(async move {
            let Greeting {
                room,
                mut history,
                mut more,
                fetch_before,
                cluster,
            } = g;
            if cluster && !room.cluster_started() {
                // A room new on this node: `joined` says its topic and
                // count once the node has read them (bounded; without
                // them if Redis does not answer in time).
                let _ = room.reading_from(crate::server::archive::STREAM_WAIT).await;
            }
            if self.rooms_aware {
                self.send(&Packet::Joined(room.info()))
                    .await
                    .map_err(End::Io)?;
            }
            let tag = room.tag().map(str::to_string);
            let replay = self.ctx.replay();
            // Read from the store (or the cluster's stream): a failure is
            // said, not skipped.
            let fetched = self
                .ctx
                .archive
                .before_join(&room, fetch_before, cluster, replay)
                .await;
            match fetched {
                Some(Ok((rows, m))) => {
                    history = rows.into_iter().map(Arc::new).collect();
                    more = m;
                }
                Some(Err(Unavailable::Failed(why))) => {
                    let e = Packet::error(
                        codes::HISTORY_UNAVAILABLE,
                        format!("the messages from before you joined cannot be shown: {why}"),
                    )
                    .in_room(tag.as_deref());
                    self.send(&e).await.map_err(End::Io)?;
                }
                Some(Err(Unavailable::NotKept)) | None => {}
            }
            if !history.is_empty() {
                self.send_history(history.into_iter(), more, tag.clone())
                    .await?;
            }
            if let Some(motd) = room.motd().filter(|_| !self.legacy || tag.is_none()) {
                let p = Packet::event("motd", None, motd).in_room(tag.as_deref());
                self.send(&p).await.map_err(End::Io)?;
            }
            Ok(())
        })
    }

    /// Write what the member's rooms published since its last batch: the
    /// feeds' shared chunks as they are (no copy), up to `WRITE_BATCH`
    /// bytes, then come back for more.
    pub(super) async fn deliver(&mut self, joined: &mut Membership) -> Result<(), End> {
        let limit = self.ctx.limits().send_queue_bytes as u64;
        if self.conn.stalled() && joined.behind() > limit {
            // Behind its rooms by more than allowed, and not taking what we
            // write: too slow. (Merely behind because this task was not
            // scheduled yet is not the client's fault.)
            return Err(self.too_slow().await);
        }
        let mut pieces = Vec::new();
        let mut left = WRITE_BATCH;
        for r in joined.rooms.iter_mut() {
            match r.room.feed_of(r.legacy, false).take(&mut r.cursor, left) {
                // The common case, one room: its pieces as they are.
                Taken::Bytes(p) if pieces.is_empty() => {
                    left = left.saturating_sub(p.iter().map(|b| b.len()).sum());
                    pieces = p;
                }
                Taken::Bytes(p) => {
                    left = left.saturating_sub(p.iter().map(|b| b.len()).sum());
                    pieces.extend(p);
                }
                Taken::Overrun => return Err(self.too_slow().await),
            }
            if left == 0 {
                break;
            }
        }
        if pieces.is_empty() {
            return Ok(());
        }
        let deadline = self.ctx.write_timeout();
        // While the write is blocked, give up as soon as the rooms are more
        // than `send_queue_bytes` past it (not only after the timeout).
        let member = &*joined;
        let behind = || member.behind() > limit;
        match self
            .conn
            .write_pieces_behind(&pieces, Some(deadline), behind)
            .await
        {
            Ok(()) => Ok(()),
            Err(WriteError::TooSlow) => Err(self.too_slow().await),
            Err(WriteError::Io(e)) => Err(End::Io(e)),
        }
    }

    /// Before a goodbye: write what its rooms published up to now.
    pub(super) fn catch_up<'a>(&'a mut self, joined: &'a mut Membership) -> BoxFuture<'a, ()> {
        rare(async move {
            let targets: Vec<u64> = joined
                .rooms
                .iter()
                .map(|r| {
                    r.room.wake_readers();
                    r.feed().published()
                })
                .collect();
            let done = |m: &Membership| {
                m.rooms
                    .iter()
                    .zip(&targets)
                    .all(|(r, t)| r.cursor.pos() >= *t)
            };
            while !done(joined) {
                let before: u64 = joined.rooms.iter().map(|r| r.cursor.pos()).sum();
                let after_ok = self.deliver(joined).await.is_ok();
                let after: u64 = joined.rooms.iter().map(|r| r.cursor.pos()).sum();
                if !after_ok || after == before {
                    return;
                }
            }
        })
    }

    /// Write what waits in this member's own inbox (direct messages).
    pub(super) fn deliver_inbox<'a>(
        &'a mut self,
        joined: &'a Membership,
    ) -> BoxFuture<'a, Result<(), End>> {
        rare(async move {
            let lines = joined.link.take();
            if lines.is_empty() {
                return Ok(());
            }
            let mut out = Vec::with_capacity(lines.iter().map(|l| l.len()).sum());
            for l in lines {
                out.extend_from_slice(&l);
            }
            self.conn.write_bytes(&out).await.map_err(End::Io)
        })
    }

    /// A run of `history` packets and its `history_end`, in one write.
    pub(super) fn send_history(
        &mut self,
        rows: impl Iterator<Item = Arc<Chat>> + Send + 'static,
        more: bool,
        room: Option<String>,
    ) -> BoxFuture<'_, Result<(), End>> {
        rare(async move {
            let mut out = Vec::new();
            let mut count = 0;
            for chat in rows {
                count += 1;
                out.extend_from_slice(&Packet::History((*chat).clone()).to_line());
            }
            let end = HistoryEnd { count, more, room };
            out.extend_from_slice(&Packet::HistoryEnd(end).to_line());
            self.conn.write_bytes(&out).await.map_err(End::Io)
        })
    }

    pub(super) fn too_slow(&mut self) -> BoxFuture<'_, End> {
        rare(async move {
            self.count(Limit::TooSlow);
            tracing::warn!(peer = %self.peer, limit = "too_slow", value = self.ctx.limits().send_queue_bytes, "client too slow (limits.send_queue_bytes): dropping");
            let why = "too slow: fell too far behind the room (limits.send_queue_bytes)";
            self.goodbye(codes::TOO_SLOW, why.into()).await;
            End::Protocol("too slow")
        })
    }

    /// No free client slot (counted by the admission): say so and close.
    pub(super) fn full(&mut self) -> BoxFuture<'_, ()> {
        rare(async move {
            let n = self.ctx.limits().max_clients;
            let text =
                format!("the server is full ({n} members, limits.max_clients): try again later");
            let full = Packet::error(codes::SERVER_FULL, text);
            let _ = self.send(&full).await;
            let why = "server full: try again later".to_string();
            self.goodbye(codes::SERVER_FULL, why).await;
        })
    }

    /// No successful auth in time: say so and close.
    pub(super) fn handshake_timeout(&mut self) -> BoxFuture<'_, ()> {
        rare(async move {
            self.count(Limit::HandshakeTimeout);
            tracing::info!(peer = %self.peer, limit = "handshake_timeout", "no successful auth within the handshake deadline (limits.handshake_timeout): closing");
            self.close_with(super::timeout_packet()).await;
        })
    }

    /// Shutdown or a kick: say which, and end.
    pub(super) fn removed<'a>(&'a mut self, joined: &'a Membership) -> BoxFuture<'a, End> {
        rare(async move {
            if self.ctx.shutdown.is_cancelled() {
                self.goodbye(codes::SHUTDOWN, "server shutting down".into())
                    .await;
                return End::Closed;
            }
            match joined.link.removal() {
                Some(Removal::Cluster(why)) => {
                    self.goodbye(codes::CLUSTER_LOST, why.into()).await;
                    End::Protocol("cluster_lost")
                }
                Some(Removal::Kicked(reason)) => {
                    let why = format!("removed by the operator: {reason}");
                    self.goodbye(codes::KICKED, why).await;
                    End::Kicked
                }
                None => {
                    self.goodbye(codes::KICKED, "removed by the operator".into())
                        .await;
                    End::Kicked
                }
            }
        })
    }

    /// Silent for two idle periods: drop the client, saying why.
    pub(super) fn idle_out(&mut self, period: Duration) -> BoxFuture<'_, End> {
        rare(async move {
            self.count(Limit::Idle);
            tracing::info!(peer = %self.peer, limit = "idle_timeout", "idle timeout (serve.timeout), no answer to a ping: closing");
            let why = format!(
                "idle timeout: silent for {} s twice (the server's --timeout)",
                period.as_secs_f64()
            );
            self.goodbye(codes::IDLE, why).await;
            End::Protocol("idle")
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
        rare(async move {
            if let Some(n) = notice {
                let _ = tokio::time::timeout(LINGER, self.conn.write_packet(&n)).await;
            }
            self.close_with(bye).await
        })
    }

    /// Say `packet` and close, without losing it to unread input.
    pub(super) fn close_with(&mut self, packet: Packet) -> BoxFuture<'_, ()> {
        rare(async move { self.conn.close_with(&packet, LINGER).await })
    }
}
