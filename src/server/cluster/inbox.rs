//! Each node run's inbox: direct messages and kicks for a member of
//! another node go there, as typed entries its node decodes and checks.

use super::{entry, Cluster, Direct, InboxEntry, INBOX_MAX};

impl Cluster {
    /// A direct message for a member of another node (its node builds the
    /// lines its member gets). False when nobody of that name is on a live
    /// node.
    pub(crate) async fn direct(&self, dm: Direct) -> bool {
        let Some(node) = self.owner(&dm.to).await else {
            return false;
        };
        self.to_inbox(&node, &InboxEntry::Direct(dm)).await
    }

    /// Ask the node of `name` to remove them. False when nobody of that
    /// name is on a live node.
    pub(crate) async fn kick(&self, name: &str, reason: &str) -> bool {
        let Some(node) = self.owner(name).await else {
            return false;
        };
        let kick = InboxEntry::Kick {
            to: name.to_string(),
            reason: reason.to_string(),
            room: None,
            by: None,
        };
        self.to_inbox(&node, &kick).await
    }

    /// Ask the node of `name` to take them out of `room`, as its operator
    /// `by` asked. False when nobody of that name is on a live node.
    pub(crate) async fn kick_from_room(
        &self,
        name: &str,
        room: &str,
        by: &str,
        reason: &str,
    ) -> bool {
        let Some(node) = self.owner(name).await else {
            return false;
        };
        let kick = InboxEntry::Kick {
            to: name.to_string(),
            reason: reason.to_string(),
            room: Some(room.to_string()),
            by: Some(by.to_string()),
        };
        self.to_inbox(&node, &kick).await
    }

    pub(super) async fn to_inbox(&self, node: &str, e: &InboxEntry) -> bool {
        let mut con = self.con();
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.keys.inbox(node))
            .arg("MAXLEN")
            .arg("~")
            .arg(INBOX_MAX)
            .arg("*");
        for (k, v) in entry::encode_inbox(e) {
            cmd.arg(k).arg(v);
        }
        cmd.query_async::<String>(&mut con).await.is_ok()
    }

    pub(super) fn inbox_entry(&self, key: &str, e: &mut entry::Entry) {
        let Some(hub) = self.hub() else { return };
        match entry::decode_inbox(e, &self.cfg.rules) {
            Ok(InboxEntry::Direct(dm)) => hub.deliver_direct(dm),
            Ok(InboxEntry::Kick {
                to,
                reason,
                room: None,
                ..
            }) => {
                hub.kick(&to, &reason);
            }
            Ok(InboxEntry::Kick {
                to,
                reason,
                room: Some(room),
                by,
            }) => {
                if let Ok(room) = hub.find(&room) {
                    let by = by.unwrap_or_else(|| "an operator".into());
                    hub.kick_from_by(&room, &to, &by, &reason);
                }
            }
            Err(why) => self.skip(key, &e.id, &why),
        }
    }
}
