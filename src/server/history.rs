//! Chat history in SQLite: opened once at start (its newest messages seed the
//! room's replay ring, its salt keeps a secure room readable after a
//! restart), then owned by one writer thread fed through a bounded queue.
//!
//! The room never waits for the disk: a full queue drops the record (counted
//! and logged), a failed write is logged and chat goes on. In a secure room
//! only the ciphertext the server relayed is stored (names and times are
//! metadata and stay readable).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::protocol::{now_ms, Chat};

/// Records waiting for the writer at most; more are dropped (and counted).
const QUEUE: usize = 8192;
/// Inserts per transaction at most.
const BATCH: usize = 512;
/// How long a busy writer waits for more lines before it looks again.
const TICK: Duration = Duration::from_millis(50);
/// Prune old rows after this many inserts.
const PRUNE_EVERY: u64 = 1000;

/// How much history to keep.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// 0 = no count limit.
    pub max_messages: u64,
    pub max_age: Option<Duration>,
    pub store_direct: bool,
}

/// The database, before its writer thread starts.
pub struct HistoryDb {
    conn: Connection,
    path: PathBuf,
    /// Secure rooms store payloads, plaintext rooms text: each sees only its own.
    secure: bool,
    /// Held while the server runs: no second server writes this file.
    _lock: std::fs::File,
}

/// The database could not be opened or read: its path and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct HistoryError {
    path: String,
    reason: String,
    /// Another running server holds this file.
    pub in_use: bool,
}

impl HistoryError {
    fn new(path: &Path, reason: impl std::fmt::Display) -> HistoryError {
        HistoryError {
            path: path.display().to_string(),
            reason: reason.to_string(),
            in_use: false,
        }
    }
}

/// Take the file's lock (`PATH.lock`, holding the owner's pid), or say who
/// has it. Two servers must never write one history.
fn lock(path: &Path) -> Result<std::fs::File, HistoryError> {
    use std::io::{Read, Seek, Write};
    let lock_path = path.with_extension("sqlite3.lock");
    let mut file = private_file(&lock_path).map_err(|e| {
        HistoryError::new(path, format!("cannot create {}: {e}", lock_path.display()))
    })?;
    if !try_lock(&file) {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        let who = match pid.trim().parse::<u32>() {
            Ok(p) => format!("another running tcpplay server (pid {p})"),
            Err(_) => "another running tcpplay server".into(),
        };
        return Err(HistoryError {
            in_use: true,
            ..HistoryError::new(path, format!("in use by {who}"))
        });
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    Ok(file)
}

#[cfg(unix)]
fn try_lock(f: &std::fs::File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor we own; released when it is closed.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn try_lock(_: &std::fs::File) -> bool {
    true
}

/// Open (creating it readable by the owner only) a file for reading and writing.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// One stored line and, for a direct message, its recipient.
struct Record {
    chat: Arc<Chat>,
    to: Option<String>,
}

enum Job {
    Insert(Record),
    Fetch {
        before: Option<u64>,
        limit: usize,
        reply: oneshot::Sender<Result<(Vec<Chat>, bool), String>>,
    },
    /// Answered once everything queued before it is written.
    Barrier(std::sync::mpsc::Sender<()>),
}

impl HistoryDb {
    /// Open (creating the file and the tables if needed; the directory must
    /// exist), locked for this server. A new file is readable by its owner
    /// only; SQLite gives its `-wal` and `-shm` files the same mode.
    pub fn open(path: &Path, secure: bool) -> Result<HistoryDb, HistoryError> {
        let err = |e: rusqlite::Error| HistoryError::new(path, e);
        let lock = lock(path)?;
        private_file(path).map_err(|e| HistoryError::new(path, e))?;
        warn_if_shared(path);
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(2)).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS messages (
                 id INTEGER PRIMARY KEY,
                 ts INTEGER NOT NULL,
                 sender TEXT NOT NULL,
                 port INTEGER,
                 action INTEGER NOT NULL DEFAULT 0,
                 text TEXT,
                 payload TEXT,
                 to_name TEXT
             );
             CREATE INDEX IF NOT EXISTS messages_ts ON messages(ts);",
        )
        .map_err(err)?;
        Ok(HistoryDb {
            conn,
            path: path.to_path_buf(),
            secure,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn meta(&self, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    }

    /// The secure room's salt, stored with the history so that the same
    /// password derives the same key after a restart: the stored one, or
    /// `fresh` (then stored).
    pub fn salt_or(&self, fresh: [u8; 16]) -> Result<[u8; 16], HistoryError> {
        let err = |e: rusqlite::Error| HistoryError::new(&self.path, e);
        // Never replaced: the stored salt is what old messages need.
        self.conn
            .execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('salt', ?1)",
                [&fresh[..]],
            )
            .map_err(err)?;
        let stored = self.meta("salt").map_err(err)?.unwrap_or_default();
        <[u8; 16]>::try_from(stored.as_slice())
            .map_err(|_| HistoryError::new(&self.path, "the stored room salt is damaged"))
    }

    /// The newest `n` room messages (oldest first) and the highest id ever
    /// used, so the room's ids go on increasing.
    pub fn recent(&self, n: usize) -> Result<(Vec<Chat>, u64), HistoryError> {
        let err = |e: rusqlite::Error| HistoryError::new(&self.path, e);
        let last: u64 = self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(err)? as u64;
        let (mut rows, _) = fetch(&self.conn, self.secure, None, n).map_err(err)?;
        rows.reverse();
        Ok((rows, last))
    }

    /// Start the writer thread; the database is its own from now on.
    pub fn spawn(self, retention: Retention) -> HistoryStore {
        let (tx, rx) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let path = self.path.display().to_string();
        let _ = prune(&self.conn, retention);
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || writer(self, rx, retention))
            .expect("spawn the history thread");
        HistoryStore {
            tx,
            dropped,
            path,
            store_direct: retention.store_direct,
            thread: Some(thread),
        }
    }
}

/// A history readable by other users of the machine deserves a warning.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    "history {} is readable by other users of this machine: chmod 600 {}",
                    path.display(),
                    path.display()
                );
            }
        }
    }
}

/// The room's handle on the writer thread.
pub struct HistoryStore {
    tx: SyncSender<Job>,
    dropped: Arc<AtomicU64>,
    path: String,
    store_direct: bool,
    thread: Option<std::thread::JoinHandle<()>>,
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

    fn push(&self, r: Record) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Job::Insert(r)) {
            if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
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

    /// Messages older than `before` (newest `limit`, returned oldest first)
    /// and whether there are more before them.
    pub async fn fetch(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Chat>, bool), String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Job::Fetch {
                before,
                limit,
                reply,
            })
            .map_err(|_| "the history is busy; try again in a moment".to_string())?;
        rx.await
            .map_err(|_| "the history is not available".to_string())?
    }
}

fn writer(db: HistoryDb, rx: Receiver<Job>, retention: Retention) {
    let mut inserted = 0u64;
    let mut failing = false;
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
                before,
                limit,
                reply,
            } => {
                let r = fetch(&db.conn, db.secure, before, limit)
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
                match (insert(&db.conn, &batch), failing) {
                    (Ok(()), true) => {
                        tracing::info!(path = %db.path.display(), "history: writing again");
                        failing = false;
                    }
                    (Err(e), false) => {
                        tracing::warn!(path = %db.path.display(), "history: cannot write ({e}); chat goes on, these messages are not stored");
                        failing = true;
                    }
                    _ => {}
                }
                let before = inserted / PRUNE_EVERY;
                inserted += batch.len() as u64;
                if inserted / PRUNE_EVERY != before {
                    if let Err(e) = prune(&db.conn, retention) {
                        tracing::warn!(path = %db.path.display(), "history: cannot prune: {e}");
                    }
                }
            }
        }
    }
}

fn insert(conn: &Connection, batch: &[Record]) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO messages (id, ts, sender, port, action, text, payload, to_name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for r in batch {
            let c = &r.chat;
            stmt.execute(params![
                c.id.map(|i| i as i64),
                c.ts.unwrap_or_else(now_ms) as i64,
                c.from.as_deref().unwrap_or("?"),
                c.port,
                c.action,
                c.text,
                c.payload,
                r.to,
            ])?;
        }
    }
    tx.commit()
}

/// Newest first: up to `limit` room messages below `before`, and whether more exist.
fn fetch(
    conn: &Connection,
    secure: bool,
    before: Option<u64>,
    limit: usize,
) -> rusqlite::Result<(Vec<Chat>, bool)> {
    let before = before.map(|b| b as i64).unwrap_or(i64::MAX);
    let column = if secure { "payload" } else { "text" };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, ts, sender, port, action, text, payload FROM messages
         WHERE id < ?1 AND to_name IS NULL AND {column} IS NOT NULL
         ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![before, limit as i64 + 1], |r| {
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
            seq: None,
        })
    })?;
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let more = out.len() > limit;
    out.truncate(limit);
    Ok((out, more))
}

fn prune(conn: &Connection, r: Retention) -> rusqlite::Result<()> {
    if let Some(age) = r.max_age {
        let cutoff = now_ms().saturating_sub(age.as_millis() as u64) as i64;
        conn.execute("DELETE FROM messages WHERE ts < ?1", [cutoff])?;
    }
    if r.max_messages > 0 {
        conn.execute(
            "DELETE FROM messages WHERE id <= (SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            [r.max_messages as i64],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(id: u64, text: &str) -> Arc<Chat> {
        Arc::new(Chat {
            from: Some("a".into()),
            text: Some(text.into()),
            id: Some(id),
            ts: Some(now_ms()),
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn stores_fetches_in_pages_and_prunes_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite3");
        let db = HistoryDb::open(&path, false).unwrap();
        let store = db.spawn(Retention {
            max_messages: 50,
            max_age: None,
            store_direct: false,
        });
        for i in 1..=1200 {
            store.record(chat(i, &format!("m{i}")));
        }
        assert!(
            !store.keeps_direct(),
            "direct messages are not kept by default"
        );
        let (page, more) = store.fetch(None, 10).await.unwrap();
        let ids: Vec<u64> = page.iter().map(|c| c.id.unwrap()).collect();
        assert_eq!(ids, (1191..=1200).collect::<Vec<_>>());
        assert!(more);
        let (page, _) = store.fetch(Some(1191), 3).await.unwrap();
        assert_eq!(page[0].text.as_deref(), Some("m1188"));
        store.close();
        // Reopened: pruned to about the limit (pruning runs every 1000
        // inserts), ids go on from the last one.
        let db = HistoryDb::open(&path, false).unwrap();
        let (recent, last) = db.recent(5).unwrap();
        assert_eq!(last, 1200);
        assert_eq!(recent.last().unwrap().text.as_deref(), Some("m1200"));
        let n: i64 = db
            .conn
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
            .unwrap();
        assert!(n <= 250, "pruned: {n}");
    }

    #[test]
    fn the_salt_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite3");
        let first = HistoryDb::open(&path, true)
            .unwrap()
            .salt_or([1; 16])
            .unwrap();
        let again = HistoryDb::open(&path, true)
            .unwrap()
            .salt_or([2; 16])
            .unwrap();
        assert_eq!((first, again), ([1; 16], [1; 16]));
    }

    #[test]
    fn a_second_server_cannot_open_a_history_in_use_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite3");
        let first = HistoryDb::open(&path, false).unwrap();
        let second = HistoryDb::open(&path, false).err().expect("locked");
        assert!(second.in_use, "{second}");
        assert!(
            second
                .to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{second}"
        );
        drop(first);
        assert!(HistoryDb::open(&path, false).is_ok(), "free again");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
