//! The chat server: accept loop, per-connection sessions, the room, the
//! operator console. [`run`] takes its listener and shutdown token from the
//! caller, so tests bind port 0 and stop it when they like.

mod auth;
mod console;
pub mod history;
pub mod limits;
pub mod room;
pub mod secure;
mod session;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use console::{spawn_console_input, spawn_console_printer};
use room::{HistorySetup, Room};
use secure::{AuthThrottle, SecureRoom};

use crate::config::{secs, Limits};

/// Everything `run` needs besides the socket.
pub struct ServerOptions {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub limits: Limits,
    /// Drop clients silent for this long (`serve.timeout`).
    pub idle_timeout: Option<Duration>,
    /// Do not log chat lines.
    pub quiet: bool,
    /// A password-protected room (needs `tls`).
    pub secure: Option<Arc<SecureRoom>>,
    /// Where history is kept (default: nowhere).
    pub history: HistorySetup,
    /// Message of the day, sent to each member after joining.
    pub motd: Option<String>,
}

/// Shared by every session.
pub(crate) struct Ctx {
    room: Arc<Room>,
    /// Swapped by a reload: new connections use the new certificate.
    tls: ArcSwapOption<rustls::ServerConfig>,
    /// Swapped by a reload; read where used.
    limits: ArcSwap<Limits>,
    motd: ArcSwapOption<String>,
    /// Rung by the console's `/reload` (SIGHUP is caught by the binary).
    reload: Notify,
    idle_timeout: Option<Duration>,
    quiet: bool,
    secure: Option<Arc<SecureRoom>>,
    throttle: AuthThrottle,
    /// Open and recent connections per source address.
    addresses: Arc<limits::Addresses>,
    /// Every refusal, by limit (logged at shutdown).
    counters: limits::Counters,
    /// Cancelled once at shutdown: sessions say `bye` and close.
    shutdown: CancellationToken,
}

#[cfg(test)]
impl Ctx {
    pub(crate) fn for_tests() -> Ctx {
        let opts = ServerOptions {
            tls: None,
            limits: Limits::default(),
            idle_timeout: None,
            quiet: true,
            secure: None,
            history: HistorySetup::default(),
            motd: None,
        };
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let s = Server::new(
            TcpListener::from_std(l).unwrap(),
            opts,
            CancellationToken::new(),
        );
        Arc::try_unwrap(s.ctx).ok().unwrap()
    }
}

/// How long shutdown waits for sessions to say goodbye before it gives up.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// A bound server, before it runs: lets the caller wire up a console first.
pub struct Server {
    listener: TcpListener,
    ctx: Arc<Ctx>,
}

impl Server {
    pub fn new(listener: TcpListener, opts: ServerOptions, shutdown: CancellationToken) -> Server {
        let throttle = AuthThrottle::new(
            opts.limits.auth_failures,
            secs(opts.limits.auth_block).unwrap_or_default(),
        );
        let ctx = Ctx {
            room: Room::with_history(opts.limits.room_buffer, shutdown.clone(), opts.history),
            secure: opts.secure,
            throttle,
            addresses: Arc::default(),
            counters: limits::Counters::default(),
            tls: ArcSwapOption::new(opts.tls),
            limits: ArcSwap::from_pointee(opts.limits),
            motd: ArcSwapOption::new(opts.motd.map(Arc::new)),
            reload: Notify::new(),
            idle_timeout: opts.idle_timeout,
            quiet: opts.quiet,
            shutdown,
        };
        Server {
            listener,
            ctx: Arc::new(ctx),
        }
    }

    pub fn room(&self) -> Arc<Room> {
        self.ctx.room.clone()
    }

    /// A handle for the console and the reload task.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            ctx: self.ctx.clone(),
        }
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept until shutdown, then give sessions a moment to say `bye`.
    pub async fn run(self) {
        let Server { listener, ctx } = self;
        let tracker = TaskTracker::new();
        // Client slots: a permit per connected client; taken after accept so
        // that a full server can still say so instead of leaving clients hanging.
        let slots = Arc::new(Semaphore::new(ctx.limits().max_clients));
        let mut accept_errors = 0u32;
        loop {
            let accepted = tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, peer)) => {
                    accept_errors = 0;
                    let slot = slots.clone().try_acquire_owned().ok();
                    tracker.spawn(transport::handle(stream, peer, ctx.clone(), slot));
                }
                Err(e) => {
                    // Out of descriptors and the like: back off, keep serving,
                    // and log once per burst rather than once per attempt.
                    if accept_errors == 0 {
                        tracing::warn!("accept failed: {e}; backing off");
                    }
                    accept_errors = accept_errors.saturating_add(1);
                    let pause = Duration::from_millis(10u64 << accept_errors.min(7));
                    tokio::select! {
                        _ = ctx.shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
        drop(listener);
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some clients did not take their goodbye in time; closing anyway");
        }
        tracing::info!("refusals and drops by limit: {}", ctx.counters.summary());
    }
}

impl Ctx {
    pub(crate) fn limits(&self) -> arc_swap::Guard<Arc<Limits>> {
        self.limits.load()
    }

    fn handshake_timeout(&self) -> Duration {
        secs(self.limits().handshake_timeout).unwrap_or(Duration::from_secs(3600))
    }

    fn write_timeout(&self) -> Duration {
        secs(self.limits().write_timeout).unwrap_or(Duration::from_secs(3600))
    }

    /// The acceptor for a new connection (`None`: a plaintext server).
    fn tls(&self) -> Option<TlsAcceptor> {
        self.tls.load_full().map(TlsAcceptor::from)
    }

    fn is_tls(&self) -> bool {
        self.tls.load().is_some()
    }
}

/// What a reload can change while the server runs.
pub struct Reload {
    pub limits: Limits,
    pub motd: Option<String>,
    /// A new certificate/key (only for a server that already serves TLS).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Settings whose change needs a restart (for the reload's report).
pub const RESTART_LIMITS: [&str; 4] = ["max_clients", "room_buffer", "auth_failures", "auth_block"];

/// The operator's handle on a running server: the room, the message of the
/// day, and reloads.
#[derive(Clone)]
pub struct ServerHandle {
    ctx: Arc<Ctx>,
}

impl ServerHandle {
    pub fn room(&self) -> Arc<Room> {
        self.ctx.room.clone()
    }

    pub fn shutdown(&self) -> CancellationToken {
        self.ctx.shutdown.clone()
    }

    pub fn secure(&self) -> Option<Arc<SecureRoom>> {
        self.ctx.secure.clone()
    }

    /// Serving TLS (a reload can change the certificate, not this).
    pub fn is_tls(&self) -> bool {
        self.ctx.is_tls()
    }

    pub fn motd(&self) -> Option<Arc<String>> {
        self.ctx.motd.load_full()
    }

    pub fn set_motd(&self, motd: Option<String>) {
        self.ctx.motd.store(motd.map(Arc::new));
    }

    /// Ask for a reload (what SIGHUP does); the binary's reload task answers.
    pub fn request_reload(&self) {
        self.ctx.reload.notify_one();
    }

    /// Wait for the next `request_reload`.
    pub async fn reload_requested(&self) {
        self.ctx.reload.notified().await
    }

    /// Apply what can change live; one line per change, saying whether it
    /// applies now or needs a restart.
    pub fn apply(&self, new: Reload) -> Vec<String> {
        let mut report = Vec::new();
        let old = self.ctx.limits.load_full();
        let (a, b) = (
            serde_json::to_value(&*old).unwrap_or_default(),
            serde_json::to_value(&new.limits).unwrap_or_default(),
        );
        if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
            for (key, value) in b {
                if a.get(key) != Some(value) {
                    let was = a.get(key).map(|v| v.to_string()).unwrap_or_default();
                    if RESTART_LIMITS.contains(&key.as_str()) {
                        report.push(format!("limits.{key}: {was} -> {value} (needs a restart)"));
                    } else {
                        report.push(format!("limits.{key}: {was} -> {value} (applied)"));
                    }
                }
            }
        }
        self.ctx.limits.store(Arc::new(new.limits));
        if self.motd().as_deref() != new.motd.as_ref() {
            report.push("message of the day changed (applied to new joins)".into());
            self.set_motd(new.motd);
        }
        if let Some(tls) = new.tls.filter(|_| self.ctx.is_tls()) {
            self.ctx.tls.store(Some(tls));
            report.push("certificate and key reloaded (new connections use them)".into());
        }
        report
    }
}
