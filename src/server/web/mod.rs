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

mod bridge;
mod page;
mod socket;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Extension, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::limits::Limit;
use super::Ctx;

/// What every web connection shares.
#[derive(Clone)]
struct Shared {
    ctx: Arc<Ctx>,
    /// Origins allowed besides the page's own (`web.origins`).
    origins: Arc<[String]>,
    /// WebSocket members still joining (`limits.max_handshakes`).
    handshakes: Arc<Semaphore>,
}

/// The connection's peer address.
#[derive(Clone, Copy)]
struct Peer(SocketAddr);

/// Serve the page and the WebSocket on `listener` until shutdown.
pub(crate) async fn serve(listener: TcpListener, ctx: Arc<Ctx>, origins: Vec<String>) {
    let shared = Shared {
        handshakes: Arc::new(Semaphore::new(ctx.limits().max_handshakes)),
        ctx: ctx.clone(),
        origins: origins.into(),
    };
    loop {
        let accepted = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of descriptors and the like: the TCP side logs those.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let app = router(shared.clone()).layer(Extension(Peer(peer)));
            let service = TowerToHyperService::new(app);
            let http = hyper::server::conn::http1::Builder::new();
            let deadline = shared.ctx.handshake_timeout();
            match shared.ctx.tls() {
                None => {
                    let _ = http
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                }
                Some(acceptor) => {
                    match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = http
                                .serve_connection(TokioIo::new(tls), service)
                                .with_upgrades()
                                .await;
                        }
                        _ => tracing::debug!(%peer, "web: no TLS handshake"),
                    }
                }
            }
        });
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/app.css", get(page::style))
        .route("/ws", get(socket))
        .fallback(page::not_found)
        .layer(Extension(shared))
}

/// `/ws`: a WebSocket from the page's own origin (or a configured one),
/// within the address and handshake limits, becomes a session.
async fn socket(
    Extension(shared): Extension<Shared>,
    Extension(Peer(peer)): Extension<Peer>,
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
    let guard = match ctx.addresses.admit(peer.ip(), &ctx.limits()) {
        Ok(g) => g,
        Err(_) => {
            ctx.metrics.bump(Limit::MaxClientsPerAddress);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from your address\n",
            )
                .into_response();
        }
    };
    let Ok(admission) = shared.handshakes.clone().try_acquire_owned() else {
        ctx.metrics.bump(Limit::MaxHandshakes);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many members are joining at once: try again in a moment\n",
        )
            .into_response();
    };
    let upgrading = hyper::upgrade::on(request);
    tokio::spawn(async move {
        match upgrading.await {
            Ok(io) => bridge::run(TokioIo::new(io), peer, ctx, admission).await,
            Err(e) => tracing::debug!(%peer, "web: the upgrade did not complete: {e}"),
        }
        drop(guard);
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
