//! The history's SQL: multi-row inserts (a plain room's lines in its
//! short form, sealed lines and direct messages in the full one) and the
//! page a `fetch_history` reads.

use rusqlite::{params, Connection};

use std::sync::Arc;

use crate::protocol::{now_ms, Chat};

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

/// Store a batch in one transaction; how many lines were refused for an id
/// already stored (`OR IGNORE`: a statement that cannot abort half-way needs
/// no statement journal, measured 20% less writer CPU; see BENCHMARKS.md).
/// Rows go in groups of `ROWS_PER_INSERT` per statement, the remainder one
/// by one; each statement is prepared once per batch (handing one back to
/// the cache unbinds all its parameters).
pub(super) fn insert(conn: &Connection, batch: &[Record]) -> rusqlite::Result<usize> {
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
    let tx = conn.unchecked_transaction()?;
    let mut stmts: [Option<rusqlite::CachedStatement<'_>>; 4] = Default::default();
    let mut refused = 0;
    let mut rest = batch;
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
                for r in group {
                    at = bind(stmt, at, r, plain)?;
                }
                refused += group.len() - stmt.raw_execute()?;
            } else {
                for r in group {
                    bind(stmt, 1, r, plain)?;
                    refused += 1 - stmt.raw_execute()?;
                }
            }
        }
    }
    drop(stmts);
    tx.commit()?;
    Ok(refused)
}

/// Newest first: up to `limit` messages of `room` (`None`: the default
/// room) below `before`, and whether more exist.
pub(super) fn fetch(
    conn: &Connection,
    secure: bool,
    room: Option<&str>,
    before: Option<u64>,
    limit: usize,
) -> rusqlite::Result<(Vec<Chat>, bool)> {
    let before = before.map(|b| b as i64).unwrap_or(i64::MAX);
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
    let more = out.len() > limit;
    out.truncate(limit);
    Ok((out, more))
}
