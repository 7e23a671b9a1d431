//! What every request on the web address passes, and what every answer
//! carries: the `Host` must be a name this server serves — an IP address,
//! `localhost`, or one of the names it was given (its certificate's, this
//! machine's, `web.origins`') — so a page elsewhere that points its own name
//! at this address (DNS rebinding) reaches nothing; and every answer, errors
//! included, has the page's security headers. Also the few answers written
//! whole, before or without HTTP parsing (a refused connection, the chat
//! port's answer to a browser), with the same headers.

use std::net::IpAddr;

use axum::extract::{Extension, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::page;
use super::Shared;

/// The names (not addresses) the web address answers to, lower case.
#[derive(Debug, Default)]
pub(crate) struct Hosts(Vec<String>);

impl Hosts {
    pub(crate) fn new(names: impl IntoIterator<Item = String>) -> Hosts {
        let mut v: Vec<String> = names.into_iter().map(|n| normal(&n)).collect();
        v.sort();
        v.dedup();
        Hosts(v)
    }

    /// `host` (a `Host` header's value, port or not) is served here.
    pub(crate) fn serves(&self, host: &str) -> bool {
        let name = normal(host_part(host));
        if name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        self.0.iter().any(|n| match n.strip_prefix("*.") {
            Some(base) => name.split_once('.').is_some_and(|(_, rest)| rest == base),
            None => *n == name,
        })
    }
}

/// The host of `host[:port]` or `[v6]:port`, brackets off.
pub(super) fn host_part(h: &str) -> &str {
    let h = h.trim();
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match h.rsplit_once(':') {
        // A bare IPv6 address has more than one colon.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => h,
    }
}

fn normal(n: &str) -> String {
    n.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Every request: refused (421) when its `Host` is not served here; every
/// answer gets the security headers.
pub(super) async fn guard(
    Extension(shared): Extension<Shared>,
    request: Request,
    next: Next,
) -> Response {
    // The request's one host: an absolute-form target's (its Host is then
    // ignored, RFC 9112 3.2.2), else the one Host header; two, or none in
    // HTTP/1.1, is a bad request (RFC 9112 3.2) — never the first of two.
    let headers = request.headers().get_all(header::HOST);
    let host = match request.uri().authority() {
        Some(a) => Some(a.host().to_string()),
        None => headers
            .iter()
            .next()
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned()),
    };
    let unnamed = host.is_none() && request.version() == axum::http::Version::HTTP_11;
    let mut answer = match host {
        _ if headers.iter().nth(1).is_some() || unnamed => (
            StatusCode::BAD_REQUEST,
            "a request names its host in exactly one Host header\n",
        )
            .into_response(),
        Some(h) if !shared.hosts.serves(&h) => {
            let shown = crate::names::sanitize(host_part(&h));
            tracing::warn!(host = %shown, "web: a request for a name this server does not serve refused (DNS rebinding?)");
            (StatusCode::MISDIRECTED_REQUEST, format!(
                "this server does not answer to the name \"{shown}\": open the page by this server's address, localhost, or a name in its certificate (another name can be added to web.origins)\n"
            ))
                .into_response()
        }
        _ => next.run(request).await,
    };
    page::secure(answer.headers_mut());
    answer
}

/// A whole HTTP/1.1 answer with a text body and the security headers,
/// closing the connection.
pub(crate) fn whole(status: StatusCode, extra: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut h = HeaderMap::new();
    page::secure(&mut h);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    for (k, v) in &h {
        out.push_str(&format!(
            "{k}: {}\r\n",
            String::from_utf8_lossy(v.as_bytes())
        ));
    }
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_the_given_names_are_served_and_nothing_else() {
        let h = Hosts::new(["Chat.Example".to_string(), "*.lan.example".into()]);
        for ok in [
            "192.0.2.5:8080",
            "[::1]:8080",
            "::1",
            "localhost:80",
            "LOCALHOST.",
            "chat.example:443",
            "chat.example",
            "a.lan.example",
        ] {
            assert!(h.serves(ok), "{ok}");
        }
        for no in [
            "evil.example:8080",
            "a.b.lan.example",
            "chat.example.evil",
            "",
        ] {
            assert!(!h.serves(no), "{no}");
        }
    }

    #[test]
    fn a_whole_answer_has_the_security_headers_and_its_length() {
        let a =
            String::from_utf8(whole(StatusCode::TOO_MANY_REQUESTS, &[], "slow down\n")).unwrap();
        assert!(a.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{a}");
        assert!(
            a.contains("content-security-policy: default-src 'none'"),
            "{a}"
        );
        assert!(a.contains("Content-Length: 10\r\n"), "{a}");
        assert!(a.ends_with("\r\n\r\nslow down\n"), "{a}");
    }
}
