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
pub struct Node {
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

pub async fn probe(url: &str, prefix: &str, opts: &CheckOptions, report: &mut Report) {
    let start = Instant::now();
    let shown = crate::config::redact_url(url);
    if url.starts_with("rediss:") {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let connect = async {
        let client = redis::Client::open(url)?;
        client.get_multiplexed_async_connection().await
    };
    let mut con = match tokio::time::timeout(opts.timeout, connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return report.fail(
                Stage::Connect,
                "cluster",
                format!("cannot reach the cluster's Redis at {shown}: {e}"),
                Some(start.elapsed()),
            )
        }
        Err(_) => {
            return report.fail(
                Stage::Connect,
                "cluster",
                format!(
                    "no answer from the cluster's Redis at {shown} within {:.0} s",
                    opts.timeout.as_secs_f64()
                ),
                Some(start.elapsed()),
            )
        }
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
    // The server's own key layout and heartbeat format (one codec).
    let keys = entry::Keys::new(prefix);
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let found = async {
        for key in scan(&mut con, &keys.nodes_pattern()).await? {
            let beat: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut con).await?;
            let Some((id, ms)) = beat.as_deref().and_then(entry::parse_heartbeat) else {
                continue;
            };
            let ago = now_ms().saturating_sub(ms) as f64 / 1000.0;
            nodes.insert(
                id.to_string(),
                Node {
                    node: entry::run_node(id).to_string(),
                    members: 0,
                    beat_secs_ago: ago,
                },
            );
        }
        for key in scan(&mut con, &keys.names_pattern()).await? {
            let holder: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut con).await?;
            if let Some(n) = holder.and_then(|h| nodes.get_mut(&h)) {
                n.members += 1;
            }
        }
        Ok::<(), redis::RedisError>(())
    };
    if let Err(e) = found.await {
        return report.warn("nodes", format!("cannot list the nodes: {e}"), None);
    }
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
                    "{} ({} members, beat {:.1} s ago)",
                    n.node, n.members, n.beat_secs_ago
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
