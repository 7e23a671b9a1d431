//! TLS failures in words: dates as dates, names listed, no Rust words; and
//! what kind of failure a client handshake met (for its fallback and hint).

use rustls::pki_types::UnixTime;

/// A TLS failure, for people: dates as dates, names listed, no Rust words.
pub(crate) fn explain(e: &rustls::Error) -> String {
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
        rustls::Error::InvalidMessage(_) => "its answer is not TLS".into(),
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
pub(crate) fn explain_server_side(e: &std::io::Error) -> String {
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
pub(crate) fn explain_io(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => explain(tls),
        None => e.to_string(),
    }
}

/// What went wrong in a client handshake, for choosing fallback and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandshakeFailure {
    /// The peer does not speak TLS (it sent something else, or hung up).
    NotTls,
    /// The certificate was not trusted: never fall back from this.
    Certificate,
    /// Any other TLS failure.
    Other,
}

pub(crate) fn classify(err: &std::io::Error) -> HandshakeFailure {
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
