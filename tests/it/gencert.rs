//! `tcpplay gen-cert` through the binary: the files, their permissions, what
//! is in the certificates, CA and client certificates, and verification by
//! rustls (a real round trip) and by an independent implementation (openssl).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{tcpplay, Server};

fn gen(dir: &Path, args: &[&str]) -> std::process::Output {
    tcpplay(dir).arg("gen-cert").args(args).output().unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn has_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping the openssl part: openssl is not installed");
    }
    ok
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn default_certificate_works_with_rustls_and_openssl_and_its_key_is_private() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = gen(dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("SHA-256") && t.contains("serve:  tcpplay serve --tls") && t.contains("join:"),
        "{t}"
    );
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);

    let server = Server::tls(dir.path().join("cert.pem"), dir.path().join("key.pem"), &[]);
    for host in ["localhost", "127.0.0.1"] {
        let mut j = server.join(&["--host", host, "--cert", s(&cert), "--name", "v"]);
        j.stderr.expect("Authenticated as");
        j.close_stdin();
        assert_eq!(j.wait(), 0);
    }
    if has_openssl() {
        let v = Command::new("openssl")
            .args(["verify", "-CAfile", s(&cert), s(&cert)])
            .output()
            .unwrap();
        assert!(v.status.success(), "openssl verify: {}", text(&v));
        let port = server.port();
        let sc = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-CAfile",
                s(&cert),
            ])
            .args([
                "-verify_return_error",
                "-verify_hostname",
                "localhost",
                "-brief",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let t = text(&sc);
        assert!(sc.status.success(), "openssl s_client: {t}");
        assert!(t.contains("Verification: OK"), "{t}");
    }
}

#[test]
fn force_is_needed_to_overwrite_and_bad_values_are_usage_errors_leaving_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    assert!(gen(dir.path(), &[]).status.success());
    let before = std::fs::read(dir.path().join("cert.pem")).unwrap();
    let again = gen(dir.path(), &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("already exists") && text(&again).contains("--force"));
    assert_eq!(
        std::fs::read(dir.path().join("cert.pem")).unwrap(),
        before,
        "untouched without --force"
    );
    assert!(gen(dir.path(), &["--force"]).status.success());
    assert_ne!(std::fs::read(dir.path().join("cert.pem")).unwrap(), before);

    let empty = tempfile::TempDir::new().unwrap();
    for (args, needle) in [
        (&["--days", "0"][..], "--days 0"),
        (&["--days", "-5"][..], "--days -5"),
        (&["--san", "not a name!"][..], "not a name!"),
        (&["--out-dir", "no/such/dir"][..], "no/such/dir"),
    ] {
        let o = gen(empty.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
    }
    let left: Vec<_> = std::fs::read_dir(empty.path()).unwrap().collect();
    assert!(left.is_empty(), "no half-written files: {left:?}");
}

#[test]
fn days_and_sans_appear_in_the_certificate() {
    let dir = tempfile::TempDir::new().unwrap();
    let o = gen(
        dir.path(),
        &[
            "--days",
            "30",
            "--san",
            "chat.lan",
            "--san",
            "10.1.2.3",
            "--key-type",
            "ed25519",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let pem = std::fs::read_to_string(dir.path().join("cert.pem")).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|c: rustls::pki_types::CertificateDer| c.to_vec())
        .unwrap();
    let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
    let v = x.validity();
    let days = (v.not_after.timestamp() - v.not_before.timestamp()) / 86_400;
    assert_eq!(days, 30);
    let san = x.subject_alternative_name().unwrap().unwrap().value;
    let names: Vec<String> = san.general_names.iter().map(|g| format!("{g}")).collect();
    let all = names.join(" ");
    // x509-parser shows IP addresses in hex: 10.1.2.3 and 127.0.0.1.
    for want in ["localhost", "chat.lan", "0a:01:02:03", "7f:00:00:01"] {
        assert!(all.contains(want), "{want} not in {all}");
    }
}

#[test]
fn a_local_ca_is_made_once_reused_and_alone_is_enough_to_trust() {
    let dir = tempfile::TempDir::new().unwrap();
    let o = gen(dir.path(), &["--ca"]);
    assert!(o.status.success(), "{}", text(&o));
    let ca = dir.path().join("ca.pem");
    #[cfg(unix)]
    assert_eq!(mode(&dir.path().join("ca-key.pem")), 0o600);
    let ca_before = std::fs::read(&ca).unwrap();
    let o = gen(dir.path(), &["--ca", "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&ca).unwrap(),
        ca_before,
        "the CA is reused, not replaced"
    );

    let server = Server::tls(dir.path().join("cert.pem"), dir.path().join("key.pem"), &[]);
    let mut j = server.join(&[
        "--host",
        "localhost",
        "--cert",
        s(&ca),
        "--name",
        "trusting-ca",
    ]);
    j.stderr.expect("Authenticated as trusting-ca");
    if has_openssl() {
        let v = Command::new("openssl")
            .args(["verify", "-CAfile", s(&ca), s(&dir.path().join("cert.pem"))])
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", text(&v));
    }
}

#[test]
fn client_certificates_from_the_ca_are_required_and_others_refused() {
    let dir = tempfile::TempDir::new().unwrap();
    let no_ca = gen(dir.path(), &["--client", "alice"]);
    assert_eq!(no_ca.status.code(), Some(2));
    assert!(text(&no_ca).contains("gen-cert --ca"), "{}", text(&no_ca));
    assert!(gen(dir.path(), &["--ca"]).status.success());
    let o = gen(dir.path(), &["--client", "alice"]);
    assert!(o.status.success(), "{}", text(&o));
    let ca = dir.path().join("ca.pem");
    let mut server = Server::tls(
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        &["--client-ca", s(&ca)],
    );

    let (cc, ck) = (
        dir.path().join("client-alice.pem"),
        dir.path().join("client-alice-key.pem"),
    );
    let mut ok = server.join(&[
        "--host",
        "localhost",
        "--cert",
        s(&ca),
        "--client-cert",
        s(&cc),
        "--client-key",
        s(&ck),
        "--name",
        "alice",
    ]);
    ok.stderr.expect("Authenticated as alice");

    // A self-signed client certificate, and no certificate at all: refused.
    let own = crate::util::make_cert();
    let mut bad = server.join(&[
        "--host",
        "localhost",
        "--cert",
        s(&ca),
        "--client-cert",
        s(&own.cert),
        "--client-key",
        s(&own.key),
        "--name",
        "mallory",
    ]);
    assert_eq!(bad.wait(), 1);
    let mut none = server.join(&["--host", "localhost", "--cert", s(&ca), "--name", "anon"]);
    assert_eq!(none.wait(), 1);
    server.proc.stderr.expect("TLS handshake failed");
}

#[test]
fn a_mismatched_ca_pair_is_refused() {
    let a = tempfile::TempDir::new().unwrap();
    let b = tempfile::TempDir::new().unwrap();
    assert!(gen(a.path(), &["--ca"]).status.success());
    assert!(gen(b.path(), &["--ca"]).status.success());
    let out = tempfile::TempDir::new().unwrap();
    let (ca, key): (PathBuf, PathBuf) = (a.path().join("ca.pem"), b.path().join("ca-key.pem"));
    let o = gen(out.path(), &["--ca-cert", s(&ca), "--ca-key", s(&key)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("does not belong"), "{}", text(&o));
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn lan_adds_this_machines_name() {
    let dir = tempfile::TempDir::new().unwrap();
    let o = gen(dir.path(), &["--lan", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names = v["names"].as_array().unwrap();
    assert!(names.len() >= 3, "{v}");
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
}
