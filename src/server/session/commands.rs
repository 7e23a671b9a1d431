//! The less frequent packets a member sends, routed to one function per
//! family: direct messages ([`super::direct`]), renames, the user list,
//! history, rooms (join, part, list) and topics. Each answers with the
//! packet to send back (answering the request's `seq`), or nothing.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use super::inbound::{clean_reason, room_of};
use super::{End, Session};
use crate::names::{self, sanitize, validate_name};
use crate::protocol::{
    codes, Away, FetchHistory, Nick, Packet, RoomRequest, Rooms, Topic, Users, MAX_AWAY_CHARS,
    MAX_HISTORY_FETCH,
};
use crate::server::archive::Unavailable;
use crate::server::room::{Departure, Membership, RenameError};

/// What a command answers: a packet for the member, or nothing (it was
/// answered already, or needs no answer).
type Answer = Result<Option<Packet>, End>;

/// Cluster mode: claim `new` across the cluster before a rename (a change
/// of case only needs no claim). False when it is taken; an error when
/// the cluster cannot tell now (nothing is granted that may be another's).
async fn claim_rename(
    cluster: Option<Arc<crate::server::cluster::Cluster>>,
    current: &str,
    new: &str,
) -> Result<bool, crate::server::cluster::ClaimError> {
    let Some(c) = cluster else {
        return Ok(true);
    };
    if names::name_key(current) == names::name_key(new) {
        return Ok(true);
    }
    c.claim_exact_name(new).await
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    /// Route one of the less frequent packets to its family.
    pub(super) async fn handle_command(
        &mut self,
        packet: Packet,
        joined: &mut Membership,
    ) -> Result<(), End> {
        let seq = packet.seq();
        let answer = match packet {
            Packet::Dm(dm) => match self.check_body(dm.encrypted, &dm.text, &dm.payload) {
                Some(e) => Ok(Some(e)),
                None => self.direct(dm, &joined.name).await,
            },
            Packet::Nick(n) => self.rename(n, joined).await,
            Packet::Users(u) => Ok(Some(self.users(u))),
            Packet::FetchHistory(f) => self.fetch_history(f, joined).await,
            Packet::Join(r) => {
                // Whoever asks for a room speaks rooms, whatever it said in `auth`.
                self.rooms_aware = true;
                return self.enter_room(joined, &r.room, seq).await;
            }
            Packet::Part(r) => Ok(Some(self.part(r, joined))),
            Packet::Rooms(_) => {
                let (rooms, total) = self.rooms().await;
                Ok(Some(Packet::Rooms(Rooms {
                    rooms,
                    total: Some(total),
                })))
            }
            Packet::Topic(t) => Ok(self.topic(t, joined)),
            Packet::Account(m) => Ok(Some(self.account(m, joined).await)),
            Packet::Moderate(m) => Ok(self.moderate(m, joined).await),
            Packet::Away(a) => Ok(self.away(a, joined)),
            other => {
                tracing::debug!(peer = %self.peer, "ignored a packet a client does not send: {other:?}");
                Ok(None)
            }
        };
        match answer? {
            Some(reply) => self.send(&reply.answering(seq)).await.map_err(End::Io),
            None => Ok(()),
        }
    }

    /// `nick`: a valid name that nobody (on any node) holds.
    async fn rename(&mut self, n: Nick, joined: &mut Membership) -> Answer {
        let new = match validate_name(&n.name) {
            Ok(new) => new,
            Err(e) => {
                let why = format!("'{}' cannot be a name: {e}", sanitize(&n.name));
                return Ok(Some(Packet::error(codes::NAME_INVALID, why)));
            }
        };
        if let Some(e) = self.may_take(&new, joined) {
            return Ok(Some(e));
        }
        let stays = format!("your name stays {} until then", joined.name);
        if let Some(why) = self.ctx.hub.muted_anywhere(joined.id, &stays) {
            return Ok(Some(Packet::error(codes::MUTED, why)));
        }
        let taken = |name: &str| {
            let why = format!("the name '{}' is taken; pick another", sanitize(name));
            Ok(Some(Packet::error(codes::NAME_TAKEN, why)))
        };
        match claim_rename(self.ctx.cluster.clone(), &joined.name, &new).await {
            Ok(true) => {}
            Ok(false) => return taken(&new),
            Err(e) => {
                return Ok(Some(Packet::error(
                    codes::CLUSTER_UNAVAILABLE,
                    format!("cannot take the name '{}' now: {e}", sanitize(&new)),
                )))
            }
        }
        let renamed = self.ctx.hub.rename(joined.id, &new);
        if let (Err(_), Some(c)) = (&renamed, &self.ctx.cluster) {
            if names::name_key(&joined.name) != names::name_key(&new) {
                c.release(&new);
            }
        }
        match renamed {
            Ok(old) => {
                if let Some(c) = &self.ctx.cluster {
                    if names::name_key(&old) != names::name_key(&new) {
                        c.release(&old);
                    }
                }
                tracing::info!(peer = %self.peer, old = %sanitize(&old), new = %sanitize(&new), "renamed");
                joined.name = new.clone();
                // In a room, the room's own notice answers; in none, this does.
                Ok(joined.rooms.is_empty().then(|| {
                    Packet::System(crate::protocol::System {
                        text: format!("you are now called {new}"),
                        event: Some("rename".into()),
                        name: Some(old),
                        new_name: Some(new),
                        ..Default::default()
                    })
                }))
            }
            Err(RenameError::Taken(other)) => taken(&other),
            Err(RenameError::Gone) => Err(End::Closed),
        }
    }

    /// May this member take the name `new` (an account's or an
    /// operator's is its holder's only; under `--client-ca`, a name the
    /// certificate or the account vouches for)?
    fn may_take(&self, new: &str, joined: &Membership) -> Option<Packet> {
        use crate::server::room::rules::Owners;
        let identity = self.ctx.hub.identity(joined.id).unwrap_or_default();
        let key = names::name_key(new);
        let own = identity.account_key().as_deref() == Some(key.as_str());
        if own {
            return None;
        }
        let reserved = self
            .ctx
            .accounts
            .as_deref()
            .is_some_and(|a| a.reserved(new));
        if reserved {
            let why = format!(
                "the name '{}' is registered (or kept for an operator): only its account may take it",
                sanitize(new)
            );
            return Some(Packet::error(codes::NAME_REGISTERED, why));
        }
        let cert = self.bound.as_ref().and_then(|b| b.cert.as_ref());
        if let Some(c) = cert {
            if !c.names.iter().any(|n| names::name_key(n) == key) {
                let why = format!(
                    "your client certificate is for {}: you may not be called '{}' here",
                    c.names
                        .first()
                        .map(|n| sanitize(n).into_owned())
                        .unwrap_or_default(),
                    sanitize(new)
                );
                return Some(Packet::error(codes::NAME_NOT_CERTIFIED, why));
            }
        }
        None
    }

    /// `rooms`: the server's rooms; in a cluster, the cluster's (this
    /// server's own when Redis cannot be asked).
    async fn rooms(&mut self) -> (Vec<crate::protocol::RoomInfo>, u64) {
        if let Some(c) = self.ctx.cluster.clone() {
            let declared = self.ctx.hub.declared_keys();
            match c.rooms(&declared).await {
                Ok(listed) => return listed,
                Err(e) => {
                    tracing::info!(peer = %self.peer, "cluster: rooms listed from this server only ({e})")
                }
            }
        }
        self.ctx.hub.rooms()
    }

    /// `users`: who is in a room (the default room when none is named).
    fn users(&self, u: Users) -> Packet {
        let hub = &self.ctx.hub;
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

    /// `fetch_history`: a page of one of the member's rooms.
    async fn fetch_history(&mut self, f: FetchHistory, joined: &Membership) -> Answer {
        let at = match room_of(joined, self.ctx.hub.default_room(), f.room.as_deref()) {
            Ok(i) => i,
            Err(e) => return Ok(Some(*e)),
        };
        let room = joined.rooms[at].room.clone();
        let tag = room.tag().map(str::to_string);
        let limit = f.limit.unwrap_or(20).clamp(1, MAX_HISTORY_FETCH) as usize;
        let why = match self.ctx.archive.page(&room, f.before, limit).await {
            Ok((rows, more)) => {
                let rows = rows.into_iter().map(Arc::new);
                return self.send_history(rows, more, tag).await.map(|()| None);
            }
            Err(Unavailable::NotKept) => "this server keeps no history".to_string(),
            Err(Unavailable::Failed(why)) => why,
        };
        let e = Packet::error(codes::HISTORY_UNAVAILABLE, why).in_room(tag.as_deref());
        Ok(Some(e))
    }

    /// `part`: leave one room, perhaps saying why.
    fn part(&mut self, r: RoomRequest, joined: &mut Membership) -> Packet {
        let at = match room_of(joined, self.ctx.hub.default_room(), Some(&r.room)) {
            Ok(i) => i,
            Err(e) => return *e,
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
        let how = Departure::Parted(reason.clone());
        self.ctx.hub.exit(joined.id, &left.room, how);
        Packet::Parted(RoomRequest {
            room: left.room.name().to_string(),
            reason,
        })
    }

    /// `topic`: set (or, empty, clear) the topic of one of the member's rooms.
    fn topic(&mut self, t: Topic, joined: &Membership) -> Option<Packet> {
        let at = match room_of(joined, self.ctx.hub.default_room(), Some(&t.room)) {
            Ok(i) => i,
            Err(e) => return Some(*e),
        };
        let room = joined.rooms[at].room.clone();
        if let Err(e) = self.ctx.hub.may_set_topic(joined.id, &room) {
            return Some(e.packet(room.tag()));
        }
        let text = t.text.trim();
        if text.is_empty() {
            room.set_topic(None, &joined.name);
            return None;
        }
        if let Some(e) = self.check_topic(text) {
            return Some(e.in_room(room.tag()));
        }
        room.set_topic(Some(text.to_string()), &joined.name);
        None
    }

    /// `away`: away saying why (cleaned as a reason is, within
    /// [`MAX_AWAY_CHARS`]), or back. A muted member's words reach no room
    /// through it: it may come back, not say why it is away.
    fn away(&mut self, a: Away, joined: &Membership) -> Option<Packet> {
        let text = a
            .text
            .map(|t| {
                clean_reason(&t)
                    .chars()
                    .take(MAX_AWAY_CHARS)
                    .collect::<String>()
            })
            .filter(|t| !t.is_empty());
        if text.is_some() {
            let stays = "no away message is shown until then (/away alone says you are back)";
            if let Some(why) = self.ctx.hub.muted_anywhere(joined.id, stays) {
                return Some(Packet::error(codes::MUTED, why));
            }
        }
        self.ctx.hub.set_away(joined.id, text)
    }

    /// A topic is one line of text within the text limit.
    pub(super) fn check_topic(&self, text: &str) -> Option<Packet> {
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
}
