//! What a certificate says, for people (`check`): its names, dates, issuer
//! and fingerprint.

use anyhow::{Context, Result};

use super::fingerprint;

/// What a certificate says, for people (`check`).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct CertInfo {
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
    pub(crate) fn covers(&self, name: &str) -> bool {
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

/// The names a client certificate is for: its subject's common names and
/// its DNS (and e-mail) alternative names. Empty when it does not parse.
pub(crate) fn subject_names(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, x)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names: Vec<String> = x
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_string))
        .collect();
    if let Ok(Some(ext)) = x.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) | GeneralName::RFC822Name(d) => names.push(d.to_string()),
                _ => {}
            }
        }
    }
    names.truncate(32);
    names
}

/// Parse a DER certificate into [`CertInfo`].
pub(crate) fn describe(der: &[u8]) -> Result<CertInfo> {
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
