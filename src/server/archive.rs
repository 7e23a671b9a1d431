//! Where a room's past lines are kept, as one thing a session asks: nowhere
//! (`--no-history`), this server's SQLite store, or the cluster's streams in
//! Redis. The session asks for a page, or for what was said before a member
//! joined, without knowing which.

use std::sync::Arc;
use std::time::Duration;

use super::cluster::Cluster;
use super::room::Room;
use crate::protocol::Chat;

/// A page of lines (oldest first), and whether there are older ones.
pub(crate) type Page = (Vec<Chat>, bool);

/// How long a member joining a room waits for this server to start reading
/// the room's stream (a room new to this node), before its history is said
/// to be unavailable.
pub(crate) const STREAM_WAIT: Duration = Duration::from_secs(3);

/// Where history is kept.
pub(crate) enum Archive {
    /// In the cluster's streams.
    Cluster(Arc<Cluster>),
    /// In this server's store, if it keeps one (each room knows it).
    Local,
}

/// Why history cannot be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// This server keeps no history.
    NotKept,
    /// The store or Redis failed; the reason, for the member.
    Failed(String),
}

impl Archive {
    pub(crate) fn new(cluster: Option<Arc<Cluster>>) -> Archive {
        cluster.map_or(Archive::Local, Archive::Cluster)
    }

    /// The newest `limit` lines of `room` below id `before`.
    pub(crate) async fn page(
        &self,
        room: &Arc<Room>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Page, Unavailable> {
        let fetched = match self {
            Archive::Cluster(c) => c.history(room, before, limit).await,
            Archive::Local => match room.history() {
                Some(store) => store.fetch(room.tag(), before, limit).await,
                None => return Err(Unavailable::NotKept),
            },
        };
        fetched.map_err(Unavailable::Failed)
    }

    /// What was said in `room` before a member joined it: below
    /// `fetch_before`, or, in the cluster, below where this server began
    /// reading the room's stream (awaited, bounded). `None` when there is
    /// nothing to ask (the member got its history from memory).
    pub(crate) async fn before_join(
        &self,
        room: &Arc<Room>,
        fetch_before: Option<u64>,
        from_stream: bool,
        limit: usize,
    ) -> Option<Result<Page, Unavailable>> {
        let before = match (self, from_stream) {
            (Archive::Cluster(_), true) => match fetch_before {
                Some(b) => b,
                None => match room.reading_from(STREAM_WAIT).await {
                    Some(b) => b,
                    None => {
                        let why = "the cluster's Redis did not answer in time".to_string();
                        return Some(Err(Unavailable::Failed(why)));
                    }
                },
            },
            (Archive::Local, _) if room.history().is_some() => fetch_before?,
            _ => return None,
        };
        Some(self.page(room, Some(before), limit).await)
    }
}
