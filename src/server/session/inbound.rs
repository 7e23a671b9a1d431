//! What the session reads: the next packet (refusing what is not one), and
//! what each packet asks for — chat, direct messages, renames, the user
//! list, history — with the body, text and rate checks.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{rare, End, Session};
use crate::names;
use crate::protocol::connection::Read;
use crate::protocol::{codes, Chat, FrameError, Packet, ParseError};
use crate::server::body::{self, BodyError};
use crate::server::limits::{Limit, Verdict};
use crate::server::room::{Body, Membership, NotSent, Room, Speaker};

/// Which of the member's rooms a packet's `room` names (absent: the
/// default room): its index, or the `error` that says why not.
pub(super) fn room_of(
    joined: &Membership,
    default: &Arc<Room>,
    room: Option<&str>,
) -> Result<usize, Box<Packet>> {
    let found = match room {
        None => joined
            .rooms
            .iter()
            .position(|r| Arc::ptr_eq(&r.room, default)),
        Some(raw) => joined
            .rooms
            .iter()
            .position(|r| r.room.name() == raw)
            .or_else(|| {
                let key = names::name_key(&names::room_name(raw).ok()?);
                joined
                    .rooms
                    .iter()
                    .position(|r| names::name_key(r.room.name()) == key)
            }),
    };
    found.ok_or_else(|| {
        let name = room.unwrap_or(default.name());
        let shown = names::room_name(name).unwrap_or_else(|_| names::sanitize(name).into_owned());
        Box::new(
            Packet::error(
                codes::NOT_IN_ROOM,
                format!("you are not in {shown}: /join it first; not sent"),
            )
            .in_room(Some(&shown)),
        )
    })
}

/// A reason given for leaving, as the room is shown it.
pub(super) fn clean_reason(reason: &str) -> String {
    reason
        .trim()
        .chars()
        .filter(|&c| !names::is_unsafe_char(c))
        .take(MAX_REASON_CHARS)
        .collect()
}

/// Chat lines published at most before the readers are woken.
const MAX_UNWOKEN: u32 = 64;

/// Longest reason a leaving client may give (`/quit REASON`).
const MAX_REASON_CHARS: usize = 200;

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    /// The next packet, `None` for one that was refused but does not end the
    /// session; `Err` when the session must end (after telling the peer).
    pub(super) async fn next_packet(&mut self) -> Result<Option<Packet>, End> {
        match self.conn.read_packet().await {
            Ok(Read::Packet(p)) => Ok(Some(p)),
            Ok(Read::End) => Err(End::Closed),
            Ok(Read::Unreadable(e)) => self.refuse(e).await,
            Err(e) => Err(self.frame_error(e).await),
        }
    }

    /// Answer a line that is not a packet.
    fn refuse(&mut self, e: ParseError) -> BoxFuture<'_, Result<Option<Packet>, End>> {
        rare(async move {
            match e {
                ParseError::BadPacket(m) => {
                    let e = Packet::error(codes::BAD_PACKET, format!("malformed packet: {m}"));
                    self.send(&e).await.map_err(End::Io)?;
                    Ok(None)
                }
                ParseError::Foreign(f) => {
                    tracing::info!(peer = %self.peer, protocol = f.name(), "another protocol on the chat port: answered in its form, closing");
                    self.conn
                        .close_with_bytes(&f.answer(), super::outbound::LINGER)
                        .await;
                    Err(End::Protocol("another protocol"))
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
        rare(async move {
            match e {
                FrameError::TooLong { limit } => {
                    self.count(Limit::MaxFrameBytes);
                    tracing::info!(peer = %self.peer, limit = "max_frame_bytes", value = limit, "line over limits.max_frame_bytes: closing");
                    let why = format!("a line longer than {limit} bytes (limits.max_frame_bytes)");
                    self.goodbye(codes::TOO_LONG, why).await;
                    End::Protocol("frame too long")
                }
                FrameError::Truncated => End::Protocol("disconnected mid-line"),
                FrameError::Io(e) => End::Io(e),
            }
        })
    }

    /// A chat line (past the rate limit): published when it may be —
    /// decided without waiting for anything, so the session's loop need not
    /// box a future per line — else the `error` that says why not.
    fn chat_line(&mut self, chat: Chat, joined: &mut Membership) -> Result<(), Box<Packet>> {
        let seq = chat.seq;
        if let Some(e) = self.check_body(chat.encrypted, &chat.text, &chat.payload) {
            let e = e.in_room(chat.room.as_deref());
            return Err(Box::new(e.answering(seq)));
        }
        let at = room_of(joined, self.ctx.hub.default_room(), chat.room.as_deref())
            .map_err(|e| Box::new(e.answering(seq)))?;
        let room = &joined.rooms[at].room;
        if room.any_mutes() {
            if let Some(why) = self.ctx.hub.muted(joined.id, room) {
                let e = Packet::error(codes::MUTED, why).in_room(room.tag());
                return Err(Box::new(e.answering(seq)));
            }
        }
        let sender = Speaker::Member {
            name: &joined.name,
            port: self.peer.port(),
        };
        // In a secure room the payload is relayed exactly as it came.
        let body = Body {
            text: chat.text,
            payload: chat.payload,
            sent: chat.sent,
            action: chat.action,
            seq,
        };
        self.ctx.metrics.received.inc();
        let here = &mut joined.rooms[at];
        // A talker's own feed is woken first (see Feed).
        here.cursor.spoke(std::time::Instant::now());
        let room = &here.room;
        // Lines batched for another room are shown first.
        if self
            .unwoken_room
            .as_ref()
            .is_some_and(|r| !Arc::ptr_eq(r, room))
        {
            self.wake_room();
        }
        // More lines already here: publish them all before waking
        // the readers (the chat loop wakes them), so that they write
        // the lot at once.
        let sent = if self.conn.has_line() && self.unwoken < MAX_UNWOKEN {
            let sent = room.chat_batched(sender, body);
            self.unwoken += 1;
            if self.unwoken_room.is_none() {
                self.unwoken_room = Some(room.clone());
            }
            sent
        } else {
            let sent = room.chat(sender, body);
            self.unwoken = 0;
            self.unwoken_room = None;
            sent
        };
        // Cluster mode, its link down too long: the sender is told.
        sent.map_err(|NotSent(why)| {
            Box::new(
                Packet::error(codes::NOT_SENT, why)
                    .in_room(room.tag())
                    .answering(seq),
            )
        })
    }

    /// Handle a packet: past the rate limit, a chat line that may be
    /// published is, at once, without a boxed future (the common case);
    /// anything else gives the future to await. (Not async itself: only that
    /// future's box is kept in the session's state, which stays small.)
    pub(super) fn dispatch<'a>(
        &'a mut self,
        packet: Packet,
        joined: &'a mut Membership,
    ) -> Option<BoxFuture<'a, Result<(), End>>> {
        let seq = packet.seq();
        if packet.rate_limited() && self.bucket.take(&self.ctx.limits()) != Verdict::Pass {
            return Some(self.refuse_rate(seq));
        }
        match packet {
            Packet::Chat(chat) => match self.chat_line(chat, joined) {
                Ok(()) => None,
                Err(e) => Some(rare(async move { self.send(&e).await.map_err(End::Io) })),
            },
            p => Some(rare(self.handle_packet(p, joined))),
        }
    }

    /// A packet past the rate limit (see [`dispatch`](Self::dispatch)).
    pub(super) async fn handle_packet(
        &mut self,
        packet: Packet,
        joined: &mut Membership,
    ) -> Result<(), End> {
        match packet {
            Packet::Chat(chat) => match self.chat_line(chat, joined) {
                Ok(()) => Ok(()),
                Err(e) => self.send(&e).await.map_err(End::Io),
            },
            Packet::Ping(p) => self.send(&Packet::Pong(p)).await.map_err(End::Io),
            Packet::Auth(_) => {
                let e = Packet::error(codes::ALREADY_AUTHENTICATED, "already joined");
                self.send(&e).await.map_err(End::Io)
            }
            Packet::Bye(b) => {
                // The client leaves, perhaps saying why (`/quit REASON`).
                let reason = clean_reason(&b.reason);
                // It still gets what came before (its own last lines too).
                self.catch_up(joined).await;
                Err(End::Left((!reason.is_empty()).then_some(reason)))
            }
            Packet::Unknown => {
                tracing::debug!(peer = %self.peer, "skipped a packet of an unknown type");
                Ok(())
            }
            other => rare(self.handle_command(other, joined)).await,
        }
    }

    /// A chat or direct message body fits this room: plaintext `text` in a
    /// plaintext room, a sealed `payload` in a secure one, within the limits.
    pub(super) fn check_body(
        &self,
        encrypted: bool,
        text: &Option<String>,
        payload: &Option<String>,
    ) -> Option<Packet> {
        let max = self.ctx.limits().max_text_chars;
        let secure = self.ctx.secure.is_some();
        let checked = body::check(secure, max, encrypted, text.as_deref(), payload.as_deref());
        self.refusal(checked)
    }

    pub(super) fn check_text(&self, text: &str) -> Option<Packet> {
        let max = self.ctx.limits().max_text_chars;
        self.refusal(body::check_text(max, text))
    }

    /// A refused body as the error packet its sender gets (counted when
    /// over the text limit).
    fn refusal(&self, checked: Result<(), BodyError>) -> Option<Packet> {
        let e = checked.err()?;
        if matches!(e, BodyError::TooLong { .. }) {
            self.count(Limit::MaxTextChars);
        }
        Some(Packet::error(e.code(), e.message()))
    }

    /// Over the rate: drop the line and say so; flooding on: disconnect.
    fn refuse_rate(&mut self, seq: Option<u64>) -> BoxFuture<'_, Result<(), End>> {
        rare(async move {
            let l = self.ctx.limits();
            let (rate, burst) = (l.messages_per_second, l.message_burst);
            if self.bucket.flooding(&l) {
                drop(l);
                self.count(Limit::Flooding);
                tracing::warn!(peer = %self.peer, limit = "flooding", rate, "flooding past limits.messages_per_second: disconnecting");
                let why = format!(
                    "flooding: far more than {rate} lines per second (limits.messages_per_second)"
                );
                self.goodbye(codes::FLOODING, why).await;
                return Err(End::Protocol("flooding"));
            }
            drop(l);
            self.count(Limit::MessagesPerSecond);
            tracing::info!(peer = %self.peer, limit = "messages_per_second", rate, burst, "line dropped: over limits.messages_per_second");
            let msg = format!("slow down: at most {rate} lines per second (bursts of {burst}); this line was not sent");
            self.send(&Packet::error(codes::RATE_LIMITED, msg).answering(seq))
                .await
                .map_err(End::Io)
        })
    }
}
