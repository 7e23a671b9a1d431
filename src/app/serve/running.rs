//! What runs beside the server: the metrics listener, the service
//! manager's notices, reloads (SIGHUP or `/reload`), and the signals that
//! stop it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::setup::{read_motd, server_tls};
use crate::cli::ServeArgs;
use crate::config::{self, usage, Loaded};
use crate::server::{self, ServerHandle};

/// Start the metrics and health listener.
pub(super) async fn serve_metrics(
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

/// A listener of its own on `addr` (the setting `key`), or a usage error
/// that says what it was for, where the address came from and what to do.
async fn listen_on(addr: &str, key: &str, what: &str, loaded: &Loaded) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        usage(format!(
            "cannot {what} on {addr} ({key}, from {}): {e}; pick another address or port",
            loaded.source_of(key)
        ))
    })
}

/// Browser access: the page and the WebSocket on `addr` (`web.addr`).
pub(super) async fn serve_web(
    addr: &str,
    loaded: &Loaded,
    handle: &ServerHandle,
) -> Result<std::net::SocketAddr> {
    let listener = listen_on(addr, "web.addr", "serve the web page", loaded).await?;
    let local = listener.local_addr()?;
    let web = &loaded.settings.web;
    tokio::spawn(handle.serve_web(listener, web.origins.clone(), served_names(loaded)));
    Ok(local)
}

/// The names the page answers to besides addresses and `localhost` (its
/// `Host` is checked against them): this machine's name, the certificate's
/// DNS names, and the hosts of `web.origins`.
fn served_names(loaded: &Loaded) -> Vec<String> {
    let mut names = Vec::new();
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    if !host.is_empty() {
        names.push(format!("{host}.local"));
        names.push(host);
    }
    if let Some(cert) = &loaded.settings.serve.cert {
        let first = crate::tls::load_certs(cert)
            .ok()
            .and_then(|c| c.into_iter().next());
        if let Some(info) = first.and_then(|der| crate::tls::describe(&der).ok()) {
            names.extend(info.sans);
        }
    }
    for o in &loaded.settings.web.origins {
        if let Some(h) = url::Url::parse(o)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
        {
            names.push(h);
        }
    }
    names
}

/// IRC clients on `addr` (`irc.addr`).
pub(super) async fn serve_irc(
    addr: &str,
    loaded: &Loaded,
    handle: &ServerHandle,
) -> Result<std::net::SocketAddr> {
    let listener = listen_on(addr, "irc.addr", "listen for IRC clients", loaded).await?;
    let local = listener.local_addr()?;
    tokio::spawn(handle.serve_irc(listener, loaded.settings.irc.sasl_plain));
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

/// SIGHUP or the console's `/reload`: re-read the settings and apply what
/// can change live; log what changed and what needs a restart.
pub(super) async fn reload_on_request(
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
pub(super) fn stop_on_signal(shutdown: CancellationToken) -> impl std::future::Future<Output = ()> {
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
pub(super) async fn next_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}
