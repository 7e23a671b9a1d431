//! Who is at the other end before it has a name: a TLS connection's channel
//! binding and client certificate, and the refusal an `auth` gets. Both the
//! auth step (`auth.rs`) and the identity checks (`identify.rs`) use them;
//! they live here so that neither of those imports the other.

use crate::protocol::{AuthResult, Packet};

/// A TLS connection: its channel binding (logins are tied to it), and the
/// client certificate it showed, if any.
pub(in crate::server) struct Bound {
    /// `None` when the TLS exporter failed: the login is then refused.
    pub binding: Option<[u8; 32]>,
    pub cert: Option<PeerCert>,
    /// Who the member proved to be, from auth until it joins the hub.
    pub identity: Option<crate::server::room::Identity>,
}

/// A client certificate (verified against `--client-ca` by the handshake).
pub(in crate::server) struct PeerCert {
    /// SHA-256, colon-separated hex.
    pub fp: String,
    /// Its common names and DNS / e-mail alternative names.
    pub names: Vec<String>,
}

impl Bound {
    pub(in crate::server) fn new<IO>(tls: &tokio_rustls::server::TlsStream<IO>) -> Bound {
        let conn = tls.get_ref().1;
        let cert = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|der| PeerCert {
                fp: crate::tls::fingerprint(der),
                names: crate::tls::subject_names(der),
            });
        Bound {
            binding: crate::tls::channel_binding(conn),
            cert,
            identity: None,
        }
    }
}

pub(super) fn refusal(code: &str, reason: impl Into<String>) -> Packet {
    Packet::AuthResult(AuthResult {
        ok: false,
        reason: Some(reason.into()),
        code: Some(code.into()),
        ..Default::default()
    })
}
