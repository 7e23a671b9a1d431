//! A dishonest server as a test fixture: it holds the secure room's record
//! (so the real `tcpplay join` logs in and each side proves itself), then
//! sends whatever a script says — forged, relabelled, redirected, replayed
//! or absurd packets — and the test reads what the real client showed.
//! Each attack on the secure room's promises (docs/SECURITY.md) is a test
//! here; each failed on the code before the fix.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use tcpplay::crypto::room::{RoomRecord, ServerStart, SCHEME};
use tcpplay::crypto::{self, Kind, RoomKey, Sealed};
use tcpplay::protocol::now_ms;

use crate::util::{make_cert, CertFiles, Proc};

const PASSWORD: &str = "correct horse battery staple";

/// What a dishonest server knows on one connection: the room's key (it
/// was given the password: the worst case) and the name it gave.
pub struct Forger {
    pub key: RoomKey,
    pub me: String,
}

impl Forger {
    /// A chat line genuinely sealed by `from` at `sent`, for `room` ("" for
    /// the default room).
    pub fn chat(&self, from: &str, text: &str, sent: u64) -> Value {
        let what = Sealed {
            from,
            kind: Kind::Chat,
            sent,
            room: "",
        };
        json!({"type": "chat", "encrypted": true, "from": from, "sent": sent,
            "payload": self.key.seal(text, &what), "id": 1, "ts": now_ms()})
    }

    /// A direct message genuinely sealed by `from` for `to`.
    pub fn dm(&self, from: &str, to: &str, text: &str) -> Value {
        let sent = now_ms();
        let what = Sealed {
            from,
            kind: Kind::Dm { to },
            sent,
            room: "",
        };
        json!({"type": "dm", "encrypted": true, "from": from, "to": to, "sent": sent,
            "payload": self.key.seal(text, &what), "ts": now_ms()})
    }
}

/// The script of one connection: the packets to send after the login.
type Script = dyn Fn(&Forger) -> Vec<Value> + Send + Sync;

/// A TLS server on 127.0.0.1 holding the room's record, for `connections`
/// connections one after the other; `limits` go into its hello. After each
/// script it says goodbye and reads until the client closes.
pub fn hostile_server(
    cert: &CertFiles,
    connections: usize,
    limits: Option<Value>,
    script: impl Fn(&Forger) -> Vec<Value> + Send + Sync + 'static,
) -> SocketAddr {
    let acceptor = tokio_rustls::TlsAcceptor::from(
        tcpplay::tls::server_config(&cert.cert, &cert.key).unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let room = Arc::new(RoomRecord::register(PASSWORD.as_bytes()).unwrap());
    let script: Arc<Script> = Arc::new(script);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            for _ in 0..connections {
                let Ok(Ok((s, _))) =
                    tokio::time::timeout(crate::util::WAIT, listener.accept()).await
                else {
                    return;
                };
                if let Ok(tls) = acceptor.accept(s).await {
                    one(tls, &room, limits.clone(), &*script).await;
                }
            }
        });
    });
    addr
}

async fn one(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    room: &RoomRecord,
    limits: Option<Value>,
    script: &Script,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let binding = tcpplay::tls::channel_binding(tls.get_ref().1).unwrap();
    let key = room.unlock(PASSWORD.as_bytes()).unwrap();
    let (r, mut w) = tokio::io::split(tls);
    let mut lines = BufReader::new(r).lines();
    let mut hello = json!({"type": "hello", "secure": true, "proto": 3,
        "auth": {"scheme": SCHEME, "room": crypto::b64(&room.id)}});
    if let Some(l) = limits {
        hello["limits"] = l;
    }
    let mut out = vec![hello];
    let next = |line: Option<String>| -> Value {
        serde_json::from_str(&line.unwrap_or_default()).unwrap_or(Value::Null)
    };
    let send = |v: &[Value]| {
        v.iter()
            .map(|p| format!("{p}\n"))
            .collect::<String>()
            .into_bytes()
    };
    w.write_all(&send(&out)).await.unwrap();
    let auth = next(lines.next_line().await.unwrap());
    let ke1 = crypto::unb64(auth["ke1"].as_str().unwrap_or_default()).unwrap_or_default();
    let Ok(s) = ServerStart::new(room, &ke1, &binding) else {
        return;
    };
    w.write_all(&send(&[
        json!({"type": "auth_step", "ke2": crypto::b64(&s.ke2)}),
    ]))
    .await
    .unwrap();
    let fin = next(lines.next_line().await.unwrap());
    let ke3 = crypto::unb64(fin["ke3"].as_str().unwrap_or_default()).unwrap_or_default();
    if s.finish(&ke3, &room.id, &binding).is_err() {
        return;
    }
    let me = auth["name"].as_str().unwrap_or("someone").to_string();
    out = vec![json!({"type": "auth_result", "ok": true, "client_name": me})];
    out.extend(script(&Forger { key, me }));
    out.push(json!({"type": "bye", "reason": "done", "code": "shutdown"}));
    let _ = w.write_all(&send(&out)).await;
    while let Ok(Some(_)) = lines.next_line().await {}
}

/// `tcpplay join` as `name` to a hostile server at `addr`, with its data
/// in `home` (the replay record lives there), printing JSON when `json`.
fn join(
    home: &std::path::Path,
    addr: SocketAddr,
    cert: &CertFiles,
    name: &str,
    json: bool,
) -> Proc {
    let mut cmd = crate::util::tcpplay(home);
    cmd.args([
        "join",
        "--host",
        "localhost",
        "--port",
        &addr.port().to_string(),
    ])
    .args(["--cert", cert.cert.to_str().unwrap(), "--name", name])
    .env("TCPPLAY_PASSWORD", PASSWORD);
    if json {
        cmd.arg("--json");
    }
    Proc::spawn(cmd)
}

/// Run one join to the end: its stdout lines, stderr lines and exit code.
fn run_join(
    addr: SocketAddr,
    cert: &CertFiles,
    home: &std::path::Path,
    json: bool,
) -> (Vec<String>, Vec<String>, i32) {
    let mut j = join(home, addr, cert, "bob", json);
    let code = j.wait();
    (j.stdout.rest(), j.stderr.rest(), code)
}

fn all(lines: &[String]) -> String {
    lines.join("\n")
}

#[test]
fn unsealed_chat_action_dm_and_history_are_refused_and_flagged_never_shown_as_words() {
    let cert = make_cert();
    let addr = hostile_server(&cert, 1, None, |f| {
        let t = now_ms();
        vec![
            f.chat("alice", "genuine hello", t),
            json!({"type": "chat", "from": "alice", "text": "FORGED: wire the money to account 666", "id": 2, "ts": t}),
            json!({"type": "chat", "from": "alice", "text": "FORGED action", "action": true}),
            json!({"type": "dm", "from": "alice", "to": f.me, "text": "FORGED dm"}),
            json!({"type": "history", "from": "alice", "text": "FORGED history", "id": 0, "ts": 1}),
            json!({"type": "system", "text": "the server's own notice"}),
        ]
    });
    let home = tempfile::TempDir::new().unwrap();
    let (out, err, code) = run_join(addr, &cert, home.path(), false);
    let shown = all(&out);
    assert!(shown.contains("alice: genuine hello"), "{shown}");
    assert!(
        !shown.contains("FORGED"),
        "a forged line was shown: {shown}"
    );
    let flags: Vec<&String> = out
        .iter()
        .filter(|l| l.contains("a line that was not sealed arrived in this secure room: the server may be compromised"))
        .collect();
    assert_eq!(flags.len(), 1, "flagged once: {shown}");
    assert!(shown.contains("*** the server's own notice"), "{shown}");
    let err = all(&err);
    assert!(
        err.contains("4 line(s) from the server were refused") && err.contains("4 unsealed"),
        "{err}"
    );
    assert_eq!(code, 1, "refused lines make the exit code 1");
}

#[test]
fn json_says_which_lines_the_rooms_key_vouches_for_and_each_refusal() {
    let cert = make_cert();
    let addr = hostile_server(&cert, 1, None, |f| {
        vec![
            f.chat("alice", "genuine", now_ms() - 5000),
            json!({"type": "chat", "from": "alice", "text": "FORGED"}),
        ]
    });
    let home = tempfile::TempDir::new().unwrap();
    let (out, _, _) = run_join(addr, &cert, home.path(), true);
    let events: Vec<Value> = out
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let chat = events
        .iter()
        .find(|e| e["event"] == "chat")
        .expect("the genuine line");
    assert_eq!(chat["sealed"], true);
    assert_eq!(chat["text"], "genuine");
    let ts = chat["ts"].as_u64().unwrap();
    assert!(
        now_ms() - ts >= 5000,
        "the sealed time is shown, not the server's: {chat}"
    );
    let refused = events
        .iter()
        .find(|e| e["event"] == "refused")
        .expect("a refused event");
    assert_eq!(refused["reason"], "unsealed");
    assert_eq!(refused["claimed_from"], "alice");
    assert!(!all(&out).contains("FORGED"));
}

#[test]
fn a_direct_message_sealed_for_someone_else_is_refused_as_redirected() {
    let cert = make_cert();
    let addr = hostile_server(&cert, 1, None, |f| {
        vec![
            f.dm("alice", "bob2", "for bob2's eyes only"),
            f.dm("alice", &f.me, "for you"),
        ]
    });
    let home = tempfile::TempDir::new().unwrap();
    let (out, err, code) = run_join(addr, &cert, home.path(), false);
    let shown = all(&out);
    assert!(shown.contains("[dm from alice] for you"), "{shown}");
    assert!(!shown.contains("eyes only"), "{shown}");
    assert!(shown.contains("the server redirected it"), "{shown}");
    assert!(all(&err).contains("1 redirected"));
    assert_eq!(code, 1);
}

#[test]
fn a_sealed_line_replayed_later_is_refused_on_the_same_machine_and_when_old_anywhere() {
    let cert = make_cert();
    let sealed_at = now_ms();
    // The dishonest server keeps the line it relayed on the first
    // connection and sends it again, as live, on the second.
    let kept: Arc<std::sync::Mutex<Option<Value>>> = Default::default();
    let keep = kept.clone();
    let addr = hostile_server(&cert, 2, None, move |f| {
        let mut k = keep.lock().unwrap();
        let line = k.get_or_insert_with(|| f.chat("alice", "transfer approved", sealed_at));
        vec![line.clone()]
    });
    let home = tempfile::TempDir::new().unwrap();
    let (first, _, _) = run_join(addr, &cert, home.path(), false);
    assert!(
        all(&first).contains("alice: transfer approved"),
        "{first:?}"
    );
    // The same user, a new `tcpplay join` on the same machine.
    let (again, err, code) = run_join(addr, &cert, home.path(), false);
    assert!(!all(&again).contains("transfer approved"), "{again:?}");
    assert!(all(&again).contains("it was shown before"), "{again:?}");
    assert!(all(&err).contains("1 replayed"), "{err:?}");
    assert_eq!(code, 1);

    // A member on a fresh device: a line sealed longer ago than the window
    // is refused as live (within the window it cannot tell: SECURITY.md).
    let old = now_ms() - tcpplay::client::replays::WINDOW_MS - 60_000;
    let addr = hostile_server(&cert, 1, None, move |f| {
        vec![f.chat("alice", "old news as new", old)]
    });
    let fresh = tempfile::TempDir::new().unwrap();
    let (out, _, code) = run_join(addr, &cert, fresh.path(), false);
    assert!(!all(&out).contains("old news"), "{out:?}");
    assert!(
        all(&out).contains("minutes from this machine's clock"),
        "{out:?}"
    );
    assert_eq!(code, 1);
}

#[test]
fn a_replayed_ciphertext_is_refused_even_from_the_server() {
    let cert = make_cert();
    let addr = hostile_server(&cert, 1, None, |f| {
        let line = f.chat("alice", "transfer approved", now_ms());
        vec![line.clone(), line]
    });
    let home = tempfile::TempDir::new().unwrap();
    let (out, err, code) = run_join(addr, &cert, home.path(), false);
    let shown = all(&out);
    assert_eq!(shown.matches("transfer approved").count(), 1, "{shown}");
    assert!(
        shown.contains("it was shown before: the server sent it again"),
        "{shown}"
    );
    assert!(all(&err).contains("1 replayed"));
    assert_eq!(code, 1);
}

#[test]
fn absurd_limits_in_a_hello_never_crash_join() {
    let cert = make_cert();
    let absurd = [
        json!({"messages_per_second": 1e-300, "message_burst": 1, "max_text_chars": 10, "max_frame_bytes": 1000}),
        json!({"messages_per_second": 0, "message_burst": 0, "max_text_chars": 0, "max_frame_bytes": 0}),
        json!({"messages_per_second": -5.0, "message_burst": 4, "max_text_chars": 100, "max_frame_bytes": 4096}),
        json!({"messages_per_second": 1e300, "message_burst": 4294967295u64, "max_text_chars": 18446744073709551615u64, "max_frame_bytes": 18446744073709551615u64}),
        json!({"messages_per_second": "NaN", "message_burst": 1, "max_text_chars": 1, "max_frame_bytes": 1}),
        json!({"messages_per_second": 1, "message_burst": 1e30, "max_text_chars": -1, "max_frame_bytes": 1}),
    ];
    for limits in absurd {
        let addr = hostile_server(&cert, 1, Some(limits.clone()), |_| {
            vec![json!({"type": "system", "text": "still here"})]
        });
        let home = tempfile::TempDir::new().unwrap();
        let port = addr.port().to_string();
        let c = cert.cert.to_str().unwrap();
        let args = [
            "join",
            "--host",
            "localhost",
            "--port",
            &port,
            "--name",
            "bob",
            "--cert",
            c,
        ];
        let ran = crate::util::run(home.path(), &args)
            .env("TCPPLAY_PASSWORD", PASSWORD)
            .stdin(b"one\ntwo\n")
            .go();
        assert!(
            ran.code == 0 || ran.code == 1,
            "{limits}: exit {} (a panic is 101)\n{}",
            ran.code,
            ran.stderr
        );
        assert!(!ran.stderr.contains("panicked"), "{limits}: {}", ran.stderr);
    }
}
