//! The history's writer thread: one owner of the database, fed through a
//! bounded queue (the room never waits for the disk), inserting in batches,
//! pruning, and answering `fetch_history`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::prune::{prune, Rooms};
use super::sql::{fetch, insert, Record};
use super::{HistoryDb, Retention};
use crate::protocol::Chat;
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
    pub(crate) fn spawn(self, retention: Retention) -> HistoryStore {
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
            .spawn(move || {
                Writer {
                    db: self,
                    rx,
                    retention,
                    metrics: m,
                    failing: f,
                    rooms,
                    inserted: 0,
                    next: None,
                    busy: false,
                }
                .run()
            })
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
pub(crate) struct HistoryStore {
    tx: SyncSender<Job>,
    path: String,
    store_direct: bool,
    thread: Option<std::thread::JoinHandle<()>>,
    metrics: HistoryMetrics,
    /// The last write failed.
    failing: Arc<AtomicBool>,
}

impl HistoryStore {
    /// Write what is queued, close the database and release its lock.
    #[cfg(test)]
    pub fn close(mut self) {
        let thread = self.thread.take();
        drop(self);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    /// Queue a room message (never waits).
    pub(crate) fn record(&self, chat: Arc<Chat>) {
        self.push(Record { chat, to: None });
    }

    /// Direct messages are kept too (`history.store_direct_messages`).
    pub(crate) fn keeps_direct(&self) -> bool {
        self.store_direct
    }

    /// Queue a direct message (callers check [`keeps_direct`](Self::keeps_direct)).
    pub(crate) fn record_direct(&self, chat: Arc<Chat>, to: &str) {
        self.push(Record {
            chat,
            to: Some(to.to_string()),
        });
    }

    /// Queue depth, write latency and drops.
    pub(crate) fn metrics(&self) -> &HistoryMetrics {
        &self.metrics
    }

    /// The writer thread is running.
    pub(crate) fn alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The last write to the database failed.
    pub(crate) fn failing(&self) -> bool {
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
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = std::sync::mpsc::channel();
        if self.tx.send(Job::Barrier(done)).is_err() {
            return false;
        }
        wait.recv_timeout(timeout).is_ok()
    }

    /// Messages of `room` (`None`: the default room) older than `before`
    /// (newest `limit`, returned oldest first) and whether there are more
    /// before them. Answered after everything queued before it is written.
    pub(crate) async fn fetch(
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

/// The writer thread's state: the database, the queue, and what it knows.
struct Writer {
    db: HistoryDb,
    rx: Receiver<Job>,
    retention: Retention,
    metrics: HistoryMetrics,
    failing: Arc<AtomicBool>,
    rooms: Rooms,
    /// Rows inserted since the start (age pruning every PRUNE_EVERY).
    inserted: u64,
    /// A job that ended a batch early, handled next (keeps the queue's order).
    next: Option<Job>,
    /// While busy, the writer polls the queue every TICK instead of
    /// blocking on it, so that senders (the room, on the chat path) never
    /// have to wake it: only the first line after a quiet spell does.
    busy: bool,
}

impl Writer {
    /// Until every sender is gone: each job in the queue's order.
    fn run(mut self) {
        while let Some(job) = self.next_job() {
            match job {
                Job::Fetch {
                    room,
                    before,
                    limit,
                    reply,
                } => {
                    let _ = reply.send(self.fetch(room.as_deref(), before, limit));
                }
                Job::Barrier(done) => {
                    let _ = done.send(());
                }
                Job::Insert(first) => self.insert_batch(first),
            }
        }
    }

    /// The next job (`None` when every sender is gone).
    fn next_job(&mut self) -> Option<Job> {
        loop {
            let job = match self
                .next
                .take()
                .map(Ok)
                .unwrap_or_else(|| self.rx.try_recv())
            {
                Ok(job) => job,
                Err(TryRecvError::Empty) if self.busy => {
                    self.busy = false;
                    std::thread::sleep(TICK);
                    continue;
                }
                Err(TryRecvError::Empty) => self.rx.recv().ok()?,
                Err(TryRecvError::Disconnected) => return None,
            };
            self.busy = true;
            return Some(job);
        }
    }

    /// A page, oldest first, for `fetch_history`.
    fn fetch(
        &self,
        room: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Chat>, bool), String> {
        fetch(&self.db.conn, self.db.secure, room, before, limit)
            .map(|(mut rows, more)| {
                rows.reverse();
                (rows, more)
            })
            .map_err(|e| {
                tracing::warn!(path = %self.db.path.display(), "history: cannot read: {e}");
                "the history could not be read".to_string()
            })
    }

    /// `first` and what else is queued (up to BATCH inserts) in one
    /// transaction; then prune what is due.
    fn insert_batch(&mut self, first: Record) {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match self.rx.try_recv() {
                Ok(Job::Insert(r)) => batch.push(r),
                Ok(other) => {
                    self.next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let written = insert(&self.db.conn, &batch);
        self.metrics
            .write_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.queued.dec_by(batch.len() as i64);
        self.said(written);
        let stored = !self.failing.load(Ordering::Relaxed);
        let before = self.inserted / PRUNE_EVERY;
        self.inserted += batch.len() as u64;
        // Counted per run of one room's lines (a batch is mostly one room's):
        // one map lookup per run, not per line.
        for run in batch.chunk_by(|a, b| a.chat.room == b.chat.room) {
            self.rooms
                .added(&run[0].chat.room, run.len() as u64, stored);
        }
        self.prune_due(self.inserted / PRUNE_EVERY != before);
    }

    /// Say what a write did, once per change (failing, writing again, rows
    /// refused).
    fn said(&mut self, written: rusqlite::Result<usize>) {
        let path = self.db.path.display();
        let was_failing = self.failing.swap(written.is_err(), Ordering::Relaxed);
        if let Ok(refused @ 1..) = written {
            // Ids are the server's own and rise: only a file changed behind
            // its back can already hold one.
            tracing::warn!(path = %path, "history: {refused} message(s) not stored: their id is already in the file (was it changed by another program?)");
            self.metrics.dropped.inc_by(refused as u64);
            self.rooms.forget_totals();
        }
        match (written, was_failing) {
            (Ok(_), true) => tracing::info!(path = %path, "history: writing again"),
            (Err(e), false) => {
                tracing::warn!(path = %path, "history: cannot write ({e}); chat goes on, these messages are not stored")
            }
            _ => {}
        }
    }

    /// Prune the rooms that are due (a quarter of `max_messages`, or
    /// PRUNE_EVERY, added since their last pruning), and by age when
    /// `age_due`.
    fn prune_due(&mut self, age_due: bool) {
        let step = PRUNE_EVERY.max(self.retention.max_messages / 4);
        let due = self.rooms.due(step);
        if !age_due && due.is_empty() {
            return;
        }
        let r = Retention {
            max_age: self.retention.max_age.filter(|_| age_due),
            ..self.retention
        };
        if let Err(e) = prune(&self.db.conn, r, Some(&due), &mut self.rooms) {
            tracing::warn!(path = %self.db.path.display(), "history: cannot prune: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::now_ms;
    use crate::server::history::sql::{insert, FULL};
    use crate::server::history::HistoryDb;
    use rusqlite::{params, Connection};

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
                        port: id.is_multiple_of(2).then_some(id as u16),
                        text: (!full || id.is_multiple_of(3)).then(|| format!("t{id}")),
                        payload: (full && !id.is_multiple_of(3)).then(|| format!("p{id}")),
                        sent: (full && id % 2 == 1).then_some(1000 + id),
                        id: Some(id),
                        ts: Some(5000 + id),
                        action: id.is_multiple_of(4),
                        room: id.is_multiple_of(5).then(|| "ops".to_string()),
                        ..Default::default()
                    }),
                    to: (full && id.is_multiple_of(3)).then(|| format!("to{id}")),
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
