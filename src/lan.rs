//! This machine's addresses that other machines on the network can reach:
//! for the certificate names of `gen-cert --lan` and for the "join with"
//! lines `serve` prints. Loopback and IPv6 link-local addresses are left
//! out (the first is unreachable from elsewhere, the second needs a zone).

use std::net::IpAddr;

/// Non-loopback, non-link-local addresses of the machine's interfaces,
/// IPv4 first, without duplicates (empty when they cannot be listed).
pub fn addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    if let Ok(ifaces) = if_addrs::get_if_addrs() {
        for i in ifaces {
            let ip = i.ip();
            let link_local_v6 =
                matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
            if !ip.is_loopback() && !link_local_v6 && !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out.sort_by_key(|ip| ip.is_ipv6());
    out
}
