//! The history's writer thread: one owner of the database, fed through a
//! bounded queue (the room never waits for the disk), inserting in batches,
//! pruning, and answering `fetch_history`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::{HistoryDb, Retention};
use crate::protocol::{now_ms, Chat};
use crate::server::metrics::HistoryMetrics;

/// Records waiting for the writer at most; more are dropped (and counted).
const QUEUE: usize = 8192;
/// Inserts per transaction at most (4096 rather than 512: each commit
/// rewrites the last, partly filled page; measured 5–10% less writer CPU).
/// A `fetch_history` waits for the batch being written: under a 10-client
/// blast, batches of ~2,400 rows took 4 ms on average, 118 of 126 under
/// 10 ms, the longest (with a checkpoint) under 100 ms
/// (`tcpplay_history_write_seconds`).
const BATCH: usize = 4096;
/// How long a busy writer waits for more lines before it looks again.
const TICK: Duration = Duration::from_millis(50);
/// Prune old rows after this many inserts.
const PRUNE_EVERY: u64 = 1000;

/// One stored line and, for a direct message, its recipient.
struct Record {
    chat: Arc<Chat>,
    to: Option<String>,
}

enum Job {
    Insert(Record),
    Fetch {
        room: Option<String>,
        before: Option<u64>,
        limit: usize,
        reply: oneshot::Sender<Result<(Vec<Chat>, bool), String>>,
    },
    /// Answered once everything queued before it is written.
    Barrier(std::sync::mpsc::Sender<()>),
}

impl HistoryDb {
    /// Start the writer thread; the database is its own from now on.
    pub fn spawn(self, retention: Retention) -> HistoryStore {
        let (tx, rx) = sync_channel(QUEUE);
        let path = self.path.display().to_string();
        // What the writer knows of each room: pruning walks only the rows
        // it deletes.
        let mut rooms = Rooms::default();
        let _ = prune(&self.conn, retention, None, &mut rooms);
        let metrics = HistoryMetrics::default();
        let failing = Arc::new(AtomicBool::new(false));
        let (m, f) = (metrics.clone(), failing.clone());
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || writer(self, rx, retention, m, f, rooms))
            .expect("spawn the history thread");
        HistoryStore {
            tx,
            path,
            store_direct: retention.store_direct,
            thread: Some(thread),
            metrics,
            failing,
        }
    }
}

/// The room's handle on the writer thread.
pub struct HistoryStore {
    tx: SyncSender<Job>,
    path: String,
    store_direct: bool,
    thread: Option<std::thread::JoinHandle<()>>,
    metrics: HistoryMetrics,
    /// The last write failed.
    failing: Arc<AtomicBool>,
}

impl HistoryStore {
    /// Queue a room message (never waits).
    pub fn record(&self, chat: Arc<Chat>) {
        self.push(Record { chat, to: None });
    }

    /// Direct messages are kept too (`history.store_direct_messages`).
    pub fn keeps_direct(&self) -> bool {
        self.store_direct
    }

    /// Queue a direct message (callers check [`keeps_direct`](Self::keeps_direct)).
    pub fn record_direct(&self, chat: Arc<Chat>, to: &str) {
        self.push(Record {
            chat,
            to: Some(to.to_string()),
        });
    }

    /// Queue depth, write latency and drops.
    pub fn metrics(&self) -> &HistoryMetrics {
        &self.metrics
    }

    /// The writer thread is running.
    pub fn alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The last write to the database failed.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    fn push(&self, r: Record) {
        self.metrics.queued.inc();
        let sent = self.tx.try_send(Job::Insert(r));
        if sent.is_err() {
            self.metrics.queued.dec();
        }
        if let Err(TrySendError::Full(_)) = sent {
            if self.metrics.dropped.inc() == 0 {
                tracing::warn!(path = %self.path, "history: the disk is not keeping up; some messages are not stored");
            }
        }
    }

    /// Wait (at most `timeout`) until everything queued so far is written:
    /// called at shutdown so that the last messages are not lost.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = std::sync::mpsc::channel();
        if self.tx.send(Job::Barrier(done)).is_err() {
            return false;
        }
        wait.recv_timeout(timeout).is_ok()
    }

    /// Write what is queued, close the database and release its lock.
    pub fn close(mut self) {
        let thread = self.thread.take();
        drop(self);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    /// Messages of `room` (`None`: the default room) older than `before`
    /// (newest `limit`, returned oldest first) and whether there are more
    /// before them. Answered after everything queued before it is written.
    pub async fn fetch(
        &self,
        room: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Chat>, bool), String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Job::Fetch {
                room: room.map(str::to_string),
                before,
                limit,
                reply,
            })
            .map_err(|_| "the history is busy; try again in a moment".to_string())?;
        rx.await
            .map_err(|_| "the history is not available".to_string())?
    }
}

fn writer(
    db: HistoryDb,
    rx: Receiver<Job>,
    retention: Retention,
    metrics: HistoryMetrics,
    failing: Arc<AtomicBool>,
    mut rooms: Rooms,
) {
    let mut inserted = 0u64;
    // A room is pruned once a quarter of `max_messages`, or PRUNE_EVERY,
    // was added to it (deleting its oldest rows past the limit, found by
    // its row count).
    let step = PRUNE_EVERY.max(retention.max_messages / 4);
    // A job that ended a batch early, handled next (keeps the queue's order).
    let mut next = None;
    // While busy, the writer polls the queue every TICK instead of blocking
    // on it, so that senders (the room, on the chat path) never have to wake
    // it: only the first line after a quiet spell does.
    let mut busy = false;
    loop {
        let job = match next.take().map(Ok).unwrap_or_else(|| rx.try_recv()) {
            Ok(job) => job,
            Err(TryRecvError::Empty) if busy => {
                busy = false;
                std::thread::sleep(TICK);
                continue;
            }
            Err(TryRecvError::Empty) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(TryRecvError::Disconnected) => return,
        };
        busy = true;
        match job {
            Job::Fetch {
                room,
                before,
                limit,
                reply,
            } => {
                let r = fetch(&db.conn, db.secure, room.as_deref(), before, limit)
                    .map(|(mut rows, more)| {
                        rows.reverse();
                        (rows, more)
                    })
                    .map_err(|e| {
                        tracing::warn!(path = %db.path.display(), "history: cannot read: {e}");
                        "the history could not be read".to_string()
                    });
                let _ = reply.send(r);
            }
            Job::Barrier(done) => {
                let _ = done.send(());
            }
            Job::Insert(first) => {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(Job::Insert(r)) => batch.push(r),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let started = std::time::Instant::now();
                let written = insert(&db.conn, &batch);
                metrics
                    .write_seconds
                    .observe(started.elapsed().as_secs_f64());
                metrics.queued.dec_by(batch.len() as i64);
                let was_failing = failing.swap(written.is_err(), Ordering::Relaxed);
                if let Ok(refused @ 1..) = written {
                    // Ids are the server's own and rise: only a file changed
                    // behind its back can already hold one.
                    tracing::warn!(path = %db.path.display(), "history: {refused} message(s) not stored: their id is already in the file (was it changed by another program?)");
                    metrics.dropped.inc_by(refused as u64);
                    rooms.forget_totals();
                }
                match (written, was_failing) {
                    (Ok(_), true) => {
                        tracing::info!(path = %db.path.display(), "history: writing again");
                    }
                    (Err(e), false) => {
                        tracing::warn!(path = %db.path.display(), "history: cannot write ({e}); chat goes on, these messages are not stored");
                    }
                    _ => {}
                }
                let stored = !failing.load(Ordering::Relaxed);
                let before = inserted / PRUNE_EVERY;
                inserted += batch.len() as u64;
                // Counted per run of one room's lines (a batch is mostly one
                // room's): one map lookup per run, not per line.
                for run in batch.chunk_by(|a, b| a.chat.room == b.chat.room) {
                    rooms.added(&run[0].chat.room, run.len() as u64, stored);
                }
                let due = rooms.due(step);
                let age_due = inserted / PRUNE_EVERY != before;
                if age_due || !due.is_empty() {
                    let r = Retention {
                        max_age: retention.max_age.filter(|_| age_due),
                        ..retention
                    };
                    if let Err(e) = prune(&db.conn, r, Some(&due), &mut rooms) {
                        tracing::warn!(path = %db.path.display(), "history: cannot prune: {e}");
                    }
                }
            }
        }
    }
}

/// Rows per multi-row INSERT (10 parameters each at most; SQLite allows 32766).
const ROWS_PER_INSERT: usize = 32;

/// The columns a row fills: a plain chat line leaves `payload`, `to_name`
/// and `sent` NULL, so its statement binds 7 values, not 10.
const PLAIN: &str = "id, ts, sender, port, action, text, room";
const FULL: &str = "id, ts, sender, port, action, text, payload, to_name, sent, room";

fn is_plain(r: &Record) -> bool {
    r.chat.payload.is_none() && r.to.is_none() && r.chat.sent.is_none()
}

/// Bind `r` to `stmt` from parameter `at` on (1-based), in `PLAIN` or
/// `FULL` order; the next free index.
fn bind(
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
fn insert(conn: &Connection, batch: &[Record]) -> rusqlite::Result<usize> {
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

/// What the writer knows of the rooms it wrote to or pruned (at most
/// [`Rooms::MAX`]; a room forgotten is counted again when next pruned).
#[derive(Default)]
struct Rooms(std::collections::HashMap<Option<String>, RoomRows>);

#[derive(Default)]
struct RoomRows {
    /// Rows written since the room was last pruned.
    since_pruned: u64,
    /// Rows it has in the file, once counted (kept up to date since).
    total: Option<u64>,
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

    /// `n` rows written to `room` (`stored`: the insert succeeded).
    fn added(&mut self, room: &Option<String>, n: u64, stored: bool) {
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
    fn due(&mut self, step: u64) -> Vec<Option<String>> {
        let mut due = Vec::new();
        for (room, r) in self.0.iter_mut().filter(|(_, r)| r.since_pruned >= step) {
            r.since_pruned = 0;
            due.push(room.clone());
        }
        due
    }

    /// The file was changed behind the writer's back: count again.
    fn forget_totals(&mut self) {
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
            &format!("SELECT COUNT(*) FROM messages WHERE {which}"),
            [room],
            |row| row.get(0),
        )?;
        self.get(room).total = Some(n as u64);
        Ok(n as u64)
    }
}

/// Drop rows past the retention: older than `max_age` (a range of the
/// primary key), and in each room (`rooms`, or every room when `None`) its
/// oldest rows past `max_messages` (walking just those, by the room's row
/// count in `rooms`).
fn prune(
    conn: &Connection,
    r: Retention,
    rooms: Option<&[Option<String>]>,
    known: &mut Rooms,
) -> rusqlite::Result<()> {
    if let Some(age) = r.max_age {
        // Times rise with ids: the rows too old are the oldest ids, up to
        // the first row young enough (found by walking just those).
        let cutoff = now_ms().saturating_sub(age.as_millis() as u64) as i64;
        let young: i64 = conn
            .query_row(
                "SELECT id FROM messages WHERE ts >= ?1 ORDER BY id LIMIT 1",
                [cutoff],
                |row| row.get(0),
            )
            .optional()?
            .unwrap_or(i64::MAX);
        if known.any_total() {
            // What goes, per room (walking just those rows).
            let mut q = conn.prepare_cached(
                "SELECT room, COUNT(*) FROM messages WHERE id < ?1 GROUP BY room",
            )?;
            let gone = q.query_map([young], |row| {
                Ok((row.get::<_, Option<String>>(0)?, row.get::<_, i64>(1)?))
            })?;
            for g in gone {
                let (room, n) = g?;
                known.removed(&room, n as u64);
            }
        }
        conn.execute("DELETE FROM messages WHERE id < ?1", [young])?;
    }
    if r.max_messages > 0 {
        let all: Vec<Option<String>>;
        let rooms = match rooms {
            Some(r) => r,
            None => {
                let mut q = conn.prepare("SELECT DISTINCT room FROM messages")?;
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
            if n > r.max_messages {
                let deleted = conn.execute(
                    &format!(
                        "DELETE FROM messages WHERE id IN
                         (SELECT id FROM messages WHERE {which} ORDER BY id LIMIT ?2)"
                    ),
                    params![room, (n - r.max_messages) as i64],
                )?;
                known.removed(room, deleted as u64);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::history::HistoryDb;

    fn add(conn: &Connection, ids: std::ops::RangeInclusive<i64>, room: Option<&str>, ts: u64) {
        for id in ids {
            conn.execute(
                "INSERT INTO messages (id, ts, sender, text, room) VALUES (?1, ?2, 'a', 'x', ?3)",
                params![id, ts as i64, room],
            )
            .unwrap();
        }
    }

    fn ids(conn: &Connection, room: Option<&str>) -> (i64, i64, i64) {
        conn.query_row(
            "SELECT min(id), max(id), count(*) FROM messages WHERE room IS ?1",
            [room],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    }

    /// An id already in the file (only another program could have put it
    /// there) refuses that line alone, counted; the rest of the batch is
    /// stored.
    #[tokio::test]
    async fn a_line_whose_id_is_taken_is_counted_and_the_batch_stored() {
        let dir = tempfile::tempdir().unwrap();
        let db = HistoryDb::open(&dir.path().join("h.sqlite3"), false).unwrap();
        add(&db.conn, 40..=40, None, now_ms());
        let store = db.spawn(Retention {
            max_messages: 0,
            max_age: None,
            store_direct: false,
        });
        for id in 1..=100 {
            store.record(Arc::new(Chat {
                from: Some("a".into()),
                text: Some(format!("m{id}")),
                id: Some(id),
                ts: Some(now_ms()),
                ..Default::default()
            }));
        }
        let (page, _) = store.fetch(None, None, 200).await.unwrap();
        assert_eq!(page.len(), 100);
        assert_eq!(
            page[39].text.as_deref(),
            Some("x"),
            "the file's own line 40"
        );
        assert_eq!(page[40].text.as_deref(), Some("m41"));
        assert_eq!(store.metrics().dropped.get(), 1);
        assert!(!store.failing());
    }

    /// Plain lines and lines with a payload, a recipient or a sender's clock
    /// go through different statements: in runs of either kind, full groups
    /// and remainders, every column lands where it belongs.
    #[test]
    fn plain_and_full_rows_interleaved_are_stored_column_for_column() {
        let dir = tempfile::tempdir().unwrap();
        let db = HistoryDb::open(&dir.path().join("h.sqlite3"), false).unwrap();
        // Runs of 40 plain, 33 full, 1 plain, 70 full, 5 plain (full groups of
        // 32 and remainders of both kinds).
        let mut kinds = Vec::new();
        for (n, full) in [(40, false), (33, true), (1, false), (70, true), (5, false)] {
            kinds.extend(std::iter::repeat_n(full, n));
        }
        let batch: Vec<Record> = kinds
            .iter()
            .enumerate()
            .map(|(i, &full)| {
                let id = i as u64 + 1;
                Record {
                    chat: Arc::new(Chat {
                        from: Some(format!("u{id}")),
                        port: (id % 2 == 0).then_some(id as u16),
                        text: (!full || id % 3 == 0).then(|| format!("t{id}")),
                        payload: (full && id % 3 != 0).then(|| format!("p{id}")),
                        sent: (full && id % 2 == 1).then_some(1000 + id),
                        id: Some(id),
                        ts: Some(5000 + id),
                        action: id % 4 == 0,
                        room: (id % 5 == 0).then(|| "ops".to_string()),
                        ..Default::default()
                    }),
                    to: (full && id % 3 == 0).then(|| format!("to{id}")),
                }
            })
            .collect();
        assert_eq!(insert(&db.conn, &batch).unwrap(), 0);
        type Row = (
            i64,
            i64,
            String,
            Option<i64>,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = db
            .conn
            .prepare(&format!("SELECT {FULL} FROM messages ORDER BY id"))
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), batch.len());
        for (row, r) in rows.iter().zip(&batch) {
            let c = &r.chat;
            let want: Row = (
                c.id.unwrap() as i64,
                c.ts.unwrap() as i64,
                c.from.clone().unwrap(),
                c.port.map(i64::from),
                i64::from(c.action),
                c.text.clone(),
                c.payload.clone(),
                r.to.clone(),
                c.sent.map(|t| t as i64),
                c.room.clone(),
            );
            assert_eq!(row, &want);
        }
    }

    /// Pruning by count trusts the rows it counted and what was added and
    /// aged out since: a count that missed the aged-out rows would delete
    /// rows that must be kept.
    #[test]
    fn pruning_keeps_each_rooms_newest_rows_with_counts_kept_across_age_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let db = HistoryDb::open(&dir.path().join("h.sqlite3"), false).unwrap();
        let c = &db.conn;
        let now = now_ms();
        let old = now - 10 * 86_400_000;
        let r = Retention {
            max_messages: 2000,
            max_age: Some(Duration::from_secs(3 * 86_400)),
            store_direct: false,
        };
        let rooms = [None, Some("#a".to_string())];
        let mut known = Rooms::default();
        let total = |k: &Rooms, room: Option<&str>| k.0[&room.map(str::to_string)].total;
        // Aged rows first (ids rise with time), then 2,000 in the default
        // room and 300 in #a.
        add(c, 1..=1000, None, old);
        add(c, 1001..=1100, Some("#a"), old);
        add(c, 10_001..=12_000, None, now);
        add(c, 12_001..=12_300, Some("#a"), now);
        let counting = Retention {
            max_messages: 5000,
            max_age: None,
            ..r
        };
        prune(c, counting, Some(&rooms), &mut known).unwrap();
        assert_eq!(
            total(&known, None),
            Some(3000),
            "counted, nothing past the count limit deleted"
        );
        // Age out 1,100 rows, counted while the room's count is known.
        prune(
            c,
            Retention {
                max_messages: 0,
                ..r
            },
            None,
            &mut known,
        )
        .unwrap();
        assert_eq!(
            (total(&known, None), total(&known, Some("#a"))),
            (Some(2000), Some(300))
        );
        // 500 more in the default room: its 500 oldest go, #a keeps its own.
        add(c, 12_301..=12_800, None, now);
        known.added(&None, 500, true);
        prune(c, r, Some(&rooms), &mut known).unwrap();
        assert_eq!(ids(c, None), (10_501, 12_800, 2000));
        assert_eq!(ids(c, Some("#a")), (12_001, 12_300, 300));
        assert_eq!(total(&known, None), Some(2000));
        // A room over its limit loses exactly its oldest rows.
        add(c, 12_801..=14_900, Some("#a"), now);
        known.added(&Some("#a".into()), 2100, true);
        prune(c, r, Some(&rooms), &mut known).unwrap();
        assert_eq!(ids(c, Some("#a")), (12_901, 14_900, 2000));
        assert_eq!(ids(c, None), (10_501, 12_800, 2000));
    }
}
