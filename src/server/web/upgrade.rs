//! The HTTP side of the WebSocket handshake (RFC 6455 §4.2): a request is
//! an upgrade when it is a GET asking to upgrade its connection to
//! `websocket`, version 13, with a key; the answer is 101 with the key's
//! accept value (tungstenite derives it). Done here, not by axum's
//! `WebSocketUpgrade`, because that one hands over a message-at-a-time
//! socket, and a browser member's socket is the session's byte stream
//! (`socket`).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;

/// A header that lists `token` among its comma-separated values.
fn lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// The `Sec-WebSocket-Accept` answer when this is a WebSocket upgrade
/// request this server speaks; `None` otherwise.
pub(super) fn accept_key(method: &Method, headers: &HeaderMap) -> Option<String> {
    let upgrade = method == Method::GET
        && lists(headers, header::CONNECTION, "upgrade")
        && lists(headers, header::UPGRADE, "websocket")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v.as_bytes() == b"13");
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    upgrade.then(|| tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// The 101 answer that switches the connection to WebSocket.
pub(super) fn switching(accept: String) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_version_13_get_upgrade_with_a_key_is_accepted_and_its_answer_is_the_rfcs() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, Upgrade".parse().unwrap());
        h.insert(header::UPGRADE, "websocket".parse().unwrap());
        h.insert(header::SEC_WEBSOCKET_VERSION, "13".parse().unwrap());
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
        );
        // RFC 6455 §1.3's example.
        assert_eq!(
            accept_key(&Method::GET, &h).as_deref(),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        assert_eq!(accept_key(&Method::POST, &h), None);
        let mut old = h.clone();
        old.insert(header::SEC_WEBSOCKET_VERSION, "8".parse().unwrap());
        assert_eq!(accept_key(&Method::GET, &old), None);
        let mut plain = h.clone();
        plain.remove(header::UPGRADE);
        assert_eq!(accept_key(&Method::GET, &plain), None);
        let mut keyless = h;
        keyless.remove(header::SEC_WEBSOCKET_KEY);
        assert_eq!(accept_key(&Method::GET, &keyless), None);
    }
}
