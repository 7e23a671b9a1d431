//! Chat history in SQLite: opened once at start (its newest messages seed the
//! room's replay ring, its salt keeps a secure room readable after a
//! restart), then owned by one writer thread fed through a bounded queue.
//!
//! The room never waits for the disk: a full queue drops the record (counted
//! and logged), a failed write is logged and chat goes on. In a secure room
//! only the ciphertext the server relayed is stored (names and times are
//! metadata and stay readable).

//!
//! - here: finding, locking and opening this server's database; what it
//!   seeds the room with ([`HistorySetup`])
//! - [`writer`]: the writer thread, its queue, and the SQL

mod log;
mod prune;
mod segments;
mod sql;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

pub(crate) use writer::HistoryStore;

use crate::config::{secs, HistorySettings};
use crate::protocol::Chat;

/// How much history to keep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    /// 0 = no count limit.
    pub max_messages: u64,
    pub max_age: Option<Duration>,
    pub store_direct: bool,
}

/// The database, before its writer thread starts.
pub(crate) struct HistoryDb {
    conn: Connection,
    /// Plain room lines, beside the database (`PATH-log/`).
    log: log::Log,
    path: PathBuf,
    /// Secure rooms store payloads, plaintext rooms text: each sees only its own.
    secure: bool,
    /// Held while the server runs: no second server writes this file.
    _lock: std::fs::File,
}

/// The database could not be opened or read: its path and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub(crate) struct HistoryError {
    path: String,
    reason: String,
    /// Another running server holds this file: the settings must change
    /// (the others are worth a warning).
    pub fatal: bool,
}

impl HistoryError {
    fn new(path: &Path, reason: impl std::fmt::Display) -> HistoryError {
        HistoryError {
            path: path.display().to_string(),
            reason: reason.to_string(),
            fatal: false,
        }
    }
}

/// What the room keeps of its past, and where it stores it.
#[derive(Default)]
pub(crate) struct HistorySetup {
    pub store: Option<HistoryStore>,
    /// Newest stored messages, oldest first (seeds the replay ring).
    pub recent: Vec<Chat>,
    /// Highest chat id ever stored: ids go on from here.
    pub last_id: u64,
    /// Messages replayed to each new member.
    pub replay: usize,
}

/// Open the history of the server listening on `addr` as the settings say
/// (`None`: history is off, or there is no data directory). A database in
/// use by another server is a [`HistoryError::fatal`] error; any other
/// failure (a `--history` whose folder does not exist included) is a
/// warning, and the server goes on without history.
pub(crate) fn open_for(
    h: &HistorySettings,
    secure: bool,
    addr: std::net::SocketAddr,
) -> Result<Option<HistoryDb>, HistoryError> {
    if !h.enabled {
        return Ok(None);
    }
    let path = match &h.path {
        Some(p) => {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                // A warning, as for a database that cannot be opened: the
                // chat does not wait for a folder.
                tracing::warn!(
                    "history: the folder {} (of {}) does not exist, so chat goes on WITHOUT history: create it (mkdir -p {}) and restart, or pass --no-history",
                    dir.display(),
                    p.display(),
                    dir.display()
                );
                return Ok(None);
            }
            p.clone()
        }
        None => {
            let Some(p) = HistorySettings::default_path(addr) else {
                tracing::warn!("history: no data directory on this system; pass --history PATH (or --no-history). Chat goes on without history");
                return Ok(None);
            };
            if let Some(dir) = p.parent() {
                if let Err(e) = crate::files::private_dir(dir) {
                    tracing::warn!("history: cannot create {} ({e}); chat goes on WITHOUT history (pass --history PATH, or --no-history)", dir.display());
                    return Ok(None);
                }
            }
            p
        }
    };
    match HistoryDb::open(&path, secure) {
        Ok(db) => Ok(Some(db)),
        Err(e) if e.fatal => Err(e),
        Err(e) => {
            tracing::warn!("history: cannot open {e}; chat goes on WITHOUT history (fix the path, pass --history PATH, or --no-history)");
            Ok(None)
        }
    }
}

impl HistorySetup {
    /// Seed the room from the database and start its writer (no database:
    /// no history at all).
    pub(crate) fn start(db: Option<HistoryDb>, h: &HistorySettings) -> HistorySetup {
        let Some(db) = db else {
            return HistorySetup::default();
        };
        let (recent, last_id) = match db.recent(h.replay) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("history: cannot read {e}; chat goes on WITHOUT history");
                return HistorySetup::default();
            }
        };
        tracing::info!(path = %db.path().display(), "history kept ({} recent messages)", recent.len());
        let store = db.spawn(Retention {
            max_messages: h.max_messages,
            max_age: secs(h.max_age_days * 86_400.0),
            store_direct: h.store_direct_messages,
        });
        HistorySetup {
            store: Some(store),
            recent,
            last_id,
            replay: h.replay,
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
            fatal: true,
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

impl HistoryDb {
    /// Open (creating the file and the tables if needed; the directory must
    /// exist), locked for this server. A new file is readable by its owner
    /// only; SQLite gives its `-wal` and `-shm` files the same mode.
    pub(crate) fn open(path: &Path, secure: bool) -> Result<HistoryDb, HistoryError> {
        let err = |e: rusqlite::Error| HistoryError::new(path, e);
        let lock = lock(path)?;
        private_file(path).map_err(|e| HistoryError::new(path, e))?;
        warn_if_shared(path);
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(2)).map_err(err)?;
        conn.execute_batch(
            // 16 KiB pages (a new file's; an existing one keeps its own):
            // fewer pages and WAL frames per line, measured 10% less writer
            // CPU than 4 KiB (docs/BENCHMARKS.md).
            "PRAGMA page_size = 16384;
             PRAGMA journal_mode = WAL;
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
             -- Pruning by age walks the oldest ids instead (times rise with
             -- ids): an index on ts would cost every insert.
             DROP INDEX IF EXISTS messages_ts;",
        )
        .map_err(err)?;
        // Columns added since the first version: secure rooms v2 bind the
        // sender's clock into each sealed message; rooms (protocol 3) keep
        // the room a line was said in, NULL being the default room (so a
        // history from before rooms is its history).
        for (column, kind) in [("sent", "INTEGER"), ("room", "TEXT")] {
            let has: bool = conn
                .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = ?1")
                .and_then(|mut q| q.exists([column]))
                .map_err(err)?;
            if !has {
                conn.execute_batch(&format!("ALTER TABLE messages ADD COLUMN {column} {kind};"))
                    .map_err(err)?;
            }
        }
        // Only other rooms' rows are indexed: the default room's (the
        // busiest, often the only one) cost no index entry per insert, and
        // are found walking the primary key.
        // A room's plain lines, written together, as one row: the lines
        // (each the chat packet in its compact form without `room` or
        // `port`, `\n`-ended, ids rising) and the
        // range of their ids. One row and one delete per batch, not per
        // line: per-line rows cost a third of the server's CPU in a
        // 10-member blast, half of it pruning (docs/BENCHMARKS.md).
        conn.execute_batch(
            "DROP INDEX IF EXISTS messages_room;
             CREATE INDEX IF NOT EXISTS messages_named_room ON messages (room, id)
                 WHERE room IS NOT NULL;
             CREATE TABLE IF NOT EXISTS batches (
                 first_id INTEGER PRIMARY KEY,
                 last_id INTEGER NOT NULL,
                 room TEXT,
                 ts INTEGER NOT NULL,
                 n INTEGER NOT NULL,
                 lines BLOB NOT NULL
             );
             CREATE INDEX IF NOT EXISTS batches_room ON batches (room, first_id);",
        )
        .map_err(err)?;
        let log = log::Log::open(path).map_err(|e| {
            HistoryError::new(
                path,
                format!("cannot open {}: {e}", segments::dir_of(path).display()),
            )
        })?;
        Ok(HistoryDb {
            conn,
            log,
            path: path.to_path_buf(),
            secure,
            _lock: lock,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn meta(&self, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    }

    /// The secure room's OPAQUE record, kept with the history so that a
    /// restart needs no password (no password is in it).
    pub(crate) fn room_record(&self) -> Result<Option<Vec<u8>>, HistoryError> {
        self.meta("room_record")
            .map_err(|e| HistoryError::new(&self.path, e))
    }

    /// Keep a new room record (never replacing one: see [`reset_room`](Self::reset_room)).
    pub(crate) fn keep_room_record(&self, record: &[u8]) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('room_record', ?1)",
                [record],
            )
            .map(|_| ())
            .map_err(|e| HistoryError::new(&self.path, e))
    }

    /// Forget the room's record and the sealed messages nobody can read
    /// without it (`serve --reset-room`).
    pub(crate) fn reset_room(&self) -> Result<(), HistoryError> {
        self.conn
            .execute_batch(
                "DELETE FROM meta WHERE key IN ('room_record', 'salt');
                 DELETE FROM messages WHERE payload IS NOT NULL;",
            )
            .map_err(|e| HistoryError::new(&self.path, e))
    }

    /// The default room's newest `n` messages (oldest first) and the
    /// highest id ever used, so that ids go on increasing.
    pub(crate) fn recent(&self, n: usize) -> Result<(Vec<Chat>, u64), HistoryError> {
        let err = |e: rusqlite::Error| HistoryError::new(&self.path, e);
        let last: u64 = self
            .conn
            .query_row(
                "SELECT MAX(COALESCE((SELECT MAX(id) FROM messages), 0),
                            COALESCE((SELECT MAX(last_id) FROM batches), 0))",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(err)? as u64;
        let (mut rows, _) = self
            .page(None, None, n)
            .map_err(|e| HistoryError::new(&self.path, e))?;
        rows.reverse();
        Ok((rows, last.max(self.log.last_id())))
    }

    /// Newest first: up to `limit` messages of `room` (`None`: the default
    /// room) below `before`, from the rows, the batches of older versions
    /// and the log, and whether more exist.
    fn page(
        &self,
        room: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Chat>, bool), String> {
        let before = before.unwrap_or(u64::MAX);
        let mut out =
            sql::fetch(&self.conn, self.secure, room, before, limit).map_err(|e| e.to_string())?;
        if !self.secure {
            let logged = self
                .log
                .fetch(room, before, limit)
                .map_err(|e| format!("{}: {e}", segments::dir_of(&self.path).display()))?;
            out.extend(logged);
        }
        out.sort_unstable_by_key(|c| std::cmp::Reverse(c.id));
        // An id twice: only a file changed by another program holds one.
        out.dedup_by_key(|c| c.id);
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::now_ms;
    use std::sync::Arc;

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
        let (page, more) = store.fetch(None, None, 10).await.unwrap();
        let ids: Vec<u64> = page.iter().map(|c| c.id.unwrap()).collect();
        assert_eq!(ids, (1191..=1200).collect::<Vec<_>>());
        assert!(more);
        let (page, _) = store.fetch(None, Some(1191), 3).await.unwrap();
        assert_eq!(page[0].text.as_deref(), Some("m1188"));
        store.close();
        // Reopened: exactly the newest 50 (the log's count limit holds
        // after every write), ids go on from the last one.
        let db = HistoryDb::open(&path, false).unwrap();
        let (recent, last) = db.recent(5).unwrap();
        assert_eq!(last, 1200);
        assert_eq!(recent.last().unwrap().text.as_deref(), Some("m1200"));
        let store = db.spawn(Retention {
            max_messages: 50,
            max_age: None,
            store_direct: false,
        });
        let (page, more) = store.fetch(None, None, 1000).await.unwrap();
        assert!(!more);
        let ids: Vec<u64> = page.iter().map(|c| c.id.unwrap()).collect();
        assert_eq!(ids, (1151..=1200).collect::<Vec<_>>());
        store.close();
    }

    #[test]
    fn rows_older_than_max_age_are_pruned_at_start_and_younger_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite3");
        let db = HistoryDb::open(&path, false).unwrap();
        let day = 86_400_000;
        for id in 1..=300u64 {
            // 100 from ten days ago, 100 from two days ago, 100 from now.
            let ts = now_ms() - [10 * day, 2 * day, 0][(id as usize - 1) / 100];
            db.conn
                .execute(
                    "INSERT INTO messages (id, ts, sender, text) VALUES (?1, ?2, 'a', 'x')",
                    [id as i64, ts as i64],
                )
                .unwrap();
        }
        let store = db.spawn(Retention {
            max_messages: 250,
            max_age: Some(Duration::from_secs(3 * 86_400)),
            store_direct: false,
        });
        store.close();
        let db = HistoryDb::open(&path, false).unwrap();
        let (min, max, n): (i64, i64, i64) = db
            .conn
            .query_row("SELECT min(id), max(id), count(*) FROM messages", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((min, max, n), (101, 300, 200));
    }

    /// A file of the versions before the log (plain lines in `batches`
    /// rows) is read on: pages walk back across its rows and the log, each
    /// line once, and the count limit keeps the newest lines of both.
    #[tokio::test]
    async fn a_history_from_before_the_log_is_read_with_it_and_pruned_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite3");
        let db = HistoryDb::open(&path, false).unwrap();
        let old: Vec<sql::Record> = (1..=300)
            .map(|i| sql::Record {
                chat: chat(i, &format!("m{i}")),
                to: None,
            })
            .collect();
        for part in old.chunks(70) {
            assert_eq!(sql::insert(&db.conn, part).unwrap(), 0);
        }
        let keep = Retention {
            max_messages: 400,
            max_age: None,
            store_direct: false,
        };
        let store = db.spawn(keep);
        for i in 301..=500 {
            store.record(chat(i, &format!("m{i}")));
        }
        let walk = |page: &[Chat]| page.iter().map(|c| c.id.unwrap()).collect::<Vec<_>>();
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let (page, more) = store.fetch(None, before, 33).await.unwrap();
            all.splice(0..0, walk(&page));
            before = page.first().and_then(|c| c.id);
            if !more {
                break;
            }
        }
        assert_eq!(all, (1..=500).collect::<Vec<_>>());
        store.close();
        // Opened again, pruned at start: the newest 400 of both.
        let store = HistoryDb::open(&path, false).unwrap().spawn(keep);
        let (page, more) = store.fetch(None, None, 1000).await.unwrap();
        assert!(!more);
        assert_eq!(walk(&page), (101..=500).collect::<Vec<_>>());
        assert_eq!(page[0].text.as_deref(), Some("m101"));
        store.close();
    }

    #[test]
    fn a_history_from_before_rooms_is_the_default_rooms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            // The first version's table: no `sent`, no `room`.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE messages (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,
                 sender TEXT NOT NULL, port INTEGER, action INTEGER NOT NULL DEFAULT 0,
                 text TEXT, payload TEXT, to_name TEXT);
                 INSERT INTO messages (id, ts, sender, text) VALUES (7, 1, 'old', 'from before');",
            )
            .unwrap();
        }
        let db = HistoryDb::open(&path, false).unwrap();
        let (recent, last) = db.recent(5).unwrap();
        assert_eq!(last, 7);
        assert_eq!(recent[0].text.as_deref(), Some("from before"));
        assert_eq!(recent[0].room, None, "the default room's");
    }

    #[test]
    fn the_room_record_is_kept_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite3");
        let db = HistoryDb::open(&path, true).unwrap();
        assert_eq!(db.room_record().unwrap(), None);
        db.keep_room_record(&[1, 2, 3]).unwrap();
        db.keep_room_record(&[9]).unwrap();
        drop(db);
        let db = HistoryDb::open(&path, true).unwrap();
        assert_eq!(db.room_record().unwrap(), Some(vec![1, 2, 3]));
        db.reset_room().unwrap();
        assert_eq!(db.room_record().unwrap(), None);
    }

    #[test]
    fn a_second_server_cannot_open_a_history_in_use_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite3");
        let first = HistoryDb::open(&path, false).unwrap();
        let second = HistoryDb::open(&path, false).err().expect("locked");
        assert!(second.fatal, "{second}");
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
