//! Presence across nodes converges and never lists a name twice (issue
//! 48 items 2 and 5): a name granted again on a node is its member's
//! alone, and a leave a node never read (Redis lost it) is applied.
//! Each failed on the cluster before its fix; docs/CLUSTER.md names them.

use std::time::Duration;

use serde_json::{json, Value};

use crate::cluster_faults::users_become;
use crate::faults::world::{Node, Redis};
use crate::util::{member, Peer};

/// Every name in `room`'s `users`, as listed (repeats kept).
fn listed(p: &mut Peer, room: &str) -> Vec<String> {
    p.send(json!({"type": "users", "room": room}));
    let u = p.recv_type("users");
    u["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x: &Value| x["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_name_taken_over_from_a_dead_node_is_listed_once_on_the_node_that_grants_it() {
    let redis = Redis::start();
    let mut n1 = Node::start(&redis, "n1");
    let n2 = Node::start(&redis, "n2");
    let (_cat, _) = member(n1.at(), "cat", &[]);
    let (mut b, _) = member(n2.at(), "b", &[]);
    users_become(&mut b, "#lobby", &["b", "cat"], Duration::from_secs(10));
    n1.kill();
    // Asked for on n2 until its dead holder's lease ends and n2 grants it:
    // from then on, one `cat`, whatever n2 still knew of the old one.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut cat = loop {
        let (p, welcome) = member(n2.at(), "cat", &[]);
        if welcome.name == "cat" {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "cat never came free");
        drop(p);
        std::thread::sleep(Duration::from_millis(100)); // asking again, as join --reconnect does
    };
    for _ in 0..20 {
        let names = listed(&mut cat, "#lobby");
        let cats = names.iter().filter(|n| *n == "cat").count();
        assert_eq!(cats, 1, "{names:?}");
    }
    users_become(&mut b, "#lobby", &["b", "cat"], Duration::from_secs(10));
}

#[test]
fn a_leave_a_paused_node_missed_before_redis_lost_its_data_is_applied() {
    let mut redis = Redis::start();
    let n1 = Node::start(&redis, "n1");
    let mut n2 = Node::start(&redis, "n2");
    let (mut a, _) = member(n1.at(), "a", &[]);
    let (c, _) = member(n1.at(), "c", &[]);
    let (mut b, _) = member(n2.at(), "b", &[]);
    users_become(&mut b, "#lobby", &["a", "b", "c"], Duration::from_secs(10));
    // n2 is paused; c leaves (n1 sees it); Redis restarts without its data
    // before n2 read the leave.
    n2.pause();
    drop(c);
    users_become(&mut a, "#lobby", &["a", "b"], Duration::from_secs(10));
    redis.restart(false);
    n2.resume();
    // Healed: n2 lists who is connected, within a few heartbeats.
    users_become(&mut b, "#lobby", &["a", "b"], Duration::from_secs(8));
    users_become(&mut a, "#lobby", &["a", "b"], Duration::from_secs(8));
}
