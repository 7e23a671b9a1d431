//! Publishing: what happens in a room here goes into the node's one queue
//! (so a member's lines keep their order) and from there, pipelined, onto
//! the room's stream; every node, this one too, delivers it from there. A
//! chat line that cannot go is delivered here only, and counted.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{entry, Cluster, Out, Relay, Room, RoomEvent, QUEUE};

impl Relay for Cluster {
    /// Queue what happened in `room` here for every node (this one too
    /// delivers it from the room's stream). A chat line that cannot go to
    /// the cluster (the link is down or the queue full) comes back: the
    /// caller then delivers it here only.
    fn publish(&self, room: &Arc<Room>, event: RoomEvent) -> Result<(), RoomEvent> {
        if !self.is_up() && matches!(event, RoomEvent::Said(_)) {
            self.local_only.fetch_add(1, Ordering::Relaxed);
            return Err(event);
        }
        let out = Out {
            room: room.clone(),
            event,
        };
        match self.out.try_send(out) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Redis is slower than this node's members: what does not
                // fit is delivered here only, counted, and said once.
                if self.local_only.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(node = %self.cfg.node, "cluster: Redis is not keeping up ({QUEUE} entries waiting); lines said here now reach only this server's members");
                }
                Err(e.into_inner().event)
            }
        }
    }
}

impl Cluster {
    /// Append what members say, in order, pipelined; what cannot be
    /// appended is delivered here only (and counted).
    pub(super) async fn publisher(self: Arc<Self>, mut rx: mpsc::Receiver<Out>) {
        let mut con = self.con.clone();
        let mut batch = Vec::new();
        loop {
            if rx.recv_many(&mut batch, 256).await == 0 {
                return;
            }
            let mut pipe = redis::pipe();
            for o in &batch {
                let room = o.room.key().to_string();
                let members = self.keys.members(&room);
                match &o.event {
                    RoomEvent::Joined { name } => {
                        pipe.hset(&members, name, &self.id).ignore();
                    }
                    RoomEvent::Left { name, .. } => {
                        pipe.hdel(&members, name).ignore();
                    }
                    RoomEvent::Renamed { old, new } => {
                        pipe.hdel(&members, old).ignore();
                        pipe.hset(&members, new, &self.id).ignore();
                    }
                    RoomEvent::Said(_) | RoomEvent::Topic { .. } => {}
                }
                let mut cmd = redis::cmd("XADD");
                cmd.arg(self.keys.log(&room))
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.cfg.max_messages.max(1))
                    .arg("*");
                for (k, v) in entry::encode(&o.event, &self.id) {
                    cmd.arg(k).arg(v);
                }
                pipe.add_command(cmd).ignore();
            }
            let sent: redis::RedisResult<()> = pipe.query_async(&mut con).await;
            match sent {
                Ok(()) => self.link_up(),
                Err(e) => {
                    self.link_down(&e);
                    // Said here: shown here, at least.
                    for o in batch.drain(..) {
                        if let RoomEvent::Said(said) = o.event {
                            self.local_only.fetch_add(1, Ordering::Relaxed);
                            o.room.deliver_local(said);
                        }
                    }
                }
            }
            batch.clear();
        }
    }
}
