//! What is counted per source address, in one windowed map: open
//! connections and new ones per minute ([`Addresses`]), failed logins to a
//! secure room and the block that follows ([`AuthThrottle`]). An IPv6 client
//! is counted by its /64 (one host's usual allocation), so an address-hopping
//! client cannot step around a limit. Bounded: entries that are neither in
//! their window nor holding anything are pruned.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Limits;

/// Length of the counting window.
const WINDOW: Duration = Duration::from_secs(60);

/// The key an address is counted under: IPv4 as it is, IPv6 by its /64
/// (an IPv4-mapped IPv6 address as the IPv4 one).
pub(crate) fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// One address's window and the caller's own state.
#[derive(Debug)]
pub(crate) struct Slot<S> {
    window_start: Instant,
    /// Events counted in the current window.
    pub in_window: u32,
    pub state: S,
}

/// State that keeps its slot alive beyond the window.
pub(crate) trait Holds {
    fn holds(&self, now: Instant) -> bool;
}

/// Per-address windowed counts, bounded to `max` addresses.
pub(crate) struct Windowed<S> {
    map: Mutex<HashMap<IpAddr, Slot<S>>>,
    max: usize,
}

impl<S: Default + Holds> Windowed<S> {
    pub(crate) fn new(max: usize) -> Self {
        Windowed {
            map: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Slot<S>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Work on `ip`'s slot (created if new; its window restarted if over).
    pub(crate) fn with<R>(&self, ip: IpAddr, f: impl FnOnce(&mut Slot<S>, Instant) -> R) -> R {
        let now = Instant::now();
        let k = key(ip);
        let mut map = self.lock();
        if map.len() >= self.max && !map.contains_key(&k) {
            map.retain(|_, s| s.state.holds(now) || now.duration_since(s.window_start) < WINDOW);
            if map.len() >= self.max {
                // Still full of live entries: forget the oldest window.
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.window_start)
                    .map(|(k, _)| *k)
                {
                    map.remove(&oldest);
                }
            }
        }
        let slot = map.entry(k).or_insert_with(|| Slot {
            window_start: now,
            in_window: 0,
            state: S::default(),
        });
        if now.duration_since(slot.window_start) >= WINDOW {
            slot.window_start = now;
            slot.in_window = 0;
        }
        f(slot, now)
    }

    /// Work on `ip`'s slot if there is one, and drop it when it no longer
    /// holds anything and its window is over.
    fn update(&self, ip: IpAddr, f: impl FnOnce(&mut S)) {
        let now = Instant::now();
        let k = key(ip);
        let mut map = self.lock();
        if let Some(s) = map.get_mut(&k) {
            f(&mut s.state);
            if !s.state.holds(now) && now.duration_since(s.window_start) >= WINDOW {
                map.remove(&k);
            }
        }
    }
}

/// Connections open from an address.
#[derive(Debug, Default)]
pub(crate) struct Open(u32);

impl Holds for Open {
    fn holds(&self, _: Instant) -> bool {
        self.0 > 0
    }
}

/// Connections per source address: how many are open, how many were opened
/// in the last minute.
pub(crate) struct Addresses(Windowed<Open>);

impl Default for Addresses {
    fn default() -> Self {
        Addresses(Windowed::new(50_000))
    }
}

/// Which address limit refused a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AddrRefusal {
    TooMany(usize),
    TooFast(usize),
}

impl Addresses {
    /// Admit a new connection from `ip`, or say which limit refuses it.
    pub(crate) fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        limits: &Limits,
    ) -> Result<AddrGuard, AddrRefusal> {
        self.0.with(ip, |s, _| {
            let cap = limits.max_clients_per_address;
            if cap > 0 && s.state.0 as usize >= cap {
                return Err(AddrRefusal::TooMany(cap));
            }
            let rate = limits.new_connections_per_minute;
            if rate > 0 && s.in_window as usize >= rate {
                return Err(AddrRefusal::TooFast(rate));
            }
            s.state.0 += 1;
            s.in_window += 1;
            Ok(())
        })?;
        Ok(AddrGuard {
            addrs: self.clone(),
            ip,
        })
    }
}

/// Held for a connection's life; counts it out on drop.
pub(crate) struct AddrGuard {
    addrs: Arc<Addresses>,
    ip: IpAddr,
}

impl Drop for AddrGuard {
    fn drop(&mut self) {
        self.addrs
            .0
            .update(self.ip, |o| o.0 = o.0.saturating_sub(1));
    }
}

/// An address's login tokens: a bucket that a failed login empties by one.
#[derive(Debug)]
pub(crate) struct Tokens {
    tokens: f64,
    last: Option<Instant>,
    /// When the bucket is full again (kept until then).
    full_at: Option<Instant>,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            tokens: f64::INFINITY,
            last: None,
            full_at: None,
        }
    }
}

impl Holds for Tokens {
    fn holds(&self, now: Instant) -> bool {
        // Kept until refilled: forgetting a half-spent bucket early would
        // hand a guesser its tries back.
        self.full_at.is_some_and(|t| t > now)
    }
}

impl Tokens {
    fn refill(&mut self, now: Instant, burst: f64, rate: f64) {
        let t = match self.last {
            Some(last) => (self.tokens + now.duration_since(last).as_secs_f64() * rate).min(burst),
            None => burst,
        };
        self.tokens = t;
        self.last = Some(now);
    }

    /// May another login start? Else how long until one may.
    fn check(&mut self, now: Instant, burst: f64, rate: f64) -> Result<(), Duration> {
        self.refill(now, burst, rate);
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }

    /// A failed login: one token, even below zero (many failures started
    /// at once are all paid for, one refill period each).
    fn spend(&mut self, now: Instant, burst: f64, rate: f64) {
        self.refill(now, burst, rate);
        self.tokens -= 1.0;
        self.full_at = Some(now + Duration::from_secs_f64((burst - self.tokens) / rate));
    }
}

/// Secure-room logins: a failed one (wrong password, abandoned, timed out)
/// spends a token from its address's bucket (`auth_failures` at once,
/// refilled over `auth_block`: a throttled address gets one more try every
/// `auth_block / auth_failures`, so a right password behind the same NAT as
/// a guesser still gets in) and from the server's own (`auth_failures_total`
/// a minute, against guessing from many addresses). A login may start while
/// both have a token; logins that succeed cost nothing, so a classroom
/// joining at once behind one address is never throttled.
pub(crate) struct AuthThrottle {
    burst: f64,
    rate: f64,
    per_address: Windowed<Tokens>,
    total: Mutex<Tokens>,
    total_burst: f64,
}

/// A login in progress: dropped without [`succeeded`](Self::succeeded), it
/// counts as a failed one (so a client cannot stall past the deadline to
/// go uncounted).
pub(crate) struct LoginTicket {
    throttle: Arc<AuthThrottle>,
    ip: IpAddr,
    done: bool,
}

impl AuthThrottle {
    pub(crate) fn new(max_failures: u32, block: Duration, total_per_minute: u32) -> AuthThrottle {
        let burst = max_failures.max(1) as f64;
        AuthThrottle {
            burst,
            rate: burst / block.as_secs_f64().max(1.0),
            per_address: Windowed::new(10_000),
            total: Mutex::new(Tokens::default()),
            total_burst: total_per_minute.max(1) as f64,
        }
    }

    fn total_rate(&self) -> f64 {
        self.total_burst / 60.0
    }

    /// Start a login from `ip`, or how long it must wait.
    pub(crate) fn start(self: &Arc<Self>, ip: IpAddr) -> Result<LoginTicket, Duration> {
        let (burst, rate) = (self.burst, self.rate);
        self.per_address
            .with(ip, |s, now| s.state.check(now, burst, rate))?;
        let now = Instant::now();
        let mut total = self.total.lock().unwrap_or_else(|e| e.into_inner());
        total.check(now, self.total_burst, self.total_rate())?;
        Ok(LoginTicket {
            throttle: self.clone(),
            ip,
            done: false,
        })
    }
}

impl LoginTicket {
    /// The login proved the password: it costs nothing.
    pub(crate) fn succeeded(mut self) {
        self.done = true;
    }
}

impl Drop for LoginTicket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let t = &self.throttle;
        let (burst, rate) = (t.burst, t.rate);
        t.per_address
            .with(self.ip, |s, now| s.state.spend(now, burst, rate));
        let now = Instant::now();
        let mut total = t.total.lock().unwrap_or_else(|e| e.into_inner());
        total.spend(now, t.total_burst, t.total_rate());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn addresses_are_capped_per_address_and_per_minute_and_freed() {
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
        let g3 = a.admit(ip, &limits).unwrap();
        drop(g3);
        assert_eq!(a.admit(ip, &limits).err(), Some(AddrRefusal::TooFast(3)));
        tokio::time::advance(WINDOW).await;
        assert!(a.admit(ip, &limits).is_ok(), "a new minute");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_logins_slow_one_address_and_successes_cost_nothing() {
        let t = Arc::new(AuthThrottle::new(3, Duration::from_secs(60), 1000));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..10 {
            t.start(a).unwrap().succeeded();
        }
        let spent: Vec<LoginTicket> = (0..3).map(|_| t.start(a).unwrap()).collect();
        drop(spent); // three failures
        let wait = t.start(a).err().expect("blocked");
        assert!(
            wait <= Duration::from_secs(20),
            "one try per 20 s, not {wait:?}"
        );
        assert!(t.start(b).is_ok(), "another address");
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(
            t.start(a).is_ok(),
            "a blocked address gets another try in time"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_budget_stops_guessing_from_many_addresses() {
        let t = Arc::new(AuthThrottle::new(5, Duration::from_secs(60), 10));
        for i in 0..10u8 {
            drop(t.start(IpAddr::from([10, 0, 0, i])).unwrap());
        }
        assert!(t.start("10.0.1.1".parse().unwrap()).is_err());
        tokio::time::advance(Duration::from_secs(7)).await;
        assert!(t.start("10.0.1.1".parse().unwrap()).is_ok(), "refilled");
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(key(one), key(other));
        assert_ne!(key(one), key(elsewhere));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
