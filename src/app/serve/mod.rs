//! `tcpplay serve`, wired: settings → certificate, listener, history, the
//! secure room, the console; then run until a signal or `/quit`, reloading
//! on SIGHUP or `/reload`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod commands;
mod console;

use crate::cli::ServeArgs;
use crate::config::{self, secs, usage, Loaded};
use crate::hostport;
use crate::server::{self, HistorySetup, SecureRoom, Server, ServerHandle, ServerOptions};
use crate::{check, output, prompt, secret, tls};

pub async fn serve(
    config_file: Option<PathBuf>,
    no_input: bool,
    mut args: ServeArgs,
) -> Result<u8> {
    let loaded = config::load(config_file.as_deref(), args.flags())?;
    let s = loaded.settings.serve.clone();
    let tls = server_tls(&loaded)?;
    if s.secure && tls.is_none() {
        return Err(usage(
            "secure mode runs over TLS only: make a certificate with `tcpplay gen-cert`, \
             then serve --secure --cert cert.pem --key key.pem",
        ));
    }
    for warning in check::serve_warnings(&loaded) {
        tracing::warn!("{warning}");
    }
    let motd = read_motd(&loaded)?;
    if args.check_config {
        return check_config(&loaded);
    }
    let listener = match passed_listener()? {
        Some(l) => l,
        None => bind(&s.bind, s.port).await?,
    };
    let addr = listener.local_addr()?;
    let cluster = match &loaded.settings.cluster.url {
        Some(url) => Some(start_cluster(&loaded, url, addr).await?),
        None => None,
    };
    // A cluster keeps its history in Redis.
    let db = match cluster {
        Some(_) => None,
        None => history_db(&loaded, addr)?,
    };
    let secure = if s.secure {
        Some(Arc::new(
            secure_room(
                &loaded,
                &mut args,
                no_input,
                db.as_ref(),
                cluster.as_deref(),
            )
            .await?,
        ))
    } else {
        if args.password.is_some() || s.password_file.is_some() {
            tracing::warn!(
                "a password was given but the room is not secure (--secure): it is not used"
            );
        }
        None
    };
    // Never kept for reloads: the password is not needed again.
    args.password = None;
    let mode = match (&tls, &secure) {
        (_, Some(_)) => "tls, secure",
        (Some(_), None) => "tls",
        _ => "plaintext",
    };
    let opts = ServerOptions {
        tls,
        limits: loaded.settings.limits.clone(),
        idle_timeout: secs(s.timeout),
        secure,
        history: match cluster {
            Some(_) => HistorySetup {
                replay: loaded.settings.history.replay,
                ..Default::default()
            },
            None => HistorySetup::start(db, &loaded.settings.history),
        },
        motd,
        default_room: crate::names::room_name(&s.default_room).unwrap_or_else(|_| "#lobby".into()),
        rooms: server::room_decls(&loaded.settings),
        create_rooms: s.create_rooms,
        cluster: cluster.clone(),
    };
    let shutdown = CancellationToken::new();
    let server = Server::new(listener, opts, shutdown.clone());
    // JSON logs are for machines: chat is not echoed unless asked for.
    let quiet = s.quiet || (s.log_format == "json" && loaded.is_default("serve.quiet"));
    console::spawn_printer(&server.handle(), quiet);
    let metrics_addr = match &s.metrics {
        Some(m) => Some(serve_metrics(m, &loaded, &server.handle(), shutdown.clone()).await?),
        None => None,
    };
    // Signals are caught from before the readiness line on (by default SIGINT,
    // SIGTERM and SIGHUP end the process at once, without goodbyes).
    let stop = stop_on_signal(shutdown);
    #[cfg(unix)]
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    output::out(format!("listening on {addr} ({mode}; Ctrl-C to stop)"));
    if let Some(m) = metrics_addr {
        output::out(format!(
            "metrics on http://{m}/metrics (and /healthz, /readyz)"
        ));
    }
    notify_service_manager(Notice::Ready);
    // The console's line editor may still be in `readline` when we return.
    let _term = std::io::stdin()
        .is_terminal()
        .then(crate::terminal::TermGuard::save);
    console::spawn_input(server.handle());
    tokio::spawn(stop);
    tokio::spawn(reload_on_request(
        server.handle(),
        config_file,
        args,
        loaded,
        #[cfg(unix)]
        hup,
    ));
    let handle = server.handle();
    let run = tokio::spawn(server.run());
    handle.shutdown().cancelled().await;
    notify_service_manager(Notice::Stopping);
    let _ = run.await;
    output::clear_printer();
    output::out("server stopped");
    Ok(0)
}

/// Cluster mode: connect to Redis and register this node (named
/// `cluster.node`, else HOSTNAME-PORT).
async fn start_cluster(
    loaded: &Loaded,
    url: &str,
    addr: std::net::SocketAddr,
) -> Result<Arc<server::cluster::Cluster>> {
    let c = &loaded.settings.cluster;
    let source = loaded.source_of("cluster.url");
    // A password in a flag shows in the process list.
    if source.starts_with("flag") && url.split_once("://").is_some_and(|(_, r)| r.contains('@')) {
        tracing::warn!("the cluster URL given on the command line holds a password, which every user of this machine can read in the process list: put it in TCPPLAY_CLUSTER__URL or the config file");
    }
    let node = c.node.clone().unwrap_or_else(|| {
        let host: String = gethostname::gethostname()
            .to_string_lossy()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect();
        format!("{host}-{}", addr.port())
    });
    let cfg = server::cluster::ClusterConfig {
        url: url.to_string(),
        node: node.clone(),
        prefix: c.prefix.clone(),
        max_messages: loaded.settings.history.max_messages,
        rules: server::cluster::entry::Rules {
            secure: loaded.settings.serve.secure,
            max_text_chars: loaded.settings.limits.max_text_chars,
        },
    };
    let cluster = server::cluster::Cluster::start(cfg)
        .await
        .map_err(|e| anyhow::anyhow!("cluster ({} from {source}): {e}", config::redact_url(url)))?;
    tracing::info!(node = %node, prefix = %c.prefix, "cluster: joined through {}", config::redact_url(url));
    Ok(cluster)
}

/// The secure room: its record from `--room-record`, else from the history,
/// else registered from the password (asked only then, or when given).
async fn secure_room(
    loaded: &Loaded,
    args: &mut ServeArgs,
    no_input: bool,
    db: Option<&server::HistoryDb>,
    cluster: Option<&server::cluster::Cluster>,
) -> Result<SecureRoom> {
    let s = &loaded.settings.serve;
    // Cluster mode: every node serves the room whose record Redis keeps.
    let shared = match cluster {
        Some(c) => c
            .room_record()
            .await
            .map_err(|e| anyhow::anyhow!("cluster: cannot read the room record: {e}"))?,
        None => None,
    };
    if args.reset_room {
        match db {
            Some(db) => db
                .reset_room()
                .map_err(|e| anyhow::anyhow!("history {e}"))?,
            None => {
                return Err(usage(
                    "--reset-room needs the history, where the room's record is kept",
                ))
            }
        }
        tracing::warn!("the room's record was reset: its old sealed messages are gone");
    }
    let stored = s.room_record.is_some()
        || shared.is_some()
        || db.is_some_and(|d| matches!(d.room_record(), Ok(Some(_))));
    let given = args.password.is_some()
        || s.password_file.is_some()
        || std::env::var_os(config::ENV_PASSWORD).is_some();
    let password = if !stored || given {
        let sources = secret::Sources {
            flag: args.password.take(),
            file_key: "serve.password_file",
            confirm: true,
            can_prompt: prompt::can_prompt(no_input),
        };
        crate::crypto::no_core_dumps();
        Some(secret::room_password(
            loaded,
            s.password_file.as_deref(),
            sources,
        )?)
    } else {
        None
    };
    let from = server::RecordSource {
        file: s.room_record.as_deref(),
        history: db,
        cluster: shared.as_deref().map(|r| r.as_slice()),
    };
    let room = SecureRoom::start(password, from)
        .await
        .map_err(|e| match e {
            server::SetupError::Usage(m) => usage(m),
            other => anyhow::anyhow!("setting up the secure room: {other}"),
        })?;
    if let (Some(c), None) = (cluster, &shared) {
        // The first node keeps the record for the others; one that lost
        // the race to another node's must serve that one's room.
        let kept = c
            .keep_room_record(&room.record_bytes())
            .await
            .map_err(|e| anyhow::anyhow!("cluster: cannot keep the room record: {e}"))?;
        if !kept {
            return Err(usage(
                "another node of this cluster set up the secure room at the same moment: start this node again (it will serve that room)",
            ));
        }
    }
    Ok(room)
}

/// `serve --check-config`: everything `serve` reads is read (settings,
/// certificate and key, message of the day, the history database, the room
/// record), nothing is bound. Errors have already returned (exit 2).
fn check_config(loaded: &Loaded) -> Result<u8> {
    let s = &loaded.settings.serve;
    let addr = std::net::SocketAddr::new(
        hostport::bare(&s.bind)
            .parse()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
        s.port,
    );
    let db = history_db(loaded, addr)?;
    // What `serve` would read for a secure room, read the same way (nothing
    // is registered or written).
    if let Some(path) = &s.room_record {
        server::read_record(path).map_err(|e| usage(e.to_string()))?;
    } else if s.secure && s.password_file.is_some() {
        let sources = secret::Sources {
            flag: None,
            file_key: "serve.password_file",
            confirm: false,
            can_prompt: false,
        };
        secret::room_password(loaded, s.password_file.as_deref(), sources)?;
    }
    let history = match &db {
        Some(d) => format!("history in {}", d.path().display()),
        None => "no history".into(),
    };
    drop(db);
    output::out(format!(
        "configuration OK: {}:{} ({}; {history}){}",
        hostport::bare(&s.bind),
        s.port,
        if s.secure {
            "tls, secure"
        } else if s.tls || s.cert.is_some() {
            "tls"
        } else {
            "plaintext"
        },
        loaded
            .file
            .as_ref()
            .map(|f| format!(" from {}", f.display()))
            .unwrap_or_default()
    ));
    Ok(0)
}

/// The history database `serve` on `addr` keeps (or none).
fn history_db(loaded: &Loaded, addr: std::net::SocketAddr) -> Result<Option<server::HistoryDb>> {
    let secure = loaded.settings.serve.secure;
    server::open_history(&loaded.settings.history, secure, addr).map_err(|e| {
        usage(format!(
            "history {e}: give this server its own with --history PATH (or --no-history)"
        ))
    })
}

/// A listening socket handed over by a service manager (systemd socket
/// activation, `systemfd`): `LISTEN_FDS`/`LISTEN_PID`, the first descriptor.
fn passed_listener() -> Result<Option<TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    let l = fds.take_tcp_listener(0).map_err(|e| {
        anyhow::anyhow!(
            "the socket passed by the service manager (LISTEN_FDS) is not a TCP listener: {e}"
        )
    })?;
    let Some(l) = l else {
        return Ok(None);
    };
    l.set_nonblocking(true)?;
    Ok(Some(TcpListener::from_std(l)?))
}

/// Start the metrics and health listener.
async fn serve_metrics(
    addr: &str,
    loaded: &Loaded,
    handle: &ServerHandle,
    shutdown: CancellationToken,
) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        usage(format!(
            "cannot serve metrics on {addr} (serve.metrics, from {}): {e}; pick another address or port",
            loaded.source_of("serve.metrics")
        ))
    })?;
    let local = listener.local_addr()?;
    let h = handle.clone();
    let ready = Arc::new(move || h.ready());
    tokio::spawn(server::metrics::serve_http(
        listener,
        handle.metrics(),
        ready,
        shutdown,
    ));
    Ok(local)
}

/// What the service manager is told.
#[derive(Clone, Copy)]
pub(crate) enum Notice {
    Ready,
    Reloading,
    Stopping,
}

/// Tell systemd (`Type=notify`) where the server is; nothing without it.
pub(crate) fn notify_service_manager(notice: Notice) {
    #[cfg(unix)]
    {
        use sd_notify::NotifyState;
        let result = match notice {
            Notice::Ready => sd_notify::notify(&[NotifyState::Ready]),
            Notice::Reloading => match NotifyState::monotonic_usec_now() {
                Ok(now) => sd_notify::notify(&[NotifyState::Reloading, now]),
                Err(_) => sd_notify::notify(&[NotifyState::Reloading]),
            },
            Notice::Stopping => sd_notify::notify(&[NotifyState::Stopping]),
        };
        if let Err(e) = result {
            tracing::debug!("could not notify the service manager: {e}");
        }
    }
    #[cfg(not(unix))]
    let _ = notice;
}

/// Listen on `bind:port`, or say why not and what to do.
async fn bind(bind: &str, port: u16) -> Result<TcpListener> {
    let host = match hostport::bare(bind) {
        "" => "0.0.0.0",
        h => h,
    };
    TcpListener::bind((host, port)).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => "another program (or tcpplay) already uses it: pick another --port, or --port 0 for a free one",
            std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges: pick a port from 1024 up",
            std::io::ErrorKind::AddrNotAvailable => "that address is not on this machine: use 0.0.0.0, ::, or one of its addresses",
            _ => "check --bind and --port",
        };
        anyhow::anyhow!("cannot listen on {}: {e} ({hint})", hostport::HostPort::new(host, port))
    })
}

/// The message of the day: `serve.motd`, else the first 2000 characters of
/// `serve.motd_file`.
fn read_motd(loaded: &Loaded) -> Result<Option<String>> {
    let s = &loaded.settings.serve;
    if let Some(m) = s.motd.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        return Ok(Some(m.to_string()));
    }
    let Some(path) = &s.motd_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        usage(format!(
            "cannot read the message of the day from {} (serve.motd_file, from {}): {e}",
            path.display(),
            loaded.source_of("serve.motd_file")
        ))
    })?;
    let text: String = text.trim().chars().take(2000).collect();
    Ok((!text.is_empty()).then_some(text))
}

/// TLS for `serve`: on with `--tls`, or when both a certificate and key are
/// set. A file that cannot serve is a configuration error (exit 2).
fn server_tls(loaded: &Loaded) -> Result<Option<Arc<rustls::ServerConfig>>> {
    let s = &loaded.settings.serve;
    match (&s.cert, &s.key) {
        (Some(cert), Some(key)) => {
            tls::server_config_with(cert, key, s.client_ca.as_deref(), s.secure)
                .map(Some)
                .map_err(|e| {
                    usage(format!(
                        "{e:#} (serve.cert from {}, serve.key from {})",
                        loaded.source_of("serve.cert"),
                        loaded.source_of("serve.key")
                    ))
                })
        }
        (None, None) if !s.tls => Ok(None),
        (cert, _) => {
            let missing = if cert.is_none() { "--cert" } else { "--key" };
            Err(usage(format!(
                "TLS needs both --cert and --key ({missing} is missing): make a pair with `tcpplay gen-cert`, \
                 then serve with --tls --cert cert.pem --key key.pem"
            )))
        }
    }
}

/// SIGHUP or the console's `/reload`: re-read the settings and apply what
/// can change live; log what changed and what needs a restart.
async fn reload_on_request(
    server: ServerHandle,
    config_file: Option<PathBuf>,
    args: ServeArgs,
    mut current: Loaded,
    #[cfg(unix)] mut hup: Option<tokio::signal::unix::Signal>,
) {
    loop {
        #[cfg(unix)]
        let hangup = next_signal(&mut hup);
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        tokio::select! {
            _ = hangup => tracing::info!("SIGHUP: reloading settings"),
            _ = server.reload_requested() => tracing::info!("reloading settings"),
        }
        notify_service_manager(Notice::Reloading);
        let reread = config::load(config_file.as_deref(), args.flags())
            .map_err(anyhow::Error::from)
            .and_then(|loaded| {
                let motd = read_motd(&loaded)?;
                let tls = server_tls(&loaded)?;
                Ok((loaded, motd, tls))
            });
        let (loaded, motd, tls) = match reread {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("reload failed, the current settings stay: {e:#}");
                notify_service_manager(Notice::Ready);
                continue;
            }
        };
        let report = server.reload(
            &current.settings,
            server::Reload {
                settings: loaded.settings.clone(),
                motd,
                tls,
            },
        );
        if report.is_empty() {
            tracing::info!("reloaded: nothing changed");
        }
        for line in report {
            tracing::info!("reloaded: {line}");
        }
        current = loaded;
        notify_service_manager(Notice::Ready);
    }
}

/// Ctrl-C or SIGTERM: start the graceful shutdown. The handlers are installed
/// when this is called (before the readiness line, so that an early signal is
/// never the default "terminate at once"); the returned future waits.
fn stop_on_signal(shutdown: CancellationToken) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        tokio::select! {
            _ = next_signal(&mut int) => {}
            _ = next_signal(&mut term) => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: telling clients goodbye");
        shutdown.cancel();
    }
}

/// The next delivery of a signal (never, when it could not be installed).
#[cfg(unix)]
async fn next_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}
