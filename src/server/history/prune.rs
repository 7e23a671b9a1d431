//! Retention: what the writer knows of each room's lines (so a room is
//! pruned by its own count, not by scanning), and dropping lines past
//! `history.max_age_days` and `history.max_messages` — `messages` rows one
//! by one, `batches` rows whole, except the one batch a count limit cuts
//! through, which is rewritten without its oldest lines.

use rusqlite::{params, Connection, OptionalExtension};

use super::Retention;
use crate::protocol::now_ms;

/// What the writer knows of the rooms it wrote to or pruned (at most
/// [`Rooms::MAX`]; a room forgotten is counted again when next pruned).
#[derive(Default)]
pub(super) struct Rooms(pub(super) std::collections::HashMap<Option<String>, RoomRows>);

#[derive(Default)]
pub(super) struct RoomRows {
    /// Rows written since the room was last pruned.
    since_pruned: u64,
    /// Rows it has in the file, once counted (kept up to date since).
    pub(super) total: Option<u64>,
}

impl Rooms {
    const MAX: usize = 4096;

    fn get(&mut self, room: &Option<String>) -> &mut RoomRows {
        if !self.0.contains_key(room) {
            if self.0.len() >= Self::MAX {
                self.0.clear();
            }
            self.0.insert(room.clone(), RoomRows::default());
        }
        self.0.get_mut(room).expect("just inserted")
    }

    /// `n` lines written to `room`: in its rows (`stored`: the insert
    /// succeeded) or in the log (not `stored`: the rows it has are not
    /// more, but as the log grows fewer of them are kept).
    pub(super) fn added(&mut self, room: &Option<String>, n: u64, stored: bool) {
        let r = self.get(room);
        r.since_pruned += n;
        if let Some(t) = r.total.as_mut().filter(|_| stored) {
            *t += n;
        }
    }

    fn removed(&mut self, room: &Option<String>, n: u64) {
        if let Some(t) = self.0.get_mut(room).and_then(|r| r.total.as_mut()) {
            *t = t.saturating_sub(n);
        }
    }

    /// The rooms written `step` rows or more since they were last pruned
    /// (counted from zero again).
    pub(super) fn due(&mut self, step: u64) -> Vec<Option<String>> {
        let mut due = Vec::new();
        for (room, r) in self.0.iter_mut().filter(|(_, r)| r.since_pruned >= step) {
            r.since_pruned = 0;
            due.push(room.clone());
        }
        due
    }

    /// The file was changed behind the writer's back: count again.
    pub(super) fn forget_totals(&mut self) {
        for r in self.0.values_mut() {
            r.total = None;
        }
    }

    fn any_total(&self) -> bool {
        self.0.values().any(|r| r.total.is_some())
    }

    /// The room's rows: known, or counted now (walking them once).
    fn total(
        &mut self,
        conn: &Connection,
        room: &Option<String>,
        which: &str,
    ) -> rusqlite::Result<u64> {
        if let Some(t) = self.0.get(room).and_then(|r| r.total) {
            return Ok(t);
        }
        let n: i64 = conn.query_row(
            &format!(
                "SELECT (SELECT COUNT(*) FROM messages WHERE {which})
                      + (SELECT COALESCE(SUM(n), 0) FROM batches WHERE {which})"
            ),
            [room],
            |row| row.get(0),
        )?;
        self.get(room).total = Some(n as u64);
        Ok(n as u64)
    }
}

/// Drop rows past the retention: older than `max_age` (a range of the
/// primary key), and in each room (`rooms`, or every room when `None`) its
/// oldest rows past `max_messages` less the (newer) lines `logged` holds
/// for it in the log (walking just those, by the room's row count in
/// `rooms`).
pub(super) fn prune(
    conn: &Connection,
    r: Retention,
    rooms: Option<&[Option<String>]>,
    known: &mut Rooms,
    logged: &dyn Fn(&Option<String>) -> u64,
) -> rusqlite::Result<()> {
    if let Some(age) = r.max_age {
        let cutoff = now_ms().saturating_sub(age.as_millis() as u64) as i64;
        // Rows one by one; a batch when its newest line is too old.
        drop_aged(conn, cutoff, known, &MESSAGES_AGED)?;
        drop_aged(conn, cutoff, known, &BATCHES_AGED)?;
    }
    if r.max_messages > 0 {
        let all: Vec<Option<String>>;
        let rooms = match rooms {
            Some(r) => r,
            None => {
                let mut q = conn.prepare(
                    "SELECT DISTINCT room FROM messages UNION SELECT DISTINCT room FROM batches",
                )?;
                all = q
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                &all
            }
        };
        for room in rooms {
            let which = if room.is_some() {
                "room = ?1"
            } else {
                "room IS NULL AND ?1 IS NULL"
            };
            let n = known.total(conn, room, which)?;
            let max = r.max_messages.saturating_sub(logged(room));
            if n > max {
                let deleted = drop_oldest(conn, which, room, n - max)?;
                known.removed(room, deleted);
            }
        }
    }
    Ok(())
}

/// One table's statements for pruning by age.
struct Aged {
    /// The first key whose row is young enough (`?1`: the cutoff).
    young: &'static str,
    /// Lines per room below that key (`?1`).
    per_room: &'static str,
    /// Delete below that key (`?1`).
    delete: &'static str,
}

const MESSAGES_AGED: Aged = Aged {
    young: "SELECT id FROM messages WHERE ts >= ?1 ORDER BY id LIMIT 1",
    per_room: "SELECT room, COUNT(*) FROM messages WHERE id < ?1 GROUP BY room",
    delete: "DELETE FROM messages WHERE id < ?1",
};

/// NOT INDEXED: walk the primary key's range (the rows that go), not the
/// whole room index the planner prefers for GROUP BY.
const BATCHES_AGED: Aged = Aged {
    young: "SELECT first_id FROM batches WHERE ts >= ?1 ORDER BY first_id LIMIT 1",
    per_room: "SELECT room, SUM(n) FROM batches NOT INDEXED WHERE first_id < ?1 GROUP BY room",
    delete: "DELETE FROM batches WHERE first_id < ?1",
};

/// Times rise with keys: the rows too old are the oldest keys, up to the
/// first row young enough (found by walking just those). Counted per room
/// (when counts are known), then deleted.
fn drop_aged(conn: &Connection, cutoff: i64, known: &mut Rooms, t: &Aged) -> rusqlite::Result<()> {
    let young: i64 = conn
        .query_row(t.young, [cutoff], |row| row.get(0))
        .optional()?
        .unwrap_or(i64::MAX);
    if known.any_total() {
        let mut q = conn.prepare_cached(t.per_room)?;
        let gone = q.query_map([young], |row| {
            Ok((row.get::<_, Option<String>>(0)?, row.get::<_, i64>(1)?))
        })?;
        for g in gone {
            let (room, n) = g?;
            known.removed(&room, n as u64);
        }
    }
    conn.execute(t.delete, [young])?;
    Ok(())
}

/// Drop the room's oldest `excess` lines: rows and batches oldest first,
/// walking just those; the batch that holds the last of them loses its
/// oldest lines (rewritten without them). How many lines went.
fn drop_oldest(
    conn: &Connection,
    which: &str,
    room: &Option<String>,
    excess: u64,
) -> rusqlite::Result<u64> {
    let mut walk = conn.prepare_cached(&format!(
        "SELECT id, 1 FROM messages WHERE {which}
         UNION ALL SELECT first_id, n FROM batches WHERE {which} ORDER BY 1"
    ))?;
    let mut rows = walk.query([room])?;
    let (mut gone, mut below) = (0u64, i64::MAX);
    while let Some(row) = rows.next()? {
        let (id, n): (i64, i64) = (row.get(0)?, row.get(1)?);
        if gone + n as u64 > excess {
            below = id;
            break;
        }
        gone += n as u64;
    }
    drop(rows);
    conn.execute(
        &format!("DELETE FROM messages WHERE {which} AND id < ?2"),
        params![room, below],
    )?;
    conn.execute(
        &format!("DELETE FROM batches WHERE {which} AND first_id < ?2"),
        params![room, below],
    )?;
    // Lines still to go sit at the start of the batch at `below` (a row
    // has one line: it would have gone whole).
    let part = excess - gone;
    if part > 0 && below != i64::MAX {
        gone += trim_batch(conn, below, part as usize)?;
    }
    Ok(gone)
}

/// Rewrite the batch starting at `first_id` without its oldest `k` lines;
/// how many went (none when the row does not read back as lines).
fn trim_batch(conn: &Connection, first_id: i64, k: usize) -> rusqlite::Result<u64> {
    let Some(lines): Option<Vec<u8>> = conn
        .query_row(
            "SELECT lines FROM batches WHERE first_id = ?1",
            [first_id],
            |r| r.get(0),
        )
        .optional()?
    else {
        return Ok(0);
    };
    let starts: Vec<usize> = std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', &lines).map(|i| i + 1))
        .filter(|&i| i < lines.len())
        .collect();
    let Some(&at) = starts.get(k) else {
        return Ok(0);
    };
    let rest = &lines[at..];
    let first_line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(new_first) = super::sql::line_id(first_line) else {
        return Ok(0);
    };
    conn.execute(
        "UPDATE batches SET first_id = ?1, n = ?2, lines = ?3 WHERE first_id = ?4",
        params![new_first as i64, (starts.len() - k) as i64, rest, first_id],
    )?;
    Ok(k as u64)
}
