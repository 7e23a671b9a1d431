//! Room operators against someone who wants around them (issue 43): a
//! banned member who renames or connects again, a muted member who tries
//! every other way to reach the room, look-alike names, re-made accounts.
//! The real `serve` over TLS with accounts; students are raw protocol
//! peers from chosen loopback addresses (127.0.0.2, ...), so that "the same
//! address" and "another address" are both real.

use std::net::IpAddr;

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::util::accounts::{gen_account, join, serve};
use crate::util::{make_cert, CertFiles, Peer, Proc, Server};

const CLASS: &str =
    "[serve]\nregistration = \"open\"\n\n[[rooms]]\nname = \"#class\"\noperators = [\"teacher\"]\n";

/// A student: a raw protocol-3 peer over TLS from `from`, asking for
/// `name` in `rooms`; the peer and the name the server gave.
fn student(
    server: &Server,
    cert: &CertFiles,
    from: &str,
    name: &str,
    rooms: &[&str],
) -> (Peer, String) {
    let ip: IpAddr = from.parse().unwrap();
    let (mut p, _) = Peer::connect_tls_from(server.addr, &cert.cert, Some(ip));
    assert_eq!(p.recv()["type"], "hello");
    p.send(json!({"type": "auth", "name": name, "proto": 3, "rooms": rooms}));
    let r = p.recv_type("auth_result");
    assert_eq!(r["ok"], true, "{r}");
    (p, r["client_name"].as_str().unwrap().to_string())
}

/// The next `joined`, `parted` or `error` about a room.
fn room_answer(p: &mut Peer) -> Value {
    loop {
        let v = p.recv();
        if matches!(v["type"].as_str(), Some("joined" | "parted" | "error")) {
            return v;
        }
    }
}

/// The class server with its teacher (an account, the room's declared
/// operator) listening in `#class` through the real `join`.
fn class() -> (TempDir, CertFiles, Server, Proc) {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("accounts.sqlite3");
    gen_account(dir.path(), &db, "teacher", "teacher-password");
    let server = serve(&cert, dir.path(), CLASS, &[]);
    let mut teacher = join(
        &server,
        &cert,
        "teacher",
        Some("teacher-password"),
        &["--room", "#class", "--listen"],
    );
    teacher.stdout.expect("you joined #class");
    (dir, cert, server, teacher)
}

#[test]
fn a_ban_holds_across_a_rename_and_a_second_connection_from_the_same_address() {
    let (_dir, cert, server, mut teacher) = class();
    let (mut dave, _) = student(&server, &cert, "127.0.0.2", "Dave", &["#class"]);
    assert_eq!(room_answer(&mut dave)["type"], "joined");
    let (mut bob, _) = student(&server, &cert, "127.0.0.3", "bob", &["#class"]);
    assert_eq!(room_answer(&mut bob)["type"], "joined");

    // A kick: out of the room with the reason and what to do.
    teacher.send_line("/kick dave talking over others");
    let out = room_answer(&mut dave);
    assert_eq!(out["type"], "parted", "{out}");
    let why = out["reason"].as_str().unwrap();
    assert!(why.contains("talking over others"), "{why}");
    assert!(why.contains("/join #class"), "{why}");
    dave.send(json!({"type": "join", "room": "#class"}));
    assert_eq!(room_answer(&mut dave)["type"], "joined");

    // A ban: the notice names the member as spelled, never the key.
    teacher.send_line("/ban dave 1d phones out");
    teacher.stdout.expect("teacher banned Dave in #class until");
    let out = room_answer(&mut dave);
    assert_eq!(out["type"], "parted", "{out}");
    assert!(out["reason"]
        .as_str()
        .unwrap()
        .contains("banned from #class until"));

    // A second connection from the same address, under another name.
    let (mut again, name) = student(&server, &cert, "127.0.0.2", "dave", &["#class"]);
    assert_eq!(name, "dave-2");
    let refused = room_answer(&mut again);
    assert_eq!(refused["code"], "banned", "{refused}");
    let msg = refused["message"].as_str().unwrap();
    assert!(msg.contains("your address"), "said plainly: {msg}");
    let told = again.recv_type("system");
    let told = told["text"].as_str().unwrap();
    assert!(
        told.contains("you are dave-2") && told.contains("/nick"),
        "a taken name is said, with what to do: {told}"
    );

    // A rename does not shake it off.
    dave.send(json!({"type": "nick", "name": "davey"}));
    dave.recv_type("system");
    dave.send(json!({"type": "join", "room": "#class"}));
    let refused = room_answer(&mut dave);
    assert_eq!(refused["code"], "banned", "{refused}");

    // Someone else, from another address, is not held.
    bob.send(json!({"type": "part", "room": "#class"}));
    assert_eq!(room_answer(&mut bob)["type"], "parted");
    bob.send(json!({"type": "join", "room": "#class"}));
    assert_eq!(room_answer(&mut bob)["type"], "joined");
}

#[test]
fn a_kicked_or_banned_member_is_told_by_join_what_to_do() {
    let (_dir, cert, server, mut teacher) = class();
    let mut erin = join(&server, &cert, "erin", None, &["--room", "#class"]);
    erin.stdout.expect("you joined #class");
    teacher.send_line("/kick erin off topic");
    let said = erin.stdout.expect("off topic");
    assert!(said.contains("/join #class to come back"), "{said}");
    erin.send_line("/join #class");
    erin.stdout.expect("you joined #class");
    teacher.send_line("/ban erin 1h");
    erin.stdout.expect("banned from #class until");
}

/// Everything `p` gets until its own marker line comes back.
fn until_marker(p: &mut Peer, room: &str, marker: &str) -> Vec<Value> {
    crate::util::say(p, room, marker);
    let mut seen = Vec::new();
    loop {
        let v = p.recv();
        if v["type"] == "chat" && v["text"] == marker {
            return seen;
        }
        seen.push(v);
    }
}

#[test]
fn a_muted_member_changes_nothing_in_the_room() {
    let (_dir, cert, server, mut teacher) = class();
    let (mut bob, _) = student(&server, &cert, "127.0.0.3", "bob", &["#class"]);
    assert_eq!(room_answer(&mut bob)["type"], "joined");
    let (mut mal, _) = student(&server, &cert, "127.0.0.4", "mallory", &["#class"]);
    assert_eq!(room_answer(&mut mal)["type"], "joined");
    teacher.send_line("/mute mallory 10m");
    teacher
        .stdout
        .expect("teacher muted mallory in #class until");

    let tries = [
        json!({"type": "chat", "room": "#class", "text": "SECRET chat"}),
        json!({"type": "chat", "room": "#class", "text": "SECRET waves", "action": true}),
        json!({"type": "topic", "room": "#class", "text": "SECRET topic"}),
        json!({"type": "nick", "name": "SECRETname"}),
    ];
    for t in tries {
        mal.send(t.clone());
        let e = mal.recv_type("error");
        assert_eq!(e["code"], "muted", "{t} → {e}");
    }
    mal.send(json!({"type": "part", "room": "#class", "reason": "SECRET part"}));
    assert_eq!(room_answer(&mut mal)["type"], "parted");
    mal.send(json!({"type": "join", "room": "#class"}));
    assert_eq!(room_answer(&mut mal)["type"], "joined");
    mal.send(json!({"type": "bye", "reason": "SECRET bye"}));
    mal.until_closed();
    // Her part and her goodbye reach the room as leaves, without her words.
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|v: &&Value| v["event"] == "leave")
        .count()
        < 2
    {
        seen.push(bob.recv());
    }
    seen.extend(until_marker(&mut bob, "#class", "marker"));
    for v in &seen {
        assert!(
            !v.to_string().contains("SECRET"),
            "a muted member reached the room: {v}"
        );
    }
}

/// What a guest asking for `name` is answered.
fn guest_auth(server: &Server, cert: &CertFiles, name: &str) -> Value {
    let mut p = Peer::connect_tls(server.addr, &cert.cert);
    assert_eq!(p.recv()["type"], "hello");
    p.send(json!({"type": "auth", "name": name, "proto": 3}));
    p.recv_type("auth_result")
}

#[test]
fn no_guest_holds_a_look_alike_of_an_account_or_an_operator_and_the_holder_is_never_renamed() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("accounts.sqlite3");
    gen_account(dir.path(), &db, "alice", "alice-password");
    gen_account(dir.path(), &db, "Bob Lee", "bob-password");
    let config = "[serve]\nregistration = \"open\"\n\n[[rooms]]\nname = \"#class\"\noperators = [\"lola\"]\n";
    let server = serve(&cert, dir.path(), config, &[]);
    for fake in [
        "aIice",
        "ali\u{307}ce",
        "al\u{131}\u{307}ce",
        "B0b Lee",
        "Bob  Lee",
        "IoIa",
    ] {
        let r = guest_auth(&server, &cert, fake);
        assert_eq!(r["ok"], false, "{} got in: {r}", fake.escape_unicode());
        assert_eq!(r["code"], "name_registered", "{r}");
    }
    let mut alice = join(
        &server,
        &cert,
        "alice",
        Some("alice-password"),
        &["--listen"],
    );
    alice.stderr.expect("logged in to the account alice");
    alice.send_line("/users");
    alice.stdout.expect("+alice");
}

/// A raw guest's `moderate` in `room`, answered.
fn moderate(p: &mut Peer, room: &str, action: &str, target: &str) -> Value {
    p.send(json!({"type": "moderate", "action": action, "room": room, "target": target}));
    loop {
        let v = p.recv();
        if v["type"] == "error" || (v["type"] == "system" && v["event"] == "moderation") {
            return v;
        }
    }
}

#[test]
fn operator_rights_go_with_the_account_and_no_guest_operates_a_room_an_account_made() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("accounts.sqlite3");
    gen_account(dir.path(), &db, "alice", "alice-password");
    gen_account(dir.path(), &db, "carol", "carol-password");
    let server = serve(&cert, dir.path(), "[serve]\nregistration = \"open\"\n", &[]);
    let mut alice = join(
        &server,
        &cert,
        "alice",
        Some("alice-password"),
        &["--room", "#study", "--listen"],
    );
    alice.stdout.expect("you joined #study");
    let mut carol = join(
        &server,
        &cert,
        "carol",
        Some("carol-password"),
        &["--room", "#study", "--listen"],
    );
    carol.stdout.expect("you joined #study");
    alice.send_line("/op carol");
    alice
        .stdout
        .expect("made account carol an operator of #study");
    carol.send_line("/unregister");
    carol.stdout.expect("the account carol is gone");
    carol.send_line("/quit");
    assert_eq!(carol.wait(), 0);
    alice.send_line("/quit");
    assert_eq!(alice.wait(), 0);

    // #study is empty and gone; a guest who comes first does not make it hers.
    let (mut mallory, _) = student(&server, &cert, "127.0.0.5", "mallory", &["#study"]);
    assert_eq!(room_answer(&mut mallory)["type"], "joined");
    let refused = moderate(&mut mallory, "#study", "ban", "account:alice");
    assert_eq!(refused["code"], "not_operator", "{refused}");
    drop(mallory);

    // Someone else registers carol: the grant was the old carol's.
    let mut fake = join(
        &server,
        &cert,
        "carol",
        Some("mallory-password"),
        &["--register", "--room", "#study", "--listen"],
    );
    fake.stdout.expect("the name carol is registered to you");
    fake.send_line("/ban account:alice");
    fake.stdout.expect("(not_operator)");
}
