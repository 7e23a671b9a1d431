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

/// The teacher who runs `serve` makes a sign-in link for a student's
/// account at the console (`/weblink NAME`): on a terminal only (the link
/// is a password for 10 minutes, and a piped console may be a log), for a
/// registered name only, good once.
#[test]
fn the_console_makes_a_one_time_sign_in_link_on_a_terminal_only() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("accounts.sqlite3");
    gen_account(dir.path(), &db, "Ines", "ines-password");
    let web = ["--web", "127.0.0.1:0"];

    // A console on a pipe makes none.
    let mut piped = serve(&cert, dir.path(), "", &web);
    piped.proc.stdout.expect("open in a browser: ");
    piped.proc.send_line("/weblink Ines");
    piped.proc.stdout.expect("shows one only on a terminal");
    piped.proc.send_line("/users");
    piped.proc.stdout.expect("0 connected");
    assert!(
        !piped
            .proc
            .stdout
            .seen()
            .iter()
            .any(|l| l.contains("signin=")),
        "{:?}",
        piped.proc.stdout.seen()
    );
    drop(piped);

    // On a terminal: a link for a registered name, refused for another.
    let mut cmd = tcpplay(dir.path());
    cmd.args(["serve", "--port", "0", "--bind", "127.0.0.1", "--tls"])
        .args(["--cert", cert.cert.to_str().unwrap()])
        .args(["--key", cert.key.to_str().unwrap()])
        .args(["--accounts", db.to_str().unwrap(), "--no-history"])
        .args(web);
    let mut p =
        rexpect::session::spawn_command(cmd, Some(crate::util::WAIT.as_millis() as u64)).unwrap();
    let (_, ready) = p.exp_regex("listening on [0-9.:]+").unwrap();
    let addr: std::net::SocketAddr = ready.trim_start_matches("listening on ").parse().unwrap();
    p.exp_string("open in a browser: ").unwrap();
    p.send("/weblink nobody\r").unwrap();
    p.flush().unwrap();
    p.exp_string("no account is called 'nobody'").unwrap();
    p.send("/weblink ines\r").unwrap();
    p.flush().unwrap();
    p.exp_string("a sign-in link for Ines, good once within 10 minutes")
        .unwrap();
    let (_, link) = p
        .exp_regex("https://127.0.0.1:[0-9]+/#signin=[0-9a-f]+&name=Ines")
        .unwrap();
    let token = link
        .split("signin=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();

    // The page's login with it: the account, once.
    let login = |token: &str| signin_with(addr, &cert, "Ines", token);
    let first = login(token);
    assert_eq!(
        (&first["ok"], &first["account"]),
        (&json!(true), &json!("Ines")),
        "{first}"
    );
    let again = login(token);
    assert_eq!(
        (&again["ok"], &again["code"]),
        (&json!(false), &json!("account_auth_failed")),
        "{again}"
    );
    p.send("\x03").unwrap();
    p.flush().unwrap();
    p.exp_string("server stopped").unwrap();
}

/// The page's login with a sign-in token, as a raw peer: its `auth_result`.
fn signin_with(
    addr: std::net::SocketAddr,
    cert: &CertFiles,
    name: &str,
    token: &str,
) -> serde_json::Value {
    let mut page = Peer::connect_tls(addr, &cert.cert);
    assert_eq!(page.recv()["type"], "hello");
    page.send(json!({"type": "auth", "name": name, "proto": 3, "signin": token}));
    page.recv_type("auth_result")
}

/// `/weblink` on a logged-in `join`: the token.
fn weblink_token(p: &mut Proc) -> String {
    p.send_line("/weblink");
    let said = p.stdout.expect("#signin=");
    let at = said.find("#signin=").unwrap() + "#signin=".len();
    said[at..].split('&').next().unwrap().to_string()
}

/// A link waiting for an account stops working when its password changes
/// or the account is dropped: a re-made account of the same name is never
/// signed in by the old holder's links.
#[test]
fn a_sign_in_link_dies_with_its_accounts_password_or_the_account() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    gen_account(
        dir.path(),
        &dir.path().join("accounts.sqlite3"),
        "dana",
        "old-password",
    );
    let server = serve(&cert, dir.path(), "", &[]);
    let mut dana = join(&server, &cert, "dana", Some("old-password"), &["--listen"]);
    dana.stderr.expect("logged in to the account dana");
    let before_change = weblink_token(&mut dana);
    drop(dana);
    let new_pw = dir.path().join("new.txt");
    std::fs::write(&new_pw, "new-password\n").unwrap();
    let args = [
        "--change-password",
        "--new-password-file",
        new_pw.to_str().unwrap(),
    ];
    let mut change = join(&server, &cert, "dana", Some("old-password"), &args);
    change
        .stdout
        .expect("the password of the account dana is changed");
    change.close_stdin();
    assert_eq!(change.wait(), 0);
    let r = signin_with(server.addr, &cert, "dana", &before_change);
    assert_eq!(
        (&r["ok"], &r["code"]),
        (&json!(false), &json!("account_auth_failed")),
        "{r}"
    );

    let mut dana = join(&server, &cert, "dana", Some("new-password"), &["--listen"]);
    dana.stderr.expect("logged in to the account dana");
    let before_drop = weblink_token(&mut dana);
    dana.send_line("/unregister");
    dana.stdout.expect("the account dana is gone");
    let r = signin_with(server.addr, &cert, "dana", &before_drop);
    assert_eq!(
        (&r["ok"], &r["code"]),
        (&json!(false), &json!("account_auth_failed")),
        "{r}"
    );
}
