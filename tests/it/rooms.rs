//! Rooms (protocol 3) over real sockets: what each member receives, per-room
//! presence and history (across a restart), the Python original beside a
//! rooms client, direct messages across rooms, every bad input, declared
//! rooms and a reload, the operator's room commands, `join --room` piped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::util::{check_json, member, python, run, say, Peer, Proc, Server};

/// Send a marker to `room` and read until it comes back: every packet before it.
fn until_marker(p: &mut Peer, room: &str) -> Vec<Value> {
    let marker = format!("marker-{}-{room}", p.local_port);
    say(p, room, &marker);
    let mut seen = Vec::new();
    loop {
        let v = p.recv();
        if v["type"] == "chat" && v["text"] == marker.as_str() {
            // The default room's lines carry no room field.
            let back = v["room"].as_str().unwrap_or("#lobby");
            assert_eq!(back, room, "the marker comes back in its room");
            return seen;
        }
        seen.push(v);
    }
}

/// One JSON line to a client, from a server scripted in a test.
fn send_line(w: &mut impl std::io::Write, v: &Value) {
    let mut l = serde_json::to_vec(v).unwrap();
    l.push(b'\n');
    w.write_all(&l).unwrap();
}

/// The next `error`, skipping the rest; it must carry `code`.
fn error(p: &mut Peer, code: &str) -> Value {
    let e = p.recv_type("error");
    assert_eq!(e["code"], code, "{e}");
    e
}

#[test]
fn members_of_overlapping_rooms_get_exactly_their_rooms_lines_and_counts() {
    let server = Server::start(&["--no-history"]);
    let plan = [
        ("ann", ["#red", "#green"]),
        ("ben", ["#green", "#blue"]),
        ("cat", ["#blue", "#red"]),
    ];
    let mut peers: Vec<Peer> = plan
        .iter()
        .map(|(name, rooms)| member(server.addr, name, rooms).0)
        .collect();
    for (p, (name, rooms)) in peers.iter_mut().zip(&plan) {
        for room in rooms {
            say(p, room, &format!("{name} in {room}"));
        }
    }
    // Lines said on different connections reach the server in no set
    // order: read until every line of my rooms came (and each room's count
    // of 2), failing on any line from elsewhere.
    for (p, (name, rooms)) in peers.iter_mut().zip(&plan) {
        let want: BTreeSet<String> = plan
            .iter()
            .flat_map(|(n, rs)| rs.iter().map(move |r| format!("{n} in {r}")))
            .filter(|l| rooms.iter().any(|r| l.ends_with(r)))
            .collect();
        assert_eq!(want.len(), 4, "two rooms, two members each");
        let mut got = BTreeSet::new();
        let mut counts = BTreeMap::new();
        let two = json!(2);
        while got != want || rooms.iter().any(|r| counts.get(*r) != Some(&two)) {
            let v = p.recv();
            match v["type"].as_str() {
                Some("chat") => {
                    let text = v["text"].as_str().unwrap();
                    assert!(
                        text.ends_with(v["room"].as_str().unwrap()),
                        "a line carries the room it was said in: {v}"
                    );
                    assert!(
                        want.contains(text),
                        "{name} got a line not of its rooms: {v}"
                    );
                    got.insert(text.to_string());
                }
                Some("count") => {
                    counts.insert(v["room"].as_str().unwrap().to_string(), v["total"].clone());
                }
                Some("system") => assert!(v["room"].is_string(), "{v}"),
                _ => {}
            }
        }
    }
    // Every line is published now (each reached the other member of its
    // room): nothing more comes before a marker said after them (only the
    // other members' markers).
    for (p, (name, rooms)) in peers.iter_mut().zip(&plan) {
        for room in rooms {
            for v in until_marker(p, room) {
                let marker = v["text"].as_str().is_some_and(|t| t.starts_with("marker-"));
                assert!(
                    v["type"] != "chat" || marker,
                    "{name}: a line after all were read: {v}"
                );
            }
        }
    }
    // Nobody is in the default room: its count and users say so.
    peers[0].send(json!({"type": "users", "room": "#red"}));
    let u = peers[0].recv_type("users");
    assert_eq!(
        (u["room"].as_str(), u["total"].as_u64()),
        (Some("#red"), Some(2))
    );
    peers[0].send(json!({"type": "rooms"}));
    let r = peers[0].recv_type("rooms");
    let listed: BTreeMap<&str, u64> = r["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["room"].as_str().unwrap(), x["total"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        listed,
        BTreeMap::from([("#blue", 2), ("#green", 2), ("#lobby", 0), ("#red", 2)])
    );
}

#[test]
fn the_python_original_stays_in_the_default_room_beside_a_rooms_client() {
    let server = Server::start(&["--no-history"]);
    let (mut r, _) = member(server.addr, "roomy", &["#lobby", "#side"]);
    let mut py = python("legacy_client.py");
    py.args([
        "127.0.0.1",
        &server.port(),
        "snake",
        "--say",
        "from python",
        "--seconds",
        "4",
    ]);
    let mut p = Proc::spawn(py);
    let from_py = r.recv_chat("from python");
    assert!(
        from_py.get("room").is_none(),
        "default room: no field {from_py}"
    );
    say(&mut r, "#side", "side secret");
    r.send(json!({"type": "chat", "text": "for python"}));
    p.stdout.expect("for python");
    say(&mut r, "#lobby", "last for python");
    p.stdout.expect("last for python");
    for line in p.stdout.seen() {
        assert!(!line.contains("side secret"), "{line}");
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(kind) = v["type"].as_str() {
            assert!(
                ["hello", "auth_result", "chat", "system", "count"].contains(&kind),
                "a packet the original knows: {line}"
            );
            assert!(v.get("room").is_none(), "no room field: {line}");
        }
    }
}

#[test]
fn direct_messages_reach_members_whatever_rooms_they_share() {
    let server = Server::start(&["--no-history"]);
    let (mut a, _) = member(server.addr, "a", &["#x"]);
    let (mut b, _) = member(server.addr, "b", &["#y"]);
    a.send(json!({"type": "dm", "to": "b", "text": "across rooms"}));
    let dm = b.recv_type("dm");
    assert_eq!(
        (dm["from"].as_str(), dm["text"].as_str()),
        (Some("a"), Some("across rooms"))
    );
    // A room one is not in cannot be spoken to or read.
    say(&mut a, "#y", "intruding");
    let e = error(&mut a, "not_in_room");
    assert_eq!(e["room"], "#y");
    a.send(json!({"type": "fetch_history", "room": "#y"}));
    error(&mut a, "not_in_room");
    assert!(until_marker(&mut b, "#y")
        .iter()
        .all(|v| v["text"] != "intruding"));
}

#[test]
fn history_is_kept_per_room_across_a_restart() {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let db = home.path().join("rooms.sqlite3");
    let args = ["--history", db.to_str().unwrap()];
    {
        let mut server = Server::start_with(&args, &[], home.clone());
        let (mut a, _) = member(server.addr, "a", &["#a", "#b"]);
        say(&mut a, "#a", "said in a");
        say(&mut a, "#b", "said in b");
        a.send(json!({"type": "chat", "text": "said in lobby"}));
        // Not in the lobby: refused, and nothing stored.
        error(&mut a, "not_in_room");
        until_marker(&mut a, "#a");
        until_marker(&mut a, "#b");
        server.proc.signal(libc::SIGTERM);
        assert_eq!(server.proc.wait(), 0);
    }
    let server = Server::start_with(&args, &[], home.clone());
    let mut p = Peer::connect(server.addr);
    p.recv();
    p.send(json!({"type": "auth", "name": "late", "proto": 3, "rooms": ["#b", "#a"]}));
    let mut replay: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut ends = 0;
    while ends < 2 {
        let v = p.recv();
        match v["type"].as_str() {
            Some("history") => replay
                .entry(v["room"].as_str().unwrap().into())
                .or_default()
                .push(v["text"].as_str().unwrap().into()),
            Some("history_end") => ends += 1,
            _ => {}
        }
    }
    assert_eq!(replay["#a"][0], "said in a");
    assert_eq!(replay["#b"][0], "said in b");
    assert!(replay.values().flatten().all(|t| !t.contains("lobby")));
    // Fetched later, per room.
    p.send(json!({"type": "fetch_history", "room": "#b"}));
    let h = p.recv_type("history");
    assert_eq!(
        (h["room"].as_str(), h["text"].as_str()),
        (Some("#b"), Some("said in b"))
    );
    let end = p.recv_type("history_end");
    assert_eq!(end["room"], "#b");
}

#[test]
fn bad_room_input_gets_an_error_with_a_code_and_the_session_goes_on() {
    let server = Server::start_with(
        &["--no-history"],
        &[
            ("TCPPLAY_LIMITS__MAX_ROOMS", "4"),
            ("TCPPLAY_LIMITS__MAX_ROOMS_PER_MEMBER", "3"),
            ("TCPPLAY_LIMITS__MAX_TEXT_CHARS", "50"),
        ],
        Arc::new(tempfile::TempDir::new().unwrap()),
    );
    let (mut a, _) = member(server.addr, "a", &[]);
    for bad in [
        "#bell\u{7}",
        "#rtl\u{202e}lta",
        "#p\u{430}ypal",
        "#two words",
        &format!("#{}", "x".repeat(40)),
        "#",
    ] {
        a.send(json!({"type": "join", "room": bad}));
        let e = error(&mut a, "room_invalid");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("is not a room name"),
            "{e}"
        );
    }
    a.send(json!({"type": "join", "room": "#one"}));
    a.recv_type("joined");
    a.send(json!({"type": "join", "room": "ONE"}));
    assert!(error(&mut a, "bad_packet")["message"]
        .as_str()
        .unwrap()
        .contains("in #one already"));
    a.send(json!({"type": "join", "room": "#two"}));
    a.recv_type("joined");
    // The lobby, #one, #two: the member's limit.
    a.send(json!({"type": "join", "room": "#three"}));
    assert!(error(&mut a, "too_many_rooms")["message"]
        .as_str()
        .unwrap()
        .contains("limits.max_rooms_per_member"));
    let (mut b, _) = member(server.addr, "b", &[]);
    b.send(json!({"type": "join", "room": "#three"}));
    b.recv_type("joined");
    // The lobby, #one, #two, #three: the server's limit.
    b.send(json!({"type": "join", "room": "#four"}));
    assert!(error(&mut b, "too_many_rooms")["message"]
        .as_str()
        .unwrap()
        .contains("limits.max_rooms"));
    a.send(json!({"type": "topic", "room": "#one", "text": "t".repeat(51)}));
    error(&mut a, "too_long");
    a.send(json!({"type": "topic", "room": "#one", "text": "bad\u{1b}[2J"}));
    error(&mut a, "bad_packet");
    a.send(json!({"type": "topic", "room": "#three", "text": "not mine"}));
    error(&mut a, "not_in_room");
    a.send(json!({"type": "part", "room": "#three"}));
    error(&mut a, "not_in_room");
    a.send(json!({"type": "users", "room": "#nowhere"}));
    error(&mut a, "no_such_room");
    say(&mut a, "#nowhere", "lost");
    error(&mut a, "not_in_room");
    a.send(json!({"type": "rooms"}));
    let rooms = a.recv_type("rooms");
    assert_eq!(
        rooms["total"], 4,
        "no room was made past the limit: {rooms}"
    );
    until_marker(&mut a, "#one");
    // A storm of join/part is counted against the chat rate: refused, and
    // the session goes on (a ping is not rate-limited).
    for i in 0..40 {
        let kind = if i % 2 == 0 { "part" } else { "join" };
        b.send(json!({"type": kind, "room": "#three"}));
    }
    error(&mut b, "rate_limited");
    b.send(json!({"type": "ping", "token": 7}));
    assert_eq!(b.recv_type("pong")["token"], 7);
}

#[test]
fn a_topic_and_a_part_are_told_to_the_room_and_empty_rooms_go() {
    let server = Server::start(&["--no-history"]);
    let (mut a, _) = member(server.addr, "a", &["#talk"]);
    let (mut b, joined) = member(server.addr, "b", &["#talk"]);
    assert_eq!(joined["#talk"]["total"], 2);
    a.send(json!({"type": "topic", "room": "#talk", "text": "Rust questions"}));
    let t = b.recv_system("a set the topic of #talk: Rust questions");
    assert_eq!(
        (t["event"].as_str(), t["room"].as_str()),
        (Some("topic"), Some("#talk"))
    );
    b.send(json!({"type": "part", "room": "#talk", "reason": "lunch"}));
    let parted = b.recv_type("parted");
    assert_eq!(
        (parted["room"].as_str(), parted["reason"].as_str()),
        (Some("#talk"), Some("lunch"))
    );
    a.recv_system("b left #talk (lunch)");
    // b is in no room now, but still connected: it may join again.
    b.send(json!({"type": "join", "room": "talk"}));
    let j = b.recv_type("joined");
    assert_eq!(
        (j["room"].as_str(), j["topic"].as_str()),
        (Some("#talk"), Some("Rust questions"))
    );
    b.send(json!({"type": "part", "room": "#talk"}));
    b.recv_type("parted");
    a.send(json!({"type": "part", "room": "#talk"}));
    a.recv_type("parted");
    a.send(json!({"type": "rooms"}));
    let r = a.recv_type("rooms");
    assert_eq!(r["total"], 1, "the empty room went: {r}");
}

#[test]
fn declared_rooms_stay_with_their_topic_and_a_reload_adds_one() {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let config = home.path().join("tcpplay.toml");
    let declared =
        "[[rooms]]\nname = \"#help\"\ntopic = \"Ask here\"\nmotd = \"Say what you tried.\"\n";
    std::fs::write(&config, declared).unwrap();
    let mut server = Server::start_with(
        &["--no-history", "--config", config.to_str().unwrap()],
        &[],
        home.clone(),
    );
    let (mut a, joined) = member(server.addr, "a", &["#help"]);
    assert_eq!(joined["#help"]["topic"], "Ask here");
    assert_eq!(joined["#help"]["persistent"], true);
    let motd = a.recv_type("system");
    assert_eq!(
        (motd["event"].as_str(), motd["text"].as_str()),
        (Some("motd"), Some("Say what you tried."))
    );
    a.send(json!({"type": "part", "room": "#help"}));
    a.recv_type("parted");
    std::fs::write(
        &config,
        format!("{declared}[[rooms]]\nname = \"News\"\ntopic = \"Announcements\"\n"),
    )
    .unwrap();
    server.proc.signal(libc::SIGHUP);
    server.proc.stderr.expect("reloaded: room #news opened");
    a.send(json!({"type": "rooms"}));
    let r = a.recv_type("rooms");
    let names: Vec<&str> = r["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["room"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["#help", "#lobby", "#news"],
        "empty #help stays: {r}"
    );
    // A bad declaration is refused at start, naming it.
    std::fs::write(&config, "[[rooms]]\nname = \"#bad name\"\n").unwrap();
    let bad = run(
        home.path(),
        &["serve", "--config", config.to_str().unwrap(), "--port", "0"],
    )
    .go();
    bad.code(2)
        .stderr_has("rooms.0.name \"#bad name\"")
        .for_people();
}

#[test]
fn the_operator_speaks_in_a_room_lists_rooms_and_takes_someone_out_of_one() {
    let mut server = Server::start(&["--no-history"]);
    let (mut a, _) = member(server.addr, "ann", &["#lobby", "#ops"]);
    let (mut b, _) = member(server.addr, "bob", &["#lobby", "#ops"]);
    server.proc.send_line("/say #ops maintenance at noon");
    let c = b.recv_chat("maintenance at noon");
    assert_eq!(
        (c["from"].as_str(), c["room"].as_str()),
        (Some("server"), Some("#ops"))
    );
    server.proc.send_line("/rooms");
    server.proc.stdout.expect("#ops [2]");
    server.proc.send_line("/kick #ops bob spamming");
    let p = b.recv_type("parted");
    assert_eq!(p["room"], "#ops");
    assert!(p["reason"].as_str().unwrap().contains("spamming"), "{p}");
    a.recv_system("bob was removed by the operator: spamming");
    // Still on the server, in the lobby; no longer reading #ops.
    say(&mut a, "#ops", "after the kick");
    let seen = until_marker(&mut b, "#lobby");
    assert!(
        seen.iter().all(|v| v["text"] != "after the kick"),
        "{seen:?}"
    );
    say(&mut b, "#ops", "back?");
    error(&mut b, "not_in_room");
    server.proc.send_line("/topic #ops Planned work");
    a.recv_system("the operator set the topic of #ops: Planned work");
}

#[test]
fn piped_join_sends_to_its_first_room_and_check_lists_the_rooms() {
    let server = Server::start(&["--no-history"]);
    let (mut watcher, _) = member(server.addr, "watcher", &["#dev"]);
    let mut j = server.join(&[
        "--name", "piper", "--room", "#dev", "--room", "#ops", "--no-tls",
    ]);
    j.send_line("to dev");
    let c = watcher.recv_chat("to dev");
    assert_eq!(
        (c["from"].as_str(), c["room"].as_str()),
        (Some("piper"), Some("#dev"))
    );
    // In two rooms: what the client prints is labelled by room.
    j.stdout.expect("[#dev] piper: to dev");
    j.send_line("/switch #ops");
    j.send_line("/me is in ops now");
    j.stdout.expect("[#ops] * piper is in ops now");
    j.close_stdin();
    assert_eq!(j.wait(), 0);
    let doc = check_json(&["--name", "checker", &server.addr.to_string()], &[]);
    let rooms: BTreeMap<&str, u64> = doc["rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .map(|r| (r["room"].as_str().unwrap(), r["total"].as_u64().unwrap()))
        .collect();
    assert_eq!(rooms.get("#dev"), Some(&1), "{doc}");
    assert!(rooms.contains_key("#lobby"), "{doc}");
}

/// A hostile server: room names and labels with escape sequences, a
/// flood of rooms. `join` must print them escaped and stay bounded.
#[test]
fn a_hostile_servers_room_names_reach_the_terminal_escaped() {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut say = |v: Value| send_line(&mut w, &v);
        say(json!({"type": "hello", "secure": false, "proto": 3, "default_room": "#lobby"}));
        let mut auth = String::new();
        r.read_line(&mut auth).unwrap();
        say(json!({"type": "auth_result", "ok": true, "client_name": "victim"}));
        let evil = "#x\u{1b}[2J\u{1b}]0;pwned\u{7}";
        say(json!({"type": "joined", "room": evil, "total": 1, "topic": "\u{1b}[31mred"}));
        say(json!({"type": "joined", "room": "#lobby", "total": 1}));
        let many: Vec<Value> = (0..5000)
            .map(|i| json!({"room": format!("#r{i}"), "total": 1}))
            .collect();
        say(json!({"type": "rooms", "rooms": many, "total": 5000}));
        say(json!({"type": "chat", "room": evil, "from": "m", "text": "in the evil room"}));
        say(json!({"type": "bye", "reason": "done"}));
        // Read what the client still sends until it closes.
        let mut rest = String::new();
        while r.read_line(&mut rest).map(|n| n > 0).unwrap_or(false) {}
    });
    let home = tempfile::TempDir::new().unwrap();
    let out = crate::util::tcpplay(home.path())
        .args([
            "join",
            "--no-tls",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(["--name", "victim"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    server.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "raw escapes: {text:?}"
    );
    assert!(text.contains("in the evil room"), "{text}");
    assert!(text.contains("\\u{1b}"), "shown escaped: {text}");
}

/// A server (scripted here) that says `joined` late, as a busy one may:
/// a line piped in at once must still go to the room asked for, not to
/// the default room because the client did not know its room yet. The
/// client waits for the answer to its first `users`, which a server gives
/// after its welcome.
#[test]
fn a_piped_line_waits_for_the_rooms_welcome_and_goes_to_the_room_asked_for() {
    let (got, status) = piped_line_to_a_late_server(true);
    assert_the_line_went_to_dev_once(&got, status);
}

/// The same server, but it never answers `users`: the line still goes
/// (after the client's wait for the welcome, 5 s at most), not never.
#[test]
fn a_piped_line_is_not_held_forever_by_a_server_that_never_ends_its_welcome() {
    let (got, status) = piped_line_to_a_late_server(false);
    assert_the_line_went_to_dev_once(&got, status);
}

/// The scripted server got the piped line once, in `#dev` (the room asked
/// for), and the client ended well.
fn assert_the_line_went_to_dev_once(got: &[Value], status: std::process::ExitStatus) {
    let chats: Vec<&Value> = got.iter().filter(|v| v["type"] == "chat").collect();
    assert_eq!(chats.len(), 1, "{got:?}");
    assert_eq!(chats[0]["text"], "first line");
    assert_eq!(chats[0]["room"], "#dev", "to the room asked for: {got:?}");
    assert!(status.success(), "{status}");
}

/// Run `join --room #dev` with one piped line against a scripted server
/// that says `joined` 700 ms late and answers `users` or not; what the
/// server received, and how the client ended.
fn piped_line_to_a_late_server(answer_users: bool) -> (Vec<Value>, std::process::ExitStatus) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || -> Vec<Value> {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut say = |v: Value| send_line(&mut w, &v);
        let read = |r: &mut BufReader<std::net::TcpStream>| -> Option<Value> {
            let mut l = String::new();
            match r.read_line(&mut l) {
                Ok(n) if n > 0 => Some(serde_json::from_str(&l).unwrap()),
                _ => None,
            }
        };
        say(json!({"type": "hello", "secure": false, "proto": 3, "default_room": "#lobby"}));
        let auth = read(&mut r).unwrap();
        assert_eq!(auth["rooms"], json!(["#dev"]), "{auth}");
        say(json!({"type": "auth_result", "ok": true, "client_name": "piper"}));
        // What the client sends before it has heard of its room.
        let mut got = Vec::new();
        let early = std::time::Instant::now() + std::time::Duration::from_millis(700);
        r.get_ref()
            .set_read_timeout(Some(std::time::Duration::from_millis(100)))
            .unwrap();
        while std::time::Instant::now() < early {
            if let Some(v) = read(&mut r) {
                got.push(v);
            }
        }
        r.get_ref()
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        say(json!({"type": "joined", "room": "#dev", "total": 1}));
        // The welcome is over: answer `users` (asked for early, read above
        // or now), then take lines until the client says bye.
        let mut answered = false;
        loop {
            if answer_users && !answered && got.iter().any(|v| v["type"] == "users") {
                say(json!({"type": "users", "users": [{"name": "piper", "since": 1}], "total": 1}));
                answered = true;
            }
            let Some(v) = read(&mut r) else { break };
            let bye = v["type"] == "bye";
            if v["type"] == "chat" {
                say(json!({"type": "chat", "from": "piper", "room": v["room"], "text": v["text"]}));
            }
            got.push(v);
            if bye {
                break;
            }
        }
        got
    });
    let home = tempfile::TempDir::new().unwrap();
    let mut child = crate::util::tcpplay(home.path())
        .args(["join", "--no-tls", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--name", "piper", "--room", "#dev"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"first line\n")
        .unwrap();
    let got = server.join().unwrap();
    (got, child.wait().unwrap())
}

#[test]
fn a_reload_that_closes_a_room_tells_its_members_why_before_they_are_parted() {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let config = home.path().join("tcpplay.toml");
    std::fs::write(&config, "[[rooms]]\nname = \"#gone\"\n").unwrap();
    let mut server = Server::start_with(
        &["--no-history", "--config", config.to_str().unwrap()],
        &[],
        home.clone(),
    );
    let (mut a, _) = member(server.addr, "a", &["#gone"]);
    std::fs::write(&config, "").unwrap();
    server.proc.signal(libc::SIGHUP);
    server
        .proc
        .stderr
        .expect("room #gone closed (no longer declared)");
    // The notice the docs promise, in the room, then the part.
    let mut told = false;
    loop {
        let v = a.recv();
        if v["type"] == "system" && v["event"] == "closed" {
            assert_eq!(v["room"], "#gone", "{v}");
            told = true;
        }
        if v["type"] == "parted" {
            assert_eq!(v["room"], "#gone", "{v}");
            break;
        }
    }
    assert!(told, "parted without the closed notice");
}
