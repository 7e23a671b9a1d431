//! One-time sign-in links for the browser page: an account holder logged
//! in elsewhere (`tcpplay join`) asks for one, and the page trades it for
//! a login as that account — so the page never asks for the password and
//! the password never reaches the server from a browser. A token is 32
//! random bytes, kept only as its SHA-256, good once, for one account, for
//! ten minutes; at most 1,000 wait at a time and 8 for one account (the
//! oldest go first). Kept
//! in this server's memory: in a cluster a link signs in on the node that
//! made it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::names::name_key;

/// How long a link is good for.
pub(crate) const SIGNIN_TTL: Duration = Duration::from_secs(600);
/// Most links waiting at once.
const MAX_WAITING: usize = 1000;
/// Most links waiting for one account (its oldest go first): one holder
/// asking again and again cannot push everyone else's links out.
const PER_ACCOUNT: usize = 8;

#[derive(Default)]
pub(crate) struct Signins {
    /// SHA-256 of the token → (the account, when it stops being good).
    waiting: Mutex<HashMap<[u8; 32], (String, Instant)>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Signins {
    /// A new token for `account` (hex of 32 random bytes), in place of
    /// `replaces` when that one is waiting for the same account (a page
    /// renewing the token it keeps).
    pub(crate) fn issue(&self, account: &str, replaces: Option<&str>) -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let now = Instant::now();
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        w.retain(|_, (_, until)| *until > now);
        if let Some(old) = replaces.map(digest) {
            if w.get(&old).is_some_and(|(a, _)| a == account) {
                w.remove(&old);
            }
        }
        let mine = |w: &HashMap<[u8; 32], (String, Instant)>| {
            w.iter()
                .filter(|(_, (a, _))| a == account)
                .min_by_key(|(_, (_, until))| *until)
                .map(|(k, _)| *k)
        };
        while w.values().filter(|(a, _)| a == account).count() >= PER_ACCOUNT {
            match mine(&w) {
                Some(k) => w.remove(&k),
                None => break,
            };
        }
        while w.len() >= MAX_WAITING {
            let oldest = w
                .iter()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => w.remove(&k),
                None => break,
            };
        }
        w.insert(digest(&token), (account.to_string(), now + SIGNIN_TTL));
        token
    }

    /// Every link waiting for `account` stops working (it was dropped, or
    /// its password changed): a re-made account of the same name is not
    /// signed in by the old holder's links.
    pub(crate) fn forget(&self, account: &str) {
        let key = name_key(account);
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        w.retain(|_, (a, _)| name_key(a) != key);
    }

    /// The account `token` signs in to, when it is waiting, still good and
    /// for the name `name`; it is used up either way once presented for
    /// that account.
    pub(crate) fn redeem(&self, token: &str, name: &str) -> Option<String> {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let key = digest(token);
        let (account, until) = w.get(&key)?.clone();
        if name_key(&account) != name_key(name) {
            return None;
        }
        w.remove(&key);
        (until > Instant::now()).then_some(account)
    }
}

/// The end of a sign-in link: what follows the page's address.
pub(crate) fn fragment(token: &str, account: &str) -> String {
    format!(
        "#signin={token}&name={}",
        url::form_urlencoded::byte_serialize(account.as_bytes()).collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_signs_in_once_to_its_own_account_only() {
        let s = Signins::default();
        let t = s.issue("Ines", None);
        assert_eq!(t.len(), 64);
        assert_eq!(s.redeem(&t, "ben"), None, "another name");
        assert_eq!(s.redeem("not a token", "Ines"), None);
        assert_eq!(s.redeem(&t, "ines").as_deref(), Some("Ines"));
        assert_eq!(s.redeem(&t, "Ines"), None, "used up");
        let many: Vec<String> = (0..MAX_WAITING + 5)
            .map(|i| s.issue(&format!("a{i}"), None))
            .collect();
        assert_eq!(s.waiting.lock().unwrap().len(), MAX_WAITING);
        assert_eq!(s.redeem(&many[0], "a0"), None, "the oldest went first");
        let last = format!("a{}", MAX_WAITING + 4);
        assert!(s.redeem(&many[MAX_WAITING + 4], &last).is_some());
    }

    #[test]
    fn one_account_asking_again_and_again_pushes_out_only_its_own_links() {
        let s = Signins::default();
        let ben = s.issue("Ben", None);
        let first = s.issue("Ines", None);
        let floods: Vec<String> = (0..MAX_WAITING).map(|_| s.issue("Ines", None)).collect();
        assert_eq!(
            s.redeem(&ben, "Ben").as_deref(),
            Some("Ben"),
            "Ben's link stayed"
        );
        assert_eq!(s.redeem(&first, "Ines"), None, "her oldest went");
        assert!(s.redeem(floods.last().unwrap(), "Ines").is_some());
        let left = s.waiting.lock().unwrap().len();
        assert_eq!(left, PER_ACCOUNT - 1);
    }

    #[test]
    fn a_dropped_account_s_links_sign_in_nobody() {
        let s = Signins::default();
        let (ines, ben) = (s.issue("Ines", None), s.issue("Ben", None));
        s.forget("ines");
        assert_eq!(s.redeem(&ines, "Ines"), None);
        assert_eq!(s.redeem(&ben, "Ben").as_deref(), Some("Ben"));
    }

    #[test]
    fn an_expired_token_signs_in_nobody_and_is_used_up() {
        let s = Signins::default();
        let t = s.issue("Ines", None);
        let past = Instant::now() - Duration::from_secs(1);
        s.waiting.lock().unwrap().get_mut(&digest(&t)).unwrap().1 = past;
        assert_eq!(s.redeem(&t, "Ines"), None, "expired");
        assert!(s.waiting.lock().unwrap().is_empty(), "and gone");
    }

    #[test]
    fn a_renewed_token_replaces_the_last_of_its_own_account_only() {
        let s = Signins::default();
        let ines = s.issue("Ines", None);
        let ben = s.issue("Ben", None);
        let again = s.issue("Ines", Some(&ines));
        assert_eq!(s.redeem(&ines, "Ines"), None, "replaced");
        // Another account's token is not someone else's to replace.
        let _ = s.issue("Ines", Some(&ben));
        assert_eq!(s.redeem(&ben, "Ben").as_deref(), Some("Ben"));
        assert_eq!(s.redeem(&again, "Ines").as_deref(), Some("Ines"));
    }
}
