//! What `serve` prints once it listens: where the others connect. A
//! teacher reads the address off the screen, so each address other
//! machines can reach gets a ready `tcpplay join` line, and a `tcpplay://`
//! link (with the certificate's fingerprint under TLS) to paste into a
//! class chat. `join` takes both.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::share::JoinTarget;

/// At most this many addresses are listed (a machine with containers or
/// VPNs can have dozens).
const SHOWN: usize = 4;

/// How the server serves, for the lines.
pub(super) struct Serving {
    pub addr: SocketAddr,
    /// The file clients trust, and the certificate's SHA-256 fingerprint,
    /// under TLS.
    pub cert: Option<(TrustFile, String)>,
    pub secure: bool,
}

/// What a client passes to `--cert`.
pub(super) enum TrustFile {
    /// The server's certificate itself (self-signed, or no CA found).
    Itself(PathBuf),
    /// The local CA that issued the server's certificate (`gen-cert --ca`).
    Ca { ca: PathBuf, cert: PathBuf },
}

/// The addresses to show: the LAN's for a wildcard bind (IPv4 only for
/// 0.0.0.0), else the one bound; loopback when nothing else is there.
fn addresses(bound: IpAddr, lan: Vec<IpAddr>) -> Vec<IpAddr> {
    if !bound.is_unspecified() {
        return vec![bound];
    }
    let lan: Vec<IpAddr> = lan
        .into_iter()
        .filter(|ip| bound.is_ipv6() || ip.is_ipv4())
        .collect();
    if lan.is_empty() {
        vec![match bound {
            IpAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
            IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        }]
    } else {
        lan
    }
}

/// The lines, given the machine's LAN addresses.
pub(super) fn lines(s: &Serving, lan: Vec<IpAddr>) -> Vec<String> {
    let all = addresses(s.addr.ip(), lan);
    let local_only = all.iter().all(|ip| ip.is_loopback());
    let mut out = vec![match (&s.cert, local_only) {
        (_, true) => "join from this machine (only it can reach this address):".to_string(),
        (Some((_, fp)), false) => format!("join from another machine (certificate SHA-256 {fp}):"),
        (None, false) => "join from another machine:".to_string(),
    }];
    for ip in all.iter().take(SHOWN) {
        let mut target = JoinTarget::new(&ip.to_string(), s.addr.port());
        let hp = target.host_port(s.addr.port());
        target.secure = s.secure;
        match &s.cert {
            Some((file, fp)) => {
                target.fingerprint = Some(fp.clone());
                out.push(format!("  tcpplay join '{target}'"));
                out.push(match file {
                    TrustFile::Itself(path) => format!(
                        "  tcpplay join {hp} --cert {}   (with a copy of that file)",
                        path.display()
                    ),
                    TrustFile::Ca { ca, cert } => format!(
                        "  tcpplay join {hp} --cert {}   (with a copy of that file: the CA that issued {})",
                        ca.display(),
                        cert.display()
                    ),
                });
            }
            None if s.secure => out.push(format!("  tcpplay join '{target}'")),
            None => {
                out.push(format!("  tcpplay join {hp}"));
                out.push(format!("  or the link: {target}"));
            }
        }
    }
    if all.len() > SHOWN {
        out.push(format!(
            "  (and {} of this machine)",
            crate::output::plural((all.len() - SHOWN) as u64, "more address", "more addresses")
        ));
    }
    out
}

/// The lines for IRC clients (`serve --irc`): what to type into irssi
/// and WeeChat to reach the IRC listener at `local`; `cert`: the
/// certificate file under TLS (a client trusts it, as `join --cert` does).
pub(super) fn irc_lines(local: SocketAddr, cert: Option<&Path>, secure: bool) -> Vec<String> {
    if secure {
        return vec![format!(
            "IRC on {local}: every IRC client is refused with its reason (a secure room seals each line \
             with the room's password, which IRC clients cannot do; they join with `tcpplay join`)"
        )];
    }
    let ip = addresses(local.ip(), crate::lan::addresses())[0];
    let (host, port) = (ip.to_string(), local.port());
    match cert {
        None => vec![
            "join from an IRC client:".to_string(),
            format!("  irssi:   /connect {host} {port}"),
            format!("  WeeChat: /server add tcpplay {host}/{port} -notls   then   /connect tcpplay"),
        ],
        Some(path) => vec![
            "join from an IRC client (IRC over TLS, this certificate):".to_string(),
            format!("  irssi:   /connect -tls -tls_cafile {} {host} {port}", path.display()),
            format!(
                "  WeeChat: /set weechat.network.gnutls_ca_user {}; /server add tcpplay {host}/{port} -tls (-ssl before WeeChat 4.0)   then   /connect tcpplay",
                path.display()
            ),
        ],
    }
}

/// Where a browser opens the page served on `local`: each of this machine's
/// IPv4 LAN addresses when it listens on all of them (127.0.0.1 when it has
/// none), else the address it listens on.
pub(super) fn page_addresses(local: SocketAddr, tls: bool, lan: Vec<IpAddr>) -> Vec<String> {
    let scheme = if tls { "https" } else { "http" };
    let hosts: Vec<String> = if local.ip().is_unspecified() {
        let v4: Vec<String> = lan
            .iter()
            .filter(|a| a.is_ipv4())
            .map(|a| a.to_string())
            .collect();
        if v4.is_empty() {
            vec!["127.0.0.1".into()]
        } else {
            v4
        }
    } else {
        vec![local.ip().to_string()]
    };
    hosts
        .into_iter()
        .map(|host| {
            let at = crate::hostport::HostPort::new(&host, local.port());
            format!("{scheme}://{at}/")
        })
        .collect()
}

/// What `[irc] sasl_plain` means on this server, said plainly.
pub(super) fn sasl_plain_line(tls: bool) -> String {
    match tls {
        true => "IRC: SASL PLAIN is on ([irc] sasl_plain): IRC clients that use it send their account's password to this server (checked against its OPAQUE record, never kept), which tcpplay join and the page never do".into(),
        false => "IRC: [irc] sasl_plain is set but PLAIN is not offered: it is offered over TLS only (--tls)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_wildcard_bind_lists_the_lan_and_a_specific_bind_itself() {
        let lan = vec![ip("192.168.1.5"), ip("2001:db8::5")];
        let s = Serving {
            addr: "0.0.0.0:7000".parse().unwrap(),
            cert: None,
            secure: false,
        };
        let l = lines(&s, lan.clone());
        assert_eq!(
            l,
            [
                "join from another machine:",
                "  tcpplay join 192.168.1.5:7000",
                "  or the link: tcpplay://192.168.1.5:7000/",
            ]
        );
        let v6 = Serving {
            addr: "[::]:7000".parse().unwrap(),
            ..s
        };
        assert!(lines(&v6, lan.clone())
            .iter()
            .any(|l| l.contains("tcpplay join [2001:db8::5]:7000")));
        let local = Serving {
            addr: "127.0.0.1:7000".parse().unwrap(),
            cert: None,
            secure: false,
        };
        let l = lines(&local, lan);
        assert!(l[0].contains("only it can reach"), "{l:?}");
        assert_eq!(l[1], "  tcpplay join 127.0.0.1:7000");
        assert!(lines(
            &Serving {
                addr: "0.0.0.0:1".parse().unwrap(),
                cert: None,
                secure: false
            },
            vec![]
        )[1]
        .contains("127.0.0.1:1"));
    }

    #[test]
    fn under_tls_the_link_pins_the_certificate_and_names_a_secure_room() {
        let fp = "AB:".repeat(31) + "AB";
        let s = Serving {
            addr: "0.0.0.0:7000".parse().unwrap(),
            cert: Some((TrustFile::Itself(PathBuf::from("cert.pem")), fp.clone())),
            secure: true,
        };
        let l = lines(&s, vec![ip("10.0.0.2")]);
        let link = format!("tcpplay://10.0.0.2:7000/?fp={fp}&secure");
        assert_eq!(l[1], format!("  tcpplay join '{link}'"));
        assert_eq!(
            l[2],
            "  tcpplay join 10.0.0.2:7000 --cert cert.pem   (with a copy of that file)"
        );
        let back = JoinTarget::parse(&link).unwrap();
        assert!(back.secure && back.fingerprint.as_deref() == Some(fp.as_str()));
    }

    #[test]
    fn the_page_is_announced_on_each_lan_address_or_where_it_listens() {
        let lan: Vec<IpAddr> = vec!["192.168.1.5".parse().unwrap(), "fe80::1".parse().unwrap()];
        let all: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(
            page_addresses(all, false, lan.clone()),
            ["http://192.168.1.5:8080/"]
        );
        assert_eq!(
            page_addresses(all, true, Vec::new()),
            ["https://127.0.0.1:8080/"]
        );
        let one: SocketAddr = "[::1]:8443".parse().unwrap();
        assert_eq!(page_addresses(one, true, lan), ["https://[::1]:8443/"]);
    }
}
