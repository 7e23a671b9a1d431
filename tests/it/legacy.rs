//! Wire compatibility with the Python TCP-Playground, in both directions,
//! played byte for byte with raw sockets.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use serde_json::{json, Value};

use crate::util::{Peer, Server};

/// What `clint.py` does: read hello, send auth, chat, read chat/system/count.
#[test]
fn the_python_client_protocol_works_against_tcpplay_serve() {
    let server = Server::start(&[]);
    let mut p = Peer::connect(server.addr);
    let hello = p.recv();
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["secure"], false);
    // json.dumps(packet, separators=(",", ":")) as net_utils.send_packet writes it
    p.send_raw(b"{\"type\":\"auth\",\"name\":\"  Legacy \"}\n");
    let r = p.recv();
    assert_eq!(r["type"], "auth_result");
    assert_eq!(r["ok"], true);
    assert_eq!(r["client_name"], "Legacy", "names are trimmed");
    let sys = p.recv();
    assert_eq!(
        (sys["type"].as_str(), sys["encrypted"].as_bool()),
        (Some("system"), Some(false))
    );
    assert!(sys["text"].as_str().unwrap().contains("Legacy"));
    assert_eq!(p.recv(), json!({"type": "count", "total": 1}));
    p.send_raw(b"{\"type\":\"chat\",\"encrypted\":false,\"text\":\"hi from python\"}\n");
    let c = p.recv_chat("hi from python");
    assert_eq!(c["from"], "Legacy");
    assert_eq!(c["port"].as_u64(), Some(p.local_port as u64));
    assert_eq!(c["encrypted"], false);
}

/// One room, two forms of a chat line: a legacy member gets serde's exact
/// bytes (`encrypted`, the sender's `port`), a protocol-3 member the
/// compact line without them — the legacy member having joined a room
/// that until then wrote one form only, and missing nothing said after.
#[test]
fn a_legacy_member_gets_its_exact_chat_bytes_beside_a_compact_member() {
    let server = Server::start(&[]);
    let (mut new, _) = Peer::join_v3(server.addr, "modern");
    new.send(json!({"type": "chat", "text": "alone"}));
    let (line, c) = new.recv_chat_raw("alone");
    let (id, ts) = (&c["id"], &c["ts"]);
    assert_eq!(
        line,
        format!(r#"{{"type":"chat","from":"modern","text":"alone","id":{id},"ts":{ts}}}"#)
    );
    let (mut old, _) = Peer::join(server.addr, "old");
    let ports = [("modern", new.local_port), ("old", old.local_port)];
    for (from, port) in ports {
        let text = format!("said by {from}");
        let sender = if from == "modern" { &mut new } else { &mut old };
        sender.send(json!({"type": "chat", "encrypted": false, "text": text}));
        let (compact, c) = new.recv_chat_raw(&text);
        let (id, ts) = (&c["id"], &c["ts"]);
        assert_eq!(
            compact,
            format!(r#"{{"type":"chat","from":"{from}","text":"{text}","id":{id},"ts":{ts}}}"#)
        );
        let (legacy, _) = old.recv_chat_raw(&text);
        assert_eq!(
            legacy,
            format!(
                r#"{{"type":"chat","encrypted":false,"from":"{from}","port":{port},"text":"{text}","id":{id},"ts":{ts}}}"#
            )
        );
    }
}

/// `clint.py` tries TLS first; a plaintext server must close that attempt at
/// once (not after a timeout) so the client's plaintext retry goes ahead.
#[test]
fn a_tls_first_attempt_on_a_plaintext_port_is_closed_and_the_retry_works() {
    // Routine, so said only with -v.
    let mut server = Server::start(&["-v"]);
    let mut p = Peer::connect(server.addr);
    assert_eq!(p.recv()["type"], "hello");
    // The first bytes of a TLS ClientHello record.
    p.send_raw(&[
        0x16, 0x03, 0x01, 0x00, 0xf4, 0x01, 0x00, 0x00, 0xf0, 0x03, 0x03,
    ]);
    assert!(
        p.recv_line().is_none(),
        "the server must close the TLS attempt"
    );
    server
        .proc
        .stderr
        .expect("TLS ClientHello on a plaintext port");
    let (mut retry, _) = Peer::join(server.addr, "retry");
    retry.send(json!({"type": "chat", "encrypted": false, "text": "made it"}));
    retry.recv_chat("made it");
}

/// A stand-in for `host.py`: its exact packets and its reactions.
fn legacy_server() -> (std::net::SocketAddr, std::sync::mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Bounded: at most a TLS attempt and one real client.
        for _ in 0..4 {
            let Ok((mut s, peer)) = listener.accept() else {
                return;
            };
            s.write_all(b"{\"type\":\"hello\",\"secure\":false}\n")
                .unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            // A TLS ClientHello gets no JSON line: the client gives up and closes.
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let Ok(auth) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            tx.send(auth.clone()).unwrap();
            let name = auth["name"].as_str().unwrap().trim().to_string();
            writeln!(
                s,
                "{{\"type\":\"auth_result\",\"ok\":true,\"client_name\":\"{name}\"}}"
            )
            .unwrap();
            writeln!(
                s,
                "{{\"type\":\"system\",\"encrypted\":false,\"text\":\"\\n{name} joined from 127.0.0.1:{}\"}}",
                peer.port()
            )
            .unwrap();
            s.write_all(b"{\"type\":\"count\",\"total\":1}\n").unwrap();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let packet: Value = serde_json::from_str(&line).unwrap();
                tx.send(packet.clone()).unwrap();
                let reply = json!({"type": "chat", "encrypted": false, "from": name, "port": peer.port(), "text": packet["text"]});
                writeln!(s, "{}", serde_json::to_string(&reply).unwrap()).unwrap();
            }
        }
    });
    (addr, rx)
}

#[test]
fn tcpplay_join_works_against_the_python_server_protocol() {
    let (addr, packets) = legacy_server();
    let home = tempfile::TempDir::new().unwrap();
    let mut cmd = crate::util::tcpplay(home.path());
    cmd.args([
        "join",
        "--host",
        "127.0.0.1",
        "--port",
        &addr.port().to_string(),
        "--name",
        "Zed",
    ]);
    let mut join = crate::util::Proc::spawn(cmd);
    join.stderr.expect("NOT ENCRYPTED");
    join.stderr.expect("Authenticated as Zed");
    join.stdout.expect("*** Zed joined from 127.0.0.1:");
    join.stdout.expect("*** 1 connected");
    join.send_line("hello legacy");
    join.stdout.expect("Zed: hello legacy");
    let wait = std::time::Duration::from_secs(10);
    let auth = packets.recv_timeout(wait).unwrap();
    assert_eq!(auth, json!({"type": "auth", "name": "Zed"}));
    let chat = packets.recv_timeout(wait).unwrap();
    assert_eq!(
        chat,
        json!({"type": "chat", "encrypted": false, "text": "hello legacy"})
    );
    join.close_stdin();
    assert_eq!(join.wait(), 0);
}
