//! `check --cluster URL`: a cluster's Redis as the nodes use it — reachable,
//! how fast, which nodes beat, how many members each holds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{CheckOptions, Report, Stage};
use crate::protocol::now_ms;
use crate::server::cluster::refusal::{self, Refusal};
use crate::server::cluster::{entry, RESPONSE_TIMEOUT};

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
    let Some((median, slowest)) = pings(&mut con, &shown, report).await else {
        return;
    };
    report.ok(
        "cluster",
        format!(
            "Redis at {shown} answers (PING median {:.2} ms, slowest {:.2} ms)",
            median.as_secs_f64() * 1000.0,
            slowest.as_secs_f64() * 1000.0
        ),
        Some(start.elapsed()),
    );
    if !takes_writes(&mut con, prefix, report).await {
        return;
    }
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

/// PINGs spread over a second (a Redis that stalls now and then is caught
/// in one), each held to the nodes' own timeout: the median and the
/// slowest; `None` (and the check failed) when Redis stalls past it or
/// refuses (a password it needs and was not given).
async fn pings(
    con: &mut redis::aio::MultiplexedConnection,
    shown: &str,
    report: &mut Report,
) -> Option<(Duration, Duration)> {
    let mut rtts = Vec::new();
    for i in 0..8 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let t = Instant::now();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(RESPONSE_TIMEOUT, ping.query_async::<String>(con)).await {
            Ok(Ok(_)) => rtts.push(t.elapsed()),
            Ok(Err(e)) => {
                let (stage, what) = match Refusal::of_error(&e) {
                    Refusal::Credentials => (Stage::Auth, "it needs a password (or user) this URL does not give: put it in cluster.url (TCPPLAY_CLUSTER__URL or the config file, never the command line)"),
                    kind => (Stage::Protocol, kind.advice()),
                };
                report.fail(
                    stage,
                    "cluster",
                    format!("Redis at {shown} refuses: {e}; {what}"),
                    Some(t.elapsed()),
                );
                return None;
            }
            Err(_) => {
                report.fail(Stage::Connect, "cluster", format!("Redis at {shown} stalls: a PING got no answer within {} s, after which a node gives up on a command and holds its lines (is Redis busy, swapping, or paused?)", RESPONSE_TIMEOUT.as_secs()), Some(t.elapsed()));
                return None;
            }
        }
    }
    rtts.sort();
    let median = rtts.get(rtts.len() / 2).copied().unwrap_or_default();
    Some((median, rtts.last().copied().unwrap_or_default()))
}

/// Redis takes a write (a key under the prefix that expires at once) and
/// has memory for more; an evicting `maxmemory-policy` is a warning.
async fn takes_writes(
    con: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    report: &mut Report,
) -> bool {
    let t = Instant::now();
    let mut set = redis::cmd("SET");
    set.arg(entry::Keys::new(prefix).check_probe())
        .arg(now_ms())
        .arg("PX")
        .arg(10_000);
    let wrote = tokio::time::timeout(RESPONSE_TIMEOUT, set.query_async::<()>(con)).await;
    let memory = refusal::memory(con).await.unwrap_or_default();
    let why = match wrote {
        Ok(Ok(())) => memory.full(),
        Ok(Err(e)) => Some(format!(
            "Redis refuses writes: {e}; {}",
            Refusal::of_error(&e).advice()
        )),
        Err(_) => Some(format!(
            "Redis did not take a write within {} s",
            RESPONSE_TIMEOUT.as_secs()
        )),
    };
    if let Some(why) = why {
        let why = match memory.max {
            0 => why,
            max => format!("{why} (uses {} of maxmemory {max} bytes)", memory.used),
        };
        report.fail(Stage::Protocol, "writes", why, Some(t.elapsed()));
        return false;
    }
    match memory.evicting() {
        Some(w) => report.warn("writes", w, Some(t.elapsed())),
        None => report.ok(
            "writes",
            "Redis takes writes and does not evict keys",
            Some(t.elapsed()),
        ),
    }
    true
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
