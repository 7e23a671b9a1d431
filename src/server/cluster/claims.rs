//! Names across the cluster: a name is claimed under its key, held by the
//! node run's heartbeat, taken over from a dead run, and given back.

use redis::aio::ConnectionManager;

use super::{key_err, Cluster, NAME_TTL_MS};
use crate::names;

impl Cluster {
    /// Claim `requested` (or `-2`, `-3`, … when taken) across the cluster;
    /// a name whose node is dead is taken over. The name given.
    pub(crate) async fn claim(&self, requested: &str) -> Result<String, String> {
        let mut con = self.con.clone();
        for n in 1..1000u32 {
            let name = match n {
                1 => requested.to_string(),
                n => names::with_suffix(requested, n),
            };
            if self.claim_exact(&mut con, &name).await? {
                return Ok(name);
            }
        }
        Err("no free name".into())
    }

    /// Claim exactly `name`: false when a live node holds it.
    pub(crate) async fn claim_exact_name(&self, name: &str) -> Result<bool, String> {
        let mut con = self.con.clone();
        self.claim_exact(&mut con, name).await
    }

    pub(super) async fn claim_exact(
        &self,
        con: &mut ConnectionManager,
        name: &str,
    ) -> Result<bool, String> {
        let key = self.keys.name(&names::name_key(name));
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&self.id)
            .arg("NX")
            .arg("PX")
            .arg(NAME_TTL_MS)
            .query_async(con)
            .await
            .map_err(key_err)?;
        let mut won = set.is_some();
        if !won {
            // Held: by a node that died? Then it is free to take.
            let owner: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(con)
                .await
                .map_err(key_err)?;
            if let Some(owner) = owner.filter(|o| *o != self.id) {
                let alive = self.alive(con, &owner).await.map_err(key_err)?;
                if !alive {
                    let _: () = redis::cmd("SET")
                        .arg(&key)
                        .arg(&self.id)
                        .arg("PX")
                        .arg(NAME_TTL_MS)
                        .query_async(con)
                        .await
                        .map_err(key_err)?;
                    won = true;
                }
            }
        }
        if won {
            self.names
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, name.to_string());
        }
        Ok(won)
    }

    /// Give a name back (a member left, or renamed).
    pub(crate) fn release(&self, name: &str) {
        let key = self.keys.name(&names::name_key(name));
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        let mut con = self.con.clone();
        let node = self.id.clone();
        tokio::spawn(async move {
            // Only if it is still ours.
            let script = redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            );
            let _: redis::RedisResult<i64> =
                script.key(&key).arg(&node).invoke_async(&mut con).await;
        });
    }

    /// The node holding `name`, if a live one does.
    pub(super) async fn owner(&self, name: &str) -> Option<String> {
        let mut con = self.con.clone();
        let key = self.keys.name(&names::name_key(name.trim()));
        let owner: Option<String> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut con)
            .await
            .ok()?;
        owner.filter(|o| *o != self.id)
    }
}
