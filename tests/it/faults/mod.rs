//! Randomized fault schedules against a real cluster, checked from what
//! the clients saw (docs/CLUSTER.md "Guarantees"). A seed fixes the
//! schedule: Redis paused and resumed, restarted with and without its
//! data, a node killed and restarted, a node paused past its heartbeat
//! and resumed, clients leaving and arriving — while clients chat in
//! overlapping rooms. Afterwards everything is healed, every surviving
//! client's marker must come back, membership must converge, and the
//! checker reads every history.
//!
//! CI runs a fixed list of seeds (`cluster_faults_seed_*`); a failing seed
//! is printed and replays the same schedule with
//! `FAULT_SEED=N cargo test --test it faults::replay -- --ignored`;
//! `FAULT_SEEDS=N cargo test --release --test it faults::many -- --ignored`
//! runs N more seeds (benches/cluster_faults.sh). A failing run writes
//! every history and the nodes' logs to `target/tmp/faults/seed-N.log`
//! (`FAULT_KEEP_LOG=1`: a clean run's too; `FAULT_NODE_LOG=debug`: the
//! nodes log more).

mod check;
pub mod client;
pub mod world;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use check::History;
use client::{Client, Ev};
use world::{Node, Redis};

const ROOMS: [&str; 3] = ["#r1", "#r2", "#r3"];

/// One fault of a schedule.
#[derive(Debug, Clone, Copy)]
enum Fault {
    RedisPause(Duration),
    RedisRestart {
        keep: bool,
    },
    NodeKill(usize),
    NodePause(usize, Duration),
    ClientLeaves(usize),
    ClientArrives,
    /// Redis over its `maxmemory` (`noeviction`) for a while: it refuses
    /// every write.
    RedisFull(Duration),
    /// Redis's password changed (every connection dropped), then restored.
    RedisPassword(Duration),
    /// Redis stalled (`DEBUG SLEEP`).
    RedisStall(Duration),
}

/// The schedule a seed gives: (wait before, fault). `refusing` adds the
/// faults of a Redis that refuses rather than vanishes (full, a changed
/// password, stalls); without it a seed gives the schedule it always gave.
fn schedule(seed: u64, steps: usize, nodes: usize, refusing: bool) -> Vec<(Duration, Fault)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let kinds = if refusing { 13 } else { 10 };
    (0..steps)
        .map(|_| {
            let wait = Duration::from_millis(rng.gen_range(300..1200));
            let fault = match rng.gen_range(0..kinds) {
                10 => Fault::RedisFull(Duration::from_millis(rng.gen_range(500..4000))),
                11 => Fault::RedisPassword(Duration::from_millis(rng.gen_range(500..4000))),
                12 => Fault::RedisStall(Duration::from_millis(rng.gen_range(500..4000))),
                0 | 1 => Fault::RedisPause(Duration::from_millis(rng.gen_range(500..8000))),
                2 => Fault::RedisRestart { keep: true },
                3 => Fault::RedisRestart { keep: false },
                4 => Fault::NodeKill(rng.gen_range(0..nodes)),
                5 | 6 => Fault::NodePause(
                    rng.gen_range(0..nodes),
                    Duration::from_millis(rng.gen_range(500..8000)),
                ),
                7 => Fault::ClientLeaves(rng.gen_range(0..64)),
                _ => Fault::ClientArrives,
            };
            (wait, fault)
        })
        .collect()
}

struct Run {
    t0: Instant,
    redis: Redis,
    nodes: Vec<Node>,
    clients: Arc<Mutex<Vec<Client>>>,
    rng: StdRng,
}

impl Run {
    fn arrive(&mut self) {
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|i| !self.nodes[*i].paused)
            .collect();
        let Some(&i) = live.get(self.rng.gen_range(0..live.len().max(1))) else {
            return;
        };
        let Some(addr) = self.nodes[i].addr() else {
            return;
        };
        let skip = self.rng.gen_range(0..ROOMS.len());
        let rooms: Vec<String> = ROOMS
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != skip)
            .map(|(_, r)| r.to_string())
            .collect();
        let k = self.clients.lock().unwrap().len();
        let c = Client::connect(k, addr, &self.nodes[i].name, rooms, self.t0);
        // Named before it chats (or refused: the cluster was settling).
        c.wait_named(Duration::from_secs(10));
        self.clients.lock().unwrap().push(c);
    }

    fn apply(&mut self, f: Fault) {
        match f {
            Fault::RedisPause(d) => {
                self.redis.pause();
                std::thread::sleep(d); // the fault's length
                self.redis.resume();
            }
            Fault::RedisRestart { keep } => self.redis.restart(keep),
            Fault::NodeKill(i) => self.nodes[i].kill_and_restart(),
            Fault::NodePause(i, d) => {
                self.nodes[i].pause();
                std::thread::sleep(d); // the fault's length
                self.nodes[i].resume();
            }
            Fault::ClientLeaves(k) => {
                let mut cs = self.clients.lock().unwrap();
                let n = cs.len();
                if n > 0 {
                    cs[k % n].leave();
                }
            }
            Fault::ClientArrives => self.arrive(),
            Fault::RedisFull(d) => {
                self.redis
                    .cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
                self.redis.cli(&["CONFIG", "SET", "maxmemory", "1"]);
                std::thread::sleep(d); // the fault's length
                self.redis.cli(&["CONFIG", "SET", "maxmemory", "0"]);
            }
            Fault::RedisPassword(d) => {
                self.redis
                    .cli(&["CONFIG", "SET", "requirepass", "changed-pw"]);
                let auth = ["-a", "changed-pw", "--no-auth-warning"];
                self.redis
                    .cli(&[&auth[..], &["CLIENT", "KILL", "TYPE", "normal"]].concat());
                std::thread::sleep(d); // the fault's length
                self.redis
                    .cli(&[&auth[..], &["CONFIG", "SET", "requirepass", ""]].concat());
            }
            Fault::RedisStall(d) => {
                let secs = format!("{:.1}", d.as_secs_f64());
                self.redis.cli(&["DEBUG", "SLEEP", &secs]);
            }
        }
    }
}

/// Chat from every open client, until `stop`.
fn chatter(clients: Arc<Mutex<Vec<Client>>>, stop: Arc<AtomicBool>, seed: u64, t0: Instant) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    while !stop.load(Ordering::Relaxed) {
        {
            let mut cs = clients.lock().unwrap();
            let open: Vec<usize> = (0..cs.len()).filter(|i| !cs[*i].closed()).collect();
            if let Some(&i) = open.get(rng.gen_range(0..open.len().max(1))) {
                let c = &mut cs[i];
                let room = c.rooms[rng.gen_range(0..c.rooms.len())].clone();
                c.say(&room, t0);
            }
        }
        // The traffic's pace (about 40 lines a second), not a wait for anything.
        std::thread::sleep(Duration::from_millis(rng.gen_range(10..40)));
    }
}

/// Run seed `seed` (`steps` faults, `refusing`: see `schedule`); the
/// violations found.
fn run(seed: u64, steps: usize, refusing: bool) -> Vec<String> {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let redis = Redis::start();
    let n_nodes = rng.gen_range(2..=3);
    let nodes: Vec<Node> = (0..n_nodes)
        .map(|i| Node::start(&redis, &format!("n{i}")))
        .collect();
    let mut r = Run {
        t0,
        redis,
        nodes,
        clients: Arc::new(Mutex::new(Vec::new())),
        rng,
    };
    for _ in 0..6 {
        r.arrive();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let talk = {
        let (c, s) = (r.clients.clone(), stop.clone());
        std::thread::spawn(move || chatter(c, s, seed, t0))
    };
    for (wait, fault) in schedule(seed, steps, n_nodes, refusing) {
        std::thread::sleep(wait); // the schedule's pace
        eprintln!("seed {seed} at {:?}: {fault:?}", t0.elapsed());
        r.apply(fault);
    }
    stop.store(true, Ordering::Relaxed);
    talk.join().unwrap();
    let mut v = settle(&mut r);
    // Read before hanging up: the clients open now were there throughout.
    let hs: Vec<History> = r.clients.lock().unwrap().iter().map(history).collect();
    for c in r.clients.lock().unwrap().iter_mut() {
        c.leave();
    }
    v.extend(check::check(&hs));
    v.extend(check::converged(&hs));
    // `FAULT_KEEP_LOG=1`: the log of a clean run too.
    if !v.is_empty() || std::env::var("FAULT_KEEP_LOG").is_ok_and(|k| k == "1") {
        // Every history, for reading the failure (target/faults/seed-N.log).
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("faults");
        let _ = std::fs::create_dir_all(&dir);
        let mut out = String::new();
        for h in &hs {
            out += &format!("== c{} on {} in {:?}\n", h.k, h.node, h.rooms);
            for s in &h.sent {
                out += &format!("  sent {:?} c{}-{} in {}\n", s.at, h.k, s.n, s.room);
            }
            for (t, e) in &h.events {
                out += &format!("  {t:?} {e:?}\n");
            }
        }
        for n in r.nodes.iter_mut() {
            out += &n.log();
        }
        let path = dir.join(format!("seed-{seed}.log"));
        let _ = std::fs::write(&path, out);
        if !v.is_empty() {
            v.push(format!("histories: {}", path.display()));
        }
    }
    v
}

/// After the faults: every surviving client's marker comes back in each
/// of its rooms (all that was said has been delivered), then each asks
/// `users` until the views match the truth (or 15 s pass: the bound
/// docs/CLUSTER.md states).
fn settle(r: &mut Run) -> Vec<String> {
    let mut v = Vec::new();
    let mut cs = r.clients.lock().unwrap();
    for c in cs.iter_mut().filter(|c| !c.closed()) {
        for room in c.rooms.clone() {
            let mark = format!("mark-{}-{room}", c.k);
            let from = c.len();
            c.mark(&room, &mark);
            let back = c.wait_for(
                from,
                Duration::from_secs(30),
                |e| matches!(e, Ev::Chat { text, .. } if *text == mark),
            );
            if !back && !c.closed() {
                v.push(format!(
                    "after healing, c{}'s marker in {room} never came back",
                    c.k
                ));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for c in cs.iter_mut().filter(|c| !c.closed()) {
            for room in c.rooms.clone() {
                let from = c.len();
                c.ask_users(&room);
                c.wait_for(from, Duration::from_secs(5), |e| {
                    matches!(e, Ev::Users { .. })
                });
            }
        }
        let hs: Vec<History> = cs.iter().map(history).collect();
        if check::converged(&hs).is_empty() || Instant::now() > deadline {
            break;
        }
        // Polling the condition: members of a dead node leave within
        // the heartbeat's expiry and a check.
        std::thread::sleep(Duration::from_millis(500));
    }
    v
}

fn history(c: &Client) -> History {
    History {
        k: c.k,
        node: c.node.clone(),
        rooms: c.rooms.clone(),
        sent: c.sent.clone(),
        events: c.events(),
    }
}

fn seed_run(seed: u64) {
    seed_run_with(seed, false)
}

fn seed_run_with(seed: u64, refusing: bool) {
    let v = run(seed, 10, refusing);
    let with = if refusing { " FAULT_REFUSING=1" } else { "" };
    assert!(
        v.is_empty(),
        "seed {seed} broke the cluster's guarantees (replay: FAULT_SEED={seed}{with} cargo test --test it faults::replay -- --ignored):\n{}",
        v.join("\n")
    );
}

#[test]
fn cluster_faults_seed_1() {
    seed_run(1);
}

#[test]
fn cluster_faults_seed_2() {
    seed_run(2);
}

#[test]
fn cluster_faults_seed_3() {
    seed_run(3);
}

#[test]
fn cluster_faults_seed_4() {
    seed_run(4);
}

/// A Redis that refuses (full, a changed password, a stall) among the
/// other faults: seed 32 has one of each, and an empty restart. It found
/// a node declared dead (paused past its heartbeat) whose next run's
/// members were never heard, and nobody told: the sequence numbers started
/// from 0 again while the old run's were still being read back
/// (`cluster_faults::a_node_declared_dead_with_lines_in_flight_is_heard_again_as_a_new_run`).
#[test]
fn cluster_faults_refusing_seed_32() {
    let kinds = schedule(32, 10, 3, true)
        .iter()
        .filter(|(_, f)| {
            matches!(
                f,
                Fault::RedisFull(_) | Fault::RedisPassword(_) | Fault::RedisStall(_)
            )
        })
        .count();
    assert_eq!(kinds, 3);
    seed_run_with(32, true);
}

/// One seed again: `FAULT_SEED=N` (`FAULT_REFUSING=1`: with a Redis that
/// refuses).
#[test]
#[ignore]
fn replay() {
    let seed = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("FAULT_SEED=N");
    seed_run_with(seed, refusing());
}

/// `FAULT_REFUSING=1`: schedules with a Redis that refuses too.
fn refusing() -> bool {
    std::env::var("FAULT_REFUSING").is_ok_and(|v| v == "1")
}

/// Many seeds (`FAULT_SEEDS=N`, from `FAULT_FIRST`, default 1000): how
/// many ran clean, and the failing ones.
#[test]
#[ignore]
fn many() {
    let n: u64 = std::env::var("FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let first: u64 = std::env::var("FAULT_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut failed = Vec::new();
    for seed in first..first + n {
        let v = run(seed, 16, refusing());
        if !v.is_empty() {
            eprintln!("seed {seed}: {}", v.join("\n  "));
            failed.push(seed);
        }
    }
    eprintln!(
        "{} of {n} seeds ran clean; failing: {failed:?}",
        n - failed.len() as u64
    );
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}
