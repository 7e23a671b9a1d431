//! Secure mode over real TLS on 127.0.0.1: the password never leaves the
//! client, proofs are bound to the TLS session, payloads are end-to-end.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use tcpplay::crypto::{self, KdfParams, RoomKey};

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

/// A raw peer that joins with a proof computed by the library.
struct Member {
    peer: Peer,
    key: RoomKey,
    name: String,
}

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
    let auth = &hello["auth"];
    assert_eq!(auth["kdf"], "argon2id");
    let params = KdfParams {
        m_kib: auth["m_kib"].as_u64().unwrap() as u32,
        t: auth["t"].as_u64().unwrap() as u32,
        p: auth["p"].as_u64().unwrap() as u32,
    };
    let salt = crypto::unb64(auth["salt"].as_str().unwrap()).unwrap();
    let challenge = crypto::unb64(auth["challenge"].as_str().unwrap()).unwrap();
    let key = RoomKey::derive(password.as_bytes(), &salt, params).unwrap();
    let proof = key.client_proof(&challenge, &binding, name);
    peer.send(json!({"type": "auth", "name": name, "proof": crypto::b64(&proof)}));
    let r = peer.recv_type("auth_result");
    if r["ok"] != true {
        return Err(r);
    }
    let final_name = r["client_name"].as_str().unwrap().to_string();
    let sp = crypto::unb64(r["server_proof"].as_str().unwrap()).unwrap();
    assert!(
        key.verify_server(&challenge, &binding, &final_name, &sp),
        "server proof verifies"
    );
    Ok(Member {
        peer,
        key,
        name: final_name,
    })
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
    let server = secure_server(&cert, &[]);
    let mut ann = join_binary(&server, &cert, "Ann", PASSWORD);
    let connected = ann.stderr.expect("Connected to");
    assert!(
        connected.contains("secure room: proofs verified both ways"),
        "{connected}"
    );

    let mut watcher = raw_member(server.addr, &cert.cert, PASSWORD, "watcher").unwrap();
    ann.send_line("the eagle lands at noon");
    ann.stdout.expect("Ann: the eagle lands at noon");
    // What the server sent to another member: the raw line holds no plaintext.
    let line = loop {
        let line = watcher.peer.recv_line().expect("open");
        if line.windows(4).any(|w| w == b"chat") {
            break line;
        }
    };
    let text = String::from_utf8(line).unwrap();
    assert!(!text.contains("eagle"), "plaintext on the wire: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["encrypted"], true);
    assert!(v.get("text").is_none());
    let opened = watcher
        .key
        .open("chat", v["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(opened, "the eagle lands at noon");

    // And the other way: a member's sealed line reaches `tcpplay join` decrypted.
    let sealed = watcher.key.seal("chat", "copy that");
    watcher
        .peer
        .send(json!({"type": "chat", "encrypted": true, "payload": sealed}));
    ann.stdout.expect(&format!("{}: copy that", watcher.name));
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
        err.contains("authentication failed") && err.contains("check the room password"),
        "{err}"
    );
    assert!(
        !err.contains("not the password"),
        "the password is never echoed"
    );
    let log = server.proc.stderr.expect("auth failed");
    assert!(!log.contains("not the password") && !log.contains(PASSWORD));
    let sealed = good.key.seal("chat", "still here");
    good.peer
        .send(json!({"type": "chat", "encrypted": true, "payload": sealed}));
    let v = good.peer.recv_type("chat");
    assert_eq!(
        good.key
            .open("chat", v["payload"].as_str().unwrap())
            .unwrap(),
        "still here"
    );
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
    assert!(err.contains("authentication failed"), "{err}");
    assert!(
        !err.contains("Connected to"),
        "nothing shown after a failed proof: {err}"
    );
    server
        .proc
        .stderr
        .expect("auth failed: the password proof did not verify");
}

#[test]
fn a_tampered_payload_is_shown_as_undecryptable_not_as_text() {
    let cert = make_cert();
    let server = secure_server(&cert, &[]);
    let mut reader = join_binary(&server, &cert, "reader", PASSWORD);
    reader.stderr.expect("Connected to");
    let mut mallory = raw_member(server.addr, &cert.cert, PASSWORD, "mallory").unwrap();
    let mut raw = crypto::unb64(&mallory.key.seal("chat", "pay 100 to alice")).unwrap();
    let last = raw.len() - 20;
    raw[last] ^= 0x01;
    mallory
        .peer
        .send(json!({"type": "chat", "encrypted": true, "payload": crypto::b64(&raw)}));
    let line = reader.stdout.expect("mallory:");
    assert!(line.contains("[undecryptable message"), "{line}");
    assert!(!line.contains("pay"), "{line}");
}

/// A TLS server that offers absurd Argon2 parameters.
fn hostile_server(cert: &CertFiles) -> SocketAddr {
    tls_once(cert, |mut tls| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let hello = json!({"type": "hello", "secure": true, "proto": 1, "server": "evil/1",
            "auth": {"kdf": "argon2id", "m_kib": 4_000_000u32, "t": 1000, "p": 1,
                     "salt": crypto::b64(&[1; 16]), "challenge": crypto::b64(&[2; 32])}});
        tls.write_all(format!("{hello}\n").as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let _ = tls.read(&mut buf).await;
    })
}

#[test]
fn absurd_kdf_parameters_are_refused_before_any_derivation() {
    let cert = make_cert();
    let addr = hostile_server(&cert);
    let home = tempfile::TempDir::new().unwrap();
    let out = join_command(home.path(), addr.port(), &cert, "x", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("beyond this client's limits") && err.contains("4000000"),
        "{err}"
    );
}

#[test]
fn repeated_failures_from_one_address_are_throttled_and_another_address_is_not() {
    let cert = make_cert();
    let mut server = secure_server(&cert, &[("TCPPLAY_LIMITS__AUTH_FAILURES", "3")]);
    for _ in 0..3 {
        let r = raw_member(server.addr, &cert.cert, "guess", "bot")
            .err()
            .expect("wrong password refused");
        assert_eq!(r["code"], "auth_failed");
    }
    let r = raw_member(server.addr, &cert.cert, PASSWORD, "owner")
        .err()
        .expect("blocked address");
    assert_eq!(r["code"], "auth_throttled");
    assert!(r["reason"].as_str().unwrap().contains("try again in"));
    server
        .proc
        .stderr
        .expect("address blocked after repeated failures");
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
    let home = tempfile::TempDir::new().unwrap();
    let out = join_command(home.path(), addr.port(), &cert, "x", "legacy-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
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
        hello.contains(r#""type":"hello""#) && hello.contains("argon2id"),
        "{hello}"
    );
    let auth = j.stderr.expect(r#""type":"auth""#);
    assert!(
        auth.starts_with("-> ") && auth.contains(r#""proof":"***""#),
        "{auth}"
    );
    let result = j.stderr.expect(r#""type":"auth_result""#);
    assert!(result.contains(r#""server_proof":"***""#), "{result}");
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
    // The database (and its write-ahead log) holds no plaintext of the message.
    let dir = home.path().join(".local/share/tcpplay/history");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
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
    bob.stdout.expect("earlier messages above");
    // A wrong password cannot read it, and cannot join either.
    let mut eve = join_binary(&server, &cert, "eve", "wrong password");
    assert_eq!(eve.wait(), 1);
    assert!(eve.stdout.seen().iter().all(|l| !l.contains("classified")));
}
