//! Cluster mode: the node's durable copy of the accounts kept in step
//! with Redis, and written back when Redis lost them (its epoch is gone
//! or new). Until this node has written its copy into the epoch Redis
//! has, it trusts nothing Redis lacks: an account missing from a Redis
//! that lost its data is not "no such account", and an empty read does
//! not empty the copy.

use std::sync::atomic::Ordering;

use super::{Accounts, Backend};
use crate::server::cluster::accounts::{Shared, Write};
use crate::server::cluster::Kept;

impl Accounts {
    /// When Redis's accounts epoch is not the one this node wrote its
    /// copy into (Redis lost them, or another node wrote its copy back
    /// after a loss): write this node's copy back now.
    pub(super) async fn restore_if_lost(&self) -> Result<(), String> {
        let (Backend::Cluster(c), Some(shared)) = (&self.backend, &self.shared) else {
            return Ok(());
        };
        let now = c.accounts_epoch().await?;
        if now.is_some() && now == *shared.epoch.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(());
        }
        let kept = {
            let copy = shared.copy.lock().unwrap_or_else(|e| e.into_inner());
            copy.all().map_err(|e| format!("{}: {e}", copy.place()))?
        };
        let fresh = crate::crypto::b64(&rand::random::<[u8; 12]>());
        let (epoch, written) = c
            .accounts_merge(&self.setup.to_bytes(), &kept, &fresh)
            .await
            .inspect_err(|e| {
                if e.starts_with(crate::server::cluster::OTHER_SETUP) {
                    tracing::error!("accounts: this node's copy is not written back: {e} (a node started while Redis was empty made a new one); restore Redis's accounts:setup from this node's copy, or drop the copy");
                }
            })?;
        if !kept.is_empty() {
            tracing::warn!(
                "accounts: Redis's accounts are not the ones this node last read (it lost them, or another node wrote its copy back): this node's copy was written back, {written} of its {} records (the others Redis had, or newer)",
                kept.len()
            );
        }
        *shared.epoch.lock().unwrap_or_else(|e| e.into_inner()) = Some(epoch);
        // Read everything again.
        shared.version.store(u64::MAX, Ordering::Relaxed);
        Ok(())
    }

    /// Is `all` from the epoch this node's copy is in (not a Redis that
    /// lost the accounts since)?
    pub(super) fn same_epoch(&self, all: &Shared) -> bool {
        self.shared.as_ref().is_some_and(|s| {
            all.epoch.is_some() && all.epoch == *s.epoch.lock().unwrap_or_else(|e| e.into_inner())
        })
    }

    /// The copy becomes what Redis has (`all`, read in the copy's epoch).
    pub(super) fn keep_copy(&self, all: &Shared) {
        let Some(shared) = &self.shared else {
            return;
        };
        let stamps: std::collections::HashMap<&str, u64> = all
            .stamps
            .iter()
            .map(|(f, s)| (f.as_str(), s.parse().unwrap_or(0)))
            .collect();
        let mut kept = Vec::with_capacity(stamps.len());
        let mut present = std::collections::HashSet::new();
        for (tag, list) in [('a', &all.accounts), ('c', &all.certs), ('r', &all.rules)] {
            for (k, v) in list.iter() {
                let field = format!("{tag}:{k}");
                let stamp = stamps.get(field.as_str()).copied().unwrap_or(0);
                present.insert(field.clone());
                kept.push(Kept {
                    field,
                    value: Some(v.clone()),
                    stamp,
                });
            }
        }
        for (field, stamp) in &stamps {
            if !present.contains(*field) {
                kept.push(Kept {
                    field: field.to_string(),
                    value: None,
                    stamp: *stamp,
                });
            }
        }
        let mut copy = shared.copy.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = copy.replace(&kept) {
            tracing::error!(
                "accounts: cannot keep the node's copy {} ({e}); Redis still has them",
                copy.place()
            );
        }
    }

    /// This node's own change `w`, stamped `stamp` in Redis, into its copy
    /// at once (a loss a moment later does not lose it).
    pub(super) fn kept_write(&self, w: &Write<'_>, stamp: u64) {
        if let Some(shared) = &self.shared {
            put(&shared.copy, w, stamp);
        }
    }
}

/// `w`, stamped `stamp`, into `copy`.
pub(super) fn put(copy: &std::sync::Mutex<super::copy::Copy>, w: &Write<'_>, stamp: u64) {
    let (field, value) = w.kept();
    let copy = copy.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = copy.put(&Kept {
        field,
        value,
        stamp,
    }) {
        tracing::error!(
            "accounts: cannot keep a change in the node's copy {} ({e}); Redis has it",
            copy.place()
        );
    }
}
