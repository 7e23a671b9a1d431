//! Who operates a room, and who owns a name, across the cluster (issue
//! 43): a room's maker is decided once for every node, not by whoever is
//! first in on each; accounts and rooms' rules outlive a Redis that comes
//! back empty. Real nodes over TLS with accounts, a real `redis-server`.

use serde_json::{json, Value};

use crate::accounts::join;
use crate::cluster::{node, Redis};
use crate::util::{make_cert, CertFiles, Peer, Proc, Server};

/// A guest over TLS (protocol 3) in the server's default room.
fn guest(server: &Server, cert: &CertFiles, name: &str) -> Peer {
    let mut p = Peer::connect_tls(server.addr, &cert.cert);
    assert_eq!(p.recv()["type"], "hello");
    p.send(json!({"type": "auth", "name": name, "proto": 3}));
    let r = p.recv_type("auth_result");
    assert_eq!(r["ok"], true, "{r}");
    p
}

/// The next `joined` or `error` about a room.
fn room_answer(p: &mut Peer) -> Value {
    loop {
        let v = p.recv();
        if matches!(v["type"].as_str(), Some("joined" | "error")) {
            return v;
        }
    }
}

/// Does the guest operate `room`? Its `/bans` there is answered with the
/// room's listing (`Some`) or refused as not an operator (`None`).
fn guest_listing(p: &mut Peer, room: &str) -> Option<String> {
    p.send(json!({"type": "moderate", "action": "list", "room": room}));
    loop {
        let v = p.recv();
        if v["type"] == "error" {
            assert_eq!(v["code"], "not_operator", "{v}");
            return None;
        }
        if v["type"] == "system" && v["event"] == "moderation" {
            return Some(v["text"].as_str().unwrap().to_string());
        }
    }
}

/// Does the `join` client operate the room it is in (`room`)? Its `/bans`
/// answered with the listing, or refused.
fn listing(p: &mut Proc, room: &str) -> Option<String> {
    p.send_line("/bans");
    let head = format!("{room}: operators");
    loop {
        let line = p.stdout.expect(room);
        if line.contains(&head) {
            return Some(line);
        }
        if line.contains("(not_operator)") {
            return None;
        }
    }
}

/// alice (an account) on n1 and mallory (a guest) on n2 make new rooms at
/// the same moment, again and again (and alice just first). Whoever the cluster records, exactly
/// one of them operates each room, on both nodes alike: alice's second
/// login on n2 sees what n1 sees, and a guest never operates a room an
/// account made. Before the maker was decided in Redis, each node took
/// its own first member as the creator: both operated every room.
#[test]
fn a_rooms_maker_is_decided_once_for_the_cluster_and_no_guest_operates_an_accounts_room() {
    let redis = Redis::start();
    let cert = make_cert();
    let (c, k) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    let tls = ["--tls", "--cert", c, "--key", k, "--registration", "open"];
    let n1 = node(&redis, "n1", &tls);
    let n2 = node(&redis, "n2", &tls);
    let mut alice = join(
        &n1,
        &cert,
        "alice",
        Some("alice-pw-1"),
        &["--register", "--listen"],
    );
    alice.stdout.expect("the name alice is registered to you");
    let mut alice_n2 = join(&n2, &cert, "alice", Some("alice-pw-1"), &["--listen"]);
    alice_n2.stderr.expect("logged in to the account alice");
    let mut mallory = guest(&n2, &cert, "mallory");
    let mut made = [0, 0];
    for round in 0..6 {
        let room = format!("#race{round}");
        // As close together as two clients can be; every other round
        // mallory right after alice is in (well within a node's one-second
        // refresh of the rules: the window the old code left open).
        alice.send_line(&format!("/join {room}"));
        if round % 2 == 1 {
            alice.stdout.expect(&format!("you joined {room}"));
        }
        mallory.send(json!({"type": "join", "room": room}));
        if round % 2 == 0 {
            alice.stdout.expect(&format!("you joined {room}"));
        }
        assert_eq!(room_answer(&mut mallory)["type"], "joined");
        alice_n2.send_line(&format!("/join {room}"));
        alice_n2.stdout.expect(&format!("you joined {room}"));

        let on_n1 = listing(&mut alice, &room);
        let on_n2 = listing(&mut alice_n2, &room);
        let guest_operates = guest_listing(&mut mallory, &room);
        assert_eq!(
            on_n1.is_some(),
            on_n2.is_some(),
            "{room}: the nodes disagree on alice: {on_n1:?} on n1, {on_n2:?} on n2"
        );
        match (on_n1, guest_operates) {
            (Some(l), None) => {
                assert!(l.contains("operators alice"), "{l}");
                made[0] += 1;
            }
            (None, Some(l)) => {
                assert!(l.contains("(its creator only)"), "{l}");
                made[1] += 1;
            }
            (a, m) => panic!("{room}: alice operates: {a:?}; the guest mallory: {m:?}"),
        }
    }
    eprintln!("rooms made by alice, by mallory: {made:?}");
    assert!(made[0] >= 3, "alice was first in three rooms: {made:?}");
}
