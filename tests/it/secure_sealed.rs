//! What a secure room's server holds and relays stays sealed: a tampered,
//! moved or relabelled line does not open as a member's words, history is
//! ciphertext that the same password reads after a restart, a server with
//! only the room's record serves it, and the operator's console reads the
//! room only after `/unlock`.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::json;
use tcpplay::crypto::{self, Kind, Sealed};

use crate::secure::{
    join_binary, join_command, raw_member, secure_server, secure_server_in, PASSWORD,
};
use crate::util::{make_cert, Server};

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
