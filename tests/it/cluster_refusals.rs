//! A Redis that refuses rather than vanishes (issue 48): out of memory
//! under `maxmemory` with `noeviction`, a password changed and changed
//! back, a Redis unreachable when a node starts. Each test failed on the
//! cluster before its fix; docs/CLUSTER.md names them.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::faults::world::{Node, Redis};
use crate::util::{http_get, member, metric_until, Peer};

/// Packets until an `error` (returned) or a chat line with `text` (a panic:
/// the line was not refused).
fn refused(p: &mut Peer, text: &str) -> Value {
    loop {
        let v = p.recv();
        assert!(
            !(v["type"] == "chat" && v["text"] == text),
            "delivered: {v}"
        );
        if v["type"] == "error" {
            return v;
        }
    }
}

/// `/readyz` until its status is `want` (bounded): its body.
fn readyz_becomes(m: &str, want: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = http_get(m, "/readyz");
        if code == want {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz {code}: {body}");
        std::thread::sleep(Duration::from_millis(50)); // polling a status
    }
}

/// `tcpplay check --cluster URL`: its exit code and what it printed.
fn check(url: &str) -> (Option<i32>, String) {
    let home = tempfile::TempDir::new().unwrap();
    let out = crate::util::tcpplay(home.path())
        .args(["check", "--cluster", url])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), said)
}

#[test]
fn a_redis_out_of_memory_refuses_each_line_to_its_sender_and_check_and_readyz_say_why() {
    let redis = Redis::start();
    let mut n1 = Node::start_env(&redis, "n1", &[("TCPPLAY_SERVE__METRICS", "127.0.0.1:0")]);
    let n2 = Node::start(&redis, "n2");
    let m = n1.server.as_mut().unwrap().metrics_addr();
    let (mut a, _) = member(n1.at(), "a", &[]);
    let (mut b, _) = member(n2.at(), "b", &[]);
    a.send(json!({"type": "chat", "text": "before"}));
    b.recv_chat("before");
    readyz_becomes(&m, 200);
    redis.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    redis.cli(&["CONFIG", "SET", "maxmemory", "1"]);
    a.send(json!({"type": "chat", "text": "no room for it"}));
    let e = refused(&mut a, "no room for it");
    assert_eq!(e["code"], "not_sent", "{e}");
    let why = e["message"].as_str().unwrap();
    assert!(why.contains("OOM") && why.contains("maxmemory"), "{why}");
    metric_until(&m, "tcpplay_cluster_lines_refused_total", 1.0);
    let body = readyz_becomes(&m, 503);
    assert!(body.contains("refuses writes"), "{body}");
    let log = n1
        .server
        .as_mut()
        .unwrap()
        .proc
        .stderr
        .expect("refused to store");
    assert!(
        log.contains("OOM") && !log.contains("another type"),
        "{log}"
    );
    let (code, said) = check(&redis.url());
    assert_ne!(code, Some(0), "{said}");
    assert!(said.contains("maxmemory"), "{said}");
    // Memory again: lines go out, and the node is ready.
    redis.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    readyz_becomes(&m, 200);
    a.send(json!({"type": "chat", "text": "after"}));
    let seen: Vec<Value> = std::iter::from_fn(|| Some(b.recv()))
        .take_while(|v| !(v["type"] == "chat" && v["text"] == "after"))
        .collect();
    assert!(
        !seen.iter().any(|v| v["text"] == "no room for it"),
        "{seen:?}"
    );
}

#[test]
fn check_fails_for_a_redis_that_stalls_or_needs_a_password_and_warns_of_an_evicting_policy() {
    let redis = Redis::start();
    // An evicting policy: a warning at a node's start and in check.
    redis.cli(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    let mut n1 = Node::start(&redis, "n1");
    let warned = n1
        .server
        .as_mut()
        .unwrap()
        .proc
        .stderr
        .expect("maxmemory-policy");
    assert!(
        warned.contains("allkeys-lru") && warned.contains("noeviction"),
        "{warned}"
    );
    let (code, said) = check(&redis.url());
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("allkeys-lru"), "{said}");
    redis.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    // Stalled 3 s of every 3.1 s: check fails, and says why.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sleeper = {
        let (stop, port) = (stop.clone(), redis.port.to_string());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::process::Command::new("redis-cli")
                    .args(["-p", &port, "DEBUG", "SLEEP", "3"])
                    .output();
                std::thread::sleep(Duration::from_millis(100)); // the stall's rhythm
            }
        })
    };
    let (code, said) = check(&redis.url());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sleeper.join().unwrap();
    assert_ne!(code, Some(0), "{said}");
    assert!(said.contains("stalls"), "{said}");
    // A password it needs and is not given: a failure (auth), not a warning.
    redis.cli(&["CONFIG", "SET", "requirepass", "s3cret-pw"]);
    let (code, said) = check(&redis.url());
    assert_eq!(code, Some(8), "{said}");
    assert!(
        said.contains("needs a password") && !said.contains("s3cret"),
        "{said}"
    );
}
