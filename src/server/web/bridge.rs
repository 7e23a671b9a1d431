//! A WebSocket as a session's connection: each text message from the
//! browser is one packet (it becomes one line for the session), each line
//! the session writes is one text message back. The session does not know
//! it talks to a browser: the pipe between them is bounded, so a browser
//! that does not read fills it and the session's slow-reader and write
//! timeout rules apply as for TCP. A binary message, or a text message that
//! holds a line break (several packets), ends the socket with a close code
//! and a reason.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use crate::server::session::{Admission, Session};
use crate::server::Ctx;

/// Bytes the pipe between socket and session holds each way.
const PIPE: usize = 64 * 1024;

/// Run one browser member until either side ends.
pub(super) async fn run(mut ws: WebSocket, peer: SocketAddr, ctx: Arc<Ctx>, admission: Admission) {
    let hello = ctx.hello().to_line();
    let hello = String::from_utf8_lossy(&hello[..hello.len() - 1]).into_owned();
    if ws.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    let (session_end, pipe) = tokio::io::duplex(PIPE);
    let deadline = Instant::now() + ctx.handshake_timeout();
    let session = tokio::spawn(Session::new(session_end, peer, ctx, None).run(deadline, admission));
    let (from_session, mut to_session) = tokio::io::split(pipe);
    let mut lines = BufReader::new(from_session);
    let mut line = Vec::new();
    let close = loop {
        tokio::select! {
            msg = ws.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if t.as_str().contains(['\n', '\r']) {
                        break Some((close_code::INVALID, "one JSON packet per message, without line breaks"));
                    }
                    let sent = async {
                        to_session.write_all(t.as_str().as_bytes()).await?;
                        to_session.write_all(b"\n").await
                    };
                    if sent.await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    break Some((close_code::UNSUPPORTED, "text messages only: one JSON packet each"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
            },
            // Cancel-safe as used: a partial line stays in `line` for the next turn.
            n = lines.read_until(b'\n', &mut line) => match n {
                Ok(0) | Err(_) => break Some((close_code::NORMAL, "")),
                Ok(_) if line.ends_with(b"\n") => {
                    line.pop();
                    let text = String::from_utf8_lossy(&line).into_owned();
                    line.clear();
                    if ws.send(Message::Text(text.into())).await.is_err() {
                        break None;
                    }
                }
                Ok(_) => {}
            },
        }
    };
    // The session reads its end of the input: it leaves as a TCP member
    // whose connection closed does.
    let _ = to_session.shutdown().await;
    drop(to_session);
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = ws.send(Message::Close(Some(frame))).await;
    }
    drop(lines);
    let _ = session.await;
}
