//! The history's writer thread: one owner of the database, fed through a
//! bounded list of waiting lines (the room never waits for the disk),
//! inserting in batches, pruning, and answering `fetch_history`.
//!
//! Lines wait in a plain `Vec` behind a mutex, not in a channel: a bounded
//! channel allocates (and touches) all its slots at start, and a queue deep
//! enough for a blast's first burst (1,000 members with 32 lines each in
//! flight) would cost megabytes on every idle server. The writer takes the
//! whole list at once; requests (`fetch_history`, barriers) and the wake-up
//! after a quiet spell come through a small channel, and each first writes
//! every line that was waiting before it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::prune::{prune, Rooms};
use super::sql::{batched, by_room, insert_rows, not_taken, Record};
use super::{HistoryDb, Retention};
use crate::protocol::Chat;
use crate::server::metrics::HistoryMetrics;

/// Lines waiting for the writer at most; more are dropped (and counted).
/// A blast of 1,000 members with 32 lines each in flight starts with
/// 32,000 at once; with 8,192 and a 50 ms tick a quarter of a 10-member
/// blast was not stored. The lines are the rooms' own (`Arc<Chat>`): the
/// list itself is 32 bytes a line, 2 MiB when full.
const QUEUE: usize = 65536;
/// Requests waiting (`fetch_history` beyond this is told to retry).
const REQUESTS: usize = 1024;
/// Inserts per transaction at most (4096 rather than 512: each commit
/// rewrites the last, partly filled page; measured 5–10% less writer CPU).
/// A `fetch_history` waits for the batch being written: under a 10-client
/// blast, batches of ~2,400 rows took 4 ms on average, 118 of 126 under
/// 10 ms, the longest (with a checkpoint) under 100 ms
/// (`tcpplay_history_write_seconds`).
const BATCH: usize = 4096;
/// How long a busy writer waits for more lines before it looks again: a
/// hundred wake-ups a second while lines flow, none when they do not.
const TICK: Duration = Duration::from_millis(10);
/// Prune old rows after this many inserts.
const PRUNE_EVERY: u64 = 1000;

enum Job {
    /// Lines are waiting (sent with the first line after the writer took
    /// the list): wakes a writer blocked on the channel.
    Wake,
    Fetch {
        room: Option<String>,
        before: Option<u64>,
        limit: usize,
        reply: oneshot::Sender<Result<(Vec<Chat>, bool), String>>,
    },
    /// Answered once everything queued before it is written.
    Barrier(std::sync::mpsc::Sender<()>),
}

/// One above the highest id a row holds (every id when it cannot be read,
/// so that each is looked for).
fn rows_below(conn: &rusqlite::Connection) -> u64 {
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_or(u64::MAX, |m| m as u64 + 1)
}

impl HistoryDb {
    /// Start the writer thread; the database is its own from now on.
    pub(crate) fn spawn(self, retention: Retention) -> HistoryStore {
        let (tx, rx) = sync_channel(REQUESTS);
        let waiting = Arc::new(Mutex::new(Vec::new()));
        let path = self.path.display().to_string();
        // What the writer knows of each room: pruning walks only the rows
        // it deletes.
        let mut rooms = Rooms::default();
        let mut db = self;
        db.log.prune(retention, true, None);
        let _ = prune(&db.conn, retention, None, &mut rooms, &|r| db.log.total(r));
        let rows_below = rows_below(&db.conn);
        let metrics = HistoryMetrics::default();
        let failing = Arc::new(AtomicBool::new(false));
        let (m, f, w) = (metrics.clone(), failing.clone(), waiting.clone());
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || {
                Writer {
                    db,
                    rx,
                    waiting: w,
                    retention,
                    metrics: m,
                    failing: f,
                    rooms,
                    rows_below,
                    inserted: 0,
                    busy: false,
                }
                .run()
            })
            .expect("spawn the history thread");
        HistoryStore {
            tx,
            waiting,
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
    /// Lines not yet taken by the writer, oldest first.
    waiting: Arc<Mutex<Vec<Record>>>,
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
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.len() < QUEUE {
            waiting.push(r);
            self.metrics.queued.inc();
            if waiting.len() == 1 {
                drop(waiting);
                // Full only when requests are waiting: the writer is awake.
                let _ = self.tx.try_send(Job::Wake);
            }
        } else {
            drop(waiting);
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
    waiting: Arc<Mutex<Vec<Record>>>,
    retention: Retention,
    metrics: HistoryMetrics,
    failing: Arc<AtomicBool>,
    rooms: Rooms,
    /// Rows inserted since the start (age pruning every PRUNE_EVERY).
    inserted: u64,
    /// Every row's id is below this (read again at each take): a line at or
    /// above it needs no look for its id among the rows.
    rows_below: u64,
    /// While busy, the writer looks at the list every TICK instead of
    /// blocking on the channel, so that the rooms (on the chat path) wake
    /// it only with the first line after it took the list.
    busy: bool,
}

impl Writer {
    /// Until every sender is gone: the waiting lines in batches, each
    /// request after the lines that were waiting before it.
    fn run(mut self) {
        loop {
            if self.write_waiting() {
                self.busy = true;
                continue;
            }
            let job = match self.rx.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Empty) if self.busy => {
                    self.busy = false;
                    std::thread::sleep(TICK);
                    continue;
                }
                Err(TryRecvError::Empty) => match self.rx.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
                Err(TryRecvError::Disconnected) => break,
            };
            // A request answers for what was stored before it was made.
            self.write_waiting();
            match job {
                Job::Wake => {}
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
            }
        }
        self.write_waiting();
    }

    /// Take every waiting line and store it, BATCH per transaction; false
    /// when none was waiting.
    fn write_waiting(&mut self) -> bool {
        let lines = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        for batch in lines.chunks(BATCH) {
            self.insert_batch(batch);
        }
        !lines.is_empty()
    }

    /// A page, oldest first, for `fetch_history`.
    fn fetch(
        &self,
        room: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Chat>, bool), String> {
        self.db
            .page(room, before, limit)
            .map(|(mut rows, more)| {
                rows.reverse();
                (rows, more)
            })
            .map_err(|e| {
                tracing::warn!(path = %self.db.path.display(), "history: cannot read: {e}");
                "the history could not be read".to_string()
            })
    }

    /// `batch`'s plain lines appended to the log, one record per room, the
    /// rest as rows in one transaction; how many lines were refused (an id
    /// a row already holds).
    fn store(&mut self, batch: &[Record]) -> Result<usize, String> {
        let db = &mut self.db;
        let mut refused = 0;
        // Once a take, not once a room: another program may have added rows
        // since (one indexed MAX, not a look for each id).
        self.rows_below = rows_below(&db.conn);
        for (room, mut chats) in by_room(batch) {
            if chats.iter().filter_map(|c| c.id).min() < Some(self.rows_below) {
                refused += not_taken(&db.conn, &mut chats).map_err(|e| e.to_string())?;
            }
            db.log
                .append(room, &chats)
                .map_err(|e| format!("{}: {e}", super::segments::dir_of(&db.path).display()))?;
            // The log's index is in memory: its count limit holds after
            // every write.
            let room = room.map(str::to_string);
            db.log.prune(self.retention, false, Some(&room));
            self.rooms.added(&room, chats.len() as u64, false);
        }
        let rows: Vec<&Record> = batch.iter().filter(|r| !batched(r)).collect();
        if !rows.is_empty() {
            let tx = db.conn.unchecked_transaction();
            refused += tx
                .and_then(|tx| {
                    let refused = insert_rows(&tx, &rows)?;
                    tx.commit().map(|_| refused)
                })
                .map_err(|e| e.to_string())?;
            let top = rows.iter().filter_map(|r| r.chat.id).max().unwrap_or(0);
            self.rows_below = self.rows_below.max(top.saturating_add(1));
            for run in rows.chunk_by(|a, b| a.chat.room == b.chat.room) {
                self.rooms.added(&run[0].chat.room, run.len() as u64, true);
            }
        }
        Ok(refused)
    }

    /// Store `batch`; then prune what is due.
    fn insert_batch(&mut self, batch: &[Record]) {
        let started = std::time::Instant::now();
        let written = self.store(batch);
        self.metrics
            .write_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.queued.dec_by(batch.len() as i64);
        self.said(written);
        let before = self.inserted / PRUNE_EVERY;
        self.inserted += batch.len() as u64;
        self.prune_due(self.inserted / PRUNE_EVERY != before);
    }

    /// Say what a write did, once per change (failing, writing again, rows
    /// refused).
    fn said(&mut self, written: Result<usize, String>) {
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
        if age_due {
            self.db.log.prune(self.retention, true, None);
        }
        let step = PRUNE_EVERY.max(self.retention.max_messages / 4);
        let due = self.rooms.due(step);
        if !age_due && due.is_empty() {
            return;
        }
        let r = Retention {
            max_age: self.retention.max_age.filter(|_| age_due),
            ..self.retention
        };
        let log = &self.db.log;
        if let Err(e) = prune(&self.db.conn, r, Some(&due), &mut self.rooms, &|r| {
            log.total(r)
        }) {
            tracing::warn!(path = %self.db.path.display(), "history: cannot prune: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::now_ms;
    use crate::server::history::sql::{insert, is_plain, FULL};
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

    /// Lines of two rooms, interleaved, written in writes of 7 to 300
    /// lines (one batch row per room and write, some queued out of id
    /// order): pages of `fetch_history` walk each room back one line at a
    /// time across the rows, each line once; pruning by count keeps the
    /// newest `max_messages` exactly (cutting a batch), by age the
    /// batches whose newest line is young.
    #[test]
    fn batched_lines_page_back_exactly_once_and_prune_by_count_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let db = HistoryDb::open(&dir.path().join("h.sqlite3"), false).unwrap();
        let now = now_ms();
        let old = now - 10 * 86_400_000;
        let line = |id: u64| Record {
            chat: Arc::new(Chat {
                from: Some(format!("u{}", id % 7)),
                port: Some(40000 + id as u16),
                text: Some(format!("line {id}")),
                id: Some(id),
                // The first 600 lines are ten days old.
                ts: Some(if id <= 600 { old + id } else { now + id }),
                action: id.is_multiple_of(9),
                room: id.is_multiple_of(3).then(|| "#a".to_string()),
                ..Default::default()
            }),
            to: None,
        };
        let mut id = 1;
        for (i, size) in [7, 300, 41, 150, 2, 299, 201]
            .iter()
            .cycle()
            .take(12)
            .enumerate()
        {
            let mut batch: Vec<Record> = (id..id + size).map(line).collect();
            if i % 2 == 1 {
                batch.swap(0, 1);
            }
            id += size;
            assert_eq!(insert(&db.conn, &batch).unwrap(), 0);
        }
        let last = id - 1;
        for room in [None, Some("#a")] {
            let want: Vec<u64> = (1..=last)
                .rev()
                .filter(|i| (i % 3 == 0) == room.is_some())
                .collect();
            let mut got = Vec::new();
            let mut before = None;
            loop {
                let (page, more) = db.page(room, before, 100).unwrap();
                for c in &page {
                    assert_eq!(c.room.as_deref(), room);
                    assert_eq!(c.text, Some(format!("line {}", c.id.unwrap())));
                    assert_eq!(
                        c.port, None,
                        "a batch keeps no port (no client that fetches shows it)"
                    );
                }
                got.extend(page.iter().map(|c| c.id.unwrap()));
                before = page.last().and_then(|c| c.id);
                if !more {
                    break;
                }
            }
            assert_eq!(got, want, "room {room:?}");
        }
        let ids = |room: Option<&str>| {
            let (page, _) = db.page(room, None, 100_000).unwrap();
            page.iter().map(|c| c.id.unwrap()).collect::<Vec<_>>()
        };
        let (all, all_a) = (ids(None), ids(Some("#a")));
        // By count: exactly each room's newest 500 (the batch the limit cuts
        // through is rewritten without its oldest lines).
        let mut known = Rooms::default();
        let r = Retention {
            max_messages: 500,
            max_age: None,
            store_direct: false,
        };
        prune(&db.conn, r, None, &mut known, &|_| 0).unwrap();
        let kept = ids(None);
        assert_eq!(kept.len(), 500);
        assert_eq!(kept[..], all[..kept.len()], "the newest are kept");
        assert_eq!(known.0[&None].total, Some(kept.len() as u64));
        assert_eq!(ids(Some("#a")), all_a[..500]);
        // By age: only lines of batches whose newest line is young are left.
        let aged = Retention {
            max_messages: 0,
            max_age: Some(Duration::from_secs(3 * 86_400)),
            store_direct: false,
        };
        prune(&db.conn, aged, None, &mut known, &|_| 0).unwrap();
        let young_a = ids(Some("#a"));
        assert!(young_a.len() < all_a.len());
        assert!(
            young_a.iter().all(|&i| i > 300),
            "a batch with an old newest line went whole"
        );
        assert!(young_a.contains(&603), "a batch with a young line stays");
    }

    /// A `batches` row written by another program: lines that are not
    /// chat packets, have no id, claim another room, repeat an id another
    /// row holds, or lie past the row's range. `fetch_history` shows each
    /// id once, in the room asked for, only chat lines with an id, and
    /// pruning neither fails nor counts what it cannot read.
    #[test]
    fn a_batch_another_program_wrote_shows_only_chat_lines_each_id_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = HistoryDb::open(&dir.path().join("h.sqlite3"), false).unwrap();
        let hostile = concat!(
            "{\"type\":\"chat\",\"from\":\"a\",\"text\":\"one\",\"id\":1,\"ts\":1}\n",
            "not json at all \u{fffd}\n",
            "{\"type\":\"system\",\"text\":\"not a chat\",\"id\":2}\n",
            "{\"type\":\"chat\",\"from\":\"a\",\"text\":\"no id\"}\n",
            "{\"type\":\"chat\",\"from\":\"a\",\"text\":\"other room\",\"id\":3,\"room\":\"#x\"}\n",
            "{\"type\":\"chat\",\"from\":\"a\",\"text\":\"twice\",\"id\":4}\n",
            "{\"type\":\"chat\",\"from\":\"a\",\"text\":\"far\",\"id\":900}\n",
        );
        let mut bytes = hostile.as_bytes().to_vec();
        bytes.extend_from_slice(b"\xff\xfe not UTF-8\n");
        db.conn
            .execute(
                "INSERT INTO batches (first_id, last_id, room, ts, n, lines) VALUES (1, 4, NULL, 1, 9, ?1)",
                [&bytes],
            )
            .unwrap();
        db.conn
            .execute(
                "INSERT INTO batches (first_id, last_id, room, ts, n, lines) VALUES (4, 4, NULL, 1, 1, ?1)",
                [b"{\"type\":\"chat\",\"from\":\"b\",\"text\":\"twice\",\"id\":4}\n".as_slice()],
            )
            .unwrap();
        let (page, more) = db.page(None, None, 100).unwrap();
        let shown: Vec<(u64, Option<&str>, Option<&str>)> = page
            .iter()
            .map(|c| (c.id.unwrap(), c.text.as_deref(), c.room.as_deref()))
            .collect();
        assert_eq!(
            shown,
            [
                (900, Some("far"), None),
                (4, Some("twice"), None),
                (3, Some("other room"), None),
                (1, Some("one"), None)
            ]
        );
        assert!(!more);
        // Its claimed count (9) is not its lines: pruning to 2 by count
        // cannot cut it where it says: it keeps more, never fails or loses.
        let mut known = Rooms::default();
        let by_count = Retention {
            max_messages: 2,
            max_age: None,
            store_direct: false,
        };
        prune(&db.conn, by_count, None, &mut known, &|_| 0).unwrap();
        let fetch_all = || db.page(None, None, 100).unwrap().0;
        assert_eq!(
            fetch_all().len(),
            4,
            "a row it cannot cut where it says is kept, and what follows it"
        );
        let by_age = Retention {
            max_age: Some(Duration::from_secs(86_400)),
            ..by_count
        };
        prune(&db.conn, by_age, None, &mut known, &|_| 0).unwrap();
        assert!(
            fetch_all().is_empty(),
            "ts 1 is older than a day: the rest went"
        );
    }

    /// A burst as a blast starts (1,000 members, 32 lines each in flight)
    /// arrives faster than any disk: all of it waits and is stored, none
    /// dropped (a channel of 8,192 dropped most of such a burst).
    #[test]
    fn a_burst_of_32000_lines_at_once_is_stored_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite3");
        let store = HistoryDb::open(&path, false).unwrap().spawn(Retention {
            max_messages: 0,
            max_age: None,
            store_direct: false,
        });
        let n = 32_000u64;
        for id in 1..=n {
            store.record(Arc::new(Chat {
                from: Some("a".into()),
                text: Some("x".repeat(100)),
                id: Some(id),
                ts: Some(now_ms()),
                room: Some(format!("#r{}", id % 100)),
                ..Default::default()
            }));
        }
        assert!(
            store.flush(Duration::from_secs(60)),
            "written within a minute"
        );
        assert_eq!(store.metrics().dropped.get(), 0);
        store.close();
        // Read back from the files: every line of every room, once.
        let db = HistoryDb::open(&path, false).unwrap();
        let mut stored = 0;
        for room in 0..100 {
            let (page, more) = db.page(Some(&format!("#r{room}")), None, 1000).unwrap();
            assert!(!more);
            assert!(page.iter().all(|c| c.id.unwrap() % 100 == room));
            stored += page.len();
        }
        assert_eq!(stored, n as usize);
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
        // Sealed lines and direct messages are rows; plain lines are in
        // the rooms' batches, read back whole.
        let rows_of: Vec<&Record> = batch.iter().filter(|r| !is_plain(r)).collect();
        assert_eq!(rows.len(), rows_of.len());
        for room in [None, Some("ops")] {
            let (page, more) = db.page(room, None, 1000).unwrap();
            let want: Vec<Chat> = batch
                .iter()
                .rev()
                .filter(|r| is_plain(r) && r.chat.room.as_deref() == room)
                .map(|r| Chat {
                    port: None,
                    ..(*r.chat).clone()
                })
                .collect();
            assert!(!want.is_empty() && !more);
            assert_eq!(page, want, "room {room:?}");
        }
        for (row, r) in rows.iter().zip(rows_of) {
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
        prune(c, counting, Some(&rooms), &mut known, &|_| 0).unwrap();
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
            &|_| 0,
        )
        .unwrap();
        assert_eq!(
            (total(&known, None), total(&known, Some("#a"))),
            (Some(2000), Some(300))
        );
        // 500 more in the default room: its 500 oldest go, #a keeps its own.
        add(c, 12_301..=12_800, None, now);
        known.added(&None, 500, true);
        prune(c, r, Some(&rooms), &mut known, &|_| 0).unwrap();
        assert_eq!(ids(c, None), (10_501, 12_800, 2000));
        assert_eq!(ids(c, Some("#a")), (12_001, 12_300, 300));
        assert_eq!(total(&known, None), Some(2000));
        // A room over its limit loses exactly its oldest rows.
        add(c, 12_801..=14_900, Some("#a"), now);
        known.added(&Some("#a".into()), 2100, true);
        prune(c, r, Some(&rooms), &mut known, &|_| 0).unwrap();
        assert_eq!(ids(c, Some("#a")), (12_901, 14_900, 2000));
        assert_eq!(ids(c, None), (10_501, 12_800, 2000));
    }
}
