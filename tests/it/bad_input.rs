//! Hostile and broken peers: each gets an `error` packet or a clean close with
//! a log line, and a healthy client on the same server receives every message
//! before and after.

use std::sync::Arc;

use serde_json::json;

use crate::util::{Peer, Server};

/// A healthy member that checks the room still works around each bad input.
struct Witness {
    peer: Peer,
    n: u32,
}

impl Witness {
    fn new(server: &Server) -> Witness {
        let (peer, _) = Peer::join(server.addr, "witness");
        Witness { peer, n: 0 }
    }
    fn round_trip(&mut self) {
        self.n += 1;
        let text = format!("still fine {}", self.n);
        self.peer.send(json!({"type": "chat", "text": text}));
        self.peer.recv_chat(&text);
    }
}

fn server_with_small_frames() -> Server {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    Server::start_with(&[], &[("TCPPLAY_LIMITS__MAX_FRAME_BYTES", "1024")], home)
}

/// The server's goodbye names the refusal (`bye.code`), and a legacy client
/// (these raw peers are) also gets it as a `system` line it can show.
fn expect_error_then_close(p: &mut Peer, code: &str) {
    let rest = p.until_closed();
    assert!(
        rest.iter().any(|v| v["type"] == "bye" && v["code"] == code),
        "expected bye {code} then close, got {rest:?}"
    );
    assert!(
        rest.iter().any(|v| v["type"] == "system"
            && v["text"]
                .as_str()
                .unwrap()
                .starts_with("Disconnected by the server: ")),
        "{rest:?}"
    );
}

#[test]
fn frames_that_are_not_json_objects_are_refused_and_others_keep_chatting() {
    let mut server = server_with_small_frames();
    let mut w = Witness::new(&server);
    w.round_trip();
    let cases: [&[u8]; 3] = [
        b"this is not json\n",
        b"\xff\xfe{\"type\":\"chat\"}\n",
        b"[1,2,3]\n",
    ];
    for bad in cases {
        let (mut p, _) = Peer::join(server.addr, "bad");
        p.send_raw(bad);
        expect_error_then_close(&mut p, "bad_frame");
        w.round_trip();
    }
    server.proc.stderr.expect("not a JSON object line");
    // An object whose string is not Unicode text (an escaped lone
    // surrogate): a field that does not fit, as PROTOCOL.md says.
    let (mut p, _) = Peer::join(server.addr, "escapes");
    p.send_raw(b"{\"type\":\"chat\",\"text\":\"\\ud800\"}\n");
    assert_eq!(p.recv_type("error")["code"], "bad_packet");
    p.send(json!({"type": "chat", "text": "still here"}));
    p.recv_chat("still here");
    w.round_trip();
}

#[test]
fn a_line_over_the_frame_limit_and_a_never_ending_line_are_cut_off() {
    let mut server = server_with_small_frames();
    let mut w = Witness::new(&server);
    w.round_trip();
    let (mut p, _) = Peer::join(server.addr, "long");
    let mut line = format!("{{\"type\":\"chat\",\"text\":\"{}\"}}", "x".repeat(2000)).into_bytes();
    line.push(b'\n');
    p.send_raw(&line);
    expect_error_then_close(&mut p, "too_long");
    w.round_trip();

    let (mut p, _) = Peer::join(server.addr, "endless");
    for _ in 0..3 {
        p.send_raw(&[b'y'; 600]); // no newline, ever
    }
    expect_error_then_close(&mut p, "too_long");
    w.round_trip();
    server
        .proc
        .stderr
        .expect("line over limits.max_frame_bytes");
}

#[test]
fn chat_before_auth_is_refused_without_closing() {
    let server = Server::start(&[]);
    let mut w = Witness::new(&server);
    let mut p = Peer::connect(server.addr);
    p.recv_type("hello");
    p.send(json!({"type": "chat", "text": "sneaky"}));
    let e = p.recv();
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("not_authenticated"))
    );
    p.send(json!({"type": "auth", "name": "late"}));
    assert_eq!(p.recv_type("auth_result")["ok"], true);
    w.round_trip();
    // The refused line was never broadcast.
    p.send(json!({"type": "chat", "text": "now allowed"}));
    let got = w.peer.recv_type("chat");
    assert_ne!(got["text"], "sneaky");
}

#[test]
fn invalid_names_get_auth_result_with_a_reason() {
    let server = Server::start(&[]);
    let mut w = Witness::new(&server);
    let long = "n".repeat(25);
    for (name, why) in [
        ("   ", "empty"),
        (long.as_str(), "at most 24"),
        ("bell\u{7}", "control"),
        ("rtl\u{202e}x", "control"),
        ("server", "reserved"),
    ] {
        let mut p = Peer::connect(server.addr);
        p.recv_type("hello");
        p.send(json!({"type": "auth", "name": name}));
        let r = p.recv_type("auth_result");
        assert_eq!(r["ok"], false, "{name:?}");
        assert_eq!(r["code"], "name_invalid");
        assert!(r["reason"].as_str().unwrap().contains(why), "{name:?}: {r}");
        w.round_trip();
    }
}

#[test]
fn bad_packets_get_an_error_and_the_session_goes_on() {
    let server = Server::start(&[]);
    let mut w = Witness::new(&server);
    let (mut p, _) = Peer::join(server.addr, "sloppy");
    p.send(json!({"type": "chat"}));
    assert_eq!(p.recv_type("error")["code"], "bad_packet");
    p.send(json!({"type": "chat", "text": "   "}));
    assert_eq!(p.recv_type("error")["code"], "empty_text");
    p.send(json!({"type": "chat", "text": "x".repeat(4001)}));
    assert_eq!(p.recv_type("error")["code"], "too_long");
    p.send(json!({"type": "from_the_future", "x": 1}));
    p.send(json!({"type": "chat", "text": "recovered", "unknown_field": true}));
    p.recv_chat("recovered");
    w.round_trip();
}

#[test]
fn a_client_that_vanishes_mid_line_is_announced_once() {
    let server = Server::start(&[]);
    let mut w = Witness::new(&server);
    let (mut p, _) = Peer::join(server.addr, "halfway");
    w.peer.recv_type("count");
    p.send_raw(b"{\"type\":\"chat\",\"te");
    drop(p);
    w.peer.recv_system("halfway disconnected.");
    assert_eq!(w.peer.recv_type("count")["total"], 1);
    w.round_trip();
    let again_left = w.peer.until_idle_count_of("halfway disconnected.");
    assert_eq!(again_left, 0, "the leave is announced once");
    let (mut again, name) = Peer::join(server.addr, "halfway");
    assert_eq!(name, "halfway", "the name was freed");
    again.recv_type("count");
}

/// Names that pass for someone else are one name: a look-alike joiner is
/// suffixed, a look-alike rename is refused, and names cannot start like a
/// line from the server.
#[test]
fn look_alike_names_are_taken_and_marks_cannot_start_a_name() {
    let server = Server::start(&["--no-history"]);
    let (_alice, _) = Peer::join_v1(server.addr, "alice");
    let (_cyr, name) = Peer::join_v1(server.addr, "\u{430}lice");
    assert_eq!(name, "\u{430}lice-2", "Cyrillic a is taken as Latin a");
    // Full-width letters are compatibility forms: not a name at all.
    let mut wide = Peer::connect(server.addr);
    wide.recv();
    wide.send(json!({"type": "auth", "name": "\u{ff41}lice", "proto": 2}));
    let r = wide.recv_type("auth_result");
    assert_eq!(r["code"], "name_invalid", "{r}");
    let (mut bob, _) = Peer::join_v1(server.addr, "bob");
    bob.send(json!({"type": "nick", "name": "\u{455}erver"}));
    assert_eq!(bob.recv_type("error")["code"], "name_invalid");
    bob.send(json!({"type": "nick", "name": "ALICE"}));
    assert_eq!(bob.recv_type("error")["code"], "name_taken");
    let mut p = Peer::connect(server.addr);
    p.recv();
    p.send(json!({"type": "auth", "name": "[history 12:00:00] alice", "proto": 2}));
    let r = p.recv_type("auth_result");
    assert_eq!(r["code"], "name_invalid");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("cannot start with '['"),
        "{r}"
    );
}

#[test]
fn names_that_only_look_like_another_or_hide_characters_are_refused_with_a_reason() {
    let server = Server::start(&["--no-history"]);
    let (_alice, _) = Peer::join_v1(server.addr, "alice");
    // A capital I looks like an l: `aIice` is alice's double.
    let (_twin, name) = Peer::join_v1(server.addr, "aIice");
    assert_eq!(name, "aIice-2");
    for (hidden, why) in [
        ("alice\u{2800}", "2800"),
        ("alice\u{e000}", "private-use"),
        ("alice\u{378}", "unassigned"),
        ("alice\u{fdd0}", "fdd0"),
        ("\u{3164}", "invisible"),
    ] {
        let mut p = Peer::connect(server.addr);
        p.recv();
        p.send(json!({"type": "auth", "name": hidden, "proto": 3}));
        let r = p.recv_type("auth_result");
        assert_eq!(r["code"], "name_invalid", "{hidden:?}: {r}");
        assert!(
            r["reason"].as_str().unwrap().contains(why),
            "{hidden:?}: {r}"
        );
    }
    let (mut bob, _) = Peer::join_v1(server.addr, "bob");
    bob.send(json!({"type": "join", "room": "#\u{3164}"}));
    let e = bob.recv_type("error");
    assert!(e["message"].as_str().unwrap().contains("invisible"), "{e}");
}
