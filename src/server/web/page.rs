//! The page a browser member opens: HTML, CSS and JavaScript compiled into
//! the binary (nothing is fetched from anywhere else), served with a strict
//! Content-Security-Policy (no inline script or style: the page's own files
//! only, and the socket to this server), `nosniff`, no referrer, and no
//! framing. The script inserts every peer text as text, never as HTML.
//!
//! The script is one file made from the parts in `page/` (each with one
//! job), in one strict-mode scope, after the table of commands
//! ([`crate::commands::COMMANDS`]) as JSON: the page's `/help` lists the
//! same commands in the same words as `tcpplay join`'s.

use std::sync::LazyLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::commands::COMMANDS;

const INDEX: &str = include_str!("page/index.html");
const STYLE: &str = include_str!("page/app.css");

/// The script's parts, in the order they are put together.
const PARTS: [&str; 8] = [
    include_str!("page/util.js"),
    include_str!("page/convs.js"),
    include_str!("page/net.js"),
    include_str!("page/receive.js"),
    include_str!("page/lines.js"),
    include_str!("page/chrome.js"),
    include_str!("page/typed.js"),
    include_str!("page/main.js"),
];

/// The page's script: the command table, then the parts.
static SCRIPT: LazyLock<String> = LazyLock::new(|| {
    let table = serde_json::to_string(&COMMANDS).expect("a table of strings is JSON");
    let mut s = format!(
        "// tcpplay's page (made by the server from src/server/web/page/*.js).\n\
         \"use strict\";\n(() => {{\nconst COMMANDS = {table};\n"
    );
    for part in PARTS {
        s.push_str(part);
        s.push('\n');
    }
    s.push_str("})();\n");
    s
});

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
    with_headers("text/javascript; charset=utf-8", SCRIPT.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_carries_the_one_table_of_commands() {
        let table = SCRIPT
            .lines()
            .find_map(|l| l.strip_prefix("const COMMANDS = "))
            .and_then(|l| l.strip_suffix(';'))
            .expect("the table's line");
        let parsed: Vec<(String, String)> = serde_json::from_str(table).unwrap();
        assert_eq!(parsed.len(), COMMANDS.len());
        for ((usage, help), (u, h)) in parsed.iter().zip(COMMANDS) {
            assert_eq!((usage.as_str(), help.as_str()), (u, h));
        }
        // No part declares its own list of commands or sets markup.
        for part in PARTS {
            assert!(!part.contains("const COMMANDS"), "a second table");
            assert!(!part.contains("innerHTML"), "peer text must be text");
        }
    }
}
