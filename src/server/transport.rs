//! From an accepted TCP connection to a session: `hello` and the TLS-first
//! probe on a plaintext port, or the TLS handshake (with the plaintext probe)
//! on a TLS port. Every step is bounded by the handshake deadline.
//!
//! Memory note: a task keeps its future for the connection's whole life, and
//! an async fn's state keeps room for every local it ever held. So set-up runs
//! in its own boxed future that is freed when it returns, and hands back the
//! session's (boxed) run future; the long-lived state holds only that.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use rustls::server::Acceptor;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::{LazyConfigAcceptor, TlsAcceptor};

use super::admission::{Admission, Refusal};
use super::limits::Limit;
use super::session::{timeout_packet, Bound, Session};
use super::Ctx;
use crate::protocol::{codes, Foreign, Packet};

/// First byte of a TLS record carrying a handshake (a ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

type Run = BoxFuture<'static, ()>;

/// Serve one accepted connection until it ends. Never panics on peer input.
pub(super) async fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    admission: Admission,
) {
    let _ = stream.set_nodelay(true);
    let deadline = Instant::now() + ctx.handshake_timeout();
    let run = match ctx.tls() {
        None => Box::pin(plain(stream, peer, ctx, admission, deadline)).await,
        Some(acceptor) => {
            Box::pin(over_tls(acceptor, stream, peer, ctx, admission, deadline)).await
        }
    };
    if let Some(run) = run {
        run.await;
    }
}

/// A connection the admission refused (already counted and logged): say
/// why in plaintext, when the server is plaintext, and close. (A TLS server
/// just closes: nothing can be said before the handshake.)
pub(super) async fn refuse(mut stream: TcpStream, ctx: Arc<Ctx>, refusal: Refusal) {
    if !ctx.is_tls() {
        let _ = stream
            .write_all(&Packet::error(refusal.code(), refusal.to_string()).to_line())
            .await;
    }
}

async fn plain(
    mut stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    admission: Admission,
    deadline: Instant,
) -> Option<Run> {
    // A browser speaks first: answer it in HTTP, not with `hello`.
    if super::misdirected::is_browser(&stream).await {
        let answer = super::misdirected::answer(&stream, peer, &ctx).await;
        answer_and_close(stream, &answer).await;
        return None;
    }
    if stream.write_all(&ctx.hello().to_line()).await.is_err() {
        return None;
    }
    if ctx.full() {
        // Full: say so now rather than after the client's first line.
        return Some(Box::pin(
            Session::new(stream, peer, ctx, None).run(deadline, admission),
        ));
    }
    // A legacy Python client tries TLS first: spot its ClientHello at once
    // instead of waiting for a line that never comes.
    let mut first = [0u8; 1];
    match timeout_at(deadline, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => {
            // Routine: the Python client (and an old `tcpplay join`) tries TLS first.
            tracing::debug!(%peer, "TLS ClientHello on a plaintext port: closing (the client may retry without TLS; serve with --tls to accept TLS)");
            None
        }
        Ok(Ok(0)) | Ok(Err(_)) => None,
        Err(_) => {
            ctx.metrics.bump(Limit::HandshakeTimeout);
            let _ = stream.write_all(&timeout_packet().to_line()).await;
            tracing::info!(%peer, limit = "handshake_timeout", "no auth within the handshake deadline: closing");
            None
        }
        Ok(Ok(_)) => Some(Box::pin(
            Session::new(stream, peer, ctx, None).run(deadline, admission),
        )),
    }
}

/// Say `answer` and close without losing it to a reset (what the peer
/// sent and nobody read is drained for a moment, as a session's goodbye is).
async fn answer_and_close(stream: TcpStream, answer: &[u8]) {
    let mut conn = crate::protocol::Connection::new(stream, 1024, 1024);
    conn.close_with_bytes(answer, super::session::LINGER).await;
}

async fn over_tls(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    admission: Admission,
    deadline: Instant,
) -> Option<Run> {
    let mut first = [0u8; 16];
    match timeout_at(deadline, stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 && first[0] != TLS_HANDSHAKE => {
            let answer = match Foreign::recognise(&first[..n]) {
                Some(Foreign::Http) => super::misdirected::answer(&stream, peer, &ctx).await,
                Some(f) => {
                    tracing::info!(%peer, protocol = f.name(), "another protocol on the TLS port: answered in its form, closing");
                    f.answer_first()
                }
                None => {
                    tracing::info!(%peer, "plaintext on the TLS port: closing (the client must use --tls)");
                    Packet::error(
                        codes::TLS_REQUIRED,
                        "this server speaks TLS only: connect over TLS (tcpplay join without --no-tls, with --cert FILE for a self-signed certificate)",
                    )
                    .to_line()
                    .to_vec()
                }
            };
            answer_and_close(stream, &answer).await;
            return None;
        }
        Ok(Ok(n)) if n > 0 => {}
        Ok(_) => return None,
        Err(_) => {
            ctx.metrics.bump(Limit::HandshakeTimeout);
            tracing::info!(%peer, limit = "handshake_timeout", "no TLS handshake within the deadline: closing");
            return None;
        }
    }
    // A browser (its ClientHello offers HTTP by ALPN) is answered in HTTP.
    let config = acceptor.config().clone();
    let accepted = timeout_at(deadline, async {
        let start = LazyConfigAcceptor::new(Acceptor::default(), stream).await?;
        if super::misdirected::offers_http(&start.client_hello()) {
            return Ok(Err(start));
        }
        start.into_stream(config.clone()).await.map(Ok)
    })
    .await;
    match accepted {
        Ok(Ok(Err(browser))) => {
            super::misdirected::over_tls(browser, &config, peer, &ctx, deadline).await;
            None
        }
        Ok(Ok(Ok(mut tls))) => {
            let bound = Some(Bound::new(&tls));
            let hello = ctx.hello().to_line();
            let said = timeout_at(deadline, async {
                tls.write_all(&hello).await.and(tls.flush().await)
            })
            .await;
            if !matches!(said, Ok(Ok(()))) {
                return None;
            }
            Some(Box::pin(
                Session::new(tls, peer, ctx, bound).run(deadline, admission),
            ))
        }
        Ok(Err(e)) => {
            let why = crate::tls::explain_server_side(&e);
            tracing::info!(%peer, "TLS handshake failed: {why}");
            None
        }
        Err(_) => {
            ctx.metrics.bump(Limit::HandshakeTimeout);
            tracing::info!(%peer, limit = "handshake_timeout", "TLS handshake did not finish within the deadline: closing");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connected client keeps these futures for its whole life: their
    /// size is idle memory per client (docs/BENCHMARKS.md). Guard the budget.
    #[tokio::test]
    async fn long_lived_futures_stay_small() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        let _c = TcpStream::connect(a).await.unwrap();
        let (s, peer) = l.accept().await.unwrap();
        let ctx = Arc::new(Ctx::for_tests());
        let admission = ctx
            .admit(super::super::admission::Door::Chat, peer)
            .unwrap();
        let task = handle(s, peer, ctx.clone(), admission);
        let task_size = std::mem::size_of_val(&task);
        let _c2 = TcpStream::connect(a).await.unwrap();
        let (s2, _) = l.accept().await.unwrap();
        let admission = ctx
            .admit(super::super::admission::Door::Chat, peer)
            .unwrap();
        let run = Session::new(s2, peer, ctx, None).run(Instant::now(), admission);
        let run_size = std::mem::size_of_val(&run);
        assert!(
            task_size <= 320,
            "the per-connection task future grew to {task_size} bytes"
        );
        eprintln!(
            "future sizes: task {task_size} B, session {run_size} B; Session {} B, Connection {} B, Membership {} B, boxed Bound {} B",
            std::mem::size_of::<Session<TcpStream>>(),
            std::mem::size_of::<crate::protocol::Connection<TcpStream>>(),
            std::mem::size_of::<crate::server::room::Membership>(),
            std::mem::size_of::<Option<Box<Bound>>>(),
        );
        // 1 KiB is one of the allocator's size classes (mimalloc): a byte
        // more and each session's box takes the next one, 1.25 KiB.
        assert!(
            run_size <= 1024,
            "the session future grew to {run_size} bytes"
        );
    }
}
