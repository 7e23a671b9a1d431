//! Certificate generation on rcgen: a self-signed server certificate with the
//! localhost names, written with a private key that only its owner can read.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use time::{Duration, OffsetDateTime};

use crate::cli::KeyType;

/// What to make.
#[derive(Debug, Clone)]
pub struct CertRequest {
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
    pub sans: Vec<String>,
}

/// The names every certificate carries, then the requested ones.
pub const DEFAULT_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

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
        bail!("--san '{name}' is neither an IP address nor a valid DNS name (letters, digits, '-' and '.', an optional leading '*.')");
    }
    let dns = name.to_ascii_lowercase().try_into().context("DNS name")?;
    Ok(SanType::DnsName(dns))
}

pub fn generate(req: &CertRequest) -> Result<Generated> {
    if req.days <= 0 {
        bail!("--days {} is not a positive number of days", req.days);
    }
    let mut names: Vec<String> = DEFAULT_SANS.iter().map(|s| s.to_string()).collect();
    for s in &req.sans {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(s)) {
            names.push(s.clone());
        }
    }
    let mut params = CertificateParams::default();
    params.subject_alt_names = names.iter().map(|n| parse_san(n)).collect::<Result<_>>()?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "tcpplay local certificate");
    let start = req
        .not_before
        .unwrap_or_else(|| OffsetDateTime::now_utc() - Duration::hours(1));
    params.not_before = start;
    params.not_after = start + Duration::days(req.days);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let alg = match req.key_type {
        KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyType::Ed25519 => &rcgen::PKCS_ED25519,
    };
    let key = KeyPair::generate_for(alg).context("generating the key pair")?;
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    Ok(Generated {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        not_after: params.not_after,
        sans: names,
    })
}

/// Write `contents` to a new file (owner-only on Unix when `private`), refusing
/// to overwrite unless `force`. Written to a temporary name and renamed, so a
/// failure leaves no half-written file.
pub fn write_new(path: &Path, contents: &str, private: bool, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists: pass --force to overwrite it",
            path.display()
        );
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("tcpplay"),
        std::process::id()
    ));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let result = (|| -> Result<()> {
        let mut f = opts.open(&tmp).with_context(|| {
            format!(
                "cannot create a file in {} (is it writable?)",
                dir.display()
            )
        })?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `tcpplay gen-cert`: write the pair and say how to use it.
pub fn run(args: &crate::cli::GenCertArgs) -> Result<u8> {
    use crate::config::ConfigError;
    if args.days <= 0 {
        return Err(ConfigError::new(format!(
            "--days {} must be a positive number of days",
            args.days
        ))
        .into());
    }
    for s in &args.sans {
        parse_san(s).map_err(|e| ConfigError::new(e.to_string()))?;
    }
    if args.days > 825 {
        eprintln!(
            "warning: --days {} is over 825, the longest validity browsers and Apple platforms accept",
            args.days
        );
    }
    let dir = args.out_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let cert_path = dir.join(
        args.cert_file
            .clone()
            .unwrap_or_else(|| PathBuf::from("cert.pem")),
    );
    let key_path = dir.join(
        args.key_file
            .clone()
            .unwrap_or_else(|| PathBuf::from("key.pem")),
    );
    for p in [&cert_path, &key_path] {
        if p.exists() && !args.force {
            return Err(ConfigError::new(format!(
                "{} already exists: pass --force to overwrite it",
                p.display()
            ))
            .into());
        }
    }
    let req = CertRequest {
        sans: args.sans.clone(),
        days: args.days,
        key_type: args.key_type,
        not_before: None,
    };
    let g = generate(&req)?;
    write_new(&key_path, &g.key_pem, true, args.force)?;
    if let Err(e) = write_new(&cert_path, &g.cert_pem, false, args.force) {
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    let fp = crate::tls::fingerprint(&g.cert_der);
    let expires = g
        .not_after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    if args.json {
        let v = serde_json::json!({
            "cert": cert_path, "key": key_path, "sha256": fp, "expires": expires, "sans": g.sans,
        });
        println!("{v}");
    } else {
        println!("wrote {} (certificate, SHA-256 {fp})", cert_path.display());
        println!("wrote {} (private key, owner-only)", key_path.display());
        println!("valid for: {}", g.sans.join(", "));
        println!("expires: {expires}");
        println!();
        println!(
            "serve:  tcpplay serve --tls --cert {} --key {}",
            cert_path.display(),
            key_path.display()
        );
        println!(
            "join:   tcpplay join --host localhost --cert {}",
            cert_path.display()
        );
    }
    Ok(0)
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
        assert!(matches!(parse_san("*.lan").unwrap(), SanType::DnsName(_)));
        assert!(parse_san("bad name!").is_err());
        assert!(parse_san("a.*.lan").is_err());
    }

    #[test]
    fn zero_days_is_refused() {
        let req = CertRequest {
            days: 0,
            ..Default::default()
        };
        assert!(generate(&req).is_err());
    }
}
