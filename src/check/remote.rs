//! The network probe: resolve, connect, TLS (with the certificate chain shown
//! and verified against the user's trust), the server's `hello`, and with
//! `--name` a full join, ping round trips and a clean leave. Each step is
//! timed, bounded by `--timeout`, and a failure names its stage.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::FramedRead;

use super::{Report, Stage};
use crate::cli::CheckArgs;
use crate::client::{self, Connection, Stream, TlsInfo, TransportInfo};
use crate::config::{ConfigError, Loaded, TlsMode};
use crate::names::sanitize;
use crate::protocol::{FrameCodec, Hello, Packet, Ping};
use crate::tls::{self, HandshakeFailure, Trust};

pub struct Target {
    pub host: String,
    pub port: u16,
}

/// What to probe: HOST:PORT, --host/--port, or (with --remote) the join settings.
pub fn target(loaded: &Loaded, args: &CheckArgs) -> anyhow::Result<Option<Target>> {
    let j = &loaded.settings.join;
    if let Some(t) = &args.target {
        let (host, port) = t
            .rsplit_once(':')
            .ok_or_else(|| ConfigError::new(format!("target '{t}' must be HOST:PORT")))?;
        let port: u16 =
            port.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                ConfigError::new(format!("port '{port}' in '{t}' must be 1-65535"))
            })?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        return Ok(Some(Target { host, port }));
    }
    if args.host.is_some() || args.port.is_some() || args.remote {
        return Ok(Some(Target {
            host: args.host.clone().unwrap_or_else(|| j.host.clone()),
            port: args.port.unwrap_or(j.port),
        }));
    }
    Ok(None)
}

async fn within<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(limit, f).await.ok()
}

pub async fn probe(loaded: &Loaded, args: &CheckArgs, t: &Target, report: &mut Report) {
    let limit = Duration::from_secs_f64(args.timeout.max(0.1));
    let j = &loaded.settings.join;
    let cert = j.cert.clone();
    let trust = match (&cert, j.tls_insecure) {
        (Some(c), _) => Trust::File(c.clone()),
        (None, true) => Trust::Insecure,
        (None, false) => Trust::PublicRoots,
    };
    let require_tls = cert.is_some() || j.tls == TlsMode::On || j.tls_insecure;

    let start = Instant::now();
    let addrs: Vec<SocketAddr> =
        match within(limit, tokio::net::lookup_host((t.host.as_str(), t.port))).await {
            Some(Ok(a)) => a.collect(),
            Some(Err(e)) => {
                return report.fail(
                    Stage::Resolve,
                    "resolve",
                    format!("{} does not resolve: {e}", t.host),
                    Some(start.elapsed()),
                )
            }
            None => {
                return report.fail(
                    Stage::Resolve,
                    "resolve",
                    format!("{} did not resolve within {limit:?}", t.host),
                    Some(start.elapsed()),
                )
            }
        };
    let list = addrs
        .iter()
        .map(|a| a.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    report.ok(
        "resolve",
        format!("{} -> {list}", t.host),
        Some(start.elapsed()),
    );

    let Some((tcp, addr)) = connect(&addrs, limit, report).await else {
        return;
    };
    let client_auth = j.client_cert.clone().zip(j.client_key.clone());
    let (stream, tls_info) =
        match handshake(tcp, t, &trust, client_auth, limit, require_tls, report).await {
            Step::Tls(s, info) => (s, Some(info)),
            Step::Plain => match within(limit, TcpStream::connect(addr)).await {
                Some(Ok(s)) => (Box::new(s) as Box<dyn Stream>, None),
                _ => {
                    return report.fail(
                        Stage::Connect,
                        "connect",
                        "the plaintext reconnect failed",
                        None,
                    )
                }
            },
            Step::Stop => return,
        };
    let (r, w) = tokio::io::split(stream);
    let mut reader = FramedRead::new(r, FrameCodec::new(client::MAX_FRAME_BYTES));
    let Some(hello) = read_hello(&mut reader, limit, report).await else {
        return;
    };
    let Some(name) = &args.name else { return };
    let mut conn = Connection {
        reader,
        writer: w,
        hello,
        transport: TransportInfo {
            addr,
            tls: tls_info,
            fell_back: false,
        },
    };
    join(&mut conn, name, loaded, args, limit, report).await;
}

async fn connect(
    addrs: &[SocketAddr],
    limit: Duration,
    report: &mut Report,
) -> Option<(TcpStream, SocketAddr)> {
    let start = Instant::now();
    let mut last = String::from("no address to try");
    for a in addrs {
        match within(limit, TcpStream::connect(a)).await {
            Some(Ok(s)) => {
                report.ok("connect", format!("TCP to {a}"), Some(start.elapsed()));
                return Some((s, *a));
            }
            Some(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = format!("{a}: connection refused (nothing listens there: is the server running, and the port right?)")
            }
            Some(Err(e)) => last = format!("{a}: {e}"),
            None => last = format!("{a}: no answer within {limit:?} (a firewall dropping packets?)"),
        }
    }
    report.fail(Stage::Connect, "connect", last, Some(start.elapsed()));
    None
}

enum Step {
    Tls(Box<dyn Stream>, TlsInfo),
    Plain,
    Stop,
}

/// Try TLS (accepting any certificate, so the chain can be shown), then
/// verify the chain with the user's trust.
async fn handshake(
    tcp: TcpStream,
    t: &Target,
    trust: &Trust,
    client_auth: Option<(std::path::PathBuf, std::path::PathBuf)>,
    limit: Duration,
    require: bool,
    report: &mut Report,
) -> Step {
    let start = Instant::now();
    let files = client_auth
        .as_ref()
        .map(|(c, k)| (c.as_path(), k.as_path()));
    let config = match tls::client_config_mtls(&Trust::Insecure, files) {
        Ok(c) => c,
        Err(e) => {
            report.fail(Stage::Local, "client certificate", format!("{e:#}"), None);
            return Step::Stop;
        }
    };
    let Ok(name) = tls::server_name(&t.host) else {
        report.fail(
            Stage::Tls,
            "tls",
            format!("'{}' cannot be used as a TLS server name", t.host),
            None,
        );
        return Step::Stop;
    };
    let tls = match within(limit, TlsConnector::from(config).connect(name, tcp)).await {
        Some(Ok(s)) => s,
        Some(Err(e)) if tls::classify(&e) == HandshakeFailure::NotTls => {
            if require {
                report.fail(Stage::Tls, "tls", "the server does not speak TLS, but TLS is required (--cert/--tls): start it with --tls", Some(start.elapsed()));
                return Step::Stop;
            }
            report.warn(
                "tls",
                "none: the server speaks plaintext, so the connection is NOT ENCRYPTED",
                Some(start.elapsed()),
            );
            return Step::Plain;
        }
        Some(Err(e)) => {
            report.fail(
                Stage::Tls,
                "tls",
                format!("handshake failed: {}", tls::explain_io(&e)),
                Some(start.elapsed()),
            );
            return Step::Stop;
        }
        None => {
            report.fail(Stage::Protocol, "tls", format!("the server accepted the connection but answered nothing within {limit:?} (not a tcpplay server, or stalled)"), Some(start.elapsed()));
            return Step::Stop;
        }
    };
    let conn = tls.get_ref().1;
    let version = tls::version_name(conn.protocol_version());
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let alpn = conn
        .alpn_protocol()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .unwrap_or_else(|| "none".into());
    report.ok(
        "tls",
        format!("{version}, {suite}, ALPN {alpn}"),
        Some(start.elapsed()),
    );
    let chain: Vec<_> = conn
        .peer_certificates()
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let mut binding = [0u8; 32];
    let _ = conn.export_keying_material(&mut binding, crate::crypto::EXPORTER_LABEL, None);
    let fingerprint = chain.first().map(|c| tls::fingerprint(c));
    certificate(&chain, t, trust, report);
    Step::Tls(
        Box::new(tls),
        TlsInfo {
            version,
            fingerprint,
            binding,
        },
    )
}

fn certificate(
    chain: &[rustls::pki_types::CertificateDer<'static>],
    t: &Target,
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
        Trust::Pinned(pin) => format!("pinned to SHA-256 {pin}"),
        Trust::Insecure => "skipped (--tls-insecure)".into(),
    };
    match tls::verify_chain(trust, chain, &t.host) {
        Ok(()) if matches!(trust, Trust::Insecure) => report.warn("certificate verification", how, None),
        Ok(()) => report.ok("certificate verification", format!("verifies for {} {how}", t.host), None),
        Err(why) => report.fail(
            Stage::Certificate,
            "certificate verification",
            format!("does not verify for {} {how}: {why} (trust the server's certificate or CA with --cert)", t.host),
            None,
        ),
    }
}

async fn read_hello<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut FramedRead<R, FrameCodec>,
    limit: Duration,
    report: &mut Report,
) -> Option<Hello> {
    let start = Instant::now();
    let line = match within(limit, reader.next()).await {
        Some(Some(Ok(l))) => l,
        Some(Some(Err(crate::protocol::FrameError::Io(e)))) if tls_refusal(&e) => {
            report.fail(
                Stage::Tls,
                "hello",
                format!(
                    "the server ended the connection after the TLS handshake: {}",
                    tls::explain_io(&e)
                ),
                Some(start.elapsed()),
            );
            return None;
        }
        Some(_) => {
            report.fail(
                Stage::Protocol,
                "hello",
                "the server closed the connection without a hello",
                Some(start.elapsed()),
            );
            return None;
        }
        None => {
            report.fail(
                Stage::Protocol,
                "hello",
                format!("no hello within {limit:?}: not a tcpplay or TCP-Playground server"),
                Some(start.elapsed()),
            );
            return None;
        }
    };
    let h = match crate::protocol::parse(&line) {
        Ok(Packet::Hello(h)) => h,
        _ => {
            let shown =
                sanitize(&String::from_utf8_lossy(&line[..line.len().min(80)])).into_owned();
            report.fail(
                Stage::Protocol,
                "hello",
                format!("the first line is not a hello: {shown}"),
                Some(start.elapsed()),
            );
            return None;
        }
    };
    let took = Some(start.elapsed());
    match (h.proto, h.secure) {
        (None, false) => report.ok("hello", "legacy TCP-Playground (Python) server, plaintext room", took),
        (None, true) => report.warn("hello", "legacy TCP-Playground (Python) server in its old secure mode, which tcpplay cannot join", took),
        (Some(p), secure) => {
            let kdf = h
                .auth
                .as_ref()
                .map(|a| format!(", secure room ({} m={} KiB t={} p={})", sanitize(&a.kdf), a.m_kib, a.t, a.p))
                .unwrap_or_default();
            let soft = sanitize(h.server.as_deref().unwrap_or("unknown")).into_owned();
            let mode = if secure && kdf.is_empty() { ", secure (no parameters!)" } else { "" };
            report.ok("hello", format!("{soft}, protocol {p}{kdf}{mode}"), took);
        }
    }
    Some(h)
}

/// An I/O error that is the server's TLS alert (e.g. a client certificate
/// it requires, said after the handshake in TLS 1.3).
fn tls_refusal(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

async fn join(
    conn: &mut Connection,
    name: &str,
    loaded: &Loaded,
    args: &CheckArgs,
    limit: Duration,
    report: &mut Report,
) {
    let start = Instant::now();
    let password = || {
        let file = args
            .password_file
            .as_deref()
            .or(loaded.settings.join.password_file.as_deref());
        let sources = crate::secret::Sources {
            flag: None,
            file_key: "join.password_file",
            confirm: false,
            can_prompt: false,
        };
        crate::secret::room_password(loaded, file, sources)
    };
    let joined = match client::authenticate(conn, name, Some(limit), password).await {
        Ok(j) => j,
        Err(e) => return report.fail(Stage::Auth, "join", e.to_string(), Some(start.elapsed())),
    };
    let how = if joined.key.is_some() {
        "; secure room: proofs verified both ways"
    } else {
        ""
    };
    report.ok(
        "join",
        format!("as {}{how}", sanitize(&joined.name)),
        Some(start.elapsed()),
    );
    let mut rtts = Vec::new();
    for i in 0..args.pings {
        let t = Instant::now();
        if client::send(
            &mut conn.writer,
            &Packet::Ping(Ping {
                token: Some(i as u64),
            }),
        )
        .await
        .is_err()
        {
            break;
        }
        let pong = within(limit, async {
            while let Some(Ok(line)) = conn.reader.next().await {
                if let Ok(Packet::Pong(p)) = crate::protocol::parse(&line) {
                    if p.token == Some(i as u64) {
                        return true;
                    }
                }
            }
            false
        })
        .await;
        if pong != Some(true) {
            break;
        }
        rtts.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    if rtts.len() as u32 == args.pings && !rtts.is_empty() {
        let mut s = rtts.clone();
        s.sort_by(|a, b| a.total_cmp(b));
        report.ok(
            "ping",
            format!(
                "{} round trips: min {:.2} ms, median {:.2} ms, max {:.2} ms",
                s.len(),
                s[0],
                s[s.len() / 2],
                s[s.len() - 1]
            ),
            None,
        );
    } else if args.pings > 0 {
        report.warn(
            "ping",
            format!(
                "{} of {} pings answered (a legacy server does not answer ping)",
                rtts.len(),
                args.pings
            ),
            None,
        );
    }
    let start = Instant::now();
    let _ = conn.writer.shutdown().await;
    let drained = within(limit, async {
        while let Some(Ok(_)) = conn.reader.next().await {}
    })
    .await;
    match drained {
        Some(()) => report.ok(
            "leave",
            "left cleanly; the server closed the connection",
            Some(start.elapsed()),
        ),
        None => report.warn(
            "leave",
            "the server did not close the connection after we left",
            Some(start.elapsed()),
        ),
    }
}
