//! The page a browser member opens: HTML, CSS and JavaScript compiled into
//! the binary (nothing is fetched from anywhere else), served with a strict
//! Content-Security-Policy (no inline script or style: the page's own files
//! only, and the socket to this server), `nosniff`, no referrer, and no
//! framing. The script inserts every peer text as text, never as HTML.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// The policy every response carries.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn with_headers(kind: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    secure(h);
    r
}

/// The security headers, on every answer of the web address (`guard`).
pub(super) fn secure(h: &mut axum::http::HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

pub(super) async fn index() -> Response {
    with_headers("text/html; charset=utf-8", INDEX)
}

pub(super) async fn script() -> Response {
    with_headers("text/javascript; charset=utf-8", SCRIPT)
}

pub(super) async fn style() -> Response {
    with_headers("text/css; charset=utf-8", STYLE)
}

pub(super) async fn not_found() -> Response {
    let mut r = (
        StatusCode::NOT_FOUND,
        "not found: this server serves / and /ws\n",
    )
        .into_response();
    secure(r.headers_mut());
    r
}
