//! Cluster mode against a real `redis-server` (started here on a free
//! loopback port, nothing saved) and real `tcpplay serve` nodes: lines across
//! nodes in order and exactly once, names, direct messages and kicks across
//! nodes, history after every node restarted, a node killed, Redis
//! restarted mid-chat, and two clusters on one Redis.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::util::{free_port, member, Peer, Server};

/// A `redis-server` on 127.0.0.1 (port `port`), killed on drop.
pub(crate) struct Redis {
    child: Child,
    port: u16,
    _dir: TempDir,
    /// Its log, read to the end (a full pipe would stall it).
    _log: crate::util::Lines,
}

impl Redis {
    pub(crate) fn start() -> Redis {
        Redis::on(free_port())
    }

    fn on(port: u16) -> Redis {
        Redis::with(port, &[])
    }

    fn with(port: u16, extra: &[&str]) -> Redis {
        let dir = TempDir::new().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(extra)
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server (install it: apt-get install redis-server)");
        let mut child = child;
        // Ready when it says so.
        let out = child.stdout.take().unwrap();
        let mut log = crate::util::Lines::spawn(out, "redis-server");
        log.expect("Ready to accept connections");
        Redis {
            child,
            port,
            _dir: dir,
            _log: log,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A node of the cluster on `redis`, called `node`, with `extra` arguments.
pub(crate) fn node(redis: &Redis, node: &str, extra: &[&str]) -> Server {
    node_at(&redis.url(), node, extra)
}

/// A node of the cluster on the Redis at `url`.
pub(crate) fn node_at(url: &str, node: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--cluster", url, "--node", node];
    args.extend_from_slice(extra);
    Server::start_with(
        &args,
        &[
            ("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "0"),
            ("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "0"),
        ],
        Arc::new(TempDir::new().unwrap()),
    )
}

/// Chat lines until one with `text`; the texts before it.
fn chats_until(p: &mut Peer, text: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let v = p.recv();
        if v["type"] == "chat" {
            if v["text"] == text {
                return seen;
            }
            seen.push(v);
        }
    }
}

#[test]
fn lines_cross_nodes_exactly_once_in_each_senders_order_with_the_same_ids() {
    let redis = Redis::start();
    let (n1, n2) = (node(&redis, "n1", &[]), node(&redis, "n2", &[]));
    let (r1, _) = member(n1.addr, "reader1", &["#team"]);
    let (r2, _) = member(n2.addr, "reader2", &["#team"]);
    let senders: Vec<(Peer, String)> = (0..4)
        .map(|i| {
            let (p, w) = member(
                if i % 2 == 0 { n1.addr } else { n2.addr },
                &format!("s{i}"),
                &["#team"],
            );
            (p, w.name)
        })
        .collect();
    const LINES: usize = 750;
    // Every member reads while the lines flow, a thread each: one nobody
    // reads falls behind the room and is (rightly) dropped as too slow —
    // reading the readers one after the other did that once under load.
    let done_count = |v: &Value| {
        v["type"] == "chat" && v["text"].as_str().is_some_and(|t| t.starts_with("done "))
    };
    let readers: Vec<_> = [r1, r2]
        .into_iter()
        .map(|mut r| {
            std::thread::spawn(move || {
                let mut per: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                let mut seen_ids = Vec::new();
                let mut done = 0;
                while done < 4 {
                    let v = r.recv();
                    if v["type"] != "chat" {
                        continue;
                    }
                    assert_eq!(v["room"], "#team");
                    seen_ids.push(v["id"].as_u64().unwrap());
                    if done_count(&v) {
                        done += 1;
                        continue;
                    }
                    let (who, n) = v["text"].as_str().unwrap().split_once(' ').unwrap();
                    per.entry(who.into()).or_default().push(n.parse().unwrap());
                }
                (per, seen_ids)
            })
        })
        .collect();
    let talkers: Vec<_> = senders
        .into_iter()
        .map(|(mut p, name)| {
            std::thread::spawn(move || {
                for n in 0..LINES {
                    p.send(json!({"type": "chat", "room": "#team", "text": format!("{name} {n}")}));
                }
                p.send(json!({"type": "chat", "room": "#team", "text": format!("done {}", p.local_port)}));
                let mut done = 0;
                while done < 4 {
                    if done_count(&p.recv()) {
                        done += 1;
                    }
                }
            })
        })
        .collect();
    for t in talkers {
        t.join().expect("a sender");
    }
    let mut ids = Vec::new();
    for r in readers {
        let (per, seen_ids) = r.join().expect("a reader");
        assert_eq!(per.len(), 4);
        for (who, got) in &per {
            assert_eq!(
                *got,
                (0..LINES).collect::<Vec<_>>(),
                "{who}: every line once, in order"
            );
        }
        assert!(seen_ids.windows(2).all(|w| w[0] < w[1]), "ids rise");
        ids.push(seen_ids);
    }
    assert_eq!(
        ids[0], ids[1],
        "both nodes saw the same lines, same ids, same order"
    );
}

#[test]
fn names_direct_messages_kicks_and_presence_cross_nodes() {
    let redis = Redis::start();
    let (mut n1, n2) = (node(&redis, "n1", &[]), node(&redis, "n2", &[]));
    let (mut a, a_name) = member(n1.addr, "ann", &[]);
    let (mut b, b_name) = member(n2.addr, "ANN", &[]);
    assert_eq!(
        (a_name.name.as_str(), b_name.name.as_str()),
        ("ann", "ANN-2"),
        "one name per cluster"
    );
    a.recv_system("ANN-2 joined");
    // n2 learns of ann from the room's stream: once b has a line ann said
    // after joining, n2 has read her join (a notice seen on n1 says nothing
    // of how far n2 has read; found by a run under load).
    a.send(json!({"type": "chat", "text": "after my join"}));
    b.recv_chat("after my join");
    b.send(json!({"type": "users"}));
    let u = b.recv_type("users");
    assert_eq!(u["total"], 2);
    let names: BTreeSet<&str> = u["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["ann", "ANN-2"]));
    // A direct message to a member of the other node, and its echo.
    b.send(json!({"type": "dm", "to": "ann", "text": "across nodes"}));
    let dm = a.recv_type("dm");
    assert_eq!(
        (dm["from"].as_str(), dm["text"].as_str()),
        (Some("ANN-2"), Some("across nodes"))
    );
    assert_eq!(b.recv_type("dm")["to"], "ann");
    b.send(json!({"type": "dm", "to": "nobody", "text": "x"}));
    assert_eq!(b.recv_type("error")["code"], "no_such_user");
    // A rename is claimed across the cluster.
    b.send(json!({"type": "nick", "name": "Ann"}));
    assert_eq!(b.recv_type("error")["code"], "name_taken");
    b.send(json!({"type": "nick", "name": "bea"}));
    a.recv_system("ANN-2 is now bea");
    // A topic set on one node is the room's on the other.
    b.send(json!({"type": "topic", "room": "#lobby", "text": "cross-node"}));
    a.recv_system("bea set the topic of #lobby: cross-node");
    // The operator of n1 removes a member of n2.
    n1.proc.send_line("/kick bea spamming");
    let bye = b.recv_type("bye");
    assert_eq!(bye["code"], "kicked");
    a.recv_system("bea was removed by the operator: spamming");
}

#[test]
fn history_lives_in_redis_and_survives_every_node_restarting() {
    let redis = Redis::start();
    {
        let n1 = node(&redis, "n1", &[]);
        let (mut a, _) = member(n1.addr, "a", &["#log"]);
        for i in 0..5 {
            a.send(json!({"type": "chat", "room": "#log", "text": format!("kept {i}")}));
        }
        chats_until(&mut a, "kept 4");
    }
    // Every node gone; a new one serves the room's past from the stream.
    let n2 = node(&redis, "n2", &[]);
    let mut p = Peer::connect(n2.addr);
    p.recv();
    p.send(json!({"type": "auth", "name": "late", "proto": 3, "rooms": ["#log"]}));
    let mut texts = Vec::new();
    loop {
        let v = p.recv();
        match v["type"].as_str() {
            Some("history") => {
                assert_eq!(v["room"], "#log");
                texts.push(v["text"].as_str().unwrap().to_string());
            }
            Some("history_end") => break,
            _ => {}
        }
    }
    assert_eq!(
        texts,
        (0..5).map(|i| format!("kept {i}")).collect::<Vec<_>>()
    );
    p.send(json!({"type": "fetch_history", "room": "#log", "limit": 2}));
    let h = p.recv_type("history");
    assert_eq!(h["text"], "kept 3");
}

#[test]
fn a_killed_nodes_members_leave_the_others_rooms_and_its_names_come_free() {
    let redis = Redis::start();
    let n1 = node(&redis, "n1", &[]);
    let n2 = node(&redis, "n2", &[]);
    let (mut a, _) = member(n1.addr, "stays", &[]);
    // In a room nobody else has, too: whoever opens it later must not find
    // a ghost of the dead run there.
    let (_b, _) = member(n2.addr, "doomed", &["#lobby", "#solo"]);
    a.recv_system("doomed joined");
    n2.proc.signal(libc::SIGKILL);
    // Within the heartbeat's expiry (5 s) and a check (1 s).
    a.recv_system("doomed disconnected.");
    let c = a.recv_type("count");
    assert_eq!(c["total"], 1);
    // Restarted under the same node name (it waits out the old run's
    // heartbeat): a new run, no ghost of the old one's members.
    let n2 = node(&redis, "n2", &[]);
    let (_back, name) = member(n2.addr, "doomed", &[]);
    assert_eq!(name.name, "doomed", "the dead run's name is free");
    a.recv_system("doomed joined");
    a.send(json!({"type": "users"}));
    let u = a.recv_type("users");
    assert_eq!(u["total"], 2, "{u}");
    let mut p = Peer::connect(n1.addr);
    p.recv();
    p.send(json!({"type": "auth", "name": "opener", "proto": 3, "rooms": ["#solo"]}));
    let j = p.recv_type("joined");
    assert_eq!(j["total"], 1, "no ghost of the dead run: {j}");
    // And a name of a run that died is free on a surviving node too.
    drop(n2);
    a.recv_system("doomed disconnected.");
    let (_again, name) = member(n1.addr, "doomed", &[]);
    assert_eq!(name.name, "doomed");
}

#[test]
fn redis_restarted_empty_mid_chat_lines_wait_and_arrive_once_and_nobody_is_declared_gone() {
    let mut redis = Redis::start();
    let port = redis.port;
    let n1 = node(&redis, "n1", &[]);
    let n2 = node(&redis, "n2", &[]);
    let (mut a, _) = member(n1.addr, "a", &[]);
    let (mut a2, _) = member(n1.addr, "a2", &[]);
    let (mut b, _) = member(n2.addr, "b", &[]);
    a.send(json!({"type": "chat", "text": "before"}));
    chats_until(&mut b, "before");
    let before = chats_until(&mut a2, "before");
    let last_id = before
        .last()
        .map(|v| v["id"].as_u64().unwrap())
        .unwrap_or(0);
    redis.stop();
    // The line waits on n1 (shown nowhere yet, not even to its sender's
    // neighbours); the room is told why.
    a.send(json!({"type": "chat", "text": "during"}));
    loop {
        let v = a2.recv();
        assert!(
            v["type"] != "chat",
            "a line was shown before it was stored: {v}"
        );
        if v["type"] == "system"
            && v["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("the link to the other servers is down"))
        {
            break;
        }
    }
    // Redis back, empty: the nodes reconnect by themselves, and the line
    // that waited reaches every member, once, with an id above every id
    // seen before.
    let _redis = Redis::on(port);
    b.send(json!({"type": "chat", "text": "after from n2"}));
    a.send(json!({"type": "chat", "text": "after from n1"}));
    for p in [&mut a2, &mut b] {
        let mut seen = Vec::new();
        loop {
            let v = p.recv();
            if v["type"] == "chat" {
                seen.push(v.clone());
            }
            if v["type"] == "chat" && v["text"] == "after from n1" {
                break;
            }
        }
        let during: Vec<&Value> = seen.iter().filter(|v| v["text"] == "during").collect();
        assert_eq!(during.len(), 1, "the line that waited, once: {seen:?}");
        let ids: Vec<u64> = seen.iter().map(|v| v["id"].as_u64().unwrap()).collect();
        assert!(
            ids.iter().all(|id| *id > last_id),
            "ids only rise: {last_id} then {ids:?}"
        );
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids only rise: {ids:?}"
        );
    }
    // Redis lost every heartbeat: nobody is declared gone for it (a grace
    // after the link returns), and the cluster's view converges.
    // The fault's window: past the heartbeat's expiry and the grace.
    std::thread::sleep(std::time::Duration::from_secs(9));
    assert_eq!(
        a.until_idle_count_of("b disconnected."),
        0,
        "a live member declared gone"
    );
    a.send(json!({"type": "users"}));
    let users = a.recv_type("users");
    let names: BTreeSet<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["a", "a2", "b"]), "{users}");
}

#[test]
fn two_clusters_with_other_prefixes_share_a_redis_unseen() {
    let redis = Redis::start();
    let red = node(&redis, "x", &[]);
    let home = Arc::new(TempDir::new().unwrap());
    let url = redis.url();
    let blue = Server::start_with(
        &["--cluster", &url, "--node", "x"],
        &[("TCPPLAY_CLUSTER__PREFIX", "blue")],
        home,
    );
    let (mut r, r_name) = member(red.addr, "same", &[]);
    let (mut bl, b_name) = member(blue.addr, "same", &[]);
    assert_eq!(
        (r_name.name.as_str(), b_name.name.as_str()),
        ("same", "same")
    );
    r.send(json!({"type": "chat", "text": "red only"}));
    chats_until(&mut r, "red only");
    bl.send(json!({"type": "chat", "text": "blue only"}));
    let seen = chats_until(&mut bl, "blue only");
    assert!(seen.iter().all(|v| v["text"] != "red only"), "{seen:?}");
}

#[test]
fn a_reconnecting_client_moves_to_a_surviving_node() {
    let redis = Redis::start();
    let n1 = node(&redis, "n1", &[]);
    let n2 = node(&redis, "n2", &[]);
    let (mut watcher, _) = member(n2.addr, "watcher", &[]);
    let also = n2.addr.to_string();
    let mut j = n1.join(&[
        "--name",
        "mover",
        "--no-tls",
        "--reconnect",
        "--also",
        &also,
    ]);
    j.stderr.expect("Authenticated as mover");
    watcher.recv_system("mover joined");
    n1.proc.signal(libc::SIGKILL);
    j.stderr.expect(&format!("reconnected to {also}"));
    j.send_line("here again");
    let c = watcher.recv_chat("here again");
    assert!(c["from"].as_str().unwrap().starts_with("mover"), "{c}");
    // Under its own name again once the lost node's claim on it ends.
    if c["from"] != "mover" {
        loop {
            let r = watcher.recv_type("system");
            if r["event"] == "rename" {
                assert_eq!(r["new_name"], "mover", "{r}");
                break;
            }
        }
    }
    j.send_line("as myself");
    assert_eq!(watcher.recv_chat("as myself")["from"], "mover");
    j.close_stdin();
    assert_eq!(j.wait(), 0);
}

#[test]
fn check_shows_the_clusters_nodes_and_their_members() {
    let redis = Redis::start();
    let (n1, n2) = (node(&redis, "n1", &[]), node(&redis, "n2", &[]));
    let (_a, _) = member(n1.addr, "a", &[]);
    let (_b, _) = member(n2.addr, "b", &[]);
    let (_c, _) = member(n2.addr, "c", &[]);
    let doc = crate::util::check_json(&["--cluster", &redis.url()], &[]);
    let nodes: BTreeMap<&str, u64> = doc["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .map(|n| (n["node"].as_str().unwrap(), n["members"].as_u64().unwrap()))
        .collect();
    assert_eq!(nodes, BTreeMap::from([("n1", 1), ("n2", 2)]), "{doc}");
    // A Redis nobody answers on: a connect failure, exit 4.
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let home = TempDir::new().unwrap();
    let out = crate::util::tcpplay(home.path())
        .args(["check", "--cluster", &dead])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("cannot reach the cluster's Redis"), "{said}");
}

#[test]
fn a_secure_room_spans_nodes_and_redis_holds_only_ciphertext() {
    const PASSWORD: &str = "correct horse battery staple";
    let redis = Redis::start();
    let cert = crate::util::make_cert();
    let home = Arc::new(TempDir::new().unwrap());
    let pw = home.path().join("room-password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let url = redis.url();
    let (c, k) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    let tls = ["--secure", "--cert", c, "--key", k, "--cluster", &url];
    // The first node registers the room from the password; the second has
    // none and serves the record the cluster keeps.
    let mut a1: Vec<&str> = tls.to_vec();
    a1.extend(["--node", "n1", "--password-file", pw.to_str().unwrap()]);
    let n1 = Server::start_with(&a1, &[], home.clone());
    let mut a2: Vec<&str> = tls.to_vec();
    a2.extend(["--node", "n2"]);
    let n2 = Server::start_with(&a2, &[], Arc::new(TempDir::new().unwrap()));
    let join = |server: &Server, name: &str| {
        let mut cmd = crate::util::tcpplay(server.home.path());
        cmd.args(["join", "--host", "localhost", "--port", &server.port()])
            .args(["--cert", c, "--name", name])
            .env("TCPPLAY_PASSWORD", PASSWORD);
        crate::util::Proc::spawn(cmd)
    };
    let mut ann = join(&n1, "ann");
    ann.stderr.expect("secure room: each side proved itself");
    let mut bob = join(&n2, "bob");
    bob.stderr.expect("secure room: each side proved itself");
    ann.stdout.expect("bob joined");
    bob.send_line("sealed across nodes");
    ann.stdout.expect("bob: sealed across nodes");
    let stream = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "XRANGE",
            "tcpplay:room:#lobby:log",
            "-",
            "+",
        ])
        .output()
        .expect("redis-cli");
    let stream = String::from_utf8_lossy(&stream.stdout);
    assert!(stream.contains("bob"), "the stream was read: {stream}");
    assert!(
        !stream.contains("sealed across nodes"),
        "plaintext in Redis: {stream}"
    );
}

#[test]
fn a_redis_password_from_the_environment_works_and_is_never_shown() {
    let redis = Redis::with(free_port(), &["--requirepass", "s3cret-pw"]);
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}", redis.port);
    let mut n1 = Server::start_with(
        &["--node", "n1", "-v"],
        &[("TCPPLAY_CLUSTER__URL", &url)],
        Arc::new(TempDir::new().unwrap()),
    );
    let (_a, _) = member(n1.addr, "a", &[]);
    let joined = n1.proc.stderr.expect("cluster: joined through");
    assert!(
        joined.contains("***@127.0.0.1") && !joined.contains("s3cret"),
        "{joined}"
    );
    let doc = crate::util::check_json(&[], &[("TCPPLAY_CLUSTER__URL", &url)]);
    assert!(!doc.to_string().contains("s3cret"), "{doc}");
    assert_eq!(doc["nodes"][0]["node"], "n1", "{doc}");
    // Without the password: refused, and said so.
    let bare = format!("redis://127.0.0.1:{}", redis.port);
    let home = TempDir::new().unwrap();
    let out = crate::util::tcpplay(home.path())
        .args([
            "serve",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--cluster",
            &bare,
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cluster") && err.contains("NOAUTH") || err.contains("uthentication"),
        "{err}"
    );
}

/// `redis-cli` against `redis`, as a hostile writer with access to it would
/// use it; its output.
fn redis_cli(redis: &Redis, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_hostile_redis_writer_cannot_speak_in_a_secure_room_as_a_member() {
    const PASSWORD: &str = "correct horse battery staple";
    let redis = Redis::start();
    let cert = crate::util::make_cert();
    let home = Arc::new(TempDir::new().unwrap());
    let pw = home.path().join("room-password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let url = redis.url();
    let (c, k) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    let args = [
        "--secure",
        "--cert",
        c,
        "--key",
        k,
        "--cluster",
        &url,
        "--node",
        "n1",
        "--password-file",
        pw.to_str().unwrap(),
    ];
    let mut n1 = Server::start_with(&args, &[], home.clone());
    let join = |name: &str| {
        let mut cmd = crate::util::tcpplay(n1.home.path());
        cmd.args(["join", "--host", "localhost", "--port", &n1.port()])
            .args(["--cert", c, "--name", name])
            .env("TCPPLAY_PASSWORD", PASSWORD);
        crate::util::Proc::spawn(cmd)
    };
    let mut ann = join("ann");
    ann.stderr.expect("secure room: each side proved itself");
    let mut bob = join("bob");
    bob.stderr.expect("secure room: each side proved itself");
    ann.stdout.expect("bob joined");
    let log = "tcpplay:room:#lobby:log";
    let now = tcpplay::protocol::now_ms().to_string();
    // Plaintext under bob's name; a payload that is not the room's; a
    // future format; a kind nobody knows; a name that looks like a notice.
    let forged: [&[&str]; 5] = [
        &[
            "k",
            "chat",
            "f",
            "bob",
            "t",
            "FORGED: wire the money to account 666",
            "n",
            "n9/1",
        ],
        &[
            "k",
            "chat",
            "f",
            "bob",
            "y",
            "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB",
            "s",
            &now,
            "n",
            "n9/1",
        ],
        &[
            "v",
            "9",
            "k",
            "chat",
            "f",
            "bob",
            "t",
            "FORGED v9",
            "n",
            "n9/1",
        ],
        &["k", "announce", "m", "bob", "x", "FORGED kind", "n", "n9/1"],
        &["k", "join", "m", "*** server", "n", "n9/1"],
    ];
    for f in forged {
        let mut a = vec!["XADD", log, "*"];
        a.extend_from_slice(f);
        redis_cli(&redis, &a);
    }
    bob.send_line("the genuine line");
    ann.stdout.expect("bob: the genuine line");
    let seen = ann.stdout.seen().join("\n");
    assert!(!seen.contains("FORGED"), "{seen}");
    assert!(!seen.contains("*** server joined"), "{seen}");
    // The one that looked sealed reached the client, which refused it.
    assert!(seen.contains("does not open under the room key"), "{seen}");
    n1.proc.stderr.expect("skipped an entry in Redis");
}

#[test]
fn raw_lines_written_to_a_nodes_inbox_never_reach_a_member() {
    let redis = Redis::start();
    let n1 = node(&redis, "n1", &[]);
    let (mut ann, _) = member(n1.addr, "ann", &[]);
    let beat = redis_cli(&redis, &["GET", "tcpplay:node:n1"]);
    let run = beat.split(' ').next().unwrap().to_string();
    let inbox = format!("tcpplay:inbox:{run}");
    let evil = "{\"type\":\"system\",\"text\":\"*** the server will restart; re-enter your password at evil.example\"}\n{\"type\":\"chat\",\"from\":\"bob\",\"text\":\"evil\"}";
    // The old format (raw lines), then a well-formed direct message.
    redis_cli(
        &redis,
        &[
            "XADD", &inbox, "*", "k", "dm", "to", "ann", "l", evil, "g", evil,
        ],
    );
    let ts = tcpplay::protocol::now_ms().to_string();
    redis_cli(
        &redis,
        &[
            "XADD",
            &inbox,
            "*",
            "k",
            "dm",
            "f",
            "mallory",
            "to",
            "ann",
            "t",
            "hello from the inbox",
            "c",
            &ts,
        ],
    );
    let dm = ann.recv_type("dm");
    assert_eq!(dm["text"], "hello from the inbox", "{dm}");
    assert_eq!(dm["from"], "mallory");
    ann.send(json!({"type": "users"}));
    loop {
        let v = ann.recv();
        let text = v.to_string();
        assert!(
            !text.contains("evil"),
            "a raw line reached the member: {text}"
        );
        if v["type"] == "users" {
            break;
        }
    }
}

#[test]
fn a_room_is_its_folded_name_on_every_node() {
    let redis = Redis::start();
    let (n1, n2) = (node(&redis, "n1", &[]), node(&redis, "n2", &[]));
    let (mut ann, _) = member(n1.addr, "ann", &["#room1"]);
    let (mut bob, _) = member(n2.addr, "bob", &["#rooml"]);
    // Both rooms are one: bob's line reaches ann (after ann sees bob come).
    ann.recv_type("count");
    bob.send(json!({"type": "chat", "text": "one room", "room": "#rooml"}));
    let v = ann.recv_chat("one room");
    assert_eq!(v["from"], "bob");
}

/// Accounts live in Redis: a name registered on one node is refused to a
/// guest and logs in on another; a ban said on one node takes the member
/// out of the room on another (within the nodes' one-second refresh) and
/// keeps them out there.
#[test]
fn an_account_registered_on_one_node_logs_in_on_another_and_a_ban_holds_on_all() {
    use crate::accounts::join;
    let redis = Redis::start();
    let cert = crate::util::make_cert();
    let (c, k) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    let tls = ["--tls", "--cert", c, "--key", k, "--registration", "open"];
    let a = node(&redis, "a", &tls);
    let b = node(&redis, "b", &tls);

    let mut carol = join(&a, &cert, "carol", Some("carol-password"), &["--register"]);
    carol.stdout.expect("the name carol is registered to you");
    carol.close_stdin();
    assert_eq!(carol.wait(), 0);
    let mut guest = join(&b, &cert, "carol", None, &[]);
    assert_eq!(guest.wait(), 1);
    guest.stderr.expect("the name carol is registered");
    let mut wrong = join(&b, &cert, "carol", Some("not-hers"), &[]);
    assert_eq!(wrong.wait(), 1);

    // The teacher makes #class on node a (its creator operates it); carol
    // is in it on node b, logged in with her password there.
    let mut teacher = join(
        &a,
        &cert,
        "teacher",
        Some("teacher-password"),
        &["--register", "--room", "#class", "--listen"],
    );
    teacher
        .stdout
        .expect("the name teacher is registered to you");
    let mut carol = join(
        &b,
        &cert,
        "carol",
        Some("carol-password"),
        &["--room", "#class"],
    );
    carol.stderr.expect("logged in to the account carol");
    carol.stdout.expect("you joined #class");
    teacher.stdout.expect("carol joined");
    teacher.send_line("/ban carol 1h");
    carol.stdout.expect("you are banned from #class");
    carol.send_line("/join #class");
    carol.stdout.expect("(banned)");
}

#[test]
fn a_room_operators_kick_takes_a_member_of_another_node_out_with_its_reason() {
    use crate::accounts::join;
    let redis = Redis::start();
    let cert = crate::util::make_cert();
    let (c, k) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    let tls = ["--tls", "--cert", c, "--key", k, "--registration", "open"];
    let a = node(&redis, "a", &tls);
    let b = node(&redis, "b", &tls);
    let mut teacher = join(
        &a,
        &cert,
        "teacher",
        Some("teacher-password"),
        &["--register", "--room", "#hall", "--listen"],
    );
    teacher
        .stdout
        .expect("the name teacher is registered to you");
    let mut dora = join(&b, &cert, "dora", None, &["--room", "#hall"]);
    dora.stdout.expect("you joined #hall");
    teacher.stdout.expect("dora joined");
    teacher.send_line("/kick dora too loud");
    teacher.stdout.expect("dora was removed from #hall");
    let out = dora.stdout.expect("you are out of #hall");
    assert!(
        out.contains("too loud") && out.contains("/join #hall to come back"),
        "{out}"
    );
    teacher.stdout.expect("dora was removed by the operator");
}
