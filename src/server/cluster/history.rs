//! The cluster's history: a room's stream, paged backwards by line id.

use redis::Value;

use super::{entry, key_err, stream_id, Cluster, Relayed, Room, RoomEvent};
use crate::protocol::Chat;

impl Cluster {
    /// The newest `limit` chat lines of `room` with an id below `before`
    /// (oldest first), and whether there are older ones.
    pub(crate) async fn history(
        &self,
        room: &Room,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Chat>, bool), String> {
        let mut con = self.con();
        let end = match before {
            Some(b) if b > 0 => format!("({}", stream_id(b)),
            Some(_) => return Ok((Vec::new(), false)),
            None => "+".into(),
        };
        // Presence entries share the stream: read more than asked for.
        let want = limit + 1;
        let mut out = Vec::new();
        let mut end = end;
        for _ in 0..8 {
            let reply: Value = redis::cmd("XREVRANGE")
                .arg(self.keys.log(room.key()))
                .arg(&end)
                .arg("-")
                .arg("COUNT")
                .arg(want * 4)
                .query_async(&mut con)
                .await
                .map_err(|e| format!("the cluster's history cannot be read: {}", key_err(e)))?;
            let mut ids = entry::entries(reply);
            let n = ids.len();
            for e in &mut ids {
                let said = match entry::decode(e, &self.cfg.rules) {
                    Ok(Relayed {
                        event: RoomEvent::Said(said),
                        line,
                        ..
                    }) => (said, line),
                    Ok(_) => continue,
                    Err(why) => {
                        self.skip(&self.keys.log(room.key()), &e.id, &why);
                        continue;
                    }
                };
                out.push(room.chat_of(said.0, said.1, said.1 / 4096));
                if out.len() >= want {
                    break;
                }
            }
            match ids.last() {
                Some(last) if out.len() < want && n == want * 4 => end = format!("({}", last.id),
                _ => break,
            }
        }
        let more = out.len() > limit;
        out.truncate(limit);
        out.reverse();
        Ok((out, more))
    }
}
