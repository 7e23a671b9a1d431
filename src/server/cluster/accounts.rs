//! Accounts across the cluster: the OPAQUE setup, the accounts' records,
//! certificate bindings and rooms' rules, kept in Redis hashes so that an
//! account registered on one node logs in on another and a ban on one
//! holds on all. Every write bumps one version counter; nodes re-read what
//! changed when it moves (`server::accounts` polls it). What Redis hands
//! back is untrusted here as everywhere: the accounts layer parses and
//! checks each value before it keeps it.

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
    pub version: u64,
}

/// A change to the accounts (each bumps the version).
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

/// Drop an account and its bindings in one step.
const DELETE: &str = r#"
redis.call('HDEL', KEYS[1], ARGV[1])
local certs = redis.call('HGETALL', KEYS[2])
for i = 1, #certs, 2 do
  if certs[i + 1] == ARGV[1] then redis.call('HDEL', KEYS[2], certs[i]) end
end
return redis.call('INCR', KEYS[3])
"#;

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

    /// Everything, read at once (the version first: a change after it is
    /// read again next time).
    pub(crate) async fn accounts_load(&self) -> Result<Shared, String> {
        let version = self.accounts_version().await?;
        Ok(Shared {
            accounts: self.hgetall(self.keys.accounts()).await?,
            certs: self.hgetall(self.keys.account_certs()).await?,
            rules: self.hgetall(self.keys.room_rules()).await?,
            version,
        })
    }

    async fn hgetall(&self, key: String) -> Result<Vec<(String, String)>, String> {
        let mut con = self.con();
        redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut con)
            .await
            .map_err(key_err)
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

    /// Write one change and bump the version; false when a new account's
    /// key was taken.
    pub(crate) async fn accounts_write(&self, w: Write<'_>) -> Result<bool, String> {
        let mut con = self.con();
        let (hash, field, value) = match w {
            Write::Delete { key } => {
                let _: u64 = redis::Script::new(DELETE)
                    .key(self.keys.accounts())
                    .key(self.keys.account_certs())
                    .key(self.keys.accounts_version())
                    .arg(key)
                    .invoke_async(&mut con)
                    .await
                    .map_err(key_err)?;
                return Ok(true);
            }
            Write::New { key, value } => {
                let set: bool = redis::cmd("HSETNX")
                    .arg(self.keys.accounts())
                    .arg(key)
                    .arg(value)
                    .query_async(&mut con)
                    .await
                    .map_err(key_err)?;
                if !set {
                    return Ok(false);
                }
                self.bump(&mut con).await?;
                return Ok(true);
            }
            Write::Replace { key, value } => (self.keys.accounts(), key, Some(value)),
            Write::Bind { fp, key } => (self.keys.account_certs(), fp, Some(key)),
            Write::Unbind { fp } => (self.keys.account_certs(), fp, None),
            Write::Rules { room, json } => (self.keys.room_rules(), room, Some(json)),
        };
        let cmd = match value {
            Some(v) => {
                let mut c = redis::cmd("HSET");
                c.arg(hash).arg(field).arg(v);
                c
            }
            None => {
                let mut c = redis::cmd("HDEL");
                c.arg(hash).arg(field);
                c
            }
        };
        let _: i64 = cmd.query_async(&mut con).await.map_err(key_err)?;
        self.bump(&mut con).await?;
        Ok(true)
    }

    async fn bump(&self, con: &mut redis::aio::ConnectionManager) -> Result<(), String> {
        let _: u64 = redis::cmd("INCR")
            .arg(self.keys.accounts_version())
            .query_async(con)
            .await
            .map_err(key_err)?;
        Ok(())
    }
}
