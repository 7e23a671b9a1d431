//! What Redis refused, and who is told: a write Redis answered with an
//! error (out of memory under `maxmemory` with `noeviction`, a read-only
//! replica, a key of the wrong type, …) is never silent — a chat line is
//! refused to its sender with Redis's reason and what to do, the node's log
//! names the real cause, `tcpplay_cluster_lines_refused_total` counts it,
//! and while Redis refuses every write the node is not ready (`/readyz`).

use super::{Cluster, Out, RoomEvent};
use crate::names;
use crate::protocol::{codes, Packet};

/// Why Redis refused a write, from its error's first word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `OOM`: over `maxmemory` with a policy that does not evict.
    OutOfMemory,
    /// `READONLY`: a replica.
    ReadOnly,
    /// `NOAUTH` / `WRONGPASS` / `NOPERM`: the credentials are not (or no
    /// longer) right.
    Credentials,
    /// `MISCONF`: Redis cannot persist and stops writes.
    Misconf,
    /// `WRONGTYPE`: a key under the prefix of another type (one room).
    WrongType,
    /// Anything else Redis said.
    Other,
}

impl Refusal {
    pub(crate) fn of(message: &str) -> Refusal {
        let first = message.trim_start_matches('-').split_whitespace().next();
        match first.unwrap_or("").trim_end_matches(':') {
            "OOM" => Refusal::OutOfMemory,
            "READONLY" => Refusal::ReadOnly,
            "NOAUTH" | "WRONGPASS" | "NOPERM" => Refusal::Credentials,
            "MISCONF" => Refusal::Misconf,
            "WRONGTYPE" => Refusal::WrongType,
            _ if message.contains("OOM command not allowed") => Refusal::OutOfMemory,
            _ => Refusal::Other,
        }
    }

    /// What a command's error says (its code, when Redis gave one).
    pub(crate) fn of_error(e: &redis::RedisError) -> Refusal {
        match e.code() {
            Some(code) => Refusal::of(code),
            None => Refusal::of(&e.to_string()),
        }
    }

    /// Every write is refused (not only one room's): the node is not ready.
    pub(crate) fn store_wide(self) -> bool {
        !matches!(self, Refusal::WrongType | Refusal::Other)
    }

    /// What the operator must do, in words.
    pub(crate) fn advice(self) -> &'static str {
        match self {
            Refusal::OutOfMemory => "Redis is out of memory (maxmemory): its operator must free memory or raise maxmemory",
            Refusal::ReadOnly => "this Redis is a read-only replica: cluster.url must point at the primary",
            Refusal::Credentials => "Redis refuses this node's credentials: the password or user in cluster.url must match Redis's",
            Refusal::Misconf => "Redis cannot save its data and stopped taking writes: its operator must fix its disk or persistence settings",
            Refusal::WrongType => "a key under the cluster's prefix is of another type: its operator must delete it",
            Refusal::Other => "its operator must look at Redis's log",
        }
    }
}

impl Cluster {
    /// Redis refused one entry (`why`: its words): a chat line is refused
    /// to its sender, another event is told to the room; logged, counted.
    pub(super) fn refused_by_redis(&self, out: &Out, why: &str) {
        let kind = Refusal::of(why);
        let why = names::sanitize(why);
        let room = out.room.name();
        tracing::warn!(node = %self.cfg.node, room = %room, "cluster: Redis refused to store an entry: {why} ({})", kind.advice());
        if kind.store_wide() {
            self.set_refusing(Some(format!("Redis refuses writes: {why}")));
        }
        match &out.event {
            RoomEvent::Said(said) => {
                self.m.refused.inc();
                out.room.own_returned();
                let text = format!("not sent to {room}: the cluster's store (Redis) refused to keep it ({why}); {}", kind.advice());
                let packet = Packet::error(codes::NOT_SENT, text)
                    .in_room(out.room.tag())
                    .answering(said.body.seq);
                if let Some(hub) = self.hub() {
                    hub.tell_named(&said.from, packet);
                }
            }
            _ => out.room.notice(Packet::event(
                "cluster",
                None,
                format!("a change in {room} could not be stored for the other servers (Redis refused it: {why}); {}", kind.advice()),
            )),
        }
    }

    /// Redis refuses every write (`Some(why)`), or takes them again.
    pub(super) fn set_refusing(&self, why: Option<String>) {
        let mut now = self.refusing.lock().unwrap_or_else(|e| e.into_inner());
        if now.is_some() && why.is_none() {
            tracing::info!(node = %self.cfg.node, "cluster: Redis takes writes again");
        }
        *now = why;
    }

    /// Why Redis refuses every write now, if it does (`/readyz`).
    pub(crate) fn refusing(&self) -> Option<String> {
        self.refusing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The refused entries of an append's answer: `[i, why, i, why, …]` (the
/// 1-based index in the batch, Redis's words) as (0-based index, words).
pub(super) fn refused_entries(items: &[redis::Value]) -> Vec<(usize, String)> {
    items
        .chunks(2)
        .filter_map(|pair| {
            let i = match pair.first()? {
                redis::Value::Int(i) if *i >= 1 => *i as usize - 1,
                _ => return None,
            };
            let why = match pair.get(1) {
                Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(redis::Value::SimpleString(s)) => s.clone(),
                _ => "refused".to_string(),
            };
            Some((i, why))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Refusal;

    #[test]
    fn redis_errors_are_told_apart_by_their_first_word() {
        assert_eq!(
            Refusal::of("OOM command not allowed when used memory > 'maxmemory'."),
            Refusal::OutOfMemory
        );
        assert_eq!(
            Refusal::of("READONLY You can't write against a read only replica."),
            Refusal::ReadOnly
        );
        assert_eq!(
            Refusal::of("NOAUTH Authentication required."),
            Refusal::Credentials
        );
        assert_eq!(
            Refusal::of("WRONGTYPE Operation against a key holding the wrong kind of value"),
            Refusal::WrongType
        );
        assert!(Refusal::OutOfMemory.store_wide() && !Refusal::WrongType.store_wide());
    }

    #[test]
    fn info_memory_tells_a_full_redis_and_an_evicting_one() {
        let info = "# Memory\r\nused_memory:2000000\r\nmaxmemory:1000000\r\nmaxmemory_policy:noeviction\r\n";
        let m = super::Memory::parse(info);
        assert_eq!(
            (m.used, m.max, m.policy.as_str()),
            (2_000_000, 1_000_000, "noeviction")
        );
        assert!(m.full().is_some() && m.evicting().is_none());
        let lru = super::Memory::parse("maxmemory:0\nmaxmemory_policy:allkeys-lru\n");
        assert!(lru.full().is_none() && lru.evicting().unwrap().contains("allkeys-lru"));
    }
}

/// What `INFO memory` says of Redis's memory: its use, its limit and what
/// it does at the limit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Memory {
    pub used: u64,
    /// 0: no limit.
    pub max: u64,
    pub policy: String,
}

impl Memory {
    /// `INFO memory`'s lines (`name:value`), taken apart.
    pub(crate) fn parse(info: &str) -> Memory {
        let mut m = Memory::default();
        for line in info.lines() {
            let Some((k, v)) = line.trim().split_once(':') else {
                continue;
            };
            match k {
                "used_memory" => m.used = v.parse().unwrap_or(0),
                "maxmemory" => m.max = v.parse().unwrap_or(0),
                "maxmemory_policy" => m.policy = v.to_string(),
                _ => {}
            }
        }
        m
    }

    /// Over its limit: a Redis that does not evict refuses every write.
    pub(crate) fn full(&self) -> Option<String> {
        (self.max > 0 && self.used >= self.max && self.policy == "noeviction").then(|| {
            format!(
                "Redis is out of memory: it uses {} bytes of its maxmemory {} (policy noeviction), so it refuses every write: its operator must free memory or raise maxmemory",
                self.used, self.max
            )
        })
    }

    /// An evicting policy drops the cluster's keys (names, heartbeats,
    /// streams) silently when memory runs short.
    pub(crate) fn evicting(&self) -> Option<String> {
        (!self.policy.is_empty() && self.policy != "noeviction").then(|| {
            format!(
                "Redis's maxmemory-policy is {}: at its maxmemory it drops keys silently, and the cluster's names, heartbeats and history with them; set maxmemory-policy noeviction (then a full Redis refuses lines, and says so)",
                names::sanitize(&self.policy)
            )
        })
    }
}

/// Redis's `INFO memory`, taken apart (`None` when it cannot be read: a
/// Redis that renamed the command, say).
pub(crate) async fn memory<C: redis::aio::ConnectionLike>(con: &mut C) -> Option<Memory> {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(con)
        .await
        .ok()?;
    Some(Memory::parse(&info))
}
