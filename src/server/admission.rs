//! One admission path for every listener: the chat port (plaintext or TLS),
//! the web address, and any other front end. A connection is let in here or
//! nowhere, so each limit is counted once across all of them — two listeners
//! never admit twice a limit.
//!
//! A listener calls [`Gate::admit`] (through `Ctx::admit`) right after
//! `accept`, with its [`Door`] and the peer's address, and keeps the
//! [`Admission`] it gets for the connection's whole life: dropping it gives
//! back everything it holds. What it holds, and the setting that bounds it:
//!
//! - a place among the connections from the peer's address
//!   (`max_clients_per_address`, `new_connections_per_minute`);
//! - on the web address, a place among its open connections
//!   (`max_web_connections`, at most half the process's descriptors, so that
//!   browsers can never take the chat port's);
//! - while it has not joined, a handshake permit (`max_handshakes`): taken at
//!   once on the chat port and other front ends, and by [`Admission::handshake`]
//!   when a web connection asks for the WebSocket (a page load is no member);
//! - once it has joined ([`Admission::join`]), a member's place
//!   (`max_clients`) instead of the handshake permit.
//!
//! A [`Refusal`] says which limit refused and is already counted in the
//! metrics and logged; the listener tells the peer in its own form (a
//! protocol `error`, an HTTP status, an IRC `ERROR`) with
//! [`Refusal`]'s text, and closes.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::limits::addresses::{AddrGuard, AddrRefusal, Addresses};
use super::limits::Limit;
use super::metrics::Metrics;
use crate::config::Limits;
use crate::protocol::codes;

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Door {
    /// The chat port (`serve --port`), plaintext or TLS.
    Chat,
    /// The web address (`serve --web`): the page, and the WebSocket.
    Web,
    /// The IRC listener (`serve --irc`).
    Irc,
}

impl Door {
    fn name(self) -> &'static str {
        match self {
            Door::Chat => "chat",
            Door::Web => "web",
            Door::Irc => "irc",
        }
    }
}

/// Why a connection was not let in (or not let further).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `max_clients_per_address` connections from this address are open.
    PerAddress(usize),
    /// `new_connections_per_minute` from this address in the last minute.
    TooFast(usize),
    /// `max_web_connections` (or half the descriptors) are open on the web address.
    WebConnections(usize),
    /// `max_handshakes` connections are still joining.
    Handshakes(usize),
    /// `max_clients` members are in.
    Full(usize),
}

impl Refusal {
    /// The limit that fired (metrics and logs name it so).
    pub(crate) fn limit(self) -> Limit {
        match self {
            Refusal::PerAddress(_) => Limit::MaxClientsPerAddress,
            Refusal::TooFast(_) => Limit::NewConnectionsPerMinute,
            Refusal::WebConnections(_) => Limit::MaxWebConnections,
            Refusal::Handshakes(_) => Limit::MaxHandshakes,
            Refusal::Full(_) => Limit::MaxClients,
        }
    }

    /// The protocol's error code for it.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Refusal::PerAddress(_) | Refusal::TooFast(_) => codes::TOO_MANY_CONNECTIONS,
            _ => codes::SERVER_FULL,
        }
    }

    /// The HTTP status for it: 429 for the peer's own address, else 503.
    pub(crate) fn http_status(self) -> u16 {
        match self {
            Refusal::PerAddress(_) | Refusal::TooFast(_) => 429,
            _ => 503,
        }
    }
}

/// What the peer reads: the limit, its value and what to do.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Refusal::PerAddress(n) => write!(f, "too many connections from your address (limits.max_clients_per_address = {n}): close one first"),
            Refusal::TooFast(n) => write!(f, "too many new connections from your address (limits.new_connections_per_minute = {n}): wait a minute"),
            Refusal::WebConnections(n) => write!(f, "the web address has as many connections as it takes ({n}, limits.max_web_connections): try again in a moment"),
            Refusal::Handshakes(n) => write!(f, "too many connections are joining at once (limits.max_handshakes = {n}): try again in a moment"),
            Refusal::Full(n) => write!(f, "server full ({n} members, limits.max_clients): try again later"),
        }
    }
}

/// The counters every listener shares; one per server.
pub(crate) struct Gate {
    addresses: Arc<Addresses>,
    handshakes: Arc<Semaphore>,
    handshake_cap: usize,
    web: Arc<Semaphore>,
    web_cap: usize,
    members: Arc<Semaphore>,
    members_cap: usize,
    metrics: Arc<Metrics>,
}

impl Gate {
    /// Sized by `limits` at start (a reload does not resize these).
    pub(crate) fn new(limits: &Limits, metrics: Arc<Metrics>) -> Gate {
        let web_cap = web_cap(limits.max_web_connections, descriptor_limit());
        Gate {
            addresses: Arc::default(),
            handshakes: Arc::new(Semaphore::new(limits.max_handshakes)),
            handshake_cap: limits.max_handshakes,
            web: Arc::new(Semaphore::new(web_cap)),
            web_cap,
            members: Arc::new(Semaphore::new(limits.max_clients)),
            members_cap: limits.max_clients,
            metrics,
        }
    }

    /// Let a connection from `peer` in on `door`, or say which limit
    /// refuses it (counted and logged here). The per-address limits come
    /// first, so one address cannot spend the places everyone shares.
    pub(crate) fn admit(
        self: &Arc<Self>,
        door: Door,
        peer: SocketAddr,
        limits: &Limits,
    ) -> Result<Admission, Refusal> {
        let refused = |r: Refusal| self.refused(door, peer, r);
        let address = self
            .addresses
            .admit(peer.ip(), limits)
            .map_err(|e| match e {
                AddrRefusal::TooMany(n) => refused(Refusal::PerAddress(n)),
                AddrRefusal::TooFast(n) => refused(Refusal::TooFast(n)),
            })?;
        let mut tickets = Tickets {
            gate: self.clone(),
            door,
            peer,
            _address: address,
            web: None,
            handshake: None,
            member: None,
        };
        if door == Door::Web {
            let permit = self.web.clone().try_acquire_owned();
            tickets.web = Some(permit.map_err(|_| refused(Refusal::WebConnections(self.web_cap)))?);
        } else {
            tickets.handshake = Some(self.handshake_permit(door, peer)?);
        }
        Ok(Admission(Box::new(tickets)))
    }

    fn handshake_permit(
        &self,
        door: Door,
        peer: SocketAddr,
    ) -> Result<OwnedSemaphorePermit, Refusal> {
        self.handshakes
            .clone()
            .try_acquire_owned()
            .map_err(|_| self.refused(door, peer, Refusal::Handshakes(self.handshake_cap)))
    }

    fn refused(&self, door: Door, peer: SocketAddr, r: Refusal) -> Refusal {
        let limit = r.limit();
        self.metrics.bump(limit);
        tracing::warn!(%peer, door = door.name(), limit = limit.name(), "refused: {r}");
        r
    }

    /// Web connections at most: `max_web_connections`, or half the
    /// descriptors when that is less.
    pub(crate) fn web_cap(&self) -> usize {
        self.web_cap
    }

    /// No member's place is free (said right after `hello`, before auth).
    pub(crate) fn full(&self) -> bool {
        self.members.available_permits() == 0
    }
}

/// A connection's places, given back when it is dropped. Boxed: every
/// connection's task keeps it for its whole life, so it takes one word there.
pub(crate) struct Admission(Box<Tickets>);

struct Tickets {
    gate: Arc<Gate>,
    door: Door,
    peer: SocketAddr,
    _address: AddrGuard,
    web: Option<OwnedSemaphorePermit>,
    handshake: Option<OwnedSemaphorePermit>,
    member: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// A web connection asks for the WebSocket: it takes a handshake permit
    /// until it joins. (A no-op when it holds one or has joined.)
    pub(crate) fn handshake(&mut self, peer: SocketAddr) -> Result<(), Refusal> {
        let t = &mut *self.0;
        if t.handshake.is_none() && t.member.is_none() {
            t.handshake = Some(t.gate.handshake_permit(Door::Web, peer)?);
        }
        Ok(())
    }

    /// Is there a member's place free now? (Asked before the login, so a
    /// full server says so at once; the refusal is counted and logged.)
    pub(crate) fn room_for_member(&self) -> Result<(), Refusal> {
        let t = &*self.0;
        if t.member.is_none() && t.gate.full() {
            return Err(t
                .gate
                .refused(t.door, t.peer, Refusal::Full(t.gate.members_cap)));
        }
        Ok(())
    }

    /// The connection has joined: its handshake permit becomes a member's
    /// place (`max_clients`), or it is refused as the server is full
    /// (counted and logged; the caller says so).
    pub(crate) fn join(&mut self) -> Result<(), Refusal> {
        let t = &mut *self.0;
        if t.member.is_none() {
            let Ok(permit) = t.gate.members.clone().try_acquire_owned() else {
                return Err(t
                    .gate
                    .refused(t.door, t.peer, Refusal::Full(t.gate.members_cap)));
            };
            t.member = Some(permit);
            t.handshake = None;
        }
        Ok(())
    }

    /// The member has left: its place is free at once, while the connection
    /// still says goodbye (its address's place is kept until it is dropped).
    pub(crate) fn leave(&mut self) {
        self.0.member = None;
    }

    /// Holds a web connection's place (for tests of the accounting).
    #[cfg(test)]
    fn holds_web(&self) -> bool {
        self.0.web.is_some()
    }
}

/// The process's soft limit on open descriptors (`ulimit -n`), if known.
fn descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0
            && lim.rlim_cur != libc::RLIM_INFINITY
        {
            #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
            return Some(lim.rlim_cur as u64);
        }
    }
    None
}

/// Web connections at most: the setting, and never more than half the
/// descriptors left after a reserve for the server's own files, so the chat
/// port always has the other half.
fn web_cap(setting: usize, descriptors: Option<u64>) -> usize {
    const RESERVE: u64 = 64;
    match descriptors {
        Some(n) => setting.min((n.saturating_sub(RESERVE) / 2).max(1) as usize),
        None => setting,
    }
}

/// The next connection on a web or IRC listener, with `TCP_NODELAY`; `None`
/// at shutdown. An accept that fails (out of descriptors and the like) is
/// retried after a pause: the chat port's loop logs those.
pub(crate) async fn next_connection(
    listener: &tokio::net::TcpListener,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return Some((stream, peer));
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(limits: &Limits) -> Arc<Gate> {
        Arc::new(Gate::new(limits, Arc::new(Metrics::new(None, None))))
    }

    fn at(ip: &str) -> SocketAddr {
        format!("{ip}:5000").parse().unwrap()
    }

    #[test]
    fn every_door_counts_against_one_set_of_limits() {
        let limits = Limits {
            max_clients_per_address: 3,
            max_handshakes: 2,
            max_clients: 1,
            ..Limits::default()
        };
        let g = gate(&limits);
        // The address's places are shared by the chat port and the web.
        let a = g.admit(Door::Chat, at("192.0.2.1"), &limits).unwrap();
        let mut w = g.admit(Door::Web, at("192.0.2.1"), &limits).unwrap();
        assert!(w.holds_web());
        let _b = g.admit(Door::Irc, at("192.0.2.1"), &limits).unwrap();
        assert_eq!(
            g.admit(Door::Web, at("192.0.2.1"), &limits).err(),
            Some(Refusal::PerAddress(3))
        );
        // Two handshakes are held (chat, irc): the web's upgrade is refused,
        // and so is another chat connection from elsewhere.
        assert_eq!(w.handshake(at("192.0.2.1")), Err(Refusal::Handshakes(2)));
        assert_eq!(
            g.admit(Door::Chat, at("192.0.2.9"), &limits).err(),
            Some(Refusal::Handshakes(2))
        );
        // Joining frees the handshake permit for the next one.
        let mut a = a;
        a.join().unwrap();
        w.handshake(at("192.0.2.1")).unwrap();
        assert!(matches!(w.join(), Err(Refusal::Full(_))));
        drop(a);
        w.join().unwrap();
        let m = g.metrics.summary();
        assert!(m.contains("max_clients_per_address=1"), "{m}");
        assert!(m.contains("max_handshakes=2"), "{m}");
    }

    #[test]
    fn web_connections_never_take_more_than_half_the_descriptors() {
        assert_eq!(web_cap(1024, Some(1024)), 480);
        assert_eq!(web_cap(100, Some(1024)), 100);
        assert_eq!(web_cap(1024, None), 1024);
        assert_eq!(web_cap(1024, Some(10)), 1);
        let limits = Limits {
            max_web_connections: 1,
            max_clients_per_address: 0,
            ..Limits::default()
        };
        let g = gate(&limits);
        let _w = g.admit(Door::Web, at("192.0.2.1"), &limits).unwrap();
        assert_eq!(
            g.admit(Door::Web, at("192.0.2.2"), &limits).err(),
            Some(Refusal::WebConnections(1))
        );
        // The chat port is not the web's to fill.
        g.admit(Door::Chat, at("192.0.2.2"), &limits).unwrap();
    }
}
