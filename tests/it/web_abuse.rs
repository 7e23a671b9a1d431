//! The web address under abuse, over real sockets: one set of limits for
//! every listener, half-sent requests (slowloris), idle connections by the
//! thousand under a low descriptor limit, a rebound DNS name, the security
//! headers on every answer (errors included), and a browser that finds the
//! chat port instead of the page.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::util::{
    http_exchange, member, metric_until, read_http_answer, web_server, web_server_from, Peer,
    Server, WAIT,
};

/// A WebSocket request with this `Host` and `Origin`.
fn upgrade(host: &str, origin: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: {origin}\r\n\r\n"
    )
}

fn get(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

fn status(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {head:?}"))
}

/// The page's security headers are on this answer.
fn assert_secured(head: &str) {
    let lower = head.to_ascii_lowercase();
    for h in [
        "content-security-policy: default-src 'none'",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "referrer-policy: no-referrer",
    ] {
        assert!(lower.contains(h), "no {h} in:\n{head}");
    }
}

/// The server closes `s` (reads end) within the test's wait.
fn closed_by_server(s: &mut TcpStream) {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut sink = Vec::new();
    match s.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("still open after {WAIT:?} ({e}); read {sink:?}"),
    }
}

#[test]
fn one_set_of_limits_counts_the_chat_port_and_the_web_together() {
    let (server, host) = web_server(
        &[],
        &[
            ("TCPPLAY_LIMITS__MAX_HANDSHAKES", "2"),
            ("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "3"),
        ],
    );
    // Two silent chat connections hold both handshake permits.
    let mut a = Peer::connect(server.addr);
    let mut b = Peer::connect(server.addr);
    assert_eq!(a.recv()["type"], "hello");
    assert_eq!(b.recv()["type"], "hello");
    // A WebSocket asks for a third: refused (the web had its own two before).
    let mut web = TcpStream::connect(&host).unwrap();
    web.set_read_timeout(Some(WAIT)).unwrap();
    web.write_all(upgrade(&host, &format!("http://{host}")).as_bytes())
        .unwrap();
    let (head, body) = read_http_answer(&mut web);
    assert_eq!(status(&head), 503, "{head}{body}");
    assert!(body.contains("joining at once"), "{body}");
    assert_secured(&head);
    // Two chat connections and one web connection are open from 127.0.0.1:
    // a fourth is refused on either port (an HTTP connection counted before).
    let mut c = Peer::connect(server.addr);
    let e = c.recv();
    assert_eq!(e["code"], "too_many_connections", "{e}");
    let (head, body) = http_exchange(&host, &get(&host, "/"));
    assert_eq!(status(&head), 429, "{head}{body}");
    assert!(body.contains("max_clients_per_address = 3"), "{body}");
    assert_secured(&head);
}

#[test]
fn half_sent_and_silent_requests_are_closed_after_the_handshake_timeout() {
    let (_server, host) = web_server(
        &[],
        &[
            ("TCPPLAY_LIMITS__HANDSHAKE_TIMEOUT", "1"),
            ("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "2"),
        ],
    );
    let mut half = TcpStream::connect(&host).unwrap();
    half.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-A: ").as_bytes())
        .unwrap();
    let mut silent = TcpStream::connect(&host).unwrap();
    // Both hold their address's places meanwhile.
    let (head, _) = http_exchange(&host, &get(&host, "/"));
    assert_eq!(status(&head), 429, "{head}");
    closed_by_server(&mut half);
    closed_by_server(&mut silent);
    // Closed, they give their places back (the moment after the close).
    let deadline = std::time::Instant::now() + WAIT;
    let (head, body) = loop {
        let (head, body) = http_exchange(&host, &get(&host, "/"));
        if status(&head) != 429 || std::time::Instant::now() > deadline {
            break (head, body);
        }
    };
    assert_eq!(status(&head), 200, "{head}");
    assert!(body.contains("<html"), "{body}");
}

/// A slow-read attack: requests pipelined, answers never read. The header
/// timeout cannot see it (the requests came whole); the stalled write is
/// given up after `limits.write_timeout`, and the address's place with it.
#[test]
fn a_peer_that_never_reads_its_answers_is_let_go_after_the_write_timeout() {
    let (_server, host) = web_server(
        &[],
        &[
            ("TCPPLAY_LIMITS__WRITE_TIMEOUT", "1"),
            ("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "1"),
        ],
    );
    let mut reader = TcpStream::connect(&host).unwrap();
    // About 30 MB of answers: more than any socket buffers hold.
    let requests = get(&host, "/app.js").repeat(4000);
    let writer = std::thread::spawn(move || {
        let _ = reader.write_all(requests.as_bytes());
        reader
    });
    // It holds the address's only place until the server lets it go.
    let deadline = std::time::Instant::now() + WAIT;
    let head = loop {
        let (head, _) = http_exchange(&host, &get(&host, "/"));
        if status(&head) != 429 || std::time::Instant::now() > deadline {
            break head;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(status(&head), 200, "still refused: {head}");
    drop(writer);
}

/// Under a 1,024-descriptor limit, 1,100 idle web connections from one
/// address (no per-address limit) take at most half the descriptors: the
/// rest are refused with 503 and a chat member still gets in.
#[cfg(target_os = "linux")]
#[test]
fn idle_web_connections_cannot_lock_the_chat_port_out_of_descriptors() {
    raise_own_files(4096);
    let server = Server::start_with_files(
        &[
            "--no-history",
            "--web",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ],
        &[
            ("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "0"),
            ("TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE", "0"),
            ("TCPPLAY_LIMITS__HANDSHAKE_TIMEOUT", "600"),
        ],
        1024,
    );
    let (mut server, host) = web_server_from(server);
    let metrics = server.metrics_addr();
    server
        .proc
        .stderr
        .expect("web: at most 480 connections at once, not limits.max_web_connections = 1024");
    let idle: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect(&host).unwrap())
        .collect();
    // (1,024 - 64 kept for the server's own files) / 2 = 480 are held.
    metric_until(
        &metrics,
        "tcpplay_limit_fired_total{limit=\"max_web_connections\"}",
        620.0,
    );
    let (mut p, welcome) = member(server.addr, "late", &[]);
    assert_eq!(welcome.name, "late");
    crate::util::say(&mut p, "#lobby", "still here");
    p.recv_chat("still here");
    drop(idle);
}

#[cfg(target_os = "linux")]
fn raise_own_files(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit on our own process with a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[test]
fn a_rebound_name_reaches_nothing_and_the_servers_own_names_do() {
    let (_server, host) = web_server(&[], &[]);
    let port = host.rsplit(':').next().unwrap();
    // DNS rebinding: evil.example now resolves here; its page asks with its
    // own name as Host and Origin — the same, so the Origin check alone let it in.
    let evil = format!("evil.example:{port}");
    let (head, body) = http_exchange(&host, &upgrade(&evil, &format!("http://{evil}")));
    assert_eq!(status(&head), 421, "{head}{body}");
    assert!(body.contains("\"evil.example\""), "{body}");
    assert_secured(&head);
    let (head, _) = http_exchange(&host, &get(&evil, "/"));
    assert_eq!(status(&head), 421, "{head}");
    // Nor does it get around the check with a second Host (the first one
    // served), none, or a full URL naming it (whose host is the request's).
    for request in [
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nHost: {evil}\r\n\r\n"),
        "GET / HTTP/1.1\r\n\r\n".to_string(),
    ] {
        let (head, _) = http_exchange(&host, &request);
        assert_eq!(status(&head), 400, "{request:?}: {head}");
        assert_secured(&head);
    }
    let full = format!("GET http://{evil}/ HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let (head, _) = http_exchange(&host, &full);
    assert_eq!(status(&head), 421, "{head}");
    // Its address and localhost are served; the socket opens from its own page.
    let local = format!("localhost:{port}");
    let (head, _) = http_exchange(&host, &get(&local, "/"));
    assert_eq!(status(&head), 200, "{head}");
    let (head, _) = http_exchange(&host, &upgrade(&host, &format!("http://{host}")));
    assert_eq!(status(&head), 101, "{head}");
}

#[test]
fn every_answer_of_the_web_address_has_the_security_headers() {
    // (A second head that is bad waits out the header timeout: 1 s.)
    let (_server, host) = web_server(&[], &[("TCPPLAY_LIMITS__HANDSHAKE_TIMEOUT", "1")]);
    for (request, code) in [
        (get(&host, "/"), 200),
        (get(&host, "/ws"), 400),
        (get(&host, "/nothing-here"), 404),
        (upgrade(&host, "http://elsewhere.example"), 403),
        (get("rebound.example", "/"), 421),
        // Before hyper parses anything: its own bare 400 and 431 are never sent.
        ("GET / HTTP/2.0\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n".into(), 400),
        ("\x01\x02 nonsense\r\n\r\n".into(), 400),
        // A head still unfinished at 32 KiB (all of it read: no reset).
        (
            format!(
                "GET / HTTP/1.1\r\nHost: {host}\r\nCookie: {}",
                "a".repeat(32 * 1024)
            )[..32 * 1024]
                .to_string(),
            431,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: {host}\r\n{}\r\n",
                "A: b\r\n".repeat(101)
            ),
            431,
        ),
        (
            format!("POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello"),
            413,
        ),
    ] {
        let (head, _) = http_exchange(&host, &request);
        assert_eq!(status(&head), code, "{request:?} got {head}");
        assert_secured(&head);
    }
    // A bad head after a good one on a kept-alive connection: the good one's
    // answer, then the connection ends (at the header timeout) — never an
    // answer without the headers.
    let mut s = std::net::TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(crate::util::WAIT)).unwrap();
    s.write_all(format!("{}GET / HTTP/2.0\r\n\r\n", get(&host, "/")).as_bytes())
        .unwrap();
    let (head, _) = crate::util::read_http_answer(&mut s);
    assert_eq!(status(&head), 200, "{head}");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.is_empty() || rest.starts_with("HTTP/1.1 400"),
        "{rest}"
    );
    if !rest.is_empty() {
        assert_secured(&rest);
    }
}

#[test]
fn a_browser_on_the_chat_port_is_told_where_the_page_is() {
    // With the page on: a redirect to it, in HTTP, not JSON.
    let (server, host) = web_server(&[], &[]);
    let chat = server.addr.to_string();
    let (head, body) = http_exchange(&chat, &get(&chat, "/"));
    assert_eq!(status(&head), 307, "{head}{body}");
    assert!(
        head.contains(&format!("Location: http://{host}/\r\n")),
        "{head}"
    );
    assert!(body.contains(&format!("http://{host}/")), "{body}");
    assert!(!body.contains("\"type\""), "{body}");
    assert_secured(&head);
    // A chat client still gets its hello.
    let (_p, welcome) = member(server.addr, "tcp", &[]);
    assert_eq!(welcome.name, "tcp");
    // With the page off: how to turn it on.
    let plain = Server::start(&["--no-history"]);
    let chat = plain.addr.to_string();
    let (head, body) = http_exchange(&chat, &get(&chat, "/"));
    assert_eq!(status(&head), 400, "{head}{body}");
    assert!(body.contains("--web ADDR"), "{body}");
    assert_secured(&head);
}

/// A browser on a TLS chat port (its ClientHello offers HTTP by ALPN, as
/// every browser's does) gets the same answer inside TLS; a chat client over
/// TLS still gets its hello.
#[test]
fn a_browser_on_the_tls_chat_port_gets_an_http_answer_inside_tls() {
    let cert = crate::util::make_cert();
    let server = Server::tls(&cert.cert, &cert.key, &["--no-history"]);
    let script = "import socket, ssl, sys\n\
                  ctx = ssl.create_default_context(cafile=sys.argv[2])\n\
                  ctx.set_alpn_protocols(['h2', 'http/1.1'])\n\
                  s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=15), server_hostname='localhost')\n\
                  s.sendall(b'GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n')\n\
                  data = b''\n\
                  while True:\n    d = s.recv(4096)\n    if not d: break\n    data += d\n\
                  print(s.selected_alpn_protocol())\n\
                  print(data.decode())\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, &server.port(), cert.cert.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("http/1.1\nHTTP/1.1 400 Bad Request\r\n"),
        "{said} / {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("--web ADDR"), "{said}");
    assert!(!said.contains("\"type\""), "{said}");
    let mut p = Peer::connect_tls(server.addr, &cert.cert);
    assert_eq!(p.recv()["type"], "hello");
}

/// `http://` typed for the HTTPS web address (under `--tls`): the browser
/// is sent to the `https://` address, with the security headers, instead of
/// getting TLS bytes it cannot show.
#[test]
fn plain_http_on_the_https_web_address_is_sent_to_https() {
    let cert = crate::util::make_cert();
    let (c, k) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    let server = Server::start(&[
        "--tls",
        "--cert",
        c,
        "--key",
        k,
        "--no-history",
        "--web",
        "127.0.0.1:0",
    ]);
    let (_server, url) = web_server_from(server);
    let host = url.trim_start_matches("https://").to_string();
    let port = host.rsplit(':').next().unwrap();
    let (head, body) = http_exchange(&host, &get(&format!("localhost:{port}"), "/"));
    assert_eq!(status(&head), 307, "{head}{body}");
    assert!(
        head.contains(&format!("Location: https://localhost:{port}/\r\n")),
        "{head}"
    );
    assert!(body.contains("HTTPS"), "{body}");
    assert_secured(&head);
}

/// A WebSocket client that sends its first frame with the upgrade request,
/// before the 101 (as a hurried client may): the frame is kept for the
/// socket, not taken for a bad request head.
#[test]
fn a_frame_sent_with_the_upgrade_request_reaches_the_session() {
    let (_server, host) = web_server(&[], &[]);
    let auth = br#"{"type":"auth","name":"early","proto":3}"#;
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | auth.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(auth.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let mut s = TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(crate::util::WAIT)).unwrap();
    let mut sent = upgrade(&host, &format!("http://{host}")).into_bytes();
    sent.extend_from_slice(&frame);
    s.write_all(&sent).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("auth_result") {
        let n = s.read(&mut chunk).expect("the session's answer");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 101 "), "{got}");
    assert!(got.contains("\"client_name\":\"early\""), "{got}");
}
