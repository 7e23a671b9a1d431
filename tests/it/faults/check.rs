//! The checker: every guarantee of docs/CLUSTER.md "Guarantees" as a rule
//! over what the clients recorded (their histories), in the manner of
//! Jepsen's checkers. Each rule names the guarantee it checks; a history
//! that breaks one gives a violation that says who saw what.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use super::client::{Ev, Sent};

/// One client's history, as the checker reads it.
pub struct History {
    pub k: usize,
    pub node: String,
    pub rooms: Vec<String>,
    pub sent: Vec<Sent>,
    pub events: Vec<(Duration, Ev)>,
}

impl History {
    fn named(&self) -> Option<(Duration, &str)> {
        self.events.iter().find_map(|(t, e)| match e {
            Ev::Named(n) => Some((*t, n.as_str())),
            _ => None,
        })
    }

    fn closed_at(&self) -> Option<Duration> {
        self.events
            .iter()
            .find_map(|(t, e)| matches!(e, Ev::Closed).then_some(*t))
    }

    fn told_lost(&self) -> bool {
        self.events
            .iter()
            .any(|(_, e)| matches!(e, Ev::Bye(c) if c == "cluster_lost"))
    }

    /// Chat lines in `room` as (id, text), in the order seen.
    fn lines(&self, room: &str) -> Vec<(u64, &str)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Ev::Chat {
                    room: r, id, text, ..
                } if r == room => Some((*id, text.as_str())),
                _ => None,
            })
            .collect()
    }

    /// "A line of another server may be missing after id N" notices in
    /// `room`: (when, N).
    fn losses(&self, room: &str) -> Vec<(Duration, u64)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Ev::Notice { room: r, text } if r == room => text
                    .split("after id ")
                    .nth(1)
                    .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|n| n.parse().ok())
                    .map(|n| (*t, n)),
                _ => None,
            })
            .collect()
    }
}

/// `cK-N` → (K, N).
fn parse(text: &str) -> Option<(usize, u64)> {
    let (k, n) = text.strip_prefix('c')?.split_once('-')?;
    Some((k.parse().ok()?, n.parse().ok()?))
}

/// Every violation of the guarantees in `hs` (empty: the run was clean).
/// `end`: when the run stopped (the sessions open then were connected
/// throughout).
pub fn check(hs: &[History]) -> Vec<String> {
    let mut v = Vec::new();
    let by_k: HashMap<usize, &History> = hs.iter().map(|h| (h.k, h)).collect();
    // One order, the same ids: a line has one id everywhere, an id one line.
    let mut id_of: HashMap<(String, String), u64> = HashMap::new();
    let mut line_of: HashMap<(String, u64), String> = HashMap::new();
    for h in hs {
        for room in &h.rooms {
            let lines = h.lines(room);
            // Exactly once, ids only rise (per member, per room).
            for w in lines.windows(2) {
                if w[1].0 <= w[0].0 {
                    v.push(format!(
                        "ids only rise / exactly once: c{} in {room} saw id {} ({}) after id {} ({})",
                        h.k, w[1].0, w[1].1, w[0].0, w[0].1
                    ));
                }
            }
            // Each sender's order.
            let mut last: HashMap<usize, u64> = HashMap::new();
            for (id, text) in &lines {
                let Some((k, n)) = parse(text) else { continue };
                if let Some(prev) = last.insert(k, n) {
                    if n <= prev {
                        v.push(format!(
                            "sender's order: c{} in {room} saw c{k}-{n} after c{k}-{prev}",
                            h.k
                        ));
                    }
                }
                match by_k.get(&k).and_then(|s| s.sent.iter().find(|s| s.n == n)) {
                    Some(s) if s.room == *room => {}
                    _ => v.push(format!(
                        "nothing forged: c{} saw {text} in {room}, which c{k} did not say there",
                        h.k
                    )),
                }
                let key = (room.clone(), text.to_string());
                if let Some(other) = id_of.insert(key, *id) {
                    if other != *id {
                        v.push(format!(
                            "one id per line: {text} in {room} has ids {other} and {id}"
                        ));
                    }
                }
                if let Some(other) = line_of.insert((room.clone(), *id), text.to_string()) {
                    if other != *text {
                        v.push(format!(
                            "one line per id: id {id} in {room} is {other} and {text}"
                        ));
                    }
                }
            }
        }
    }
    completeness(hs, &id_of, &mut v);
    names(hs, &mut v);
    v
}

/// Every line that exists (someone saw it), and every line its sender
/// said and was not refused, reaches every member connected throughout —
/// or the member was told, with an id, that lines may be missing.
fn completeness(hs: &[History], id_of: &HashMap<(String, String), u64>, v: &mut Vec<String>) {
    for sender in hs {
        let refused: BTreeSet<u64> = sender
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Ev::Refused { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect();
        let sender_stayed = sender.closed_at().is_none();
        for s in &sender.sent {
            let text = format!("c{}-{}", sender.k, s.n);
            let id = id_of.get(&(s.room.clone(), text.clone())).copied();
            let expected_back = sender_stayed && !refused.contains(&s.n);
            if id.is_none() && !expected_back {
                continue; // never stored, and its sender was not there to see it
            }
            for r in hs {
                let Some((named, _)) = r.named() else {
                    continue;
                };
                if !r.rooms.contains(&s.room) || named >= s.at || r.closed_at().is_some() {
                    continue;
                }
                if r.lines(&s.room).iter().any(|(_, t)| *t == text) {
                    continue;
                }
                let excused = r
                    .losses(&s.room)
                    .iter()
                    .any(|(t, after)| *t >= s.at && id.is_none_or(|id| id > *after));
                if !excused {
                    v.push(format!(
                        "exactly once (every line arrives): c{} in {} never got {text} (id {id:?}, said at {:?}), nor was told of a loss",
                        r.k, s.room, s.at
                    ));
                }
            }
        }
    }
}

/// One owner per name: no `users` answer lists a name twice, and no two
/// members hold one name at once unless one of them was told it lost its
/// place (its server was declared gone).
fn names(hs: &[History], v: &mut Vec<String>) {
    for h in hs {
        for (_, e) in &h.events {
            if let Ev::Users { room, names } = e {
                let mut seen = BTreeSet::new();
                for n in names {
                    if !seen.insert(n.to_lowercase()) {
                        v.push(format!(
                            "one owner per name: c{}'s users of {room} lists {n} twice: {names:?}",
                            h.k
                        ));
                    }
                }
            }
        }
    }
    let mut holders: BTreeMap<String, Vec<(&History, Duration, Duration)>> = BTreeMap::new();
    for h in hs {
        if let Some((t, n)) = h.named() {
            let end = h.closed_at().unwrap_or(Duration::MAX);
            holders
                .entry(n.to_lowercase())
                .or_default()
                .push((h, t, end));
        }
    }
    for (name, hold) in holders {
        for (i, a) in hold.iter().enumerate() {
            for b in &hold[i + 1..] {
                let overlap = a.1 < b.2 && b.1 < a.2;
                if overlap && !a.0.told_lost() && !b.0.told_lost() {
                    v.push(format!(
                        "one owner per name: c{} (on {}) and c{} (on {}) both held '{name}' at once",
                        a.0.k, a.0.node, b.0.k, b.0.node
                    ));
                }
            }
        }
    }
}

/// Membership converged: each member's last `users` of each of its rooms
/// lists exactly the members connected to it at the end.
pub fn converged(hs: &[History]) -> Vec<String> {
    let mut v = Vec::new();
    let alive: Vec<&History> = hs.iter().filter(|h| h.closed_at().is_none()).collect();
    for h in &alive {
        for room in &h.rooms {
            let truth: BTreeSet<String> = alive
                .iter()
                .filter(|o| o.rooms.contains(room))
                .filter_map(|o| o.named().map(|(_, n)| n.to_string()))
                .collect();
            let last = h.events.iter().rev().find_map(|(_, e)| match e {
                Ev::Users { room: r, names } if r == room => {
                    Some(names.iter().cloned().collect::<BTreeSet<_>>())
                }
                _ => None,
            });
            if last.as_ref() != Some(&truth) {
                v.push(format!(
                    "membership converges: c{} sees {room} as {last:?}, truth {truth:?}",
                    h.k
                ));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: usize, sent: Vec<Sent>, events: Vec<(u64, Ev)>) -> History {
        History {
            k,
            node: "n1".into(),
            rooms: vec!["#r".into()],
            sent,
            events: events
                .into_iter()
                .map(|(t, e)| (Duration::from_millis(t), e))
                .collect(),
        }
    }

    fn chat(id: u64, text: &str) -> Ev {
        Ev::Chat {
            room: "#r".into(),
            id,
            text: text.into(),
        }
    }

    fn sent(n: u64, at: u64) -> Sent {
        Sent {
            room: "#r".into(),
            n,
            at: Duration::from_millis(at),
        }
    }

    #[test]
    fn the_checker_finds_each_kind_of_violation() {
        // Clean: two members, one line each way.
        let a = h(
            1,
            vec![sent(0, 10)],
            vec![
                (1, Ev::Named("c1".into())),
                (20, chat(5, "c1-0")),
                (30, chat(6, "c2-0")),
            ],
        );
        let b = h(
            2,
            vec![sent(0, 25)],
            vec![
                (2, Ev::Named("c2".into())),
                (20, chat(5, "c1-0")),
                (30, chat(6, "c2-0")),
            ],
        );
        assert_eq!(check(&[a, b]), Vec::<String>::new());
        // Twice, backwards, reordered, forged, lost, two ids, two owners.
        let a = h(
            1,
            vec![sent(0, 10), sent(1, 11)],
            vec![
                (1, Ev::Named("c1".into())),
                (20, chat(6, "c1-1")),
                (21, chat(5, "c1-0")),
                (22, chat(6, "c1-1")),
                (23, chat(7, "c9-0")),
            ],
        );
        let b = h(
            2,
            vec![],
            vec![(2, Ev::Named("C1".into())), (20, chat(8, "c1-1"))],
        );
        let found = check(&[a, b]).join("\n");
        for rule in [
            "ids only rise",
            "sender's order",
            "nothing forged",
            "one id per line",
            "every line arrives",
            "one owner per name",
        ] {
            assert!(found.contains(rule), "{rule} not found in:\n{found}");
        }
        // A loss told with its id excuses the line.
        let a = h(
            1,
            vec![sent(0, 10)],
            vec![(1, Ev::Named("c1".into())), (20, chat(5, "c1-0"))],
        );
        let b = h(
            2,
            vec![],
            vec![
                (2, Ev::Named("c2".into())),
                (
                    30,
                    Ev::Notice {
                        room: "#r".into(),
                        text: "lines said on other servers after id 4 may be missing here".into(),
                    },
                ),
            ],
        );
        assert_eq!(check(&[a, b]), Vec::<String>::new());
    }
}
