//! The history's SQL: a room's plain lines of one write as one `batches`
//! row (the lines as JSON, one per line), sealed lines and direct messages
//! as `messages` rows in multi-row inserts, and the page a `fetch_history`
//! reads from both.

use rusqlite::{params, Connection};

use std::sync::Arc;

use crate::protocol::{now_ms, Chat, Packet};

/// One stored line and, for a direct message, its recipient.
pub(super) struct Record {
    pub(super) chat: Arc<Chat>,
    pub(super) to: Option<String>,
}

/// Rows per multi-row INSERT (10 parameters each at most; SQLite allows 32766).
pub(super) const ROWS_PER_INSERT: usize = 32;

/// The columns a row fills: a plain chat line leaves `payload`, `to_name`
/// and `sent` NULL, so its statement binds 7 values, not 10.
pub(super) const PLAIN: &str = "id, ts, sender, port, action, text, room";
pub(super) const FULL: &str = "id, ts, sender, port, action, text, payload, to_name, sent, room";

pub(super) fn is_plain(r: &Record) -> bool {
    r.chat.payload.is_none() && r.to.is_none() && r.chat.sent.is_none()
}

/// A line kept in the log (in a `batches` row, before): a plain room line
/// with its id.
pub(super) fn batched(r: &Record) -> bool {
    is_plain(r) && r.chat.id.is_some()
}

/// The batched lines of `batch` per room (rooms in order of their first
/// line), each room's in id order.
pub(super) fn by_room(batch: &[Record]) -> Vec<(Option<&str>, Vec<&Chat>)> {
    let mut rooms: Vec<(Option<&str>, Vec<&Chat>)> = Vec::new();
    for r in batch.iter().filter(|r| batched(r)) {
        let room = r.chat.room.as_deref();
        // A batch is mostly one room's: the last room first.
        let at = match rooms.iter().rposition(|(k, _)| *k == room) {
            Some(at) => at,
            None => {
                rooms.push((room, Vec::new()));
                rooms.len() - 1
            }
        };
        rooms[at].1.push(&r.chat);
    }
    for (_, chats) in &mut rooms {
        // Published in id order; queued in that order too since lines are
        // queued under the room's lock (sorted in case).
        if !chats.is_sorted_by_key(|c| c.id) {
            chats.sort_by_key(|c| c.id);
        }
    }
    rooms
}

/// Leave out of `chats` (in id order) those whose id a row already holds;
/// how many were left out. Ids are the server's own and rise: only a file
/// changed behind its back (or written by another version) holds one.
pub(super) fn not_taken(conn: &Connection, chats: &mut Vec<&Chat>) -> rusqlite::Result<usize> {
    let (Some(first), Some(last)) = (chats.first(), chats.last()) else {
        return Ok(0);
    };
    let id = |c: &Chat| c.id.unwrap_or_default() as i64;
    let mut taken = conn.prepare_cached("SELECT id FROM messages WHERE id BETWEEN ?1 AND ?2")?;
    let ids: Vec<i64> = taken
        .query_map(params![id(first), id(last)], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if ids.is_empty() {
        return Ok(0);
    }
    let before = chats.len();
    chats.retain(|c| ids.binary_search(&id(c)).is_err());
    Ok(before - chats.len())
}

/// How versions before the log stored the batched lines of `batch`: one
/// `batches` row per room; how many lines were refused. Kept to make the
/// files those versions left, which are still read and pruned.
#[cfg(test)]
fn insert_batches(tx: &rusqlite::Transaction<'_>, batch: &[Record]) -> rusqlite::Result<usize> {
    use crate::protocol::fast::{write_chat_line, Form};
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO batches (first_id, last_id, room, ts, n, lines)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut refused = 0;
    let mut lines = Vec::new();
    for (room, mut chats) in by_room(batch) {
        refused += not_taken(tx, &mut chats)?;
        if chats.is_empty() {
            continue;
        }
        lines.clear();
        for c in &chats {
            write_chat_line(&mut lines, c, Form::Stored);
        }
        let ts = chats
            .iter()
            .filter_map(|c| c.ts)
            .max()
            .unwrap_or_else(now_ms);
        let n = chats.len();
        let id = |c: &Chat| c.id.unwrap_or_default() as i64;
        let (first, last) = (id(chats[0]), id(chats[n - 1]));
        if stmt.execute(params![first, last, room, ts as i64, n as i64, &lines[..]])? == 0 {
            refused += n;
        }
    }
    Ok(refused)
}

/// The id of one stored line, if it reads back as a chat line with one.
pub(super) fn line_id(line: &[u8]) -> Option<u64> {
    match crate::protocol::codec::parse(line) {
        Ok(Packet::Chat(c)) => c.id,
        _ => None,
    }
}

/// The lines of a `batches` row, oldest first (a line that does not read
/// back — a file changed by another program — is left out).
fn unbatch(lines: &[u8]) -> impl Iterator<Item = Chat> + '_ {
    lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| match crate::protocol::codec::parse(l) {
            Ok(Packet::Chat(c)) if c.id.is_some() => Some(c),
            _ => None,
        })
}

/// Bind `r` to `stmt` from parameter `at` on (1-based), in `PLAIN` or
/// `FULL` order; the next free index.
pub(super) fn bind(
    stmt: &mut rusqlite::CachedStatement<'_>,
    mut at: usize,
    r: &Record,
    plain: bool,
) -> rusqlite::Result<usize> {
    let c = &r.chat;
    let mut put = |v: &dyn rusqlite::ToSql| {
        let bound = stmt.raw_bind_parameter(at, v);
        at += 1;
        bound
    };
    put(&c.id.map(|i| i as i64))?;
    put(&(c.ts.unwrap_or_else(now_ms) as i64))?;
    put(&c.from.as_deref().unwrap_or("?"))?;
    put(&c.port.map(i64::from))?;
    put(&i64::from(c.action))?;
    put(&c.text.as_deref())?;
    if !plain {
        put(&c.payload.as_deref())?;
        put(&r.to.as_deref())?;
        put(&c.sent.map(|t| t as i64))?;
    }
    put(&c.room.as_deref())?;
    Ok(at)
}

/// A batch the way versions before the log stored it (the lines as
/// `batches` rows), in one transaction: test files of those versions.
#[cfg(test)]
pub(super) fn insert(conn: &Connection, batch: &[Record]) -> rusqlite::Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let mut refused = insert_batches(&tx, batch)?;
    let kept: Vec<&Record> = batch.iter().filter(|r| !batched(r)).collect();
    refused += insert_rows(&tx, &kept)?;
    tx.commit()?;
    Ok(refused)
}

/// Store `kept` (sealed lines, direct messages) as rows in `tx`; how many
/// were refused for an id
/// already stored (`OR IGNORE`: a statement that cannot abort half-way needs
/// no statement journal, measured 20% less writer CPU; see BENCHMARKS.md).
/// Rows go in groups of `ROWS_PER_INSERT` per statement, the remainder one
/// by one; each statement is prepared once per batch (handing one back to
/// the cache unbinds all its parameters).
pub(super) fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    kept: &[&Record],
) -> rusqlite::Result<usize> {
    static SQL: std::sync::LazyLock<[String; 4]> = std::sync::LazyLock::new(|| {
        let sql = |columns: &str, rows: usize| {
            let n = columns.split(',').count();
            let row = format!("({})", vec!["?"; n].join(", "));
            format!(
                "INSERT OR IGNORE INTO messages ({columns}) VALUES {}",
                vec![row; rows].join(", ")
            )
        };
        [
            sql(PLAIN, ROWS_PER_INSERT),
            sql(PLAIN, 1),
            sql(FULL, ROWS_PER_INSERT),
            sql(FULL, 1),
        ]
    });
    let mut refused = 0;
    let mut stmts: [Option<rusqlite::CachedStatement<'_>>; 4] = Default::default();
    let mut rest = kept;
    while let Some(first) = rest.first() {
        // A run of rows of one kind (in practice, the whole batch).
        let plain = is_plain(first);
        let run = rest.iter().take_while(|r| is_plain(r) == plain).count();
        let (same, tail) = rest.split_at(run);
        rest = tail;
        for group in same.chunks(ROWS_PER_INSERT) {
            let many = group.len() == ROWS_PER_INSERT;
            let k = usize::from(!plain) * 2 + usize::from(!many);
            let stmt = match &mut stmts[k] {
                Some(s) => s,
                slot => slot.insert(tx.prepare_cached(&SQL[k])?),
            };
            if many {
                let mut at = 1;
                for &r in group {
                    at = bind(stmt, at, r, plain)?;
                }
                refused += group.len() - stmt.raw_execute()?;
            } else {
                for &r in group {
                    bind(stmt, 1, r, plain)?;
                    refused += 1 - stmt.raw_execute()?;
                }
            }
        }
    }
    Ok(refused)
}

/// Newest first: up to `limit + 1` messages of `room` (`None`: the
/// default room) below `before` in the rows and the `batches` rows (the
/// caller adds the log's, sorts and cuts the page).
pub(super) fn fetch(
    conn: &Connection,
    secure: bool,
    room: Option<&str>,
    before: u64,
    limit: usize,
) -> rusqlite::Result<Vec<Chat>> {
    let before = i64::try_from(before).unwrap_or(i64::MAX);
    let column = if secure { "payload" } else { "text" };
    // `room = ?3` uses the index of other rooms' rows; the default
    // room's are walked by id.
    let which = if room.is_some() {
        "room = ?3"
    } else {
        "room IS NULL AND ?3 IS NULL"
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, ts, sender, port, action, text, payload, sent FROM messages
         WHERE {which} AND id < ?1 AND to_name IS NULL AND {column} IS NOT NULL
         ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![before, limit as i64 + 1, room], |r| {
        let payload: Option<String> = r.get(6)?;
        Ok(Chat {
            id: Some(r.get::<_, i64>(0)? as u64),
            ts: Some(r.get::<_, i64>(1)? as u64),
            from: Some(r.get(2)?),
            port: r.get(3)?,
            action: r.get(4)?,
            text: r.get(5)?,
            encrypted: payload.is_some(),
            payload,
            sent: r.get::<_, Option<i64>>(7)?.map(|t| t as u64),
            room: room.map(str::to_string),
            seq: None,
        })
    })?;
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    if !secure {
        out.extend(fetch_batches(conn, room, before, limit)?);
    }
    Ok(out)
}

/// Newest first: up to `limit + 1` batched lines of `room` below `before`
/// (rows newest first, until one adds nothing newer than what is found).
fn fetch_batches(
    conn: &Connection,
    room: Option<&str>,
    before: i64,
    limit: usize,
) -> rusqlite::Result<Vec<Chat>> {
    let mut stmt = conn.prepare_cached(
        "SELECT lines FROM batches WHERE room IS ?1 AND first_id < ?2 ORDER BY room, first_id DESC",
    )?;
    let mut rows = stmt.query(params![room, before])?;
    let mut found: Vec<Chat> = Vec::new();
    while let Some(row) = rows.next()? {
        let lines = row.get_ref(0)?.as_blob()?;
        let mut added = false;
        // The (limit + 1)-th newest found so far: a line below it is not
        // wanted.
        let floor = (found.len() > limit).then(|| found[limit].id);
        for c in unbatch(lines) {
            if c.id < Some(before as u64) && floor.is_none_or(|f| c.id > f) {
                found.push(Chat {
                    room: room.map(str::to_string),
                    ..c
                });
                added = true;
            }
        }
        if !added && floor.is_some() {
            break;
        }
        found.sort_unstable_by_key(|c| std::cmp::Reverse(c.id));
        found.dedup_by_key(|c| c.id);
        found.truncate(limit + 1);
    }
    Ok(found)
}
