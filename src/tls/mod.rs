//! rustls configurations: the server's from PEM files, the client's with one of
//! three trust modes (public roots, a given certificate/CA, or none), and small
//! helpers to describe a session (version, fingerprint) and classify failures.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};

mod cert;
mod explain;
mod verify;

pub(crate) use cert::{describe, subject_names, CertInfo};
pub(crate) use explain::{classify, explain, explain_io, explain_server_side, HandshakeFailure};
pub(crate) use verify::verify_chain;
use verify::{FileTrust, Trusts, Verifier};

/// The one crypto provider of this build.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Read every certificate in a PEM file.
pub(crate) fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
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
pub(crate) fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
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
pub(crate) fn server_config_mtls(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>> {
    server_config_with(cert, key, client_ca, false)
}

/// As [`server_config_mtls`]; `tls13_only` for secure rooms, whose login is
/// bound to the TLS exporter (safe as a channel binding in TLS 1.3; in TLS
/// 1.2 only with Extended Master Secret, RFC 9266).
pub(crate) fn server_config_with(
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
            .with_custom_certificate_verifier(Arc::new(Verifier::new(Trusts::File(
                FileTrust::new(path)?,
            )))),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier::new(Trusts::Unchecked(None)))),
        Trust::Pinned(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier::new(Trusts::Unchecked(Some(
                pin.clone(),
            ))))),
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

/// SHA-256 of a DER certificate, as colon-separated upper-case hex.
pub fn fingerprint(cert: &[u8]) -> String {
    let digest = Sha256::digest(cert);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// "TLSv1.3" style name of a negotiated version.
pub(crate) fn version_name(v: Option<rustls::ProtocolVersion>) -> String {
    match v {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
        Some(other) => format!("{other:?}"),
        None => "unknown".into(),
    }
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
