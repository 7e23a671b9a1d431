//! Where to connect, as people pass it around: `HOST`, `HOST:PORT`,
//! `[V6]:PORT`, or the share link `serve` prints for a class to copy,
//! `tcpplay://HOST:PORT/?fp=SHA256#ROOM` (the fingerprint pins a
//! self-signed certificate, the fragment is the room). One parser for
//! `join`'s argument, one printer for `serve`'s banner, so what `serve`
//! prints is what `join` takes.

use std::fmt;

use crate::hostport::HostPort;

/// The link scheme.
pub const SCHEME: &str = "tcpplay";

/// A server to join and what the link says about it. Ports and rooms are
/// `None` when not given (the settings' defaults then apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinTarget {
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    pub port: Option<u16>,
    /// A room, with its `#`.
    pub room: Option<String>,
    /// SHA-256 fingerprint of the server's certificate (`AB:CD:…`): TLS,
    /// trusting only that certificate.
    pub fingerprint: Option<String>,
    /// The server is a secure room (a password will be asked; never
    /// accepted answering as anything else).
    pub secure: bool,
}

impl JoinTarget {
    /// A plain host and port.
    pub fn new(host: &str, port: u16) -> JoinTarget {
        JoinTarget {
            host: crate::hostport::bare(host).to_string(),
            port: Some(port),
            room: None,
            fingerprint: None,
            secure: false,
        }
    }

    /// What a user typed; the reason, in words, when it is neither a host
    /// (with or without a port) nor a `tcpplay://` link.
    pub fn parse(s: &str) -> Result<JoinTarget, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err(
                "an empty server address: give HOST, HOST:PORT or a tcpplay:// link".into(),
            );
        }
        if let Some((scheme, _)) = s.split_once("://") {
            if !scheme.eq_ignore_ascii_case(SCHEME) {
                return Err(format!(
                    "'{}' is a {scheme}:// address: tcpplay joins HOST, HOST:PORT or a tcpplay:// link",
                    crate::names::sanitize(s)
                ));
            }
            return parse_link(s);
        }
        parse_host_port(s)
    }

    /// The host and port, the port defaulting to `default_port`.
    pub fn host_port(&self, default_port: u16) -> HostPort {
        HostPort::new(&self.host, self.port.unwrap_or(default_port))
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address.
fn parse_host_port(s: &str) -> Result<JoinTarget, String> {
    let shown = crate::names::sanitize(s);
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("'{shown}': an IPv6 address opened with [ needs its ]"))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or_else(|| {
                    format!("'{shown}': after [{host}] comes :PORT, like [::1]:12345")
                })?),
            ),
        }
    } else if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':').expect("one colon");
        (h, Some(p))
    } else {
        // No colon: a host; several: a bare IPv6 address (no port).
        (s, None)
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
        return Err(format!(
            "'{shown}' is not a host: give a host name or IP address, like 192.168.1.5 or chat.lan (with :PORT if not 12345)"
        ));
    }
    let port = port.map(|p| parse_port(p, &shown)).transpose()?;
    Ok(JoinTarget {
        host: host.to_string(),
        port,
        room: None,
        fingerprint: None,
        secure: false,
    })
}

fn parse_port(p: &str, shown: &str) -> Result<u16, String> {
    p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
        format!(
            "port '{}' in '{shown}' must be a number from 1 to 65535",
            crate::names::sanitize(p)
        )
    })
}

fn parse_link(s: &str) -> Result<JoinTarget, String> {
    let shown = crate::names::sanitize(s);
    let url = url::Url::parse(s).map_err(|e| format!("'{shown}' is not a tcpplay:// link: {e}"))?;
    let host = match url.host() {
        Some(url::Host::Ipv6(a)) => a.to_string(),
        Some(h) => h.to_string(),
        None => return Err(format!("'{shown}' names no server: tcpplay://HOST:PORT/")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "'{shown}': a link carries no user or password (the name is --name, a room password is asked)"
        ));
    }
    if !matches!(url.path(), "" | "/") {
        return Err(format!(
            "'{shown}': the room goes after #, like tcpplay://HOST:PORT/#general"
        ));
    }
    let mut target = JoinTarget {
        host,
        port: url.port(),
        room: None,
        fingerprint: None,
        secure: false,
    };
    for (key, value) in url.query_pairs() {
        match &*key {
            "fp" => {
                let fp = value.trim().to_ascii_uppercase();
                let hex = fp.replace(':', "");
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!(
                        "'{shown}': fp= is the certificate's SHA-256 fingerprint (64 hex digits, colons allowed)"
                    ));
                }
                target.fingerprint = Some(colon_pairs(&hex));
            }
            "secure" if value.is_empty() || value == "1" => target.secure = true,
            other => {
                return Err(format!(
                    "'{shown}': unknown part '{}' (a link knows fp= and secure)",
                    crate::names::sanitize(other)
                ))
            }
        }
    }
    if let Some(f) = url.fragment().filter(|f| !f.is_empty()) {
        let f = percent_decode(f);
        let room = if f.starts_with('#') {
            f
        } else {
            format!("#{f}")
        };
        target.room = Some(room);
    }
    Ok(target)
}

/// `ABCD…` → `AB:CD:…` (the form `gen-cert` prints and known_hosts keeps).
fn colon_pairs(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(":")
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The link for a server: `tcpplay://HOST:PORT/`, `?fp=…` for a
/// certificate to pin, `&secure` for a secure room, `#room` for a room.
impl fmt::Display for JoinTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hp = HostPort::new(&self.host, self.port.unwrap_or(crate::config::DEFAULT_PORT));
        write!(f, "{SCHEME}://{hp}/")?;
        let mut sep = '?';
        if let Some(fp) = &self.fingerprint {
            write!(f, "{sep}fp={fp}")?;
            sep = '&';
        }
        if self.secure {
            write!(f, "{sep}secure")?;
        }
        if let Some(room) = &self.room {
            write!(f, "#{}", room.trim_start_matches('#'))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    #[test]
    fn hosts_with_and_without_ports_parse_as_ssh_and_nc_take_them() {
        let t = JoinTarget::parse("192.168.1.5:12345").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("192.168.1.5", Some(12345)));
        let t = JoinTarget::parse("chat.lan").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("chat.lan", None));
        let t = JoinTarget::parse("[::1]:7000").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", Some(7000)));
        let t = JoinTarget::parse("[fe80::1]").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("fe80::1", None));
        let t = JoinTarget::parse("::1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", None));
        for bad in [
            "",
            "h:0",
            "h:99999",
            "h:x",
            "[::1",
            "[::1]x",
            "http://h/",
            "a b",
        ] {
            assert!(JoinTarget::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn links_print_and_parse_back_to_the_same_target() {
        let t = JoinTarget {
            host: "::1".into(),
            port: Some(7000),
            room: Some("#général".into()),
            fingerprint: Some(FP.into()),
            secure: true,
        };
        let link = t.to_string();
        assert!(link.starts_with("tcpplay://[::1]:7000/?fp=AB:CD"), "{link}");
        assert_eq!(JoinTarget::parse(&link).unwrap(), t);
        for link in ["tcpplay://h/#c++", "tcpplay://h/#c%2B%2B"] {
            let plus = JoinTarget::parse(link).unwrap();
            assert_eq!(
                plus.room.as_deref(),
                Some("#c++"),
                "{link}: a + is not a space"
            );
        }
        let plain = JoinTarget::parse("tcpplay://10.0.0.2:12345/#help").unwrap();
        assert_eq!(plain.room.as_deref(), Some("#help"));
        assert_eq!(plain.to_string(), "tcpplay://10.0.0.2:12345/#help");
        let lower = JoinTarget::parse(&format!(
            "tcpplay://h/?fp={}",
            FP.replace(':', "").to_lowercase()
        ))
        .unwrap();
        assert_eq!(lower.fingerprint.as_deref(), Some(FP));
        assert_eq!(lower.port, None);
        for bad in [
            "tcpplay://h/room",
            "tcpplay://u:p@h/",
            "tcpplay://h/?fp=12",
            "tcpplay://h/?x=1",
            "tcpplay:///",
        ] {
            assert!(JoinTarget::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
