//! tcpplay against what it did not make: certificates from the `openssl`
//! command line, Python's `socket` and `ssl` clients and a Python server of
//! the original protocol (tests/fixtures), real pseudo-terminals that get
//! closed, input that is not UTF-8, pipes nobody reads. Each test names the
//! real-world failure it pins (issue "Real-world use", items 1–14).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::outside_openssl::Pki;
use crate::util::{free_port, python, run, tcpplay, Lines, Peer, Proc, Server, WAIT};

/// Chat lines as Python's `json` writes them, in each spelling a client
/// may use: raw UTF-8 or `\u` escapes, `", "` or `","` separators, an extra
/// field. The server reads some by its own hand-written parser and leaves
/// the rest to serde: every member must get exactly the text that was
/// sent, in order; a chat line whose text is not UTF-8 is refused with
/// its reason, and its sender goes on.
#[test]
fn pythons_json_in_every_spelling_reaches_members_exactly() {
    // 20 lines at once: past the default burst, so no rate limit here.
    let server = Server::start_with(
        &["--no-history"],
        &[("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "0")],
        Arc::new(TempDir::new().unwrap()),
    );
    let (mut watcher, _) = Peer::join(server.addr, "watcher");
    let texts = [
        "plain words",
        "café ☕ and 🎉",
        "a \"quote\" and a \\ backslash",
        "two\nlines\tand a tab",
        "line\u{2028}separator and \u{7f} delete",
    ];
    let script = r#"
import json, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
f = s.makefile("rb")
def recv():
    return json.loads(f.readline())
recv()  # hello
s.sendall(json.dumps({"type": "auth", "name": "py"}).encode() + b"\n")
while recv().get("type") != "auth_result":
    pass
for text in json.loads(sys.argv[2]):
    for spelling in range(4):
        p = {"type": "chat", "encrypted": False, "text": text}
        if spelling == 0:
            line = json.dumps(p, ensure_ascii=False)
        elif spelling == 1:
            line = json.dumps(p)
        elif spelling == 2:
            line = json.dumps(p, separators=(",", ":"), ensure_ascii=False)
        else:
            p["client"] = "py"
            line = json.dumps(p, ensure_ascii=False)
        s.sendall(line.encode() + b"\n")
s.sendall(b'{"type":"chat","encrypted":false,"text":"\xff\xfe"}\n')
while True:
    p = recv()
    if p.get("type") == "error":
        print("error", p.get("code"), p.get("message"), flush=True)
        break
s.sendall(json.dumps({"type": "chat", "text": "after the refusal"}).encode() + b"\n")
while recv().get("text") != "after the refusal":
    pass
s.close()
"#;
    let mut py = Command::new("python3");
    py.args(["-c", script, &server.port(), &json!(texts).to_string()]);
    let mut p = Proc::spawn(py);
    let mut got = Vec::new();
    while got.len() < texts.len() * 4 {
        let v = watcher.recv();
        if v["type"] == "chat" && v["from"] == "py" {
            got.push(v["text"].as_str().unwrap().to_string());
        }
    }
    let want: Vec<String> = texts
        .iter()
        .flat_map(|t| std::iter::repeat_n(t.to_string(), 4))
        .collect();
    assert_eq!(got, want);
    let refused = p.stdout.expect("error ");
    assert!(
        refused.starts_with("error bad_packet malformed packet: invalid unicode"),
        "{refused}"
    );
    let c = watcher.recv_chat("after the refusal");
    assert_eq!(c["from"], "py");
    assert_eq!(p.wait(), 0);
}

// ---------------------------------------------------------- nothing lost

#[test]
fn piped_lines_all_arrive_in_order_at_the_default_rate() {
    // Item 1: 19 of 500 arrived; the client was dropped for flooding.
    let server = Server::start(&["--no-history"]);
    let (mut watcher, _) = Peer::join_v1(server.addr, "watcher");
    let lines: String = (1..=60).map(|i| format!("line {i}\n")).collect();
    let port = server.port();
    let ran = run(
        server.home.path(),
        &["join", "--port", &port, "--name", "piper", "--no-tls"],
    )
    .stdin(lines.as_bytes())
    .go();
    ran.code(0);
    let mut got = Vec::new();
    while got.len() < 60 {
        let v = watcher.recv_type("chat");
        if v["from"] == "piper" {
            got.push(v["text"].as_str().unwrap().to_string());
        }
    }
    let want: Vec<String> = (1..=60).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want, "every line, in order");
    assert!(!ran.stderr.contains("rate"), "{ran:#?}");
}

#[test]
fn input_that_is_not_utf8_is_reported_by_line_and_the_rest_still_goes() {
    // Item 3: the input used to end silently at the bad line, exit 0.
    let server = Server::start(&["--no-history"]);
    let (mut watcher, _) = Peer::join_v1(server.addr, "watcher");
    let port = server.port();
    let args = ["join", "--port", &port, "--name", "bytes", "--no-tls"];
    run(server.home.path(), &args)
        .stdin(b"good1\n\xff\xfe bad\ngood2\n")
        .go()
        .code(1)
        .stderr_has("line 2 not sent: it is not UTF-8 text (byte 0xFF at position 1)")
        .stderr_has("1 line(s) could not be sent");
    watcher.recv_chat("good1");
    watcher.recv_chat("good2");
    // Binary noise is never a silent success.
    let noise: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    run(server.home.path(), &args)
        .stdin(&noise)
        .go()
        .code(1)
        .stderr_has("not sent");
}

#[test]
fn a_line_over_the_servers_limit_is_refused_before_sending_and_the_next_goes() {
    // Item 2: a 70,000-byte line used to get the client cut off.
    let server = Server::start(&["--no-history"]);
    let (mut watcher, _) = Peer::join_v1(server.addr, "watcher");
    let mut input = vec![b'x'; 70_000];
    input.extend_from_slice(b"\nafter the long one\n");
    let port = server.port();
    run(
        server.home.path(),
        &["join", "--port", &port, "--name", "longline", "--no-tls"],
    )
    .stdin(&input)
    .go()
    .code(1)
    .stderr_has("line 1 not sent: it has 70000 characters, over this server's limit of 4000");
    watcher.recv_chat("after the long one");
}

#[test]
fn a_python_client_is_told_why_it_was_dropped_flood_long_line_idle() {
    // Items 2 and 14: the original's client shows `system` lines only.
    let server = Server::start(&["--no-history", "--timeout", "1"]);
    let port = server.port();
    for (extra, why) in [
        (vec!["--flood", "400"], "flooding"),
        (vec!["--long", "70000"], "longer than 65536 bytes"),
        (vec![], "idle timeout"),
    ] {
        let mut py = python("legacy_client.py");
        py.args(["127.0.0.1", &port, "py"]).args(&extra);
        let mut p = Proc::spawn(py);
        let line = p.stdout.expect("Disconnected by the server");
        assert!(line.contains(why), "{line}");
        p.stdout.expect("closed");
    }
}

#[test]
fn a_kick_and_a_shutdown_are_said_once_and_are_not_success() {
    // Item 2: a kick exited 0; a shutdown was printed twice.
    let server = Server::start(&["--no-history"]);
    let mut kicked = server.join(&["--name", "kicked", "--no-tls"]);
    kicked.stderr.expect("Authenticated as kicked");
    let mut server = server;
    server.proc.send_line("/kick kicked spamming");
    kicked
        .stderr
        .expect("disconnected by the server: removed by the operator: spamming");
    assert_eq!(kicked.wait(), 1);
    let mut left = server.join(&["--name", "left", "--no-tls"]);
    left.stderr.expect("Authenticated as left");
    server.proc.signal(libc::SIGTERM);
    assert_eq!(left.wait(), 1);
    left.stderr.rest();
    left.stdout.rest();
    let said = left
        .stderr
        .seen()
        .iter()
        .chain(left.stdout.seen())
        .filter(|l| l.contains("shutting down"))
        .count();
    assert_eq!(said, 1, "{:#?}", left.stderr.seen());
}

#[test]
fn reconnect_survives_a_graceful_restart_and_sends_what_was_typed_meanwhile() {
    // Item 7: --reconnect only came back after a crash.
    let home = Arc::new(TempDir::new().unwrap());
    let port = free_port().to_string();
    let args = ["--no-history", "--port", &port];
    let mut server = Server::start_with(&args, &[], home.clone());
    let mut j = server.join(&["--name", "stayer", "--no-tls", "--reconnect"]);
    j.stderr.expect("Authenticated as stayer");
    server.proc.signal(libc::SIGTERM);
    assert_eq!(server.proc.wait(), 0);
    j.stderr.expect("reconnecting");
    j.send_line("typed while the server was down");
    let server = Server::start_with(&args, &[], home);
    let (mut watcher, _) = Peer::join_v1(server.addr, "watcher");
    j.stderr.expect("reconnected");
    assert_eq!(
        watcher.recv_chat("typed while the server was down")["from"],
        "stayer"
    );
    j.close_stdin();
    assert_eq!(j.wait(), 0);
}

// --------------------------------------------------------------- history

#[test]
fn two_servers_keep_separate_histories_and_never_share_a_file() {
    // Item 4: two servers wrote one history.sqlite3 over each other.
    let home = Arc::new(TempDir::new().unwrap());
    let (p1, p2) = (free_port().to_string(), free_port().to_string());
    let mut one = Server::start_with(&["--port", &p1], &[], home.clone());
    let mut two = Server::start_with(&["--port", &p2], &[], home.clone());
    for (server, text) in [(&one, "said on one"), (&two, "said on two")] {
        let (mut p, _) = Peer::join_v1(server.addr, "a");
        p.send(json!({"type": "chat", "text": text}));
        p.recv_chat(text);
    }
    one.proc.signal(libc::SIGTERM);
    two.proc.signal(libc::SIGTERM);
    assert_eq!((one.proc.wait(), two.proc.wait()), (0, 0));
    let again = Server::start_with(&["--port", &p1], &[], home.clone());
    let (mut p, _) = Peer::join_v1(again.addr, "b");
    let mut texts = Vec::new();
    loop {
        let v = p.recv();
        match v["type"].as_str() {
            Some("history") => texts.push(v["text"].as_str().unwrap().to_string()),
            Some("history_end") => break,
            _ => {}
        }
    }
    assert_eq!(texts, vec!["said on one"]);
    // Files private to their owner, the folder too.
    let dir = home.path().join(".local/share/tcpplay/history");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    // (the log of plain lines is a folder of its own beside each database)
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    while let Some(path) = paths.pop() {
        if path.is_dir() {
            assert_eq!(mode(&path), 0o700, "{}", path.display());
            paths.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    // The same file for two running servers: the second is refused.
    let shared = home.path().join("shared.sqlite3");
    let shared = shared.to_str().unwrap();
    let _first = Server::start_with(&["--history", shared], &[], home.clone());
    run(
        home.path(),
        &[
            "serve",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--history",
            shared,
        ],
    )
    .go()
    .code(2)
    .stderr_has("in use by another running tcpplay server (pid ");
    // A folder that does not exist is a warning (walk::a_history_folder_…).
    run(
        home.path(),
        &[
            "serve",
            "--port",
            "0",
            "--history",
            "no/such/dir/h.sqlite3",
            "--check-config",
        ],
    )
    .go()
    .code(0)
    .stderr_has("mkdir -p no/such/dir")
    .stdout_has("no history");
}

// ---------------------------------------------- terminals, pipes, signals

#[test]
fn serve_stops_on_sigterm_after_its_terminal_was_closed() {
    // Item 5: only SIGKILL ended it.
    let home = TempDir::new().unwrap();
    let out = python("pty_close.py")
        .args([
            "listening on",
            env!("CARGO_BIN_EXE_tcpplay"),
            "serve",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--no-history",
        ])
        .env("HOME", home.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(said.trim(), "exited 0", "{said}");
}

#[test]
fn a_pipe_nobody_reads_costs_log_lines_never_service() {
    // Item 6: 893 of 10,000 joins got in once the log pipe was full.
    let home = TempDir::new().unwrap();
    let mut cmd = tcpplay(home.path());
    cmd.args([
        "-v",
        "serve",
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--no-history",
    ])
    .env("TCPPLAY_LIMITS__NEW_CONNECTIONS_PER_MINUTE", "0")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Read only the readiness line; stdout and stderr are never read again.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let addr: std::net::SocketAddr = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    let _stderr = child.stderr.take();
    let name = "fills-the-logs-";
    for i in 0..1000 {
        let (mut p, _) = Peer::join_v1(addr, &format!("{name}{i}"));
        p.send(json!({"type": "bye", "reason": "x".repeat(150)}));
        assert!(p.until_closed().iter().all(|v| v["type"] != "error"));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The server console on a terminal (rexpect): a line editor, one line per
/// event, logs apart from chat.
#[test]
fn the_server_console_is_a_line_editor_with_one_line_per_event() {
    use rexpect::session::spawn_command;
    let home = TempDir::new().unwrap();
    let mut cmd = tcpplay(home.path());
    cmd.args([
        "serve",
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--no-history",
    ]);
    let mut p = spawn_command(cmd, Some(WAIT.as_millis() as u64)).unwrap();
    let (_, ready) = p.exp_regex("listening on [0-9.:]+").unwrap();
    let addr: std::net::SocketAddr = ready.trim_start_matches("listening on ").parse().unwrap();
    let (mut a, _) = Peer::join_v1(addr, "alice");
    p.exp_string("alice joined").unwrap();
    a.send(json!({"type": "chat", "text": "hello console"}));
    p.exp_string("hello console").unwrap();
    p.send("/users\r").unwrap();
    p.flush().unwrap();
    p.exp_string("1 connected").unwrap();
    // Up recalls the last line (no raw `^[[A`), Enter runs it again.
    p.send("\x1b[A\r").unwrap();
    p.flush().unwrap();
    p.exp_string("1 connected").unwrap();
    // Ctrl-C in the editor stops the server, with goodbyes.
    p.send("\x03").unwrap();
    p.flush().unwrap();
    p.exp_string("server stopped").unwrap();
    assert!(a.until_closed().iter().any(|v| v["type"] == "bye"));
}

#[test]
fn joins_are_one_console_line_and_a_tls_probe_is_not_a_log_line() {
    // Item 13: a join printed a log line and a console line.
    let mut server = Server::start(&["--no-history"]);
    let mut probe = Peer::connect(server.addr);
    probe.recv();
    probe.send_raw(&[0x16, 0x03, 0x01, 0x00, 0xf4, 0x01]);
    assert!(probe.recv_line().is_none());
    let (_a, _) = Peer::join_v1(server.addr, "alice");
    server.proc.stdout.expect("alice joined");
    server.proc.signal(libc::SIGTERM);
    assert_eq!(server.proc.wait(), 0);
    let logs = server.proc.stderr.rest();
    assert!(
        logs.iter()
            .all(|l| !l.contains("joined") && !l.contains("ClientHello")),
        "{logs:#?}"
    );
}

// ------------------------------------------------- the original's habits

#[test]
fn join_against_the_original_protocols_host_leaves_no_failed_handshake() {
    // Item 14: every `tcpplay join` made the original print
    // "Handshake failed: Invalid protocol packet." (its TLS-first probe).
    let mut host = Proc::spawn(python("legacy_host.py"));
    let port = host.stdout.expect("listening on ");
    let port = port.trim_start_matches("listening on ").trim().to_string();
    let home = TempDir::new().unwrap();
    run(home.path(), &["join", "--port", &port, "--name", "modern"])
        .stdin(b"hello old friend\n")
        .go()
        .code(0)
        .stdout_has("modern: hello old friend")
        .stderr_has("NOT ENCRYPTED");
    host.stdout.expect("..:: modern[");
    let _ = host.child.kill();
    let log: Vec<String> = host.stdout.rest();
    assert!(
        host.stdout
            .seen()
            .iter()
            .chain(&log)
            .all(|l| !l.contains("Handshake failed")),
        "{:#?}",
        host.stdout.seen()
    );
}

// ----------------------------------------------------- words for people

#[test]
fn bad_values_are_named_with_their_source_and_what_to_do() {
    // Item 9.
    let home = TempDir::new().unwrap();
    run(home.path(), &["serve", "--port", "70000"])
        .go()
        .code(2)
        .stderr_has("a port is a whole number from 0 to 65535")
        .for_people();
    run(home.path(), &["join", "--timeout", "abc"])
        .go()
        .code(2)
        .stderr_has("give a number of seconds")
        .for_people();
    run(home.path(), &["serve", "--port", "0"])
        .env("TCPPLAY_LIMITS__MAX_CLIENTS", "-5")
        .go()
        .code(2)
        .stderr_has("TCPPLAY_LIMITS__MAX_CLIENTS: -5 is not a whole number, 0 or more")
        .for_people();
    std::fs::write(home.path().join("tcpplay.toml"), "[serve]\nprot = 5\n").unwrap();
    run(home.path(), &["serve"])
        .go()
        .code(2)
        .stderr_has("did you mean `port`?")
        .for_people();
    std::fs::remove_file(home.path().join("tcpplay.toml")).unwrap();
    run(
        home.path(),
        &["serve", "--port", "0", "--motd-file", "nope.txt"],
    )
    .go()
    .code(2)
    .stderr_has("nope.txt");
}

#[test]
fn serve_warns_about_what_it_would_do_silently() {
    // Item 10.
    let pki = Pki::new();
    let (cert, key) = pki.ec("wide", "DNS:localhost,IP:127.0.0.1");
    let mut plain = Server::start(&["--no-history", "--client-ca", &cert]);
    plain
        .proc
        .stderr
        .expect("is set but the server is not serving TLS");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (elsewhere, elsewhere_key) = pki.ec("elsewhere", "DNS:example.com");
    let mut s = Server::tls(&cert, &key, &["--no-history"]);
    s.proc.stderr.expect("other users can read the private key");
    let mut s = Server::tls(&elsewhere, &elsewhere_key, &["--no-history"]);
    s.proc
        .stderr
        .expect("127.0.0.1 not among the certificate's names (example.com)");
}

#[test]
fn check_probes_show_what_they_probed_and_present_a_client_certificate() {
    // Item 11.
    let pki = Pki::new();
    let ca = pki.ca();
    let (leaf, leaf_key) = pki.issued(
        "srv",
        "DNS:localhost,IP:127.0.0.1",
        "20240101000000Z",
        "20991231000000Z",
    );
    let (client, client_key) =
        pki.issued("client", "DNS:alice", "20240101000000Z", "20991231000000Z");
    let mtls = Server::start(&[
        "--tls",
        "--cert",
        &leaf,
        "--key",
        &leaf_key,
        "--client-ca",
        &ca,
        "--no-history",
    ]);
    let target = format!("127.0.0.1:{}", mtls.port());
    let home = mtls.home.path();
    let without = run(home, &["check", &target, "--cert", &ca]).go();
    assert_ne!(without.code, 0);
    without
        .stdout_has("requires a client certificate")
        .for_people();
    assert!(!without.stdout.contains("settings:"), "{without:#?}");
    run(
        home,
        &[
            "check",
            &target,
            "--cert",
            &ca,
            "--client-cert",
            &client,
            "--client-key",
            &client_key,
        ],
    )
    .go()
    .code(0)
    .stdout_has("hello: tcpplay/");
    let port = free_port().to_string();
    run(home, &["check", "--local", "--port", &port])
        .go()
        .stdout_has(&format!("serve.port = {port}"))
        .stdout_has(&format!(":{port} can be bound"));
}

/// Prompts in a real terminal (rexpect): flags are answers, Ctrl-D cancels.
#[test]
fn prompts_follow_the_flags_and_ctrl_d_cancels() {
    // Item 12.
    use rexpect::process::WaitStatus;
    use rexpect::session::spawn_command;
    let home = TempDir::new().unwrap();
    // The port comes from a lower layer (the config file), never from a
    // port this test did not get from the system: a chat someone runs on
    // 12345 beside the tests is left alone.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(
        home.path().join("tcpplay.toml"),
        format!("[join]\nport = {port}\n"),
    )
    .unwrap();
    let mut cmd = tcpplay(home.path());
    cmd.args(["join", "--host", "127.0.0.1", "--name", "Bob", "--no-tls"]);
    let mut p = spawn_command(cmd, Some(WAIT.as_millis() as u64)).unwrap();
    // Straight to connecting, to the port the lower layer says.
    let before = p.exp_string(&format!("127.0.0.1:{port}")).unwrap();
    assert!(
        !before.contains("Server port"),
        "asked for the port: {before}"
    );
    // It did connect there; closing that connection ends it.
    drop(listener.accept().unwrap());
    let _ = p.exp_eof();
    // Nothing said at all: the guided way in asks where to connect.
    let fresh = TempDir::new().unwrap();
    let mut cmd = tcpplay(fresh.path());
    cmd.args(["join"]);
    let mut p = spawn_command(cmd, Some(WAIT.as_millis() as u64)).unwrap();
    p.exp_string("Server host or IP address").unwrap();
    p.send("\x04").unwrap();
    p.flush().unwrap();
    p.exp_string("cancelled").unwrap();
    match p.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => assert_eq!(code, 130),
        other => panic!("{other:?}"),
    }
}

/// A Python legacy client and `tcpplay join` in one room (both directions
/// of the original protocol meet here).
#[test]
fn a_python_client_and_join_chat_in_one_room() {
    let server = Server::start(&["--no-history"]);
    let mut j = server.join(&["--name", "rusty", "--no-tls"]);
    j.stderr.expect("Authenticated as rusty");
    let mut py = python("legacy_client.py");
    py.args([
        "127.0.0.1",
        &server.port(),
        "snake",
        "--say",
        "hiss",
        "--seconds",
        "5",
    ]);
    let mut p = Proc::spawn(py);
    j.stdout.expect("snake: hiss");
    j.send_line("hello snake");
    let line = p.stdout.expect("hello snake");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["from"].as_str()),
        (Some("chat"), Some("rusty"))
    );
    let _: &Lines = &p.stdout;
}
