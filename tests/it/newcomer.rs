//! A newcomer's first hour (issue 35): `serve` says where to connect, and
//! `join` takes what it printed — HOST[:PORT] or the `tcpplay://` link.

use std::sync::Arc;

use tempfile::TempDir;

use crate::util::*;

/// The banner line after "join from…" that holds `what`.
fn banner_line(server: &mut Server, what: &str) -> String {
    server.proc.stdout.expect("join from this machine");
    let line = server.proc.stdout.expect(what);
    line.trim().to_string()
}

/// The quoted link out of `tcpplay join '<link>'`.
fn link_of(line: &str) -> String {
    line.split('\'')
        .nth(1)
        .unwrap_or_else(|| panic!("no quoted link in {line:?}"))
        .to_string()
}

#[test]
fn join_takes_host_colon_port_as_ssh_and_nc_do() {
    let server = Server::start(&["--no-history"]);
    let mut cmd = tcpplay(server.home.path());
    cmd.args([
        "join",
        &format!("127.0.0.1:{}", server.port()),
        "--name",
        "Carol",
        "--no-tls",
    ]);
    let mut j = Proc::spawn(cmd);
    j.stderr.expect("Authenticated as Carol");
    j.send_line("hello");
    j.close_stdin();
    assert_eq!(j.wait(), 0, "stderr: {:?}", j.stderr.rest());
}

#[test]
fn the_link_serve_prints_pins_its_certificate_and_names_the_room() {
    let cert = make_cert();
    let mut server = Server::tls(&cert.cert, &cert.key, &["--no-history"]);
    let line = banner_line(&mut server, "tcpplay://");
    let link = link_of(&line);
    assert!(
        link.contains(&format!("fp={}", cert.fingerprint)),
        "the link pins the server's certificate: {link}"
    );
    // A student's machine: no certificate file, a fresh HOME; the room
    // comes from the link's fragment.
    let student = Arc::new(TempDir::new().unwrap());
    let mut cmd = tcpplay(student.path());
    cmd.args(["join", &format!("{link}#maths"), "--name", "Bob", "--json"]);
    let mut bob = Proc::spawn(cmd);
    bob.stderr.expect("Authenticated as Bob");
    bob.stdout.expect("#maths");
    // The pin is remembered: HOST:PORT alone now trusts that certificate.
    let known = std::fs::read_to_string(student.path().join(".local/share/tcpplay/known_hosts"))
        .expect("known_hosts written");
    assert!(known.contains(&cert.fingerprint), "{known}");
    let mut cmd = tcpplay(student.path());
    cmd.args([
        "join",
        &format!("127.0.0.1:{}", server.port()),
        "--name",
        "Ann",
        "--room",
        "#maths",
    ]);
    let mut ann = Proc::spawn(cmd);
    ann.stderr.expect("Authenticated as Ann");
    ann.send_line("pinned, no file needed");
    bob.stdout.expect("pinned, no file needed");
}

#[test]
fn a_link_whose_fingerprint_is_not_the_servers_is_refused_before_anything_is_sent() {
    let cert = make_cert();
    let server = Server::tls(&cert.cert, &cert.key, &["--no-history"]);
    let other = make_cert();
    let link = format!(
        "tcpplay://127.0.0.1:{}/?fp={}",
        server.port(),
        other.fingerprint
    );
    let home = TempDir::new().unwrap();
    let mut cmd = tcpplay(home.path());
    cmd.args(["join", &link, "--name", "Eve"]);
    let mut p = Proc::spawn(cmd);
    let e = p.stderr.expect("not the pinned one");
    assert!(e.contains("fp=") && e.contains(&other.fingerprint), "{e}");
    assert_eq!(p.wait(), 1);
}

#[test]
fn a_server_argument_that_is_not_one_is_refused_with_what_to_type() {
    let home = TempDir::new().unwrap();
    for (arg, says) in [
        (
            "http://example.com/",
            "tcpplay joins HOST, HOST:PORT or a tcpplay:// link",
        ),
        ("10.0.0.1:99999", "must be a number from 1 to 65535"),
        ("tcpplay://h/room", "the room goes after #"),
    ] {
        let mut cmd = tcpplay(home.path());
        cmd.args(["join", arg, "--name", "X", "--no-input"]);
        let mut p = Proc::spawn(cmd);
        let e = p.stderr.expect(says);
        assert!(!e.contains("Err("), "{e}");
        assert_eq!(p.wait(), 2, "{arg}");
    }
}

/// `--no-tls` against a TLS server is named at once — not after the
/// connect timeout (here 60 s: the test's 15 s wait would fail first).
#[test]
fn plaintext_asked_of_a_tls_server_says_it_speaks_tls_without_waiting_for_the_timeout() {
    let cert = make_cert();
    let server = Server::tls(&cert.cert, &cert.key, &["--no-history"]);
    let mut j = server.join(&["--name", "Bob", "--no-tls", "--timeout", "60"]);
    let e = j.stderr.expect("speaks TLS");
    assert!(
        e.contains("drop --no-tls") && !e.contains("--timeout"),
        "{e}"
    );
    assert_eq!(j.wait(), 1);
}

/// And the reverse: TLS asked of a plaintext server.
#[test]
fn tls_asked_of_a_plaintext_server_says_it_does_not_speak_tls() {
    let server = Server::start(&["--no-history"]);
    let mut j = server.join(&[
        "--name",
        "Bob",
        "--tls",
        "--tls-insecure",
        "--timeout",
        "60",
    ]);
    let e = j.stderr.expect("does not speak TLS");
    assert!(
        e.contains("TLS was asked for") && !e.contains("InvalidContentType"),
        "{e}"
    );
    assert_eq!(j.wait(), 1);
}

/// What a browser, `curl` or an IRC client gets on the chat port.
fn answer_to(addr: std::net::SocketAddr, opening: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(opening.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("the server closes after its answer");
    out
}

#[test]
fn http_and_irc_clients_get_an_answer_they_can_read_then_the_close() {
    let plain = Server::start(&["--no-history"]);
    // A browser speaks first: it gets a whole HTTP answer, no `hello`.
    let http = answer_to(plain.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(http.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{http:?}");
    assert!(http.contains("not a web server"), "{http:?}");
    assert!(!http.contains("\"type\""), "{http:?}");
    let irc = answer_to(plain.addr, "NICK bob\r\nUSER bob 0 * :Bob\r\n");
    assert!(
        irc.lines().nth(1).is_some_and(
            |l| l.starts_with("ERROR :This is a tcpplay chat server, not an IRC server")
        ),
        "{irc:?}"
    );
    // On a TLS port nothing was said first: a browser gets a whole response.
    let cert = make_cert();
    let tls = Server::tls(&cert.cert, &cert.key, &["--no-history"]);
    let http = answer_to(tls.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(http.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{http:?}");
    assert!(http.contains("not a web server"), "{http:?}");
    let irc = answer_to(tls.addr, "NICK bob\r\n");
    assert!(irc.starts_with("ERROR :"), "{irc:?}");
}

/// `join --listen` stays when its input ends (a logger under systemd or
/// cron has none), prints what arrives, and SIGTERM leaves cleanly.
#[cfg(unix)]
#[test]
fn join_listen_stays_after_input_ends_prints_what_arrives_and_leaves_on_sigterm() {
    let server = Server::start(&["--no-history"]);
    let mut logger = server.join(&["--name", "logger", "--no-tls", "--json", "--listen"]);
    logger.close_stdin();
    logger.stdout.expect("\"joined\"");
    let mut talker = server.join(&["--name", "talker", "--no-tls"]);
    talker.stderr.expect("Authenticated as talker");
    talker.send_line("for the log");
    let line = logger.stdout.expect("for the log");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["from"], "talker");
    // Still there after the line: the input ended long before.
    talker.send_line("second");
    logger.stdout.expect("second");
    logger.signal(libc::SIGTERM);
    assert_eq!(logger.wait(), 0, "stderr: {:?}", logger.stderr.rest());
    talker.stdout.expect("logger disconnected");
}

/// A line that names you is marked (`--json`: `"mention": true`); one that
/// only contains the name inside a word, or your own line, is not.
#[test]
fn a_line_that_names_you_is_marked_as_a_mention() {
    let server = Server::start(&["--no-history"]);
    let mut bob = server.join(&["--name", "Bob", "--no-tls", "--json", "--listen"]);
    bob.stdout.expect("\"joined\"");
    let mut ann = server.join(&["--name", "Ann", "--no-tls"]);
    ann.stderr.expect("Authenticated as Ann");
    ann.send_line("a bobsled");
    ann.send_line("bob, are you there?");
    let sled: serde_json::Value = serde_json::from_str(&bob.stdout.expect("bobsled")).unwrap();
    assert_eq!(sled.get("mention"), None, "{sled}");
    let named: serde_json::Value =
        serde_json::from_str(&bob.stdout.expect("are you there")).unwrap();
    assert_eq!(named["mention"], true, "{named}");
}

/// A member who shares two rooms with you and renames is announced once
/// (each time), not once per room.
#[test]
fn a_rename_in_two_shared_rooms_is_announced_once_each_time() {
    let server = Server::start(&["--no-history"]);
    let mut carol = server.join(&[
        "--name", "Carol", "--no-tls", "--room", "#a", "--room", "#b", "--listen",
    ]);
    carol.stderr.expect("Authenticated as Carol");
    let mut bob = server.join(&["--name", "Bob", "--no-tls", "--room", "#a", "--room", "#b"]);
    bob.stderr.expect("Authenticated as Bob");
    carol.stdout.expect("Bob joined");
    for nick in ["Robert", "Bob", "Robert"] {
        bob.send_line(&format!("/nick {nick}"));
    }
    bob.send_line("done renaming");
    carol.stdout.expect("done renaming");
    let renames: Vec<&String> = carol
        .stdout
        .seen()
        .iter()
        .filter(|l| l.contains(" is now "))
        .collect();
    assert_eq!(renames.len(), 3, "one announcement per rename: {renames:?}");
}

/// `/join #x #y` makes #x the room typed lines go to, as `--room #x --room #y` does.
#[test]
fn join_with_several_rooms_sends_typed_lines_to_the_first_as_room_flags_do() {
    let server = Server::start(&["--no-history"]);
    let mut watcher = server.join(&[
        "--name", "w", "--no-tls", "--json", "--room", "#x", "--room", "#y", "--listen",
    ]);
    watcher.stderr.expect("Authenticated as w");
    let mut j = server.join(&["--name", "typist", "--no-tls"]);
    j.stderr.expect("Authenticated as typist");
    j.send_line("/join #x #y");
    j.stdout.expect("typed lines go to #x");
    j.send_line("where am I");
    let line = watcher.stdout.expect("where am I");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["room"], "#x", "{line}");
}

/// The certificate-names warning names a missing address once, even when
/// the server binds it and the join settings name it too.
#[test]
fn the_certificate_names_warning_names_a_missing_address_once() {
    let cert = make_cert();
    let home = TempDir::new().unwrap();
    std::fs::write(
        home.path().join("tcpplay.toml"),
        format!(
            "[serve]\nbind = \"192.0.2.7\"\ntls = true\ncert = \"{}\"\nkey = \"{}\"\n[join]\nhost = \"192.0.2.7\"\n",
            cert.cert.display(),
            cert.key.display()
        ),
    )
    .unwrap();
    let out = tcpplay(home.path())
        .args(["check", "--local"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("certificate names"))
        .unwrap_or_else(|| panic!("no certificate names line:\n{text}"));
    assert_eq!(line.matches("192.0.2.7").count(), 1, "{line}");
}

/// A real HTTP client (Python's urllib) on a TLS port reads our answer as
/// the HTTP response it is: status 400 and a body in words.
#[test]
fn a_real_http_client_on_a_tls_port_reads_a_400_with_a_sentence() {
    let cert = make_cert();
    let tls = Server::tls(&cert.cert, &cert.key, &["--no-history"]);
    let script = "import sys, urllib.request, urllib.error\n\
                  try:\n    urllib.request.urlopen(sys.argv[1], timeout=10)\nexcept urllib.error.HTTPError as e:\n    print(e.code, e.read().decode())\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, &format!("http://127.0.0.1:{}/", tls.port())])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("400 This is a tcpplay chat server, not a web server"),
        "{said} / {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
