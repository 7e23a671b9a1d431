//! The room: broadcast to everyone including the sender, names, join/leave
//! notices, the live count, the operator console, graceful shutdown.

use serde_json::json;

use crate::util::{Peer, Server};

#[test]
fn three_clients_chat_with_suffixed_names_notices_and_counts() {
    let server = Server::start(&[]);
    let (mut a, na) = Peer::join(server.addr, "alice");
    assert_eq!(a.recv_type("system")["text"], "alice joined");
    assert_eq!(a.recv_type("count")["total"], 1);
    let (mut b, nb) = Peer::join(server.addr, "alice");
    let (mut c, nc) = Peer::join(server.addr, "ALICE");
    assert_eq!(
        (na.as_str(), nb.as_str(), nc.as_str()),
        ("alice", "alice-2", "ALICE-3")
    );
    assert_eq!(c.recv_type("count")["total"], 3);

    b.send(json!({"type": "chat", "encrypted": false, "text": "hello from b"}));
    for p in [&mut a, &mut b, &mut c] {
        let m = p.recv_chat("hello from b");
        assert_eq!(m["from"], "alice-2");
        assert_eq!(m["encrypted"], false);
        assert!(
            m["port"].as_u64().is_some(),
            "legacy clients show the sender's port: {m}"
        );
        assert!(
            m["id"].as_u64().is_some() && m["ts"].as_u64().is_some(),
            "{m}"
        );
    }

    drop(c);
    for p in [&mut a, &mut b] {
        assert_eq!(p.recv_type("system")["text"], "ALICE-3 disconnected.");
        assert_eq!(p.recv_type("count")["total"], 2);
    }
}

#[test]
fn chat_ids_increase_in_delivery_order() {
    let server = Server::start(&[]);
    let (mut a, _) = Peer::join(server.addr, "a");
    let (mut b, _) = Peer::join(server.addr, "b");
    for i in 0..20 {
        let p = if i % 2 == 0 { &mut a } else { &mut b };
        p.send(json!({"type": "chat", "text": format!("m{i}")}));
    }
    let mut last = 0;
    let mut texts = Vec::new();
    while texts.len() < 20 {
        let v = a.recv();
        if v["type"] == "chat" {
            let id = v["id"].as_u64().unwrap();
            assert!(id > last, "ids must increase: {id} after {last}");
            last = id;
            texts.push(v["text"].as_str().unwrap().to_string());
        }
    }
    // Each sender's lines arrive complete and in the order it sent them.
    for sender in 0..2 {
        let mine: Vec<&String> = texts
            .iter()
            .filter(|t| t[1..].parse::<u32>().unwrap() % 2 == sender)
            .collect();
        let sent: Vec<String> = (sender..20).step_by(2).map(|i| format!("m{i}")).collect();
        assert_eq!(mine, sent.iter().collect::<Vec<_>>());
    }
}

#[test]
fn join_binary_chats_through_pipes_and_leaves_at_end_of_input() {
    let server = Server::start(&[]);
    let mut bob = server.join(&["--name", "bob", "--no-tls"]);
    bob.stderr.expect("Authenticated as bob");
    let mut alice = server.join(&["--name", "alice", "--no-tls"]);
    alice.stderr.expect("Authenticated as alice");
    bob.stdout.expect("*** alice joined");

    alice.send_line("hello bob");
    bob.stdout.expect("alice: hello bob");
    alice.stdout.expect("alice: hello bob");

    bob.send_line("bye now");
    bob.close_stdin();
    alice.stdout.expect("bob: bye now");
    alice.stdout.expect("*** bob disconnected.");
    alice.stdout.expect("*** 1 connected");
    assert_eq!(bob.wait(), 0);
    let out = bob.stdout.rest();
    assert!(
        bob.stdout.seen().iter().any(|l| l == "bob: bye now"),
        "what was typed before end of input is sent and echoed: {out:?}"
    );
}

#[test]
fn terminal_unsafe_text_is_shown_escaped_by_join() {
    let server = Server::start(&[]);
    let mut bob = server.join(&["--name", "bob", "--no-tls"]);
    bob.stderr.expect("Authenticated as bob");
    let (mut evil, _) = Peer::join(server.addr, "evil");
    evil.send(json!({"type": "chat", "text": "clear\u{1b}[2J and \u{202e}reversed"}));
    let line = bob.stdout.expect("evil: clear");
    assert_eq!(line, "evil: clear\\u{1b}[2J and \\u{202e}reversed");
}

#[test]
fn operator_console_lines_go_out_as_server_and_end_of_console_is_not_shutdown() {
    let mut server = Server::start(&[]);
    let (mut a, _) = Peer::join(server.addr, "a");
    server.proc.send_line("hello from the operator");
    let m = a.recv_chat("hello from the operator");
    assert_eq!(m["from"], "server");
    assert!(m.get("port").is_none(), "the operator has no port: {m}");
    server.proc.send_line("/users");
    server.proc.stdout.expect("1 connected:");

    server.proc.close_stdin();
    server
        .proc
        .stderr
        .expect("console input closed; still serving");
    let (mut b, _) = Peer::join(server.addr, "b");
    b.send(json!({"type": "chat", "text": "still here"}));
    a.recv_chat("still here");
}

#[cfg(unix)]
#[test]
fn sigterm_says_bye_to_everyone_and_exits_zero() {
    let mut server = Server::start(&[]);
    let (mut a, _) = Peer::join(server.addr, "a");
    let (mut b, _) = Peer::join(server.addr, "b");
    a.recv_type("count");
    server.proc.signal(libc::SIGTERM);
    for p in [&mut a, &mut b] {
        let rest = p.until_closed();
        assert!(
            rest.iter()
                .any(|v| v["type"] == "bye" && v["reason"] == "server shutting down"),
            "{rest:?}"
        );
    }
    assert_eq!(server.proc.wait(), 0);
}

#[test]
fn ipv6_loopback_bind_works() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipping: this machine has no IPv6 loopback");
        return;
    }
    let server = Server::start(&["--bind", "::1"]);
    assert!(server.addr.is_ipv6());
    let (mut a, _) = Peer::join(server.addr, "six");
    a.send(json!({"type": "chat", "text": "over v6"}));
    a.recv_chat("over v6");
}

#[test]
fn join_reconnect_comes_back_when_the_server_does() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let home = std::sync::Arc::new(tempfile::TempDir::new().unwrap());
    let first = Server::start_with(&["--port", &port], &[], home.clone());
    let mut j = first.join(&["--name", "phoenix", "--no-tls", "--reconnect"]);
    j.stderr.expect("Authenticated as phoenix");
    drop(first); // killed: no goodbye
    j.stderr
        .expect("connection to the server was lost; reconnecting");
    let second = Server::start_with(&["--port", &port], &[], home);
    j.stderr.expect("reconnected");
    j.send_line("back again");
    j.stdout.expect("phoenix: back again");
    drop(second);
}

#[test]
fn without_reconnect_a_lost_connection_exits_1_and_says_so() {
    let server = Server::start(&[]);
    let mut j = server.join(&["--name", "mortal", "--no-tls"]);
    j.stderr.expect("Authenticated as mortal");
    drop(server);
    assert_eq!(j.wait(), 1);
    let err = j.stderr.rest().join("\n");
    assert!(
        err.contains("connection to the server was lost") && err.contains("--reconnect"),
        "{err}"
    );
}

#[test]
fn the_example_bot_answers_time_and_echo() {
    // `cargo test` builds the examples next to the test binaries.
    let bot = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/bot");
    if !bot.exists() {
        eprintln!(
            "skipping: {} was not built (run the whole `cargo test`)",
            bot.display()
        );
        return;
    }
    let server = Server::start(&[]);
    let mut cmd = std::process::Command::new(&bot);
    cmd.args(["--port", &server.port(), "--name", "helper"]);
    let mut b = crate::util::Proc::spawn(cmd);
    b.stdout.expect("bot ready as helper");
    let (mut me, _) = Peer::join(server.addr, "asker");
    me.send(json!({"type": "chat", "text": "!echo hello bot"}));
    let echo = loop {
        let v = me.recv_type("chat");
        if v["from"] == "helper" {
            break v;
        }
    };
    assert_eq!(echo["text"], "hello bot");
    me.send(json!({"type": "chat", "text": "!time"}));
    let t = loop {
        let v = me.recv_type("chat");
        if v["from"] == "helper" {
            break v;
        }
    };
    assert!(
        t["text"].as_str().unwrap().starts_with("the time is 20"),
        "{t}"
    );
}
