//! Accounts and rooms' rules are not Redis's alone: every node keeps a
//! durable copy (`server::accounts::copy`), and when Redis comes back
//! without them (restarted empty) each node writes its copy back. Each
//! record carries the version of its last change (its stamp, kept in
//! `{prefix}:accounts:stamps`, a deleted record's too), so copies that
//! differ merge record by record, the newest change winning: a node that
//! missed an unregister cannot bring the account back (its stamp is older
//! than the tombstone another node writes back), and the order in which
//! nodes write back does not matter. Stamps follow Redis's clock (µs), so
//! a change made after a loss is still newer than every copy of the past.
//! The epoch (`{prefix}:accounts:epoch`) is made anew after a loss: each
//! node writes its copy back once per epoch it has not seen.

use std::sync::LazyLock;

use redis::Script;

use super::{key_err, Cluster};

/// One change, stamped: its version (above every earlier one, and at
/// least Redis's clock in µs) goes to the stamps hash, a deletion's too.
/// KEYS: the hash, stamps, version, certs. ARGV: op (`new`, `set`, `del`,
/// `unregister`: the account and every certificate bound to it), field,
/// value, stamp tag (`a:`, `c:`, `r:`). Returns 0 when a new field was
/// taken, else the stamp.
pub(super) static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local op, field, value, tag = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if op == 'new' then
  if redis.call('HSETNX', KEYS[1], field, value) == 0 then return 0 end
elseif op == 'set' then
  redis.call('HSET', KEYS[1], field, value)
else
  redis.call('HDEL', KEYS[1], field)
end
local v = redis.call('INCR', KEYS[3])
local t = redis.call('TIME')
local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
if v < us then
  v = us
  redis.call('SET', KEYS[3], string.format('%d', v))
end
local stamp = string.format('%d', v)
redis.call('HSET', KEYS[2], tag .. field, stamp)
if op == 'unregister' then
  local certs = redis.call('HGETALL', KEYS[4])
  for i = 1, #certs, 2 do
    if certs[i + 1] == field then
      redis.call('HDEL', KEYS[4], certs[i])
      redis.call('HSET', KEYS[2], 'c:' .. certs[i], stamp)
    end
  end
end
return v
"#,
    )
});

/// A node's copy into Redis: each record whose stamp is newer than
/// Redis's (or that Redis has no stamp for) is set, or deleted for a
/// tombstone; the setup is put back unless Redis has another one (then
/// nothing is written: -1). The version ends above every stamp.
/// KEYS: records, certs, rules, stamps, version, setup. ARGV: setup,
/// count, then per record: field (`a:KEY`, `c:FP`, `r:ROOM`), `1`
/// (present) or `0` (deleted), value, stamp. Returns how many records
/// were written.
static MERGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
redis.call('SET', KEYS[6], ARGV[1], 'NX')
if redis.call('GET', KEYS[6]) ~= ARGV[1] then return -1 end
local hashes = {a = KEYS[1], c = KEYS[2], r = KEYS[3]}
local top, applied, p = 0, 0, 3
for i = 1, tonumber(ARGV[2]) do
  local field, present, value, st = ARGV[p], ARGV[p + 1], ARGV[p + 2], tonumber(ARGV[p + 3])
  p = p + 4
  local h = hashes[string.sub(field, 1, 1)]
  local cur = tonumber(redis.call('HGET', KEYS[4], field) or '-1') or -1
  if h and st and st > cur then
    local k = string.sub(field, 3)
    if present == '1' then redis.call('HSET', h, k, value) else redis.call('HDEL', h, k) end
    redis.call('HSET', KEYS[4], field, string.format('%d', st))
    applied = applied + 1
  end
  if st and st > top then top = st end
end
local v = tonumber(redis.call('GET', KEYS[5]) or '0') or 0
if top >= v then redis.call('SET', KEYS[5], string.format('%d', top + 1)) end
return applied
"#,
    )
});

/// A record of a node's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    /// `a:KEY`, `c:FP` or `r:ROOM`.
    pub field: String,
    /// `None`: deleted (a tombstone).
    pub value: Option<String>,
    pub stamp: u64,
}

/// Why a copy was not written back: Redis has another OPAQUE setup.
pub(crate) const OTHER_SETUP: &str = "Redis keeps another accounts' setup than this node's copy";

/// Records written back per script call (a copy of many is sent in parts).
const BATCH: usize = 500;

impl Cluster {
    /// The accounts' epoch (`None`: Redis has none: it lost them, or
    /// nobody wrote any yet).
    pub(crate) async fn accounts_epoch(&self) -> Result<Option<String>, String> {
        let mut con = self.con();
        redis::cmd("GET")
            .arg(self.keys.accounts_epoch())
            .query_async(&mut con)
            .await
            .map_err(key_err)
    }

    /// Write a node's copy back (what Redis has newer stays); then the
    /// epoch is `fresh` unless another node made one: the epoch now, and
    /// how many records were written back. Err when Redis keeps another
    /// OPAQUE setup than `setup` (the copy is not this cluster's).
    pub(crate) async fn accounts_merge(
        &self,
        setup: &[u8],
        kept: &[Kept],
        fresh: &str,
    ) -> Result<(String, u64), String> {
        let mut con = self.con();
        let mut written = 0;
        let mut batches: Vec<&[Kept]> = kept.chunks(BATCH).collect();
        if batches.is_empty() {
            batches.push(&[]);
        }
        for batch in batches {
            let mut call = MERGE.prepare_invoke();
            call.key(self.keys.accounts())
                .key(self.keys.account_certs())
                .key(self.keys.room_rules())
                .key(self.keys.account_stamps())
                .key(self.keys.accounts_version())
                .key(self.keys.accounts_setup())
                .arg(setup)
                .arg(batch.len());
            for k in batch {
                call.arg(&k.field)
                    .arg(if k.value.is_some() { "1" } else { "0" })
                    .arg(k.value.as_deref().unwrap_or(""))
                    .arg(k.stamp);
            }
            let n: i64 = call.invoke_async(&mut con).await.map_err(key_err)?;
            if n < 0 {
                return Err(OTHER_SETUP.into());
            }
            written += n as u64;
        }
        let (epoch,): (String,) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.keys.accounts_epoch())
            .arg(fresh)
            .arg("NX")
            .ignore()
            .get(self.keys.accounts_epoch())
            .query_async(&mut con)
            .await
            .map_err(key_err)?;
        Ok((epoch, written))
    }
}
