//! `tcpplay join` as a person uses it: in a pseudo-terminal (rexpect), with
//! the prompts, the line editor, Ctrl-C and trust on first use.
#![cfg(unix)]

use std::process::Command;

use rexpect::process::WaitStatus;
use rexpect::session::{spawn_command, PtySession};
use serde_json::json;

use crate::util::{make_cert, tcpplay, Peer, Server, WAIT};

fn pty(cmd: Command) -> PtySession {
    spawn_command(cmd, Some(WAIT.as_millis() as u64)).expect("spawn in a pty")
}

/// The output ends (bounded by the session's timeout), then the exit status.
fn exited_ok(p: &mut PtySession) -> bool {
    p.exp_eof().expect("the client exits");
    match p.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code == 0,
        other => panic!("ended by {other:?}"),
    }
}

/// Send raw keys (no Enter).
fn keys(p: &mut PtySession, s: &str) {
    p.send(s).unwrap();
    p.flush().unwrap();
}

/// Type `s` into the line editor as a person does: a key, then its echo.
fn type_text(p: &mut PtySession, s: &str) {
    for c in s.chars() {
        keys(p, &c.to_string());
        p.exp_char(c).unwrap();
    }
}

#[test]
fn prompts_ask_re_ask_a_bad_port_and_the_typed_line_survives_incoming_messages() {
    let server = Server::start(&[]);
    let (mut bob, _) = Peer::join_v1(server.addr, "bob");
    let mut cmd = tcpplay(server.home.path());
    cmd.args(["join", "--no-tls"]);
    let mut p = pty(cmd);
    p.exp_string("Server host or IP address").unwrap();
    p.send_line("127.0.0.1").unwrap();
    p.exp_string("Server port").unwrap();
    p.send_line("70000").unwrap();
    p.exp_string("'70000' is not a port: enter a number from 1 to 65535")
        .unwrap();
    // Clear the rejected text, then the right port.
    for _ in 0..5 {
        keys(&mut p, "\x7f");
    }
    p.send_line(&server.port()).unwrap();
    p.exp_string("Your user name").unwrap();
    p.send_line("pty user").unwrap();
    p.exp_string("Authenticated as pty user").unwrap();
    bob.recv_system("pty user joined");
    p.exp_string("> ").unwrap();
    // Half a line typed when a message arrives...
    type_text(&mut p, "half typed");
    bob.send(json!({"type": "chat", "text": "interrupting line"}));
    p.exp_string("interrupting line").unwrap();
    // ...is still there to finish and send.
    type_text(&mut p, " and finished");
    keys(&mut p, "\r");
    assert_eq!(bob.recv_chat("half typed and finished")["from"], "pty user");
    // Tab completes a command.
    type_text(&mut p, "/us");
    keys(&mut p, "\t");
    p.exp_string("ers").unwrap();
    keys(&mut p, "\r");
    p.exp_string("2 here: bob (").unwrap();
    type_text(&mut p, "/quit");
    keys(&mut p, "\r");
    assert!(exited_ok(&mut p));
}

/// A line typed right after the name, while `join` still connects, is not
/// lost: it is sent once joined (issue 45).
#[test]
fn a_line_typed_while_join_connects_is_sent_once_joined() {
    let server = Server::start(&["--no-history"]);
    let (mut bob, _) = Peer::join_v1(server.addr, "bob");
    let mut cmd = tcpplay(server.home.path());
    cmd.args(["join", &format!("127.0.0.1:{}", server.port()), "--no-tls"]);
    let mut p = pty(cmd);
    p.exp_string("Your user name").unwrap();
    // The name and the first line in one go, before join has connected.
    keys(&mut p, "ahead\rtyped while connecting\r");
    p.exp_string("Authenticated as ahead").unwrap();
    assert_eq!(bob.recv_chat("typed while connecting")["from"], "ahead");
    type_text(&mut p, "/quit");
    keys(&mut p, "\r");
    assert!(exited_ok(&mut p));
}

#[test]
fn ctrl_c_leaves_and_restores_the_terminal() {
    let server = Server::start(&[]);
    let bin = env!("CARGO_BIN_EXE_tcpplay");
    let mut cmd = tcpplay(server.home.path());
    // The shell prints the terminal's mode after join returns.
    cmd.env("TCPPLAY_BIN", bin).env("PORT", server.port());
    // The terminal's settings before and after join (and during, for contrast).
    let script = r#"before=$(stty -g); "$TCPPLAY_BIN" join --no-tls --host 127.0.0.1 --port "$PORT" --name ctrl; echo "exit=$?"; if [ "$before" = "$(stty -g)" ]; then echo "terminal RESTORED"; else echo "terminal CHANGED"; fi"#;
    let mut sh = Command::new("sh");
    sh.args(["-c", script]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.current_dir(server.home.path());
    let mut p = pty(sh);
    p.exp_string("Authenticated as ctrl").unwrap();
    p.exp_string("> ").unwrap();
    type_text(&mut p, "half typed");
    p.send_control('c').unwrap();
    p.flush().unwrap();
    p.exp_string("exit=0").unwrap();
    let (_, verdict) = p.exp_regex("terminal (RESTORED|CHANGED)").unwrap();
    assert_eq!(verdict, "terminal RESTORED");
}

#[test]
fn trust_on_first_use_pins_the_certificate_and_refuses_a_changed_one() {
    let cert = make_cert();
    let other = make_cert();
    let server = Server::start(&[
        "--cert",
        cert.cert.to_str().unwrap(),
        "--key",
        cert.key.to_str().unwrap(),
    ]);
    let home = tempfile::TempDir::new().unwrap();
    let join = |name: &str| {
        let mut c = tcpplay(home.path());
        c.args([
            "join",
            "--host",
            "localhost",
            "--port",
            &server.port(),
            "--name",
            name,
        ]);
        c
    };
    let mut p = pty(join("first"));
    p.exp_string(&cert.fingerprint).unwrap();
    p.exp_string("Trust this certificate").unwrap();
    keys(&mut p, "y\r");
    p.exp_string("Pinned in").unwrap();
    p.exp_string("Authenticated as first").unwrap();
    p.exp_string("> ").unwrap();
    type_text(&mut p, "/quit");
    keys(&mut p, "\r");
    assert!(exited_ok(&mut p));
    let file = home.path().join(".local/share/tcpplay/known_hosts");
    let pins = std::fs::read_to_string(&file).unwrap();
    let target = format!("localhost:{}", server.port());
    assert!(
        pins.contains(&format!("{target} {}", cert.fingerprint)),
        "{pins}"
    );

    // Pinned: the next join asks nothing (not even on a pipe) and connects.
    let mut again = crate::util::Proc::spawn(join("second"));
    again.stderr.expect("Authenticated as second");
    again.close_stdin();
    assert_eq!(again.wait(), 0);

    // The pin no longer matches what the server shows: refused, loudly.
    std::fs::write(&file, format!("{target} {}\n", other.fingerprint)).unwrap();
    let mut changed = crate::util::Proc::spawn(join("third"));
    changed.stderr.expect("HAS CHANGED");
    assert_eq!(changed.wait(), 1);
    let rest = changed.stderr.rest();
    let said = [changed.stderr.seen(), &rest[..]].concat().join("\n");
    assert!(
        said.contains(&other.fingerprint) && said.contains(&cert.fingerprint),
        "both fingerprints shown: {said}"
    );
}

#[test]
fn rooms_in_the_terminal_join_switch_tab_complete_and_label_lines() {
    let server = Server::start(&["--no-history"]);
    let mut cmd = tcpplay(server.home.path());
    cmd.args([
        "join",
        "--no-tls",
        "--host",
        "127.0.0.1",
        "--port",
        &server.port(),
        "--name",
        "ptyroom",
        "--room",
        "#alpha",
    ]);
    let mut p = pty(cmd);
    p.exp_string("you joined #alpha").unwrap();
    p.exp_string("> ").unwrap();
    // A second room: typed lines now go there, and lines say their room.
    type_text(&mut p, "/join #beta");
    keys(&mut p, "\r");
    p.exp_string("you joined #beta").unwrap();
    p.exp_string("typed lines go to #beta").unwrap();
    let mut peer = Peer::connect(server.addr);
    peer.recv();
    peer.send(json!({"type": "auth", "name": "watcher", "proto": 3, "rooms": ["#alpha"]}));
    peer.recv_type("joined");
    peer.send(json!({"type": "chat", "room": "#alpha", "text": "hello alpha"}));
    p.exp_string("[#alpha] watcher: hello alpha").unwrap();
    // Tab completes the room name after /switch.
    type_text(&mut p, "/switch #al");
    keys(&mut p, "\t");
    p.exp_string("pha").unwrap();
    keys(&mut p, "\r");
    p.exp_string("typed lines now go to #alpha").unwrap();
    type_text(&mut p, "back in alpha");
    keys(&mut p, "\r");
    let c = peer.recv_chat("back in alpha");
    assert_eq!(
        (c["from"].as_str(), c["room"].as_str()),
        (Some("ptyroom"), Some("#alpha"))
    );
    p.exp_string("[#alpha] ptyroom: back in alpha").unwrap();
    type_text(&mut p, "/quit");
    keys(&mut p, "\r");
    assert!(exited_ok(&mut p));
}

/// Typed mistakes are answered on the screen as they happen; `/quit`
/// after them is a normal end (exit 0), unlike piped input's rule.
#[test]
fn quitting_after_a_mistyped_command_and_a_message_to_nobody_exits_0() {
    let server = Server::start(&["--no-history"]);
    let mut cmd = tcpplay(server.home.path());
    cmd.args([
        "join",
        &format!("127.0.0.1:{}", server.port()),
        "--name",
        "typist",
        "--no-tls",
    ]);
    let mut p = pty(cmd);
    p.exp_string("Authenticated as typist").unwrap();
    p.exp_string("> ").unwrap();
    type_text(&mut p, "/frobnicate");
    keys(&mut p, "\r");
    p.exp_string("unknown command").unwrap();
    type_text(&mut p, "/msg nobody hello");
    keys(&mut p, "\r");
    p.exp_string("nobody").unwrap();
    type_text(&mut p, "/quit");
    keys(&mut p, "\r");
    assert!(exited_ok(&mut p), "interactive /quit exits 0");
}

/// On a terminal a line that names you rings the bell (BEL after the line);
/// `--no-bell` keeps it quiet.
#[test]
fn a_line_that_names_you_rings_the_bell_unless_told_not_to() {
    let server = Server::start(&["--no-history"]);
    let (mut ann, _) = Peer::join_v1(server.addr, "ann");
    for (flags, rings) in [(&[][..], true), (&["--no-bell"][..], false)] {
        let mut cmd = tcpplay(server.home.path());
        cmd.args([
            "join",
            &format!("127.0.0.1:{}", server.port()),
            "--name",
            "bob",
            "--no-tls",
        ]);
        cmd.args(flags);
        let mut p = pty(cmd);
        p.exp_string("Authenticated as bob").unwrap();
        p.exp_string("> ").unwrap();
        ann.send(json!({"type": "chat", "text": "hey bob, look"}));
        p.exp_string("hey bob, look").unwrap();
        ann.send(json!({"type": "chat", "text": "after"}));
        let (between, _) = p.exp_regex("after").unwrap();
        assert_eq!(between.contains('\x07'), rings, "{flags:?}: {between:?}");
        type_text(&mut p, "/quit");
        keys(&mut p, "\r");
        assert!(exited_ok(&mut p));
    }
}

/// On a terminal, a registered name is asked its password (without echo)
/// and the next connection logs in with it.
#[test]
fn a_registered_name_is_asked_its_password_on_a_terminal() {
    let cert = make_cert();
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("accounts.sqlite3");
    crate::util::accounts::gen_account(dir.path(), &db, "alice", "alices-secret");
    let server = crate::util::accounts::serve(&cert, dir.path(), "", &[]);
    let mut cmd = tcpplay(server.home.path());
    cmd.args(["join", &format!("localhost:{}", server.port())])
        .args(["--cert", cert.cert.to_str().unwrap(), "--name", "alice"]);
    let mut p = pty(cmd);
    p.exp_string("the name alice is registered").unwrap();
    p.exp_string("Password of the account alice").unwrap();
    keys(&mut p, "alices-secret\r");
    let before = p.exp_string("logged in to the account alice").unwrap();
    assert!(
        !before.contains("alices-secret"),
        "the password is never echoed: {before:?}"
    );
    p.exp_string("> ").unwrap();
    type_text(&mut p, "/quit");
    keys(&mut p, "\r");
    assert!(exited_ok(&mut p));
}
