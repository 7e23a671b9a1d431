//! A cluster node's durable copy of the cluster's accounts (SQLite in the
//! node's data directory, owner-only): the OPAQUE setup, and every record
//! of Redis's accounts, certificate bindings and rooms' rules with its
//! stamp — a deleted one as a tombstone — as the node last read them
//! (and its own changes, written through). Redis is a shared cache of
//! them, not their only home: after it lost them, the node writes this
//! back (`server::cluster::kept`).

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::server::cluster::Kept;

pub(crate) struct Copy {
    conn: Connection,
    path: PathBuf,
}

fn say(path: &Path, e: impl std::fmt::Display) -> String {
    format!("the node's copy of the accounts {}: {e}", path.display())
}

impl Copy {
    /// Open (creating the file, owner-only, and its tables).
    pub(crate) fn open(path: &Path) -> Result<Copy, String> {
        let conn = super::store::open_private(path, say)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS setup (id INTEGER PRIMARY KEY CHECK (id = 1), setup BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS kept (field TEXT PRIMARY KEY, value TEXT, stamp INTEGER NOT NULL);",
        )
        .map_err(|e| say(path, e))?;
        Ok(Copy {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Where it is, for messages.
    pub(crate) fn place(&self) -> String {
        self.path.display().to_string()
    }

    /// The setup it was kept with.
    pub(crate) fn setup(&self) -> rusqlite::Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT setup FROM setup WHERE id = 1", [], |r| r.get(0))
            .optional()
    }

    /// From now on it is the copy of the cluster whose setup is `setup`
    /// (one kept under another setup is dropped: it is another cluster's).
    pub(crate) fn adopt(&self, setup: &[u8]) -> rusqlite::Result<bool> {
        let other = self.setup()?.is_some_and(|s| s != setup);
        if other {
            self.conn.execute("DELETE FROM kept", [])?;
        }
        self.conn.execute(
            "INSERT INTO setup (id, setup) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET setup = excluded.setup",
            params![setup],
        )?;
        Ok(other)
    }

    /// Every record kept.
    pub(crate) fn all(&self) -> rusqlite::Result<Vec<Kept>> {
        let mut st = self.conn.prepare("SELECT field, value, stamp FROM kept")?;
        let rows = st.query_map([], |r| {
            Ok(Kept {
                field: r.get(0)?,
                value: r.get(1)?,
                stamp: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })?;
        rows.collect()
    }

    /// One record changed (this node's own write): kept unless the copy
    /// has a newer one.
    pub(crate) fn put(&self, k: &Kept) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO kept (field, value, stamp) VALUES (?1, ?2, ?3)
             ON CONFLICT (field) DO UPDATE SET value = excluded.value, stamp = excluded.stamp
             WHERE excluded.stamp >= kept.stamp",
            params![k.field, k.value, k.stamp as i64],
        )?;
        Ok(())
    }

    /// Everything as Redis has it now (one transaction): what Redis does
    /// not have is dropped, unless the copy's is newer.
    pub(crate) fn replace(&mut self, all: &[Kept]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "CREATE TEMP TABLE IF NOT EXISTS seen (field TEXT PRIMARY KEY)",
            [],
        )?;
        tx.execute("DELETE FROM seen", [])?;
        for k in all {
            tx.execute(
                "INSERT INTO kept (field, value, stamp) VALUES (?1, ?2, ?3)
                 ON CONFLICT (field) DO UPDATE SET value = excluded.value, stamp = excluded.stamp
                 WHERE excluded.stamp >= kept.stamp",
                params![k.field, k.value, k.stamp as i64],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO seen (field) VALUES (?1)",
                params![k.field],
            )?;
        }
        tx.execute(
            "DELETE FROM kept WHERE field NOT IN (SELECT field FROM seen) AND stamp = 0",
            [],
        )?;
        tx.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(field: &str, value: Option<&str>, stamp: u64) -> Kept {
        Kept {
            field: field.into(),
            value: value.map(str::to_string),
            stamp,
        }
    }

    #[test]
    fn a_newer_change_wins_a_tombstone_stays_and_another_clusters_copy_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let mut c = Copy::open(&d.path().join("copy.sqlite3")).unwrap();
        assert!(!c.adopt(b"setup-1").unwrap());
        c.put(&kept("a:carol", Some("carol\nrec"), 5)).unwrap();
        // An older read does not undo this node's newer write.
        c.replace(&[kept("a:carol", None, 4), kept("r:#x", Some("{}"), 0)])
            .unwrap();
        assert_eq!(c.all().unwrap().len(), 2);
        assert!(c
            .all()
            .unwrap()
            .contains(&kept("a:carol", Some("carol\nrec"), 5)));
        // A newer tombstone replaces it and is kept (not dropped as absent).
        c.replace(&[kept("a:carol", None, 6)]).unwrap();
        assert_eq!(c.all().unwrap(), vec![kept("a:carol", None, 6)]);
        // The same setup keeps the copy; another drops it.
        assert!(!c.adopt(b"setup-1").unwrap());
        assert!(c.adopt(b"setup-2").unwrap());
        assert!(c.all().unwrap().is_empty());
        assert_eq!(c.setup().unwrap().as_deref(), Some(&b"setup-2"[..]));
    }
}
