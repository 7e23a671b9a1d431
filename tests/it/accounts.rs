//! Accounts, certificate-bound names and room operators, over real TLS
//! sockets: the real `serve` and `join` binaries, and raw protocol peers
//! where a legacy client or a measurement needs one.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tempfile::TempDir;

// The account helpers live in util.rs; other files still reach them here.
pub(crate) use crate::util::accounts::{client_pki, gen_account, join, serve};
use crate::util::{make_cert, tcpplay, CertFiles, Peer, Proc, Server};

/// The first `auth_result` a raw peer gets for `auth` over TLS.
fn raw_auth(server: &Server, cert: &CertFiles, auth: serde_json::Value) -> serde_json::Value {
    let mut p = Peer::connect_tls(server.addr, &cert.cert);
    assert_eq!(p.recv()["type"], "hello");
    p.send(auth);
    p.recv_type("auth_result")
}

#[test]
fn a_registered_name_logs_in_with_its_password_and_is_refused_to_guests_and_legacy_clients() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let server = serve(&cert, dir.path(), "[serve]\nregistration = \"open\"\n", &[]);
    let hello = raw_auth(
        &server,
        &cert,
        json!({"type": "auth", "name": "probe", "proto": 3}),
    );
    assert_eq!(hello["ok"], true);

    let mut carol = join(&server, &cert, "carol", Some("carol-pw-1"), &["--register"]);
    carol.stdout.expect("the name carol is registered to you");
    carol.send_line("/users");
    carol.stdout.expect("+carol");
    carol.close_stdin();
    assert_eq!(carol.wait(), 0);

    // A guest under the name, in any case: refused, with what to do.
    let mut guest = join(&server, &cert, "Carol", None, &[]);
    assert_eq!(guest.wait(), 1);
    guest
        .stderr
        .expect("the name Carol is registered: log in with its password");
    // The Python original's auth (no proto), and tcpplay's own: the same refusal.
    for auth in [
        json!({"type": "auth", "name": "carol"}),
        json!({"type": "auth", "name": "CAROL", "proto": 3}),
    ] {
        let r = raw_auth(&server, &cert, auth);
        assert_eq!(r["ok"], false, "{r}");
        assert_eq!(r["code"], "name_registered", "{r}");
    }

    // With the password: logged in.
    let mut back = join(&server, &cert, "carol", Some("carol-pw-1"), &[]);
    back.stderr
        .expect("Authenticated as carol (logged in to the account carol)");
    back.close_stdin();
    assert_eq!(back.wait(), 0);

    // A wrong password, and a name with no account: the same refusal.
    for name in ["carol", "nobody"] {
        let mut wrong = join(&server, &cert, name, Some("not-it"), &[]);
        assert_eq!(wrong.wait(), 1, "{name}");
        wrong.stderr.expect(
            "did not verify: there is no such account on this server, or the password is wrong",
        );
    }
}

#[test]
fn a_password_change_and_an_unregister_take_effect_at_once() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("accounts.sqlite3");
    gen_account(dir.path(), &db, "dana", "old-password");
    let server = serve(&cert, dir.path(), "", &[]);
    let new_pw = dir.path().join("new.txt");
    std::fs::write(&new_pw, "new-password\n").unwrap();
    let mut dana = join(
        &server,
        &cert,
        "dana",
        Some("old-password"),
        &[
            "--change-password",
            "--new-password-file",
            new_pw.to_str().unwrap(),
        ],
    );
    dana.stdout
        .expect("the password of the account dana is changed");
    dana.close_stdin();
    assert_eq!(dana.wait(), 0);

    let mut old = join(&server, &cert, "dana", Some("old-password"), &[]);
    assert_eq!(old.wait(), 1);
    let mut new = join(&server, &cert, "dana", Some("new-password"), &[]);
    new.stderr.expect("logged in to the account dana");
    new.send_line("/unregister");
    new.stdout.expect("the account dana is gone");
    new.close_stdin();
    assert_eq!(new.wait(), 0);

    let mut guest = join(&server, &cert, "dana", None, &[]);
    guest.stderr.expect("Authenticated as dana");
    guest.close_stdin();
    assert_eq!(guest.wait(), 0);
}

#[test]
fn registration_closed_or_too_fast_is_refused_with_its_code() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let closed = serve(&cert, dir.path(), "", &["--registration", "closed"]);
    let mut eve = join(&closed, &cert, "eve", Some("eve-password"), &["--register"]);
    eve.stdout
        .expect("registration is closed on this server (serve.registration) (registration_closed)");
    // A script's registration that failed fails the script.
    eve.close_stdin();
    assert_eq!(eve.wait(), 1);
    // A server with no accounts at all: said before anything is sent.
    let plain = Server::start(&["--no-history"]);
    let mut cmd = tcpplay(plain.home.path());
    cmd.args([
        "join",
        &format!("127.0.0.1:{}", plain.port()),
        "--no-tls",
        "--name",
        "gus",
    ])
    .args(["--register"])
    .env("TCPPLAY_ACCOUNT_PASSWORD", "gus-password");
    let mut gus = Proc::spawn(cmd);
    gus.stderr
        .expect("the registration not sent: this server has no accounts");
    gus.close_stdin();
    assert_eq!(gus.wait(), 1);
    drop(closed);

    let dir = TempDir::new().unwrap();
    let open = serve(&cert, dir.path(), "", &["--registration", "open"]);
    for (i, name) in ["r1", "r2", "r3", "r4"].iter().enumerate() {
        let mut p = join(&open, &cert, name, Some("a-password"), &["--register"]);
        if i < 3 {
            p.stdout.expect("is registered to you");
        } else {
            p.stdout.expect("(registration_throttled)");
        }
        p.close_stdin();
        p.wait();
    }
}

#[test]
fn accounts_need_tls() {
    let home = TempDir::new().unwrap();
    let out = tcpplay(home.path())
        .args([
            "serve",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--registration",
            "open",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("accounts need TLS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn under_client_ca_the_name_is_the_certificates_or_the_account_it_is_bound_to() {
    let pki = TempDir::new().unwrap();
    let ca = client_pki(pki.path(), &["alice"]);
    let p = |f: &str| pki.path().join(f).to_str().unwrap().to_string();
    let db = pki.path().join("accounts.sqlite3");
    gen_account(pki.path(), &db, "teach", "teach-password");
    let cfg = pki.path().join("tcpplay.toml");
    std::fs::write(&cfg, "").unwrap();
    let home = Arc::new(TempDir::new().unwrap());
    let server = Server::start_with(
        &[
            "--tls",
            "--cert",
            &p("cert.pem"),
            "--key",
            &p("key.pem"),
            "--client-ca",
            ca.to_str().unwrap(),
            "--accounts",
            db.to_str().unwrap(),
            "--no-history",
        ],
        &[("TCPPLAY_CONFIG", cfg.to_str().unwrap())],
        home,
    );
    let join_as = |name: &str, pw: Option<&str>| {
        let mut cmd = tcpplay(server.home.path());
        cmd.args(["join", "--host", "localhost", "--port", &server.port()])
            .args(["--cert", &p("ca.pem"), "--name", name])
            .args([
                "--client-cert",
                &p("client-alice.pem"),
                "--client-key",
                &p("client-alice-key.pem"),
            ]);
        cmd.env_remove("TCPPLAY_ACCOUNT_PASSWORD");
        if let Some(pw) = pw {
            cmd.env("TCPPLAY_ACCOUNT_PASSWORD", pw);
        }
        Proc::spawn(cmd)
    };
    // Alice's certificate, another name: refused with the reason.
    let mut bob = join_as("bob", None);
    assert_eq!(bob.wait(), 1);
    bob.stderr
        .expect("your client certificate is for alice, not bob: join as alice");
    let mut alice = join_as("alice", None);
    alice.stderr.expect("Authenticated as alice");
    alice.send_line("/nick bob");
    alice.stdout.expect("(name_not_certified)");
    alice.close_stdin();
    assert_eq!(alice.wait(), 0);

    // The account teach, proven by its password, binds this certificate...
    let mut teach = join_as("teach", Some("teach-password"));
    teach.stderr.expect("logged in to the account teach");
    teach.send_line("/certfp add");
    teach
        .stdout
        .expect("now logs in to the account teach without a password");
    teach.close_stdin();
    assert_eq!(teach.wait(), 0);
    // ...which then logs in to it without one.
    let mut again = join_as("teach", None);
    again.stderr.expect("logged in to the account teach");
    again.send_line("/certfp list");
    again.stdout.expect("1 certificate(s) bound to teach");
    again.close_stdin();
    assert_eq!(again.wait(), 0);
}

const CLASS: &str =
    "[serve]\nregistration = \"open\"\n\n[[rooms]]\nname = \"#class\"\noperators = [\"teacher\"]\n";

#[test]
fn room_operators_mute_ban_and_make_a_room_invite_only_and_it_persists_across_a_restart() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("accounts.sqlite3");
    gen_account(dir.path(), &db, "teacher", "teacher-password");
    gen_account(dir.path(), &db, "dave", "dave-password");
    let server = serve(&cert, dir.path(), CLASS, &[]);

    // A guest cannot take an operator's name.
    let mut fake = join(&server, &cert, "Teacher", None, &[]);
    assert_eq!(fake.wait(), 1);
    fake.stderr.expect("registered");

    let mut teacher = join(
        &server,
        &cert,
        "teacher",
        Some("teacher-password"),
        &["--room", "#class", "--listen"],
    );
    teacher.stderr.expect("logged in to the account teacher");
    let mut carol = join(&server, &cert, "carol", None, &["--room", "#class"]);
    carol.stdout.expect("you joined #class");
    teacher.stdout.expect("carol joined");
    carol.send_line("/users");
    carol.stdout.expect("@teacher");

    // A guest is no operator.
    carol.send_line("/mute teacher");
    carol.stdout.expect("(not_operator)");

    teacher.send_line("/mute carol 10m talking over others");
    carol.stdout.expect("teacher muted carol in #class until");
    carol.send_line("can I speak?");
    // A piped line that is refused is said on stderr, with its line number.
    carol.stderr.expect("you are muted in #class");
    teacher.send_line("/unmute carol");
    carol.stdout.expect("lifted the mute on carol");
    carol.send_line("now I can");
    teacher.stdout.expect("carol: now I can");

    teacher.send_line("/topic-lock on");
    carol.stdout.expect("locked the topic of #class");
    carol.send_line("/topic mine now");
    carol.stdout.expect("(topic_locked)");

    teacher.send_line("/ban carol 1d");
    carol.stdout.expect("you are banned from #class");
    carol.send_line("/join #class");
    carol.stdout.expect("(banned)");

    teacher.send_line("/invite-only on");
    teacher.stdout.expect("made #class invite-only");
    // dave has an account: the ban on carol holds guests from her
    // address (this one), not another account.
    let mut dave = join(
        &server,
        &cert,
        "dave",
        Some("dave-password"),
        &["--room", "#class"],
    );
    dave.stdout.expect("(invite_only)");
    teacher.send_line("/invite dave");
    teacher.stdout.expect("teacher invited dave to #class");
    dave.send_line("/join #class");
    dave.stdout.expect("you joined #class");
    drop((dave, carol, teacher));

    // The rules live with the room: after a restart, the ban still holds.
    let Server { proc, home, .. } = server;
    drop(proc);
    drop(home);
    let server = serve(&cert, dir.path(), CLASS, &[]);
    let mut carol = join(&server, &cert, "carol", None, &["--room", "#class"]);
    carol.stdout.expect("you are banned from #class");
    let mut dave = join(
        &server,
        &cert,
        "dave",
        Some("dave-password"),
        &["--room", "#class"],
    );
    dave.stdout.expect("you joined #class");
}

#[test]
fn the_console_bans_an_address_everywhere_it_is_asked_and_lists_the_rules() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let mut server = serve(&cert, dir.path(), CLASS, &[]);
    let mut carol = join(&server, &cert, "carol", None, &["--room", "#class"]);
    carol.stdout.expect("you joined #class");
    let stdin = server.proc.stdin.as_mut().unwrap();
    use std::io::Write;
    writeln!(stdin, "/ban #class address:carol 1h spamming").unwrap();
    stdin.flush().unwrap();
    carol.stdout.expect("you are banned from #class");
    // Another name from the same address: still out.
    let mut again = join(&server, &cert, "carol2", None, &["--room", "#class"]);
    again.stdout.expect("(banned)");
    server.proc.send_line("/bans #class");
    server
        .proc
        .stdout
        .expect("ban address:127.0.0.1 (carol) until");
}

/// The server's answer to an account login takes as long for a name with no
/// account as for a wrong password (OPAQUE's fake record): measured, with a
/// loose bound (a factor of 3 between medians) against a broken fake path,
/// not a tight one on a shared machine.
#[test]
fn a_login_to_no_account_and_a_wrong_password_take_the_same_time() {
    use tcpplay::crypto::room::ClientStart;
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("accounts.sqlite3");
    gen_account(dir.path(), &db, "real", "real-password");
    let server = serve(
        &cert,
        dir.path(),
        "[limits]\nauth_failures = 1000\nauth_failures_total = 100000\n",
        &[],
    );
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let start = ClientStart::new(b"a wrong password").unwrap();
    let ke1 = base64_of(&start.ke1);
    for round in 0..24 {
        let (i, name) = if round % 2 == 0 {
            (0, "real")
        } else {
            (1, "ghost")
        };
        let mut p = Peer::connect_tls(server.addr, &cert.cert);
        assert_eq!(p.recv()["type"], "hello");
        let t = Instant::now();
        p.send(json!({"type": "auth", "name": name, "proto": 3, "account_ke1": ke1}));
        let step = p.recv_type("auth_step");
        times[i].push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(step["account_ke2"].is_string(), "{step}");
        // The same answer to what follows: no KE3 (the client found the password wrong).
        p.send(json!({"type": "bye", "reason": ""}));
        let r = p.recv_type("auth_result");
        assert_eq!(r["code"], "account_auth_failed", "{r}");
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (known, unknown) = (median(&mut times[0]), median(&mut times[1]));
    eprintln!(
        "account login KE2: wrong password median {known:.2} ms, no such account {unknown:.2} ms"
    );
    assert!(
        known < unknown * 3.0 && unknown < known * 3.0,
        "medians {known:.2} ms vs {unknown:.2} ms"
    );
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A secure room with accounts: the room's login first, then the
/// account's, on one TLS connection; the member is in the room as the
/// account, and a wrong account password still ends it with one answer.
#[test]
fn in_a_secure_room_the_account_logs_in_after_the_room() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("accounts.sqlite3");
    gen_account(dir.path(), &db, "fay", "fays-password");
    let room_pw = dir.path().join("room.txt");
    std::fs::write(&room_pw, "the-room-password\n").unwrap();
    let server = serve(
        &cert,
        dir.path(),
        "",
        &["--secure", "--password-file", room_pw.to_str().unwrap()],
    );
    let pw = room_pw.to_str().unwrap();
    let mut fay = join(
        &server,
        &cert,
        "fay",
        Some("fays-password"),
        &["--password-file", pw],
    );
    fay.stderr.expect("logged in to the account fay");
    fay.stderr
        .expect("secure room: each side proved itself to the other");
    fay.send_line("/users");
    fay.stdout.expect("+fay");
    fay.close_stdin();
    assert_eq!(fay.wait(), 0);
    let mut wrong = join(
        &server,
        &cert,
        "fay",
        Some("not-fays"),
        &["--password-file", pw],
    );
    assert_eq!(wrong.wait(), 1);
    wrong
        .stderr
        .expect("the account login for fay did not verify");
}
