//! Limits in one place: every limit that can refuse or drop a client
//! ([`Limit`], named as in docs/LIMITS.md, counted in the server's metrics), the
//! token bucket for chat lines, and (in [`addresses`]) what is counted per
//! source address: connections, and failed secure-room logins.

pub(crate) mod addresses;

use tokio::time::Instant;

use crate::config::Limits;

/// Declares [`Limit`] from one table — variant, then the name of its setting
/// in logs, metrics and docs/LIMITS.md — so that the enum, [`Limit::ALL`]
/// and [`Limit::name`] cannot drift apart (a new limit is one row).
macro_rules! limits {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A limit that fired: the name of its setting (docs/LIMITS.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Limit {
            $($(#[$doc])* $variant,)*
        }

        impl Limit {
            /// Every limit, in the order the summary lists them.
            pub(crate) const ALL: [Limit; [$(Limit::$variant),*].len()] = [$(Limit::$variant),*];

            /// The name in logs, the shutdown summary and docs/LIMITS.md.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Limit::$variant => $name,)*
                }
            }
        }
    };
}

limits! {
    MaxClients => "max_clients",
    MaxHandshakes => "max_handshakes",
    MaxClientsPerAddress => "max_clients_per_address",
    NewConnectionsPerMinute => "new_connections_per_minute",
    MessagesPerSecond => "messages_per_second",
    /// Sustained flooding past `messages_per_second`: disconnected.
    Flooding => "flooding",
    MaxFrameBytes => "max_frame_bytes",
    MaxTextChars => "max_text_chars",
    /// Too slow: `send_queue_bytes`, `room_buffer` or `write_timeout`.
    TooSlow => "too_slow",
    AuthFailures => "auth_failures",
    /// An address refused after too many failed logins (`auth_block`).
    AuthBlocked => "auth_blocked",
    HandshakeTimeout => "handshake_timeout",
    /// `serve.timeout`: silent for two periods.
    Idle => "idle_timeout",
    MaxRooms => "max_rooms",
    MaxRoomsPerMember => "max_rooms_per_member",
    MaxRoomMembers => "max_room_members",
    MaxWebConnections => "max_web_connections",
}

/// Messages per second with a burst. `rate <= 0` means no limit. Tokio's
/// clock, so that tests can pause time.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    tokens: f64,
    last: Instant,
    /// Lines dropped since the bucket was last full.
    strikes: u32,
}

/// What the bucket says about one line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    /// Drop this line and tell the client.
    Drop,
    /// Sustained flooding: disconnect.
    Disconnect,
}

impl Bucket {
    pub(crate) fn new(limits: &Limits) -> Bucket {
        Bucket {
            tokens: limits.message_burst as f64,
            last: Instant::now(),
            strikes: 0,
        }
    }

    pub(crate) fn take(&mut self, limits: &Limits) -> Verdict {
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
    pub(crate) fn flooding(&self, limits: &Limits) -> bool {
        self.strikes > 3 * limits.message_burst.max(1)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_a_burst_then_the_rate_then_disconnects_a_flood() {
        let limits = Limits {
            messages_per_second: 1.0,
            message_burst: 3,
            ..Limits::default()
        };
        let mut b = Bucket::new(&limits);
        let passed = (0..3).filter(|_| b.take(&limits) == Verdict::Pass).count();
        assert_eq!(passed, 3);
        assert_eq!(b.take(&limits), Verdict::Drop);
        // A second later there is one token again (paused time: exact).
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.take(&limits), Verdict::Pass);
        let verdicts: Vec<Verdict> = (0..20).map(|_| b.take(&limits)).collect();
        assert_eq!(verdicts.last(), Some(&Verdict::Disconnect));
        let unlimited = Limits {
            messages_per_second: 0.0,
            ..Limits::default()
        };
        assert!((0..1000).all(|_| b.take(&unlimited) == Verdict::Pass));
    }

    /// docs/LIMITS.md's table of settings lists every `[limits]` key and
    /// nothing else (but `serve.timeout`), and names every limit that fires.
    #[test]
    fn the_limits_table_in_the_docs_is_the_settings_and_names_every_limit() {
        let doc = include_str!("../../../docs/LIMITS.md");
        let table: Vec<&str> = doc
            .split("| setting |")
            .nth(1)
            .expect("docs/LIMITS.md has a table of settings")
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        let mut listed = Vec::new();
        for row in &table {
            let first = row.split('|').nth(1).unwrap_or("");
            listed.extend(first.split('`').skip(1).step_by(2));
        }
        for key in crate::config::Limits::KEYS {
            assert!(
                listed.contains(&key),
                "docs/LIMITS.md's table lacks `{key}`"
            );
        }
        for name in &listed {
            assert!(
                crate::config::Limits::KEYS.contains(name) || *name == "serve.timeout",
                "docs/LIMITS.md's table lists `{name}`, which is no setting of [limits]"
            );
        }
        for l in Limit::ALL {
            assert!(
                doc.contains(&format!("`{}`", l.name())),
                "docs/LIMITS.md does not name the limit `{}`",
                l.name()
            );
        }
    }

    #[test]
    fn every_limit_is_counted_and_summarised_by_its_setting_name() {
        let c = crate::server::metrics::Metrics::new(None, None);
        assert_eq!(c.summary(), "none");
        for (i, l) in Limit::ALL.iter().enumerate() {
            assert_eq!(*l as usize, i, "ALL is in declaration order");
        }
        c.bump(Limit::TooSlow);
        c.bump(Limit::MessagesPerSecond);
        c.bump(Limit::MessagesPerSecond);
        assert_eq!(c.summary(), "messages_per_second=2 too_slow=1");
        // The same counters, as /metrics shows them.
        let text = c.text();
        assert!(
            text.contains("tcpplay_limit_fired_total{limit=\"messages_per_second\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("tcpplay_limit_fired_total{limit=\"auth_failures\"} 0\n"));
    }
}
