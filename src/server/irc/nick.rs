//! Names as IRC nicks. A tcpplay name that is a valid nick is its own
//! nick; any other (`Ann (teacher)`: spaces, parentheses, a leading digit,
//! more than the nick's length) is shown under a derived nick: its nick
//! characters, runs of others as one `_`, then `|` and four letters of a
//! hash of the whole name (`Ann_teacher|k3fa`) — valid, and stable, for the
//! same name always gives the same nick. A derived nick that would be the
//! nick of another name this connection already shows takes a longer hash,
//! so nicks stay unique on the connection (docs/PROTOCOL.md, "IRC").

use std::collections::HashMap;

use crate::names::name_key;

/// Longest nick, in characters (ISUPPORT `NICKLEN`): tcpplay's longest name.
pub(super) const NICKLEN: usize = 24;

/// Most names one connection remembers (past it, only derived nicks that
/// took a longer hash could change).
const MAX_REMEMBERED: usize = 10_000;

const SPECIAL: &str = "-_[]\\`^{}|";

/// A nick the Modern IRC rules and common clients accept: letters, digits
/// and `-_[]\`^{}|`, not starting with a digit or `-`, at most [`NICKLEN`].
pub(super) fn is_nick(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let ok = |c: char| c.is_alphanumeric() || SPECIAL.contains(c);
    s.chars().count() <= NICKLEN
        && ok(first)
        && !first.is_numeric()
        && first != '-'
        && chars.all(ok)
}

/// The derived nick of `name` with `hash_len` hash letters.
pub(super) fn derive(name: &str, hash_len: usize) -> String {
    let mut base = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || (SPECIAL.contains(c) && c != '|') {
            base.push(c);
        } else if !base.ends_with('_') {
            base.push('_');
        }
    }
    let mut base = base.trim_matches('_').to_string();
    if base.starts_with(|c: char| c.is_numeric() || c == '-') || base.is_empty() {
        base.insert(0, 'u');
    }
    let keep = NICKLEN - 1 - hash_len;
    let mut out: String = base.chars().take(keep).collect();
    out.push('|');
    out.push_str(&hash_letters(name, hash_len));
    out
}

/// `n` letters of base32 of FNV-1a (64 bits) of `name`.
fn hash_letters(name: &str, n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (0..n)
        .map(|i| ALPHABET[((h >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// The names and nicks one connection has shown, both ways.
#[derive(Default)]
pub(super) struct Nicks {
    by_nick: HashMap<String, String>,
    by_name: HashMap<String, String>,
}

impl Nicks {
    /// The nick `name` is shown under (remembered).
    pub(super) fn nick_of(&mut self, name: &str) -> String {
        if let Some(n) = self.by_name.get(name) {
            return n.clone();
        }
        if self.by_name.len() >= MAX_REMEMBERED {
            self.by_name.clear();
            self.by_nick.clear();
        }
        let mut nick = if is_nick(name) {
            name.to_string()
        } else {
            derive(name, 4)
        };
        let mut len = 4;
        while self
            .by_nick
            .get(&name_key(&nick))
            .is_some_and(|other| other != name)
        {
            len += 2;
            nick = derive(name, len.min(NICKLEN - 2));
            if len >= NICKLEN - 2 {
                break;
            }
        }
        self.by_nick.insert(name_key(&nick), name.to_string());
        self.by_name.insert(name.to_string(), nick.clone());
        nick
    }

    /// The name behind `nick` (one never shown: the nick itself).
    pub(super) fn name_of(&self, nick: &str) -> String {
        self.by_nick
            .get(&name_key(nick))
            .cloned()
            .unwrap_or_else(|| nick.to_string())
    }

    /// `name` is gone: its nick may go to someone else.
    pub(super) fn forget(&mut self, name: &str) {
        if let Some(nick) = self.by_name.remove(name) {
            self.by_nick.remove(&name_key(&nick));
        }
    }

    /// Whether a nick is shown for `name` now.
    pub(super) fn knows(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_nicks_get_a_valid_stable_unique_nick() {
        assert!(is_nick("ann") && is_nick("[bot]`x^") && is_nick("Zoë"));
        for bad in [
            "Ann (teacher)",
            "a b",
            "1abc",
            "-x",
            "a!b",
            "a@b",
            "#a",
            "",
            &"x".repeat(25),
        ] {
            assert!(!is_nick(bad), "{bad}");
            let d = derive(bad, 4);
            assert!(is_nick(&d), "{bad} -> {d}");
            assert_eq!(d, derive(bad, 4), "stable");
        }
        assert!(derive("Ann (teacher)", 4).starts_with("Ann_teacher|"));
        assert_ne!(
            derive("a b", 4),
            derive("a  b", 4),
            "the hash tells them apart"
        );
        let mut nicks = Nicks::default();
        assert_eq!(nicks.nick_of("ann"), "ann");
        let derived = nicks.nick_of("Ann (teacher)");
        assert_eq!(nicks.name_of(&derived), "Ann (teacher)");
        assert_eq!(nicks.name_of(&derived.to_uppercase()), "Ann (teacher)");
        assert_eq!(nicks.name_of("nobody"), "nobody");
        // A member who takes another's derived nick as their name: the
        // first one shown keeps it, the other gets a longer hash.
        let mut nicks = Nicks::default();
        let first = nicks.nick_of("Ann (teacher)");
        let other = nicks.nick_of(&first);
        assert_ne!(first, other);
        assert!(is_nick(&other));
        assert_eq!(nicks.name_of(&first), "Ann (teacher)");
        assert_eq!(nicks.name_of(&other), first);
    }
}
