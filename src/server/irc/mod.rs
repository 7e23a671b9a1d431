//! IRC clients in tcpplay's rooms (`serve --irc ADDR`): a listener on its
//! own address — so the chat port keeps speaking one protocol — where an
//! IRC client (irssi, WeeChat, a bot's library) registers and chats. An
//! IRC member is a session like any other: the connection, through a
//! translator, is the [`Session`]'s stream, so rooms are channels, names
//! are nicks, and every rule of the TCP path (rate, slow reader, names,
//! bans, mutes, operators, history, ids and order) is that path's own.
//! Under `--tls` the address speaks IRC over TLS with the same certificate.
//!
//! - `io`: the connection as the session's stream (lines ⇄ packets)
//! - `state`: what one connection's translator knows
//! - `table`: the one table of commands, and the dispatch by it
//! - `commands`, `caps`, `modes`, `sasl`: the client's lines as packets
//! - `render`, `events`, `refusals`, `welcome`: packets as IRC lines
//! - `nick`: names as nicks (derived where a name is not a valid nick)

mod caps;
mod commands;
mod events;
mod io;
mod modes;
mod nick;
mod refusals;
mod render;
mod sasl;
mod state;
mod table;
mod welcome;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout_at, Instant};

use super::admission::{next_connection, Admission, Door};
use super::limits::Limit;
use super::session::{Bound, Session};
use super::Ctx;
use io::IrcIo;
use state::State;

/// Accept IRC clients on `listener` until shutdown. Every connection is
/// let in by the one admission path ([`crate::server::admission`]), with
/// the chat port's and the web's: one set of limits (per address,
/// handshakes, members) counted once across all of them.
pub(crate) async fn serve(listener: TcpListener, ctx: Arc<Ctx>, sasl_plain: bool) {
    // PLAIN only over TLS, and only to a server with accounts to log in to.
    let plain = sasl_plain && ctx.is_tls() && ctx.accounts.is_some();
    while let Some((stream, peer)) = next_connection(&listener, &ctx.shutdown).await {
        ctx.metrics.accepted.inc();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            // Refusals are counted and logged by the admission itself.
            let admission = match ctx.admit(Door::Irc, peer) {
                Ok(a) => a,
                Err(refusal) => return refuse(stream, &ctx, &refusal.to_string()).await,
            };
            ctx.metrics.open.inc();
            connection(stream, peer, ctx.clone(), admission, plain).await;
            ctx.metrics.open.dec();
        });
    }
}

/// Say `why` as IRC's ERROR (in plaintext, when the listener is) and close.
async fn refuse(mut stream: TcpStream, ctx: &Ctx, why: &str) {
    if !ctx.is_tls() {
        let line = format!("ERROR :Closing link: {why}\r\n");
        let _ = stream.write_all(line.as_bytes()).await;
    }
}

/// One IRC client, from TLS (if any) to the session's end. Registration
/// must end within `limits.handshake_timeout`, as a TCP member's auth must.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    admission: Admission,
    plain: bool,
) {
    let deadline = Instant::now() + ctx.handshake_timeout();
    let Some(acceptor) = ctx.tls() else {
        let io = IrcIo::new(stream, State::new(ctx.clone()));
        return Session::new(io, peer, ctx, None)
            .run(deadline, admission)
            .await;
    };
    match timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let bound = Bound::new(&tls);
            let mut st = State::new(ctx.clone());
            st.cert_account = bound
                .cert
                .as_ref()
                .and_then(|c| ctx.accounts.as_ref()?.cert_account(&c.fp));
            st.sasl_plain = plain;
            let io = IrcIo::new(tls, st);
            let bound = Some(bound);
            Box::pin(Session::new(io, peer, ctx, bound).run(deadline, admission)).await;
        }
        Ok(Err(e)) => {
            let why = crate::tls::explain_server_side(&e);
            tracing::info!(%peer, "IRC: TLS handshake failed: {why}");
        }
        Err(_) => {
            ctx.metrics.bump(Limit::HandshakeTimeout);
            tracing::info!(%peer, "IRC: no TLS handshake within the deadline: closing");
        }
    }
}
