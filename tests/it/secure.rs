//! Secure rooms (v2, OPAQUE) over real TLS on 127.0.0.1: the password never
//! leaves the client in any testable form, the login is bound to the TLS
//! session, the server relays and stores only what it cannot read, and each
//! attack found in the review of v1 now fails (docs/SECURITY.md names them).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use tcpplay::crypto::room::{ClientStart, SCHEME};
use tcpplay::crypto::{self, Kind, RoomKey, Sealed};

use crate::util::{make_cert, CertFiles, Peer, Server};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) fn secure_server(cert: &CertFiles, env: &[(&str, &str)]) -> Server {
    secure_server_in(cert, env, Arc::new(tempfile::TempDir::new().unwrap()), "0")
}

pub(crate) fn secure_server_in(
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
pub(crate) struct Member {
    pub(crate) peer: Peer,
    pub(crate) key: RoomKey,
    pub(crate) name: String,
}

impl Member {
    /// `text` sealed as `kind` from `from` (normally our own name), sent now.
    pub(crate) fn sealed(&self, from: &str, kind: Kind<'_>, text: &str) -> (String, u64) {
        let sent = tcpplay::protocol::now_ms();
        let what = Sealed {
            from,
            kind,
            sent,
            room: "",
        };
        (self.key.seal(text, &what), sent)
    }

    pub(crate) fn say(&mut self, text: &str) {
        let (payload, sent) = self.sealed(&self.name.clone(), Kind::Chat, text);
        self.peer
            .send(json!({"type": "chat", "encrypted": true, "payload": payload, "sent": sent}));
    }

    /// Open a received chat packet as what it claims to be.
    pub(crate) fn open(&self, v: &Value) -> Option<String> {
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
pub(crate) fn raw_member_from(
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

pub(crate) fn raw_member(
    addr: SocketAddr,
    cert: &Path,
    password: &str,
    name: &str,
) -> Result<Member, Value> {
    raw_member_from(addr, cert, password, name, None)
}

/// `tcpplay join NAME` to `localhost:port`, trusting `cert`, with `password`
/// in TCPPLAY_PASSWORD.
pub(crate) fn join_command(
    home: &Path,
    port: u16,
    cert: &CertFiles,
    name: &str,
    password: &str,
) -> Command {
    let mut cmd = crate::util::tcpplay(home);
    cmd.args(["join", "--port", &port.to_string()])
        .args(join_args(cert, name))
        .env("TCPPLAY_PASSWORD", password);
    cmd
}

/// [`join_command`] to `server`, running.
/// `tcpplay join` that must fail with exit 1 (a fresh home); its stderr.
pub(crate) fn join_fails(port: u16, cert: &CertFiles, name: &str, password: &str) -> String {
    let home = tempfile::TempDir::new().unwrap();
    let out = join_command(home.path(), port, cert, name, password)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    err
}

pub(crate) fn join_binary(
    server: &Server,
    cert: &CertFiles,
    name: &str,
    password: &str,
) -> crate::util::Proc {
    crate::util::Proc::spawn(join_command(
        server.home.path(),
        server.addr.port(),
        cert,
        name,
        password,
    ))
}

pub(crate) fn join_args<'a>(cert: &'a CertFiles, name: &'a str) -> Vec<&'a str> {
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
