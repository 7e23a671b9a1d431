//! Accounts across the cluster: the OPAQUE setup, the accounts' records,
//! certificate bindings and rooms' rules, kept in Redis hashes so that an
//! account registered on one node logs in on another and a ban on one
//! holds on all. Every write bumps one version counter, and is stamped
//! with it (`kept`: what a node's durable copy writes back after Redis
//! lost them); nodes re-read what changed when it moves
//! (`server::accounts` polls it). What Redis hands
//! back is untrusted here as everywhere: the accounts layer parses and
//! checks each value before it keeps it.

use super::kept::WRITE;
use super::{key_err, Cluster};

/// Everything the cluster keeps of its accounts, as Redis returned it.
#[derive(Default)]
pub(crate) struct Shared {
    /// Account key → its value (`NAME\n` then the record in base64).
    pub accounts: Vec<(String, String)>,
    /// Certificate fingerprint → account key.
    pub certs: Vec<(String, String)>,
    /// Room key → rules (JSON).
    pub rules: Vec<(String, String)>,
    /// `a:KEY`, `c:FP`, `r:ROOM` → the version of its last change.
    pub stamps: Vec<(String, String)>,
    pub version: u64,
    /// The accounts' epoch when this was read (made anew after a loss).
    pub epoch: Option<String>,
}

/// A change to the accounts (each bumps the version).
#[derive(Clone, Copy)]
pub(crate) enum Write<'a> {
    /// A new account: false when the key was taken already (atomic).
    New {
        key: &'a str,
        value: &'a str,
    },
    Replace {
        key: &'a str,
        value: &'a str,
    },
    /// Drop the account and every certificate bound to it.
    Delete {
        key: &'a str,
    },
    Bind {
        fp: &'a str,
        key: &'a str,
    },
    Unbind {
        fp: &'a str,
    },
    Rules {
        room: &'a str,
        json: &'a str,
    },
}

impl Cluster {
    /// The cluster's OPAQUE setup: `fresh` becomes it unless one is kept
    /// already (then that one is returned).
    pub(crate) async fn accounts_setup(&self, fresh: &[u8]) -> Result<Vec<u8>, String> {
        let mut con = self.con();
        let key = self.keys.accounts_setup();
        let _: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(fresh)
            .arg("NX")
            .query_async(&mut con)
            .await
            .map_err(key_err)?;
        let kept: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut con)
            .await
            .map_err(key_err)?;
        kept.ok_or_else(|| "the accounts' setup vanished from Redis as it was written".into())
    }

    /// The version counter of the accounts (0: never written).
    pub(crate) async fn accounts_version(&self) -> Result<u64, String> {
        let mut con = self.con();
        let v: Option<u64> = redis::cmd("GET")
            .arg(self.keys.accounts_version())
            .query_async(&mut con)
            .await
            .map_err(key_err)?;
        Ok(v.unwrap_or(0))
    }

    /// Everything, read at once (one transaction, with the version and
    /// the epoch it belongs to).
    pub(crate) async fn accounts_load(&self) -> Result<Shared, String> {
        let mut con = self.con();
        type All = (
            Option<u64>,
            Option<String>,
            Vec<(String, String)>,
            Vec<(String, String)>,
            Vec<(String, String)>,
            Vec<(String, String)>,
        );
        let (version, epoch, accounts, certs, rules, stamps): All = redis::pipe()
            .atomic()
            .get(self.keys.accounts_version())
            .get(self.keys.accounts_epoch())
            .hgetall(self.keys.accounts())
            .hgetall(self.keys.account_certs())
            .hgetall(self.keys.room_rules())
            .hgetall(self.keys.account_stamps())
            .query_async(&mut con)
            .await
            .map_err(key_err)?;
        Ok(Shared {
            accounts,
            certs,
            rules,
            stamps,
            version: version.unwrap_or(0),
            epoch,
        })
    }

    /// One account's value, read now (a login on this node sees an account
    /// registered on another at once).
    pub(crate) async fn account(&self, key: &str) -> Result<Option<String>, String> {
        let mut con = self.con();
        redis::cmd("HGET")
            .arg(self.keys.accounts())
            .arg(key)
            .query_async(&mut con)
            .await
            .map_err(key_err)
    }

    /// The account a certificate is bound to, read now.
    pub(crate) async fn cert_account(&self, fp: &str) -> Result<Option<String>, String> {
        let mut con = self.con();
        redis::cmd("HGET")
            .arg(self.keys.account_certs())
            .arg(fp)
            .query_async(&mut con)
            .await
            .map_err(key_err)
    }

    /// Write one change, stamped (the version bumped): its stamp, or
    /// `None` when a new account's key was taken.
    pub(crate) async fn accounts_write(&self, w: Write<'_>) -> Result<Option<u64>, String> {
        let mut con = self.con();
        let (op, tag, field, value) = w.parts();
        let hash = match tag {
            'a' => self.keys.accounts(),
            'c' => self.keys.account_certs(),
            _ => self.keys.room_rules(),
        };
        let stamp: u64 = WRITE
            .key(hash)
            .key(self.keys.account_stamps())
            .key(self.keys.accounts_version())
            .key(self.keys.account_certs())
            .arg(op)
            .arg(field)
            .arg(value)
            .arg(format!("{tag}:"))
            .invoke_async(&mut con)
            .await
            .map_err(key_err)?;
        Ok((stamp > 0).then_some(stamp))
    }
}

impl Write<'_> {
    /// The script's op, the hash (by its tag), the field and the value.
    fn parts(&self) -> (&'static str, char, &str, &str) {
        match *self {
            Write::New { key, value } => ("new", 'a', key, value),
            Write::Replace { key, value } => ("set", 'a', key, value),
            Write::Delete { key } => ("unregister", 'a', key, ""),
            Write::Bind { fp, key } => ("set", 'c', fp, key),
            Write::Unbind { fp } => ("del", 'c', fp, ""),
            Write::Rules { room, json } => ("set", 'r', room, json),
        }
    }

    /// The field it writes as a copy keeps it (`a:KEY`, `c:FP`, `r:ROOM`),
    /// and its value after it (`None`: deleted).
    pub(crate) fn kept(&self) -> (String, Option<String>) {
        let (op, tag, field, value) = self.parts();
        let value = matches!(op, "new" | "set").then(|| value.to_string());
        (format!("{tag}:{field}"), value)
    }
}
