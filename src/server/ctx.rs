//! What every session shares: the rooms (the hub), the settings that a reload can swap
//! (limits, certificate, message of the day), the per-address limits, the
//! counters, and the shutdown token; and the `hello` each connection gets.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::admission::{Admission, Door, Gate, Refusal};
use super::limits::addresses::AuthThrottle;
use super::metrics::Metrics;
use super::room::Hub;
use super::secure::SecureRoom;
use crate::config::{secs, Limits};
use crate::protocol::{self, Hello, HelloLimits, Packet};

pub(crate) struct Ctx {
    pub(super) hub: Arc<Hub>,
    /// Messages replayed to each member joining a room.
    pub(super) replay: usize,
    /// Cluster mode: rooms span the nodes through Redis.
    pub(super) cluster: Option<Arc<super::cluster::Cluster>>,
    /// Where the rooms' past lines are kept.
    pub(super) archive: super::archive::Archive,
    /// The runtime, for the console's thread to wait on the cluster.
    pub(super) rt: Option<tokio::runtime::Handle>,
    /// Swapped by a reload: new connections use the new certificate.
    pub(super) tls: ArcSwapOption<rustls::ServerConfig>,
    /// Swapped by a reload; read where used.
    pub(super) limits: ArcSwap<Limits>,
    pub(super) motd: ArcSwapOption<String>,
    /// Rung by the console's `/reload` (SIGHUP is caught by the binary).
    pub(super) reload: Notify,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) secure: Option<Arc<SecureRoom>>,
    /// Accounts (TLS servers with an accounts database).
    pub(super) accounts: Option<Arc<super::accounts::Accounts>>,
    /// Failed secure-room logins per source address.
    pub(super) throttle: Arc<AuthThrottle>,
    /// Every listener's admission: per address, handshakes, members, web.
    pub(super) gate: Arc<Gate>,
    /// Every limit that fired (summed at shutdown).
    pub(super) metrics: Arc<Metrics>,
    /// Where the page is served (`serve --web`), once it is: the chat port
    /// tells a browser that finds it.
    pub(super) web: std::sync::OnceLock<std::net::SocketAddr>,
    /// Cancelled once at shutdown: sessions say `bye` and close.
    pub(super) shutdown: CancellationToken,
}

impl Ctx {
    pub(crate) fn limits(&self) -> arc_swap::Guard<Arc<Limits>> {
        self.limits.load()
    }

    /// Messages replayed to each member joining a room (0: no history).
    pub(super) fn replay(&self) -> usize {
        self.replay
    }

    pub(super) fn handshake_timeout(&self) -> Duration {
        secs(self.limits().handshake_timeout).unwrap_or(Duration::from_secs(3600))
    }

    pub(super) fn write_timeout(&self) -> Duration {
        secs(self.limits().write_timeout).unwrap_or(Duration::from_secs(3600))
    }

    /// No member slot is free (said right after `hello`, before auth).
    pub(super) fn full(&self) -> bool {
        self.gate.full()
    }

    /// Let a connection from `peer` in on `door` (see [`super::admission`]):
    /// every listener calls this right after `accept` and keeps the
    /// [`Admission`] for the connection's life.
    pub(super) fn admit(
        &self,
        door: Door,
        peer: std::net::SocketAddr,
    ) -> Result<Admission, Refusal> {
        self.gate.admit(door, peer, &self.limits())
    }

    /// The acceptor for a new connection (`None`: a plaintext server).
    pub(super) fn tls(&self) -> Option<TlsAcceptor> {
        self.tls.load_full().map(TlsAcceptor::from)
    }

    pub(super) fn is_tls(&self) -> bool {
        self.tls.load().is_some()
    }

    /// The first packet of every connection: who we are, the secure room's
    /// parameters, and the limits a
    /// client paces itself by.
    pub(super) fn hello(&self) -> Packet {
        let auth = self.secure.as_ref().map(|room| room.offer());
        let l = self.limits();
        Packet::Hello(Hello {
            secure: self.secure.is_some(),
            proto: Some(protocol::PROTO_VERSION),
            server: Some(protocol::SERVER_SOFTWARE.into()),
            auth,
            limits: Some(HelloLimits {
                messages_per_second: l.messages_per_second,
                message_burst: l.message_burst,
                max_text_chars: l.max_text_chars,
                max_frame_bytes: l.max_frame_bytes,
            }),
            default_room: Some(self.hub.default_room().name().to_string()),
            accounts: self.accounts.as_ref().map(|a| a.registration.offer()),
        })
    }
}
