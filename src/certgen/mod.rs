//! Certificates on rcgen: self-signed server certificates with the localhost
//! names, a local certificate authority, and server or client certificates
//! issued by it (as mkcert does). Validity is always explicit.
//! The `gen-cert` command itself is in `command.rs`; file writing in `files.rs`.

mod command;
mod files;

use std::net::IpAddr;

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use time::{Duration, OffsetDateTime};

pub use command::run;
pub use files::write_new;

/// Key algorithms this build can generate (RSA keys cannot be, with ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

/// `gen-cert`, as plain options (the binary turns its flags into this).
#[derive(Debug, Clone)]
pub struct GenCertPlan {
    /// Directory to write into (default: the current one).
    pub out_dir: Option<std::path::PathBuf>,
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
    pub days: i64,
    /// Extra names: DNS names or IP addresses.
    pub sans: Vec<String>,
    pub key_type: KeyType,
    /// Add this machine's host name and LAN addresses.
    pub lan: bool,
    /// Issue from a local CA (made once, reused after).
    pub ca: bool,
    pub ca_cert: Option<std::path::PathBuf>,
    pub ca_key: Option<std::path::PathBuf>,
    /// Issue a client certificate for this name.
    pub client: Option<String>,
    pub force: bool,
    pub json: bool,
}

/// What to make.
#[derive(Debug, Clone)]
pub struct CertRequest {
    /// Names beyond the default localhost ones (server certificates).
    pub sans: Vec<String>,
    pub days: i64,
    pub key_type: KeyType,
    /// Start of validity; `None` is "now minus one hour" (clock skew).
    pub not_before: Option<OffsetDateTime>,
}

impl Default for CertRequest {
    fn default() -> Self {
        CertRequest {
            sans: Vec::new(),
            days: 365,
            key_type: KeyType::EcdsaP256,
            not_before: None,
        }
    }
}

/// A generated certificate and key, in PEM and DER.
pub struct Generated {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    pub not_after: OffsetDateTime,
    /// Subject alternative names (server) or the client's name.
    pub names: Vec<String>,
}

impl Generated {
    fn new(
        cert: &rcgen::Certificate,
        key: &KeyPair,
        not_after: OffsetDateTime,
        names: Vec<String>,
    ) -> Generated {
        Generated {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            not_after,
            names,
        }
    }
}

/// The names every server certificate carries, before the requested ones.
pub const DEFAULT_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// An IP address, or a DNS name (letters, digits, `-`, `.`, one leading `*.`).
pub fn parse_san(name: &str) -> Result<SanType> {
    let name = name.trim();
    if let Ok(ip) = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SanType::IpAddress(ip));
    }
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').enumerate().all(|(i, label)| {
            (label == "*" && i == 0)
                || (!label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        });
    if !valid {
        bail!(
            "--san '{name}' is neither an IP address nor a valid DNS name \
             (letters, digits, '-' and '.', with an optional leading '*.')"
        );
    }
    let dns = name.to_ascii_lowercase().try_into().context("DNS name")?;
    Ok(SanType::DnsName(dns))
}

/// A warning for a name that is valid but probably not what the user wants.
pub fn san_warning(name: &str) -> Option<String> {
    let labels: Vec<&str> = name.split('.').collect();
    if labels.first() == Some(&"*") && labels.len() < 3 {
        return Some(format!(
            "--san '{name}': a wildcard directly under a top-level name is refused by clients; use e.g. '*.chat.lan'"
        ));
    }
    if labels.first() == Some(&"*") {
        return Some(format!(
            "--san '{name}' matches exactly one label (a.{}), not deeper names (a.b.{})",
            labels[1..].join("."),
            labels[1..].join(".")
        ));
    }
    None
}

fn key_pair(kind: KeyType) -> Result<KeyPair> {
    let alg = match kind {
        KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyType::Ed25519 => &rcgen::PKCS_ED25519,
    };
    KeyPair::generate_for(alg).context("generating the key pair")
}

fn validity(params: &mut CertificateParams, req: &CertRequest) -> Result<()> {
    if req.days <= 0 {
        bail!("--days {} is not a positive number of days", req.days);
    }
    let start = req
        .not_before
        .unwrap_or_else(|| OffsetDateTime::now_utc() - Duration::hours(1));
    params.not_before = start;
    params.not_after = start + Duration::days(req.days);
    Ok(())
}

/// Parameters of a server certificate for the default and requested names.
fn server_params(req: &CertRequest) -> Result<(CertificateParams, Vec<String>)> {
    let mut names: Vec<String> = DEFAULT_SANS.iter().map(|s| s.to_string()).collect();
    for s in &req.sans {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(s)) {
            names.push(s.clone());
        }
    }
    let mut params = leaf_params(
        "localhost",
        "tcpplay local certificate",
        ExtendedKeyUsagePurpose::ServerAuth,
        req,
    )?;
    params.subject_alt_names = names.iter().map(|n| parse_san(n)).collect::<Result<_>>()?;
    Ok((params, names))
}

/// An end-entity certificate's parameters: names, one extended key usage, validity.
fn leaf_params(
    cn: &str,
    org: &str,
    usage: ExtendedKeyUsagePurpose,
    req: &CertRequest,
) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, org);
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut params, req)?;
    Ok(params)
}

/// A self-signed server certificate.
pub fn generate(req: &CertRequest) -> Result<Generated> {
    let (params, names) = server_params(req)?;
    let key = key_pair(req.key_type)?;
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    Ok(Generated::new(&cert, &key, params.not_after, names))
}

/// A local certificate authority that issues server and client certificates.
pub struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    pub not_after: OffsetDateTime,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new CA, valid for `days` (use years: it is trusted once by clients).
    pub fn generate(req: &CertRequest) -> Result<Ca> {
        let mut params = CertificateParams::default();
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("tcpplay local CA ({host})"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, "tcpplay local CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, req)?;
        let key = key_pair(req.key_type)?;
        let cert = params
            .self_signed(&key)
            .context("signing the CA certificate")?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            not_after: params.not_after,
            issuer: Issuer::new(params, key),
        })
    }

    /// Load a CA from its PEM files, checking that the key belongs to it.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Ca> {
        let key = KeyPair::from_pem(key_pem)
            .context("the CA key is not a PEM private key rcgen can use")?;
        let der = pem_der(cert_pem).context("the CA certificate is not PEM")?;
        let (_, x509) = x509_parser::parse_x509_certificate(&der)
            .context("the CA certificate does not parse")?;
        if x509.tbs_certificate.subject_pki.raw != key.subject_public_key_info().as_slice() {
            bail!("the CA key does not belong to the CA certificate (mismatched pair)");
        }
        if !x509.is_ca() {
            bail!("the CA certificate is not a CA (no basicConstraints CA:TRUE)");
        }
        let not_after = OffsetDateTime::from_unix_timestamp(x509.validity().not_after.timestamp())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let issuer =
            Issuer::from_ca_cert_pem(cert_pem, key).context("reading the CA certificate")?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            cert_der: der,
            not_after,
            issuer,
        })
    }

    /// A server certificate for the default and requested names.
    pub fn issue_server(&self, req: &CertRequest) -> Result<Generated> {
        let (params, names) = server_params(req)?;
        self.sign(params, req.key_type, names)
    }

    /// A client certificate (clientAuth) for `name`, for mutual TLS.
    pub fn issue_client(&self, name: &str, req: &CertRequest) -> Result<Generated> {
        let params = leaf_params(
            name,
            "tcpplay client",
            ExtendedKeyUsagePurpose::ClientAuth,
            req,
        )?;
        self.sign(params, req.key_type, vec![name.to_string()])
    }

    fn sign(
        &self,
        params: CertificateParams,
        kind: KeyType,
        names: Vec<String>,
    ) -> Result<Generated> {
        if params.not_after > self.not_after {
            bail!(
                "the certificate would outlive its CA (CA expires {}): use fewer --days or a new CA",
                self.not_after.date()
            );
        }
        let key = key_pair(kind)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing with the CA")?;
        Ok(Generated::new(&cert, &key, params.not_after, names))
    }
}

/// The DER of the first certificate in a PEM text.
fn pem_der(pem: &str) -> Result<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())?;
    Ok(cert.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_parse_as_ip_first_then_dns() {
        assert!(matches!(
            parse_san("10.0.0.7").unwrap(),
            SanType::IpAddress(_)
        ));
        assert!(matches!(parse_san("::1").unwrap(), SanType::IpAddress(_)));
        assert!(matches!(
            parse_san("chat.lan").unwrap(),
            SanType::DnsName(_)
        ));
        assert!(matches!(
            parse_san("*.chat.lan").unwrap(),
            SanType::DnsName(_)
        ));
        assert!(parse_san("bad name!").is_err());
        assert!(parse_san("a.*.lan").is_err());
        assert!(san_warning("*.lan").is_some());
        assert!(san_warning("*.chat.lan")
            .unwrap()
            .contains("exactly one label"));
        assert!(san_warning("chat.lan").is_none());
    }

    #[test]
    fn zero_days_is_refused() {
        let req = CertRequest {
            days: 0,
            ..Default::default()
        };
        assert!(generate(&req).is_err());
    }

    #[test]
    fn a_ca_round_trips_through_pem_and_refuses_a_foreign_key() {
        let req = CertRequest::default();
        let ca = Ca::generate(&CertRequest {
            days: 3650,
            ..req.clone()
        })
        .unwrap();
        let loaded = Ca::load(&ca.cert_pem, &ca.key_pem).unwrap();
        assert!(loaded.issue_server(&req).is_ok());
        let other = Ca::generate(&CertRequest {
            days: 3650,
            ..req.clone()
        })
        .unwrap();
        let err = Ca::load(&ca.cert_pem, &other.key_pem)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not belong"), "{err}");
        let leaf = generate(&req).unwrap();
        assert!(
            Ca::load(&leaf.cert_pem, &leaf.key_pem).is_err(),
            "a leaf is not a CA"
        );
    }
}
