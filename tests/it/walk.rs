//! The newcomer's walk, second pass (issue 45): where the program or the
//! docs sent a new user the wrong way — a stale pin, a silent port, the
//! history's file and folder, the CA to trust, habits from elsewhere, a
//! kicked member — each said the way a user can act on.

use std::path::Path;

use crate::util::*;

/// Pinned by the link `serve` prints, the server's certificate renewed in
/// place (and reloaded): a plain join names the pin's file and line, both
/// fingerprints and the command that forgets it; forgotten, the new link
/// pins the new certificate and HOST:PORT works again.
#[test]
fn a_changed_certificate_names_the_pin_its_line_both_fingerprints_and_how_to_forget_it() {
    let old = make_cert();
    let new = make_cert();
    let mut server = Server::tls(&old.cert, &old.key, &["--no-history"]);
    let student = home();
    let hp = format!("127.0.0.1:{}", server.port());
    let link = |fp: &str| format!("tcpplay://{hp}/?fp={fp}");
    run(
        student.path(),
        &["join", &link(&old.fingerprint), "--name", "ann"],
    )
    .stdin(b"hi\n")
    .go()
    .code(0)
    .stderr_has("Pinned the link's certificate");
    // The operator renews the certificate where it was, and reloads.
    std::fs::copy(&new.cert, &old.cert).unwrap();
    std::fs::copy(&new.key, &old.key).unwrap();
    server.proc.signal(libc::SIGHUP);
    server.proc.stderr.expect("reloaded");
    let ran = run(student.path(), &["join", &hp, "--name", "ann"])
        .stdin(b"hi\n")
        .go();
    ran.code(1)
        .stderr_has("HAS CHANGED")
        .stderr_has(&format!("pinned: SHA-256 {}", old.fingerprint))
        .stderr_has(&format!("now:    SHA-256 {}", new.fingerprint))
        .stderr_has("tcpplay/known_hosts line 4)")
        .stderr_has(&format!("`tcpplay join --forget-host {hp}`"))
        .for_people();
    run(student.path(), &["join", "--forget-host", &hp])
        .go()
        .code(0)
        .stdout_has(&format!("forgot {hp} in "))
        .stdout_has(&format!(
            "the pinned certificate SHA-256 {} (line 4)",
            old.fingerprint
        ));
    run(
        student.path(),
        &["join", &link(&new.fingerprint), "--name", "ann"],
    )
    .stdin(b"hi\n")
    .go()
    .code(0);
    run(student.path(), &["join", &hp, "--name", "ann"])
        .stdin(b"hi\n")
        .go()
        .code(0)
        .stderr_has(&new.fingerprint);
}

/// README's examples share port 12345: the secure room, then the
/// classroom's TLS server, then a plaintext one, on one port (here one the
/// system gave) with one user's `known_hosts`. Each refusal names what
/// known_hosts remembers, where, and `--forget-host`, which clears it.
#[test]
fn readme_examples_on_one_port_say_what_known_hosts_remembers_and_forget_host_clears_it() {
    let home = home();
    let cert = make_cert();
    let (c, k) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
    let pw = home.path().join("room-password.txt");
    std::fs::write(&pw, "correct horse battery staple\n").unwrap();
    let pw = pw.to_str().unwrap();
    let secure = Server::start_with(
        &[
            "--secure",
            "--password-file",
            pw,
            "--cert",
            c,
            "--key",
            k,
            "--no-history",
        ],
        &[],
        home.clone(),
    );
    let port = secure.port();
    let hp = format!("localhost:{port}");
    let join = |extra: &[&str]| {
        let mut args = vec!["join", hp.as_str()];
        args.extend_from_slice(extra);
        run(home.path(), &args).stdin(b"hi\n").go()
    };
    join(&["--cert", c, "--name", "Alice", "--password-file", pw]).code(0);
    drop(secure);

    // The classroom: TLS, not a secure room, on the same port.
    let class = Server::start_with(
        &[
            "--port",
            &port,
            "--tls",
            "--cert",
            c,
            "--key",
            k,
            "--no-history",
        ],
        &[],
        home.clone(),
    );
    join(&["--cert", c, "--name", "teacher"])
        .code(1)
        .stderr_has("it was a secure room before")
        .stderr_has(&format!(
            "known_hosts line 4 remembers {hp} as a secure room"
        ))
        .stderr_has(&format!("`tcpplay join --forget-host {hp}`"))
        .for_people();
    run(home.path(), &["join", "--forget-host", &hp])
        .go()
        .code(0)
        .stdout_has("that it is a secure room (line 4)");
    join(&["--cert", c, "--name", "teacher"]).code(0);

    // Pinned by the link, then a plaintext server takes the port: the pin
    // is named, not flags that were never given.
    let link = format!("tcpplay://{hp}/?fp={}", cert.fingerprint);
    run(home.path(), &["join", &link, "--name", "Bob"])
        .stdin(b"hi\n")
        .go()
        .code(0)
        .stderr_has("Pinned the link's certificate");
    drop(class);
    let _plain = Server::start_with(&["--port", &port, "--no-history"], &[], home.clone());
    let ran = join(&["--name", "Bob"]);
    ran.code(1)
        .stderr_has(&format!(
            "{hp} speaks plaintext now, but its certificate is pinned"
        ))
        .stderr_has(&cert.fingerprint)
        .stderr_has("known_hosts line 4")
        .stderr_has(&format!("`tcpplay join --forget-host {hp}`"))
        .for_people();
    assert!(!ran.stderr.contains("a link's fp="), "{ran:#?}");
    run(home.path(), &["join", "--forget-host", &hp])
        .go()
        .code(0);
    join(&["--name", "Bob"]).code(0).stderr_has("NOT ENCRYPTED");
}

/// Something that accepts and says nothing is not blamed on a slow TLS
/// handshake: `join` says the port is not a tcpplay server, and README's
/// Troubleshooting says the same words.
#[test]
fn a_port_that_accepts_and_says_nothing_is_not_a_tcpplay_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Holds each connection open, silent, until the test ends.
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let home = home();
    let target = format!("127.0.0.1:{port}");
    let ran = run(
        home.path(),
        &["join", &target, "--name", "ann", "--timeout", "1"],
    )
    .go();
    ran.code(1)
        .stderr_has(&format!(
            "{target} accepted the connection but said nothing"
        ))
        .stderr_has(&format!("this port ({port}) is not a tcpplay server"))
        .for_people();
    assert!(
        !ran.stderr.contains("while in the TLS handshake"),
        "{ran:#?}"
    );
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(
        readme
            .contains("accepted the connection but said nothing …: this port (N) is not a tcpplay"),
        "README's Troubleshooting names the message"
    );
}

/// `serve --check-config --bind localhost` names the history file the
/// real server then opens (127.0.0.1-PORT, not 0.0.0.0-PORT): the only one
/// in the folder once both ran.
#[test]
fn check_config_names_the_history_file_the_server_opens() {
    let home = home();
    let port = free_port().to_string();
    let args = ["serve", "--bind", "localhost", "--port", &port];
    let ran = run(home.path(), &[&args[..], &["--check-config"]].concat()).go();
    ran.code(0);
    let said = ran
        .stdout
        .split("history in ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no history file named: {ran:#?}"))
        .to_string();
    let said = Path::new(&said);
    let _server = Server::start_with(&args[1..], &[], home.clone());
    let name = said.file_name().unwrap().to_string_lossy().into_owned();
    let files: Vec<String> = std::fs::read_dir(said.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().all(|f| f.starts_with(&name)),
        "--check-config named {name}; the folder holds {files:?}"
    );
}

/// A `--history` whose folder does not exist: a warning naming the folder
/// and how to make it, said once; the server runs, without history.
#[test]
fn a_history_folder_that_does_not_exist_is_a_warning_and_the_server_runs() {
    let mut server = Server::start_with(&["--history", "no/such/dir/h.sqlite3"], &[], home());
    let (mut ann, _) = Peer::join(server.addr, "ann");
    ann.send(serde_json::json!({"type": "chat", "text": "still chatting"}));
    ann.recv_chat("still chatting");
    let warning = server.proc.stderr.expect("does not exist");
    assert!(
        warning.contains("the folder no/such/dir (of no/such/dir/h.sqlite3) does not exist")
            && warning.contains("WITHOUT history")
            && warning.contains("mkdir -p no/such/dir"),
        "{warning}"
    );
    server.proc.signal(libc::SIGTERM);
    assert_eq!(server.proc.wait(), 0);
    let rest = server.proc.stderr.rest();
    let all = [server.proc.stderr.seen(), &rest[..]].concat().join("\n");
    assert_eq!(
        all.matches("--no-history").count(),
        1,
        "advice said once: {all}"
    );
    assert_eq!(all.matches("mkdir").count(), 1, "advice said once: {all}");
}

/// After `gen-cert --ca`, `serve` tells clients to trust the CA, as
/// gen-cert did — and that line joins.
#[test]
fn after_gen_cert_ca_serve_tells_clients_to_trust_the_ca() {
    let home = home();
    run(home.path(), &["gen-cert", "--ca"])
        .go()
        .code(0)
        .stdout_has("--cert ca.pem");
    let mut server = Server::start_with(
        &[
            "--tls",
            "--cert",
            "cert.pem",
            "--key",
            "key.pem",
            "--no-history",
        ],
        &[],
        home.clone(),
    );
    let line = server.proc.stdout.expect(" --cert ");
    assert!(line.contains("--cert ca.pem"), "{line}");
    let hp = format!("localhost:{}", server.port());
    run(
        home.path(),
        &["join", &hp, "--cert", "ca.pem", "--name", "ann"],
    )
    .stdin(b"hi\n")
    .go()
    .code(0);
}

/// Words from the original and from nc: a usage error that names the
/// command meant; `tcpplay man` alone shows tcpplay(1).
#[test]
fn other_programs_words_name_the_command_and_man_alone_shows_the_manual() {
    let home = home();
    for (word, meant) in [
        ("host", "serve"),
        ("server", "serve"),
        ("client", "join"),
        ("connect", "join"),
    ] {
        run(home.path(), &[word])
            .go()
            .code(2)
            .stderr_has(&format!("unrecognized subcommand '{word}'"))
            .stderr_has(&format!("did you mean `{meant}`?"))
            .stderr_has("Usage: tcpplay");
    }
    run(home.path(), &["man"])
        .go()
        .code(0)
        .stdout_has(".TH TCPPLAY 1 ");
    run(home.path(), &["man", "join"])
        .go()
        .code(0)
        .stdout_has(".TH TCPPLAY-JOIN 1 ");
    run(home.path(), &["man", "nope"])
        .go()
        .code(2)
        .stderr_has("no manual page for 'nope'");
}

/// `/topic` alone shows the topic; one replayed message is "1 earlier
/// message".
#[test]
fn topic_alone_shows_the_topic_and_one_earlier_message_is_singular() {
    let server = Server::start(&[]);
    let port = server.port();
    let join = |name: &str, input: &[u8]| {
        run(
            server.home.path(),
            &[
                "join",
                &format!("127.0.0.1:{port}"),
                "--name",
                name,
                "--no-tls",
                "--room",
                "#maths",
            ],
        )
        .stdin(input)
        .go()
    };
    join(
        "ann",
        b"/topic Algebra today\n/topic\n/topic #nowhere\nthat is all\n",
    )
    .code(0)
    .stdout_has("*** topic of #maths: Algebra today")
    .stdout_has("*** #nowhere is not among the server's rooms");
    join("bob", b"here\n")
        .code(0)
        .stdout_has("-- 1 earlier message above --");
}

/// A room kick (not a disconnect) and a ban: the member reads that it is
/// out of the room and why, where its lines go now, how to come back, and
/// for a ban, until when.
#[test]
fn a_kicked_member_reads_it_is_out_of_the_room_and_how_to_come_back() {
    let mut server = Server::start(&["--no-history"]);
    let mut bob = server.join(&["--name", "bob", "--no-tls", "--room", "#class"]);
    bob.stdout.expect("you joined #class");
    bob.stdout.expect("1 connected");
    server.proc.send_line("/kick #class bob calm down");
    let out = bob.stdout.expect("you are out of #class");
    assert!(out.contains("calm down"), "{out}");
    let hint = bob.stdout.expect("you are in no room now");
    assert!(hint.contains("/join #class to come back"), "{hint}");
    bob.send_line("/join #class");
    bob.stdout.expect("you joined #class");
    server.proc.send_line("/ban #class bob 1h");
    let out = bob.stdout.expect("you are out of #class");
    assert!(out.contains("banned") && out.contains("until "), "{out}");
    let hint = bob.stdout.expect("you are in no room now");
    assert!(hint.contains("refused while a ban holds"), "{hint}");
    bob.close_stdin();
    assert_eq!(bob.wait(), 0);
}
