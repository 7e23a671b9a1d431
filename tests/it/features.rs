//! Chat features through the real binary: direct messages, renames, the user
//! list, kick, message of the day, history (replay, fetch, restart, disabled,
//! unwritable), reload of the certificate on SIGHUP, and a legacy client
//! chatting while all of this is in use.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::util::{make_cert, Peer, Server};

/// The next packet that is not presence bookkeeping (join/leave notices,
/// counts) or replayed history.
fn next_non_presence(p: &mut Peer) -> Value {
    loop {
        let v = p.recv();
        let presence = matches!(
            v["type"].as_str(),
            Some("count" | "history" | "history_end")
        ) || (v["type"] == "system"
            && matches!(v["event"].as_str(), Some("join") | Some("leave")));
        if !presence {
            return v;
        }
    }
}

#[test]
fn a_direct_message_reaches_only_its_recipient_and_its_sender() {
    let server = Server::start(&[]);
    let (mut a, _) = Peer::join_v1(server.addr, "alice");
    let (mut b, _) = Peer::join_v1(server.addr, "bob");
    let (mut c, _) = Peer::join_v1(server.addr, "carol");
    a.send(json!({"type": "dm", "to": "BOB", "text": "just for you"}));
    let got = b.recv_type("dm");
    assert_eq!(
        (&got["from"], &got["to"], &got["text"]),
        (&json!("alice"), &json!("bob"), &json!("just for you"))
    );
    let echo = a.recv_type("dm");
    assert_eq!(
        (&echo["to"], &echo["text"]),
        (&json!("bob"), &json!("just for you"))
    );
    // carol: a marker round trip proves nothing else was queued for her.
    c.send(json!({"type": "chat", "text": "carol marker"}));
    loop {
        let v = c.recv();
        assert_ne!(
            v["type"], "dm",
            "a third client got the direct message: {v}"
        );
        assert!(!v.to_string().contains("just for you"), "{v}");
        if v["text"] == "carol marker" {
            break;
        }
    }
    a.send(json!({"type": "dm", "to": "nobody", "text": "hello?"}));
    let e = a.recv_type("error");
    assert_eq!(e["code"], "no_such_user", "{e}");
    assert!(e["message"].as_str().unwrap().contains("nobody"), "{e}");
    a.send(json!({"type": "dm", "to": "bob", "text": "   "}));
    assert_eq!(a.recv_type("error")["code"], "empty_text");
    // The session goes on after refusals.
    a.send(json!({"type": "chat", "text": "still here"}));
    b.recv_chat("still here");
}

#[test]
fn renames_are_announced_and_collisions_and_bad_names_refused() {
    let server = Server::start(&[]);
    let (mut a, _) = Peer::join_v1(server.addr, "alice");
    let (mut b, _) = Peer::join_v1(server.addr, "bob");
    a.send(json!({"type": "nick", "name": "  Alicia "}));
    for p in [&mut a, &mut b] {
        let v = p.recv_system("alice is now Alicia");
        assert_eq!(
            (&v["event"], &v["name"], &v["new_name"]),
            (&json!("rename"), &json!("alice"), &json!("Alicia"))
        );
    }
    b.send(json!({"type": "nick", "name": "ALICIA"}));
    let e = b.recv_type("error");
    assert_eq!(e["code"], "name_taken", "{e}");
    b.send(json!({"type": "nick", "name": "server"}));
    assert_eq!(b.recv_type("error")["code"], "name_invalid");
    b.send(json!({"type": "nick", "name": "evil\u{202e}name"}));
    assert_eq!(b.recv_type("error")["code"], "name_invalid");
    // The new name is the one on chat, in /users and for direct messages;
    // the old one is free again.
    a.send(json!({"type": "chat", "text": "renamed"}));
    assert_eq!(b.recv_chat("renamed")["from"], "Alicia");
    b.send(json!({"type": "dm", "to": "alicia", "text": "found you"}));
    assert_eq!(a.recv_type("dm")["text"], "found you");
    let (_c, name) = Peer::join_v1(server.addr, "alice");
    assert_eq!(name, "alice");
}

#[test]
fn users_lists_who_is_here_oldest_first() {
    let server = Server::start(&[]);
    let (mut a, _) = Peer::join_v1(server.addr, "alice");
    let (_b, _) = Peer::join_v1(server.addr, "bob smith");
    a.send(json!({"type": "users"}));
    let u = a.recv_type("users");
    let names: Vec<&str> = u["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob smith"]);
    assert_eq!(u["total"], 2);
    let since = u["users"][0]["since"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        since <= now && now - since < 60_000,
        "joined just now: {since} vs {now}"
    );
}

#[test]
fn the_operator_kicks_with_a_reason_and_sets_the_motd() {
    let mut server = Server::start(&["--motd", "be kind"]);
    let (mut a, _) = Peer::join_v1(server.addr, "alice");
    let motd = next_non_presence(&mut a);
    assert_eq!(
        (&motd["event"], &motd["text"]),
        (&json!("motd"), &json!("be kind")),
        "{motd}"
    );
    let (mut b, _) = Peer::join_v1(server.addr, "bob");
    server.proc.send_line("/kick BOB spamming the room");
    server.proc.stdout.expect("removed bob");
    let bye = b.recv_type("bye");
    assert_eq!(bye["reason"], "removed by the operator: spamming the room");
    assert!(b.recv_line().is_none(), "closed after the bye");
    let notice = a.recv_system("bob was removed by the operator: spamming the room");
    assert_eq!(notice["event"], "kick");
    assert_eq!(
        a.until_idle_count_of("bob disconnected."),
        0,
        "one notice for a kick, not a second 'disconnected'"
    );
    server.proc.send_line("/kick nobody");
    server.proc.stdout.expect("nobody called 'nobody' is here");
    server.proc.send_line("/motd new rules");
    assert_eq!(a.recv_system("new rules")["event"], "motd");
    let (mut c, _) = Peer::join_v1(server.addr, "carol");
    assert_eq!(next_non_presence(&mut c)["text"], "new rules");
}

#[test]
fn a_client_can_leave_with_a_reason() {
    let server = Server::start(&[]);
    let (mut a, _) = Peer::join_v1(server.addr, "alice");
    let (mut b, _) = Peer::join_v1(server.addr, "bob");
    b.send(json!({"type": "bye", "reason": "dinner time"}));
    assert!(b.until_closed().iter().all(|v| v["type"] != "error"));
    let v = a.recv_system("bob left (dinner time)");
    assert_eq!((&v["event"], &v["name"]), (&json!("leave"), &json!("bob")));
}

/// Send `n` numbered lines as `name` and wait until they are back.
fn say_numbered(p: &mut Peer, prefix: &str, n: usize) {
    for i in 0..n {
        p.send(json!({"type": "chat", "text": format!("{prefix} {i}")}));
    }
    p.recv_chat(&format!("{prefix} {}", n - 1));
}

/// History packets after a join, up to `history_end`.
fn replay(p: &mut Peer) -> (Vec<Value>, Value) {
    let mut rows = Vec::new();
    loop {
        let v = p.recv();
        match v["type"].as_str() {
            Some("history") => rows.push(v),
            Some("history_end") => return (rows, v),
            Some("chat") => panic!("live chat before the end of history: {v}"),
            _ => {}
        }
    }
}

#[test]
fn history_survives_a_restart_and_older_pages_can_be_fetched() {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let burst = [("TCPPLAY_LIMITS__MESSAGE_BURST", "100")];
    let mut server = Server::start_with(&[], &burst, home.clone());
    let (mut a, _) = Peer::join_v1(server.addr, "alice");
    say_numbered(&mut a, "before restart", 30);
    a.send(json!({"type": "chat", "text": "/me-like", "action": true}));
    assert_eq!(a.recv_chat("/me-like")["action"], true);
    server.proc.signal(libc::SIGTERM);
    assert_eq!(server.proc.wait(), 0);
    // The default place: this server's own file in the data directory.
    let port = server.port();
    let db = home.path().join(format!(
        ".local/share/tcpplay/history/127.0.0.1-{port}.sqlite3"
    ));
    assert!(db.is_file(), "history at {}", db.display());

    // Restarted on the same address: the same history.
    let server = Server::start_with(&["--port", &port], &[], home.clone());
    let (mut b, _) = Peer::join_v1(server.addr, "bob");
    let (rows, end) = replay(&mut b);
    assert_eq!(rows.len(), 20, "the last 20 by default");
    assert_eq!(end["count"], 20);
    assert_eq!(end["more"], true);
    assert_eq!(rows[0]["text"], "before restart 11");
    assert_eq!(rows[19]["text"], "/me-like");
    assert_eq!(rows[19]["action"], true);
    assert_eq!(rows[19]["from"], "alice");
    let ids: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // Ids go on increasing after the restart.
    b.send(json!({"type": "chat", "text": "after restart"}));
    let live = b.recv_chat("after restart");
    assert!(live["id"].as_u64().unwrap() > ids[19]);
    // Older pages.
    b.send(json!({"type": "fetch_history", "before": ids[0], "limit": 5}));
    let (page, end) = replay(&mut b);
    let texts: Vec<&str> = page.iter().map(|r| r["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "before restart 6",
            "before restart 7",
            "before restart 8",
            "before restart 9",
            "before restart 10"
        ]
    );
    assert_eq!(end["more"], true);
    b.send(json!({"type": "fetch_history", "before": page[0]["id"], "limit": 100}));
    let (page, end) = replay(&mut b);
    assert_eq!(page.len(), 6);
    assert_eq!(end["more"], false);
}

#[test]
fn legacy_clients_get_no_history_packets_and_direct_messages_as_chat() {
    let server = Server::start(&[]);
    let (mut a, _) = Peer::join_v1(server.addr, "alice");
    say_numbered(&mut a, "earlier", 3);
    // The Python client's auth (no `proto`): only packet types it knows.
    let (mut legacy, _) = Peer::join(server.addr, "Legacy");
    a.send(json!({"type": "nick", "name": "alicia"}));
    a.send(json!({"type": "dm", "to": "legacy", "text": "psst"}));
    a.send(json!({"type": "chat", "text": "done"}));
    legacy.send(json!({"type": "chat", "encrypted": false, "text": "python says hi"}));
    let mut seen = Vec::new();
    let mut got = (false, false, false);
    while !(got.0 && got.1 && got.2) {
        let v = legacy.recv();
        let ty = v["type"].as_str().unwrap().to_string();
        assert!(
            ["auth_result", "system", "count", "chat"].contains(&ty.as_str()),
            "a legacy client got a {ty} packet: {v}"
        );
        if v["type"] == "chat" && v["text"] == "psst" {
            assert_eq!(v["from"], "alicia (direct)");
        }
        got.0 |= v["text"] == "done";
        got.1 |= v["text"] == "python says hi";
        got.2 |= v["text"] == "psst";
        seen.push(v);
    }
    assert!(
        seen.iter().any(|v| v["text"] == "alice is now alicia"),
        "{seen:?}"
    );
    a.recv_chat("python says hi");
}

/// Every stored message of `room` (`None`: the default room), oldest
/// first, fetched page by page back to the first.
fn all_history(p: &mut Peer, room: Option<&str>) -> Vec<String> {
    let mut texts = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let mut ask = json!({"type": "fetch_history", "limit": 100});
        if let Some(r) = room {
            ask["room"] = json!(r);
        }
        if let Some(b) = before {
            ask["before"] = json!(b);
        }
        p.send(ask);
        let (page, end) = replay(p);
        if let Some(first) = page.first() {
            before = first["id"].as_u64();
        }
        let mut older: Vec<String> = page
            .iter()
            .map(|r| r["text"].as_str().unwrap().to_string())
            .collect();
        older.append(&mut texts);
        texts = older;
        if end["more"] == false {
            return texts;
        }
    }
}

/// `history.max_messages` keeps each room's newest messages: a room over
/// the limit loses its oldest, another room keeps its own.
#[test]
fn history_keeps_each_rooms_newest_messages_up_to_the_limit() {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let path = home.path().join("h.sqlite3");
    let args = ["--history", path.to_str().unwrap()];
    let env = [
        ("TCPPLAY_HISTORY__MAX_MESSAGES", "1000"),
        ("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "0"),
    ];
    let member = |server: &Server| {
        let mut p = Peer::connect(server.addr);
        p.recv_type("hello");
        p.send(json!({"type": "auth", "name": "keeper", "proto": 3, "rooms": ["#lobby", "#side"]}));
        p.recv_type("auth_result");
        p
    };
    let mut server = Server::start_with(&args, &env, home.clone());
    let mut p = member(&server);
    // 2,500 in the default room (the writer prunes as they come), 200 in
    // #side; read back as they go, so that nobody falls behind.
    for chunk in 0..25 {
        for i in chunk * 100..(chunk + 1) * 100 {
            p.send(json!({"type": "chat", "text": format!("keep {i}")}));
        }
        p.recv_chat(&format!("keep {}", chunk * 100 + 99));
    }
    for i in 0..200 {
        p.send(json!({"type": "chat", "room": "#side", "text": format!("side {i}")}));
    }
    p.recv_chat("side 199");
    server.proc.signal(libc::SIGTERM);
    assert_eq!(server.proc.wait(), 0);
    // Restarted (pruning once more at the start): exactly the newest 1,000.
    let server = Server::start_with(&args, &env, home.clone());
    let mut p = member(&server);
    // The join's replay, one per room, before asking for more.
    replay(&mut p);
    replay(&mut p);
    let lobby = all_history(&mut p, None);
    let want: Vec<String> = (1500..2500).map(|i| format!("keep {i}")).collect();
    assert!(
        lobby == want,
        "kept {} from {:?}",
        lobby.len(),
        lobby.first()
    );
    let side = all_history(&mut p, Some("#side"));
    let want: Vec<String> = (0..200).map(|i| format!("side {i}")).collect();
    assert!(side == want, "kept {} from {:?}", side.len(), side.first());
}

/// A history file changed behind the server's back (here by Python's
/// sqlite3, holding the id the server gives next): that one message is not
/// stored, the operator is told why, chat goes on, and what the other
/// program wrote is what history shows.
#[test]
fn a_message_whose_id_another_program_took_is_not_stored_and_the_operator_is_told() {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let path = home.path().join("h.sqlite3");
    let mut server = Server::start_with(&["--history", path.to_str().unwrap()], &[], home.clone());
    let (mut a, _) = Peer::join_v1(server.addr, "alice");
    a.send(json!({"type": "chat", "text": "one"}));
    let id = a.recv_chat("one")["id"].as_u64().unwrap();
    // Once "one" is written (a fetch is answered after what was queued).
    a.send(json!({"type": "fetch_history", "limit": 1}));
    let _ = replay(&mut a);
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], timeout=10)\n\
             c.execute(\"INSERT INTO messages (id, ts, sender, text) VALUES (?, ?, 'intruder', 'written by another program')\", (int(sys.argv[2]), int(time.time() * 1000)))\n\
             c.commit()",
            path.to_str().unwrap(),
            &(id + 1).to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    a.send(json!({"type": "chat", "text": "two"}));
    let live = a.recv_chat("two");
    assert_eq!(
        live["id"].as_u64(),
        Some(id + 1),
        "delivered live all the same"
    );
    server
        .proc
        .stderr
        .expect("1 message(s) not stored: their id is already in the file");
    a.send(json!({"type": "fetch_history", "limit": 5}));
    let (rows, _) = replay(&mut a);
    let texts: Vec<&str> = rows.iter().map(|r| r["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["one", "written by another program"]);
}

#[test]
fn history_can_be_turned_off() {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let server = Server::start_with(&["--no-history"], &[], home.clone());
    let (mut a, _) = Peer::join_v1(server.addr, "alice");
    say_numbered(&mut a, "not kept", 3);
    let (mut b, _) = Peer::join_v1(server.addr, "bob");
    b.send(json!({"type": "fetch_history"}));
    loop {
        let v = b.recv();
        assert_ne!(v["type"], "history", "{v}");
        if v["type"] == "error" {
            assert_eq!(v["code"], "history_unavailable");
            break;
        }
    }
    assert!(
        !home.path().join(".local/share/tcpplay").exists(),
        "--no-history writes nothing"
    );
}

#[test]
fn an_unwritable_history_path_is_a_warning_and_chat_goes_on() {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    // A directory where the database file should be: it cannot be opened.
    let path = home.path().join("a-directory");
    std::fs::create_dir(&path).unwrap();
    let mut server = Server::start_with(&["--history", path.to_str().unwrap()], &[], home);
    let warning = server.proc.stderr.expect("WITHOUT history");
    assert!(warning.contains("a-directory"), "names the path: {warning}");
    let (mut a, _) = Peer::join_v1(server.addr, "alice");
    let (mut b, _) = Peer::join_v1(server.addr, "bob");
    a.send(json!({"type": "chat", "text": "still chatting"}));
    b.recv_chat("still chatting");
}

#[test]
fn sighup_reloads_the_certificate_for_new_connections() {
    let first = make_cert();
    let second = make_cert();
    assert_ne!(first.fingerprint, second.fingerprint);
    let dir = tempfile::TempDir::new().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(&first.cert, &cert).unwrap();
    std::fs::copy(&first.key, &key).unwrap();
    let mut server = Server::start(&[
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    let fingerprint_seen = |server: &Server, trust: &std::path::Path| {
        let mut j = server.join(&["--cert", trust.to_str().unwrap(), "--name", "probe"]);
        let line = j.stderr.expect("certificate SHA-256");
        j.close_stdin();
        j.wait();
        line
    };
    assert!(fingerprint_seen(&server, &first.cert).contains(&first.fingerprint));
    std::fs::copy(&second.cert, &cert).unwrap();
    std::fs::copy(&second.key, &key).unwrap();
    server.proc.signal(libc::SIGHUP);
    server.proc.stderr.expect("certificate and key reloaded");
    assert!(fingerprint_seen(&server, &second.cert).contains(&second.fingerprint));
    // A broken pair on the next reload keeps the working one.
    std::fs::write(&key, "not a key").unwrap();
    server.proc.send_line("/reload");
    server
        .proc
        .stderr
        .expect("reload failed, the current settings stay");
    assert!(fingerprint_seen(&server, &second.cert).contains(&second.fingerprint));
}

#[test]
fn join_speaks_the_commands() {
    let server = Server::start(&[]);
    let (mut bob, _) = Peer::join_v1(server.addr, "bob");
    let mut j = server.join(&["--name", "alice"]);
    j.stdout.expect("alice joined");
    bob.recv_system("alice joined");
    j.send_line("/msg bob hello bob");
    assert_eq!(bob.recv_type("dm")["text"], "hello bob");
    j.stdout.expect("[dm to bob] hello bob");
    bob.send(json!({"type": "dm", "to": "alice", "text": "hi alice"}));
    j.stdout.expect("[dm from bob] hi alice");
    j.send_line("/me waves");
    assert_eq!(bob.recv_chat("waves")["action"], true);
    j.stdout.expect("* alice waves");
    // A piped line that cannot be sent is named on stderr, by its number.
    j.send_line("/bogus stuff");
    j.stderr
        .expect("line 3 not sent: unknown command /bogus: try /help");
    j.send_line("//bogus is literal");
    bob.recv_chat("/bogus is literal");
    j.send_line("/users");
    j.stdout.expect("2 here: bob (");
    j.send_line("/nick ally");
    j.stdout.expect("alice is now ally");
    j.send_line("/msg nobody x");
    j.stderr
        .expect("line 7 not sent: nobody called 'nobody' is here");
    j.send_line("/history");
    j.stdout.expect("-- no older messages --");
    j.send_line("/quit off to lunch");
    bob.recv_system("ally left (off to lunch)");
    // Two lines were not sent: the exit code says so.
    j.stderr.expect("2 line(s) could not be sent");
    assert_eq!(j.wait(), 1);
}

#[test]
fn join_json_prints_one_parseable_event_per_line() {
    let server = Server::start(&[]);
    let (mut bob, _) = Peer::join_v1(server.addr, "bob");
    let mut j = server.join(&["--name", "scripted", "--json"]);
    bob.recv_system("scripted joined");
    j.send_line("hello as json");
    bob.recv_chat("hello as json");
    bob.send(json!({"type": "dm", "to": "scripted", "text": "a secret"}));
    j.send_line("/users");
    let mut events = std::collections::HashMap::new();
    while events.len() < 6 {
        let line = j.stdout.expect("{");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let kind = v["event"]
            .as_str()
            .unwrap_or_else(|| panic!("no event: {v}"))
            .to_string();
        events.insert(kind, v);
    }
    assert_eq!(events["chat"]["from"], "scripted");
    assert_eq!(events["chat"]["text"], "hello as json");
    // Rooms: every event in a room says which.
    assert_eq!(events["joined"]["room"], "#lobby");
    assert_eq!(events["chat"]["room"], "#lobby");
    assert_eq!(events["system"]["room"], "#lobby");
    assert!(events["chat"]["ts"].as_u64().is_some());
    assert_eq!(
        (&events["dm"]["from"], &events["dm"]["text"]),
        (&json!("bob"), &json!("a secret"))
    );
    assert_eq!(events["system"]["kind"], "join");
    assert!(events["count"]["total"].as_u64().is_some());
    assert_eq!(events["users"]["total"], 2);
    j.close_stdin();
    assert_eq!(j.wait(), 0);
}
