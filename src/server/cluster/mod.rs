//! Cluster mode: rooms that span several servers ("nodes") through Redis.
//! See docs/CLUSTER.md for the design; in short:
//!
//! - Every line said in a room (and every join, leave, rename and topic) is
//!   appended to the room's Redis Stream `{prefix}:room:{room}:log` by the
//!   node of the member who said it, through one queue per node (so a
//!   member's lines keep their order). Nothing is published locally first.
//! - Each node reads the streams of the rooms it has members in, with one
//!   `XREAD`, and publishes each entry into its local room: every node sees
//!   the same entries in the same order, each once. The stream id is the
//!   line's id (`ms × 4096 + seq`), so ids agree across nodes and history
//!   (the stream, trimmed to `history.max_messages`) is paged by them.
//! - Names are claimed under `{prefix}:name:{key}` by a script that checks
//!   and sets in one step with the run's token, kept alive by the node's
//!   heartbeat (`{prefix}:node:{node}`, every second, expiring after five):
//!   a node that dies is declared dead (`{prefix}:dead:{run}`), loses its
//!   names, and its members leave the other nodes' rooms; a run declared
//!   dead that comes back learns it and drops its members.
//! - Direct messages and kicks for a member of another node go to that
//!   node's inbox stream `{prefix}:inbox:{node}`.
//! - Redis unreachable: a node goes on serving its own members, says so in
//!   every room; lines wait in its queue (bounded) and go out in order when
//!   the link is back; after it, each node reads on from the last stream id
//!   it delivered.
//!
//! The cluster is a layer beside the rooms: it implements the room's
//! `Relay` and hands events back as `Relayed`; the rooms import nothing
//! from here. By job:
//! - `entry`: the wire — room events and inbox entries encoded, and every
//!   entry decoded and checked (`keys`: key names; `reply`: replies)
//! - `publish`: the node's queue onto the rooms' streams (`doubt`: what
//!   may have landed when Redis lost its data, written off and told)
//! - `read`: one `XREAD` over the rooms' streams and the inbox
//! - `link`: the link's state and its notices (`con`: the connection,
//!   made anew when it cannot heal itself)
//! - `beat`: the heartbeat, other nodes' deaths, this run's own, and
//!   announcing everything again to a Redis that lost it
//! - `scripts`: the atomic steps (append once, beat, bury, claim, …)
//! - `heal`: the other nodes' members checked against Redis's
//! - `claims`: names across the cluster
//! - `rooms`: the cluster's rooms (its limit, the list)
//! - `inbox`: direct messages and kicks for another node's members
//! - `history`: a room's stream paged as history
//! - `record`: a secure room's record
//! - `refusal`: what Redis refused, told to whom it concerns
//! - `accounts`: accounts, certificate bindings and rooms' rules (`kept`:
//!   stamped, so that nodes' copies write back what Redis lost)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;

use super::metrics::ClusterMetrics;
use super::room::{Direct, Hub, Relay, Relayed, Room, RoomEvent};
use crate::names;
use crate::protocol::now_ms;

pub(crate) mod accounts;
mod beat;
mod claims;
mod con;
mod doubt;
pub(crate) mod entry;
mod heal;
mod history;
mod inbox;
mod kept;
mod keys;
mod link;
mod publish;
mod read;
mod record;
pub(crate) mod refusal;
mod reply;
mod rooms;
mod scripts;

pub(crate) use claims::ClaimError;
pub(crate) use entry::{line_id, stream_id};
use entry::{InboxEntry, Keys, Rules, Skip};
pub(crate) use kept::{Kept, OTHER_SETUP};

/// How a node is found: `[cluster]` settings, checked.
#[derive(Debug, Clone)]
pub(crate) struct ClusterConfig {
    pub url: String,
    /// This node's name in the cluster (unique among the live nodes).
    pub node: String,
    /// Key prefix: clusters with different prefixes share a Redis unseen.
    pub prefix: String,
    /// Messages a room's stream keeps (about: trimmed with `MAXLEN ~`).
    pub max_messages: u64,
    /// What every entry read from Redis is checked against.
    pub rules: Rules,
}

/// A command Redis has not answered within this is given up (the link is
/// down); `check --cluster` holds Redis to it too.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A node's heartbeat: refreshed this often, gone after `NODE_TTL`.
const HEARTBEAT: Duration = Duration::from_secs(1);
const NODE_TTL_MS: u64 = 5000;
/// A name outlives its node's heartbeat a little (then it is free).
const NAME_TTL_MS: u64 = 10_000;
/// How long one `XREAD` waits for new entries before it looks at which
/// rooms to read again.
const READ_BLOCK_MS: u64 = 100;
/// After the link comes back, or Redis is found to have lost its keys,
/// no other run is declared dead for this long: every live node beats
/// (and announces itself again) well within it.
const GRACE: Duration = Duration::from_millis(NODE_TTL_MS + 2000);
/// After Redis lost its keys, new names wait this long: every live node
/// claims its members' names again at its next heartbeat.
const SETTLE: Duration = Duration::from_secs(3);
/// An inbox keeps about this many entries (direct messages, kicks).
const INBOX_MAX: u64 = 10_000;

/// What a node appends to a room's stream.
struct Out {
    room: Arc<Room>,
    event: RoomEvent,
    /// The run it happened in: a run declared dead appends nothing more.
    run: Arc<str>,
}

pub(crate) struct Cluster {
    /// This run of the node: `NODE/STARTED_MS` (a new one when the cluster
    /// declared this one dead).
    run: Mutex<Arc<str>>,
    cfg: ClusterConfig,
    keys: Keys,
    /// The shared connection (made anew when it cannot heal itself).
    con: Arc<con::Con>,
    client: redis::Client,
    out: mpsc::UnboundedSender<Out>,
    hub: Mutex<Weak<Hub>>,
    /// The link to Redis works (the last command went through).
    up: AtomicBool,
    /// A change of `up` is being told to the rooms.
    announcing: AtomicBool,
    /// Chat lines waiting in the queue (at most `publish::HOLD`).
    held: AtomicUsize,
    /// Name keys this node holds (key → name), renewed by the heartbeat.
    names: Mutex<HashMap<String, String>>,
    /// What `/metrics` shows of the cluster.
    m: ClusterMetrics,
    /// Since when the link has been up without Redis losing keys (`None`:
    /// down): other runs are declared dead only after `GRACE` of it.
    calm_since: Mutex<Option<tokio::time::Instant>>,
    /// When Redis was last found to have lost this node's keys: new names
    /// are refused for `SETTLE` after it, while every node claims its own
    /// names again.
    repaired_at: Mutex<Option<tokio::time::Instant>>,
    /// Redis's clock at the last heartbeat, and when that was here: a
    /// script that must not act late is given a deadline on that clock.
    redis_clock: Mutex<(u64, tokio::time::Instant)>,
    /// This node's entries below this sequence number were read back from
    /// the streams here: they landed, whatever Redis forgot since (its
    /// landing marks are lost when it restarts empty), and are not sent
    /// again. The numbers rise across the node's runs (a new run does not
    /// start from 0), so an earlier run's entry read back late never
    /// covers a later run's.
    landed: std::sync::atomic::AtomicU64,
    /// For each room and writing run, the highest sequence number
    /// delivered here: a run's entries land in a room in that order, so
    /// one at or below it is a second copy (a batch sent again to a Redis
    /// that restarted empty after the first had landed and been read).
    delivered_seq: Mutex<HashMap<(String, String), u64>>,
    /// Redis refuses every write (out of memory, read-only, …): why.
    refusing: Mutex<Option<String>>,
    /// The other nodes' members here are to be checked against Redis
    /// (it lost its data): see `heal`.
    heal_due: AtomicBool,
    /// Redis lost this node's keys: the publisher asks whether it forgot
    /// lines still waiting for their echo (`doubt`).
    forgot: tokio::sync::Notify,
}

fn key_err(e: impl std::fmt::Display) -> String {
    // Redis errors name the command and the server's words; never a password.
    e.to_string()
}

impl Cluster {
    /// Connect, register the node, and start its tasks (publisher, reader,
    /// heartbeat). Fails when Redis cannot be reached now, or another live
    /// node has this node's name.
    pub(crate) async fn start(cfg: ClusterConfig) -> Result<Arc<Cluster>, String> {
        if cfg.url.starts_with("rediss:") {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = redis::Client::open(cfg.url.as_str())
            .map_err(|e| format!("cluster URL: {}", key_err(e)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(1);
        let mut con = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config.clone()),
        )
        .await
        .map_err(|_| "no answer from Redis within 5 s".to_string())?
        .map_err(key_err)?;
        // This run of the node: its members, names and inbox are this
        // identity's, so a node restarted under the same name is a new
        // identity, and the old one's members leave when its heartbeat ends.
        let id: Arc<str> = format!("{}/{}", cfg.node, now_ms()).into();
        let keys = Keys::new(&cfg.prefix);
        claim_node_name(&mut con, &keys, &cfg.node, &id).await?;
        if let Some(memory) = refusal::memory(&mut con).await {
            for warning in [memory.evicting(), memory.full()].into_iter().flatten() {
                tracing::warn!(node = %cfg.node, "cluster: {warning}");
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let c = Arc::new(Cluster {
            run: Mutex::new(id),
            cfg,
            keys,
            con: Arc::new(con::Con::new(con, client.clone(), config)),
            client,
            out: tx,
            hub: Mutex::new(Weak::new()),
            up: AtomicBool::new(true),
            announcing: AtomicBool::new(false),
            held: AtomicUsize::new(0),
            names: Mutex::new(HashMap::new()),
            m: ClusterMetrics::default(),
            // Calm from the start: the other nodes have been beating.
            calm_since: Mutex::new(Some(
                tokio::time::Instant::now()
                    .checked_sub(GRACE)
                    .unwrap_or_else(tokio::time::Instant::now),
            )),
            repaired_at: Mutex::new(None),
            redis_clock: Mutex::new((now_ms(), tokio::time::Instant::now())),
            landed: std::sync::atomic::AtomicU64::new(0),
            delivered_seq: Mutex::new(HashMap::new()),
            refusing: Mutex::new(None),
            heal_due: AtomicBool::new(false),
            forgot: tokio::sync::Notify::new(),
        });
        c.m.link_up.set(1);
        for script in [&*scripts::APPEND, &*scripts::BEAT, &*scripts::CLAIM] {
            let mut con = c.con();
            script
                .prepare_invoke()
                .load_async(&mut con)
                .await
                .map_err(key_err)?;
        }
        // The run's mark, made now: its first batch, too, is never sent
        // twice across a Redis that lost its data (`doubt`).
        let marked = redis::cmd("SET")
            .arg(c.keys.seq(&c.run()))
            .arg(-1)
            .arg("PX")
            .arg(scripts::MARK_TTL_MS)
            .query_async::<()>(&mut c.con())
            .await
            .is_ok();
        tokio::spawn(c.clone().publisher(rx, marked));
        tokio::spawn(c.clone().heartbeat());
        Ok(c)
    }

    /// The hub this node serves (its rooms): set once, before serving.
    pub(crate) fn attach(self: &Arc<Self>, hub: &Arc<Hub>) {
        *self.hub.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(hub);
        self.declare(hub);
        tokio::spawn(self.clone().reader());
    }

    /// The declared rooms are the cluster's (they stay when empty).
    pub(super) fn declare(self: &Arc<Self>, hub: &Hub) {
        let rooms = hub.declared_rooms();
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.declare_rooms(&rooms).await {
                tracing::warn!(node = %me.cfg.node, "cluster: the declared rooms could not be registered ({e}); they are when Redis is back");
            }
        });
    }

    pub(super) fn hub(&self) -> Option<Arc<Hub>> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner()).upgrade()
    }

    /// The shared connection to Redis, as it is now.
    pub(super) fn con(&self) -> ConnectionManager {
        self.con.get()
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// This node's name in the cluster.
    pub(crate) fn node(&self) -> &str {
        &self.cfg.node
    }

    /// This run's id (`NODE/STARTED_MS`).
    pub(super) fn run(&self) -> Arc<str> {
        self.run.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What `/metrics` shows of the cluster (shared: the node updates it).
    pub(crate) fn metrics(&self) -> ClusterMetrics {
        self.m.clone()
    }

    /// A deadline on Redis's clock for a script that must not act late:
    /// `slack` after Redis's now, as last seen.
    pub(super) fn not_after(&self, slack: Duration) -> u64 {
        let (ms, at) = *self.redis_clock.lock().unwrap_or_else(|e| e.into_inner());
        ms + (at.elapsed() + slack).as_millis() as u64
    }

    /// An entry from Redis that is not what it must be: skipped, counted,
    /// logged (the first few, then one in a thousand: a hostile writer
    /// cannot flood the log).
    pub(super) fn skip(&self, key: &str, id: &str, why: &Skip) {
        let n = self.m.skipped.inc();
        if n < 10 || n.is_multiple_of(1000) {
            tracing::warn!(node = %self.cfg.node, key = %names::sanitize(key), id = %names::sanitize(id), reason = why.label(),
                "cluster: skipped an entry in Redis: {why} ({} skipped so far)", n + 1);
        }
    }
}

/// Take this node's name for run `id`: free, or held by a stopped run
/// whose heartbeat has not expired yet (it does not change: wait for it);
/// refused when a live node has it.
async fn claim_node_name(
    con: &mut ConnectionManager,
    keys: &Keys,
    node: &str,
    id: &str,
) -> Result<(), String> {
    let node_key = keys.node(node);
    let mut seen: Option<String> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(NODE_TTL_MS + 1500);
    loop {
        let claimed: Option<String> = redis::cmd("SET")
            .arg(&node_key)
            .arg(entry::heartbeat(id, now_ms()))
            .arg("NX")
            .arg("PX")
            .arg(NODE_TTL_MS)
            .query_async(con)
            .await
            .map_err(key_err)?;
        if claimed.is_some() {
            return Ok(());
        }
        let now: Option<String> = redis::cmd("GET")
            .arg(&node_key)
            .query_async(con)
            .await
            .map_err(key_err)?;
        let beating = seen.is_some() && now.is_some() && now != seen;
        if beating || tokio::time::Instant::now() > deadline {
            return Err(format!(
                "a live node of this cluster is already called '{node}': give this one another name (cluster.node, --node)"
            ));
        }
        seen = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
