//! tcpplay with certificates from the `openssl` command line, as users make
//! them (the original's `openssl req`, EC keys, chains and bundles of CAs,
//! expired, future and misnamed ones), and Python's `ssl` client against a
//! TLS server with one. Each test names the real-world failure it pins
//! (issue "Real-world use").

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::util::{openssl, python, run, tcpplay, Proc, Server};

/// Certificates made by the `openssl` command line, as users make them.
pub(crate) struct Pki {
    dir: TempDir,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        Pki {
            dir: TempDir::new().unwrap(),
        }
    }

    pub(crate) fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    pub(crate) fn s(&self, f: &str) -> String {
        self.path(f).to_str().unwrap().to_string()
    }

    /// The TCP-Playground README's command, exactly (RSA 2048; OpenSSL 3
    /// marks the result `CA:TRUE`).
    pub(crate) fn original(&self) -> (String, String) {
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-days",
                "365",
                "-subj",
                "/C=BD/ST=Dhaka/L=Dhaka/O=MultiHAT/OU=RedHAT/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
        );
        (self.s("cert.pem"), self.s("key.pem"))
    }

    /// A self-signed EC P-256 certificate for `san` (e.g. `DNS:localhost`).
    pub(crate) fn ec(&self, stem: &str, san: &str) -> (String, String) {
        let (cert, key) = (format!("{stem}.pem"), format!("{stem}-key.pem"));
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &cert,
                "-days",
                "30",
                "-subj",
                "/CN=tcpplay test",
                "-addext",
                &format!("subjectAltName={san}"),
            ],
        );
        (self.s(&cert), self.s(&key))
    }

    /// A CA (`ca.pem`, `ca-key.pem`), and `openssl ca` set up to issue from it.
    pub(crate) fn ca(&self) -> String {
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca-key.pem",
                "-out",
                "ca.pem",
                "-days",
                "30",
                "-subj",
                "/CN=tcpplay test CA",
            ],
        );
        std::fs::write(
            self.path("ca.cnf"),
            "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
             default_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n\
             [leaf]\nbasicConstraints = CA:FALSE\nsubjectAltName = ${ENV::SAN}\n",
        )
        .unwrap();
        std::fs::write(self.path("index.txt"), "").unwrap();
        std::fs::write(self.path("serial"), "01\n").unwrap();
        self.s("ca.pem")
    }

    /// A server certificate from the CA, valid from `start` to `end`
    /// (`YYYYMMDDHHMMSSZ`), for `san`.
    pub(crate) fn issued(&self, stem: &str, san: &str, start: &str, end: &str) -> (String, String) {
        let (cert, key, csr) = (
            format!("{stem}.pem"),
            format!("{stem}-key.pem"),
            format!("{stem}.csr"),
        );
        openssl(
            self.dir.path(),
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=localhost",
            ],
        );
        let out = Command::new("openssl")
            .args([
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-cert",
                "ca.pem",
                "-keyfile",
                "ca-key.pem",
                "-in",
                &csr,
                "-out",
                &cert,
                "-startdate",
                start,
                "-enddate",
                end,
                "-extensions",
                "leaf",
                "-notext",
            ])
            .env("SAN", san)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (self.s(&cert), self.s(&key))
    }
}

/// `join --host HOST --cert TRUST` saying one line; its run.
fn join_tls(server: &Server, host: &str, trust: &str) -> crate::util::Ran {
    let port = server.port();
    run(
        server.home.path(),
        &[
            "join", "--host", host, "--port", &port, "--cert", trust, "--name", "alice",
        ],
    )
    .stdin(b"over tls\n")
    .go()
}

#[test]
fn the_originals_openssl_certificate_is_trusted_by_join_and_check() {
    // Item 8: `openssl req -x509 ...` as the original's README makes it.
    let pki = Pki::new();
    let (cert, key) = pki.original();
    let server = Server::tls(&cert, &key, &["--no-history"]);
    for host in ["localhost", "127.0.0.1"] {
        join_tls(&server, host, &cert)
            .code(0)
            .stdout_has("alice: over tls")
            .stderr_has("TLSv1.3");
    }
    let target = format!("127.0.0.1:{}", server.port());
    run(server.home.path(), &["check", &target, "--cert", &cert])
        .go()
        .code(0)
        .stdout_has("verifies for 127.0.0.1 trusting only");
}

#[test]
fn openssl_ec_and_chain_certificates_work_and_a_bundle_of_cas_is_trusted() {
    let pki = Pki::new();
    let (cert, key) = pki.ec("ec", "DNS:localhost,IP:127.0.0.1");
    join_tls(
        &Server::tls(&cert, &key, &["--no-history"]),
        "localhost",
        &cert,
    )
    .code(0);
    // A two-level chain: the client trusts the CA, the server presents a
    // certificate the CA issued.
    let ca = pki.ca();
    let (leaf, leaf_key) = pki.issued(
        "leaf",
        "DNS:localhost,IP:127.0.0.1",
        "20240101000000Z",
        "20991231000000Z",
    );
    let server = Server::tls(&leaf, &leaf_key, &["--no-history"]);
    join_tls(&server, "127.0.0.1", &ca).code(0);
    // A file of several CAs, the issuer among them.
    let (other_ca, _) = pki.ec("other-ca", "DNS:elsewhere");
    let bundle = pki.path("bundle.pem");
    let mut text = std::fs::read_to_string(&other_ca).unwrap();
    text.push_str(&std::fs::read_to_string(&ca).unwrap());
    std::fs::write(&bundle, text).unwrap();
    join_tls(&server, "localhost", bundle.to_str().unwrap()).code(0);
    // Trusting only the other CA: refused, and said in words.
    join_tls(&server, "localhost", &other_ca)
        .code(1)
        .stderr_has("not signed by anyone this computer trusts")
        .for_people();
}

#[test]
fn expired_future_and_misnamed_certificates_are_refused_in_words() {
    let pki = Pki::new();
    pki.ca();
    let san = "DNS:localhost,IP:127.0.0.1";
    let (old, old_key) = pki.issued("old", san, "20200101000000Z", "20210101000000Z");
    let (future, future_key) = pki.issued("future", san, "20400101000000Z", "20410101000000Z");
    let (elsewhere, elsewhere_key) = pki.ec("elsewhere", "DNS:example.com");
    // Even when the file holds that very certificate.
    for (cert, key, says) in [
        (&old, &old_key, "expired on 2021-01-01 00:00 UTC"),
        (
            &future,
            &future_key,
            "not valid before 2040-01-01 00:00 UTC",
        ),
        (
            &elsewhere,
            &elsewhere_key,
            "is for example.com, not for 127.0.0.1",
        ),
    ] {
        let mut server = Server::tls(cert, key, &["--no-history"]);
        join_tls(&server, "127.0.0.1", cert)
            .code(1)
            .stderr_has(says)
            .for_people();
        // Item 10: serve said so at start.
        server.proc.stderr.expect("WARN");
    }
    let pki2 = Pki::new();
    let (c2, _) = pki2.ec("c", san);
    // Item 9: a certificate and a key that are not a pair: exit 2, in words.
    run(
        pki.dir.path(),
        &[
            "serve", "--port", "0", "--tls", "--cert", &c2, "--key", &old_key,
        ],
    )
    .go()
    .code(2)
    .stderr_has("the key does not belong to the certificate")
    .for_people();
    run(
        pki.dir.path(),
        &[
            "serve",
            "--port",
            "0",
            "--tls",
            "--cert",
            "missing.pem",
            "--key",
            &old_key,
        ],
    )
    .go()
    .code(2)
    .stderr_has("missing.pem");
}

#[test]
fn pythons_ssl_client_joins_a_tls_server_with_an_openssl_certificate() {
    let pki = Pki::new();
    let (cert, key) = pki.original();
    let server = Server::tls(&cert, &key, &["--no-history"]);
    let mut py = python("legacy_client.py");
    py.args([
        "localhost",
        &server.port(),
        "pyssl",
        "--tls",
        &cert,
        "--say",
        "hello from python ssl",
        "--seconds",
        "3",
    ]);
    let mut p = Proc::spawn(py);
    p.stdout.expect("\"tls\": \"TLSv1.3\"");
    p.stdout.expect("\"type\": \"auth_result\"");
    let echo = p.stdout.expect("hello from python ssl");
    let v: Value = serde_json::from_str(&echo).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["from"].as_str()),
        (Some("chat"), Some("pyssl"))
    );
}

/// The original's `openssl req` certificate, served: the link `serve`
/// prints carries the fingerprint `openssl x509 -fingerprint -sha256`
/// gives, and a student with no certificate file joins by it.
#[test]
fn the_link_for_an_openssl_certificate_carries_the_fingerprint_openssl_computes() {
    let pki = Pki::new();
    let (cert, key) = pki.original();
    let mut server = Server::tls(&cert, &key, &["--no-history"]);
    let line = server.proc.stdout.expect("tcpplay://");
    let link = line.split('\'').nth(1).expect("a quoted link").to_string();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in", &cert])
        .output()
        .unwrap();
    let theirs = String::from_utf8_lossy(&out.stdout);
    let fp = theirs
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .to_ascii_uppercase();
    assert!(
        link.contains(&format!("fp={fp}")),
        "{link} vs openssl's {theirs}"
    );
    let student = TempDir::new().unwrap();
    let mut cmd = tcpplay(student.path());
    cmd.args(["join", &link, "--name", "student"]);
    let mut j = Proc::spawn(cmd);
    j.stderr.expect("Authenticated as student");
    j.send_line("by the link");
    j.stdout.expect("student: by the link");
}
