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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Value;
use tokio::sync::mpsc;

use super::room::{Direct, Hub, Relay, Relayed, Room, RoomEvent};
use crate::names;
use crate::protocol::{now_ms, Chat, Packet};

pub mod entry;

pub use entry::{line_id, stream_id};
use entry::{InboxEntry, Keys, Rules, Skip};

/// How a node is found: `[cluster]` settings, checked.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
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

pub struct Cluster {
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
    pub async fn start(cfg: ClusterConfig) -> Result<Arc<Cluster>, String> {
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
    pub fn attach(self: &Arc<Self>, hub: &Arc<Hub>) {
        *self.hub.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(hub);
        tokio::spawn(self.clone().reader());
    }

    fn hub(&self) -> Option<Arc<Hub>> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner()).upgrade()
    }

    pub fn node(&self) -> &str {
        &self.cfg.node
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// A room's key in Redis: its folded name (`#room1` and `#rooml` are
    /// one room on every node, as on one).
    fn room_key(room: &Room) -> String {
        names::name_key(room.name())
    }

    /// Entries skipped so far (malformed, unknown, or refused).
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// An entry from Redis that is not what it must be: skipped, counted,
    /// logged (the first few, then one in a thousand: a hostile writer
    /// cannot flood the log).
    fn skip(&self, key: &str, id: &str, why: &Skip) {
        let n = self.skipped.fetch_add(1, Ordering::Relaxed);
        if n < 10 || n % 1000 == 0 {
            tracing::warn!(node = %self.cfg.node, key = %names::sanitize(key), id = %names::sanitize(id), reason = why.label(),
                "cluster: skipped an entry in Redis: {why} ({} skipped so far)", n + 1);
        }
    }
}

impl Relay for Cluster {
    /// Queue what happened in `room` here for every node (this one too
    /// delivers it from the room's stream). A chat line that cannot go to
    /// the cluster (the link is down or the queue full) comes back: the
    /// caller then delivers it here only.
    fn publish(&self, room: &Arc<Room>, event: RoomEvent) -> Result<(), RoomEvent> {
        if !self.is_up() && matches!(event, RoomEvent::Said(_)) {
            self.local_only.fetch_add(1, Ordering::Relaxed);
            return Err(event);
        }
        let out = Out {
            room: room.clone(),
            event,
        };
        match self.out.try_send(out) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Redis is slower than this node's members: what does not
                // fit is delivered here only, counted, and said once.
                if self.local_only.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(node = %self.cfg.node, "cluster: Redis is not keeping up ({QUEUE} entries waiting); lines said here now reach only this server's members");
                }
                Err(e.into_inner().event)
            }
        }
    }
}

impl Cluster {
    /// Append what members say, in order, pipelined; what cannot be
    /// appended is delivered here only (and counted).
    async fn publisher(self: Arc<Self>, mut rx: mpsc::Receiver<Out>) {
        let mut con = self.con.clone();
        let mut batch = Vec::new();
        loop {
            if rx.recv_many(&mut batch, 256).await == 0 {
                return;
            }
            let mut pipe = redis::pipe();
            for o in &batch {
                let room = Self::room_key(&o.room);
                let members = self.keys.members(&room);
                match &o.event {
                    RoomEvent::Joined { name } => {
                        pipe.hset(&members, name, &self.id).ignore();
                    }
                    RoomEvent::Left { name, .. } => {
                        pipe.hdel(&members, name).ignore();
                    }
                    RoomEvent::Renamed { old, new } => {
                        pipe.hdel(&members, old).ignore();
                        pipe.hset(&members, new, &self.id).ignore();
                    }
                    RoomEvent::Said(_) | RoomEvent::Topic { .. } => {}
                }
                let mut cmd = redis::cmd("XADD");
                cmd.arg(self.keys.log(&room))
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.cfg.max_messages.max(1))
                    .arg("*");
                for (k, v) in entry::encode(&o.event, &self.id) {
                    cmd.arg(k).arg(v);
                }
                pipe.add_command(cmd).ignore();
            }
            let sent: redis::RedisResult<()> = pipe.query_async(&mut con).await;
            match sent {
                Ok(()) => self.link_up(),
                Err(e) => {
                    self.link_down(&e);
                    // Said here: shown here, at least.
                    for o in batch.drain(..) {
                        if let RoomEvent::Said(said) = o.event {
                            self.local_only.fetch_add(1, Ordering::Relaxed);
                            o.room.deliver_local(said);
                        }
                    }
                }
            }
            batch.clear();
        }
    }

    fn link_down(&self, e: &redis::RedisError) {
        // The rooms are told before the link is marked down, so that lines
        // then delivered here only come after the notice (one announcer).
        if !self.up.load(Ordering::Acquire) || self.announcing.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(node = %self.cfg.node, "cluster: Redis is unreachable ({}); serving this node's members only, retrying", key_err(e));
        if let Some(hub) = self.hub() {
            hub.notice_all(Packet::event(
                "cluster",
                None,
                "the link to the other servers is down: what is said here now reaches only the members on this server; it comes back by itself",
            ));
        }
        self.up.store(false, Ordering::Release);
        self.announcing.store(false, Ordering::Release);
    }

    fn link_up(&self) {
        if self.up.load(Ordering::Acquire) || self.announcing.swap(true, Ordering::AcqRel) {
            return;
        }
        self.up.store(true, Ordering::Release);
        self.announcing.store(false, Ordering::Release);
        let missed = self.local_only.swap(0, Ordering::Relaxed);
        tracing::info!(node = %self.cfg.node, "cluster: Redis is back ({missed} lines were said here meanwhile)");
        if let Some(hub) = self.hub() {
            hub.notice_all(Packet::event(
                "cluster",
                None,
                format!("the link to the other servers is back; {missed} line(s) said here while it was down reached only this server"),
            ));
        }
    }

    /// The node's heartbeat, its names' leases, and other nodes' deaths.
    async fn heartbeat(self: Arc<Self>) {
        let mut con = self.con.clone();
        let node_key = self.keys.node(&self.cfg.node);
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tick.tick().await;
            let names: Vec<String> = self
                .names
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .keys()
                .cloned()
                .collect();
            let mut pipe = redis::pipe();
            pipe.cmd("SET")
                .arg(&node_key)
                .arg(entry::heartbeat(&self.id, now_ms()))
                .arg("PX")
                .arg(NODE_TTL_MS)
                .ignore();
            // Set, not only extended: a Redis that restarted empty gets
            // this node's names back.
            for n in &names {
                pipe.cmd("SET")
                    .arg(n)
                    .arg(&self.id)
                    .arg("PX")
                    .arg(NAME_TTL_MS)
                    .ignore();
            }
            let beat: redis::RedisResult<()> = pipe.query_async(&mut con).await;
            match beat {
                Ok(()) => self.link_up(),
                Err(e) => {
                    self.link_down(&e);
                    continue;
                }
            }
            // Members of nodes whose heartbeat is gone leave our rooms.
            let Some(hub) = self.hub() else { continue };
            for node in hub.remote_nodes() {
                if let Ok(false) = self.alive(&mut con, &node).await {
                    tracing::info!(node = %node, "cluster: node gone (no heartbeat); its members leave");
                    for room in hub.node_gone(&node) {
                        let _: redis::RedisResult<()> = redis::cmd("HDEL")
                            .arg(self.keys.members(&room.0))
                            .arg(&room.1)
                            .query_async(&mut con)
                            .await;
                    }
                }
            }
        }
    }

    /// Is the run `id` (`NODE/STARTED_MS`) of a node still beating?
    async fn alive(&self, con: &mut ConnectionManager, id: &str) -> redis::RedisResult<bool> {
        let beat: Option<String> = redis::cmd("GET")
            .arg(self.keys.node(entry::run_node(id)))
            .query_async(con)
            .await?;
        Ok(beat.is_some_and(|b| entry::heartbeat_run(&b) == Some(id)))
    }

    /// Claim `requested` (or `-2`, `-3`, … when taken) across the cluster;
    /// a name whose node is dead is taken over. The name given.
    pub async fn claim(&self, requested: &str) -> Result<String, String> {
        let mut con = self.con.clone();
        for n in 1..1000u32 {
            let name = match n {
                1 => requested.to_string(),
                n => names::with_suffix(requested, n),
            };
            if self.claim_exact(&mut con, &name).await? {
                return Ok(name);
            }
        }
        Err("no free name".into())
    }

    /// Claim exactly `name`: false when a live node holds it.
    pub async fn claim_exact_name(&self, name: &str) -> Result<bool, String> {
        let mut con = self.con.clone();
        self.claim_exact(&mut con, name).await
    }

    async fn claim_exact(&self, con: &mut ConnectionManager, name: &str) -> Result<bool, String> {
        let key = self.keys.name(&names::name_key(name));
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&self.id)
            .arg("NX")
            .arg("PX")
            .arg(NAME_TTL_MS)
            .query_async(con)
            .await
            .map_err(key_err)?;
        let mut won = set.is_some();
        if !won {
            // Held: by a node that died? Then it is free to take.
            let owner: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(con)
                .await
                .map_err(key_err)?;
            if let Some(owner) = owner.filter(|o| *o != self.id) {
                let alive = self.alive(con, &owner).await.map_err(key_err)?;
                if !alive {
                    let _: () = redis::cmd("SET")
                        .arg(&key)
                        .arg(&self.id)
                        .arg("PX")
                        .arg(NAME_TTL_MS)
                        .query_async(con)
                        .await
                        .map_err(key_err)?;
                    won = true;
                }
            }
        }
        if won {
            self.names
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, name.to_string());
        }
        Ok(won)
    }

    /// Secure rooms: the room's record the cluster keeps, if any.
    pub async fn room_record(&self) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, String> {
        let mut con = self.con.clone();
        let r: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.keys.record())
            .query_async(&mut con)
            .await
            .map_err(key_err)?;
        Ok(r.map(zeroize::Zeroizing::new))
    }

    /// Secure rooms: keep this record for the other nodes, unless one is
    /// kept already (false then).
    pub async fn keep_room_record(&self, record: &[u8]) -> Result<bool, String> {
        let mut con = self.con.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.record())
            .arg(record)
            .arg("NX")
            .query_async(&mut con)
            .await
            .map_err(key_err)?;
        Ok(set.is_some())
    }

    /// Give a name back (a member left, or renamed).
    pub fn release(&self, name: &str) {
        let key = self.keys.name(&names::name_key(name));
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        let mut con = self.con.clone();
        let node = self.id.clone();
        tokio::spawn(async move {
            // Only if it is still ours.
            let script = redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            );
            let _: redis::RedisResult<i64> =
                script.key(&key).arg(&node).invoke_async(&mut con).await;
        });
    }

    /// The node holding `name`, if a live one does.
    async fn owner(&self, name: &str) -> Option<String> {
        let mut con = self.con.clone();
        let key = self.keys.name(&names::name_key(name.trim()));
        let owner: Option<String> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut con)
            .await
            .ok()?;
        owner.filter(|o| *o != self.id)
    }

    /// A direct message for a member of another node (its node builds the
    /// lines its member gets). False when nobody of that name is on a live
    /// node.
    pub async fn direct(&self, dm: Direct) -> bool {
        let Some(node) = self.owner(&dm.to).await else {
            return false;
        };
        self.to_inbox(&node, &InboxEntry::Direct(dm)).await
    }

    /// Ask the node of `name` to remove them. False when nobody of that
    /// name is on a live node.
    pub async fn kick(&self, name: &str, reason: &str) -> bool {
        let Some(node) = self.owner(name).await else {
            return false;
        };
        let kick = InboxEntry::Kick {
            to: name.to_string(),
            reason: reason.to_string(),
        };
        self.to_inbox(&node, &kick).await
    }

    async fn to_inbox(&self, node: &str, e: &InboxEntry) -> bool {
        let mut con = self.con.clone();
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.keys.inbox(node))
            .arg("MAXLEN")
            .arg("~")
            .arg(INBOX_MAX)
            .arg("*");
        for (k, v) in entry::encode_inbox(e) {
            cmd.arg(k).arg(v);
        }
        cmd.query_async::<String>(&mut con).await.is_ok()
    }

    /// The newest `limit` chat lines of `room` with an id below `before`
    /// (oldest first), and whether there are older ones.
    pub async fn history(
        &self,
        room: &Room,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Chat>, bool), String> {
        let mut con = self.con.clone();
        let end = match before {
            Some(b) if b > 0 => format!("({}", stream_id(b)),
            Some(_) => return Ok((Vec::new(), false)),
            None => "+".into(),
        };
        // Presence entries share the stream: read more than asked for.
        let want = limit + 1;
        let mut out = Vec::new();
        let mut end = end;
        for _ in 0..8 {
            let reply: Value = redis::cmd("XREVRANGE")
                .arg(self.keys.log(&Self::room_key(room)))
                .arg(&end)
                .arg("-")
                .arg("COUNT")
                .arg(want * 4)
                .query_async(&mut con)
                .await
                .map_err(|e| format!("the cluster's history cannot be read: {}", key_err(e)))?;
            let ids = entry::entries(reply);
            let n = ids.len();
            for e in &ids {
                let said = match entry::decode(e, &self.cfg.rules) {
                    Ok(Relayed {
                        event: RoomEvent::Said(said),
                        line,
                        ..
                    }) => (said, line),
                    Ok(_) => continue,
                    Err(why) => {
                        self.skip(&self.keys.log(&Self::room_key(room)), &e.id, &why);
                        continue;
                    }
                };
                out.push(room.chat_of(said.0, said.1, said.1 / 4096));
                if out.len() >= want {
                    break;
                }
            }
            match ids.last() {
                Some(last) if out.len() < want && n == want * 4 => end = format!("({}", last.id),
                _ => break,
            }
        }
        let more = out.len() > limit;
        out.truncate(limit);
        out.reverse();
        Ok((out, more))
    }

    /// Read the streams of the rooms this node has members in, and its
    /// inbox; deliver each entry into the local room.
    async fn reader(self: Arc<Self>) {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_millis(READ_BLOCK_MS + 2000))
            .set_number_of_retries(1);
        let mut con = loop {
            match self
                .client
                .get_connection_manager_with_config(config.clone())
                .await
            {
                Ok(c) => break c,
                Err(e) => {
                    self.link_down(&e);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let inbox = self.keys.inbox(&self.id);
        // This run's inbox is new: everything in it is for this run ("$"
        // would miss what arrives between two reads).
        let mut inbox_last = "0-0".to_string();
        let mut pause = Duration::from_millis(100);
        loop {
            let Some(hub) = self.hub() else { return };
            let rooms = hub.cluster_rooms();
            drop(hub);
            // Rooms new to this node start at the stream's end (what came
            // before is their members' history).
            for room in rooms.iter().filter(|r| !r.cluster_started()) {
                match self.start_room(&mut con, room).await {
                    Ok(()) => {}
                    Err(e) => {
                        self.link_down(&e);
                        break;
                    }
                }
            }
            let started: Vec<&Arc<Room>> = rooms.iter().filter(|r| r.cluster_started()).collect();
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT")
                .arg(1024)
                .arg("BLOCK")
                .arg(READ_BLOCK_MS)
                .arg("STREAMS")
                .arg(&inbox);
            let logs: Vec<String> = started
                .iter()
                .map(|r| self.keys.log(&Self::room_key(r)))
                .collect();
            for l in &logs {
                cmd.arg(l);
            }
            cmd.arg(&inbox_last);
            for r in &started {
                cmd.arg(r.cluster_last());
            }
            let read: redis::RedisResult<Value> = cmd.query_async(&mut con).await;
            let reply = match read {
                Ok(r) => {
                    pause = Duration::from_millis(100);
                    r
                }
                Err(e) => {
                    self.link_down(&e);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            for (key, ids) in entry::read_reply(reply) {
                if key == inbox {
                    for e in &ids {
                        inbox_last = e.id.clone();
                        self.inbox_entry(&key, e);
                    }
                    continue;
                }
                let Some(i) = logs.iter().position(|l| *l == key) else {
                    continue;
                };
                let room = started[i];
                for e in &ids {
                    match entry::decode(e, &self.cfg.rules) {
                        Ok(entry) => room.deliver_event(entry, &self.id),
                        Err(why) => {
                            self.skip(&key, &e.id, &why);
                            // Past it all the same: read on from there.
                            room.skip_entry(&e.id);
                        }
                    }
                }
                // The batch's lines are shown at once (one wake, fewer writes).
                room.wake_readers();
            }
        }
    }

    async fn start_room(
        &self,
        con: &mut ConnectionManager,
        room: &Arc<Room>,
    ) -> redis::RedisResult<()> {
        let room_key = Self::room_key(room);
        let last: Value = redis::cmd("XREVRANGE")
            .arg(self.keys.log(&room_key))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(con)
            .await?;
        let members: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.members(&room_key))
            .query_async(con)
            .await?;
        let last = entry::entries(last)
            .into_iter()
            .next()
            .map(|e| e.id)
            .unwrap_or_else(|| "0-0".into());
        // Members of runs that died while nobody read this room are gone.
        let mut remote = HashMap::new();
        let mut runs: HashMap<String, bool> = HashMap::new();
        for (name, run) in members {
            if run == self.id {
                continue;
            }
            let alive = match runs.get(&run) {
                Some(a) => *a,
                None => {
                    let a = self.alive(con, &run).await?;
                    runs.insert(run.clone(), a);
                    a
                }
            };
            if alive {
                remote.insert(name, run);
            } else {
                redis::cmd("HDEL")
                    .arg(self.keys.members(&room_key))
                    .arg(&name)
                    .query_async::<()>(con)
                    .await?;
            }
        }
        let delivered = line_id(&last).unwrap_or(0);
        room.cluster_start(last, delivered, remote);
        Ok(())
    }

    fn inbox_entry(&self, key: &str, e: &entry::Entry) {
        let Some(hub) = self.hub() else { return };
        match entry::decode_inbox(e, &self.cfg.rules) {
            Ok(InboxEntry::Direct(dm)) => hub.deliver_direct(dm),
            Ok(InboxEntry::Kick { to, reason }) => {
                hub.kick(&to, &reason);
            }
            Err(why) => self.skip(key, &e.id, &why),
        }
    }
}
