//! Names across the cluster: a name is claimed under its key by the claim
//! script (check and set in one step, with this run's token; taken over
//! only from a run whose heartbeat is gone, which is then marked dead),
//! held by the heartbeat's renewals, and given back only if still ours.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::scripts::RELEASE;
use super::{key_err, Cluster};
use crate::names;

/// Why a name cannot be had now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClaimError {
    /// Redis cannot be asked, or the cluster is repairing its names:
    /// nothing is granted that could turn out to be someone else's.
    #[error("this server cannot make sure the name is free across the cluster now ({0}); try again in a few seconds")]
    Unsettled(String),
    #[error("no free name near '{0}'")]
    NoneFree(String),
}

impl Cluster {
    /// Claim `requested` (or `-2`, `-3`, … when taken) across the cluster;
    /// a name whose run is dead is taken over. The name given.
    pub(crate) async fn claim(&self, requested: &str) -> Result<String, ClaimError> {
        let mut con = self.con();
        for n in 1..1000u32 {
            let name = match n {
                1 => requested.to_string(),
                n => names::with_suffix(requested, n),
            };
            if self.claim_exact(&mut con, &name).await? {
                return Ok(name);
            }
        }
        Err(ClaimError::NoneFree(requested.to_string()))
    }

    /// Claim exactly `name`: false when a live run holds it.
    pub(crate) async fn claim_exact_name(&self, name: &str) -> Result<bool, ClaimError> {
        let mut con = self.con();
        self.claim_exact(&mut con, name).await
    }

    /// Claim `name` for this run. While the cluster repairs its names
    /// (Redis lost them: the nodes are claiming theirs again, for
    /// `SETTLE`), or Redis cannot be reached, the answer is "not now".
    async fn claim_exact(
        &self,
        con: &mut ConnectionManager,
        name: &str,
    ) -> Result<bool, ClaimError> {
        if !self.is_up() {
            return Err(ClaimError::Unsettled(
                "the cluster's Redis is unreachable".into(),
            ));
        }
        if self.settling() {
            return Err(ClaimError::Unsettled(
                "the cluster is settling its names after losing its store".into(),
            ));
        }
        let key = self.keys.name(&names::name_key(name));
        {
            // The key holds the run, not the member: two members of this
            // node are kept apart here, by reserving the name first.
            let mut held = self.names.lock().unwrap_or_else(|e| e.into_inner());
            if held.contains_key(&key) {
                return Ok(false);
            }
            held.insert(key.clone(), name.to_string());
        }
        let got = self.claim_reserved(con, &key).await;
        if !matches!(got, Ok(true)) {
            self.names
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        }
        got
    }

    /// The claim script for a name reserved here. A claim that comes back
    /// unsettled (it ran late, or this node's heartbeat is being set
    /// again) is asked again a few times.
    async fn claim_reserved(
        &self,
        con: &mut ConnectionManager,
        key: &str,
    ) -> Result<bool, ClaimError> {
        let run = self.run();
        for _ in 0..3 {
            let got = self
                .claim_script(con, key, &run)
                .await
                .map_err(|e| ClaimError::Unsettled(key_err(e)))?;
            match got {
                0 => return Ok(false),
                -1 => tokio::time::sleep(Duration::from_millis(300)).await,
                _ => return Ok(true),
            }
        }
        Err(ClaimError::Unsettled(
            "the cluster is settling its names".into(),
        ))
    }

    /// Give a name back (a member left, or renamed).
    pub(crate) fn release(&self, name: &str) {
        let key = self.keys.name(&names::name_key(name));
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        let mut con = self.con();
        let run = self.run();
        tokio::spawn(async move {
            // Only if it is still ours.
            let _: redis::RedisResult<i64> =
                RELEASE.key(&key).arg(&*run).invoke_async(&mut con).await;
        });
    }

    /// The run holding `name`, if another run does.
    pub(super) async fn owner(&self, name: &str) -> Option<String> {
        let mut con = self.con();
        let key = self.keys.name(&names::name_key(name.trim()));
        let owner: Option<String> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut con)
            .await
            .ok()?;
        owner.filter(|o| **o != *self.run())
    }
}
