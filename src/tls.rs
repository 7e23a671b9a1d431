//! rustls configurations: the server's from PEM files, the client's with one of
//! three trust modes (public roots, a given certificate/CA, or none), and small
//! helpers to describe a session (version, fingerprint) and classify failures.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};

/// The one crypto provider of this build.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Read every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read certificate file {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("certificate file {} is not valid PEM", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "certificate file {} holds no CERTIFICATE block: is it the key file? (make a pair with `tcpplay gen-cert`)",
            path.display()
        );
    }
    Ok(certs)
}

/// Read the private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).with_context(|| {
        format!(
            "cannot read a private key from {} (expected a PEM PRIVATE KEY block; make a pair with `tcpplay gen-cert`)",
            path.display()
        )
    })
}

/// The server's TLS configuration from a certificate chain and key file.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    server_config_mtls(cert, key, None)
}

/// As [`server_config`], and when `client_ca` is given, require client
/// certificates issued by that CA (mutual TLS).
pub fn server_config_mtls(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>> {
    server_config_with(cert, key, client_ca, false)
}

/// As [`server_config_mtls`]; `tls13_only` for secure rooms, whose login is
/// bound to the TLS exporter (safe as a channel binding in TLS 1.3; in TLS
/// 1.2 only with Extended Master Secret, RFC 9266).
pub fn server_config_with(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    tls13_only: bool,
) -> Result<Arc<ServerConfig>> {
    let chain = load_certs(cert)?;
    let key_der = load_key(key)?;
    let versions: &[&rustls::SupportedProtocolVersion] = if tls13_only {
        &[&rustls::version::TLS13]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .context("TLS protocol versions")?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = roots_from(ca)?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .with_context(|| {
                format!("cannot use {} to verify client certificates", ca.display())
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key_der).map_err(|e| {
        let why = match e {
            rustls::Error::InconsistentKeys(_) => "the key does not belong to the certificate".into(),
            other => explain(&other),
        };
        anyhow::anyhow!(
            "certificate {} and key {} do not form a usable pair: {why} (make a matching pair with `tcpplay gen-cert`)",
            cert.display(),
            key.display()
        )
    })?;
    Ok(Arc::new(config))
}

fn roots_from(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .with_context(|| format!("cannot trust a certificate from {}", path.display()))?;
    }
    Ok(roots)
}

/// How `join` uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Try TLS; if the server does not speak it, fall back to plaintext and say so.
    #[default]
    Auto,
    /// TLS only; never fall back.
    On,
    /// Plaintext only.
    Off,
}

/// How a client decides whether to trust the server's certificate.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The public web roots (Mozilla's list).
    PublicRoots,
    /// Only the certificates in this PEM file (a self-signed cert or a CA).
    File(std::path::PathBuf),
    /// Anything (testing only).
    Insecure,
    /// Only a certificate with this SHA-256 fingerprint (trust on first use,
    /// like SSH: names, issuer and dates are not checked; the key is).
    Pinned(String),
}

pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>> {
    client_config_mtls(trust, None)
}

/// As [`client_config`], presenting a client certificate and key when given.
pub fn client_config_mtls(
    trust: &Trust,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match trust {
        Trust::PublicRoots => builder.with_root_certificates(RootCertStore::from_iter(
            webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
        )),
        Trust::File(path) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(FileVerifier::new(path)?)),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(UncheckedChain(provider(), None))),
        Trust::Pinned(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(UncheckedChain(
                provider(),
                Some(pin.clone()),
            ))),
    };
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .with_context(|| {
                format!(
                    "client certificate {} and key {} do not form a pair",
                    cert.display(),
                    key.display()
                )
            })?,
    };
    Ok(Arc::new(config))
}

/// `--cert FILE`: the file's certificates are trust anchors (a CA, or a
/// chain), and a certificate that is itself in the file is trusted as that
/// very certificate — its dates and names still checked, and the handshake
/// signature always — as OpenSSL-based clients do. OpenSSL 3 makes
/// self-signed certificates with `CA:TRUE`, which WebPKI refuses as a
/// server's own; the original's users all have such a `cert.pem`.
#[derive(Debug)]
struct FileVerifier {
    chain: Arc<rustls::client::WebPkiServerVerifier>,
    exact: Vec<CertificateDer<'static>>,
}

impl FileVerifier {
    fn new(path: &Path) -> Result<FileVerifier> {
        let exact = load_certs(path)?;
        let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots_from(path)?),
            provider(),
        )
        .build()
        .map_err(|e| anyhow::anyhow!("cannot trust the certificates in {}: {e}", path.display()))?;
        Ok(FileVerifier { chain, exact })
    }
}

/// The dates and names of `cert`, checked as a verifier would.
fn check_leaf(
    cert: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    use rustls::CertificateError as E;
    let bad = |e: E| rustls::Error::InvalidCertificate(e);
    let (_, x) = x509_parser::parse_x509_certificate(cert).map_err(|_| bad(E::BadEncoding))?;
    let t = now.as_secs() as i64;
    let v = x.validity();
    if t > v.not_after.timestamp() {
        return Err(bad(E::ExpiredContext {
            time: now,
            not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                v.not_after.timestamp().max(0) as u64,
            )),
        }));
    }
    if t < v.not_before.timestamp() {
        return Err(bad(E::NotValidYetContext {
            time: now,
            not_before: UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                v.not_before.timestamp().max(0) as u64,
            )),
        }));
    }
    let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
    rustls::client::verify_server_name(&parsed, name)
}

impl ServerCertVerifier for FileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .chain
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(v) => Ok(v),
            Err(e) if self.exact.iter().any(|c| c.as_ref() == end_entity.as_ref()) => {
                check_leaf(end_entity, server_name, now).map_err(|leaf| match leaf {
                    // The chain's own verdict says more than a parse failure.
                    rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding) => e,
                    other => other,
                })?;
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// A TLS failure, for people: dates as dates, names listed, no Rust words.
pub fn explain(e: &rustls::Error) -> String {
    use rustls::AlertDescription as A;
    use rustls::CertificateError as E;
    let date = |t: &UnixTime| {
        time::OffsetDateTime::from_unix_timestamp(t.as_secs() as i64)
            .map(|d| format!("{} {:02}:{:02} UTC", d.date(), d.hour(), d.minute()))
            .unwrap_or_else(|_| "an unknown date".into())
    };
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            E::ExpiredContext { not_after, .. } => {
                format!("the server's certificate expired on {}", date(not_after))
            }
            E::Expired => "the server's certificate has expired".into(),
            E::NotValidYetContext { not_before, .. } => format!(
                "the server's certificate is not valid before {} (is this computer's clock right?)",
                date(not_before)
            ),
            E::NotValidYet => "the server's certificate is not valid yet (is this computer's clock right?)".into(),
            E::NotValidForNameContext { expected, presented } => format!(
                "the server's certificate is for {}, not for {}",
                if presented.is_empty() {
                    "no names at all".into()
                } else {
                    presented.iter().map(|n| plain_name(n)).collect::<Vec<_>>().join(", ")
                },
                expected.to_str()
            ),
            E::NotValidForName => "the server's certificate is not for this host name".into(),
            E::UnknownIssuer => "the server's certificate is not signed by anyone this computer trusts".into(),
            E::BadSignature => "the server's certificate has a signature that does not verify".into(),
            E::BadEncoding => "the server's certificate is not a readable X.509 certificate".into(),
            E::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => {
                "the server's certificate is a CA certificate (CA:TRUE); trust that exact certificate with --cert FILE".into()
            }
            other => format!(
                "the server's certificate was refused ({})",
                crate::names::sanitize(&other.to_string())
            ),
        },
        rustls::Error::AlertReceived(a) => match a {
            A::CertificateRequired => "the server requires a client certificate (--client-cert and --client-key)".into(),
            A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::AccessDenied => {
                "the server did not accept the certificate it was given".into()
            }
            A::ProtocolVersion | A::HandshakeFailure | A::InsufficientSecurity => {
                "the server and this client have no TLS version or cipher in common".into()
            }
            other => format!("the server ended the TLS handshake (alert {})", u8::from(*other)),
        },
        rustls::Error::General(m) => crate::names::sanitize(m).into_owned(),
        other => crate::names::sanitize(&other.to_string()).into_owned(),
    }
}

/// A presented name as written in the certificate (rustls gives them as
/// `DnsName("host")` and `IpAddress(1.2.3.4)`).
fn plain_name(n: &str) -> String {
    let inner = n
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(n);
    crate::names::sanitize(inner.trim_matches('"')).into_owned()
}

/// A failed handshake as the server sees it (for its log).
pub fn explain_server_side(e: &std::io::Error) -> String {
    use rustls::AlertDescription as A;
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::AlertReceived(a)) => {
            let why = match a {
                A::CertificateExpired => "it finds this server's certificate expired",
                A::UnknownCA => "it does not trust this server's certificate (unknown issuer)",
                A::BadCertificate | A::CertificateUnknown => {
                    "it does not accept this server's certificate (its names or dates)"
                }
                A::ProtocolVersion | A::HandshakeFailure => "no TLS version or cipher in common",
                _ => "it ended the handshake",
            };
            format!("the client refused: {why}")
        }
        Some(rustls::Error::NoCertificatesPresented) => {
            "the client presented no certificate, and this server requires one (--client-ca)".into()
        }
        Some(rustls::Error::InvalidCertificate(_)) => {
            "the client's certificate is not issued by the --client-ca".into()
        }
        Some(other) => crate::names::sanitize(&other.to_string()).into_owned(),
        None => e.to_string(),
    }
}

/// [`explain`] for an I/O error that carries a TLS error; else its text.
pub fn explain_io(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => explain(tls),
        None => e.to_string(),
    }
}

/// This TLS session's channel binding for secure rooms: 32 bytes of TLS
/// exporter output (RFC 5705, as RFC 9266 uses it), the same on both ends of
/// one session and different on any other.
pub fn channel_binding<D>(conn: &rustls::ConnectionCommon<D>) -> Option<[u8; 32]> {
    let mut binding = [0u8; 32];
    // Fails before the handshake completes: then there is no binding, and
    // a secure room's login refuses to go on (never a fixed value).
    conn.export_keying_material(&mut binding, crate::crypto::EXPORTER_LABEL, None)
        .ok()?;
    Some(binding)
}

/// The server name to verify: a DNS name or an IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .with_context(|| format!("'{host}' is neither a valid host name nor an IP address"))
}

/// `--tls-insecure` (no pin): accepts any certificate; with a pin, only the
/// certificate with that fingerprint. Handshake signatures are always checked,
/// so the server must hold the certificate's key.
#[derive(Debug)]
struct UncheckedChain(Arc<rustls::crypto::CryptoProvider>, Option<String>);

impl ServerCertVerifier for UncheckedChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.1 {
            Some(pin) if !pin.eq_ignore_ascii_case(&fingerprint(end_entity)) => {
                Err(rustls::Error::General(format!(
                    "the certificate is not the pinned one (SHA-256 {}, pinned {pin})",
                    fingerprint(end_entity)
                )))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// SHA-256 of a DER certificate, as colon-separated upper-case hex.
pub fn fingerprint(cert: &[u8]) -> String {
    let digest = Sha256::digest(cert);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What went wrong in a client handshake, for choosing fallback and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The peer does not speak TLS (it sent something else, or hung up).
    NotTls,
    /// The certificate was not trusted: never fall back from this.
    Certificate,
    /// Any other TLS failure.
    Other,
}

pub fn classify(err: &std::io::Error) -> HandshakeFailure {
    if let Some(e) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        return match e {
            rustls::Error::InvalidCertificate(_) => HandshakeFailure::Certificate,
            rustls::Error::InvalidMessage(_) => HandshakeFailure::NotTls,
            _ => HandshakeFailure::Other,
        };
    }
    match err.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::BrokenPipe => HandshakeFailure::NotTls,
        _ => HandshakeFailure::Other,
    }
}

/// "TLSv1.3" style name of a negotiated version.
pub fn version_name(v: Option<rustls::ProtocolVersion>) -> String {
    match v {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
        Some(other) => format!("{other:?}"),
        None => "unknown".into(),
    }
}

/// What a certificate says, for people (`check`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// Negative when expired.
    pub days_left: i64,
    pub not_yet_valid: bool,
    pub fingerprint: String,
}

impl CertInfo {
    /// True when `name` (a DNS name or IP address) is among the SANs.
    pub fn covers(&self, name: &str) -> bool {
        let name = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if let Ok(ip) = name.parse::<std::net::IpAddr>() {
            return self
                .sans
                .iter()
                .any(|s| s.parse::<std::net::IpAddr>().is_ok_and(|a| a == ip));
        }
        self.sans.iter().any(|s| {
            let s = s.to_ascii_lowercase();
            match s.strip_prefix("*.") {
                Some(base) => name.split_once('.').is_some_and(|(_, rest)| rest == base),
                None => s == name,
            }
        })
    }
}

/// Parse a DER certificate into [`CertInfo`].
pub fn describe(der: &[u8]) -> Result<CertInfo> {
    use x509_parser::extensions::GeneralName;
    let (_, x) = x509_parser::parse_x509_certificate(der)
        .context("the certificate does not parse as X.509")?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = x.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push(d.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        sans.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                    _ => {}
                },
                other => sans.push(other.to_string()),
            }
        }
    }
    let v = x.validity();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let fmt = |t: &x509_parser::time::ASN1Time| {
        time::OffsetDateTime::from_unix_timestamp(t.timestamp())
            .ok()
            .and_then(|d| {
                d.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| t.to_string())
    };
    Ok(CertInfo {
        subject: x.subject().to_string(),
        issuer: x.issuer().to_string(),
        sans,
        not_before: fmt(&v.not_before),
        not_after: fmt(&v.not_after),
        days_left: (v.not_after.timestamp() - now).div_euclid(86_400),
        not_yet_valid: v.not_before.timestamp() > now,
        fingerprint: fingerprint(der),
    })
}

/// Verify a presented chain with the given trust, as a client would; the
/// reason when it does not verify.
pub fn verify_chain(
    trust: &Trust,
    chain: &[CertificateDer<'static>],
    host: &str,
) -> Result<(), String> {
    let roots = match trust {
        Trust::Insecure => return Ok(()),
        Trust::Pinned(pin) => {
            let leaf = chain.first().ok_or("the server sent no certificate")?;
            let got = fingerprint(leaf);
            return match pin.eq_ignore_ascii_case(&got) {
                true => Ok(()),
                false => Err(format!("SHA-256 {got} is not the pinned {pin}")),
            };
        }
        Trust::PublicRoots => {
            RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
        }
        Trust::File(p) => {
            let v = FileVerifier::new(p).map_err(|e| format!("{e:#}"))?;
            return verify_with(&v, chain, host);
        }
    };
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| e.to_string())?;
    verify_with(verifier.as_ref(), chain, host)
}

fn verify_with(
    verifier: &dyn ServerCertVerifier,
    chain: &[CertificateDer<'static>],
    host: &str,
) -> Result<(), String> {
    let name = server_name(host).map_err(|e| format!("{e:#}"))?;
    let (leaf, rest) = chain
        .split_first()
        .ok_or("the server sent no certificate")?;
    verifier
        .verify_server_cert(leaf, rest, &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| explain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_no_channel_binding_before_the_handshake_never_a_fixed_one() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        assert_eq!(channel_binding(&conn), None);
    }
}
