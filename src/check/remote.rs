//! The network probe: the client's own transport steps (`client::transport`)
//! run one by one — resolve, connect, TLS (with the certificate chain shown
//! and verified against the user's trust), the server's `hello` — and with
//! `--name` a full join, ping round trips and a clean leave. Each step is
//! timed, bounded by `--timeout`, and a failure names its stage. It never
//! authenticates to a server whose certificate did not verify.

use std::time::{Duration, Instant};

use super::{CheckOptions, Report, Stage};
use crate::client::transport::{self, HandshakeError, TlsInfo};
use crate::client::{self, known_hosts, ClientError, Connection, Stream, TransportInfo};
use crate::config::Loaded;
use crate::hostport::HostPort;
use crate::names::sanitize;
use crate::protocol::{self, Hello, Packet, Ping};
use crate::tls::{self, TlsMode, Trust};

pub(crate) async fn probe(loaded: &Loaded, opts: &CheckOptions, t: &HostPort, report: &mut Report) {
    let limit = Some(opts.timeout);
    let Some((tcp, addr)) = reach(t, limit, report).await else {
        return;
    };
    let Some((stream, tls_info)) = secure(tcp, addr, t, loaded, opts, report).await else {
        return;
    };
    let mut conn = protocol::Connection::new(stream, client::MAX_FRAME_BYTES, 8 * 1024);
    let Some(hello) = hello(&mut conn, opts.timeout, report).await else {
        return;
    };
    let Some(name) = &opts.name else { return };
    if report.failed_stage() == Some(Stage::Certificate) {
        return report.warn(
            "join",
            "not attempted: the server's certificate did not verify, and joining would \
             authenticate to whoever holds it (trust it with --cert, or --tls-insecure for a test server)",
            None,
        );
    }
    let transport = TransportInfo {
        addr,
        tls: tls_info,
        fell_back: false,
    };
    let mut conn = Connection::new(conn, hello, transport);
    join(&mut conn, name, loaded, opts, report).await;
}

/// The user's trust for `t` (a file, `--tls-insecure`, a pin from
/// `known_hosts`, or the public roots), and whether TLS is required.
fn trust_for(loaded: &Loaded, t: &HostPort) -> (Trust, bool) {
    let j = &loaded.settings.join;
    let pin = j
        .cert
        .is_none()
        .then(known_hosts::default_path)
        .flatten()
        .and_then(|f| known_hosts::lookup(&f, &t.to_string()).ok().flatten());
    let trust = match (&j.cert, j.tls_insecure, pin) {
        (Some(c), _, _) => Trust::File(c.clone()),
        (None, true, _) => Trust::Insecure,
        (None, false, Some(pin)) => Trust::Pinned(pin),
        (None, false, None) => Trust::PublicRoots,
    };
    let require_tls = j.cert.is_some()
        || j.tls == TlsMode::On
        || j.tls_insecure
        || matches!(trust, Trust::Pinned(_));
    (trust, require_tls)
}

/// Resolve `t` and connect over TCP, each stage reported.
async fn reach(
    t: &HostPort,
    limit: Option<Duration>,
    report: &mut Report,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    let start = Instant::now();
    let addrs = match transport::resolve(t, limit).await {
        Ok(a) => a,
        Err(e) => {
            report.fail(
                Stage::Resolve,
                "resolve",
                e.to_string(),
                Some(start.elapsed()),
            );
            return None;
        }
    };
    let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    let took = Some(start.elapsed());
    report.ok(
        "resolve",
        format!("{} -> {}", t.host(), list.join(", ")),
        took,
    );
    let start = Instant::now();
    match transport::tcp(t, &addrs, limit).await {
        Ok((tcp, addr)) => {
            report.ok("connect", format!("TCP to {addr}"), Some(start.elapsed()));
            Some((tcp, addr))
        }
        Err(e) => {
            report.fail(
                Stage::Connect,
                "connect",
                e.to_string(),
                Some(start.elapsed()),
            );
            None
        }
    }
}

/// TLS accepting any certificate, so that the chain can be shown; it is
/// then verified with the user's trust. A plaintext server is a warning,
/// or a failure when TLS is required.
async fn secure(
    tcp: tokio::net::TcpStream,
    addr: std::net::SocketAddr,
    t: &HostPort,
    loaded: &Loaded,
    opts: &CheckOptions,
    report: &mut Report,
) -> Option<(Box<dyn Stream>, Option<TlsInfo>)> {
    let limit = Some(opts.timeout);
    let j = &loaded.settings.join;
    let (trust, require_tls) = trust_for(loaded, t);
    let start = Instant::now();
    let files = j.client_cert.as_deref().zip(j.client_key.as_deref());
    let config = match tls::client_config_mtls(&Trust::Insecure, files) {
        Ok(c) => c,
        Err(e) => {
            report.fail(Stage::Local, "client certificate", format!("{e:#}"), None);
            return None;
        }
    };
    let took = || Some(start.elapsed());
    match transport::tls_handshake(tcp, t, config, &Trust::Insecure, limit).await {
        Ok((s, info)) => {
            let shown = format!("{}, {}, ALPN {}", info.version, info.suite, info.alpn);
            report.ok("tls", shown, took());
            certificate(&info.chain, t, &trust, report);
            Some((Box::new(s), Some(info)))
        }
        Err(HandshakeError::NotTls(_)) if require_tls => {
            let why = "the server does not speak TLS, but TLS is required (--cert/--tls): start it with --tls";
            report.fail(Stage::Tls, "tls", why, took());
            None
        }
        Err(HandshakeError::NotTls(_)) => {
            let why = "none: the server speaks plaintext, so the connection is NOT ENCRYPTED";
            report.warn("tls", why, took());
            match transport::tcp(t, &[addr], limit).await {
                Ok((s, _)) => Some((Box::new(s), None)),
                Err(e) => {
                    report.fail(Stage::Connect, "connect", e.to_string(), None);
                    None
                }
            }
        }
        Err(HandshakeError::Client(ClientError::Timeout { .. })) => {
            let why = format!("the server accepted the connection but answered nothing within {:?} (not a tcpplay server, or stalled)", opts.timeout);
            report.fail(Stage::Protocol, "tls", why, took());
            None
        }
        Err(HandshakeError::Client(e)) => {
            report.fail(Stage::Tls, "tls", format!("handshake failed: {e}"), took());
            None
        }
    }
}

fn certificate(
    chain: &[rustls::pki_types::CertificateDer<'static>],
    t: &HostPort,
    trust: &Trust,
    report: &mut Report,
) {
    for (i, der) in chain.iter().enumerate() {
        match tls::describe(der) {
            Ok(info) => {
                let label = if i == 0 {
                    "certificate".to_string()
                } else {
                    format!("chain[{i}]")
                };
                report.ok(
                    &label,
                    format!(
                        "subject {}; issuer {}; names {}; SHA-256 {}",
                        info.subject,
                        info.issuer,
                        info.sans.join(", "),
                        info.fingerprint
                    ),
                    None,
                );
                if i == 0 {
                    super::local::validity(
                        &info,
                        report,
                        "certificate validity",
                        Stage::Certificate,
                    );
                }
            }
            Err(e) => report.fail(Stage::Certificate, "certificate", format!("{e:#}"), None),
        }
    }
    let how = match trust {
        Trust::File(p) => format!("trusting only {}", p.display()),
        Trust::PublicRoots => "with the public roots".into(),
        Trust::Pinned(pin) => format!("pinned to SHA-256 {pin} (known_hosts)"),
        Trust::Insecure => "skipped (--tls-insecure)".into(),
    };
    match tls::verify_chain(trust, chain, t.host()) {
        Ok(()) if matches!(trust, Trust::Insecure) => report.warn("certificate verification", how, None),
        Ok(()) => report.ok(
            "certificate verification",
            format!("verifies for {} {how}", t.host()),
            None,
        ),
        Err(why) => report.fail(
            Stage::Certificate,
            "certificate verification",
            format!(
                "does not verify for {} {how}: {why} (trust the server's certificate or CA with --cert)",
                t.host()
            ),
            None,
        ),
    }
}

/// The server's `hello`, described (or the failure, at stage protocol or tls).
async fn hello<S: tokio::io::AsyncRead + tokio::io::AsyncWrite>(
    conn: &mut protocol::Connection<S>,
    limit: Duration,
    report: &mut Report,
) -> Option<Hello> {
    let start = Instant::now();
    let h = match tokio::time::timeout(limit, transport::read_hello(conn)).await {
        Ok(Ok(h)) => h,
        Ok(Err(ClientError::Tls { detail, .. })) => {
            let why = format!("the server ended the connection after the TLS handshake: {detail}");
            report.fail(Stage::Tls, "hello", why, Some(start.elapsed()));
            return None;
        }
        Ok(Err(e)) => {
            report.fail(
                Stage::Protocol,
                "hello",
                e.to_string(),
                Some(start.elapsed()),
            );
            return None;
        }
        Err(_) => {
            let why = format!("no hello within {limit:?}: not a tcpplay or TCP-Playground server");
            report.fail(Stage::Protocol, "hello", why, Some(start.elapsed()));
            return None;
        }
    };
    let took = Some(start.elapsed());
    match (h.proto, h.secure) {
        (None, false) => report.ok("hello", "legacy TCP-Playground (Python) server, plaintext room", took),
        (None, true) => report.warn("hello", "legacy TCP-Playground (Python) server in its old secure mode, which tcpplay cannot join", took),
        (Some(1), true) => report.warn("hello", "tcpplay with secure rooms v1, which hand any server a crackable proof: upgrade the server; tcpplay will not log in", took),
        (Some(p), secure) => {
            let scheme = h
                .auth
                .as_ref()
                .map(|a| format!(", secure room ({})", sanitize(&a.scheme)))
                .unwrap_or_default();
            let soft = sanitize(h.server.as_deref().unwrap_or("unknown")).into_owned();
            let mode = if secure && scheme.is_empty() { ", secure (no parameters!)" } else { "" };
            use crate::protocol::Registration;
            let accounts = match h.accounts {
                None => "",
                Some(Registration::Open) => "; accounts: registration open (join --register)",
                Some(Registration::Operator) => "; accounts: made by its operator only",
                Some(Registration::Closed) => "; accounts: registration closed (existing accounts log in)",
                Some(Registration::Unknown) => "; accounts: registration of a kind this build does not know",
            };
            report.ok("hello", format!("{soft}, protocol {p}{scheme}{mode}{accounts}"), took);
        }
    }
    Some(h)
}

async fn join(
    conn: &mut Connection,
    name: &str,
    loaded: &Loaded,
    opts: &CheckOptions,
    report: &mut Report,
) {
    let start = Instant::now();
    let password = || {
        let sources = crate::secret::Sources {
            flag: None,
            file_key: "join.password_file",
            confirm: false,
            can_prompt: false,
        };
        crate::secret::room_password(
            loaded,
            loaded.settings.join.password_file.as_deref(),
            sources,
        )
    };
    let joined = match client::authenticate(conn, name, Some(opts.timeout), password, None).await {
        Ok(j) => j,
        Err(e) => return report.fail(Stage::Auth, "join", e.to_string(), Some(start.elapsed())),
    };
    let how = if conn.key.is_some() {
        "; secure room: each side proved itself to the other"
    } else {
        ""
    };
    report.ok(
        "join",
        format!("as {}{how}", sanitize(&joined.name)),
        Some(start.elapsed()),
    );
    pings(conn, opts, report).await;
    rooms(conn, opts, report).await;
    let start = Instant::now();
    conn.leave(None).await;
    let drained = tokio::time::timeout(opts.timeout, async {
        while let Ok(Some(_)) = conn.next().await {}
    })
    .await;
    match drained {
        Ok(()) => report.ok(
            "leave",
            "left cleanly; the server closed the connection",
            Some(start.elapsed()),
        ),
        Err(_) => report.warn(
            "leave",
            "the server did not close the connection after we left",
            Some(start.elapsed()),
        ),
    }
}

/// The server's rooms and their members (a server with rooms only).
async fn rooms(conn: &mut Connection, opts: &CheckOptions, report: &mut Report) {
    if conn.default_room().is_none() {
        return;
    }
    let start = Instant::now();
    if conn.send(&Packet::Rooms(Default::default())).await.is_err() {
        return;
    }
    let answer = tokio::time::timeout(opts.timeout, async {
        while let Ok(Some(p)) = conn.next().await {
            if let Packet::Rooms(r) = p {
                return Some(r);
            }
        }
        None
    })
    .await;
    let Ok(Some(list)) = answer else {
        return report.warn(
            "rooms",
            "the server did not list its rooms",
            Some(start.elapsed()),
        );
    };
    let total = list.total.unwrap_or(list.rooms.len() as u64);
    let shown: Vec<String> = list
        .rooms
        .iter()
        .take(20)
        .map(|r| format!("{} [{}]", sanitize(&r.room), r.total))
        .collect();
    let more = if total as usize > shown.len() {
        format!(" and {} more", total as usize - shown.len())
    } else {
        String::new()
    };
    report.ok(
        "rooms",
        format!("{total}: {}{more}", shown.join(", ")),
        Some(start.elapsed()),
    );
    report.rooms = list.rooms;
}

/// Round trips of `ping`/`pong`, summarised.
async fn pings(conn: &mut Connection, opts: &CheckOptions, report: &mut Report) {
    let mut rtts = Vec::new();
    for i in 0..opts.pings as u64 {
        let t = Instant::now();
        if conn
            .send(&Packet::Ping(Ping { token: Some(i) }))
            .await
            .is_err()
        {
            break;
        }
        let pong = tokio::time::timeout(opts.timeout, async {
            while let Ok(Some(p)) = conn.next().await {
                if matches!(p, Packet::Pong(Ping { token: Some(t) }) if t == i) {
                    return true;
                }
            }
            false
        })
        .await;
        if pong != Ok(true) {
            break;
        }
        rtts.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    if rtts.len() as u32 == opts.pings && !rtts.is_empty() {
        rtts.sort_by(|a, b| a.total_cmp(b));
        report.ok(
            "ping",
            format!(
                "{} round trips: min {:.2} ms, median {:.2} ms, max {:.2} ms",
                rtts.len(),
                rtts[0],
                rtts[rtts.len() / 2],
                rtts[rtts.len() - 1]
            ),
            None,
        );
    } else if opts.pings > 0 {
        report.warn(
            "ping",
            format!(
                "{} of {} pings answered (a legacy server does not answer ping)",
                rtts.len(),
                opts.pings
            ),
            None,
        );
    }
}
