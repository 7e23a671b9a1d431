//! What the session reads: the next packet (refusing what is not one), and
//! what each packet asks for — chat, direct messages, renames, the user
//! list, history — with the body, text and rate checks.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{rare, End, Session};
use crate::names;
use crate::names::{sanitize, validate_name};
use crate::protocol::connection::Read;
use crate::protocol::{
    codes, Chat, FrameError, Packet, ParseError, RoomRequest, Rooms, Users, MAX_HISTORY_FETCH,
};
use crate::server::archive::Unavailable;
use crate::server::body::{self, BodyError};
use crate::server::limits::{Limit, Verdict};
use crate::server::room::{
    Body, Departure, Direct, DirectError, Membership, RenameError, Room, Speaker,
};

/// Which of the member's rooms a packet's `room` names (absent: the
/// default room): its index, or the `error` that says why not.
fn room_of(
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

/// Cluster mode: claim `new` across the cluster before a rename (a change
/// of case only needs no claim). False when it is taken.
async fn claim_rename(
    cluster: Option<Arc<crate::server::cluster::Cluster>>,
    current: &str,
    new: &str,
) -> bool {
    let Some(c) = cluster else {
        return true;
    };
    if names::name_key(current) == names::name_key(new) {
        return true;
    }
    // Redis unreachable: the rename is checked on this node only.
    c.claim_exact_name(new).await.unwrap_or(true)
}

/// A reason given for leaving, as the room is shown it.
fn clean_reason(reason: &str) -> String {
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
        if self.conn.has_line() && self.unwoken < MAX_UNWOKEN {
            room.chat_batched(sender, body);
            self.unwoken += 1;
            if self.unwoken_room.is_none() {
                self.unwoken_room = Some(room.clone());
            }
        } else {
            room.chat(sender, body);
            self.unwoken = 0;
            self.unwoken_room = None;
        }
        Ok(())
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

    /// The less frequent packets: direct messages, renames, the user list,
    /// history fetches, rooms.
    async fn handle_command(&mut self, packet: Packet, joined: &mut Membership) -> Result<(), End> {
        let seq = packet.seq();
        let hub = self.ctx.hub.clone();
        let reply = match packet {
            Packet::Dm(dm) => match self.check_body(dm.encrypted, &dm.text, &dm.payload) {
                Some(e) => e,
                None => match self.direct(dm, &joined.name).await? {
                    Some(refused) => refused,
                    None => return Ok(()),
                },
            },
            Packet::Nick(n) => match validate_name(&n.name) {
                Err(e) => Packet::error(
                    codes::NAME_INVALID,
                    format!("'{}' cannot be a name: {e}", sanitize(&n.name)),
                ),
                Ok(new) if !claim_rename(self.ctx.cluster.clone(), &joined.name, &new).await => {
                    Packet::error(
                        codes::NAME_TAKEN,
                        format!("the name '{}' is taken; pick another", sanitize(&new)),
                    )
                }
                Ok(new) => match hub.rename(joined.id, &new) {
                    Ok(old) => {
                        if let Some(c) = &self.ctx.cluster {
                            if names::name_key(&old) != names::name_key(&new) {
                                c.release(&old);
                            }
                        }
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
            Packet::Users(u) => {
                let room = match u.room.as_deref() {
                    None => Ok(hub.default_room().clone()),
                    Some(raw) => hub.find(raw),
                };
                match room {
                    Ok(room) => {
                        let (users, total) = hub.users(&room);
                        Packet::Users(Users {
                            users,
                            total: Some(total),
                            room: room.tag().map(str::to_string),
                        })
                    }
                    Err(e) => e.packet(u.room.as_deref()),
                }
            }
            Packet::FetchHistory(f) => {
                let at = match room_of(joined, hub.default_room(), f.room.as_deref()) {
                    Ok(i) => i,
                    Err(e) => return self.send(&e).await.map_err(End::Io),
                };
                let tag = joined.rooms[at].room.tag().map(str::to_string);
                let limit = f.limit.unwrap_or(20).clamp(1, MAX_HISTORY_FETCH) as usize;
                let room = joined.rooms[at].room.clone();
                let fetched = self.ctx.archive.page(&room, f.before, limit).await;
                match fetched {
                    Ok((rows, more)) => {
                        return self
                            .send_history(rows.into_iter().map(Arc::new), more, tag)
                            .await
                    }
                    Err(Unavailable::NotKept) => {
                        Packet::error(codes::HISTORY_UNAVAILABLE, "this server keeps no history")
                            .in_room(tag.as_deref())
                    }
                    Err(Unavailable::Failed(why)) => {
                        Packet::error(codes::HISTORY_UNAVAILABLE, why).in_room(tag.as_deref())
                    }
                }
            }
            Packet::Join(r) => {
                // Whoever asks for a room speaks rooms, whatever it said in `auth`.
                self.rooms_aware = true;
                return self.enter_room(joined, &r.room, seq).await;
            }
            Packet::Part(r) => {
                let at = match room_of(joined, hub.default_room(), Some(&r.room)) {
                    Ok(i) => i,
                    Err(e) => return self.send(&e).await.map_err(End::Io),
                };
                let reason = r
                    .reason
                    .as_deref()
                    .map(clean_reason)
                    .filter(|r| !r.is_empty());
                let left = joined.rooms.remove(at);
                if self
                    .unwoken_room
                    .as_ref()
                    .is_some_and(|u| Arc::ptr_eq(u, &left.room))
                {
                    self.wake_room();
                }
                hub.exit(joined.id, &left.room, Departure::Parted(reason.clone()));
                Packet::Parted(RoomRequest {
                    room: left.room.name().to_string(),
                    reason,
                })
            }
            Packet::Rooms(_) => {
                let (rooms, total) = hub.rooms();
                Packet::Rooms(Rooms {
                    rooms,
                    total: Some(total),
                })
            }
            Packet::Topic(t) => {
                let at = match room_of(joined, hub.default_room(), Some(&t.room)) {
                    Ok(i) => i,
                    Err(e) => return self.send(&e).await.map_err(End::Io),
                };
                let room = joined.rooms[at].room.clone();
                let text = t.text.trim();
                if text.is_empty() {
                    room.set_topic(None, &joined.name);
                    return Ok(());
                }
                match self.check_topic(text) {
                    Some(e) => e.in_room(room.tag()),
                    None => {
                        room.set_topic(Some(text.to_string()), &joined.name);
                        return Ok(());
                    }
                }
            }
            other => {
                tracing::debug!(peer = %self.peer, "ignored a packet a client does not send: {other:?}");
                return Ok(());
            }
        };
        self.send(&reply.answering(seq)).await.map_err(End::Io)
    }

    /// A topic is one line of text within the text limit.
    fn check_topic(&self, text: &str) -> Option<Packet> {
        if let Some(c) = text.chars().find(|&c| names::is_unsafe_char(c)) {
            return Some(Packet::error(
                codes::BAD_PACKET,
                format!(
                    "a topic cannot hold control or formatting characters (found {}); not set",
                    c.escape_unicode()
                ),
            ));
        }
        self.check_text(text)
    }

    /// A chat or direct message body fits this room: plaintext `text` in a
    /// plaintext room, a sealed `payload` in a secure one, within the limits.
    /// A direct message from `from`: to a member here, else (cluster
    /// mode) on another node; the sender gets its copy, or the refusal to
    /// send back.
    async fn direct(&mut self, dm: crate::protocol::Dm, from: &str) -> Result<Option<Packet>, End> {
        let to = dm.to.trim().to_string();
        let hub = self.ctx.hub.clone();
        let remote = dm.clone();
        let refusal = match hub.direct(from, dm) {
            // The sender's copy: the same line the recipient got.
            Ok(line) => {
                return self
                    .conn
                    .write_bytes(&line)
                    .await
                    .map(|()| None)
                    .map_err(End::Io)
            }
            Err(DirectError::NoSuchUser) => match self.ctx.cluster.clone() {
                Some(c) => {
                    let ts = crate::protocol::now_ms();
                    let body = Body {
                        text: remote.text.clone(),
                        payload: remote.payload.clone(),
                        sent: remote.sent,
                        action: remote.action,
                    };
                    let direct = Direct {
                        from: from.to_string(),
                        to: to.clone(),
                        body,
                        ts,
                    };
                    if c.direct(direct).await {
                        let mut copy = remote;
                        let (line, _) = crate::server::room::dm_lines(from, &mut copy, ts);
                        return self
                            .conn
                            .write_bytes(&line)
                            .await
                            .map(|()| None)
                            .map_err(End::Io);
                    }
                    DirectError::NoSuchUser
                }
                None => DirectError::NoSuchUser,
            },
            Err(e) => e,
        };
        Ok(Some(match refusal {
            DirectError::NoSuchUser => Packet::error(
                codes::NO_SUCH_USER,
                format!(
                    "nobody called '{}' is here (on this server); not sent",
                    sanitize(&to)
                ),
            ),
            DirectError::InboxFull(n) => Packet::error(
                codes::INBOX_FULL,
                format!(
                    "{} has too many unread direct messages; not sent",
                    sanitize(&n)
                ),
            ),
        }))
    }

    fn check_body(
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

    fn check_text(&self, text: &str) -> Option<Packet> {
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
