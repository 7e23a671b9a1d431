//! `tcpplay check` against real servers on 127.0.0.1: each case asserts the
//! verdict, the failing stage, the exit code, and that `--json` carries the same.

use std::io::Write;
use std::net::TcpListener;

use serde_json::Value;

use crate::util::{make_cert, make_cert_with, tcpplay, Server};

struct Outcome {
    code: i32,
    text: String,
    json: Value,
}

fn check(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let home = tempfile::TempDir::new().unwrap();
    let run = |json: bool| {
        let mut cmd = tcpplay(home.path());
        cmd.arg("check").args(args).args(["--timeout", "3"]);
        if json {
            cmd.arg("--json");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let human = run(false);
    let json = run(true);
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| {
        panic!(
            "--json is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&json.stdout)
        )
    });
    assert_eq!(
        human.status.code(),
        json.status.code(),
        "same exit code with and without --json"
    );
    assert_eq!(doc["exit_code"].as_i64(), json.status.code().map(i64::from));
    Outcome {
        code: human.status.code().unwrap_or(-1),
        text: String::from_utf8_lossy(&human.stdout).into_owned(),
        json: doc,
    }
}

fn expect(o: &Outcome, code: i32, verdict: &str, stage: Option<&str>) {
    assert_eq!(o.code, code, "{}", o.text);
    assert_eq!(o.json["verdict"], verdict, "{}", o.json);
    match stage {
        Some(s) => {
            assert_eq!(o.json["failed_stage"], s, "{}", o.json);
            assert!(
                o.text.contains(&format!("FAILED at stage {s}")),
                "{}",
                o.text
            );
        }
        None => assert!(o.json["failed_stage"].is_null(), "{}", o.json),
    }
}

fn target(s: &Server) -> String {
    format!("127.0.0.1:{}", s.port())
}

#[test]
fn a_healthy_plaintext_server_passes_with_a_warning_and_strict_makes_it_exit_1() {
    let server = Server::start(&[]);
    let o = check(&[&target(&server), "--name", "probe"], &[]);
    expect(&o, 0, "warnings", None);
    assert!(
        o.text.contains("NOT ENCRYPTED") && o.text.contains("round trips"),
        "{}",
        o.text
    );
    let strict = check(&[&target(&server), "--strict"], &[]);
    assert_eq!(strict.code, 1);
}

#[test]
fn tls_with_a_trusted_certificate_passes_and_shows_the_certificate() {
    let cert = make_cert();
    let server = Server::tls(&cert.cert, &cert.key, &[]);
    let t = format!("localhost:{}", server.port());
    let o = check(
        &[&t, "--cert", cert.cert.to_str().unwrap(), "--name", "probe"],
        &[],
    );
    expect(&o, 0, "ok", None);
    assert!(
        o.text.contains("TLSv1.3")
            && o.text.contains(&cert.fingerprint)
            && o.text.contains("days left"),
        "{}",
        o.text
    );
}

#[test]
fn an_untrusted_certificate_fails_at_the_certificate_stage() {
    let cert = make_cert();
    let server = Server::tls(&cert.cert, &cert.key, &[]);
    let o = check(&[&target(&server)], &[]);
    expect(&o, 6, "failed", Some("certificate"));
    assert!(
        o.text.contains("not signed by anyone this computer trusts") && o.text.contains("--cert"),
        "{}",
        o.text
    );
}

#[test]
fn an_expired_certificate_fails_at_the_certificate_stage() {
    let req = tcpplay::certgen::CertRequest {
        days: 30,
        not_before: Some(time::OffsetDateTime::now_utc() - time::Duration::days(60)),
        ..Default::default()
    };
    let cert = make_cert_with(req);
    let server = Server::tls(&cert.cert, &cert.key, &[]);
    let t = format!("localhost:{}", server.port());
    let o = check(&[&t, "--cert", cert.cert.to_str().unwrap()], &[]);
    expect(&o, 6, "failed", Some("certificate"));
    assert!(o.text.contains("EXPIRED"), "{}", o.text);
}

#[test]
fn a_secure_room_with_the_right_and_the_wrong_password() {
    let cert = make_cert();
    let dir = tempfile::TempDir::new().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "sesame\n").unwrap();
    let server = Server::tls(
        &cert.cert,
        &cert.key,
        &["--secure", "--password-file", pw.to_str().unwrap()],
    );
    let t = format!("localhost:{}", server.port());
    let c = cert.cert.to_str().unwrap();
    let good = check(
        &[&t, "--cert", c, "--name", "probe"],
        &[("TCPPLAY_PASSWORD", "sesame")],
    );
    expect(&good, 0, "ok", None);
    assert!(
        good.text
            .contains("secure room (opaque-ristretto255-3dh-sha512-argon2id)")
            && good.text.contains("each side proved itself to the other"),
        "{}",
        good.text
    );
    assert!(
        !good.text.contains("sesame"),
        "the password is never printed"
    );
    let bad = check(
        &[&t, "--cert", c, "--name", "probe"],
        &[("TCPPLAY_PASSWORD", "wrong")],
    );
    expect(&bad, 8, "failed", Some("auth"));
}

#[test]
fn nothing_listening_fails_at_connect() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let t = format!("127.0.0.1:{}", free.local_addr().unwrap().port());
    drop(free);
    let o = check(&[&t], &[]);
    expect(&o, 4, "failed", Some("connect"));
    assert!(o.text.contains("connection refused"), "{}", o.text);
}

#[test]
fn a_listener_that_never_speaks_fails_at_protocol() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let t = format!("127.0.0.1:{}", silent.local_addr().unwrap().port());
    // The kernel completes the TCP handshakes; nobody ever answers.
    let o = check(&[&t], &[]);
    expect(&o, 7, "failed", Some("protocol"));
    drop(silent);
}

#[test]
fn a_legacy_python_server_is_recognised() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let t = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        // Two probes (human and --json), each a TLS attempt and a plaintext retry.
        for _ in 0..4 {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let _ = s.write_all(b"{\"type\":\"hello\",\"secure\":false}\n");
            let mut buf = [0u8; 512];
            let _ = std::io::Read::read(&mut s, &mut buf);
        }
    });
    let o = check(&[&t], &[]);
    expect(&o, 0, "warnings", None);
    assert!(o.text.contains("legacy TCP-Playground"), "{}", o.text);
}

#[test]
fn local_check_finds_a_mismatched_pair_and_a_world_readable_key() {
    let a = make_cert();
    let b = make_cert();
    let env = [
        ("TCPPLAY_SERVE__CERT", a.cert.to_str().unwrap()),
        ("TCPPLAY_SERVE__KEY", b.key.to_str().unwrap()),
    ];
    let o = check(&["--local"], &env);
    expect(&o, 9, "failed", Some("local"));
    assert!(
        o.text.contains("do not form a usable pair") || o.text.contains("does not match"),
        "{}",
        o.text
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&a.key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let env = [
            ("TCPPLAY_SERVE__CERT", a.cert.to_str().unwrap()),
            ("TCPPLAY_SERVE__KEY", a.key.to_str().unwrap()),
            ("TCPPLAY_SERVE__PORT", "0"),
        ];
        let o = check(&["--local"], &env);
        expect(&o, 0, "warnings", None);
        assert!(
            o.text.contains("other users can read the private key"),
            "{}",
            o.text
        );
    }
}

#[test]
fn an_unresolvable_name_fails_at_resolve() {
    let o = check(&["no-such-host.invalid:4000"], &[]);
    expect(&o, 3, "failed", Some("resolve"));
}
