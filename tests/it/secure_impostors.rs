//! Secure rooms against servers and relays that are not what they claim:
//! a man in the middle, an impostor without the room's record, a server
//! that says it is not secure (or is tcpplay's v1, or the Python
//! original's secure mode), a remembered secure room that changed, and
//! what a hostile server's words can do to the terminal. Each fails
//! before anything that could test a password guess is sent.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{json, Value};
use tcpplay::crypto;
use tcpplay::crypto::room::{RoomRecord, ServerStart, SCHEME};

use crate::secure::{join_args, join_command, join_fails, secure_server, PASSWORD};
use crate::util::{make_cert, tls_once, CertFiles, Server};

/// A relay that terminates TLS with its own certificate and forwards to the
/// real server: what a man in the middle does.
fn mitm_proxy(upstream: SocketAddr, upstream_cert: &Path) -> (SocketAddr, CertFiles) {
    let own = make_cert();
    let connector = tokio_rustls::TlsConnector::from(
        tcpplay::tls::client_config(&tcpplay::tls::Trust::File(upstream_cert.to_path_buf()))
            .unwrap(),
    );
    // One victim is enough; the relay ends with it.
    let addr = tls_once(&own, move |mut down| async move {
        let up = tokio::net::TcpStream::connect(upstream).await.unwrap();
        let name = tcpplay::tls::server_name("localhost").unwrap();
        let mut up = connector.connect(name, up).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
    });
    (addr, own)
}

#[test]
fn a_relaying_man_in_the_middle_is_detected_even_with_tls_insecure() {
    let cert = make_cert();
    let mut server = secure_server(&cert, &[]);
    let (proxy, _proxy_cert) = mitm_proxy(server.addr, &cert.cert);
    let mut cmd = crate::util::tcpplay(server.home.path());
    cmd.args([
        "join",
        "--host",
        "127.0.0.1",
        "--port",
        &proxy.port().to_string(),
    ])
    .args(["--tls-insecure", "--name", "victim"])
    .env("TCPPLAY_PASSWORD", PASSWORD);
    let mut victim = crate::util::Proc::spawn(cmd);
    assert_eq!(victim.wait(), 1);
    let err = victim.stderr.rest().join("\n");
    assert!(err.contains("could not prove it holds this room"), "{err}");
    assert!(
        !err.contains("Connected to"),
        "nothing shown after a failed login: {err}"
    );
    // The real server saw a login that did not finish: a failed one.
    server.proc.stderr.expect("login failed");
}

/// A TLS server written here, which plays a secure room it does not hold:
/// a hello of its own, and for a KE1 a KE2 from a record of its own (the
/// best it can do without the room's). It reports every line it received.
fn impostor(cert: &CertFiles, tx: std::sync::mpsc::Sender<Vec<String>>) -> SocketAddr {
    tls_once(cert, move |tls| async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let own = RoomRecord::register(b"the impostor's guess").unwrap();
        let (r, mut w) = tokio::io::split(tls);
        let hello = json!({"type": "hello", "secure": true, "proto": 2, "server": "tcpplay/0.2",
            "auth": {"scheme": SCHEME, "room": crypto::b64(&own.id)}});
        w.write_all(format!("{hello}\n").as_bytes()).await.unwrap();
        let mut lines = BufReader::new(r).lines();
        let mut got = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let v: Value = serde_json::from_str(&line).unwrap();
            if let Some(ke1) = v["ke1"].as_str() {
                let ke1 = crypto::unb64(ke1).unwrap();
                let s = ServerStart::new(&own, &ke1, &[0; 32]).unwrap();
                let step = json!({"type": "auth_step", "ke2": crypto::b64(&s.ke2)});
                w.write_all(format!("{step}\n").as_bytes()).await.unwrap();
            }
            got.push(line);
        }
        let _ = tx.send(got);
    })
}

#[test]
fn an_impostor_server_learns_nothing_it_can_test_a_guess_against() {
    let cert = make_cert();
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = impostor(&cert, tx);
    let err = join_fails(addr.port(), &cert, "victim", PASSWORD);
    assert!(
        err.contains("could not prove it holds this room") && err.contains("impostor"),
        "{err}"
    );
    let got = rx.recv_timeout(crate::util::WAIT).unwrap();
    // One line: the login's first message, blinded; no KE3 (the client
    // stopped when the server could not prove the room), no password.
    assert_eq!(got.len(), 1, "{got:#?}");
    let auth: Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(auth["type"], "auth");
    assert!(auth.get("proof").is_none() && auth.get("password").is_none());
    assert!(!got[0].contains(PASSWORD));
    // What it holds (KE1) gives no oracle: the server side of a login runs
    // the same for the right password's record and any other.
    let ke1 = crypto::unb64(auth["ke1"].as_str().unwrap()).unwrap();
    for guess in [PASSWORD, "hunter2"] {
        let record = RoomRecord::register(guess.as_bytes()).unwrap();
        assert!(ServerStart::new(&record, &ke1, &[0; 32]).is_ok());
    }
}

/// A TLS server written here that says what the test tells it, then
/// reports what it received.
fn fake_server(cert: &CertFiles, first: Value, tx: std::sync::mpsc::Sender<Vec<u8>>) -> SocketAddr {
    tls_once(cert, move |mut tls| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tls.write_all(format!("{first}\n").as_bytes())
            .await
            .unwrap();
        let mut got = Vec::new();
        let _ = tls.read_to_end(&mut got).await;
        let _ = tx.send(got);
    })
}

#[test]
fn a_server_that_says_it_is_not_secure_gets_nothing_from_a_user_with_a_password() {
    let cert = make_cert();
    let (tx, rx) = std::sync::mpsc::channel();
    let hello = json!({"type": "hello", "secure": false, "proto": 2, "server": "tcpplay/0.2"});
    let addr = fake_server(&cert, hello, tx);
    let err = join_fails(addr.port(), &cert, "x", PASSWORD);
    assert!(
        err.contains("downgrading") && err.contains("a room password was given"),
        "{err}"
    );
    let sent = rx.recv_timeout(crate::util::WAIT).unwrap();
    assert!(
        sent.is_empty(),
        "nothing sent: {:?}",
        String::from_utf8_lossy(&sent)
    );
}

#[test]
fn a_host_remembered_as_a_secure_room_is_refused_when_it_says_otherwise() {
    let cert = make_cert();
    let server = secure_server(&cert, &[]);
    let home = tempfile::TempDir::new().unwrap();
    // A successful secure join is remembered.
    let mut ok = crate::util::Proc::spawn(join_command(
        home.path(),
        server.addr.port(),
        &cert,
        "first",
        PASSWORD,
    ));
    ok.stderr.expect("Connected to");
    ok.close_stdin();
    assert_eq!(ok.wait(), 0);
    let known = home.path().join(".local/share/tcpplay/known_hosts");
    let target = format!("localhost:{}", server.port());
    let text = std::fs::read_to_string(&known).unwrap();
    assert!(text.contains(&format!("{target} secure-room")), "{text}");
    // Now a server on such an address answers "not secure" (no password given).
    let (tx, rx) = std::sync::mpsc::channel();
    let hello = json!({"type": "hello", "secure": false, "proto": 2});
    let addr = fake_server(&cert, hello, tx);
    std::fs::write(&known, format!("localhost:{} secure-room\n", addr.port())).unwrap();
    let out = crate::util::tcpplay(home.path())
        .args(["join", "--port", &addr.port().to_string()])
        .args(join_args(&cert, "second"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("it was a secure room before"), "{err}");
    assert!(rx.recv_timeout(crate::util::WAIT).unwrap().is_empty());
}

#[test]
fn a_password_never_falls_back_to_plaintext() {
    let server = Server::start(&["--no-history"]);
    let home = tempfile::TempDir::new().unwrap();
    let out = crate::util::tcpplay(home.path())
        .args([
            "join",
            "--host",
            "127.0.0.1",
            "--port",
            &server.port(),
            "--name",
            "x",
        ])
        .env("TCPPLAY_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the server does not speak TLS"), "{err}");
}

#[test]
fn a_tcpplay_secure_rooms_v1_server_is_refused_before_anything_is_sent() {
    let cert = make_cert();
    let (tx, rx) = std::sync::mpsc::channel();
    let hello = json!({"type": "hello", "secure": true, "proto": 1, "server": "tcpplay/0.1.0",
        "auth": {"kdf": "argon2id", "m_kib": 8, "t": 1, "p": 1,
                 "salt": crypto::b64(&[1; 16]), "challenge": crypto::b64(&[2; 32])}});
    let addr = fake_server(&cert, hello, tx);
    let err = join_fails(addr.port(), &cert, "x", PASSWORD);
    assert!(
        err.contains("secure rooms v1") && err.contains("upgrade"),
        "{err}"
    );
    assert!(
        rx.recv_timeout(crate::util::WAIT).unwrap().is_empty(),
        "no proof sent"
    );
}

#[test]
fn tcpplay_join_refuses_a_legacy_python_secure_server() {
    let cert = make_cert();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let addr = tls_once(&cert, move |mut tls| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tls.write_all(b"{\"type\":\"hello\",\"secure\":true}\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let _ = tls.read_to_end(&mut got).await;
        let _ = tx.send(got);
    });
    let err = join_fails(addr.port(), &cert, "x", "legacy-secret");
    assert!(err.contains("old secure mode"), "{err}");
    let sent = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert!(
        !String::from_utf8_lossy(&sent).contains("legacy-secret"),
        "the password never left the client"
    );
}

#[test]
fn check_never_logs_in_to_a_server_whose_certificate_did_not_verify() {
    let cert = make_cert();
    let server = secure_server(&cert, &[]);
    let out = crate::util::run(
        server.home.path(),
        &[
            "check",
            &format!("localhost:{}", server.port()),
            "--name",
            "probe",
        ],
    )
    .env("TCPPLAY_PASSWORD", PASSWORD)
    .go();
    assert_eq!(out.code, 6, "{out:#?}");
    out.stdout_has("join: not attempted: the server's certificate did not verify");
}

#[test]
fn escapes_in_a_servers_error_never_reach_the_terminal() {
    let cert = make_cert();
    let (tx, _rx) = std::sync::mpsc::channel();
    let evil = json!({"type": "error", "code": "x\u{1b}]52;c;cm0gLXJmIH4=\u{7}",
        "message": "\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}31m gotcha"});
    let addr = fake_server(&cert, evil, tx);
    let err = join_fails(addr.port(), &cert, "x", PASSWORD);
    assert!(err.contains("gotcha"), "{err}");
    for raw in ['\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(
            !err.contains(raw),
            "raw {raw:?} reached the terminal: {err:?}"
        );
    }
}
