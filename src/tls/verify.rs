//! How a client decides to trust a server's certificate: `--cert FILE`
//! (the file's certificates as anchors, or as that very certificate, as
//! OpenSSL does), `--tls-insecure` with or without a pin, and a chain
//! checked as a client would for `check`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{explain, fingerprint, load_certs, provider, roots_from, server_name, Trust};

/// `--cert FILE`: the file's certificates are trust anchors (a CA, or a
/// chain), and a certificate that is itself in the file is trusted as that
/// very certificate — its dates and names still checked, and the handshake
/// signature always — as OpenSSL-based clients do. OpenSSL 3 makes
/// self-signed certificates with `CA:TRUE`, which WebPKI refuses as a
/// server's own; the original's users all have such a `cert.pem`.
#[derive(Debug)]
pub(super) struct FileTrust {
    chain: Arc<rustls::client::WebPkiServerVerifier>,
    exact: Vec<CertificateDer<'static>>,
}

impl FileTrust {
    pub(super) fn new(path: &Path) -> Result<FileTrust> {
        let exact = load_certs(path)?;
        let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots_from(path)?),
            provider(),
        )
        .build()
        .map_err(|e| anyhow::anyhow!("cannot trust the certificates in {}: {e}", path.display()))?;
        Ok(FileTrust { chain, exact })
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

/// Which certificate a [`Verifier`] trusts.
#[derive(Debug)]
pub(super) enum Trusts {
    /// `--cert FILE`.
    File(FileTrust),
    /// `--tls-insecure` (no pin): any certificate; with a pin, only the
    /// certificate with that fingerprint.
    Unchecked(Option<String>),
}

/// A server's certificate judged as [`Trusts`] says, and the handshake's
/// signature always checked, with the provider's algorithms — so even
/// `--tls-insecure` needs a server that holds the certificate's key.
#[derive(Debug)]
pub(super) struct Verifier {
    trust: Trusts,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl Verifier {
    pub(super) fn new(trust: Trusts) -> Verifier {
        let algorithms = provider().signature_verification_algorithms;
        Verifier { trust, algorithms }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.trust {
            Trusts::File(f) => match f
                .chain
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            {
                Ok(v) => Ok(v),
                // Not anchored in the file, but the file's very certificate.
                Err(e) if f.exact.iter().any(|c| c.as_ref() == end_entity.as_ref()) => {
                    check_leaf(end_entity, server_name, now).map_err(|leaf| match leaf {
                        // The chain's own verdict says more than a parse failure.
                        rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding) => e,
                        other => other,
                    })?;
                    Ok(ServerCertVerified::assertion())
                }
                Err(e) => Err(e),
            },
            Trusts::Unchecked(Some(pin)) if !pin.eq_ignore_ascii_case(&fingerprint(end_entity)) => {
                Err(rustls::Error::General(format!(
                    "the certificate is not the pinned one (SHA-256 {}, pinned {pin} in known_hosts or by a link's fp=): \
                     someone may be impersonating the server; ask its operator for the current fingerprint",
                    fingerprint(end_entity)
                )))
            }
            Trusts::Unchecked(_) => Ok(ServerCertVerified::assertion()),
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Verify a presented chain with the given trust, as a client would; the
/// reason when it does not verify.
pub(crate) fn verify_chain(
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
            let v = FileTrust::new(p).map_err(|e| format!("{e:#}"))?;
            return verify_with(&Verifier::new(Trusts::File(v)), chain, host);
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
