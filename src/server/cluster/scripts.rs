//! The cluster's atomic steps, as Redis scripts: each one checks and acts
//! in one go, so that no other node (or a late copy of this node's own
//! commands, run after a pause) can act between the check and the act.
//!
//! - `APPEND`: a batch of room events onto the rooms' streams, each at
//!   most once per (run, sequence) — a batch whose outcome is unknown is
//!   sent again and lands once — refused for a run that was declared dead, with an
//!   id above the highest this node has seen (ids only rise, even in a
//!   Redis that lost its data), the room's members, registry and topic
//!   kept in step with the entry.
//! - `BEAT`: the node's heartbeat, which tells the node whether it was
//!   declared dead (or another run took its name) or its key was missing
//!   (Redis lost its data: the node then announces everything again).
//! - `BURY`: declare a run dead, only if its heartbeat is gone.
//! - `CLAIM` / `RENEW` / `RELEASE`: a name, by its owner's run token.
//! - `OPEN`: a room in the cluster's registry, within the cluster's limit,
//!   and who made it, decided once for every node.
//! - `GONE`: a member of a dead run out of a room.

use std::sync::LazyLock;

use redis::Script;

/// A run's sequence key and a dead run's mark live this long (far longer
/// than any pause a late command could come back from).
pub(super) const MARK_TTL_MS: u64 = 3_600_000;

/// Shared by the scripts that take a member out of a room: when the
/// members hash is then empty (and the room is not declared), the room
/// leaves the registry (and its maker with it: the next to make it makes
/// it anew) and its stream and topic expire.
const EMPTIED: &str = r#"
local function emptied(members, log, topic, rooms, makers, room, keep, ttl)
  if keep == '1' or redis.call('EXISTS', members) == 1 then return end
  redis.call('HDEL', rooms, room)
  redis.call('HDEL', makers, room)
  redis.call('PEXPIRE', log, ttl)
  redis.call('PEXPIRE', topic, ttl)
end
"#;

/// A batch of entries, in order, from one run (one call per pipeline of
/// the node's queue: one check of the run, one sequence update).
/// KEYS: seq, dead, rooms, makers, then per entry: log, members, topic.
/// ARGV: run, maxlen, empty_ttl, mark_ttl, count, expect, then per entry:
/// seq, op, a, b, room, display, keep, floor_ms, floor_seq, field count,
/// fields. `expect` "1": the run's mark must be there — when it is not,
/// Redis lost its data, and -2 is returned with nothing appended (see
/// `doubt.rs`); "0": the call makes it.
/// Returns -1 when the run is dead; else, for each entry Redis refused
/// (out of memory, a key of the wrong type …), its 1-based number and
/// Redis's words: the others landed, now or in an earlier try.
pub(super) static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{EMPTIED}
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local run, maxlen, ttl = ARGV[1], ARGV[2], ARGV[3]
local got = redis.pcall('GET', KEYS[1])
local last = (type(got) == 'string' and tonumber(got)) or -1
if ARGV[6] == '1' and got == false then return -2 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local refused = {{}}
local p = 7
for i = 1, tonumber(ARGV[5]) do
  local seq, op, a, b = tonumber(ARGV[p]), ARGV[p + 1], ARGV[p + 2], ARGV[p + 3]
  local room, display, keep = ARGV[p + 4], ARGV[p + 5], ARGV[p + 6]
  local floor_ms, floor_seq, nf = tonumber(ARGV[p + 7]), tonumber(ARGV[p + 8]), tonumber(ARGV[p + 9])
  local k = 4 + (i - 1) * 3
  local log, members, topic = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  if seq > last then
    local ok, err = pcall(function()
      if op == 'join' then
        redis.call('HSET', members, a, run)
        redis.call('HSET', KEYS[3], room, display)
        redis.call('PERSIST', log)
        redis.call('PERSIST', topic)
      elseif op == 'leave' then
        if redis.call('HGET', members, a) == run then redis.call('HDEL', members, a) end
      elseif op == 'rename' then
        if redis.call('HGET', members, a) == run then redis.call('HDEL', members, a) end
        redis.call('HSET', members, b, run)
      elseif op == 'topic' then
        if a == '' then redis.call('DEL', topic) else redis.call('SET', topic, a) end
      end
      local id = '*'
      if now <= floor_ms then
        local ms, sq = floor_ms, floor_seq
        local top = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)
        if top[1] then
          local tms, tsq = string.match(top[1][1], '^(%d+)-(%d+)$')
          tms, tsq = tonumber(tms), tonumber(tsq)
          if tms > ms or (tms == ms and tsq > sq) then ms, sq = tms, tsq end
        end
        id = string.format('%d-%d', ms, sq + 1)
      end
      redis.call('XADD', log, 'MAXLEN', '~', maxlen, id, unpack(ARGV, p + 10, p + 9 + nf))
      if op == 'leave' then emptied(members, log, topic, KEYS[3], KEYS[4], room, keep, ttl) end
    end)
    if not ok then
      refused[#refused + 1] = i
      refused[#refused + 1] = (type(err) == 'table' and err.err) or tostring(err)
    end
    last = seq
  end
  p = p + 10 + nf
end
-- The run's mark, best effort: a Redis that refuses writes (out of
-- memory) refused the entries too, and says so above; the mark it had
-- stays (it is what tells a Redis that lost its data).
pcall(redis.call, 'SET', KEYS[1], last, 'PX', ARGV[4])
return refused
"#
    ))
});

/// Redis's clock in ms (a script's "now").
const NOW: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"#;

/// KEYS: node, dead. ARGV: run, beat value, ttl, prefix.
/// Returns {state, Redis's clock}: state 1 (beating), 0 (the key was
/// missing: announce again), -1 (this run was declared dead, or another
/// run has the node's name), 2 (beating, but Redis refuses writes: the
/// key was only kept alive, `PEXPIRE` being allowed when `SET` is not).
pub(super) static BEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{NOW}
if redis.call('EXISTS', KEYS[2]) == 1 then return {{-1, now_ms()}} end
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #ARGV[1] + 1) ~= ARGV[1] .. ' ' then
  -- Another run has the node's name: taken back only from a dead one.
  local other = string.match(cur, '^(%S+) ')
  if not (other and redis.call('EXISTS', ARGV[4] .. ':dead:' .. other) == 1) then
    return {{-1, now_ms()}}
  end
  cur = false
end
if not pcall(redis.call, 'SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) then
  if cur and redis.call('PEXPIRE', KEYS[1], ARGV[3]) == 1 then return {{2, now_ms()}} end
  return redis.error_reply('OOM the heartbeat could not be written')
end
if cur then return {{1, now_ms()}} end
return {{0, now_ms()}}
"#
    ))
});

/// KEYS: node, dead. ARGV: run, mark ttl, not after (Redis's clock).
/// Returns 1 when the run is now dead (its heartbeat is gone), 0 when it
/// beats — or when this command runs late (Redis was paused with it
/// waiting: every heartbeat expired meanwhile, which proves nothing).
pub(super) static BURY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{NOW}
if now_ms() > tonumber(ARGV[3]) then return 0 end
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 1
"#
    ))
});

/// KEYS: name, the claimant's node key. ARGV: run, ttl, prefix, mark ttl,
/// not after (Redis's clock).
/// Returns 1 (claimed or ours), 2 (taken over from a dead run), 0 (a live
/// run holds it), -1 (unsettled: the command ran late, or the claimant's
/// own heartbeat is missing — Redis lost its keys and the nodes have not
/// announced theirs again yet: ask again in a moment).
pub(super) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{NOW}
if now_ms() > tonumber(ARGV[5]) then return -1 end
local mine = redis.call('GET', KEYS[2])
if (not mine) or string.sub(mine, 1, #ARGV[1] + 1) ~= ARGV[1] .. ' ' then return -1 end
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
local node = string.match(cur, '^([^/]+)/')
if node and redis.call('EXISTS', ARGV[3] .. ':dead:' .. cur) == 0 then
  local beat = redis.call('GET', ARGV[3] .. ':node:' .. node)
  if beat and string.sub(beat, 1, #cur + 1) == cur .. ' ' then return 0 end
end
if node then redis.call('SET', ARGV[3] .. ':dead:' .. cur, '1', 'PX', ARGV[4]) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 2
"#
    ))
});

/// KEYS: name. ARGV: run, ttl. Returns 1 when the name is still ours (its
/// lease renewed), 0 when another run holds it, -1 when nobody does (Redis
/// lost it: claim it again).
pub(super) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if cur then return 0 end
return -1
"#,
    )
});

/// KEYS: name. ARGV: run. Deletes the name only if it is still ours.
pub(super) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    )
});

/// KEYS: rooms, makers, rules. ARGV: room key, display name, the
/// cluster's limit (0: none), the joining member as its maker
/// (`account:KEY` or `member:RUN#ID`), how long rules nobody operated are
/// kept (ms).
/// Returns {0} when the cluster has its most rooms; else the room is in
/// the registry (now or before) and {1, its maker, 1 when the joining
/// member made it now}. The maker is decided once, here: the one recorded,
/// else the account the room's kept rules name, else nobody (`-`) when
/// the room has other rules (those hold), else the joining member.
pub(super) static OPEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{NOW}
local function empty(t)
  for _, v in pairs(t) do
    if type(v) == 'table' then
      if next(v) ~= nil then return false end
    elseif v ~= false and v ~= cjson.null then return false end
  end
  return true
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  local max = tonumber(ARGV[3])
  if max > 0 and redis.call('HLEN', KEYS[1]) >= max then return {{0}} end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
local m = redis.call('HGET', KEYS[2], ARGV[1])
if m then return {{1, m, 0}} end
m = ARGV[4]
local r = redis.call('HGET', KEYS[3], ARGV[1])
if r then
  local ok, t = pcall(cjson.decode, r)
  if not ok or type(t) ~= 'table' then
    m = '-'
  elseif type(t.operated) == 'number' and now_ms() - t.operated > tonumber(ARGV[5]) then
    -- Stale: the rules are dropped where they are read.
  elseif type(t.maker) == 'string' then
    m = 'account:' .. t.maker
  elseif not empty(t) then
    m = '-'
  end
end
redis.call('HSET', KEYS[2], ARGV[1], m)
if m == ARGV[4] then return {{1, m, 1}} end
return {{1, m, 0}}
"#
    ))
});

/// KEYS: members, log, topic, rooms, makers. ARGV: name, run, room, keep, ttl.
/// A dead run's member out of a room (only if the run still has it there).
pub(super) static GONE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{EMPTIED}
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
emptied(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[3], ARGV[4], ARGV[5])
return 1
"#
    ))
});
