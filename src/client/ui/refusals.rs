//! Lines a secure room's key refused: what `join` says of them and counts.
//! A refused line is never shown as a member's words; the first of each
//! reason is said plainly (the server may be compromised), later ones are
//! counted, and the count is said when the session ends (and makes the exit
//! code 1). `--json` gets one `refused` event for each.

use std::collections::HashMap;

use crate::client::secure::Refusal;
use crate::names::sanitize;
use crate::protocol::Packet;

/// Refused lines so far, by reason (across reconnections).
#[derive(Debug, Default)]
pub struct Refusals {
    counts: HashMap<Refusal, u64>,
}

impl Refusals {
    /// Count one; the line to show, if any (`json`: always an event; else
    /// the first of its reason only).
    pub fn refused(&mut self, why: Refusal, packet: &Packet, json: bool) -> Option<String> {
        let n = self.counts.entry(why).or_default();
        *n += 1;
        let (kind, from) = claimed(packet);
        if json {
            let v = serde_json::json!({
                "event": "refused", "reason": why.code(), "kind": kind, "claimed_from": from,
            });
            return Some(super::render::json_safe(&v.to_string()));
        }
        if *n > 1 {
            return None;
        }
        let who = from
            .map(|f| format!(" ({kind} claimed to be from {})", sanitize(f)))
            .unwrap_or_default();
        Some(match why {
            Refusal::Unsealed => format!(
                "! {}{who}; not shown. Later ones are counted and said when you leave",
                why.why()
            ),
            _ => format!(
                "! refused a line{who}: {}; not shown. Later ones are counted and said when you leave",
                why.why()
            ),
        })
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// "3 not sealed, 1 replayed" (empty when none).
    pub fn summary(&self) -> String {
        Refusal::ALL
            .iter()
            .filter_map(|r| self.counts.get(r).map(|n| format!("{n} {}", r.code())))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a refused packet claimed to be: its kind and sender.
fn claimed(packet: &Packet) -> (&'static str, Option<&str>) {
    match packet {
        Packet::Chat(c) if c.action => ("action", c.from.as_deref()),
        Packet::Chat(c) => ("chat", c.from.as_deref()),
        Packet::History(c) => ("history", c.from.as_deref()),
        Packet::Dm(d) => ("direct message", d.from.as_deref()),
        _ => ("line", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Chat;

    #[test]
    fn the_first_of_each_reason_is_said_and_the_rest_counted() {
        let mut r = Refusals::default();
        let forged = Packet::Chat(Chat {
            from: Some("alice\u{1b}[2J".into()),
            ..Default::default()
        });
        let first = r.refused(Refusal::Unsealed, &forged, false).unwrap();
        assert!(first.contains("a line that was not sealed arrived in this secure room: the server may be compromised"), "{first}");
        assert!(first.contains("alice\\u{1b}[2J"), "escaped: {first}");
        assert_eq!(r.refused(Refusal::Unsealed, &forged, false), None);
        assert!(r.refused(Refusal::Replayed, &forged, false).is_some());
        let ev = r.refused(Refusal::Unsealed, &forged, true).unwrap();
        let v: serde_json::Value = serde_json::from_str(&ev).unwrap();
        assert_eq!(
            (v["event"].as_str(), v["reason"].as_str()),
            (Some("refused"), Some("unsealed"))
        );
        assert_eq!(r.total(), 4);
        assert_eq!(r.summary(), "3 unsealed, 1 replayed");
    }
}
