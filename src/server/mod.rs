//! The chat server: accept loop, per-connection sessions, the room, the
//! operator console. [`run`] takes its listener and shutdown token from the
//! caller, so tests bind port 0 and stop it when they like.

mod auth;
mod console;
pub mod limits;
pub mod room;
pub mod secure;
mod session;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use console::{spawn_console_input, spawn_console_printer};
use room::Room;
use secure::{AuthThrottle, SecureRoom};

use crate::config::{secs, Limits};

/// Everything `run` needs besides the socket.
#[derive(Clone)]
pub struct ServerOptions {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub limits: Limits,
    /// Drop clients silent for this long (`serve.timeout`).
    pub idle_timeout: Option<Duration>,
    /// Do not log chat lines.
    pub quiet: bool,
    /// A password-protected room (needs `tls`).
    pub secure: Option<Arc<SecureRoom>>,
}

/// Shared by every session.
pub(crate) struct Ctx {
    room: Arc<Room>,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    handshake_timeout: Duration,
    write_timeout: Duration,
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
            room: Room::new(opts.limits.room_buffer, shutdown.clone()),
            secure: opts.secure,
            throttle,
            addresses: Arc::default(),
            counters: limits::Counters::default(),
            tls: opts.tls.map(TlsAcceptor::from),
            handshake_timeout: secs(opts.limits.handshake_timeout)
                .unwrap_or(Duration::from_secs(3600)),
            write_timeout: secs(opts.limits.write_timeout).unwrap_or(Duration::from_secs(3600)),
            limits: opts.limits,
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

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept until shutdown, then give sessions a moment to say `bye`.
    pub async fn run(self) {
        let Server { listener, ctx } = self;
        let tracker = TaskTracker::new();
        // Client slots: a permit per connected client; taken after accept so
        // that a full server can still say so instead of leaving clients hanging.
        let slots = Arc::new(Semaphore::new(ctx.limits.max_clients));
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
