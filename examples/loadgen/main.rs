//! tcpplay's load generator: fan-out throughput, latency and loss, and idle
//! clients for memory and join time. Loopback only, bounded in count and time.
//!
//! ```sh
//! cargo run --release --example loadgen -- --addr 127.0.0.1:12345 fanout --clients 50
//! cargo run --release --example loadgen -- --mode lines --addr 127.0.0.1:9000 fanout --clients 50
//! cargo run --release --example loadgen -- --addr 127.0.0.1:12345 fanout --clients 100 --rate 100 --duration 20
//! cargo run --release --example loadgen -- --addr 127.0.0.1:12345 idle --clients 10000 --server-pid PID
//! ```

mod conn;
mod ncat;
mod perf;
mod proc;
mod stats;
mod ws;

use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use clap::{Parser, Subcommand};
use tokio::sync::{Notify, Semaphore};

use conn::{Conn, Id, Mode, Target};
use stats::{Receiver, Summary};

#[derive(Parser)]
#[command(about = "Load generator for tcpplay (and ncat --chat, IRC servers): loopback only")]
struct Args {
    /// Server address (must be loopback).
    #[arg(long, default_value = "127.0.0.1:12345")]
    addr: String,
    #[arg(long, value_enum, default_value = "plain")]
    mode: Mode,
    /// Trust this certificate (TLS/secure); without it, no verification.
    #[arg(long)]
    cert: Option<std::path::PathBuf>,
    /// Room password (secure mode).
    #[arg(long, env = "TCPPLAY_PASSWORD")]
    password: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    /// The server's process id: its CPU time (and RSS) is read from /proc
    /// over the run, for server CPU per delivery (Linux).
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// More servers (cluster nodes) on loopback: client i connects to the
    /// i-th of --addr and these, in turn.
    #[arg(long, global = true)]
    also_addr: Vec<String>,
    /// Their process ids: their CPU time is added to --server-pid's.
    #[arg(long, global = true)]
    also_pid: Vec<u32>,
    /// tcpplay modes: speak the original's protocol (the Python clients'
    /// `auth`, without `proto`), so the server sends its legacy form.
    #[arg(long, global = true)]
    legacy: bool,
    /// A cluster's redis-server: its CPU per message is reported apart.
    #[arg(long, global = true)]
    redis_pid: Option<u32>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// C clients, S of them sending M messages of B bytes; everyone receives.
    Fanout {
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// Senders (default: every client).
        #[arg(long)]
        senders: Option<usize>,
        /// Messages per sender.
        #[arg(long, default_value_t = 1000)]
        messages: u32,
        /// Text bytes per message (at least 30).
        #[arg(long, default_value_t = 100)]
        bytes: usize,
        /// Total messages per second over all senders; 0 = as fast as possible.
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Paced runs: seconds to send for (overrides --messages).
        #[arg(long)]
        duration: Option<f64>,
        /// Flat-out runs: messages a sender may be ahead of the slowest receiver
        /// (default: sized so every receiver stays well inside the server's
        /// default limits.send_queue_bytes and room_buffer).
        #[arg(long)]
        window: Option<u32>,
        /// Secure mode: decrypt and check every Nth delivery (1 = all).
        #[arg(long, default_value_t = 16)]
        open_every: u32,
        /// Seconds to wait for stragglers after the last send.
        #[arg(long, default_value_t = 10.0)]
        drain: f64,
        /// Leave each sender's first N messages out of the latency figures
        /// (still counted for loss): the steady state, after everyone spoke.
        #[arg(long, default_value_t = 0)]
        warmup: u32,
        /// Lines a flat-out sender puts in one `write`. 1 (the default) is
        /// what interactive clients do — `tcpplay join`, irssi, a browser:
        /// one line per write with TCP_NODELAY. More lets the server read
        /// many lines in one go, which real clients never give it.
        #[arg(long, default_value_t = 1)]
        lines_per_write: usize,
        /// Spread the clients over this many rooms (client i in room i mod
        /// R; 1 = the server's default room): each line reaches its room.
        #[arg(long, default_value_t = 1)]
        rooms: usize,
    },
    /// N clients join and stay; reports join time (and server RSS with --server-pid).
    Idle {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Connections opened at once.
        #[arg(long, default_value_t = 256)]
        parallel: usize,
        /// Seconds to stay connected after everyone joined.
        #[arg(long, default_value_t = 0.0)]
        hold: f64,
    },
}

fn main() -> Result<()> {
    let args = Args::parse();
    let addr = args
        .addr
        .to_socket_addrs()
        .context("--addr")?
        .next()
        .context("--addr resolves to nothing")?;
    if !addr.ip().is_loopback() {
        bail!("loadgen only targets loopback addresses (127.0.0.0/8, ::1), not {addr}");
    }
    let mut ports = vec![addr.port()];
    for a in &args.also_addr {
        let a = a
            .to_socket_addrs()
            .context("--also-addr")?
            .next()
            .context("--also-addr resolves to nothing")?;
        if !a.ip().is_loopback() {
            bail!("loadgen only targets loopback addresses (127.0.0.0/8, ::1), not {a}");
        }
        ports.push(a.port());
    }
    let target = Arc::new(Target {
        host: addr.ip().to_string(),
        ports,
        mode: args.mode,
        cert: args.cert.clone(),
        password: args.password.clone(),
        legacy: args.legacy,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match args.scenario {
            Scenario::Fanout {
                clients,
                senders,
                messages,
                bytes,
                rate,
                duration,
                window,
                open_every,
                drain,
                warmup,
                lines_per_write,
                rooms,
            } => {
                anyhow::ensure!(
                    rooms == 1 || args.mode != Mode::Lines,
                    "ncat has one room: --rooms needs a tcpplay mode"
                );
                let senders = senders.unwrap_or(clients).min(clients).max(1);
                let line = bytes.max(30) as u32 + 160;
                let window = window.unwrap_or_else(|| {
                    (2000 / senders as u32)
                        .min(400_000 / (senders as u32 * line))
                        .clamp(1, 64)
                });
                let plan = Plan {
                    clients,
                    senders,
                    messages,
                    bytes: bytes.max(30),
                    rate,
                    duration,
                    window,
                    open_every,
                    drain,
                    warmup,
                    lines_per_write: lines_per_write.max(1),
                    rooms: rooms.clamp(1, clients.max(1)),
                };
                let pids = Pids {
                    servers: args
                        .server_pid
                        .into_iter()
                        .chain(args.also_pid.clone())
                        .collect(),
                    redis: args.redis_pid,
                };
                let s = fanout(target, plan, pids).await?;
                s.print(args.json);
            }
            Scenario::Idle {
                clients,
                parallel,
                hold,
            } => idle(target, clients, parallel, hold, args.server_pid, args.json).await?,
        }
        Ok(())
    })
}

#[derive(Clone, Copy)]
struct Plan {
    clients: usize,
    senders: usize,
    messages: u32,
    bytes: usize,
    rate: f64,
    duration: Option<f64>,
    window: u32,
    open_every: u32,
    drain: f64,
    warmup: u32,
    lines_per_write: usize,
    rooms: usize,
}

impl Plan {
    /// The room of client `i` (`None`: the server's default room).
    fn room(&self, i: usize) -> Option<String> {
        (self.rooms > 1).then(|| format!("#lg{}", i % self.rooms))
    }

    fn same_room(&self, a: usize, b: usize) -> bool {
        a % self.rooms == b % self.rooms
    }
}

async fn connect_all(
    target: &Arc<Target>,
    n: usize,
    parallel: usize,
    room: impl Fn(usize) -> Option<String>,
) -> Result<Vec<Conn>> {
    // ncat listens with a backlog of 10: more connections at once than that
    // overflow its accept queue, and some are never accepted (a client then
    // waits forever for its welcome). Keep fewer in flight.
    let parallel = match target.mode {
        Mode::Lines => parallel.min(8),
        // The web side turns away handshakes past limits.max_handshakes (503).
        Mode::Ws => parallel.min(16),
        _ => parallel,
    };
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (t, g) = (target.clone(), gate.clone());
        let room = room(i);
        tasks.push(tokio::spawn(async move {
            let _p = g.acquire_owned().await;
            conn::connect(&t, &format!("lg{i}"), room, i)
                .await
                .with_context(|| format!("client {i}"))
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

/// Whose CPU time a run measures.
struct Pids {
    servers: Vec<u32>,
    redis: Option<u32>,
}

fn cpu_of(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| proc::cpu_ns(*p)).sum()
}

/// The servers' user and system time, summed.
fn split_of(pids: &[u32]) -> Option<proc::Split> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold(proc::Split::default(), |sum, p| {
        Some(sum + proc::cpu_split(*p)?)
    })
}

async fn fanout(target: Arc<Target>, plan: Plan, pids: Pids) -> Result<Summary> {
    let server_pid = pids.servers.first().copied();
    let conns = connect_all(&target, plan.clients, 64, |i| plan.room(i)).await?;
    let key = conns.iter().find_map(|c| c.key.clone());
    let paced = plan.rate > 0.0;
    let per_sender = match (paced, plan.duration) {
        (true, Some(d)) => ((d * plan.rate) / plan.senders as f64).ceil().max(1.0) as u32,
        _ => plan.messages,
    };
    // progress[r * S + s]: how many of sender s's messages receiver r has. A
    // flat-out sender keeps at most `window` messages ahead of the slowest
    // receiver, so nobody falls behind far enough to be dropped as too slow.
    let progress: Arc<Vec<AtomicU32>> = Arc::new(
        (0..plan.clients * plan.senders)
            .map(|k| {
                let (r, s) = (k / plan.senders, k % plan.senders);
                // ncat and IRC servers do not echo a line to its sender; a line reaches
                // its room only.
                AtomicU32::new(
                    if (!target.mode.echoes() && r == s) || !plan.same_room(r, s) {
                        u32::MAX
                    } else {
                        0
                    },
                )
            })
            .collect(),
    );
    let wake: Arc<Vec<Notify>> = Arc::new((0..plan.senders).map(|_| Notify::new()).collect());
    let epoch = Instant::now();
    let (done_tx, done_rx) = tokio::sync::watch::channel(None::<Instant>);
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for (i, c) in conns.into_iter().enumerate() {
        let expected: Vec<u32> = (0..plan.senders)
            .map(|s| {
                if (!target.mode.echoes() && s == i) || !plan.same_room(s, i) {
                    0
                } else {
                    per_sender
                }
            })
            .collect();
        let rx = Receiver::new(i, expected, plan, target.mode);
        let (p, w, d) = (progress.clone(), wake.clone(), done_rx.clone());
        let k = c.key.clone();
        receivers.push(tokio::spawn(rx.run(c.reader, k, epoch, p, w, d)));
        if i < plan.senders {
            let (p, w, k) = (progress.clone(), wake.clone(), key.clone());
            let mode = target.mode;
            let go = go_rx.clone();
            senders.push(tokio::spawn(async move {
                // Nobody sends before the server's CPU time is read.
                let mut go = go;
                let _ = go.wait_for(|g| *g).await;
                send(c.writer, i, per_sender, plan, mode, k, epoch, p, w).await
            }));
        } else {
            // Keep the write half open: closing it would leave the room.
            std::mem::forget(c.writer);
        }
    }
    // perf attaches while nobody sends yet (it sleeps a moment: off the runtime).
    let perf = match server_pid {
        Some(pid) => tokio::task::spawn_blocking(move || perf::Perf::start(pid)).await?,
        None => None,
    };
    let bytes_before = conn::RECEIVED_BYTES.load(Ordering::Relaxed);
    let cpu_before = cpu_of(&pids.servers);
    let split_before = split_of(&pids.servers);
    let redis_before = pids.redis.and_then(proc::cpu_ns);
    let started = Instant::now();
    let _ = go_tx.send(true);
    let mut stalled = 0;
    for s in senders {
        stalled += usize::from(s.await??);
    }
    let _ = done_tx.send(Some(Instant::now()));
    let mut results = Vec::new();
    for r in receivers {
        results.push(r.await?);
    }
    let cpu_after = cpu_of(&pids.servers);
    let split_after = split_of(&pids.servers);
    let redis_after = pids.redis.and_then(proc::cpu_ns);
    let syscalls = perf.and_then(perf::Perf::stop);
    let bytes = conn::RECEIVED_BYTES.load(Ordering::Relaxed) - bytes_before;
    let mut summary = Summary::new(
        results,
        started,
        epoch,
        plan.senders,
        per_sender,
        target.mode,
    );
    summary.server_cpu_ns = cpu_before.zip(cpu_after).map(|(b, a)| a.saturating_sub(b));
    summary.server_system_ns = split_before
        .zip(split_after)
        .map(|(b, a)| (a - b).system_ns);
    summary.redis_cpu_ns = redis_before
        .zip(redis_after)
        .map(|(b, a)| a.saturating_sub(b));
    summary.stalled_senders = stalled;
    summary.warmup = plan.warmup;
    summary.rooms = plan.rooms;
    summary.syscalls = syscalls;
    summary.bytes_received = bytes;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
async fn send(
    mut w: tokio::io::WriteHalf<Box<dyn tcpplay::client::Stream>>,
    me: usize,
    count: u32,
    plan: Plan,
    mode: Mode,
    key: Option<Arc<tcpplay::crypto::RoomKey>>,
    epoch: Instant,
    progress: Arc<Vec<AtomicU32>>,
    wake: Arc<Vec<Notify>>,
) -> Result<bool> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let interval =
        (plan.rate > 0.0).then(|| Duration::from_secs_f64(plan.senders as f64 / plan.rate));
    let mut ticker = interval.map(|i| {
        // Spread senders evenly over one interval.
        let offset = i.mul_f64(me as f64 / plan.senders as f64);
        tokio::time::interval_at(tokio::time::Instant::now() + offset, i)
    });
    // A server that loses lines, or a receiver that fell behind, starves
    // the window: after a second without progress this sender stops
    // waiting, so the run ends — and the run is reported as invalid.
    let mut flow = true;
    let mut pending = 0usize;
    let room = plan.room(me);
    for seq in 0..count {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        } else if flow {
            let mut seen = slowest(&progress, me, plan);
            let mut since = Instant::now();
            while seq >= seen.saturating_add(plan.window) {
                conn::flush(&mut w, &mut buf).await?;
                let _ = tokio::time::timeout(Duration::from_millis(100), wake[me].notified()).await;
                let now = slowest(&progress, me, plan);
                if now != seen {
                    (seen, since) = (now, Instant::now());
                } else if since.elapsed() > Duration::from_secs(1) {
                    eprintln!("sender {me}: a receiver stopped progressing at message {now}; sending on without flow control");
                    flow = false;
                    break;
                }
            }
        }
        let id = Id {
            sender: me as u32,
            seq,
            ts_us: epoch.elapsed().as_micros() as u64,
        };
        conn::frame(
            mode,
            key.as_deref(),
            id,
            plan.bytes,
            room.as_deref(),
            &mut buf,
        );
        // One write per line unless asked otherwise: a server must not be
        // measured on batches that no interactive client sends it.
        pending += 1;
        if interval.is_some() || pending >= plan.lines_per_write || buf.len() >= 16 * 1024 {
            conn::flush(&mut w, &mut buf).await?;
            pending = 0;
        }
    }
    conn::flush(&mut w, &mut buf).await?;
    std::mem::forget(w); // stay in the room until the receivers are done
    Ok(!flow)
}

/// The progress of sender `me` at its slowest receiver.
fn slowest(progress: &[AtomicU32], me: usize, plan: Plan) -> u32 {
    (0..plan.clients)
        .map(|r| progress[r * plan.senders + me].load(Ordering::Acquire))
        .min()
        .unwrap_or(u32::MAX)
}

async fn idle(
    target: Arc<Target>,
    n: usize,
    parallel: usize,
    hold: f64,
    pid: Option<u32>,
    json: bool,
) -> Result<()> {
    let before = pid.and_then(proc::rss_kib);
    let start = Instant::now();
    let conns = connect_all(&target, n, parallel, |_| None).await?;
    let join_secs = start.elapsed().as_secs_f64();
    // Keep reading (presence notices) so the server never sees a slow client.
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for c in conns {
        let mut r = c.reader;
        readers.push(tokio::spawn(async move {
            while conn::next_line(&mut r).await.is_some() {}
        }));
        writers.push(c.writer);
    }
    // Let the server settle (flush presence) before reading its memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = pid.and_then(proc::rss_kib);
    let per_client = match (before, after) {
        (Some(b), Some(a)) => Some((a.saturating_sub(b)) as f64 * 1024.0 / n as f64),
        _ => None,
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"scenario": "idle", "clients": n, "join_secs": join_secs,
                "rss_before_kib": before, "rss_after_kib": after, "bytes_per_client": per_client})
        );
    } else {
        println!("idle: {n} clients joined in {join_secs:.2} s");
        if let (Some(b), Some(a), Some(p)) = (before, after, per_client) {
            println!(
                "server RSS {b} KiB -> {a} KiB: {:.2} KiB per client",
                p / 1024.0
            );
        }
    }
    if hold > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(hold)).await;
    }
    drop(writers);
    for r in readers {
        r.abort();
    }
    Ok(())
}
