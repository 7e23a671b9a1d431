//! A host and port as users write them: `chat.lan:12345`, `127.0.0.1:80`,
//! `[::1]:12345`; and a host alone with or without IPv6 brackets. One place
//! for the brackets: stripped for resolving and certificate names, added back
//! for display.

use std::fmt;

/// A host name or address (never bracketed inside) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    host: String,
    pub port: u16,
}

/// `[::1]` → `::1`; anything else as it is (trimmed).
pub fn bare(host: &str) -> &str {
    let h = host.trim();
    h.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h)
}

impl HostPort {
    pub fn new(host: &str, port: u16) -> HostPort {
        HostPort {
            host: bare(host).to_string(),
            port,
        }
    }

    /// `HOST:PORT`, `[V6]:PORT`; the reason when it is not one.
    pub fn parse(s: &str) -> Result<HostPort, String> {
        let (host, port) = s.trim().rsplit_once(':').ok_or_else(|| {
            format!("'{s}' must be HOST:PORT (e.g. 127.0.0.1:12345, or [::1]:12345)")
        })?;
        if host.contains(':') && !host.starts_with('[') {
            return Err(format!(
                "'{s}': put an IPv6 address in brackets, like [::1]:12345"
            ));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("port '{port}' in '{s}' must be 1-65535"))?;
        Ok(HostPort::new(host, port))
    }

    /// The host without brackets: for resolving, binding and TLS names.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_parse_and_print_with_brackets_only_for_ipv6() {
        let v6 = HostPort::parse("[::1]:12345").unwrap();
        assert_eq!((v6.host(), v6.port), ("::1", 12345));
        assert_eq!(v6.to_string(), "[::1]:12345");
        assert_eq!(HostPort::new("::1", 5).to_string(), "[::1]:5");
        assert_eq!(HostPort::new("[::1]", 5).host(), "::1");
        let name = HostPort::parse("chat.lan:80").unwrap();
        assert_eq!(name.to_string(), "chat.lan:80");
        assert!(HostPort::parse("chat.lan").is_err());
        assert!(HostPort::parse("::1:80").is_err());
        assert!(HostPort::parse("h:0").is_err());
        assert_eq!(bare(" [fe80::1] "), "fe80::1");
    }
}
