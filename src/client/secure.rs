//! The client's half of a secure room: check what the server offers before
//! anything is sent, log in with OPAQUE — the server proves it holds the
//! room, we prove the password, both on this TLS session — and open and
//! seal messages, refusing any ciphertext that is not what it claims to be
//! (another sender, another kind, a replay).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::replays::{self, Replays};
use super::step::{await_step_within, finish_off_thread};
use super::transport::with_timeout;
use super::{ClientError, Connection};
use crate::crypto::room::{ClientStart, SCHEME};
use crate::crypto::{self, Kind, RoomKey, Sealed};
use crate::protocol::{Auth, AuthStep, Packet};
use crate::secret::Password;

/// A room key shared by the UI's reader and writer.
pub(crate) type SharedKey = Arc<RoomKey>;

/// What the server's `hello.auth` offers, checked.
pub(crate) struct Offer {
    /// The room's id (bound into the login and into every message).
    pub room: Vec<u8>,
}

/// Refuse what this client must not do, before sending anything: a legacy
/// secure server, secure rooms v1, a secure room without TLS 1.3, a scheme
/// this client does not speak.
pub(crate) fn check_offer(conn: &Connection) -> Result<Offer, ClientError> {
    let hello = &conn.hello;
    let refuse = |why: &str| Err(ClientError::Auth(why.to_string()));
    match hello.proto {
        None => {
            return refuse(
                "this is a TCP-Playground (Python) server in its old secure mode, which sends the password to the \
                 server and uses a home-made cipher; tcpplay does not support it. Run the room with \
                 `tcpplay serve --secure`, or the Python server without --secure",
            )
        }
        Some(1) => {
            return refuse(
                "this server runs tcpplay's secure rooms v1, whose login hands the server (or anyone posing as it) \
                 a proof it can test passwords against; nothing was sent. Ask its operator to upgrade tcpplay \
                 (secure rooms v2, OPAQUE)",
            )
        }
        Some(_) => {}
    }
    match &conn.transport.tls {
        None => {
            return refuse(
                "the server offers a secure room over an unencrypted connection; refusing (secure rooms run over TLS only)",
            )
        }
        Some(t) if t.version != "TLSv1.3" => {
            return refuse(&format!(
                "the server offers a secure room over {}; secure rooms need TLS 1.3 (their login is bound to the TLS session)",
                t.version
            ))
        }
        Some(_) => {}
    }
    let auth = hello.auth.as_ref().ok_or_else(|| {
        ClientError::Protocol(
            "the server's hello says secure but carries no auth parameters".into(),
        )
    })?;
    if auth.scheme != SCHEME {
        return refuse(&format!(
            "the server's secure room uses '{}', which this client does not speak ({SCHEME})",
            crate::names::sanitize(&auth.scheme)
        ));
    }
    match crypto::unb64(&auth.room).filter(|r| r.len() == 16) {
        Some(room) => Ok(Offer { room }),
        None => Err(ClientError::Protocol(
            "the server's room id is malformed".into(),
        )),
    }
}

/// Log in as `name`: KE1, then the server's KE2 (checked: it proves the
/// room), then KE3. The final name and the room key.
pub(crate) async fn login(
    conn: &mut Connection,
    name: &str,
    password: Password,
    offer: &Offer,
    timeout: Option<Duration>,
    account: Option<(super::account::Pending, String)>,
) -> Result<(super::Joined, RoomKey), ClientError> {
    crypto::no_core_dumps();
    let binding = super::step::binding(
        conn,
        "the TLS session gave no channel binding to tie the login to; refusing to log in",
    )?;
    let client =
        ClientStart::new(password.as_bytes()).map_err(|e| ClientError::Auth(e.to_string()))?;
    let auth = Packet::Auth(Auth {
        name: name.to_string(),
        proto: Some(crate::protocol::PROTO_VERSION),
        ke1: Some(crypto::b64(&client.ke1)),
        rooms: conn.auth_rooms(),
        account_ke1: account.as_ref().map(|(_, ke1)| ke1.clone()),
        ..Default::default()
    });
    conn.send(&auth).await?;
    let phase = "waiting for the server's login step";
    let ke2 = await_step_within(conn, "login", phase, timeout, |s| s.ke2).await?;
    let spinner = crate::progress::spinner("opening the room (Argon2id)");
    let room = offer.room.clone();
    let finished = finish_off_thread(
        move || client.finish(password.as_bytes(), &ke2, &room, &binding),
        || {
            "the server could not prove it holds this room: the password is wrong, or the server is not the \
             room's (an impostor, or a relay between you and it). Nothing that could be used to guess the \
             password was sent"
                .into()
        },
    )
    .await;
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    let (ke3, key) = finished?;
    let step = Packet::AuthStep(AuthStep {
        ke3: Some(crypto::b64(&ke3)),
        ..Default::default()
    });
    conn.send(&step).await?;
    if let Some((pending, _)) = account {
        pending.finish(conn, name, timeout).await?;
    }
    let phase = "waiting for the auth result";
    let t = conn.transport.addr.to_string();
    let result = with_timeout(super::await_auth_result(conn), phase, &t, timeout).await?;
    Ok((result, key))
}

/// What the room's key says of a member's line (chat, action, history,
/// direct message) in a secure room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seal {
    /// It opened under the room key as what the packet says: its sender,
    /// kind, room, recipient and sealed time; shown once.
    Vouched,
    /// Refused: never shown as a member's words.
    Refused(Refusal),
}

/// Why a line that claims to be a member's was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// It carried text but no sealed payload: only the server could have
    /// written it.
    Unsealed,
    /// Its payload does not open as what the packet says (altered, or
    /// relabelled: another sender, kind, room, recipient or time).
    DoesNotOpen,
    /// It opened, but was shown before.
    Replayed,
    /// A direct message sealed for another member.
    Redirected,
    /// A live line sealed further from this machine's clock than the
    /// replay window.
    OutOfWindow,
}

impl Refusal {
    /// Every reason, in the order a summary lists them.
    pub(crate) const ALL: [Refusal; 5] = [
        Refusal::Unsealed,
        Refusal::DoesNotOpen,
        Refusal::Replayed,
        Refusal::Redirected,
        Refusal::OutOfWindow,
    ];

    /// A short word for `--json` and summaries.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Unsealed => "unsealed",
            Refusal::DoesNotOpen => "does_not_open",
            Refusal::Replayed => "replayed",
            Refusal::Redirected => "redirected",
            Refusal::OutOfWindow => "out_of_window",
        }
    }

    /// What happened, for people.
    pub fn why(self) -> String {
        match self {
            Refusal::Unsealed => {
                "a line that was not sealed arrived in this secure room: the server may be compromised".into()
            }
            Refusal::DoesNotOpen => "it does not open under the room key as what the server says it is (altered, \
                 or moved to another sender, kind, room or time)"
                .into(),
            Refusal::Replayed => "it was shown before: the server sent it again".into(),
            Refusal::Redirected => {
                "it is a direct message sealed for another member: the server redirected it".into()
            }
            Refusal::OutOfWindow => format!(
                "it was sealed more than {} minutes from this machine's clock: a replay, a line held back \
                 by the server, or a sender's clock that is wrong",
                replays::WINDOW_MS / 60_000
            ),
        }
    }
}

/// Who this connection is: the name the server gave, and the ones it had
/// before on this connection (a direct message sealed just before a rename
/// still names the old one).
#[derive(Debug, Default, Clone)]
pub struct Me {
    pub name: String,
    former: VecDeque<String>,
}

impl Me {
    /// Most former names remembered.
    const FORMER: usize = 8;

    pub fn new(name: &str) -> Me {
        Me {
            name: name.to_string(),
            former: VecDeque::new(),
        }
    }

    pub fn renamed(&mut self, new: &str) {
        let old = std::mem::replace(&mut self.name, new.to_string());
        self.former.push_back(old);
        if self.former.len() > Self::FORMER {
            self.former.pop_front();
        }
    }

    /// Is `name` us (now, or before a rename on this connection)?
    pub fn is(&self, name: &str) -> bool {
        let key = crate::names::name_key(name);
        std::iter::once(&self.name)
            .chain(&self.former)
            .any(|n| crate::names::name_key(n) == key)
    }
}

/// Open a member's line in place: the text when the room's key vouches for
/// it (and the time shown becomes the sealed time, not the server's), or
/// nothing at all — `text` and `payload` emptied, `encrypted` set — with
/// the reason. `None` for packets that carry no member's words.
pub(crate) fn open_packet(
    packet: &mut Packet,
    key: &RoomKey,
    me: &Me,
    replays: &mut Replays,
    now: u64,
) -> Option<Seal> {
    let history = matches!(packet, Packet::History(_));
    let seal = match packet {
        Packet::Chat(c) | Packet::History(c) => {
            let kind = if c.action { Kind::Action } else { Kind::Chat };
            let from = c.from.clone().unwrap_or_default();
            let room = c.room.clone().unwrap_or_default();
            let what = Sealed {
                from: &from,
                kind,
                sent: c.sent.unwrap_or_default(),
                room: &room,
            };
            let verdict = judge(c.payload.take(), &what, key, replays, history, now);
            settle(verdict, &mut c.text, &mut c.encrypted, &mut c.ts, c.sent)
        }
        Packet::Dm(d) => {
            let from = d.from.clone().unwrap_or_default();
            let to = d.to.clone();
            let what = Sealed {
                from: &from,
                kind: Kind::Dm { to: &to },
                sent: d.sent.unwrap_or_default(),
                room: "",
            };
            let verdict = judge(d.payload.take(), &what, key, replays, false, now)
                // Ours to read only when sealed for us (or our own, echoed).
                .and_then(|t| match me.is(&to) || me.is(&from) {
                    true => Ok(t),
                    false => Err(Refusal::Redirected),
                });
            settle(verdict, &mut d.text, &mut d.encrypted, &mut d.ts, d.sent)
        }
        _ => return None,
    };
    Some(seal)
}

/// The verdict on one sealed payload claimed to be `what`: its text, or
/// why it is refused.
fn judge(
    payload: Option<String>,
    what: &Sealed<'_>,
    key: &RoomKey,
    replays: &mut Replays,
    history: bool,
    now: u64,
) -> Result<String, Refusal> {
    let payload = payload.ok_or(Refusal::Unsealed)?;
    let (text, nonce) = key.open(&payload, what).map_err(|_| Refusal::DoesNotOpen)?;
    if !history && !replays::in_window(what.sent, now) {
        return Err(Refusal::OutOfWindow);
    }
    let first = if history {
        replays.history(nonce, what.sent, now)
    } else {
        replays.live(nonce, what.sent)
    };
    if !first {
        return Err(Refusal::Replayed);
    }
    Ok(text)
}

/// Apply a verdict: a vouched line shows its sealed text at its sealed
/// time; a refused one shows nothing of what the server sent.
fn settle(
    verdict: Result<String, Refusal>,
    text: &mut Option<String>,
    encrypted: &mut bool,
    ts: &mut Option<u64>,
    sent: Option<u64>,
) -> Seal {
    match verdict {
        Ok(t) => {
            *text = Some(t);
            *encrypted = false;
            *ts = sent;
            Seal::Vouched
        }
        Err(why) => {
            *text = None;
            *encrypted = true;
            Seal::Refused(why)
        }
    }
}
