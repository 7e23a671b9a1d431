//! `/away`: a member says it is away (with why) or back. The hub keeps it
//! on the member; every room the member is in is told once (`system`
//! `away` or `back`), `users` lists it, and whoever sends the member a
//! direct message is told (`away_reply`). Kept by the member's own server:
//! in a cluster, members of other nodes are not told (docs/PROTOCOL.md).

use super::{Hub, MemberId};
use crate::protocol::Packet;

impl Hub {
    /// Member `id` is away saying `text` (`None`: back): its rooms are
    /// told, unless nothing changed. What the member itself is told
    /// besides (`None`: its rooms told it): its state, when it is in no
    /// room or nothing changed.
    pub(crate) fn set_away(&self, id: MemberId, text: Option<String>) -> Option<Packet> {
        let mut st = self.lock();
        let m = st.members.get_mut(&id)?;
        let packet = away_notice(&m.name, text.as_deref());
        if m.away == text {
            return Some(packet);
        }
        m.away = text;
        for room in &m.rooms {
            room.notice(packet.clone());
        }
        m.rooms.is_empty().then_some(packet)
    }

    /// The member called `name` (as it spells itself) and why it is away
    /// (`None`: here, or not on this server).
    pub(crate) fn away_of(&self, name: &str) -> Option<(String, String)> {
        let st = self.lock();
        let m = st.members.get(&st.by_name.get(name)?)?;
        Some((m.name.clone(), m.away.clone()?))
    }

    /// What the sender of a direct message to `name` is told when `name`
    /// is away: `system` `away_reply`.
    pub(crate) fn away_reply(&self, name: &str) -> Option<Packet> {
        let (name, text) = self.away_of(name)?;
        Some(Packet::event(
            "away_reply",
            Some(&name),
            format!("{name} is away: {text}"),
        ))
    }
}

/// What a member's rooms are told: `away` with why, or `back`.
fn away_notice(name: &str, text: Option<&str>) -> Packet {
    match text {
        Some(t) => Packet::event("away", Some(name), format!("{name} is away: {t}")),
        None => Packet::event("back", Some(name), format!("{name} is back")),
    }
}
