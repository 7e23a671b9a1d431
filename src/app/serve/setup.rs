//! What `serve` sets up before it serves, each from the settings: the
//! certificate, the listener (or one passed by systemd), the history
//! database, the cluster's link, the secure room's record, the message of
//! the day; and `--check-config`.

use std::sync::Arc;

use anyhow::Result;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::config::{self, usage, Loaded};
use crate::hostport;
use crate::server::{self, SecureRoom};
use crate::{output, prompt, secret, tls};

/// Cluster mode: connect to Redis and register this node (named
/// `cluster.node`, else HOSTNAME-PORT).
pub(super) async fn start_cluster(
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
pub(super) async fn secure_room(
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
pub(super) fn check_config(loaded: &Loaded) -> Result<u8> {
    let s = &loaded.settings.serve;
    // The address `serve` would bind first: its history file is named by it.
    let addr = listen_addrs(&s.bind, s.port).map_err(|e| usage(format!("{e:#}")))?[0];
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
pub(super) fn history_db(
    loaded: &Loaded,
    addr: std::net::SocketAddr,
) -> Result<Option<server::HistoryDb>> {
    let secure = loaded.settings.serve.secure;
    server::open_history(&loaded.settings.history, secure, addr).map_err(|e| {
        usage(format!(
            "history {e}: give this server its own with --history PATH (or --no-history)"
        ))
    })
}

/// A listening socket handed over by a service manager (systemd socket
/// activation, `systemfd`): `LISTEN_FDS`/`LISTEN_PID`, the first descriptor.
pub(super) fn passed_listener() -> Result<Option<TcpListener>> {
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

/// The addresses `serve` tries to bind for `bind:port`, in order
/// (`localhost` is 127.0.0.1 and ::1): [`bind`] and `--check-config` both
/// take them from here, so both name the same history file.
pub(super) fn listen_addrs(bind: &str, port: u16) -> Result<Vec<std::net::SocketAddr>> {
    use std::net::ToSocketAddrs;
    let host = match hostport::bare(bind) {
        "" => "0.0.0.0",
        h => h,
    };
    let addrs: Vec<std::net::SocketAddr> = (host, port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default();
    if addrs.is_empty() {
        anyhow::bail!(
            "cannot listen on {}: {host} is not an address of this machine (check --bind: 0.0.0.0, ::, or one of its addresses)",
            hostport::HostPort::new(host, port)
        );
    }
    Ok(addrs)
}

/// The server's port: passed by the service manager (listening already),
/// or taken here and not listened on until everything else is ready — so
/// that nobody is let in by a server that then fails to start (a cluster
/// node whose Redis is unreachable, say).
pub(super) enum Port {
    Passed(TcpListener),
    Reserved(tokio::net::TcpSocket),
}

impl Port {
    pub(super) fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Port::Passed(l) => l.local_addr(),
            Port::Reserved(s) => s.local_addr(),
        }
    }

    /// Let connections in.
    pub(super) fn listen(self) -> std::io::Result<TcpListener> {
        match self {
            Port::Passed(l) => Ok(l),
            Port::Reserved(s) => s.listen(1024),
        }
    }
}

/// Take `bind:port` (not listening yet), or say why not and what to do.
pub(super) async fn bind(bind: &str, port: u16) -> Result<Port> {
    let host = match hostport::bare(bind) {
        "" => "0.0.0.0",
        h => h,
    };
    let shown = || hostport::HostPort::new(host, port);
    let take = |addr: std::net::SocketAddr| {
        let socket = match addr {
            std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        // As TcpListener::bind: a port in TIME_WAIT is taken again.
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        Ok::<_, std::io::Error>(socket)
    };
    // The first of the addresses that binds, as TcpListener::bind tries them.
    let mut failed = None;
    for addr in listen_addrs(bind, port)? {
        match take(addr) {
            Ok(socket) => return Ok(Port::Reserved(socket)),
            Err(e) => failed = Some(e),
        }
    }
    let e = failed.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into());
    let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => "another program (or tcpplay) already uses it: pick another --port, or --port 0 for a free one",
            std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges: pick a port from 1024 up",
            std::io::ErrorKind::AddrNotAvailable => "that address is not on this machine: use 0.0.0.0, ::, or one of its addresses",
            _ => "check --bind and --port",
        };
    Err(anyhow::anyhow!(
        "cannot listen on {}: {e} ({hint})",
        shown()
    ))
}

/// The message of the day: `serve.motd`, else the first 2000 characters of
/// `serve.motd_file`.
pub(super) fn read_motd(loaded: &Loaded) -> Result<Option<String>> {
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
pub(super) fn server_tls(loaded: &Loaded) -> Result<Option<Arc<rustls::ServerConfig>>> {
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

/// The accounts database, when the settings ask for accounts (registration
/// not closed, operators named, `serve.accounts` given) or one exists at
/// the default place; in a cluster, the ones Redis keeps. Accounts need
/// TLS (the login is bound to it).
pub(super) async fn open_accounts(
    loaded: &Loaded,
    addr: std::net::SocketAddr,
    tls: bool,
    cluster: Option<&Arc<server::cluster::Cluster>>,
) -> Result<Option<Arc<server::accounts::Accounts>>> {
    let s = &loaded.settings.serve;
    let room_ops: Vec<String> = loaded
        .settings
        .rooms
        .iter()
        .flat_map(|r| r.operators.iter().cloned())
        .collect();
    for name in s.operators.iter().chain(&room_ops) {
        if let Err(e) = crate::names::validate_name(name) {
            return Err(usage(format!(
                "operator '{}' is not a name: {e} (serve.operators, [[rooms]] operators)",
                crate::names::sanitize(name)
            )));
        }
    }
    let default = config::ServeSettings::default_accounts_path(addr);
    let asked = s.registration != config::Registration::Closed
        || !s.operators.is_empty()
        || !room_ops.is_empty()
        || s.accounts.is_some();
    let exists = default.as_deref().is_some_and(|p| p.exists());
    // A cluster keeps its accounts in Redis: a file at the default place is not them.
    let kept_here = exists && cluster.is_none();
    if !(asked || kept_here) {
        return Ok(None);
    }
    if !tls {
        return Err(usage(
            "accounts need TLS (their login is bound to the TLS session): serve with --tls --cert cert.pem \
             --key key.pem (make them with `tcpplay gen-cert`), or drop --registration and the operators",
        ));
    }
    let Some(path) = s.accounts.clone().or(default) else {
        return Err(usage(
            "this system has no data directory for the accounts database: name one with --accounts FILE",
        ));
    };
    let l = &loaded.settings.limits;
    let opened = match cluster {
        Some(c) => {
            let copy = cluster_copy(&path, c.node());
            server::accounts::Accounts::open_cluster(
                c.clone(),
                &copy,
                s.registration,
                &s.operators,
                &room_ops,
            )
            .await
        }
        None => server::accounts::Accounts::open(&path, s.registration, &s.operators, &room_ops),
    };
    let accounts = opened.map_err(usage)?.with_throttle(
        l.auth_failures,
        config::secs(l.auth_block).unwrap_or(std::time::Duration::from_secs(60)),
    );
    tracing::info!(
        "accounts: {} in {} (registration {})",
        accounts.count(),
        accounts.place(),
        s.registration.as_str()
    );
    Ok(Some(Arc::new(accounts)))
}

/// Where a cluster node keeps its durable copy of the cluster's accounts:
/// beside the accounts database it would have, `cluster-NODE-` before its
/// file name (Redis is their shared cache, this their home on the node).
fn cluster_copy(accounts: &std::path::Path, node: &str) -> std::path::PathBuf {
    let node: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let file = accounts
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "accounts.sqlite3".into());
    accounts.with_file_name(format!("cluster-{node}-{file}"))
}
