//! The chat server: the accept loop (here), each connection's transport
//! set-up (`transport`) and session (`session`), the room and its history,
//! limits and metrics (`metrics`: `/metrics`, `/healthz`, `/readyz`), the
//! operator console and reloads. [`Server::run`] takes its
//! listener and shutdown token from the caller, so tests bind port 0 and stop
//! it when they like. Nothing here sees clap or figment: the binary hands in
//! [`ServerOptions`].

pub(crate) mod accounts;
mod admission;
mod archive;
mod body;
pub(crate) mod cluster;
mod ctx;
mod history;
mod irc;
mod limits;
pub(crate) mod metrics;
mod misdirected;
pub(crate) mod operator;
mod reload;
mod room;
mod secure;
mod session;
mod transport;
pub(crate) mod web;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) use ctx::Ctx;
pub(crate) use history::{open_for as open_history, HistoryDb, HistorySetup};
use limits::addresses::AuthThrottle;
use metrics::Metrics;
pub(crate) use reload::Reload;
use room::Hub;
pub(crate) use room::RoomDecl;
pub(crate) use secure::{read_record, record_file_text, RecordSource, SecureRoom, SetupError};

use crate::config::{secs, Limits};

/// Everything `run` needs besides the socket.
pub(crate) struct ServerOptions {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub limits: Limits,
    /// Drop clients silent for this long (`serve.timeout`).
    pub idle_timeout: Option<Duration>,
    /// A password-protected room (needs `tls`).
    pub secure: Option<Arc<SecureRoom>>,
    /// Where history is kept (default: nowhere).
    pub history: HistorySetup,
    /// Message of the day, sent to each member after joining.
    pub motd: Option<String>,
    /// The room clients are in when they ask for none (a valid room name).
    pub default_room: String,
    /// Rooms that exist from the start and stay when empty.
    pub rooms: Vec<RoomDecl>,
    /// Members may make rooms.
    pub create_rooms: bool,
    /// Cluster mode: rooms span the nodes through Redis.
    pub cluster: Option<Arc<cluster::Cluster>>,
    /// Accounts and rooms' rules (TLS servers).
    pub accounts: Option<Arc<accounts::Accounts>>,
}

#[cfg(test)]
impl Ctx {
    pub(crate) fn for_tests() -> Ctx {
        Ctx::for_tests_with(None)
    }

    /// A context with this idle timeout (`serve --timeout`).
    pub(crate) fn for_tests_with(idle_timeout: Option<Duration>) -> Ctx {
        let opts = ServerOptions {
            tls: None,
            limits: Limits::default(),
            idle_timeout,
            secure: None,
            history: HistorySetup::default(),
            motd: None,
            default_room: "#lobby".into(),
            rooms: Vec::new(),
            create_rooms: true,
            cluster: None,
            accounts: None,
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

/// The rooms the settings declare (`[[rooms]]`; their names were checked
/// when the settings were read).
pub(crate) fn room_decls(s: &crate::config::Settings) -> Vec<RoomDecl> {
    s.rooms
        .iter()
        .filter_map(|r| {
            Some(RoomDecl {
                name: crate::names::room_name(&r.name).ok()?,
                topic: r.topic.clone().filter(|t| !t.trim().is_empty()),
                motd: r.motd.clone().filter(|t| !t.trim().is_empty()),
                operators: r.operators.clone(),
            })
        })
        .collect()
}

/// How long shutdown waits for sessions to say goodbye before it gives up.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// A bound server, before it runs: lets the caller wire up a console first.
pub(crate) struct Server {
    listener: TcpListener,
    ctx: Arc<Ctx>,
}

impl Server {
    pub(crate) fn new(
        listener: TcpListener,
        opts: ServerOptions,
        shutdown: CancellationToken,
    ) -> Server {
        let throttle = Arc::new(AuthThrottle::new(
            opts.limits.auth_failures,
            secs(opts.limits.auth_block).unwrap_or_default(),
            opts.limits.auth_failures_total,
        ));
        let room_history_metrics = opts.history.store.as_ref().map(|s| s.metrics().clone());
        let cluster_metrics = opts.cluster.as_ref().map(|c| c.metrics());
        let metrics = Arc::new(Metrics::new(
            room_history_metrics.as_ref(),
            cluster_metrics.as_ref(),
        ));
        let replay = match (&opts.history.store, &opts.cluster) {
            (None, None) => 0,
            _ => opts.history.replay,
        };
        let hub = Hub::new(
            &opts.default_room,
            // Keep twice what a member may lag: one merely not scheduled
            // yet is never overrun.
            2 * opts.limits.send_queue_bytes as u64,
            opts.limits.room_buffer,
            shutdown.clone(),
            opts.history,
            metrics.rooms.clone(),
            opts.cluster.clone().map(|c| c as Arc<dyn room::Relay>),
        );
        hub.set_create(opts.create_rooms);
        if let Some(c) = &opts.cluster {
            c.attach(&hub);
        }
        if let Some(a) = &opts.accounts {
            hub.set_owners(a.clone() as Arc<dyn room::rules::Owners>);
            a.attach(&hub);
        }
        for line in hub.declare(&opts.rooms) {
            tracing::debug!("{line}");
        }
        let ctx = Ctx {
            hub,
            replay,
            archive: archive::Archive::new(opts.cluster.clone()),
            cluster: opts.cluster,
            rt: tokio::runtime::Handle::try_current().ok(),
            secure: opts.secure,
            accounts: opts.accounts,
            throttle,
            gate: Arc::new(admission::Gate::new(&opts.limits, metrics.clone())),
            metrics,
            tls: ArcSwapOption::new(opts.tls),
            limits: ArcSwap::from_pointee(opts.limits),
            motd: ArcSwapOption::new(opts.motd.map(Arc::new)),
            reload: Notify::new(),
            idle_timeout: opts.idle_timeout,
            web: std::sync::OnceLock::new(),
            shutdown,
        };
        Server {
            listener,
            ctx: Arc::new(ctx),
        }
    }

    /// A handle for the console and the reload task.
    pub(crate) fn handle(&self) -> ServerHandle {
        ServerHandle {
            ctx: self.ctx.clone(),
        }
    }

    /// Accept until shutdown, then give sessions a moment to say `bye`.
    pub(crate) async fn run(self) {
        let Server { listener, ctx } = self;
        let tracker = TaskTracker::new();
        let mut accept_errors = 0u32;
        loop {
            let accepted = tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, peer)) => {
                    accept_errors = 0;
                    ctx.metrics.accepted.inc();
                    // Handshake permits bound the connections not yet
                    // joined; a member's place is taken when it has joined
                    // (see `admission`).
                    match ctx.admit(admission::Door::Chat, peer) {
                        Ok(admission) => {
                            let ctx = ctx.clone();
                            ctx.metrics.open.inc();
                            tracker.spawn(async move {
                                transport::handle(stream, peer, ctx.clone(), admission).await;
                                ctx.metrics.open.dec();
                            });
                        }
                        Err(refusal) => {
                            tracker.spawn(transport::refuse(stream, ctx.clone(), refusal));
                        }
                    }
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
        ctx.hub.close();
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some clients did not take their goodbye in time; closing anyway");
        }
        // What was said last is written before the process ends.
        let hub = ctx.hub.clone();
        let flushed = tokio::task::spawn_blocking(move || {
            hub.history()
                .is_none_or(|h| h.flush(Duration::from_secs(5)))
        })
        .await;
        if !matches!(flushed, Ok(true)) {
            tracing::warn!("history: the last messages may not have been written");
        }
        tracing::info!("refusals and drops by limit: {}", ctx.metrics.summary());
    }
}

/// The operator's handle on a running server: the room, the message of the
/// day, and reloads.
#[derive(Clone)]
pub(crate) struct ServerHandle {
    ctx: Arc<Ctx>,
}

impl ServerHandle {
    /// Serve browsers on `listener` until shutdown (see [`web`]).
    pub(crate) fn serve_web(
        &self,
        listener: tokio::net::TcpListener,
        origins: Vec<String>,
        names: Vec<String>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        if let Ok(at) = listener.local_addr() {
            let _ = self.ctx.web.set(at);
        }
        web::serve(listener, self.ctx.clone(), origins, web::Hosts::new(names))
    }

    /// Serve IRC clients on `listener` until shutdown (see [`irc`]).
    /// IRC clients on `listener`; `sasl_plain`: `[irc] sasl_plain`
    /// (offered over TLS only, to a server with accounts).
    pub(crate) fn serve_irc(
        &self,
        listener: tokio::net::TcpListener,
        sasl_plain: bool,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        irc::serve(listener, self.ctx.clone(), sasl_plain)
    }

    pub(crate) fn hub(&self) -> Arc<Hub> {
        self.ctx.hub.clone()
    }

    /// Cluster mode: ask the node of the member called `name` to remove
    /// them (from the console's thread). False when no live node has them.
    pub(crate) fn kick_elsewhere(&self, name: &str, reason: &str) -> bool {
        match (&self.ctx.cluster, &self.ctx.rt) {
            (Some(c), Some(rt)) => rt.block_on(c.kick(name, reason)),
            _ => false,
        }
    }

    pub(crate) fn shutdown(&self) -> CancellationToken {
        self.ctx.shutdown.clone()
    }

    pub(crate) fn secure(&self) -> Option<Arc<SecureRoom>> {
        self.ctx.secure.clone()
    }

    /// Serving TLS (a reload can change the certificate, not this).
    pub(crate) fn is_tls(&self) -> bool {
        self.ctx.is_tls()
    }

    pub(crate) fn motd(&self) -> Option<Arc<String>> {
        self.ctx.motd.load_full()
    }

    pub(crate) fn set_motd(&self, motd: Option<String>) {
        self.ctx.motd.store(motd.map(Arc::new));
    }

    /// Ask for a reload (what SIGHUP does); the binary's reload task answers.
    pub(crate) fn request_reload(&self) {
        self.ctx.reload.notify_one();
    }

    /// Wait for the next `request_reload`.
    pub(crate) async fn reload_requested(&self) {
        self.ctx.reload.notified().await
    }

    /// The server's metrics (`/metrics`, the shutdown summary).
    pub(crate) fn metrics(&self) -> Arc<Metrics> {
        self.ctx.metrics.clone()
    }

    /// Ready to serve: listening, and the history (when kept) writable.
    pub(crate) fn ready(&self) -> Result<(), String> {
        if self.ctx.shutdown.is_cancelled() {
            return Err("shutting down".into());
        }
        if let Some(c) = &self.ctx.cluster {
            if !c.is_up() {
                return Err("the cluster's Redis is unreachable".into());
            }
            if let Some(why) = c.refusing() {
                return Err(why);
            }
        }
        match self.ctx.hub.history() {
            Some(h) if !h.alive() => Err("the history writer stopped".into()),
            Some(h) if h.failing() => Err("the history database cannot be written".into()),
            _ => Ok(()),
        }
    }
}
