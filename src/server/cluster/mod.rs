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
//! - Names are claimed with `SET … NX` under `{prefix}:name:{key}`, kept alive
//!   by the node's heartbeat (`{prefix}:node:{node}`, every second, expiring
//!   after five): a node that dies loses its names and its members leave the
//!   other nodes' rooms when they see its heartbeat gone.
//! - Direct messages and kicks for a member of another node go to that
//!   node's inbox stream `{prefix}:inbox:{node}`.
//! - Redis unreachable: a node goes on serving its own members, says so in
//!   every room, and after the link is back catches up from the last stream
//!   id it delivered; what its own members said meanwhile reached only them,
//!   and they are told how many lines that was.
//!
//! The cluster is a layer beside the rooms: it implements the room's
//! `Relay` and hands events back as `Relayed`; the rooms import nothing
//! from here. By job:
//! - `entry`: the wire — room events and inbox entries encoded, and every
//!   entry decoded and checked (`keys`: key names; `reply`: replies)
//! - `publish`: the node's queue onto the rooms' streams
//! - `read`: one `XREAD` over the rooms' streams and the inbox
//! - `link`: the heartbeat, the link's state, other nodes' deaths
//! - `claims`: names across the cluster
//! - `inbox`: direct messages and kicks for another node's members
//! - `history`: a room's stream paged as history
//! - `record`: a secure room's record

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;

use super::room::{Direct, Hub, Relay, Relayed, Room, RoomEvent};
use crate::names;
use crate::protocol::now_ms;

mod claims;
pub(crate) mod entry;
mod history;
mod inbox;
mod keys;
mod link;
mod publish;
mod read;
mod record;
mod reply;

pub(crate) use entry::{line_id, stream_id};
use entry::{InboxEntry, Keys, Rules, Skip};

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

/// A node's heartbeat: refreshed this often, gone after `NODE_TTL`.
const HEARTBEAT: Duration = Duration::from_secs(1);
const NODE_TTL_MS: u64 = 5000;
/// A name outlives its node's heartbeat a little (then it is free).
const NAME_TTL_MS: u64 = 10_000;
/// How long one `XREAD` waits for new entries before it looks at which
/// rooms to read again.
const READ_BLOCK_MS: u64 = 100;
/// Entries waiting to be appended at most; more are delivered locally only.
const QUEUE: usize = 65_536;
/// An inbox keeps about this many entries (direct messages, kicks).
const INBOX_MAX: u64 = 10_000;

/// What a node appends to a room's stream.
struct Out {
    room: Arc<Room>,
    event: RoomEvent,
}

pub(crate) struct Cluster {
    /// This run of the node: `NODE/STARTED_MS`.
    id: String,
    cfg: ClusterConfig,
    keys: Keys,
    con: ConnectionManager,
    client: redis::Client,
    out: mpsc::Sender<Out>,
    hub: Mutex<Weak<Hub>>,
    /// The link to Redis works (the last command went through).
    up: AtomicBool,
    /// A change of `up` is being told to the rooms.
    announcing: AtomicBool,
    /// Lines said here while the link was down (reached this node only).
    local_only: AtomicU64,
    /// Name keys this node holds, refreshed by the heartbeat.
    names: Mutex<HashMap<String, String>>,
    /// Entries from Redis skipped as malformed, unknown or refused.
    skipped: AtomicU64,
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
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(1);
        let mut con = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| "no answer from Redis within 5 s".to_string())?
        .map_err(key_err)?;
        // This run of the node: its members, names and inbox are this
        // identity's, so a node restarted under the same name is a new
        // identity, and the old one's members leave when its heartbeat ends.
        let id = format!("{}/{}", cfg.node, now_ms());
        let keys = Keys::new(&cfg.prefix);
        let node_key = keys.node(&cfg.node);
        // The name is free, or held by a stopped run whose heartbeat has
        // not expired yet (it does not change): wait for it.
        let mut seen: Option<String> = None;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(NODE_TTL_MS + 1500);
        loop {
            let claimed: Option<String> = redis::cmd("SET")
                .arg(&node_key)
                .arg(entry::heartbeat(&id, now_ms()))
                .arg("NX")
                .arg("PX")
                .arg(NODE_TTL_MS)
                .query_async(&mut con)
                .await
                .map_err(key_err)?;
            if claimed.is_some() {
                break;
            }
            let now: Option<String> = redis::cmd("GET")
                .arg(&node_key)
                .query_async(&mut con)
                .await
                .map_err(key_err)?;
            let beating = seen.is_some() && now.is_some() && now != seen;
            if beating || tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "a live node of this cluster is already called '{}': give this one another name (cluster.node, --node)",
                    cfg.node
                ));
            }
            seen = now;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let c = Arc::new(Cluster {
            id,
            cfg,
            keys,
            con,
            client,
            out: tx,
            hub: Mutex::new(Weak::new()),
            up: AtomicBool::new(true),
            announcing: AtomicBool::new(false),
            local_only: AtomicU64::new(0),
            names: Mutex::new(HashMap::new()),
            skipped: AtomicU64::new(0),
        });
        tokio::spawn(c.clone().publisher(rx));
        tokio::spawn(c.clone().heartbeat());
        Ok(c)
    }

    /// The hub this node serves (its rooms): set once, before serving.
    pub(crate) fn attach(self: &Arc<Self>, hub: &Arc<Hub>) {
        *self.hub.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(hub);
        tokio::spawn(self.clone().reader());
    }

    pub(super) fn hub(&self) -> Option<Arc<Hub>> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner()).upgrade()
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// An entry from Redis that is not what it must be: skipped, counted,
    /// logged (the first few, then one in a thousand: a hostile writer
    /// cannot flood the log).
    pub(super) fn skip(&self, key: &str, id: &str, why: &Skip) {
        let n = self.skipped.fetch_add(1, Ordering::Relaxed);
        if n < 10 || n % 1000 == 0 {
            tracing::warn!(node = %self.cfg.node, key = %names::sanitize(key), id = %names::sanitize(id), reason = why.label(),
                "cluster: skipped an entry in Redis: {why} ({} skipped so far)", n + 1);
        }
    }
}
