//! Direct messages: to a member of this server whatever rooms they share
//! (into their own inbox, never the room's feed), from a member of another
//! server, and the lines they make (the Python original gets a chat line
//! only it receives).

use std::sync::Arc;

use bytes::Bytes;

use super::{Body, Direct, DirectError, Hub};
use crate::names;
use crate::protocol::{now_ms, Chat, Dm, Packet};

impl Hub {
    /// Deliver a direct message from `from` to the member named `dm.to`
    /// (case-insensitively), whatever rooms they share. Returns the line as
    /// sent, for the sender's echo.
    pub(crate) fn direct(&self, from: &str, mut dm: Dm) -> Result<Bytes, DirectError> {
        let st = self.lock();
        let to = st.by_name.get(&dm.to).ok_or(DirectError::NoSuchUser)?;
        let member = st.members.get(&to).ok_or(DirectError::NoSuchUser)?;
        dm.to = member.name.clone();
        let (line, legacy) = dm_lines(from, &mut dm, now_ms());
        let is_self = names::name_key(from) == names::name_key(&dm.to);
        // A legacy client knows no `dm`: it gets a chat line only it receives.
        let theirs = match member.legacy {
            true => legacy,
            false => line.clone(),
        };
        if !is_self && !member.link.push(theirs) {
            return Err(DirectError::InboxFull(member.name.clone()));
        }
        if let Some(store) = self.history().filter(|h| h.keeps_direct()) {
            // A stored direct message takes an id too, so rows never collide.
            let chat = Chat {
                encrypted: dm.encrypted,
                from: dm.from,
                text: dm.text,
                payload: dm.payload,
                id: Some(self.shared.next_chat()),
                ts: dm.ts,
                action: dm.action,
                port: None,
                sent: dm.sent,
                room: None,
                seq: None,
            };
            store.record_direct(Arc::new(chat), &dm.to);
        }
        Ok(line)
    }

    /// Cluster mode: a direct message from another node for the member
    /// called `dm.to` here; its lines are made here, like a local one's.
    pub(crate) fn deliver_direct(&self, dm: Direct) {
        let st = self.lock();
        let Some(m) = st.by_name.get(&dm.to).and_then(|id| st.members.get(&id)) else {
            // Left between the sender's lookup and now.
            tracing::info!(to = %names::sanitize(&dm.to), "cluster: a direct message from another node found nobody of that name here");
            return;
        };
        let mut packet = direct_packet(dm.to.clone(), dm.body);
        let (line, legacy) = dm_lines(&dm.from, &mut packet, dm.ts);
        if !m.link.push(if m.legacy { legacy } else { line }) {
            tracing::info!(to = %names::sanitize(&dm.to), "cluster: a direct message from another node was not delivered: the inbox is full");
        }
    }
}

/// The `dm` packet for `to` carrying `body`.
pub(crate) fn direct_packet(to: String, body: Body) -> Dm {
    Dm {
        encrypted: body.payload.is_some(),
        from: None,
        to,
        text: body.text,
        payload: body.payload,
        sent: body.sent,
        ts: None,
        action: body.action,
        seq: None,
    }
}

/// A direct message as its recipient gets it from `from` (stamped `ts`),
/// and as the Python original gets it (a chat line only it receives).
pub(crate) fn dm_lines(from: &str, dm: &mut Dm, ts: u64) -> (Bytes, Bytes) {
    dm.from = Some(from.to_string());
    dm.seq = None;
    dm.ts = Some(ts);
    let line = Packet::Dm(dm.clone()).to_line();
    let legacy = Packet::Chat(Chat {
        from: Some(format!("{from} (direct)")),
        text: dm.text.clone(),
        ts: dm.ts,
        action: dm.action,
        ..Default::default()
    })
    .to_line();
    (line, legacy)
}
