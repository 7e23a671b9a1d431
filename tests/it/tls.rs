//! TLS: verification with --cert, the failure message without it,
//! --tls-insecure, and plaintext on a TLS port.

use serde_json::json;

use crate::util::{make_cert, Peer, Server};

#[test]
fn join_with_cert_verifies_for_localhost_and_127_0_0_1() {
    let cert = make_cert();
    let server = Server::tls(&cert.cert, &cert.key, &[]);
    assert!(server
        .proc
        .stdout
        .seen()
        .iter()
        .any(|l| l.contains("(tls;")));
    for host in ["localhost", "127.0.0.1"] {
        let name = format!("via-{}", host.replace('.', "-"));
        let mut j = server.join(&[
            "--host",
            host,
            "--cert",
            cert.cert.to_str().unwrap(),
            "--name",
            &name,
        ]);
        let connected = j.stderr.expect("Connected to");
        assert!(connected.contains("TLSv1.3"), "{connected}");
        assert!(connected.contains(&cert.fingerprint), "{connected}");
        j.send_line("over tls");
        j.stdout.expect(&format!("{name}: over tls"));
        j.close_stdin();
        assert_eq!(j.wait(), 0);
    }
}

#[test]
fn join_without_trust_fails_and_names_cert_and_tls_insecure() {
    let cert = make_cert();
    let server = Server::tls(&cert.cert, &cert.key, &[]);
    for args in [&["--tls"][..], &[][..]] {
        let mut a = vec!["--name", "x"];
        a.extend_from_slice(args);
        let mut j = server.join(&a);
        let code = j.wait();
        let err = j.stderr.rest().join("\n");
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("certificate verification failed"), "{err}");
        assert!(
            err.contains("--cert") && err.contains("--tls-insecure"),
            "{err}"
        );
        assert!(
            !err.contains("NOT ENCRYPTED"),
            "no fallback after a certificate failure: {err}"
        );
    }
}

#[test]
fn tls_insecure_connects_and_warns() {
    let cert = make_cert();
    let server = Server::tls(&cert.cert, &cert.key, &[]);
    let mut j = server.join(&["--tls-insecure", "--name", "brave"]);
    j.stderr.expect("WARNING: --tls-insecure");
    j.stderr.expect("Authenticated as brave");
    j.send_line("insecure but encrypted");
    j.stdout.expect("brave: insecure but encrypted");
}

#[test]
fn plaintext_on_a_tls_port_gets_a_clear_error() {
    let cert = make_cert();
    let mut server = Server::tls(&cert.cert, &cert.key, &[]);
    let mut p = Peer::connect(server.addr);
    p.send(json!({"type": "auth", "name": "plain"}));
    let e = p.recv();
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "tls_required");
    assert!(p.recv_line().is_none());
    server.proc.stderr.expect("plaintext on the TLS port");

    // And `join --no-tls` is told the server speaks TLS, not to raise a timeout.
    let mut j = server.join(&["--no-tls", "--name", "x", "--timeout", "30"]);
    assert_eq!(j.wait(), 1);
    let err = j.stderr.rest().join("\n");
    assert!(
        err.contains("speaks TLS") && !err.contains("timed out"),
        "{err}"
    );

    // A healthy TLS client is unaffected.
    let mut ok = Peer::connect_tls(server.addr, &cert.cert);
    assert_eq!(ok.recv()["type"], "hello");
}

#[test]
fn tls_without_key_is_a_usage_error_that_points_to_gen_cert() {
    let cert = make_cert();
    let home = tempfile::TempDir::new().unwrap();
    let mut cmd = crate::util::tcpplay(home.path());
    cmd.args([
        "serve",
        "--port",
        "0",
        "--tls",
        "--cert",
        cert.cert.to_str().unwrap(),
    ]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--key") && err.contains("tcpplay gen-cert"),
        "{err}"
    );
}
