//! The node's connection to Redis, healed when it cannot heal itself:
//! redis-rs's `ConnectionManager` reconnects after an I/O error, but a
//! reconnect refused for another reason (the password changed, an ACL user
//! disabled, a certificate Redis no longer took) leaves it failed for good
//! — every later command gets that error again. Such a link is made anew,
//! once a second at most, until Redis takes it: a link lost to credentials
//! comes back by itself when they are right again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::refusal::Refusal;

/// The shared connection, replaced when it is stuck.
pub(super) struct Con {
    current: Mutex<ConnectionManager>,
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// A new connection is being made.
    healing: AtomicBool,
}

impl Con {
    pub(super) fn new(
        con: ConnectionManager,
        client: redis::Client,
        config: ConnectionManagerConfig,
    ) -> Con {
        Con {
            current: Mutex::new(con),
            client,
            config,
            healing: AtomicBool::new(false),
        }
    }

    /// The connection as it is now (a cheap handle to the shared one).
    pub(super) fn get(&self) -> ConnectionManager {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Make the connection anew when `e` says it will not come back by
    /// itself (in the background; one attempt a second, until it works).
    pub(super) fn heal_after(self: &Arc<Self>, e: &redis::RedisError) {
        if !stuck(e) || self.healing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let made = me
                    .client
                    .get_connection_manager_with_config(me.config.clone())
                    .await;
                if let Ok(con) = made {
                    *me.current.lock().unwrap_or_else(|e| e.into_inner()) = con;
                    me.healing.store(false, Ordering::Release);
                    return;
                }
            }
        });
    }
}

/// A connection's error that redis-rs's manager will not reconnect from:
/// not an I/O error, and Redis turned the connection away (credentials), or
/// the manager's own reconnect failed.
pub(super) fn stuck(e: &redis::RedisError) -> bool {
    !e.is_io_error()
        && (e.kind() == redis::ErrorKind::AuthenticationFailed
            || Refusal::of_error(e) == Refusal::Credentials
            || e.to_string().contains("Reconnecting failed"))
}
