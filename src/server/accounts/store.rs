//! The accounts database (SQLite, owner-only): the server's OPAQUE setup,
//! one registration record per account, certificate bindings, and rooms'
//! rules (bans, mutes, operators, modes) as JSON. No password, nothing
//! derived from one but OPAQUE's records.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::crypto::account::{AccountRecord, AccountSetup};

/// One account as stored.
pub(crate) struct Row {
    pub key: String,
    pub name: String,
    pub record: AccountRecord,
}

pub(crate) struct Store {
    conn: Connection,
}

fn say(path: &Path, e: impl std::fmt::Display) -> String {
    format!("accounts database {}: {e}", path.display())
}

/// A SQLite file of the user's, opened owner-only (its folder made
/// private when missing, a warning when others can read it); `say` puts
/// an error in the words of what the file is.
pub(super) fn open_private(
    path: &Path,
    say: fn(&Path, String) -> String,
) -> Result<Connection, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            crate::files::private_dir(dir).map_err(|e| {
                say(
                    path,
                    format!("cannot create its folder {} ({e})", dir.display()),
                )
            })?;
        }
    }
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path).map_err(|e| say(path, e.to_string()))?;
    crate::secret::warn_if_readable_by_others(path);
    let conn = Connection::open(path).map_err(|e| say(path, e.to_string()))?;
    conn.busy_timeout(Duration::from_secs(2))
        .map_err(|e| say(path, e.to_string()))?;
    Ok(conn)
}

impl Store {
    /// Open (creating the file, owner-only, and its tables); a new file
    /// gets a new OPAQUE setup.
    pub(crate) fn open(path: &Path) -> Result<(Store, AccountSetup), String> {
        let conn = open_private(path, say)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS setup (id INTEGER PRIMARY KEY CHECK (id = 1), setup BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS accounts (key TEXT PRIMARY KEY, name TEXT NOT NULL, record BLOB NOT NULL, created INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS certs (fp TEXT PRIMARY KEY, account TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS room_rules (room TEXT PRIMARY KEY, rules TEXT NOT NULL);",
        )
        .map_err(|e| say(path, e))?;
        let stored: Option<Vec<u8>> = conn
            .query_row("SELECT setup FROM setup WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| say(path, e))?;
        let setup = match stored {
            Some(b) => AccountSetup::from_bytes(&b)
                .map_err(|_| say(path, "its setup is damaged (restore it from a backup)"))?,
            None => {
                let s = AccountSetup::generate();
                conn.execute(
                    "INSERT INTO setup (id, setup) VALUES (1, ?1)",
                    params![&s.to_bytes()[..]],
                )
                .map_err(|e| say(path, e))?;
                s
            }
        };
        Ok((Store { conn }, setup))
    }

    /// Every account (records that do not parse are skipped and named).
    pub(crate) fn accounts(&self) -> rusqlite::Result<Vec<Row>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, name, record FROM accounts")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, name, record) = row?;
            match AccountRecord::from_bytes(&record) {
                Ok(record) => out.push(Row { key, name, record }),
                Err(_) => {
                    tracing::warn!(account = %crate::names::sanitize(&name), "accounts: a damaged record is skipped (the account cannot log in: unregister it from the console)")
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn certs(&self) -> rusqlite::Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare("SELECT fp, account FROM certs")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    /// Insert or replace an account's record.
    pub(crate) fn put(
        &self,
        key: &str,
        name: &str,
        record: &AccountRecord,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO accounts (key, name, record, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET record = excluded.record",
            params![
                key,
                name,
                record.to_bytes(),
                crate::protocol::now_ms() as i64
            ],
        )?;
        Ok(())
    }

    pub(crate) fn delete(&self, key: &str) -> rusqlite::Result<()> {
        self.conn
            .execute("DELETE FROM accounts WHERE key = ?1", params![key])?;
        self.conn
            .execute("DELETE FROM certs WHERE account = ?1", params![key])?;
        Ok(())
    }

    pub(crate) fn bind(&self, fp: &str, key: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO certs (fp, account) VALUES (?1, ?2)
             ON CONFLICT (fp) DO UPDATE SET account = excluded.account",
            params![fp, key],
        )?;
        Ok(())
    }

    pub(crate) fn unbind(&self, fp: &str) -> rusqlite::Result<()> {
        self.conn
            .execute("DELETE FROM certs WHERE fp = ?1", params![fp])?;
        Ok(())
    }

    pub(crate) fn rules(&self, room: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT rules FROM room_rules WHERE room = ?1",
                params![room],
                |r| r.get(0),
            )
            .optional()
    }

    /// Every room's rules (room key, JSON).
    pub(crate) fn all_rules(&self) -> rusqlite::Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare("SELECT room, rules FROM room_rules")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    pub(crate) fn count_rules(&self) -> rusqlite::Result<usize> {
        self.conn
            .query_row("SELECT COUNT(*) FROM room_rules", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as usize)
    }

    pub(crate) fn delete_rules(&self, room: &str) -> rusqlite::Result<()> {
        self.conn
            .execute("DELETE FROM room_rules WHERE room = ?1", params![room])?;
        Ok(())
    }

    pub(crate) fn put_rules(&self, room: &str, json: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO room_rules (room, rules) VALUES (?1, ?2)
             ON CONFLICT (room) DO UPDATE SET rules = excluded.rules",
            params![room, json],
        )?;
        Ok(())
    }
}
