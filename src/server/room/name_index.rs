//! Who holds which name on this server, under both of a name's keys (see
//! [`crate::names::NameKeys`]): a name is taken when either key is held by
//! another member, so `ALICE` is `alice`'s and so is `aIice` (a capital I).
//! Members are found by the folded key (what people type).

use std::collections::HashMap;

use super::MemberId;
use crate::names::NameKeys;

#[derive(Debug, Default)]
pub(crate) struct NameIndex {
    folded: HashMap<String, MemberId>,
    look: HashMap<String, MemberId>,
}

impl NameIndex {
    /// Who holds `name`, or a name that looks like it.
    pub(crate) fn holder(&self, name: &str) -> Option<MemberId> {
        let k = NameKeys::of(name);
        self.folded
            .get(&k.folded)
            .or_else(|| self.look.get(&k.look))
            .copied()
    }

    /// The member called `name` (case-insensitively, look-alikes folded).
    pub(crate) fn get(&self, name: &str) -> Option<MemberId> {
        self.folded
            .get(&crate::names::name_key(name.trim()))
            .copied()
    }

    pub(crate) fn insert(&mut self, name: &str, id: MemberId) {
        let k = NameKeys::of(name);
        self.folded.insert(k.folded, id);
        self.look.insert(k.look, id);
    }

    /// Forget `name`, if `id` holds it.
    pub(crate) fn remove(&mut self, name: &str, id: MemberId) {
        let k = NameKeys::of(name);
        if self.folded.get(&k.folded) == Some(&id) {
            self.folded.remove(&k.folded);
        }
        if self.look.get(&k.look) == Some(&id) {
            self.look.remove(&k.look);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_taken_by_its_case_and_by_its_look() {
        let mut ix = NameIndex::default();
        ix.insert("alice", 1);
        assert_eq!(ix.holder("ALICE"), Some(1));
        assert_eq!(ix.holder("aIice"), Some(1), "a capital I looks like an l");
        assert_eq!(ix.holder("\u{430}lice"), Some(1), "Cyrillic a");
        assert_eq!(ix.holder("alicia"), None);
        assert_eq!(ix.get("Alice"), Some(1));
        ix.remove("alice", 2);
        assert_eq!(ix.holder("alice"), Some(1), "only its holder frees it");
        ix.remove("alice", 1);
        assert_eq!(ix.holder("aIice"), None);
    }
}
