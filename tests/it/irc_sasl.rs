//! SASL PLAIN over IRC, where the operator turned it on (`[irc]
//! sasl_plain`): offered over TLS only, said in `serve`'s output; a wrong
//! password is refused as a login is (and counts against the account),
//! the right one logs in to the account; without TLS it is never offered.

use tcpplay::crypto::b64;
use tempfile::TempDir;

use crate::accounts::{gen_account, serve};
use crate::irc::{irc_tls, tls_send, tls_until, Raw};
use crate::util::make_cert;

/// `AUTHENTICATE PLAIN` for `account` with `password`, on a connection
/// that asked for `sasl`; the lines up to the outcome (903 or 904).
fn plain(r: &mut crate::irc::TlsLines, account: &str, password: &str) -> Vec<String> {
    tls_send(r, "AUTHENTICATE PLAIN\r\n");
    tls_until(r, "AUTHENTICATE +");
    let msg = b64(format!("\0{account}\0{password}").as_bytes());
    tls_send(r, &format!("AUTHENTICATE {msg}\r\n"));
    let mut seen = tls_until(r, " 90");
    while !seen
        .last()
        .is_some_and(|l| l.contains(" 903 ") || l.contains(" 904 "))
    {
        seen.extend(tls_until(r, " 90"));
    }
    seen
}

#[test]
fn sasl_plain_is_offered_over_tls_only_where_turned_on_and_logs_in_with_the_accounts_password() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    gen_account(
        dir.path(),
        &dir.path().join("accounts.sqlite3"),
        "teach",
        "teach-password",
    );
    let config = "[irc]\nsasl_plain = true\n";
    let mut server = serve(&cert, dir.path(), config, &["--irc", "127.0.0.1:0"]);
    let line = server.proc.stdout.expect("irssi:   /connect -tls");
    let port: u16 = line.split_whitespace().last().unwrap().parse().unwrap();
    server
        .proc
        .stdout
        .expect("SASL PLAIN is on ([irc] sasl_plain): IRC clients that use it send their account's password to this server");
    let mut irc = irc_tls(port, &cert.cert);
    tls_send(&mut irc, "CAP LS 302\r\n");
    let ls = tls_until(&mut irc, " LS ");
    assert!(ls.last().unwrap().contains("sasl=PLAIN"), "{ls:?}");
    tls_send(
        &mut irc,
        "CAP REQ :sasl\r\nNICK whoever\r\nUSER w 0 * :w\r\n",
    );
    tls_until(&mut irc, " ACK ");
    // A wrong password: 904, as a failed login; nothing logged in.
    let wrong = plain(&mut irc, "teach", "not-the-password");
    let last = wrong.last().unwrap();
    assert!(
        last.contains(" 904 ") && last.contains("wrong password"),
        "{wrong:?}"
    );
    // The right one: 900, 903, and the registration is the account's.
    let right = plain(&mut irc, "teach", "teach-password");
    assert!(
        right
            .iter()
            .any(|l| l.contains(" 900 ") && l.contains("You are now logged in as teach")),
        "{right:?}"
    );
    tls_send(&mut irc, "CAP END\r\n");
    let seen = tls_until(&mut irc, " 001 teach ");
    assert!(!seen.iter().any(|l| l.contains(" 433 ")), "{seen:?}");
    // The password is never in the server's output (its log, to the end).
    drop(irc);
    server.proc.signal(libc::SIGTERM);
    let said = server.proc.stderr.rest();
    assert!(
        said.iter().any(|l| l.contains("did not verify")),
        "{said:?}"
    );
    assert!(
        !said.iter().any(|l| l.contains("teach-password")),
        "{said:?}"
    );

    // Without TLS the setting offers nothing, and serve says so.
    let (mut plain_server, addr) = {
        let mut args = vec!["--irc", "127.0.0.1:0"];
        args.push("--no-history");
        let home = std::sync::Arc::new(TempDir::new().unwrap());
        let mut s =
            crate::util::Server::start_with(&args, &[("TCPPLAY_IRC__SASL_PLAIN", "true")], home);
        let line = s.proc.stdout.expect("irssi:   /connect");
        let port = line.split_whitespace().last().unwrap().to_string();
        (s, format!("127.0.0.1:{port}").parse().unwrap())
    };
    plain_server
        .proc
        .stdout
        .expect("PLAIN is not offered: it is offered over TLS only");
    let mut raw = Raw::connect(addr);
    raw.line("CAP LS 302");
    let ls = raw.lines.expect(" LS ");
    assert!(!ls.contains("sasl"), "{ls}");
}
