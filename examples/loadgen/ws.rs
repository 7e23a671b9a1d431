//! WebSocket members for the load generator: tcpplay's web endpoint
//! (`serve --web`), one JSON packet per text message, bridged here to a
//! stream of lines so the rest of the load generator reads and writes as it
//! does over TCP. The bridge's work is the load generator's, never the
//! server's: the benchmark reads the server's CPU only.

use std::time::Duration;

use anyhow::{Context, Result};
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tcpplay::client::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Bytes the in-process pipe holds each way.
const PIPE: usize = 256 * 1024;

/// Open `ws://host:port/ws` as the server's own page would (its Origin),
/// and return the line stream bridged to it. A server busy with other
/// handshakes answers 503: try again, a bounded number of times.
pub async fn open(host: &str, port: u16) -> Result<Box<dyn Stream>> {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let url = format!("ws://{host}:{port}/ws");
    let origin = format!("http://{host}:{port}");
    let mut tries = 0;
    let ws = loop {
        let mut req = url.as_str().into_client_request()?;
        req.headers_mut().insert("Origin", origin.parse()?);
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => break ws,
            Err(WsError::Http(r))
                if r.status() == StatusCode::SERVICE_UNAVAILABLE && tries < 100 =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("WebSocket {url}")),
        }
    };
    let (mine, theirs) = tokio::io::duplex(PIPE);
    let (mut sink, mut source) = ws.split();
    let (mut from_us, mut to_us) = tokio::io::split(theirs);
    // Server → us: each text message becomes a line.
    tokio::spawn(async move {
        while let Some(Ok(msg)) = source.next().await {
            match msg {
                Message::Text(t) => {
                    let line = [t.as_bytes(), b"\n"].concat();
                    if to_us.write_all(&line).await.is_err() {
                        break;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    // Us → server: each complete line becomes a text message; everything
    // read at once goes out with one flush.
    tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            match from_us.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            while let Some(end) = memchr::memchr(b'\n', &buf) {
                let line = buf.split_to(end + 1);
                let text = match std::str::from_utf8(&line[..end]) {
                    Ok(t) => t.to_owned(),
                    Err(_) => return,
                };
                if sink.feed(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    Ok(Box::new(mine))
}
