//! Limits through the real binary: the chat rate (token bucket), connections
//! per address, and a slow reader that is dropped while everyone else keeps up.

use std::sync::Arc;

use serde_json::json;

use crate::util::{Peer, Server};

fn server(env: &[(&str, &str)]) -> Server {
    Server::start_with(&[], env, Arc::new(tempfile::TempDir::new().unwrap()))
}

#[test]
fn over_the_rate_lines_are_dropped_with_rate_limited_and_a_flood_is_disconnected() {
    let mut s = server(&[
        ("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "1"),
        ("TCPPLAY_LIMITS__MESSAGE_BURST", "3"),
    ]);
    let (mut w, _) = Peer::join(s.addr, "witness");
    let (mut f, _) = Peer::join(s.addr, "flooder");
    for i in 0..4 {
        f.send(json!({"type": "chat", "text": format!("line {i}")}));
    }
    let e = f.recv_type("error");
    assert_eq!(e["code"], "rate_limited");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("at most 1 lines per second"),
        "{e}"
    );
    // The burst went through, the fourth line did not.
    for i in 0..3 {
        w.recv_chat(&format!("line {i}"));
    }
    s.proc
        .stderr
        .expect("line dropped: over limits.messages_per_second");
    // Keep flooding: disconnected with a goodbye.
    for i in 0..20 {
        f.send_raw(format!("{{\"type\":\"chat\",\"text\":\"flood {i}\"}}\n").as_bytes());
    }
    let rest = f.until_closed();
    assert!(
        rest.iter()
            .any(|v| v["type"] == "bye" && v["reason"].as_str().unwrap().contains("flooding")),
        "{rest:?}"
    );
    w.recv_system("flooder disconnected.");
}

#[test]
fn connections_per_address_are_capped() {
    let mut s = server(&[("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "2")]);
    let (_a, _) = Peer::join(s.addr, "a");
    let (_b, _) = Peer::join(s.addr, "b");
    let mut c = Peer::connect(s.addr);
    let e = c.recv();
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "too_many_connections");
    assert!(c.recv_line().is_none());
    s.proc.stderr.expect("limits.max_clients_per_address = 2");
}

/// A member on its own thread: joins, sends `share` lines (each after the echo
/// of its previous one, as a person or a polite bot would), and reads until it
/// has seen `expect` chat lines. Returns the round numbers it saw, in order.
fn paced_member(
    addr: std::net::SocketAddr,
    id: usize,
    share: Vec<usize>,
    expect: usize,
    all_in: Arc<std::sync::Barrier>,
) -> std::thread::JoinHandle<Vec<usize>> {
    use std::io::{BufRead, BufReader, Write};
    std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(crate::util::WAIT)).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap(); // hello
        writeln!(s, "{}", json!({"type": "auth", "name": format!("p{id}")})).unwrap();
        while !line.contains("auth_result") {
            line.clear();
            r.read_line(&mut line).unwrap();
        }
        all_in.wait(); // nobody speaks before everyone is in the room
        let text = "x".repeat(3000);
        let mut seen = Vec::new();
        let mut next = share.into_iter();
        let mut waiting = next.next();
        if let Some(k) = waiting {
            writeln!(
                s,
                "{}",
                json!({"type": "chat", "text": format!("{k} {text}")})
            )
            .unwrap();
        }
        while seen.len() < expect {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                let mut missing: Vec<usize> = (0..expect).filter(|r| !seen.contains(r)).collect();
                missing.truncate(10);
                panic!(
                    "member p{id} stopped after {} lines; missing rounds {missing:?}",
                    seen.len()
                );
            }
            if !line.starts_with("{\"type\":\"chat\"") {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let round: usize = v["text"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            seen.push(round);
            if Some(round) == waiting {
                waiting = next.next();
                if let Some(k) = waiting {
                    writeln!(
                        s,
                        "{}",
                        json!({"type": "chat", "text": format!("{k} {text}")})
                    )
                    .unwrap();
                }
            }
        }
        seen
    })
}

#[test]
fn a_reader_that_never_reads_is_dropped_and_the_others_get_everything() {
    // Default send queue (1 MiB); no chat rate limit.
    let mut s = server(&[("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "0")]);
    let (_stalled, _) = Peer::join(s.addr, "stalled"); // never reads again
                                                       // 7.2 MB of chat: past the stalled client's kernel buffers and its 1 MiB allowance.
    const N: usize = 2400;
    const M: usize = 5;
    let all_in = Arc::new(std::sync::Barrier::new(M));
    let members: Vec<_> = (0..M)
        .map(|i| {
            paced_member(
                s.addr,
                i,
                (0..N).filter(|r| r % M == i).collect(),
                N,
                all_in.clone(),
            )
        })
        .collect();
    for h in members {
        let got = match h.join() {
            Ok(g) => g,
            Err(_) => {
                s.proc.child.kill().unwrap();
                panic!("server log: {:#?}", s.proc.stderr.rest());
            }
        };
        assert_eq!(got.len(), N, "every line reaches every member that reads");
        for sender in 0..M {
            let mine: Vec<usize> = got.iter().copied().filter(|r| r % M == sender).collect();
            let want: Vec<usize> = (0..N).filter(|r| r % M == sender).collect();
            assert_eq!(
                mine, want,
                "sender {sender}'s lines arrive complete and in order"
            );
        }
    }
    s.proc.stderr.expect("client too slow");
}

#[test]
fn an_idle_client_gets_a_goodbye_after_serve_timeout() {
    let s = Server::start_with(
        &["--timeout", "1"],
        &[],
        Arc::new(tempfile::TempDir::new().unwrap()),
    );
    let (mut idle, _) = Peer::join(s.addr, "sleepy");
    let rest = idle.until_closed();
    assert!(
        rest.iter().any(
            |v| v["type"] == "bye" && v["reason"].as_str().unwrap().starts_with("idle timeout")
        ),
        "{rest:?}"
    );
}

#[test]
fn a_hundred_silent_connections_do_not_stop_a_normal_join() {
    let mut s = server(&[
        ("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "0"),
        ("TCPPLAY_LIMITS__HANDSHAKE_TIMEOUT", "2"),
    ]);
    // Slowloris: connect and never say anything (not even finish a line).
    let silent: Vec<std::net::TcpStream> = (0..100)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(s.addr).unwrap();
            std::io::Write::write_all(&mut c, b"{\"type\":\"au").unwrap();
            c
        })
        .collect();
    let (mut ok, _) = Peer::join(s.addr, "normal");
    ok.send(json!({"type": "chat", "text": "not held up"}));
    ok.recv_chat("not held up");
    // And the silent ones are cut off at the handshake deadline.
    s.proc
        .stderr
        .expect("no successful auth within the handshake deadline");
    drop(silent);
}

#[test]
fn a_full_server_says_so_and_new_connections_per_minute_are_capped() {
    let full = server(&[("TCPPLAY_LIMITS__MAX_CLIENTS", "1")]);
    let (_one, _) = Peer::join(full.addr, "one");
    let mut two = Peer::connect(full.addr);
    let rest = two.until_closed();
    assert!(
        rest.iter()
            .any(|v| v["type"] == "error" && v["code"] == "server_full"),
        "{rest:?}"
    );
    assert!(rest.iter().any(|v| v["type"] == "bye"), "{rest:?}");

    let mut rate = server(&[("TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE", "2")]);
    let (_a, _) = Peer::join(rate.addr, "a");
    let (_b, _) = Peer::join(rate.addr, "b");
    let mut c = Peer::connect(rate.addr);
    let e = c.recv();
    assert_eq!(e["code"], "too_many_connections");
    assert!(e["message"].as_str().unwrap().contains("wait a minute"));
    rate.proc
        .stderr
        .expect("limits.new_connections_per_minute = 2");
}

#[cfg(target_os = "linux")]
#[test]
fn accept_errors_back_off_log_once_and_the_server_keeps_serving() {
    // Run the server with a tiny descriptor limit, so accept() fails with EMFILE.
    let home = tempfile::TempDir::new().unwrap();
    let bin = env!("CARGO_BIN_EXE_tcpplay");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n 48 && exec {bin} serve --bind 127.0.0.1 --port 0"
        ))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "0")
        .current_dir(home.path());
    cmd.stdin(std::process::Stdio::null());
    let mut proc = crate::util::Proc::spawn(cmd);
    let line = proc.stdout.expect("listening on ");
    let addr: std::net::SocketAddr = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    // More connections than descriptors: the kernel completes them, accept() cannot.
    let flood: Vec<std::net::TcpStream> = (0..80)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    proc.stderr.expect("accept failed");
    drop(flood);
    let (mut back, _) = Peer::join(addr, "after-the-storm");
    back.send(json!({"type": "chat", "text": "served"}));
    back.recv_chat("served");
    let logged = proc
        .stderr
        .seen()
        .iter()
        .filter(|l| l.contains("accept failed"))
        .count();
    assert!(
        logged <= 3,
        "logged once per burst, not per attempt: {logged} lines"
    );
}

#[test]
fn a_live_join_client_answers_the_servers_ping_and_stays() {
    let s = Server::start_with(
        &["--timeout", "1"],
        &[],
        Arc::new(tempfile::TempDir::new().unwrap()),
    );
    // `tcpplay join` answers the server's pings by itself.
    let mut live = s.join(&["--name", "live", "--no-tls"]);
    live.stderr.expect("Authenticated as live");
    // A raw peer that never answers (like a vanished one) is asked, then dropped.
    let (mut silent, _) = Peer::join(s.addr, "silent");
    let rest = silent.until_closed();
    let ping = rest.iter().position(|v| v["type"] == "ping");
    let bye = rest.iter().position(|v| {
        v["type"] == "bye" && v["reason"].as_str().unwrap().starts_with("idle timeout")
    });
    assert!(ping.is_some() && bye.is_some() && ping < bye, "{rest:?}");
    // By now `live` has been idle longer than that too: it is still in the room.
    live.send_line("still here");
    live.stdout.expect("live: still here");
}

/// Connections that never authenticate hold handshake places, not members'
/// places: twenty silent sockets on a twenty-member server leave its places
/// free, and a real member still joins.
#[test]
fn silent_connections_do_not_fill_a_small_server() {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let s = Server::start_with(
        &["--no-history"],
        &[
            ("TCPPLAY_LIMITS__MAX_CLIENTS", "20"),
            ("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "0"),
        ],
        home,
    );
    let silent: Vec<Peer> = (0..20)
        .map(|_| {
            let mut p = Peer::connect(s.addr);
            assert_eq!(p.recv()["type"], "hello");
            p
        })
        .collect();
    let (mut member, _) = Peer::join_v1(s.addr, "member");
    member.send(serde_json::json!({"type": "chat", "text": "still room"}));
    member.recv_chat("still room");
    drop(silent);
}
