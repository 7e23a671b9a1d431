//! Secure rooms (v2, OPAQUE) over real TLS on 127.0.0.1: the password never
//! leaves the client in any testable form, the login is bound to the TLS
//! session, the server relays and stores only what it cannot read, and each
//! attack found in the review of v1 now fails (docs/SECURITY.md names them).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use tcpplay::crypto::room::{ClientStart, RoomRecord, ServerStart, SCHEME};
use tcpplay::crypto::{self, Kind, RoomKey, Sealed};

use crate::util::{make_cert, tls_once, CertFiles, Peer, Server};

const PASSWORD: &str = "correct horse battery staple";

fn secure_server(cert: &CertFiles, env: &[(&str, &str)]) -> Server {
    secure_server_in(cert, env, Arc::new(tempfile::TempDir::new().unwrap()), "0")
}

fn secure_server_in(
    cert: &CertFiles,
    env: &[(&str, &str)],
    home: Arc<tempfile::TempDir>,
    port: &str,
) -> Server {
    let pw = home.path().join("room-password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let mut args = vec![
        "--secure",
        "--password-file",
        pw.to_str().unwrap(),
        "--port",
        port,
    ];
    args.extend([
        "--cert",
        cert.cert.to_str().unwrap(),
        "--key",
        cert.key.to_str().unwrap(),
    ]);
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with(&args, env, home)
}

/// A raw peer that logs in with the library's OPAQUE steps over its own
/// TLS socket, then speaks raw JSON: a member (or a malicious one) who knows
/// the password.
struct Member {
    peer: Peer,
    key: RoomKey,
    name: String,
}

impl Member {
    /// `text` sealed as `kind` from `from` (normally our own name), sent now.
    fn sealed(&self, from: &str, kind: Kind<'_>, text: &str) -> (String, u64) {
        let sent = tcpplay::protocol::now_ms();
        let what = Sealed {
            from,
            kind,
            sent,
            room: "",
        };
        (self.key.seal(text, &what), sent)
    }

    fn say(&mut self, text: &str) {
        let (payload, sent) = self.sealed(&self.name.clone(), Kind::Chat, text);
        self.peer
            .send(json!({"type": "chat", "encrypted": true, "payload": payload, "sent": sent}));
    }

    /// Open a received chat packet as what it claims to be.
    fn open(&self, v: &Value) -> Option<String> {
        let kind = if v["action"] == true {
            Kind::Action
        } else {
            Kind::Chat
        };
        let what = Sealed {
            from: v["from"].as_str()?,
            kind,
            sent: v["sent"].as_u64()?,
            room: v["room"].as_str().unwrap_or(""),
        };
        self.key
            .open(v["payload"].as_str()?, &what)
            .ok()
            .map(|(t, _)| t)
    }
}

/// Log in as `name` from `from` (a loopback address); the server's refusal
/// (its packet), or `{"client": ...}` when the client refused the server.
fn raw_member_from(
    addr: SocketAddr,
    cert: &Path,
    password: &str,
    name: &str,
    from: Option<&str>,
) -> Result<Member, Value> {
    let (mut peer, binding) = Peer::connect_tls_from(addr, cert, from.map(|f| f.parse().unwrap()));
    let hello = peer.recv();
    assert_eq!(hello["secure"], true);
    assert!(hello["proto"].as_u64().unwrap() >= 2, "{hello}");
    assert_eq!(hello["auth"]["scheme"], SCHEME);
    let room = crypto::unb64(hello["auth"]["room"].as_str().unwrap()).unwrap();
    let client = ClientStart::new(password.as_bytes()).unwrap();
    peer.send(json!({"type": "auth", "name": name, "proto": 2, "ke1": crypto::b64(&client.ke1)}));
    let step = peer.recv();
    if step["type"] != "auth_step" {
        return Err(step);
    }
    let ke2 = crypto::unb64(step["ke2"].as_str().unwrap()).unwrap();
    let Ok((ke3, key)) = client.finish(password.as_bytes(), &ke2, &room, &binding) else {
        return Err(json!({"client": "the server did not prove the room"}));
    };
    peer.send(json!({"type": "auth_step", "ke3": crypto::b64(&ke3)}));
    let r = peer.recv_type("auth_result");
    if r["ok"] != true {
        return Err(r);
    }
    let name = r["client_name"].as_str().unwrap().to_string();
    Ok(Member { peer, key, name })
}

fn raw_member(addr: SocketAddr, cert: &Path, password: &str, name: &str) -> Result<Member, Value> {
    raw_member_from(addr, cert, password, name, None)
}

/// `tcpplay join NAME` to `localhost:port`, trusting `cert`, with `password`
/// in TCPPLAY_PASSWORD.
fn join_command(home: &Path, port: u16, cert: &CertFiles, name: &str, password: &str) -> Command {
    let mut cmd = crate::util::tcpplay(home);
    cmd.args(["join", "--port", &port.to_string()])
        .args(join_args(cert, name))
        .env("TCPPLAY_PASSWORD", password);
    cmd
}

/// [`join_command`] to `server`, running.
/// `tcpplay join` that must fail with exit 1 (a fresh home); its stderr.
fn join_fails(port: u16, cert: &CertFiles, name: &str, password: &str) -> String {
    let home = tempfile::TempDir::new().unwrap();
    let out = join_command(home.path(), port, cert, name, password)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    err
}

fn join_binary(server: &Server, cert: &CertFiles, name: &str, password: &str) -> crate::util::Proc {
    crate::util::Proc::spawn(join_command(
        server.home.path(),
        server.addr.port(),
        cert,
        name,
        password,
    ))
}

fn join_args<'a>(cert: &'a CertFiles, name: &'a str) -> Vec<&'a str> {
    vec![
        "--host",
        "localhost",
        "--cert",
        cert.cert.to_str().unwrap(),
        "--name",
        name,
    ]
}

#[test]
fn right_password_chats_and_the_server_relays_only_ciphertext() {
    let cert = make_cert();
    let mut server = secure_server(&cert, &[]);
    let mut ann = join_binary(&server, &cert, "Ann", PASSWORD);
    let connected = ann.stderr.expect("Connected to");
    assert!(
        connected.contains("secure room: each side proved itself to the other"),
        "{connected}"
    );

    let mut watcher = raw_member(server.addr, &cert.cert, PASSWORD, "watcher").unwrap();
    ann.send_line("the eagle lands at noon");
    ann.stdout.expect("Ann: the eagle lands at noon");
    // What the server sent to another member: the raw line holds no plaintext.
    let v = watcher.peer.recv_type("chat");
    let text = v.to_string();
    assert!(!text.contains("eagle"), "plaintext on the wire: {text}");
    assert_eq!(v["encrypted"], true);
    assert!(v.get("text").is_none());
    assert_eq!(watcher.open(&v).unwrap(), "the eagle lands at noon");

    // And the other way: a member's sealed line reaches `tcpplay join` opened.
    watcher.say("copy that");
    ann.stdout.expect(&format!("{}: copy that", watcher.name));
    // The server's console cannot read the room (nobody unlocked it).
    let console = server.proc.stdout.expect("Ann[");
    assert!(console.contains("[sealed: /unlock to read]"), "{console}");
    assert!(!console.contains("eagle"), "{console}");
}

#[test]
fn wrong_password_is_refused_generically_with_exit_1_and_others_keep_chatting() {
    let cert = make_cert();
    let mut server = secure_server(&cert, &[]);
    let mut good = raw_member(server.addr, &cert.cert, PASSWORD, "good").unwrap();
    let mut eve = join_binary(&server, &cert, "eve", "not the password");
    assert_eq!(eve.wait(), 1);
    let err = eve.stderr.rest().join("\n");
    assert!(
        err.contains("could not prove it holds this room") && err.contains("the password is wrong"),
        "{err}"
    );
    assert!(
        !err.contains("not the password"),
        "the password is never echoed"
    );
    let log = server.proc.stderr.expect("login failed");
    assert!(!log.contains("not the password") && !log.contains(PASSWORD));
    good.say("still here");
    let v = good.peer.recv_type("chat");
    assert_eq!(good.open(&v).unwrap(), "still here");
}

#[test]
fn plaintext_chat_in_a_secure_room_is_refused() {
    let cert = make_cert();
    let server = secure_server(&cert, &[]);
    let mut m = raw_member(server.addr, &cert.cert, PASSWORD, "m").unwrap();
    m.peer
        .send(json!({"type": "chat", "text": "oops in clear"}));
    let e = m.peer.recv_type("error");
    assert_eq!(e["code"], "bad_packet");
}

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

#[test]
fn a_tampered_payload_is_shown_as_undecryptable_not_as_text() {
    let cert = make_cert();
    let server = secure_server(&cert, &[]);
    let mut reader = join_binary(&server, &cert, "reader", PASSWORD);
    reader.stderr.expect("Connected to");
    let mut mallory = raw_member(server.addr, &cert.cert, PASSWORD, "mallory").unwrap();
    let (sealed, sent) = mallory.sealed("mallory", Kind::Chat, "pay 100 to alice");
    let mut raw = crypto::unb64(&sealed).unwrap();
    let last = raw.len() - 20;
    raw[last] ^= 0x01;
    mallory.peer.send(
        json!({"type": "chat", "encrypted": true, "payload": crypto::b64(&raw), "sent": sent}),
    );
    let line = reader.stdout.expect("claimed to be from mallory");
    assert!(
        line.starts_with("! refused a line") && line.contains("does not open under the room key"),
        "{line}"
    );
    assert!(!line.contains("pay"), "{line}");
    assert!(!reader.stdout.seen().iter().any(|l| l.contains("pay 100")));
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
fn a_v1_client_is_told_to_upgrade() {
    let cert = make_cert();
    let server = secure_server(&cert, &[]);
    let mut p = Peer::connect_tls(server.addr, &cert.cert);
    assert_eq!(p.recv()["secure"], true);
    p.send(json!({"type": "auth", "name": "old", "proto": 1, "proof": crypto::b64(&[0; 32])}));
    let r = p.recv_type("auth_result");
    assert_eq!(r["code"], "upgrade_required");
    assert!(r["reason"].as_str().unwrap().contains("upgrade tcpplay"));
}

#[test]
fn repeated_failures_from_one_address_are_throttled_and_another_address_is_not() {
    let cert = make_cert();
    let mut server = secure_server(&cert, &[("TCPPLAY_LIMITS__AUTH_FAILURES", "3")]);
    for _ in 0..3 {
        let r = raw_member(server.addr, &cert.cert, "guess", "bot")
            .err()
            .expect("wrong password refused");
        assert_eq!(r["client"], "the server did not prove the room", "{r}");
    }
    // Each of those was counted when the server sent its KE2 (a guess).
    let r = raw_member(server.addr, &cert.cert, PASSWORD, "owner")
        .err()
        .expect("throttled address");
    assert_eq!(r["code"], "auth_throttled");
    assert!(r["reason"].as_str().unwrap().contains("try again in"));
    server
        .proc
        .stderr
        .expect("login refused: too many failed logins");
    // Linux routes all of 127.0.0.0/8 to loopback; other systems only 127.0.0.1.
    if cfg!(target_os = "linux") {
        let ok = raw_member_from(
            server.addr,
            &cert.cert,
            PASSWORD,
            "elsewhere",
            Some("127.0.0.2"),
        );
        assert!(
            ok.is_ok(),
            "another address is not throttled: {:?}",
            ok.err()
        );
    }
}

#[test]
fn the_python_clients_password_is_refused_with_a_reason_and_never_logged() {
    let cert = make_cert();
    let mut server = secure_server(&cert, &[]);
    let mut p = Peer::connect_tls(server.addr, &cert.cert);
    assert_eq!(p.recv()["secure"], true);
    p.send(json!({"type": "auth", "name": "Legacy", "password": "hunter2-legacy"}));
    let r = p.recv_type("auth_result");
    assert_eq!(r["ok"], false);
    assert_eq!(r["code"], "legacy_secure_unsupported");
    assert!(r["reason"].as_str().unwrap().contains("tcpplay join"));
    assert!(!r.to_string().contains("hunter2"));
    let line = server
        .proc
        .stderr
        .expect("legacy secure-mode client refused");
    assert!(!line.contains("hunter2"));
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
fn secure_without_tls_is_a_start_up_error_naming_gen_cert() {
    let home = tempfile::TempDir::new().unwrap();
    let out = crate::util::tcpplay(home.path())
        .args(["serve", "--port", "0", "--secure"])
        .env("TCPPLAY_PASSWORD", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcpplay gen-cert"));
}

#[test]
fn show_wire_prints_the_protocol_with_secrets_redacted() {
    let cert = make_cert();
    let server = secure_server(&cert, &[]);
    let mut cmd = crate::util::tcpplay(server.home.path());
    cmd.args(["join", "--port", &server.port(), "--show-wire"])
        .args(join_args(&cert, "learner"))
        .env("TCPPLAY_PASSWORD", PASSWORD);
    let mut j = crate::util::Proc::spawn(cmd);
    let hello = j.stderr.expect("<- ");
    assert!(
        hello.contains(r#""type":"hello""#) && hello.contains("opaque"),
        "{hello}"
    );
    let auth = j.stderr.expect(r#""type":"auth""#);
    assert!(
        auth.starts_with("-> ") && auth.contains(r#""ke1":"***""#),
        "{auth}"
    );
    let step = j.stderr.expect(r#""type":"auth_step""#);
    assert!(step.contains(r#""ke2":"***""#), "{step}");
    j.stderr.expect(r#""type":"auth_result""#);
    j.send_line("watch me");
    let sent = j.stderr.expect(r#""type":"chat""#);
    assert!(
        sent.starts_with("-> ")
            && sent.contains(r#""encrypted":true"#)
            && !sent.contains("watch me"),
        "the wire shows ciphertext: {sent}"
    );
    j.stdout.expect("learner: watch me");
}

#[test]
fn history_is_stored_as_ciphertext_and_the_same_password_reads_it_after_a_restart() {
    let cert = make_cert();
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let mut server = secure_server_in(&cert, &[], home.clone(), "0");
    let port = server.port();
    let mut alice = join_binary(&server, &cert, "alice", PASSWORD);
    alice.stdout.expect("alice joined");
    alice.send_line("classified plan 42");
    alice.stdout.expect("alice: classified plan 42");
    alice.send_line("/msg alice a note to self 17");
    alice.stdout.expect("[dm to alice] a note to self 17");
    alice.close_stdin();
    assert_eq!(alice.wait(), 0);
    server.proc.signal(libc::SIGTERM);
    assert_eq!(server.proc.wait(), 0);
    // The database (and its write-ahead log, and the folder of the log of
    // plain lines beside it) holds no plaintext of the message.
    let dir = home.path().join(".local/share/tcpplay/history");
    let mut files = 0;
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    while let Some(path) = paths.pop() {
        if path.is_dir() {
            paths.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains("classified plan") && !hay.contains("note to self"),
            "plaintext on disk"
        );
    }
    assert!(files >= 1, "a database in {}", dir.display());

    // Restarted on the same address: the same history.
    let server = secure_server_in(&cert, &[], home.clone(), &port);
    let mut bob = join_binary(&server, &cert, "bob", PASSWORD);
    let line = bob.stdout.expect("classified plan 42");
    assert!(
        line.starts_with("[history ") && line.contains("alice: classified plan 42"),
        "{line}"
    );
    bob.stdout.expect("1 earlier message above");
    // A wrong password cannot read it, and cannot join either.
    let mut eve = join_binary(&server, &cert, "eve", "wrong password");
    assert_eq!(eve.wait(), 1);
    assert!(eve.stdout.seen().iter().all(|l| !l.contains("classified")));
}

#[test]
fn a_ciphertext_resent_under_another_name_or_as_an_action_does_not_open() {
    let cert = make_cert();
    let server = secure_server(&cert, &[]);
    let mut reader = join_binary(&server, &cert, "reader", PASSWORD);
    reader.stderr.expect("Connected to");
    let mut alice = raw_member(server.addr, &cert.cert, PASSWORD, "alice").unwrap();
    let mut mallory = raw_member(server.addr, &cert.cert, PASSWORD, "mallory").unwrap();
    alice.say("I owe bob 5");
    reader.stdout.expect("alice: I owe bob 5");
    // Mallory knows the password, and has alice's ciphertext from the room.
    let v = loop {
        let v = mallory.peer.recv_type("chat");
        if v["from"] == "alice" {
            break v;
        }
    };
    let (payload, sent) = (v["payload"].clone(), v["sent"].clone());
    mallory
        .peer
        .send(json!({"type": "chat", "encrypted": true, "payload": payload, "sent": sent}));
    let line = reader.stdout.expect("claimed to be from mallory");
    assert!(line.contains("does not open under the room key"), "{line}");
    mallory.peer.send(
        json!({"type": "chat", "encrypted": true, "action": true, "payload": payload, "sent": sent}),
    );
    // Refused too (counted, not said twice): the next genuine line shows.
    alice.say("and that is all");
    reader.stdout.expect("alice: and that is all");
    assert!(!reader
        .stdout
        .seen()
        .iter()
        .any(|l| l.contains("mallory") && l.contains("owe")));
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
fn a_secure_room_refuses_tls_1_2_and_a_plain_tls_room_does_not() {
    let cert = make_cert();
    let script = "import socket,ssl,sys\n\
        c=ssl.create_default_context(cafile=sys.argv[2]); c.maximum_version=ssl.TLSVersion.TLSv1_2\n\
        s=socket.create_connection(('localhost',int(sys.argv[1])),5)\n\
        try:\n  t=c.wrap_socket(s,server_hostname='localhost'); print('ok', t.version())\n\
        except ssl.SSLError as e: print('refused', e.reason)\n";
    let probe = |port: String| {
        let out = Command::new("python3")
            .args(["-c", script, &port, cert.cert.to_str().unwrap()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let secure = secure_server(&cert, &[]);
    let said = probe(secure.port());
    assert!(said.starts_with("refused"), "{said}");
    let plain_tls = Server::tls(&cert.cert, &cert.key, &["--no-history"]);
    assert_eq!(probe(plain_tls.port()), "ok TLSv1.2");
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

#[test]
fn the_password_and_room_key_stay_out_of_core_dumps_and_the_console() {
    let cert = make_cert();
    let server = secure_server(&cert, &[]);
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", server.proc.child.id())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(core.split_whitespace().nth(4) == Some("0"), "{core}");
}

#[test]
fn a_server_with_only_the_rooms_record_serves_it_without_any_password() {
    let cert = make_cert();
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let pw = home.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let record = home.path().join("room.record");
    crate::util::run(
        home.path(),
        &[
            "gen-room",
            "--out",
            record.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ],
    )
    .go()
    .code(0)
    .stdout_has("no password in it");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&record).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!std::fs::read_to_string(&record).unwrap().contains(PASSWORD));
    std::fs::remove_file(&pw).unwrap();
    let server = Server::start_with(
        &[
            "--secure",
            "--room-record",
            record.to_str().unwrap(),
            "--cert",
            cert.cert.to_str().unwrap(),
            "--key",
            cert.key.to_str().unwrap(),
            "--no-history",
            "--no-input",
        ],
        &[],
        home,
    );
    let mut a = join_binary(&server, &cert, "a", PASSWORD);
    a.send_line("only members read this");
    a.stdout.expect("a: only members read this");
}

/// The operator's console in a real terminal: sealed lines stay sealed until
/// `/unlock` with the room password; then they show, and the operator's own
/// lines reach members sealed.
#[test]
fn the_console_reads_the_room_only_after_unlock() {
    use rexpect::session::spawn_command;
    let cert = make_cert();
    let home = tempfile::TempDir::new().unwrap();
    let pw = home.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let mut cmd = crate::util::tcpplay(home.path());
    cmd.args([
        "serve",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--no-history",
        "--secure",
    ])
    .args(["--password-file", pw.to_str().unwrap()])
    .args([
        "--cert",
        cert.cert.to_str().unwrap(),
        "--key",
        cert.key.to_str().unwrap(),
    ]);
    let mut p = spawn_command(cmd, Some(crate::util::WAIT.as_millis() as u64)).unwrap();
    let (_, ready) = p.exp_regex("listening on [0-9.:]+").unwrap();
    let addr: SocketAddr = ready.trim_start_matches("listening on ").parse().unwrap();
    let mut m = raw_member(addr, &cert.cert, PASSWORD, "m").unwrap();
    m.say("before unlock");
    p.exp_string("[sealed: /unlock to read]").unwrap();
    p.send("server line while locked\r").unwrap();
    p.flush().unwrap();
    p.exp_string("this room is sealed: /unlock").unwrap();
    p.send("/unlock\r").unwrap();
    p.flush().unwrap();
    p.exp_string("Room password").unwrap();
    p.send(&format!("{PASSWORD}\r")).unwrap();
    p.flush().unwrap();
    p.exp_string("unlocked").unwrap();
    m.say("after unlock");
    p.exp_string("m[").unwrap();
    p.exp_string("after unlock").unwrap();
    p.send("hello members\r").unwrap();
    p.flush().unwrap();
    let v = loop {
        let v = m.peer.recv_type("chat");
        if v["from"] == "server" {
            break v;
        }
    };
    assert!(v.get("text").is_none());
    assert_eq!(m.open(&v).unwrap(), "hello members");
}

/// A failed login is counted where the server refuses it, and /metrics
/// shows it under the limit's name.
#[test]
fn a_failed_login_is_counted_in_the_metrics() {
    let cert = make_cert();
    let mut server = secure_server(&cert, &[("TCPPLAY_SERVE__METRICS", "127.0.0.1:0")]);
    let m = server.metrics_addr();
    let name = "tcpplay_limit_fired_total{limit=\"auth_failures\"}";
    assert_eq!(
        crate::util::sample(&crate::util::http_get(&m, "/metrics").1, name),
        0.0
    );
    assert!(raw_member(server.addr, &cert.cert, "not the password", "eve").is_err());
    crate::util::metric_until(&m, name, 1.0);
    let _good = raw_member(server.addr, &cert.cert, PASSWORD, "good").unwrap();
}

#[test]
fn a_secure_servers_rooms_are_sealed_and_a_line_cannot_be_moved_to_another_room() {
    let cert = make_cert();
    let server = secure_server(&cert, &[]);
    let mut cmd = join_command(
        server.home.path(),
        server.addr.port(),
        &cert,
        "Ann",
        PASSWORD,
    );
    cmd.args(["--room", "#ops"]);
    let mut ann = crate::util::Proc::spawn(cmd);
    ann.stderr.expect("Connected to");
    let mut watcher = raw_member(server.addr, &cert.cert, PASSWORD, "watcher").unwrap();
    watcher.peer.send(json!({"type": "join", "room": "#ops"}));
    watcher.peer.recv_type("joined");
    ann.send_line("rotate the keys tonight");
    let v = watcher.peer.recv_type("chat");
    assert_eq!(
        (v["room"].as_str(), v["encrypted"].as_bool()),
        (Some("#ops"), Some(true))
    );
    assert!(
        !v.to_string().contains("rotate"),
        "plaintext on the wire: {v}"
    );
    assert_eq!(watcher.open(&v).unwrap(), "rotate the keys tonight");
    // The same ciphertext relayed as a line of another room does not open.
    for elsewhere in [json!(null), json!("#lobby"), json!("#other")] {
        let mut moved = v.clone();
        moved["room"] = elsewhere;
        assert_eq!(watcher.open(&moved), None, "{moved}");
    }
    // And a member's sealed line in #ops reaches `tcpplay join` opened.
    let sent = tcpplay::protocol::now_ms();
    let what = Sealed {
        from: &watcher.name,
        kind: Kind::Chat,
        sent,
        room: "#ops",
    };
    let payload = watcher.key.seal("done", &what);
    watcher.peer.send(json!({"type": "chat", "room": "#ops", "encrypted": true, "payload": payload, "sent": sent}));
    ann.stdout.expect(&format!("{}: done", watcher.name));
}

/// `/msg BOB` to a member named `bob`: names are one in any case, so the
/// message is sealed for the name as the member has it, and opens.
#[test]
fn a_direct_message_to_a_name_typed_in_another_case_opens_for_its_recipient() {
    let cert = make_cert();
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let server = secure_server_in(&cert, &[], home, "0");
    let mut bob = join_binary(&server, &cert, "bob", PASSWORD);
    bob.stdout.expect("bob joined");
    let mut ann = join_binary(&server, &cert, "ann", PASSWORD);
    ann.stdout.expect("ann joined");
    bob.stdout.expect("ann joined");
    ann.send_line("/users");
    ann.stdout.expect("2 here");
    ann.send_line("/msg BOB for your eyes 5");
    let line = bob.stdout.expect("for your eyes 5");
    assert!(line.contains("[dm from ann]"), "{line}");
    assert!(
        !bob.stderr.seen().iter().any(|l| l.contains("refused")),
        "{:?}",
        bob.stderr.seen()
    );
}
