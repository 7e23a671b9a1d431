//! `tcpplay serve`, wired: settings → certificate, listener, history, the
//! secure room, the console; then run until a signal or `/quit`, reloading
//! on SIGHUP or `/reload`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod banner;
mod commands;
mod console;
mod running;
mod setup;

use running::{
    notify_service_manager, reload_on_request, serve_irc, serve_metrics, serve_web, stop_on_signal,
    Notice,
};
use setup::{
    bind, check_config, history_db, open_accounts, passed_listener, read_motd, secure_room,
    server_tls, start_cluster, Port,
};

use crate::cli::ServeArgs;
use crate::config::{self, secs, usage, Loaded};
use crate::server::{self, HistorySetup, Server, ServerOptions};
use crate::{check, output};

pub(crate) async fn serve(
    config_file: Option<PathBuf>,
    no_input: bool,
    mut args: ServeArgs,
) -> Result<u8> {
    let loaded = config::load(config_file.as_deref(), args.flags())?;
    let Some(ready) = prepare(&loaded, &mut args, no_input).await? else {
        return check_config(&loaded);
    };
    let Ready {
        listener,
        addr,
        opts,
        mode,
    } = ready;
    let s = &loaded.settings.serve;
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
    for line in banner::lines(&serving(&loaded, addr), crate::lan::addresses()) {
        output::out(line);
    }
    let pages = serve_front_ends(&loaded, &server.handle()).await?;
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
    console::spawn_input(server.handle(), pages);
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

/// The browser page and the IRC listener, each started and announced when
/// the settings ask for it; the page's addresses (for the console's sign-in
/// links), none without `--web`.
async fn serve_front_ends(loaded: &Loaded, handle: &server::ServerHandle) -> Result<Vec<String>> {
    let mut pages = Vec::new();
    if let Some(addr) = loaded.settings.web.addr.clone() {
        let local = serve_web(&addr, loaded, handle).await?;
        pages = banner::page_addresses(local, handle.is_tls(), crate::lan::addresses());
        for page in &pages {
            output::out(format!("open in a browser: {page}"));
        }
    }
    if let Some(addr) = loaded.settings.irc.addr.clone() {
        let local = serve_irc(&addr, loaded, handle).await?;
        // Under TLS a client trusts the certificate file, as `join --cert` does.
        let cert = handle
            .is_tls()
            .then(|| loaded.settings.serve.cert.clone())
            .flatten();
        for line in banner::irc_lines(local, cert.as_deref(), loaded.settings.serve.secure) {
            output::out(line);
        }
        if loaded.settings.irc.sasl_plain {
            output::out(banner::sasl_plain_line(handle.is_tls()));
        }
    }
    Ok(pages)
}

/// How the server serves, for the lines that say where to join.
fn serving(loaded: &Loaded, addr: std::net::SocketAddr) -> banner::Serving {
    let s = &loaded.settings.serve;
    let cert = s.cert.as_deref().and_then(|path| {
        let first = crate::tls::load_certs(path).ok()?.into_iter().next()?;
        Some((trust_file(path, &first), crate::tls::fingerprint(&first)))
    });
    banner::Serving {
        addr,
        cert,
        secure: s.secure,
    }
}

/// The file a client trusts to verify `leaf` (the first certificate of
/// `cert`): `cert` itself when it is self-signed, else the CA that issued
/// it when it lies beside it as `ca.pem` (as `gen-cert --ca` writes it) —
/// what `gen-cert` told the user to hand out.
fn trust_file(cert: &std::path::Path, leaf: &[u8]) -> banner::TrustFile {
    use crate::tls::{describe, load_certs};
    let own = banner::TrustFile::Itself(cert.to_path_buf());
    let Ok(info) = describe(leaf) else {
        return own;
    };
    if info.subject == info.issuer {
        return own;
    }
    let ca = cert.with_file_name("ca.pem");
    let issuer = load_certs(&ca)
        .ok()
        .and_then(|c| c.into_iter().next())
        .and_then(|c| describe(&c).ok());
    match issuer {
        Some(i) if i.subject == info.issuer => banner::TrustFile::Ca {
            ca,
            cert: cert.to_path_buf(),
        },
        _ => own,
    }
}

/// Everything `serve` needs before it serves, from the settings; `None`
/// for `--check-config` (which only checks).
async fn prepare(loaded: &Loaded, args: &mut ServeArgs, no_input: bool) -> Result<Option<Ready>> {
    let s = loaded.settings.serve.clone();
    let tls = server_tls(loaded)?;
    if s.secure && tls.is_none() {
        return Err(usage(
            "secure mode runs over TLS only: make a certificate with `tcpplay gen-cert`, \
             then serve --secure --cert cert.pem --key key.pem",
        ));
    }
    for warning in check::serve_warnings(loaded) {
        tracing::warn!("{warning}");
    }
    let motd = read_motd(loaded)?;
    if args.check_config {
        return Ok(None);
    }
    // The port is taken now, and listened on only once all is ready.
    let port = match passed_listener()? {
        Some(l) => Port::Passed(l),
        None => bind(&s.bind, s.port).await?,
    };
    let addr = port.local_addr()?;
    let cluster = match &loaded.settings.cluster.url {
        Some(url) => Some(start_cluster(loaded, url, addr).await?),
        None => None,
    };
    // A cluster keeps its history in Redis.
    let db = match cluster {
        Some(_) => None,
        None => history_db(loaded, addr)?,
    };
    let accounts = open_accounts(loaded, addr, tls.is_some(), cluster.as_ref()).await?;
    let secure = if s.secure {
        Some(Arc::new(
            secure_room(loaded, args, no_input, db.as_ref(), cluster.as_deref()).await?,
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
        accounts,
    };
    Ok(Some(Ready {
        listener: port.listen().map_err(|e| {
            anyhow::anyhow!("cannot listen on {addr}: {e} (another program took the port meanwhile? pick another --port)")
        })?,
        addr,
        opts,
        mode,
    }))
}

/// A server ready to start: its listener and options, and how it serves.
struct Ready {
    listener: TcpListener,
    addr: std::net::SocketAddr,
    opts: ServerOptions,
    mode: &'static str,
}
