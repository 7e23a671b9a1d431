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

    /// Characters whose UTS #39 skeleton is one ASCII letter or digit, and
    /// that a name may hold: the confusables data, read backwards.
    fn confusables() -> std::collections::BTreeMap<char, Vec<char>> {
        let mut map: std::collections::BTreeMap<char, Vec<char>> = Default::default();
        for c in (0x80u32..0x3000).filter_map(char::from_u32) {
            let s: String =
                unicode_security::confusable_detection::skeleton(&c.to_string()).collect();
            let mut it = s.chars();
            if let (Some(t), None) = (it.next(), it.next()) {
                let usable = t.is_ascii_alphanumeric()
                    && crate::names::validate_name(&format!("a{c}")).is_ok();
                if usable {
                    map.entry(t).or_default().push(c);
                }
            }
        }
        map
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// For names made from random pairs of the confusables data, the
        /// online check (who holds a name) and the accounts' check (a name
        /// an account or operator holds) never disagree.
        #[test]
        fn the_online_check_and_the_account_check_never_disagree(
            base in "[a-zA-Z0-9]{2,8}",
            picks in proptest::collection::vec((0usize..8, 0usize..64, proptest::bool::ANY), 0..4),
            other in "[a-zA-Z0-9]{2,8}",
        ) {
            use crate::server::room::rules::Owners;
            let table = confusables();
            let mut variant: Vec<char> = base.chars().collect();
            for (at, which, upper) in picks {
                let i = at % variant.len();
                let c = if upper { variant[i].to_ascii_uppercase() } else { variant[i] };
                if let Some(alts) = table.get(&c) {
                    variant[i] = alts[which % alts.len()];
                }
            }
            let variant: String = variant.into_iter().collect();
            let d = tempfile::tempdir().unwrap();
            let accounts = crate::server::accounts::Accounts::open(
                &d.path().join("a.sqlite3"),
                crate::config::Registration::Closed,
                std::slice::from_ref(&base),
                &[],
            )
            .unwrap();
            let mut ix = NameIndex::default();
            ix.insert(&base, 1);
            for name in [&variant, &other] {
                let online = ix.holder(name).is_some();
                let account = accounts.reserved(name);
                proptest::prop_assert_eq!(online, account, "{} beside {}", name.escape_unicode(), base);
            }
            // A look-alike made from the table is one name with its base.
            proptest::prop_assert!(ix.holder(&variant).is_some(), "{}", variant.escape_unicode());
        }
    }
}
