//! Per-client and per-address limits: the token bucket for chat lines, the
//! caps on connections per source address, and counters of every refusal
//! (logged with the address and the limit that fired; summed at shutdown).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Limits;

/// Messages per second with a burst. `rate <= 0` means no limit.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
    /// Lines dropped since the bucket was last full.
    strikes: u32,
}

/// What the bucket says about one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Drop this line and tell the client.
    Drop,
    /// Sustained flooding: disconnect.
    Disconnect,
}

impl Bucket {
    pub fn new(limits: &Limits) -> Bucket {
        Bucket {
            tokens: limits.message_burst as f64,
            last: Instant::now(),
            strikes: 0,
        }
    }

    pub fn take(&mut self, limits: &Limits) -> Verdict {
        if limits.messages_per_second <= 0.0 {
            return Verdict::Pass;
        }
        let now = Instant::now();
        let burst = limits.message_burst.max(1) as f64;
        self.tokens = (self.tokens
            + now.duration_since(self.last).as_secs_f64() * limits.messages_per_second)
            .min(burst);
        self.last = now;
        if self.tokens >= burst {
            self.strikes = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Pass;
        }
        self.strikes += 1;
        if self.flooding(limits) {
            Verdict::Disconnect
        } else {
            Verdict::Drop
        }
    }

    /// Flooding: three bursts' worth of refused lines without a pause.
    pub fn flooding(&self, limits: &Limits) -> bool {
        self.strikes > 3 * limits.message_burst.max(1)
    }
}

/// Refusals and drops, by limit.
#[derive(Default, Debug)]
pub struct Counters {
    pub server_full: AtomicU64,
    pub per_address: AtomicU64,
    pub connection_rate: AtomicU64,
    pub rate_limited: AtomicU64,
    pub flooding: AtomicU64,
    pub too_slow: AtomicU64,
    pub auth_failed: AtomicU64,
    pub handshake_timeout: AtomicU64,
    pub idle: AtomicU64,
}

impl Counters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// "rate_limited=3 too_slow=1" for the non-zero ones.
    pub fn summary(&self) -> String {
        let all = [
            ("server_full", &self.server_full),
            ("per_address", &self.per_address),
            ("connection_rate", &self.connection_rate),
            ("rate_limited", &self.rate_limited),
            ("flooding", &self.flooding),
            ("too_slow", &self.too_slow),
            ("auth_failed", &self.auth_failed),
            ("handshake_timeout", &self.handshake_timeout),
            ("idle", &self.idle),
        ];
        let parts: Vec<String> = all
            .iter()
            .filter_map(|(n, c)| {
                let v = c.load(Ordering::Relaxed);
                (v > 0).then(|| format!("{n}={v}"))
            })
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(" ")
        }
    }
}

struct AddrState {
    connected: u32,
    window_start: Instant,
    new_in_window: u32,
}

/// Connections per source address: how many are open, how many were opened
/// in the last minute. Bounded: idle entries are pruned.
#[derive(Default)]
pub struct Addresses {
    map: Mutex<HashMap<IpAddr, AddrState>>,
}

/// Which address limit refused a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum AddrRefusal {
    TooMany(usize),
    TooFast(usize),
}

const RATE_WINDOW: Duration = Duration::from_secs(60);
const MAX_TRACKED: usize = 50_000;

impl Addresses {
    /// Admit a new connection from `ip`, or say which limit refuses it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, limits: &Limits) -> Result<AddrGuard, AddrRefusal> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, s| s.connected > 0 || now.duration_since(s.window_start) < RATE_WINDOW);
        }
        let s = map.entry(ip).or_insert(AddrState {
            connected: 0,
            window_start: now,
            new_in_window: 0,
        });
        if now.duration_since(s.window_start) >= RATE_WINDOW {
            s.window_start = now;
            s.new_in_window = 0;
        }
        let cap = limits.max_clients_per_address;
        if cap > 0 && s.connected as usize >= cap {
            return Err(AddrRefusal::TooMany(cap));
        }
        let rate = limits.new_connections_per_minute;
        if rate > 0 && s.new_in_window as usize >= rate {
            return Err(AddrRefusal::TooFast(rate));
        }
        s.connected += 1;
        s.new_in_window += 1;
        Ok(AddrGuard {
            addrs: self.clone(),
            ip,
        })
    }
}

/// Held for a connection's life; counts it out on drop.
pub struct AddrGuard {
    addrs: Arc<Addresses>,
    ip: IpAddr,
}

impl Drop for AddrGuard {
    fn drop(&mut self) {
        let mut map = self.addrs.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get_mut(&self.ip) {
            s.connected = s.connected.saturating_sub(1);
            if s.connected == 0 && s.window_start.elapsed() >= RATE_WINDOW {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate_then_disconnects_a_flood() {
        let limits = Limits {
            messages_per_second: 1.0,
            message_burst: 3,
            ..Limits::default()
        };
        let mut b = Bucket::new(&limits);
        assert_eq!(
            (0..3)
                .map(|_| b.take(&limits))
                .filter(|v| *v == Verdict::Pass)
                .count(),
            3
        );
        assert_eq!(b.take(&limits), Verdict::Drop);
        let verdicts: Vec<Verdict> = (0..20).map(|_| b.take(&limits)).collect();
        assert_eq!(verdicts.last(), Some(&Verdict::Disconnect));
        let unlimited = Limits {
            messages_per_second: 0.0,
            ..Limits::default()
        };
        assert!((0..1000).all(|_| b.take(&unlimited) == Verdict::Pass));
    }

    #[test]
    fn addresses_are_capped_and_freed() {
        let limits = Limits {
            max_clients_per_address: 2,
            new_connections_per_minute: 3,
            ..Limits::default()
        };
        let a = Arc::new(Addresses::default());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let g1 = a.admit(ip, &limits).unwrap();
        let _g2 = a.admit(ip, &limits).unwrap();
        assert_eq!(a.admit(ip, &limits).err(), Some(AddrRefusal::TooMany(2)));
        assert!(
            a.admit("127.0.0.2".parse().unwrap(), &limits).is_ok(),
            "another address"
        );
        drop(g1);
        let _g3 = a.admit(ip, &limits).unwrap();
        drop(_g3);
        assert_eq!(a.admit(ip, &limits).err(), Some(AddrRefusal::TooFast(3)));
    }
}
