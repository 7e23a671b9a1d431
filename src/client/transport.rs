//! From a host and port to a [`Connection`] that has read the server's
//! `hello`: resolve, TCP, TLS (or not, or whatever the server speaks), each
//! step bounded and named when it fails. `join` uses [`connect`]; `check`
//! runs the same steps one by one to report each.
//!
//! Never a silent downgrade: plaintext is only taken in `tls = auto`, never
//! after a certificate failure, and the caller is told (`fell_back`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{wire, ClientError, Connection, Stream};
use crate::hostport::HostPort;
use crate::protocol::connection::Read;
use crate::protocol::{self, Hello, Packet};
use crate::tls::{self, HandshakeFailure, TlsMode, Trust};

/// Client-side frame limit: servers are trusted a little more than clients, but
/// not with unbounded memory.
pub(crate) const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub target: HostPort,
    pub timeout: Option<Duration>,
    pub tls: TlsMode,
    pub trust: Trust,
    /// A client certificate and key to present (mutual TLS).
    pub client_auth: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Print every line sent and received on stderr (secrets redacted).
    pub show_wire: bool,
    /// A spinner to tell what is going on (resolving, connecting, TLS).
    pub progress: Option<indicatif::ProgressBar>,
}

impl ConnectOptions {
    fn phase(&self, what: impl Into<std::borrow::Cow<'static, str>>) {
        if let Some(pb) = &self.progress {
            pb.set_message(what);
        }
    }

    /// The client TLS configuration these options ask for.
    pub(crate) fn tls_config(
        &self,
        trust: &Trust,
    ) -> Result<Arc<rustls::ClientConfig>, ClientError> {
        let files = self
            .client_auth
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path()));
        tls::client_config_mtls(trust, files).map_err(ClientError::Other)
    }
}

/// How the transport ended up.
#[derive(Debug, Clone)]
pub struct TransportInfo {
    pub addr: SocketAddr,
    /// `None`: plaintext.
    pub tls: Option<TlsInfo>,
    /// TLS was tried or looked for, and the server speaks plaintext (auto mode).
    pub fell_back: bool,
}

/// What a TLS session is: for people, for `check`, and the channel binding.
#[derive(Clone)]
pub struct TlsInfo {
    pub version: String,
    pub suite: String,
    pub alpn: String,
    /// SHA-256 of the server's certificate.
    pub fingerprint: Option<String>,
    /// The certificates the server presented, its own first.
    pub chain: Vec<CertificateDer<'static>>,
    /// TLS exporter output for secure rooms (never printed).
    /// `None` when the exporter failed: a secure room's login then refuses.
    pub binding: Option<[u8; 32]>,
}

impl std::fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsInfo")
            .field("version", &self.version)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl TlsInfo {
    pub fn of(conn: &rustls::ClientConnection) -> TlsInfo {
        let chain: Vec<CertificateDer<'static>> = conn
            .peer_certificates()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        TlsInfo {
            version: tls::version_name(conn.protocol_version()),
            suite: conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            alpn: conn
                .alpn_protocol()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .unwrap_or_else(|| "none".into()),
            fingerprint: chain.first().map(|c| tls::fingerprint(c)),
            chain,
            binding: tls::channel_binding(conn),
        }
    }
}

/// Run `fut`, naming the phase if it takes longer than `limit`.
pub(crate) async fn with_timeout<T, F>(
    fut: F,
    phase: &'static str,
    target: &str,
    limit: Option<Duration>,
) -> Result<T, ClientError>
where
    F: std::future::Future<Output = Result<T, ClientError>>,
{
    match limit {
        None => fut.await,
        Some(d) => tokio::time::timeout(d, fut).await.unwrap_or_else(|_| {
            Err(ClientError::Timeout {
                phase,
                target: target.to_string(),
                secs: d.as_secs_f64(),
            })
        }),
    }
}

/// Every address `target`'s host resolves to.
pub(crate) async fn resolve(
    target: &HostPort,
    limit: Option<Duration>,
) -> Result<Vec<SocketAddr>, ClientError> {
    let t = target.to_string();
    let fut = async {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host(), target.port))
            .await
            .map_err(|e| ClientError::Resolve {
                target: t.clone(),
                reason: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(ClientError::Resolve {
                target: t.clone(),
                reason: "the name resolved to no address".into(),
            });
        }
        Ok(addrs)
    };
    with_timeout(fut, "resolving the host name", &t, limit).await
}

/// TCP to the first of `addrs` that answers (each bounded by `limit`).
pub(crate) async fn tcp(
    target: &HostPort,
    addrs: &[SocketAddr],
    limit: Option<Duration>,
) -> Result<(TcpStream, SocketAddr), ClientError> {
    let mut last = String::from("no address to try");
    for a in addrs {
        // The address tried, when it is not what the user typed.
        let at = match a.to_string() == target.to_string() {
            true => String::new(),
            false => format!("{a}: "),
        };
        let attempt = async { TcpStream::connect(a).await.map_err(ClientError::Io) };
        match with_timeout(attempt, "connecting", &a.to_string(), limit).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok((s, *a));
            }
            Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = format!("{at}connection refused: is the server running, and is the host/port right (or a firewall in the way)?");
            }
            Err(ClientError::Io(e)) => last = format!("{at}{e}"),
            Err(_) => last = format!("{at}no answer (a firewall dropping packets?)"),
        }
    }
    Err(ClientError::Connect {
        target: target.to_string(),
        reason: last,
    })
}

/// Why a TLS handshake did not give a session.
pub(crate) enum HandshakeError {
    /// The peer does not speak TLS (it sent something else, or hung up).
    NotTls(String),
    Client(ClientError),
}

/// A TLS handshake over `s` with `config`, verifying `target`'s host name.
pub(crate) async fn tls_handshake(
    s: TcpStream,
    target: &HostPort,
    config: Arc<rustls::ClientConfig>,
    trust: &Trust,
    limit: Option<Duration>,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, TlsInfo), HandshakeError> {
    let t = target.to_string();
    let name = tls::server_name(target.host())
        .map_err(|e| HandshakeError::Client(ClientError::Other(e)))?;
    let connector = TlsConnector::from(config);
    let fut = async { connector.connect(name, s).await.map_err(ClientError::Io) };
    match with_timeout(fut, "in the TLS handshake", &t, limit).await {
        Ok(tls) => {
            let info = TlsInfo::of(tls.get_ref().1);
            Ok((tls, info))
        }
        Err(ClientError::Io(e)) => {
            let detail = tls::explain_io(&e);
            Err(match tls::classify(&e) {
                HandshakeFailure::NotTls => HandshakeError::NotTls(detail),
                HandshakeFailure::Certificate => HandshakeError::Client(ClientError::Certificate {
                    target: t,
                    detail,
                    hint: trust_hint(trust),
                }),
                HandshakeFailure::Other => {
                    HandshakeError::Client(ClientError::Tls { target: t, detail })
                }
            })
        }
        Err(e) => Err(HandshakeError::Client(e)),
    }
}

/// What to do about a certificate that did not verify, given the trust used.
fn trust_hint(trust: &Trust) -> String {
    match trust {
        Trust::File(p) => format!(
            "(trusting only {}): is it the server's certificate, or the CA that issued it? \
             `tcpplay check HOST:PORT --cert {}` shows what the server presents",
            p.display(),
            p.display()
        ),
        Trust::Pinned(_) => "the server's certificate is not the one pinned (in known_hosts, or by the link's fp=): \
                             ask the server's operator for the current link or fingerprint"
            .into(),
        _ => "trust the server's certificate with --cert cert.pem (the file `tcpplay gen-cert` or \
              `openssl req` wrote), or, for local testing only, skip verification with --tls-insecure"
            .into(),
    }
}

/// Does the server talk before we do? A plaintext tcpplay or TCP-Playground
/// server sends its `hello` as soon as it accepts; a TLS server says nothing
/// until it has our ClientHello. Wait a little longer than the connection
/// took to set up (two round trips and some slack, at most a second).
async fn speaks_first(s: &TcpStream, connect_took: Duration) -> bool {
    let wait = (connect_took * 2 + Duration::from_millis(150)).min(Duration::from_secs(1));
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(wait, s.peek(&mut first)).await,
        Ok(Ok(1)) if first[0] == b'{'
    )
}

/// A server that stayed quiet on a plaintext connection: does it answer a
/// TLS handshake on a second one? (Nothing is sent there but a
/// ClientHello, and the connection is dropped after the handshake.)
async fn answers_tls(opts: &ConnectOptions, addr: std::net::SocketAddr) -> bool {
    let Ok(config) = tls::client_config(&Trust::Insecure) else {
        return false;
    };
    let limit = Some(Duration::from_secs(2));
    let Ok((s, _)) = tcp(&opts.target, &[addr], limit).await else {
        return false;
    };
    match tls_handshake(s, &opts.target, config, &Trust::Insecure, limit).await {
        Ok(_) => true,
        Err(HandshakeError::NotTls(_)) => false,
        Err(HandshakeError::Client(e)) => {
            matches!(e, ClientError::Tls { .. } | ClientError::Certificate { .. })
        }
    }
}

/// Connect as `opts` asks and read the server's `hello`.
pub async fn connect(opts: &ConnectOptions) -> Result<Connection, ClientError> {
    let t = &opts.target;
    opts.phase(format!("resolving {}", t.host()));
    let addrs = resolve(t, opts.timeout).await?;
    let started = Instant::now();
    opts.phase(format!("connecting to {}", addrs[0]));
    let (s, addr) = tcp(t, &addrs, opts.timeout).await?;
    let mut fell_back = false;
    let (stream, tls_info): (Box<dyn Stream>, Option<TlsInfo>) = match opts.tls {
        TlsMode::Off
            if !speaks_first(&s, started.elapsed()).await && answers_tls(opts, addr).await =>
        {
            return Err(ClientError::Protocol(format!(
                "{t} speaks TLS, and plaintext was asked for (--no-tls, or tls = \"off\" in the settings): \
                 drop --no-tls (with --cert FILE if its certificate is self-signed)"
            )));
        }
        TlsMode::Off => (Box::new(s), None),
        TlsMode::Auto if speaks_first(&s, started.elapsed()).await => {
            // No failed handshake in anyone's log.
            fell_back = true;
            (Box::new(s), None)
        }
        TlsMode::On | TlsMode::Auto => {
            opts.phase(format!("TLS handshake with {addr}"));
            let config = opts.tls_config(&opts.trust)?;
            match tls_handshake(s, t, config, &opts.trust, opts.timeout).await {
                Ok((tls, info)) => (Box::new(tls), Some(info)),
                Err(HandshakeError::NotTls(detail)) if opts.tls == TlsMode::Auto => {
                    tracing::debug!("TLS attempt failed ({detail}); retrying in plaintext");
                    fell_back = true;
                    let (s, _) = tcp(t, &[addr], opts.timeout).await?;
                    (Box::new(s), None)
                }
                Err(HandshakeError::NotTls(detail)) => {
                    return Err(ClientError::Tls {
                        target: t.to_string(),
                        detail: format!(
                            "{detail}: the server does not speak TLS, and TLS was asked for (--tls, --cert, a link's fp= or a \
                             secure room) — serve with --tls, or join without them"
                        ),
                    })
                }
                Err(HandshakeError::Client(e)) => return Err(silent(e, addr)),
            }
        }
    };
    let stream: Box<dyn Stream> = if opts.show_wire {
        Box::new(wire::Tap::new(stream))
    } else {
        stream
    };
    let mut conn = protocol::Connection::new(stream, MAX_FRAME_BYTES, 8 * 1024);
    opts.phase("waiting for the server's hello");
    let phase = "waiting for the server's hello";
    let hello = with_timeout(read_hello(&mut conn), phase, &t.to_string(), opts.timeout)
        .await
        .map_err(|e| silent(e, addr))?;
    let transport = TransportInfo {
        addr,
        tls: tls_info,
        fell_back,
    };
    Ok(Connection::new(conn, hello, transport))
}

/// A timeout where a tcpplay server would have spoken (its hello, or its
/// answer to our TLS ClientHello): whatever accepts and then says nothing
/// is not a tcpplay server — said with the port, not as a slow handshake.
fn silent(e: ClientError, addr: std::net::SocketAddr) -> ClientError {
    match e {
        ClientError::Timeout { secs, .. } => ClientError::Protocol(format!(
            "{addr} accepted the connection but said nothing for {secs} s: this port ({}) is not a \
             tcpplay server (a tcpplay server greets at once, or answers the TLS handshake). Check the \
             port `tcpplay serve` printed; `tcpplay check {addr}` probes it step by step. (A tcpplay \
             server on a very slow network: raise --timeout.)",
            addr.port()
        )),
        e => e,
    }
}

/// A connection over a stream opened elsewhere — a WebSocket bridged to
/// lines, a pipe in a test — to the server at `addr`: read its `hello`.
pub async fn over(
    stream: Box<dyn Stream>,
    addr: std::net::SocketAddr,
    timeout: Option<Duration>,
) -> Result<Connection, ClientError> {
    let mut conn = protocol::Connection::new(stream, MAX_FRAME_BYTES, 8 * 1024);
    let phase = "waiting for the server's hello";
    let hello = with_timeout(read_hello(&mut conn), phase, &addr.to_string(), timeout).await?;
    let transport = TransportInfo {
        addr,
        tls: None,
        fell_back: false,
    };
    Ok(Connection::new(conn, hello, transport))
}

/// The server's first packet, which must be a `hello`.
pub(crate) async fn read_hello<S: tokio::io::AsyncRead + tokio::io::AsyncWrite>(
    conn: &mut protocol::Connection<S>,
) -> Result<Hello, ClientError> {
    match conn.read_packet().await {
        Ok(Read::Packet(Packet::Hello(h))) => Ok(h),
        Ok(Read::Packet(Packet::Error(e))) => Err(ClientError::Protocol(format!(
            "the server refused: {} ({})",
            crate::names::sanitize(&e.message),
            crate::names::sanitize(&e.code)
        ))),
        Ok(Read::Packet(_)) => Err(ClientError::Protocol(
            "the server's first packet was not a hello: is this a tcpplay or TCP-Playground server?"
                .into(),
        )),
        Ok(Read::Unreadable(_)) => Err(ClientError::Protocol(
            "the server's first line is not a protocol packet: is this a tcpplay or TCP-Playground server?"
                .into(),
        )),
        Ok(Read::End) => Err(ClientError::Protocol(
            "the server closed the connection without a hello".into(),
        )),
        Err(e) => Err(super::read_error(e)),
    }
}
