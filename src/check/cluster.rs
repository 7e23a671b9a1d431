//! `check --cluster URL`: a cluster's Redis as the nodes use it — reachable,
//! how fast, which nodes beat, how many members each holds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{CheckOptions, Report, Stage};
use crate::protocol::now_ms;
use crate::server::cluster::entry;

/// A node of the cluster, as its heartbeat says.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Node {
    pub node: String,
    /// Members whose names it holds.
    pub members: u64,
    /// Seconds since its last heartbeat.
    pub beat_secs_ago: f64,
}

/// Every key under `pattern` (SCAN, never KEYS: a busy Redis is not stopped).
async fn scan(
    con: &mut redis::aio::MultiplexedConnection,
    pattern: &str,
) -> redis::RedisResult<Vec<String>> {
    let mut cursor = 0u64;
    let mut out = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(con)
            .await?;
        out.extend(keys);
        if next == 0 || out.len() > 1_000_000 {
            return Ok(out);
        }
        cursor = next;
    }
}

pub(crate) async fn probe(url: &str, prefix: &str, opts: &CheckOptions, report: &mut Report) {
    let start = Instant::now();
    let shown = crate::config::redact_url(url);
    let Some(mut con) = connect(url, &shown, opts, report).await else {
        return;
    };
    let mut rtts = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut con).await;
        if pong.is_err() {
            break;
        }
        rtts.push(t.elapsed());
    }
    rtts.sort();
    let median = rtts.get(rtts.len() / 2).copied().unwrap_or(Duration::ZERO);
    report.ok(
        "cluster",
        format!(
            "Redis at {shown} answers (PING median {:.2} ms)",
            median.as_secs_f64() * 1000.0
        ),
        Some(start.elapsed()),
    );
    let nodes = match nodes(&mut con, prefix).await {
        Ok(n) => n,
        Err(e) => return report.warn("nodes", format!("cannot list the nodes: {e}"), None),
    };
    if nodes.is_empty() {
        report.warn(
            "nodes",
            format!(
                "no node of cluster '{prefix}' is beating on this Redis (is cluster.prefix right?)"
            ),
            None,
        );
    } else {
        let list: Vec<String> = nodes
            .values()
            .map(|n| {
                format!(
                    "{} ({}, beat {:.1} s ago)",
                    n.node,
                    crate::output::plural(n.members, "member", "members"),
                    n.beat_secs_ago
                )
            })
            .collect();
        report.ok(
            "nodes",
            format!("{} alive: {}", nodes.len(), list.join(", ")),
            None,
        );
    }
    report.nodes = nodes.into_values().collect();
}

/// A connection to the cluster's Redis, within the check's timeout.
async fn connect(
    url: &str,
    shown: &str,
    opts: &CheckOptions,
    report: &mut Report,
) -> Option<redis::aio::MultiplexedConnection> {
    let start = Instant::now();
    if url.starts_with("rediss:") {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let connect = async {
        let client = redis::Client::open(url)?;
        client.get_multiplexed_async_connection().await
    };
    let why = match tokio::time::timeout(opts.timeout, connect).await {
        Ok(Ok(c)) => return Some(c),
        Ok(Err(e)) => format!("cannot reach the cluster's Redis at {shown}: {e}"),
        Err(_) => format!(
            "no answer from the cluster's Redis at {shown} within {:.0} s",
            opts.timeout.as_secs_f64()
        ),
    };
    report.fail(Stage::Connect, "cluster", why, Some(start.elapsed()));
    None
}

/// The nodes beating on this Redis, and how many names each holds — read
/// with the server's own key layout and heartbeat format (one codec).
async fn nodes(
    con: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> redis::RedisResult<BTreeMap<String, Node>> {
    let keys = entry::Keys::new(prefix);
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for key in scan(con, &keys.nodes_pattern()).await? {
        let beat: Option<String> = redis::cmd("GET").arg(&key).query_async(con).await?;
        let Some((id, ms)) = beat.as_deref().and_then(entry::parse_heartbeat) else {
            continue;
        };
        let ago = now_ms().saturating_sub(ms) as f64 / 1000.0;
        let node = Node {
            node: entry::run_node(id).to_string(),
            members: 0,
            beat_secs_ago: ago,
        };
        nodes.insert(id.to_string(), node);
    }
    for key in scan(con, &keys.names_pattern()).await? {
        let holder: Option<String> = redis::cmd("GET").arg(&key).query_async(con).await?;
        if let Some(n) = holder.and_then(|h| nodes.get_mut(&h)) {
            n.members += 1;
        }
    }
    Ok(nodes)
}
