//! A browser member's session: the server's `hello` as the first text
//! message, then the socket as the [`Session`]'s stream (`socket::WsIo`).
//! The session does not know it talks to a browser: a browser that does
//! not read fills the socket's buffer and the session's slow-reader and
//! write-timeout rules apply as for TCP, and the session's goodbye ends
//! with a close frame that carries the reason a rule was broken.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::socket::WsIo;
use crate::server::admission::Admission;
use crate::server::session::{Bound, Session};
use crate::server::Ctx;

/// Run one browser member until either side ends.
pub(super) async fn run<S>(io: S, peer: SocketAddr, ctx: Arc<Ctx>, admission: Admission)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut ws = WsIo::new(io, ctx.limits().max_frame_bytes);
    let hello = ctx.hello().to_line();
    let said = async {
        ws.write_all(&hello).await?;
        ws.flush().await
    };
    if said.await.is_err() {
        return;
    }
    let deadline = Instant::now() + ctx.handshake_timeout();
    // Over HTTPS the session may hold an account (a one-time sign-in link
    // proves it); it has no TLS exporter, so no password login binds to it.
    let bound = ctx.is_tls().then_some(Bound {
        binding: None,
        cert: None,
        identity: None,
    });
    Session::new(ws, peer, ctx, bound)
        .run(deadline, admission)
        .await;
}
