//! Per-receiver accounting (lost, duplicated, out of order, altered, latency)
//! and the summary of a run.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tcpplay::crypto::RoomKey;
use tokio::sync::Notify;

use crate::conn::{self, Mode};
use crate::Plan;

pub struct Receiver {
    me: usize,
    expected: Vec<u32>,
    /// Next sequence number expected from each sender.
    next: Vec<u32>,
    /// Distinct messages received from each sender.
    unique: Vec<u32>,
    pub received: u64,
    pub duplicated_or_reordered: u64,
    pub gaps: u64,
    pub altered: u64,
    pub latencies_us: Vec<u32>,
    /// Latencies of the warm-up messages (left out of the main figures).
    pub warmup_latencies_us: Vec<u32>,
    pub last_delivery: Option<Instant>,
    /// The connection ended before everything expected arrived.
    pub ended_early: bool,
    plan: Plan,
    mode: Mode,
}

impl Receiver {
    pub fn new(me: usize, expected: Vec<u32>, plan: Plan, mode: Mode) -> Receiver {
        let n = expected.len();
        Receiver {
            me,
            expected,
            next: vec![0; n],
            unique: vec![0; n],
            received: 0,
            duplicated_or_reordered: 0,
            gaps: 0,
            altered: 0,
            latencies_us: Vec::new(),
            warmup_latencies_us: Vec::new(),
            last_delivery: None,
            ended_early: false,
            plan,
            mode,
        }
    }

    fn complete(&self) -> bool {
        self.next.iter().zip(&self.expected).all(|(n, e)| n >= e)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        mut self,
        mut reader: conn::Reader,
        key: Option<Arc<RoomKey>>,
        epoch: Instant,
        progress: Arc<Vec<AtomicU32>>,
        wake: Arc<Vec<Notify>>,
        mut done: tokio::sync::watch::Receiver<Option<Instant>>,
    ) -> Receiver {
        let mut n = 0u64;
        let mut told = false;
        loop {
            if self.complete() {
                break;
            }
            let deadline = done
                .borrow()
                .map(|t| t + Duration::from_secs_f64(self.plan.drain));
            let line = tokio::select! {
                l = conn::next_line(&mut reader) => l,
                _ = done.changed(), if deadline.is_none() => continue,
                _ = sleep_until(deadline) => break,
            };
            let Some(line) = line else {
                self.ended_early = true;
                break;
            };
            n += 1;
            let open = self.plan.open_every <= 1 || n.is_multiple_of(self.plan.open_every as u64);
            let Some((id, intact)) =
                conn::identify(self.mode, &line, self.plan.bytes, key.as_deref(), open)
            else {
                if !told {
                    if let Some(why) = conn::refusal(self.mode, &line) {
                        eprintln!("client {}: the server refused something: {why}", self.me);
                        told = true;
                    }
                }
                continue;
            };
            let now = Instant::now();
            let s = id.sender as usize;
            if s >= self.next.len() {
                self.altered += 1;
                continue;
            }
            self.received += 1;
            if !intact {
                self.altered += 1;
            }
            self.last_delivery = Some(now);
            let sent = epoch + Duration::from_micros(id.ts_us);
            let us = now
                .saturating_duration_since(sent)
                .as_micros()
                .min(u32::MAX as u128) as u32;
            if id.seq >= self.plan.warmup {
                self.latencies_us.push(us);
            } else {
                self.warmup_latencies_us.push(us);
            }
            if id.seq < self.next[s] {
                self.duplicated_or_reordered += 1;
            } else {
                if id.seq > self.next[s] {
                    self.gaps += 1;
                }
                self.next[s] = id.seq + 1;
                self.unique[s] += 1;
                progress[self.me * self.expected.len() + s].store(self.next[s], Ordering::Release);
                wake[s].notify_one();
            }
        }
        // Done or gone: never hold a sender back again.
        let senders = self.expected.len();
        for s in 0..senders {
            progress[self.me * senders + s].store(u32::MAX, Ordering::Release);
            wake[s].notify_one();
        }
        self
    }

    /// Messages never received (by sequence accounting).
    pub fn lost(&self) -> u64 {
        self.unique
            .iter()
            .zip(&self.expected)
            .map(|(u, e)| e.saturating_sub(*u) as u64)
            .sum::<u64>()
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

pub struct Summary {
    /// Each sender's first messages left out of the latency figures.
    pub warmup: u32,
    /// Rooms the clients were spread over.
    pub rooms: usize,
    pub mode: Mode,
    pub clients: usize,
    pub senders: usize,
    pub per_sender: u32,
    pub deliveries: u64,
    pub expected: u64,
    pub lost: u64,
    pub duplicated_or_reordered: u64,
    pub altered: u64,
    pub secs: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// p50 and p99 over every delivery, warm-up included.
    pub all_p50_ms: f64,
    pub all_p99_ms: f64,
    /// The server's CPU time (user + system, all threads) over the run.
    pub server_cpu_ns: Option<u64>,
    /// Of it, the time the kernel spent on the server's behalf (system
    /// time: its system calls, and on loopback the receiving side's
    /// network stack too).
    pub server_system_ns: Option<u64>,
    /// A cluster's redis-server's, apart.
    pub redis_cpu_ns: Option<u64>,
    /// Receivers whose connection ended before they had everything.
    pub dropped_receivers: usize,
    /// Senders that gave up on flow control (a receiver stopped progressing).
    pub stalled_senders: usize,
    /// The server's system calls over the run (`perf stat`).
    pub syscalls: Option<crate::perf::Syscalls>,
    /// Bytes all clients received over the run.
    pub bytes_received: u64,
}

/// Latencies (µs), sorted.
fn sorted(us: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut v: Vec<u32> = us.collect();
    v.sort_unstable();
    v
}

/// The `p` percentile (0..=1) of sorted latencies in µs, in ms; 0 for none.
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

impl Summary {
    pub fn new(
        rs: Vec<Receiver>,
        started: Instant,
        _epoch: Instant,
        senders: usize,
        per_sender: u32,
        mode: Mode,
    ) -> Summary {
        let lat = sorted(rs.iter().flat_map(|r| r.latencies_us.iter().copied()));
        let all = sorted(
            rs.iter()
                .flat_map(|r| r.latencies_us.iter().chain(&r.warmup_latencies_us).copied()),
        );
        let pct = |p| percentile_ms(&lat, p);
        let pct_all = |p| percentile_ms(&all, p);
        let last = rs
            .iter()
            .filter_map(|r| r.last_delivery)
            .max()
            .unwrap_or(started);
        Summary {
            warmup: 0,
            rooms: 1,
            redis_cpu_ns: None,
            mode,
            clients: rs.len(),
            senders,
            per_sender,
            deliveries: rs.iter().map(|r| r.received).sum(),
            expected: rs
                .iter()
                .map(|r| r.expected.iter().map(|e| *e as u64).sum::<u64>())
                .sum(),
            lost: rs.iter().map(|r| r.lost()).sum(),
            duplicated_or_reordered: rs.iter().map(|r| r.duplicated_or_reordered).sum(),
            altered: rs.iter().map(|r| r.altered).sum(),
            secs: last.duration_since(started).as_secs_f64(),
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            max_ms: pct(1.0),
            all_p50_ms: pct_all(0.5),
            all_p99_ms: pct_all(0.99),
            server_cpu_ns: None,
            server_system_ns: None,
            dropped_receivers: rs.iter().filter(|r| r.ended_early).count(),
            stalled_senders: 0,
            syscalls: None,
            bytes_received: 0,
        }
    }

    /// Why this run does not count (a measurement of a run that lost,
    /// dropped or stalled is not a throughput figure), or `None`.
    pub fn invalid(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.lost > 0 {
            why.push(format!("{} deliveries lost", self.lost));
        }
        if self.duplicated_or_reordered > 0 {
            why.push(format!(
                "{} duplicated or reordered",
                self.duplicated_or_reordered
            ));
        }
        if self.altered > 0 {
            why.push(format!("{} altered", self.altered));
        }
        if self.dropped_receivers > 0 {
            why.push(format!("{} clients dropped", self.dropped_receivers));
        }
        if self.stalled_senders > 0 {
            why.push(format!(
                "{} senders stalled (a receiver stopped progressing)",
                self.stalled_senders
            ));
        }
        (!why.is_empty()).then(|| why.join(", "))
    }

    pub fn syscalls_per_delivery(&self) -> Option<f64> {
        let s = self.syscalls?;
        (self.deliveries > 0).then(|| s.total as f64 / self.deliveries as f64)
    }

    /// Bytes the clients received per server write-like syscall.
    pub fn bytes_per_write(&self) -> Option<f64> {
        let s = self.syscalls?;
        (s.writes > 0).then(|| self.bytes_received as f64 / s.writes as f64)
    }

    /// Server CPU per delivery, in µs.
    pub fn cpu_us_per_delivery(&self) -> Option<f64> {
        let ns = self.server_cpu_ns?;
        (self.deliveries > 0).then(|| ns as f64 / 1000.0 / self.deliveries as f64)
    }

    /// Of it, the kernel's (system time), in µs per delivery.
    pub fn system_us_per_delivery(&self) -> Option<f64> {
        let ns = self.server_system_ns?;
        (self.deliveries > 0).then(|| ns as f64 / 1000.0 / self.deliveries as f64)
    }

    pub fn print(&self, json: bool) {
        let rate = self.deliveries as f64 / self.secs.max(1e-9);
        if json {
            println!(
                "{}",
                serde_json::json!({"scenario": "fanout", "mode": format!("{:?}", self.mode).to_lowercase(),
                    "clients": self.clients, "rooms": self.rooms, "senders": self.senders, "messages_per_sender": self.per_sender,
                    "deliveries": self.deliveries, "expected": self.expected, "lost": self.lost,
                    "duplicated_or_reordered": self.duplicated_or_reordered, "altered": self.altered,
                    "secs": self.secs, "deliveries_per_sec": rate,
                    "server_cpu_us_per_delivery": self.cpu_us_per_delivery(),
                    "server_system_us_per_delivery": self.system_us_per_delivery(),
                    "redis_cpu_us_per_message": self.redis_cpu_ns.map(|ns| ns as f64 / 1000.0 / (self.senders as f64 * self.per_sender as f64).max(1.0)),
                    "syscalls_per_delivery": self.syscalls_per_delivery(),
                    "bytes_per_write": self.bytes_per_write(),
                    "server_syscalls": self.syscalls.map(|s| serde_json::json!({"total": s.total, "writes": s.writes, "reads": s.reads})),
                    "bytes_received": self.bytes_received,
                    "dropped_receivers": self.dropped_receivers, "stalled_senders": self.stalled_senders,
                    "invalid": self.invalid(),
                    "latency_ms": {"p50": self.p50_ms, "p99": self.p99_ms, "max": self.max_ms},
                    "latency_warmup_messages": self.warmup,
                    "latency_all_ms": {"p50": self.all_p50_ms, "p99": self.all_p99_ms}})
            );
        } else {
            println!(
                "fanout {:?}: {} clients in {} room(s), {} senders x {} msgs: {} of {} deliveries in {:.2} s = {:.0}/s; \
                 latency p50 {:.3} ms p99 {:.3} ms max {:.3} ms; lost {}, dup/reordered {}, altered {}",
                self.mode, self.clients, self.rooms, self.senders, self.per_sender, self.deliveries, self.expected, self.secs,
                rate, self.p50_ms, self.p99_ms, self.max_ms, self.lost, self.duplicated_or_reordered, self.altered
            );
            if self.warmup > 0 {
                println!(
                    "(latency from each sender's message {} on; with the first: p50 {:.3} ms p99 {:.3} ms; all deliveries counted for loss)",
                    self.warmup + 1, self.all_p50_ms, self.all_p99_ms
                );
            }
            match (self.cpu_us_per_delivery(), self.system_us_per_delivery()) {
                (Some(us), Some(sys)) => {
                    println!("server CPU {us:.3} µs per delivery ({sys:.3} of it in the kernel)")
                }
                (Some(us), None) => println!("server CPU {us:.3} µs per delivery"),
                _ => {}
            }
            if let (Some(sc), Some(bw), Some(s)) = (
                self.syscalls_per_delivery(),
                self.bytes_per_write(),
                self.syscalls,
            ) {
                println!(
                    "server syscalls {sc:.3} per delivery ({} in all: {} writes, {} reads), {bw:.0} bytes per write",
                    s.total, s.writes, s.reads
                );
            }
            if let Some(why) = self.invalid() {
                println!("INVALID RUN: {why}");
            }
        }
    }
}
