//! Limits in one place: every limit that can refuse or drop a client
//! ([`Limit`], named as in docs/LIMITS.md, counted in the server's metrics), the
//! token bucket for chat lines, and (in [`addresses`]) what is counted per
//! source address: connections, and failed secure-room logins.

pub(crate) mod addresses;

use tokio::time::Instant;

use crate::config::Limits;

/// A limit that fired: the name of its setting (docs/LIMITS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    MaxClients,
    MaxHandshakes,
    MaxClientsPerAddress,
    NewConnectionsPerMinute,
    MessagesPerSecond,
    /// Sustained flooding past `messages_per_second`: disconnected.
    Flooding,
    MaxFrameBytes,
    MaxTextChars,
    /// Too slow: `send_queue_bytes`, `room_buffer` or `write_timeout`.
    TooSlow,
    AuthFailures,
    /// An address refused after too many failed logins (`auth_block`).
    AuthBlocked,
    HandshakeTimeout,
    /// `serve.timeout`: silent for two periods.
    Idle,
    MaxRooms,
    MaxRoomsPerMember,
    MaxRoomMembers,
    MaxWebConnections,
}

impl Limit {
    /// Every limit, in the order the summary lists them.
    pub(crate) const ALL: [Limit; 17] = [
        Limit::MaxClients,
        Limit::MaxHandshakes,
        Limit::MaxClientsPerAddress,
        Limit::NewConnectionsPerMinute,
        Limit::MessagesPerSecond,
        Limit::Flooding,
        Limit::MaxFrameBytes,
        Limit::MaxTextChars,
        Limit::TooSlow,
        Limit::AuthFailures,
        Limit::AuthBlocked,
        Limit::HandshakeTimeout,
        Limit::Idle,
        Limit::MaxRooms,
        Limit::MaxRoomsPerMember,
        Limit::MaxRoomMembers,
        Limit::MaxWebConnections,
    ];

    /// The name in logs, the shutdown summary and docs/LIMITS.md.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Limit::MaxClients => "max_clients",
            Limit::MaxHandshakes => "max_handshakes",
            Limit::MaxClientsPerAddress => "max_clients_per_address",
            Limit::NewConnectionsPerMinute => "new_connections_per_minute",
            Limit::MessagesPerSecond => "messages_per_second",
            Limit::Flooding => "flooding",
            Limit::MaxFrameBytes => "max_frame_bytes",
            Limit::MaxTextChars => "max_text_chars",
            Limit::TooSlow => "too_slow",
            Limit::AuthFailures => "auth_failures",
            Limit::AuthBlocked => "auth_blocked",
            Limit::HandshakeTimeout => "handshake_timeout",
            Limit::Idle => "idle_timeout",
            Limit::MaxRooms => "max_rooms",
            Limit::MaxRoomsPerMember => "max_rooms_per_member",
            Limit::MaxRoomMembers => "max_room_members",
            Limit::MaxWebConnections => "max_web_connections",
        }
    }
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
