//! The client side of the protocol: connect (`transport`), authenticate,
//! and talk through a [`Connection`] that seals and opens messages in a
//! secure room — what `join`, `check`, the bot and the load generator share.
//!
//! - `transport`: resolve, TCP, TLS (or plaintext), `hello`
//! - `secure`: the secure room's proofs and key
//! - `known_hosts`: trust on first use (pins)
//! - `wire`: `--show-wire`, a tap that prints the protocol
//! - [`ui`]: the chat loop of `join`

pub(crate) mod account;
pub mod harness;
pub(crate) mod known_hosts;
pub mod replays;
pub(crate) mod secure;
mod step;
pub(crate) mod transport;
pub mod ui;
pub(crate) mod wire;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) use transport::MAX_FRAME_BYTES;
pub use transport::{connect, over, ConnectOptions, TlsInfo, TransportInfo};

use crate::crypto::{Kind, Sealed};
use crate::protocol::connection::Read;
use crate::protocol::{self, Auth, Chat, Dm, FrameError, Hello, Packet};
use secure::{Me, Seal, SharedKey};

/// A message body: `(encrypted, text, payload, sent)`.
type Body = (bool, Option<String>, Option<String>, Option<u64>);

/// A byte stream the client can speak over: TCP or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open connection to a server, after its `hello`.
pub struct Connection {
    pub conn: protocol::Connection<Box<dyn Stream>>,
    pub hello: Hello,
    pub transport: TransportInfo,
    /// The room key, once authenticated in a secure room: messages are
    /// sealed by [`chat`](Self::chat) and [`dm`](Self::dm) and opened by
    /// [`next`](Self::next).
    pub key: Option<SharedKey>,
    /// Our name as the server gave it (sealed messages are bound to it),
    /// kept current through renames.
    pub me: Me,
    /// Sealed messages already seen (a second one is a replay).
    replays: replays::Replays,
    /// The rooms to ask for in `auth` (none: the server's default room).
    pub want_rooms: Vec<String>,
}

/// Client errors, each with what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot resolve {target}: {reason}")]
    Resolve { target: String, reason: String },
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("TLS certificate verification failed for {target}: {detail}\n  {hint}")]
    Certificate {
        target: String,
        detail: String,
        /// What to do, given what was trusted.
        hint: String,
    },
    #[error("TLS handshake with {target} failed: {detail}")]
    Tls { target: String, detail: String },
    #[error("{0}")]
    Protocol(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The name belongs to an account, and no account password was given.
    #[error("authentication failed: {0}")]
    NeedsAccount(String),
    #[error(
        "timed out after {secs} s while {phase} ({target}); raise --timeout if the network is slow"
    )]
    Timeout {
        phase: &'static str,
        target: String,
        secs: f64,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A stream that broke while reading, for people.
pub(crate) fn read_error(e: FrameError) -> ClientError {
    match e {
        // A TLS alert after the handshake (TLS 1.3 says a missing client
        // certificate this way).
        FrameError::Io(e) if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => {
            ClientError::Tls {
                target: "the server".into(),
                detail: crate::tls::explain_io(&e),
            }
        }
        other => ClientError::Protocol(format!("reading from the server: {other}")),
    }
}

impl Connection {
    /// A connection over `conn` that has read the server's `hello`.
    pub fn new(
        conn: protocol::Connection<Box<dyn Stream>>,
        mut hello: Hello,
        transport: TransportInfo,
    ) -> Connection {
        // Nothing a server announces is taken as it came.
        hello.limits = hello.limits.map(|l| l.clamped(MAX_FRAME_BYTES));
        Connection {
            conn,
            hello,
            transport,
            key: None,
            me: Me::default(),
            replays: Default::default(),
            want_rooms: Vec::new(),
        }
    }

    /// Send one packet.
    pub async fn send(&mut self, packet: &Packet) -> Result<(), ClientError> {
        Ok(self.conn.write_packet(packet).await?)
    }

    /// The next packet from the server, opened if sealed (what is refused
    /// stays `encrypted`, without text); `None` when the server closed the
    /// connection. Lines that are not packets are skipped.
    pub async fn next(&mut self) -> Result<Option<Packet>, ClientError> {
        Ok(self.next_judged().await?.map(|(p, _)| p))
    }

    /// [`next`](Self::next), with what the room's key says of a member's
    /// line in a secure room (`None`: not a secure room, or not a member's
    /// line — the server's word).
    pub(crate) async fn next_judged(
        &mut self,
    ) -> Result<Option<(Packet, Option<Seal>)>, ClientError> {
        loop {
            match self.conn.read_packet().await {
                Ok(Read::Packet(mut p)) => {
                    self.follow_rename(&p);
                    let seal = match &self.key {
                        Some(k) => {
                            let now = protocol::now_ms();
                            secure::open_packet(&mut p, k, &self.me, &mut self.replays, now)
                        }
                        None => None,
                    };
                    return Ok(Some((p, seal)));
                }
                Ok(Read::Unreadable(e)) => {
                    tracing::debug!("skipped an unreadable line from the server: {e}")
                }
                Ok(Read::End) => return Ok(None),
                Err(e) => return Err(read_error(e)),
            }
        }
    }

    /// Our own rename, as the server announces it: lines we seal from now
    /// on carry the new name.
    fn follow_rename(&mut self, p: &Packet) {
        if let Packet::System(s) = p {
            if let (Some("rename"), Some(old), Some(new)) =
                (s.event.as_deref(), &s.name, &s.new_name)
            {
                if *old == self.me.name && crate::names::validate_name(new).is_ok() {
                    self.me.renamed(new);
                }
            }
        }
    }

    /// Keep this secure room's replay record in `dir` (the user's data
    /// directory), across connections and restarts; the reason when it
    /// cannot be kept (the check then goes on in memory).
    pub(crate) fn keep_replays(&mut self, dir: &std::path::Path) -> Option<String> {
        let room = self.key.as_ref()?.room_id();
        self.replays = replays::Replays::open(dir, &room, protocol::now_ms());
        self.replays.problem.take()
    }

    /// `text` as this room carries it: in a secure room sealed as `kind`
    /// from us, now; plain otherwise. `(encrypted, text, payload, sent)`.
    fn body(&self, kind: Kind<'_>, text: &str, room: Option<&str>) -> Body {
        match &self.key {
            Some(k) => {
                let sent = protocol::now_ms();
                let what = Sealed {
                    from: &self.me.name,
                    kind,
                    sent,
                    room: room.unwrap_or(""),
                };
                (true, None, Some(k.seal(text, &what)), Some(sent))
            }
            None => (false, Some(text.to_string()), None, None),
        }
    }

    /// A chat line (`action`: `/me`) for `room` (`None`: the default
    /// room), numbered `seq` for a tcpplay server.
    pub fn chat(&self, text: &str, action: bool, room: Option<&str>, seq: Option<u64>) -> Packet {
        let kind = if action { Kind::Action } else { Kind::Chat };
        let room = self.wire_room(room);
        let (encrypted, text, payload, sent) = self.body(kind, text, room);
        Packet::Chat(Chat {
            encrypted,
            text,
            payload,
            sent,
            action,
            room: room.map(str::to_string),
            seq: seq.filter(|_| self.is_tcpplay()),
            ..Default::default()
        })
    }

    /// The `room` field for `room`: none for the server's default room
    /// (whose lines carry none), or on a server that knows no rooms.
    pub(crate) fn wire_room<'a>(&self, room: Option<&'a str>) -> Option<&'a str> {
        let default = self.hello.default_room.as_deref()?;
        room.filter(|r| !r.eq_ignore_ascii_case(default))
    }

    /// The rooms to ask for in `auth`: only from a server that has rooms.
    pub(crate) fn auth_rooms(&self) -> Vec<String> {
        match self.hello.default_room {
            Some(_) => self.want_rooms.clone(),
            None => Vec::new(),
        }
    }

    /// The server's default room, when it has rooms.
    pub fn default_room(&self) -> Option<&str> {
        self.hello.default_room.as_deref()
    }

    /// A direct message to `to`, numbered `seq`.
    pub fn dm(&self, to: &str, text: &str, seq: Option<u64>) -> Packet {
        let (encrypted, text, payload, sent) = self.body(Kind::Dm { to }, text, None);
        Packet::Dm(Dm {
            encrypted,
            to: to.to_string(),
            text,
            payload,
            sent,
            seq,
            ..Default::default()
        })
    }

    /// The server is tcpplay, not the Python original (which knows no
    /// commands and gets only the packets it knows).
    pub(crate) fn is_tcpplay(&self) -> bool {
        self.hello.proto.is_some()
    }

    /// Leave: say goodbye (to a tcpplay server, with the reason) and end our
    /// side; what the server still sends can then be read until it closes.
    pub async fn leave(&mut self, reason: Option<String>) {
        if self.is_tcpplay() {
            let _ = self.send(&Packet::bye(reason.unwrap_or_default())).await;
        }
        let _ = self.conn.shutdown().await;
    }
}

/// The outcome of a successful auth.
pub struct Joined {
    /// The name the server gave us (after de-duplication).
    pub name: String,
    /// The account we are logged in to (absent: a guest).
    pub account: Option<String>,
}

/// Join as `name`. In a secure room `password` is asked for (only then), the
/// key derived, both proofs checked, and the key kept in the connection.
pub async fn authenticate(
    conn: &mut Connection,
    name: &str,
    timeout: Option<Duration>,
    password: impl FnOnce() -> anyhow::Result<crate::secret::Password>,
    account: Option<&crate::secret::Password>,
) -> Result<Joined, ClientError> {
    let t = conn.transport.addr.to_string();
    let phase = "waiting for the auth result";
    let login = match account {
        Some(pw) if conn.hello.accounts.is_some() => Some(account::Pending::new(pw)?),
        Some(_) => {
            return Err(ClientError::Auth(
                "an account password was given, but this server has no accounts (they need TLS):                  join without --account-password-file and TCPPLAY_ACCOUNT_PASSWORD"
                    .into(),
            ))
        }
        None => None,
    };
    if conn.hello.secure {
        let offer = secure::check_offer(conn)?;
        let (name, key) = secure::login(conn, name, password()?, &offer, timeout, login).await?;
        conn.key = Some(std::sync::Arc::new(key));
        conn.me = Me::new(&name.name);
        return Ok(name);
    }
    let (login, ke1) = match login {
        Some((p, ke1)) => (Some(p), Some(ke1)),
        None => (None, None),
    };
    let auth = Packet::Auth(Auth {
        name: name.to_string(),
        // Only to a tcpplay server: the Python host gets exactly what it knows.
        proto: conn.hello.proto.map(|_| protocol::PROTO_VERSION),
        rooms: conn.auth_rooms(),
        account_ke1: ke1,
        ..Default::default()
    });
    conn.send(&auth).await?;
    if let Some(p) = login {
        p.finish(conn, name, timeout).await?;
    }
    let result = transport::with_timeout(await_auth_result(conn), phase, &t, timeout).await?;
    conn.me = Me::new(&result.name);
    Ok(result)
}

pub(crate) async fn await_auth_result(conn: &mut Connection) -> Result<Joined, ClientError> {
    loop {
        let Some(packet) = conn.next().await? else {
            return Err(ClientError::Protocol(
                "the server closed the connection".into(),
            ));
        };
        match packet {
            Packet::AuthResult(r) if r.ok => {
                return Ok(Joined {
                    name: r.client_name.unwrap_or_else(|| "unknown".into()),
                    account: r.account.filter(|a| crate::names::validate_name(a).is_ok()),
                })
            }
            other => match refusal(other) {
                Some(e) => return Err(e),
                None => continue,
            },
        }
    }
}

/// A refused login (`auth_result` not ok, or an `error`) as the user reads
/// it; `None` for any other packet.
pub(crate) fn refusal(packet: Packet) -> Option<ClientError> {
    match packet {
        Packet::AuthResult(r) if !r.ok => {
            let reason = r
                .reason
                .unwrap_or_else(|| "the server refused without a reason".into());
            if r.code.as_deref() == Some(protocol::codes::NAME_REGISTERED) {
                return Some(ClientError::NeedsAccount(
                    crate::names::sanitize(&reason).into_owned(),
                ));
            }
            let hint = match r.code.as_deref() {
                Some(protocol::codes::AUTH_FAILED) => ": check the room password",
                Some(protocol::codes::UPGRADE_REQUIRED) => " (upgrade tcpplay)",
                _ => "",
            };
            Some(ClientError::Auth(format!(
                "{}{hint}",
                crate::names::sanitize(&reason)
            )))
        }
        Packet::Error(e) => Some(ClientError::Auth(format!(
            "{} ({})",
            crate::names::sanitize(&e.message),
            crate::names::sanitize(&e.code)
        ))),
        _ => None,
    }
}
