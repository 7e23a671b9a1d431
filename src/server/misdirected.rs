//! A browser pointed at the chat port: it speaks first (`GET / HTTP/1.1`),
//! where a chat client waits for `hello`. So the plaintext chat port listens
//! a moment before it says `hello`, and a peer that sent an HTTP request in
//! that moment gets a minimal HTTP answer instead of JSON it cannot show:
//! where the page is (a redirect to it, when `serve --web` is on), or how to
//! turn it on. On a TLS chat port a browser is known by its ClientHello (it
//! offers HTTP/1.1 by ALPN; a chat client offers nothing) and answered the
//! same way inside TLS.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::StartHandshake;

use super::Ctx;
use crate::protocol::Foreign;

/// How long the plaintext chat port waits for a peer that speaks first
/// before it says `hello` (a browser's request is in the first segment
/// after the handshake; a chat client says nothing until `hello`).
pub(super) const SPEAKS_FIRST: Duration = Duration::from_millis(30);

/// The peer sent an HTTP request (peeked: nothing is consumed).
pub(super) async fn is_browser(stream: &TcpStream) -> bool {
    let mut first = [0u8; 8];
    matches!(
        tokio::time::timeout(SPEAKS_FIRST, stream.peek(&mut first)).await,
        Ok(Ok(n)) if n > 0 && Foreign::recognise(&first[..n]) == Some(Foreign::Http)
    )
}

/// The HTTP answer for a browser on the plaintext chat port (`stream`
/// has its request still unread; only peeked at, for its `Host`).
pub(super) async fn answer(stream: &TcpStream, peer: SocketAddr, ctx: &Ctx) -> Vec<u8> {
    let mut head = [0u8; 2048];
    let n = stream.peek(&mut head).await.unwrap_or(0);
    let chat_ip = stream.local_addr().map(|a| a.ip()).ok();
    answer_for(&head[..n], chat_ip, peer, ctx)
}

/// A TLS ClientHello that offers HTTP/1.1 by ALPN: a browser (a chat
/// client offers no ALPN).
pub(super) fn offers_http(hello: &rustls::server::ClientHello<'_>) -> bool {
    hello
        .alpn()
        .is_some_and(|mut offered| offered.any(|p| p == b"http/1.1"))
}

/// A browser on the TLS chat port: finish the handshake speaking HTTP/1.1,
/// read its request (within the deadline), answer, close.
pub(super) async fn over_tls(
    start: StartHandshake<TcpStream>,
    config: &Arc<rustls::ServerConfig>,
    peer: SocketAddr,
    ctx: &Ctx,
    deadline: Instant,
) {
    let mut http = (**config).clone();
    http.alpn_protocols = vec![b"http/1.1".to_vec()];
    let served = timeout_at(deadline, async {
        let mut tls = start.into_stream(Arc::new(http)).await?;
        let chat_ip = tls.get_ref().0.local_addr().map(|a| a.ip()).ok();
        let mut head = vec![0u8; 2048];
        let mut n = 0;
        while n < head.len() && !head[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut head[n..]).await? {
                0 => break,
                got => n += got,
            }
        }
        let answer = answer_for(&head[..n], chat_ip, peer, ctx);
        tls.write_all(&answer).await?;
        tls.shutdown().await
    })
    .await;
    if !matches!(served, Ok(Ok(()))) {
        tracing::debug!(%peer, "a browser on the TLS chat port left before its answer");
    }
}

/// What a browser is told, given its request's head.
fn answer_for(head: &[u8], chat_ip: Option<IpAddr>, peer: SocketAddr, ctx: &Ctx) -> Vec<u8> {
    let asked = host_of(head);
    let Some(web) = ctx.web.get() else {
        tracing::info!(%peer, "a browser on the chat port: told how to turn the page on");
        let body = "This is a tcpplay chat server, not a web server: this port speaks JSON lines to `tcpplay join`.\n\
                    Its browser page is off. To chat from a browser, start the server with --web ADDR \
                    (e.g. `tcpplay serve --web 0.0.0.0:8080`, or web.addr in its config file) and open the address it prints.\n";
        return super::web::whole(StatusCode::BAD_REQUEST, &[], body);
    };
    let scheme = if ctx.is_tls() { "https" } else { "http" };
    let host = page_host(web.ip(), asked.as_deref(), chat_ip);
    let url = format!(
        "{scheme}://{}/",
        crate::hostport::HostPort::new(&host, web.port())
    );
    tracing::info!(%peer, "a browser on the chat port: sent to the page at {url}");
    let body = format!(
        "This is a tcpplay chat server, not a web server: this port is for `tcpplay join`. Its page is at {url}\n"
    );
    super::web::whole(
        StatusCode::TEMPORARY_REDIRECT,
        &[("Location", url.as_str())],
        &body,
    )
}

/// The host the page is reached at: the web address's own, or — when it
/// listens on every address — the name the browser used for the chat port
/// (when it is a plain host name), else the address it reached.
fn page_host(web: IpAddr, asked: Option<&str>, chat_ip: Option<IpAddr>) -> String {
    if !web.is_unspecified() {
        return web.to_string();
    }
    match (asked, chat_ip) {
        (Some(name), _) => name.to_string(),
        (None, Some(ip)) if !ip.is_unspecified() => ip.to_string(),
        _ => "localhost".into(),
    }
}

/// The host (no port) of the request's `Host` header, when it is a plain
/// host name or address (letters, digits, `.`, `-`, `:` in brackets).
fn host_of(head: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(head).ok()?;
    let value = text.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("host").then(|| v.trim())
    })?;
    let host = match value.strip_prefix('[') {
        Some(rest) => rest.split(']').next()?,
        None => value.rsplit_once(':').map_or(value, |(h, _)| h),
    };
    let clean = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':');
    clean.then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_named_by_the_web_address_or_the_name_the_browser_used() {
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let lan: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(page_host(lan, Some("chat.lan"), None), "192.0.2.7");
        assert_eq!(page_host(any, Some("chat.lan"), Some(lan)), "chat.lan");
        assert_eq!(page_host(any, None, Some(lan)), "192.0.2.7");
        let req = |h: &str| format!("GET / HTTP/1.1\r\nHost: {h}\r\n\r\n");
        assert_eq!(
            host_of(req("chat.lan:4000").as_bytes()).as_deref(),
            Some("chat.lan")
        );
        assert_eq!(
            host_of(req("[::1]:4000").as_bytes()).as_deref(),
            Some("::1")
        );
        assert_eq!(host_of(req("evil\"><x").as_bytes()), None);
        assert_eq!(host_of(b"GET / HTTP/1.1\r\n\r\n"), None);
    }
}
