//! The cluster's rooms: one registry in Redis (`{prefix}:rooms`, key →
//! name as shown), so the room limit is the cluster's and `/rooms` lists
//! every node's rooms. A room enters it when it is made (within the
//! limit) and leaves it when its last member leaves (declared rooms stay);
//! its stream and topic then expire. Who made it is decided as it enters,
//! once for every node (`OPEN`): see `server::room::maker`.

use std::collections::HashMap;

use redis::Value;

use super::scripts::OPEN;
use super::{entry, key_err, Cluster};
use crate::names;
use crate::protocol::{RoomInfo, MAX_ROOMS_LISTED};
use crate::server::room::rules::RULES_KEPT_UNOPERATED_MS;
use crate::server::room::{Candidate, Maker};

/// `OPEN`'s answer, read as untrusted (what it does not understand makes
/// nobody here the room's maker): `None` when the cluster has its most rooms.
fn verdict(reply: &[Value], me: &str) -> Option<Maker> {
    let text = |v: Option<&Value>| match v {
        Some(Value::BulkString(b)) => std::str::from_utf8(b).ok().map(str::to_string),
        _ => None,
    };
    if let Some(Value::Int(0)) = reply.first() {
        return None;
    }
    let maker = text(reply.get(1)).unwrap_or_default();
    let fresh = matches!(reply.get(2), Some(Value::Int(1)));
    let checked = |key: &str| {
        !key.is_empty()
            && key.chars().count() <= 4 * names::MAX_NAME_CHARS
            && !key.chars().any(names::is_unsafe_char)
    };
    Some(match maker.strip_prefix("account:") {
        Some(key) if checked(key) => Maker::Account {
            key: key.to_string(),
            ours: fresh && maker == me,
        },
        Some(_) => Maker::Elsewhere,
        None if maker == me => Maker::Joining,
        None => Maker::Elsewhere,
    })
}

impl Cluster {
    /// Make room `name` (key `key`) one of the cluster's, within `max`
    /// rooms (0: no limit), as `joining` comes in: who made it, decided
    /// once for the whole cluster. `None` when the cluster has its most
    /// rooms already.
    pub(crate) async fn open_room(
        &self,
        key: &str,
        name: &str,
        max: usize,
        joining: &Candidate,
    ) -> Result<Option<Maker>, String> {
        let mut con = self.con();
        let me = match &joining.account {
            Some(account) => format!("account:{account}"),
            None => format!("member:{}#{}", self.run(), joining.id),
        };
        let opened: Vec<Value> = OPEN
            .key(self.keys.rooms())
            .key(self.keys.makers())
            .key(self.keys.room_rules())
            .arg(key)
            .arg(name)
            .arg(max)
            .arg(&me)
            .arg(RULES_KEPT_UNOPERATED_MS)
            .invoke_async(&mut con)
            .await
            .map_err(key_err)?;
        Ok(verdict(&opened, &me))
    }

    /// Declared rooms are the cluster's from the start (and stay).
    pub(crate) async fn declare_rooms(&self, rooms: &[(String, String)]) -> Result<(), String> {
        let mut con = self.con();
        let mut pipe = redis::pipe();
        for (key, name) in rooms {
            pipe.hset(self.keys.rooms(), key, name).ignore();
        }
        pipe.query_async::<()>(&mut con).await.map_err(key_err)
    }

    /// Every room of the cluster (at most [`MAX_ROOMS_LISTED`], by name),
    /// with its members on every node and its topic; and how many there are.
    pub(crate) async fn rooms(&self, declared: &[String]) -> Result<(Vec<RoomInfo>, u64), String> {
        let mut con = self.con();
        let all: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.rooms())
            .query_async(&mut con)
            .await
            .map_err(key_err)?;
        let total = all.len() as u64;
        let mut names: Vec<(String, String)> = all
            .into_iter()
            .filter(|(_, name)| name.starts_with('#') && entry::checked_room(name))
            .collect();
        names.sort_by(|a, b| a.1.cmp(&b.1));
        names.truncate(MAX_ROOMS_LISTED);
        let mut pipe = redis::pipe();
        for (key, _) in &names {
            pipe.cmd("HLEN").arg(self.keys.members(key));
            pipe.cmd("GET").arg(self.keys.topic(key));
        }
        let replies: Vec<Value> = pipe.query_async(&mut con).await.map_err(key_err)?;
        let mut out = Vec::with_capacity(names.len());
        for ((key, room), pair) in names.into_iter().zip(replies.chunks(2)) {
            let total = match pair.first() {
                Some(Value::Int(n)) => (*n).max(0) as u64,
                _ => 0,
            };
            let topic = match pair.get(1) {
                Some(Value::BulkString(b)) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|t| entry::checked_topic(t, &self.cfg.rules)),
                _ => None,
            };
            out.push(RoomInfo {
                persistent: declared.contains(&key),
                room,
                topic,
                total,
            });
        }
        Ok((out, total))
    }
}
