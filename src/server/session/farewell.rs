//! A member who says goodbye in a cluster reads its own last lines first.
//! There every node, the sender's own too, shows a line once it is back
//! from the room's stream in Redis; a client that sends a line and leaves
//! at once (`echo hi | tcpplay join`) would otherwise be gone before its
//! line came back, and be told it was never confirmed, though it was said.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{timeout_at, Instant};

use super::{rare, ready_rooms, Session};
use crate::server::room::{Membership, Room};

/// How long a leaving member waits for its own lines to come back (a
/// Redis that does not answer within it is down: they wait in the queue,
/// and the client counts them as unconfirmed).
const OWN_LINES_WAIT: Duration = Duration::from_secs(3);

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    /// Cluster mode, the client said goodbye (or closed): deliver what its
    /// rooms publish until every line this node's members said there
    /// before now is back from the relay, or refused (bounded).
    pub(super) fn own_lines_back<'a>(
        &'a mut self,
        joined: &'a mut Membership,
    ) -> BoxFuture<'a, ()> {
        rare(async move {
            if self.ctx.cluster.is_none() {
                return;
            }
            let marks: Vec<(Arc<Room>, u64)> = joined
                .rooms
                .iter()
                .map(|r| (r.room.clone(), r.room.own_sent()))
                .collect();
            let deadline = Instant::now() + OWN_LINES_WAIT;
            loop {
                let back = marks.iter().all(|(room, mark)| room.own_back(*mark));
                if self.deliver(joined).await.is_err() || back {
                    return;
                }
                if timeout_at(deadline, ready_rooms(&mut joined.rooms))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    }
}
