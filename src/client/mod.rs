//! The client side of the protocol: connect (TCP, then TLS or not), read the
//! server's `hello`, authenticate, and hand a [`Connection`] to the UI.
//! Never a silent downgrade: plaintext after a failed TLS attempt is only
//! taken in `tls = auto`, never after a certificate failure, and is announced.

pub mod known_hosts;
pub mod secure;
pub mod ui;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::FramedRead;

use crate::config::TlsMode;
use crate::protocol::{self, Auth, FrameCodec, Hello, Packet};
use crate::tls::{self, HandshakeFailure, Trust};

/// A byte stream the client can speak over: TCP or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Client-side frame limit: servers are trusted a little more than clients, but
/// not with unbounded memory.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
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
}

/// How the transport ended up.
#[derive(Debug, Clone)]
pub struct TransportInfo {
    pub addr: SocketAddr,
    /// `None`: plaintext.
    pub tls: Option<TlsInfo>,
    /// TLS was tried and the server did not speak it (auto mode).
    pub fell_back: bool,
}

#[derive(Clone)]
pub struct TlsInfo {
    pub version: String,
    pub fingerprint: Option<String>,
    /// TLS exporter output for the secure-mode proof (never printed).
    pub binding: [u8; 32],
}

impl std::fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsInfo")
            .field("version", &self.version)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// An open connection after `hello`.
pub struct Connection {
    pub reader: FramedRead<ReadHalf<Box<dyn Stream>>, FrameCodec>,
    pub writer: WriteHalf<Box<dyn Stream>>,
    pub hello: Hello,
    pub transport: TransportInfo,
}

/// Client errors, each with what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("TLS certificate verification failed for {target}: {detail}\n  {hint}")]
    Certificate {
        target: String,
        detail: String,
        /// What to do, given what was trusted.
        hint: String,
    },
    #[error("TLS handshake with {target} failed: {detail}")]
    Tls { target: String, detail: String },
    #[error("{0}")]
    Protocol(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error(
        "timed out after {secs} s while {phase} ({target}); raise --timeout if the network is slow"
    )]
    Timeout {
        phase: &'static str,
        target: String,
        secs: f64,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Run `fut`, naming the phase if it takes longer than `limit`.
pub async fn with_timeout<T, F>(
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

fn target(opts: &ConnectOptions) -> String {
    if opts.host.contains(':') && !opts.host.starts_with('[') {
        format!("[{}]:{}", opts.host, opts.port)
    } else {
        format!("{}:{}", opts.host, opts.port)
    }
}

async fn tcp(opts: &ConnectOptions) -> Result<TcpStream, ClientError> {
    let t = target(opts);
    let host = opts
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let fut = async {
        let fail = |e: std::io::Error| {
            let reason = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    "connection refused: is the server running, and is the host/port right (or a firewall in the way)?".to_string()
                }
                _ => e.to_string(),
            };
            ClientError::Connect {
                target: t.clone(),
                reason,
            }
        };
        opts.phase(format!("resolving {host}"));
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), opts.port))
            .await
            .map_err(fail)?
            .collect();
        let mut last = None;
        for addr in addrs {
            opts.phase(format!("connecting to {addr}"));
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(fail(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name resolved to no address",
            )
        })))
    };
    with_timeout(fut, "connecting", &t, opts.timeout).await
}

/// Connect as `opts` asks and read the server's `hello`.
pub async fn connect(opts: &ConnectOptions) -> Result<Connection, ClientError> {
    let t = target(opts);
    let mut fell_back = false;
    let (stream, tls_info, addr): (Box<dyn Stream>, Option<TlsInfo>, SocketAddr) = match opts.tls {
        TlsMode::Off => {
            let s = tcp(opts).await?;
            let addr = s.peer_addr()?;
            (Box::new(s), None, addr)
        }
        TlsMode::On | TlsMode::Auto => {
            let started = std::time::Instant::now();
            let s = tcp(opts).await?;
            let addr = s.peer_addr()?;
            if opts.tls == TlsMode::Auto && speaks_first(&s, started.elapsed()).await {
                // A plaintext server greets at once; a TLS server waits for
                // our ClientHello. No failed handshake in anyone's log.
                fell_back = true;
                (Box::new(s) as Box<dyn Stream>, None, addr)
            } else {
                opts.phase(format!("TLS handshake with {addr}"));
                match tls_handshake(s, opts).await {
                    Ok((tls, info)) => (tls, Some(info), addr),
                    Err(HandshakeError::NotTls(detail)) if opts.tls == TlsMode::Auto => {
                        tracing::debug!("TLS attempt failed ({detail}); retrying in plaintext");
                        fell_back = true;
                        let s = tcp(opts).await?;
                        (Box::new(s) as Box<dyn Stream>, None, addr)
                    }
                    Err(HandshakeError::NotTls(detail)) => {
                        return Err(ClientError::Tls {
                            target: t,
                            detail: format!(
                                "{detail} — the server does not seem to speak TLS (start it with --tls, or join without --tls/--cert)"
                            ),
                        })
                    }
                    Err(HandshakeError::Client(e)) => return Err(e),
                }
            }
        }
    };
    let stream: Box<dyn Stream> = if opts.show_wire {
        Box::new(wire::Tap::new(stream))
    } else {
        stream
    };
    let (r, w) = tokio::io::split(stream);
    let mut reader = FramedRead::new(r, FrameCodec::new(MAX_FRAME_BYTES));
    opts.phase("waiting for the server's hello");
    let hello = with_timeout(
        read_hello(&mut reader),
        "waiting for the server's hello",
        &t,
        opts.timeout,
    )
    .await?;
    Ok(Connection {
        reader,
        writer: w,
        hello,
        transport: TransportInfo {
            addr,
            tls: tls_info,
            fell_back,
        },
    })
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
        Trust::Pinned(_) => "the server's certificate is not the one pinned in known_hosts".into(),
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

enum HandshakeError {
    NotTls(String),
    Client(ClientError),
}

async fn tls_handshake(
    s: TcpStream,
    opts: &ConnectOptions,
) -> Result<(Box<dyn Stream>, TlsInfo), HandshakeError> {
    let t = target(opts);
    let client_auth = opts
        .client_auth
        .as_ref()
        .map(|(c, k)| (c.as_path(), k.as_path()));
    let config: Arc<rustls::ClientConfig> = tls::client_config_mtls(&opts.trust, client_auth)
        .map_err(|e| HandshakeError::Client(ClientError::Other(e)))?;
    let name =
        tls::server_name(&opts.host).map_err(|e| HandshakeError::Client(ClientError::Other(e)))?;
    let connector = TlsConnector::from(config);
    let fut = async { connector.connect(name, s).await.map_err(ClientError::Io) };
    let tls = match with_timeout(fut, "in the TLS handshake", &t, opts.timeout).await {
        Ok(tls) => tls,
        Err(ClientError::Io(e)) => {
            let detail = tls::explain_io(&e);
            return Err(match tls::classify(&e) {
                HandshakeFailure::NotTls => HandshakeError::NotTls(detail),
                HandshakeFailure::Certificate => HandshakeError::Client(ClientError::Certificate {
                    target: t,
                    detail,
                    hint: trust_hint(&opts.trust),
                }),
                HandshakeFailure::Other => {
                    HandshakeError::Client(ClientError::Tls { target: t, detail })
                }
            });
        }
        Err(e) => return Err(HandshakeError::Client(e)),
    };
    let conn = tls.get_ref().1;
    let mut binding = [0u8; 32];
    // Only fails before the handshake completes; it has completed here.
    let _ = conn.export_keying_material(&mut binding, crate::crypto::EXPORTER_LABEL, None);
    let info = TlsInfo {
        binding,
        version: tls::version_name(conn.protocol_version()),
        fingerprint: conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| tls::fingerprint(c)),
    };
    Ok((Box::new(tls), info))
}

async fn read_hello<R: AsyncRead + Unpin>(
    reader: &mut FramedRead<R, FrameCodec>,
) -> Result<Hello, ClientError> {
    loop {
        match read_packet(reader).await? {
            Some(Packet::Hello(h)) => return Ok(h),
            Some(Packet::Error(e)) => {
                return Err(ClientError::Protocol(format!(
                    "the server refused: {} ({})",
                    crate::names::sanitize(&e.message),
                    crate::names::sanitize(&e.code)
                )))
            }
            Some(_) => {
                return Err(ClientError::Protocol(
                    "the server's first packet was not a hello: is this a tcpplay or TCP-Playground server?"
                        .into(),
                ))
            }
            None => continue,
        }
    }
}

/// The next packet from the server; `Ok(None)` for a line we skip.
pub async fn read_packet<R: AsyncRead + Unpin>(
    reader: &mut FramedRead<R, FrameCodec>,
) -> Result<Option<Packet>, ClientError> {
    match reader.next().await {
        None => Err(ClientError::Protocol(
            "the server closed the connection".into(),
        )),
        Some(Err(protocol::FrameError::Io(e))) => Err(ClientError::Protocol(format!(
            "reading from the server: {}",
            tls::explain_io(&e)
        ))),
        Some(Err(e)) => Err(ClientError::Protocol(format!(
            "reading from the server: {e}"
        ))),
        Some(Ok(line)) => match protocol::parse(&line) {
            Ok(p) => Ok(Some(p)),
            Err(e) => {
                tracing::debug!("skipped an unreadable line from the server: {e}");
                Ok(None)
            }
        },
    }
}

/// Send one packet.
pub async fn send<W: AsyncWrite + Unpin>(
    writer: &mut W,
    packet: &Packet,
) -> Result<(), ClientError> {
    writer.write_all(&packet.to_line()).await?;
    writer.flush().await?;
    Ok(())
}

/// The outcome of a successful auth.
pub struct Joined {
    /// The name the server gave us (after de-duplication).
    pub name: String,
    /// The room key, in a secure room.
    pub key: Option<secure::SharedKey>,
}

/// Join as `name`. In a secure room `password` is asked for (only then), the
/// key derived, and both proofs checked.
pub async fn authenticate(
    conn: &mut Connection,
    name: &str,
    timeout: Option<Duration>,
    password: impl FnOnce() -> anyhow::Result<crate::secret::Password>,
) -> Result<Joined, ClientError> {
    let t = conn.transport.addr.to_string();
    if conn.hello.secure {
        let offer = secure::check_offer(conn)?;
        let key = secure::derive(password()?, &offer).await?;
        let fut = secure::prove(conn, name, &key, &offer);
        let name = with_timeout(fut, "waiting for the auth result", &t, timeout).await?;
        return Ok(Joined {
            name,
            key: Some(Arc::new(key)),
        });
    }
    let auth = Packet::Auth(Auth {
        name: name.to_string(),
        // Only to a tcpplay server: the Python host gets exactly what it knows.
        proto: conn.hello.proto.map(|_| crate::protocol::PROTO_VERSION),
        ..Default::default()
    });
    send(&mut conn.writer, &auth).await?;
    let result = with_timeout(
        await_auth_result(conn),
        "waiting for the auth result",
        &t,
        timeout,
    )
    .await?;
    Ok(Joined {
        name: result.name,
        key: None,
    })
}

/// A successful `auth_result`.
pub(crate) struct AuthOk {
    pub name: String,
    pub server_proof: Option<String>,
}

pub(crate) async fn await_auth_result(conn: &mut Connection) -> Result<AuthOk, ClientError> {
    loop {
        match read_packet(&mut conn.reader).await? {
            Some(Packet::AuthResult(r)) if r.ok => {
                return Ok(AuthOk {
                    name: r.client_name.unwrap_or_else(|| "unknown".into()),
                    server_proof: r.server_proof,
                })
            }
            Some(Packet::AuthResult(r)) => {
                let reason = r
                    .reason
                    .unwrap_or_else(|| "the server refused without a reason".into());
                let hint = match r.code.as_deref() {
                    Some(protocol::codes::AUTH_FAILED) => ": check the room password",
                    _ => "",
                };
                return Err(ClientError::Auth(format!(
                    "{}{hint}",
                    crate::names::sanitize(&reason)
                )));
            }
            Some(Packet::Error(e)) => {
                return Err(ClientError::Auth(format!(
                    "{} ({})",
                    crate::names::sanitize(&e.message),
                    crate::names::sanitize(&e.code)
                )))
            }
            _ => continue,
        }
    }
}
