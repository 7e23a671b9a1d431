//! Browser access (`serve --web ADDR`): HTTP on its own address — so the
//! chat port keeps speaking one protocol a learner can watch with `nc` —
//! serving the page compiled into the binary, and a WebSocket at `/ws`
//! that carries the same JSON packets as the TCP protocol, one per text
//! message. A browser member is a member like any other: the socket is
//! the stream of a [`Session`], so rooms, names, limits, history, the
//! slow-reader rule and metrics are the TCP path's own. With `--tls` the page and the socket are HTTPS and WSS on the same
//! certificate.
//!
//! - `upgrade`: the WebSocket handshake's HTTP side
//! - `socket`: WebSocket frames ⇄ the session's lines, in place
//! - `bridge`: a browser member's session, from hello to close
//! - `page`: the embedded page and its security headers
//! - `guard`: the `Host` check and the headers on every answer
//! - `head`: each request head read and checked before hyper sees it, so
//!   hyper never answers a bad one by itself (without the headers)
//!
//! Every connection is let in by the one admission path
//! ([`crate::server::admission`]): it counts against its address's limits
//! and `max_web_connections` from `accept` on, and takes a handshake permit
//! when it asks for the WebSocket. Its request headers must arrive within
//! `handshake_timeout` (an idle keep-alive connection too), or it is closed.
//! An answer it does not read for `write_timeout` closes it too (`stall`).

mod bridge;
mod guard;
mod head;
mod page;
mod socket;
mod stall;
mod upgrade;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Extension, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::admission::{next_connection, Admission, Door, Refusal};
use super::Ctx;
use crate::hostport::HostPort;
use crate::protocol::Foreign;

pub(crate) use guard::{whole, Hosts};

/// What every web connection shares.
#[derive(Clone)]
struct Shared {
    ctx: Arc<Ctx>,
    /// Origins allowed besides the page's own (`web.origins`).
    origins: Arc<[String]>,
    /// The names the page is served under (besides addresses, `localhost`).
    hosts: Arc<Hosts>,
}

/// The connection's peer address.
#[derive(Clone, Copy)]
struct Peer(SocketAddr);

/// The connection's admission, until a WebSocket takes it into its session.
#[derive(Clone)]
struct Ticket(Arc<Mutex<Option<Admission>>>);

/// Cleared when the connection becomes a WebSocket: its stalled writes are
/// then the session's to judge ([`stall`]).
#[derive(Clone)]
struct Http(Arc<AtomicBool>);

/// Serve the page and the WebSocket on `listener` until shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    origins: Vec<String>,
    hosts: Hosts,
) {
    let shared = Shared {
        ctx: ctx.clone(),
        origins: origins.into(),
        hosts: Arc::new(hosts),
    };
    let (cap, setting) = (ctx.gate.web_cap(), ctx.limits().max_web_connections);
    if cap < setting {
        tracing::info!("web: at most {cap} connections at once, not limits.max_web_connections = {setting}: half of what this process may open (raise `ulimit -n` for more)");
    }
    while let Some((stream, peer)) = next_connection(&listener, &ctx.shutdown).await {
        match ctx.admit(Door::Web, peer) {
            Ok(admission) => {
                tokio::spawn(connection(stream, peer, shared.clone(), admission));
            }
            Err(refusal) => {
                tokio::spawn(refuse(stream, ctx.is_tls(), refusal));
            }
        }
    }
}

/// A refused connection (counted and logged by the admission): the answer
/// in plain HTTP; over TLS just closed, as on the chat port.
async fn refuse(mut stream: TcpStream, tls: bool, refusal: Refusal) {
    if tls {
        return;
    }
    let status =
        StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let answer = whole(status, &[], &format!("{refusal}\n"));
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(1), stream.write_all(&answer)).await;
}

/// One HTTP connection, its headers bounded by the handshake deadline.
async fn connection(mut stream: TcpStream, peer: SocketAddr, shared: Shared, admission: Admission) {
    let deadline = shared.ctx.handshake_timeout();
    if shared.ctx.is_tls() {
        match tokio::time::timeout(deadline, plain_on_tls(&mut stream, &shared)).await {
            Ok(Some(answer)) => {
                let _ = tokio::time::timeout(deadline, stream.write_all(&answer)).await;
                let _ = stream.shutdown().await;
                return;
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
    let ticket = Ticket(Arc::new(Mutex::new(Some(admission))));
    let http_only = Arc::new(AtomicBool::new(true));
    let app = router(shared.clone())
        .layer(Extension(Peer(peer)))
        .layer(Extension(ticket))
        .layer(Extension(Http(http_only.clone())));
    // A peer that sends requests and never reads the answers is let go.
    let stream = stall::Stall::new(stream, shared.ctx.write_timeout(), http_only.clone());
    let service = TowerToHyperService::new(app);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(deadline);
    match shared.ctx.tls() {
        None => {
            let _ = http
                .serve_connection(TokioIo::new(head::Heads::new(stream, http_only)), service)
                .with_upgrades()
                .await;
        }
        Some(acceptor) => match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                let _ = http
                    .serve_connection(TokioIo::new(head::Heads::new(tls, http_only)), service)
                    .with_upgrades()
                    .await;
            }
            _ => tracing::debug!(%peer, "web: no TLS handshake"),
        },
    }
}

/// Plain HTTP on the HTTPS web address (a browser given `http://`): the
/// request (read, so the answer is not lost to a reset) gets a redirect to
/// the same address over HTTPS, not TLS bytes the browser cannot show.
async fn plain_on_tls(stream: &mut TcpStream, shared: &Shared) -> Option<Vec<u8>> {
    let mut head = [0u8; 2048];
    let n = stream.peek(&mut head).await.ok()?;
    if Foreign::recognise(&head[..n]) != Some(Foreign::Http) {
        return None;
    }
    let _ = stream.read(&mut head).await;
    let local = stream.local_addr().ok()?;
    // The name the browser used, when this server answers to it.
    let asked = std::str::from_utf8(&head[..n]).ok().and_then(|text| {
        text.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("host")
                .then(|| guard::host_part(v).to_string())
        })
    });
    let plain = |h: &String| {
        h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
    };
    let host = asked
        .filter(|h| plain(h) && shared.hosts.serves(h))
        .unwrap_or_else(|| local.ip().to_string());
    let url = format!("https://{}/", HostPort::new(&host, local.port()));
    let body = format!("this address speaks HTTPS only: open {url}\n");
    Some(whole(
        StatusCode::TEMPORARY_REDIRECT,
        &[("Location", &url)],
        &body,
    ))
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/app.css", get(page::style))
        .route("/ws", get(socket))
        .fallback(page::not_found)
        .layer(axum::middleware::from_fn(guard::guard))
        .layer(Extension(shared))
}

/// `/ws`: a WebSocket from the page's own origin (or a configured one),
/// within the handshake limit, becomes a session that keeps the
/// connection's admission.
async fn socket(
    Extension(shared): Extension<Shared>,
    Extension(Peer(peer)): Extension<Peer>,
    Extension(Ticket(ticket)): Extension<Ticket>,
    Extension(Http(http_only)): Extension<Http>,
    request: Request,
) -> Response {
    let ctx = shared.ctx.clone();
    let headers = request.headers();
    let Some(accept) = upgrade::accept_key(request.method(), headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "this address takes WebSocket connections (version 13) from the chat page\n",
        )
            .into_response();
    };
    if !origin_allowed(headers, &shared.origins, ctx.is_tls()) {
        tracing::warn!(%peer, "web: a WebSocket from another site's page refused (its Origin is not this server's; web.origins lists others)");
        return (
            StatusCode::FORBIDDEN,
            "this chat accepts WebSockets from its own page only\n",
        )
            .into_response();
    }
    let taken = ticket.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(mut admission) = taken else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Err(refusal) = admission.handshake(peer) {
        // Still this HTTP connection's: it stays counted.
        *ticket.lock().unwrap_or_else(|e| e.into_inner()) = Some(admission);
        let status =
            StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return (status, format!("{refusal}\n")).into_response();
    }
    http_only.store(false, Ordering::Relaxed);
    let upgrading = hyper::upgrade::on(request);
    tokio::spawn(async move {
        match upgrading.await {
            Ok(io) => bridge::run(TokioIo::new(io), peer, ctx, admission).await,
            Err(e) => tracing::debug!(%peer, "web: the upgrade did not complete: {e}"),
        }
    });
    upgrade::switching(accept)
}

/// The request's Origin is this server's page (same scheme, same Host), or
/// one of `allowed`. A request with no Origin is not a browser's page and
/// is let through (a command-line WebSocket client sends none).
fn origin_allowed(headers: &HeaderMap, allowed: &[String], tls: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("{}://{host}", if tls { "https" } else { "http" }));
    own.as_deref() == Some(origin) || allowed.iter().any(|a| a == origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_pages_own_origin_or_a_listed_one_may_open_the_socket() {
        let listed = vec!["https://class.example".to_string()];
        let h = |o| headers(o, "192.0.2.5:8080");
        assert!(origin_allowed(
            &h(Some("http://192.0.2.5:8080")),
            &[],
            false
        ));
        assert!(!origin_allowed(
            &h(Some("https://192.0.2.5:8080")),
            &[],
            false
        ));
        assert!(!origin_allowed(&h(Some("http://evil.example")), &[], false));
        assert!(origin_allowed(
            &h(Some("https://class.example")),
            &listed,
            false
        ));
        assert!(origin_allowed(
            &h(Some("https://192.0.2.5:8080")),
            &[],
            true
        ));
        assert!(origin_allowed(&h(None), &[], false));
    }
}
