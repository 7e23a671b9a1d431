//! Which renames to show. A member who shares several of our rooms is renamed
//! in each, and the server's rooms deliver to us independently: their
//! streams interleave in any order (`a: Bob→Robert, a: Robert→Bob,
//! b: Bob→Robert, …`), though each room keeps the order the server renamed
//! in. So one memory per name is not enough to say "seen already"; instead
//! we keep the renames shown, in order, and for each room how far along
//! that list it has come. A rename a room reports that is still ahead of
//! that room's place in the list was shown already (another room got there
//! first); one that is not is new: it is shown and added.
//!
//! Bounded: the list keeps the last [`KEEP`] renames and at most
//! [`MAX_ROOMS`] rooms' places (a hostile server cannot grow it).

use std::collections::{HashMap, VecDeque};

use crate::names::name_key;

/// Renames remembered (old name's key, new name's key).
const KEEP: usize = 256;

/// Rooms whose place is kept; past it, places start again at the end.
const MAX_ROOMS: usize = 1000;

#[derive(Default)]
pub(super) struct Renames {
    /// Renames shown, oldest first; `log[0]` is number `base`.
    log: VecDeque<(String, String)>,
    base: u64,
    /// For each room (its key; "" for the default room): the number of the
    /// first rename it has not reported yet.
    place: HashMap<String, u64>,
}

impl Renames {
    fn end(&self) -> u64 {
        self.base + self.log.len() as u64
    }

    /// We are now in `room` (None: the default room): renames shown before
    /// are not ahead of it.
    pub(super) fn joined(&mut self, room: Option<&str>) {
        let end = self.end();
        if self.place.len() >= MAX_ROOMS {
            self.place.clear();
        }
        self.place.insert(room_key(room), end);
    }

    /// `room` reports that `old` is now `new`: true when it was not shown yet.
    pub(super) fn first_sight(&mut self, room: Option<&str>, old: &str, new: &str) -> bool {
        let entry = (name_key(old), name_key(new));
        let end = self.end();
        let key = room_key(room);
        let from = self.place.get(&key).copied().unwrap_or(end).max(self.base);
        let skip = (from - self.base) as usize;
        if let Some(i) = self.log.iter().skip(skip).position(|e| *e == entry) {
            let at = from + i as u64;
            self.place.insert(key, at + 1);
            return false;
        }
        if self.log.len() >= KEEP {
            self.log.pop_front();
            self.base += 1;
        }
        self.log.push_back(entry);
        if self.place.len() >= MAX_ROOMS && !self.place.contains_key(&key) {
            self.place.clear();
        }
        self.place.insert(key, self.end());
        true
    }
}

fn room_key(room: Option<&str>) -> String {
    room.map(name_key).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One member renamed `n` times (Bob, Robert, Bob, …), reported by
    /// every room in order, the rooms interleaved as `order` says.
    fn shown(rooms: usize, n: usize, order: &[usize]) -> usize {
        let names = ["Bob", "Robert"];
        let mut r = Renames::default();
        let rooms: Vec<String> = (0..rooms).map(|i| format!("#r{i}")).collect();
        for room in &rooms {
            r.joined(Some(room));
        }
        let mut next = vec![0usize; rooms.len()];
        let mut count = 0;
        let mut pick = order.iter().cycle();
        while next.iter().any(|&k| k < n) {
            let mut i = *pick.next().unwrap() % rooms.len();
            while next[i] >= n {
                i = (i + 1) % rooms.len();
            }
            let k = next[i];
            next[i] += 1;
            if r.first_sight(Some(&rooms[i]), names[k % 2], names[(k + 1) % 2]) {
                count += 1;
            }
        }
        count
    }

    #[test]
    fn the_interleaving_seen_in_ci_shows_each_rename_once() {
        // a: B→R, a: R→B, b: B→R, … (what failed with one memory per name)
        assert_eq!(shown(2, 3, &[0, 0, 1, 1, 0, 1]), 3);
    }

    proptest! {
        #[test]
        fn every_interleaving_shows_each_rename_once(
            rooms in 1usize..5,
            n in 0usize..12,
            order in proptest::collection::vec(0usize..5, 1..40),
        ) {
            prop_assert_eq!(shown(rooms, n, &order), n);
        }
    }

    #[test]
    fn a_rename_back_after_joining_another_room_is_shown() {
        let mut r = Renames::default();
        r.joined(Some("#a"));
        assert!(r.first_sight(Some("#a"), "Bob", "Robert"));
        assert!(r.first_sight(Some("#a"), "Robert", "Bob"));
        // #b joined later: Bob→Robert again is a new rename, not the old one.
        r.joined(Some("#b"));
        assert!(r.first_sight(Some("#b"), "Bob", "Robert"));
        assert!(!r.first_sight(Some("#a"), "Bob", "Robert"));
    }

    #[test]
    fn a_hostile_server_cannot_grow_it() {
        let mut r = Renames::default();
        for i in 0..5000 {
            r.first_sight(Some(&format!("#r{i}")), &format!("n{i}"), &format!("m{i}"));
        }
        assert!(r.log.len() <= KEEP);
        assert!(r.place.len() <= MAX_ROOMS);
    }
}
