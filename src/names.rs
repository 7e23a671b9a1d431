//! Name rules shared by server and client, and terminal-safe rendering of
//! untrusted text. Nothing from the network reaches a terminal unescaped.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest name, in Unicode scalar values.
pub(crate) const MAX_NAME_CHARS: usize = 24;

/// Names no client may take (compared case-insensitively).
pub(crate) const RESERVED: [&str; 2] = ["server", "system"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NameError {
    #[error("a name cannot be empty")]
    Empty,
    #[error("a name must be at most {MAX_NAME_CHARS} characters (this one has {0})")]
    TooLong(usize),
    #[error("a name cannot contain control or formatting characters (found {0})")]
    ControlChar(String),
    #[error("the name '{0}' is reserved (or looks like a reserved one)")]
    Reserved(String),
    #[error("a name cannot start with '{0}' (it would look like a notice from the server)")]
    Mark(char),
    #[error("a name may hold letters, digits, spaces and ASCII punctuation (UTS #39's identifier profile); {0}")]
    NotAllowed(String),
}

/// Characters a name may not start with: the marks of system lines (`***`),
/// history and direct messages (`[`), and errors (`!`).
pub(crate) const MARKS: [char; 3] = ['*', '[', '!'];

/// Split `NAME REST` where NAME may contain spaces: a name in double quotes;
/// else the longest of `known` the line starts with (case-insensitively,
/// followed by a space or the end); else the first word.
pub(crate) fn split_name<'a>(line: &'a str, known: &[String]) -> (String, &'a str) {
    let line = line.trim_start();
    if let Some(rest) = line.strip_prefix('"') {
        if let Some((name, after)) = rest.split_once('"') {
            return (name.to_string(), after.trim_start());
        }
    }
    let lower = line.to_lowercase();
    let best = known
        .iter()
        .filter(|k| {
            let k = k.to_lowercase();
            lower.starts_with(&k) && lower[k.len()..].chars().next().is_none_or(|c| c == ' ')
        })
        .max_by_key(|k| k.len());
    if let Some(k) = best {
        // Same length in bytes after lowercasing is not guaranteed for all
        // scripts: take the name's own character count from the line.
        let end = line
            .char_indices()
            .nth(k.chars().count())
            .map_or(line.len(), |(i, _)| i);
        return (line[..end].to_string(), line[end..].trim_start());
    }
    match line.split_once(' ') {
        Some((name, rest)) => (name.to_string(), rest.trim_start()),
        None => (line.to_string(), ""),
    }
}

/// Check a requested name: trimmed; 1–24 characters; no control, format
/// (bidi) or line-separator characters; not reserved. Inner spaces are allowed
/// (the Python original allowed them); `/msg` takes such names in quotes.
pub(crate) fn validate_name(raw: &str) -> Result<String, NameError> {
    use unicode_normalization::UnicodeNormalization;
    // Far too long is said before any work on it (a peer may send megabytes).
    let raw = raw.trim();
    if raw.len() > MAX_NAME_CHARS * 16 {
        return Err(NameError::TooLong(
            raw.chars().take(MAX_NAME_CHARS * 16).count(),
        ));
    }
    // One spelling per name: "josé" composed or decomposed is one name.
    let normal: String = raw.nfc().collect();
    let name = normal.as_str();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = name.chars().next().filter(|c| MARKS.contains(c)) {
        return Err(NameError::Mark(c));
    }
    if let Some(c) = name.chars().find(|&c| is_unsafe_char(c)) {
        return Err(NameError::ControlChar(c.escape_unicode().to_string()));
    }
    // Printable ASCII (spaces and punctuation) is unambiguous; anything
    // else must be Allowed by UTS #39's identifier profile.
    if let Some(why) = name
        .chars()
        .filter(|c| !(' '..='~').contains(c))
        .find_map(not_allowed)
    {
        return Err(NameError::NotAllowed(why));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong(chars));
    }
    let key = name_key(name);
    if RESERVED.iter().any(|r| name_key(r) == key) {
        return Err(NameError::Reserved(name.to_string()));
    }
    Ok(name.to_string())
}

/// Is `raw` safe to show as a name that another server already accepted
/// (a cluster's stream entry)? The checks that keep a terminal and a reader
/// from being deceived — one spelling (trimmed, NFC), within the length, no
/// control or formatting character, no mark of a server line, only
/// characters the identifier profile allows — without the work of
/// uniqueness (the skeleton), which was the accepting server's. Cheap for
/// ASCII names: it runs for every line a cluster node reads.
pub fn check_relayed_name(raw: &str) -> Result<(), NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty);
    }
    if raw.len() > MAX_NAME_CHARS * 4 || raw.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong(
            raw.chars().take(MAX_NAME_CHARS * 4).count(),
        ));
    }
    if let Some(c) = raw.chars().next().filter(|c| MARKS.contains(c)) {
        return Err(NameError::Mark(c));
    }
    if let Some(c) = raw.chars().find(|&c| is_unsafe_char(c)) {
        return Err(NameError::ControlChar(c.escape_unicode().to_string()));
    }
    if raw.trim() != raw {
        return Err(NameError::NotAllowed("it has spaces around it".into()));
    }
    if raw.is_ascii() {
        return Ok(());
    }
    if let Some(why) = raw
        .chars()
        .filter(|c| !(' '..='~').contains(c))
        .find_map(not_allowed)
    {
        return Err(NameError::NotAllowed(why));
    }
    use unicode_normalization::{is_nfc_quick, IsNormalized};
    match is_nfc_quick(raw.chars()) {
        IsNormalized::Yes => Ok(()),
        _ => Err(NameError::NotAllowed(
            "it is not in its one (NFC) spelling".into(),
        )),
    }
}

/// Longest room name, in characters, its `#` included.
pub(crate) const MAX_ROOM_CHARS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RoomNameError {
    #[error("a room name cannot be empty")]
    Empty,
    #[error("a room name must be at most {MAX_ROOM_CHARS} characters, its # included (this one has {0})")]
    TooLong(usize),
    #[error("a room name may hold letters, digits, '-', '_' and '.' only (found {0})")]
    Char(String),
    #[error("a room name must be written in one script (letters that look alike from different alphabets are refused)")]
    MixedScript,
    #[error("a room name may hold letters and digits of UTS #39's identifier profile; {0}")]
    NotAllowed(String),
}

/// Check a room name and give its one spelling: trimmed, `#` added when
/// missing, NFC, lower case; 1–31 letters, digits, `-`, `_` or `.` after the
/// `#`, in one script (no look-alike letters from another alphabet).
/// Rooms are unique by [`name_key`] of this.
pub(crate) fn room_name(raw: &str) -> Result<String, RoomNameError> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_security::MixedScript;
    let raw = raw.trim();
    if raw.len() > MAX_ROOM_CHARS * 16 {
        return Err(RoomNameError::TooLong(
            raw.chars().take(MAX_ROOM_CHARS * 16).count(),
        ));
    }
    let bare = raw.strip_prefix('#').unwrap_or(raw);
    let lower: String = bare.nfc().flat_map(char::to_lowercase).collect();
    if lower.is_empty() {
        return Err(RoomNameError::Empty);
    }
    if let Some(c) = lower
        .chars()
        .find(|&c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        let shown = match c {
            ' ' => "a space".to_string(),
            c if is_unsafe_char(c) => c.escape_unicode().to_string(),
            c => format!("'{c}'"),
        };
        return Err(RoomNameError::Char(shown));
    }
    if let Some(why) = lower.chars().find_map(not_allowed) {
        return Err(RoomNameError::NotAllowed(why));
    }
    let chars = lower.chars().count() + 1;
    if chars > MAX_ROOM_CHARS {
        return Err(RoomNameError::TooLong(chars));
    }
    if !lower.is_single_script() {
        return Err(RoomNameError::MixedScript);
    }
    Ok(format!("#{lower}"))
}

/// `base` with the suffix `-n`, shortened so the result stays within the limit.
pub(crate) fn with_suffix(base: &str, n: u32) -> String {
    let suffix = format!("-{n}");
    let keep = MAX_NAME_CHARS.saturating_sub(suffix.chars().count());
    let mut out: String = base.chars().take(keep).collect();
    out.truncate(out.trim_end().len());
    out.push_str(&suffix);
    out
}

/// The key under which names are unique: case-insensitive, compatibility
/// forms folded (full-width letters), and confusable letters taken as one
/// (the UTS #39 skeleton: Cyrillic "а" is Latin "a"), so that nobody can
/// pass for someone else. Accounts are kept under it. Whether two names are
/// one is [`NameKeys::clash`]'s question (this key alone misses a capital I).
pub(crate) fn name_key(name: &str) -> String {
    let folded: String = spaced(name).chars().flat_map(char::to_lowercase).collect();
    unmarked(unicode_security::confusable_detection::skeleton(&folded))
}

/// NFKC with every run of white space one space, trimmed: `Bob  Lee`
/// renders as `Bob Lee`, so it is that name.
fn spaced(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let nfkc: String = name.nfkc().collect();
    nfkc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A skeleton without its combining marks: `ali\u{307}ce` (a dot above an
/// i, which already has one) and `al\u{131}\u{307}ce` render as `alice`.
fn unmarked(skeleton: impl Iterator<Item = char>) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    skeleton.nfd().filter(|&c| !is_combining_mark(c)).collect()
}

/// Both keys of a name. `folded` is [`name_key`] (case folded first, then
/// the skeleton); `look` takes the skeleton first and folds case after, so
/// that a capital I, which looks like an l, is caught too (`aIice` looks
/// like `alice`, though folding case first makes it `aiice`). Two names are
/// one when either key is the same (no single key can say it: `ALICE` is
/// `alice` by case and `aIice` is `alice` by look).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameKeys {
    pub folded: String,
    pub look: String,
}

impl NameKeys {
    pub(crate) fn of(name: &str) -> NameKeys {
        // The skeleton of the lowercased skeleton: a look-alike of a capital
        // (Greek capital mu for `M`) becomes that capital, lowercased, and
        // is then compared as the small letter is (`m` looks like `rn`);
        // once alone, `a0AΜ` (with a mu) and `a0Am` were two names.
        let skeleton = |s: &str| {
            unmarked(unicode_security::confusable_detection::skeleton(s))
                .chars()
                .flat_map(char::to_lowercase)
                .collect::<String>()
        };
        NameKeys {
            folded: name_key(name),
            look: skeleton(&skeleton(&spaced(name))),
        }
    }

    /// The one notion of "the same name", for online names, accounts,
    /// operators, bans and invitations alike: two names are one when they
    /// are the same but for case, look-alike characters (UTS #39
    /// confusables, whatever their scripts), combining marks or runs of
    /// white space.
    pub(crate) fn clash(&self, other: &NameKeys) -> bool {
        self.folded == other.folded || self.look == other.look
    }

    /// Is this the name whose folded key is `key` (an account's or a ban's)?
    pub(crate) fn is_key(&self, key: &str) -> bool {
        self.folded == key || self.look == key
    }
}

/// Why a character is not allowed in a name or a room name: its UTS #39
/// identifier type, in words.
fn not_allowed(c: char) -> Option<String> {
    use unicode_security::general_security_profile::IdentifierType as T;
    use unicode_security::GeneralSecurityProfile;
    if c.identifier_allowed() {
        return None;
    }
    let what = match c.identifier_type() {
        None => "unassigned, private-use or a non-character",
        Some(T::Default_Ignorable) => "invisible (a filler or default-ignorable character)",
        Some(T::Not_Character) => "a non-character",
        Some(T::Deprecated) => "deprecated",
        Some(T::Not_NFKC) => "a compatibility form",
        Some(T::Technical) => "a technical symbol",
        Some(T::Obsolete | T::Exclusion) => "from a historic script",
        Some(T::Uncommon_Use | T::Limited_Use) => "rarely used",
        Some(T::Not_XID) => "a symbol or punctuation",
        Some(T::Inclusion | T::Recommended) => return None,
    };
    Some(format!("{} is {what}", c.escape_unicode()))
}

/// True for characters that must never reach a terminal raw: Unicode Cc
/// (controls, including ESC), Cf (format, including bidi overrides and
/// zero-width characters), and the line/paragraph separators.
pub(crate) fn is_unsafe_char(c: char) -> bool {
    c.is_control() || is_format_char(c) || c == '\u{2028}' || c == '\u{2029}'
}

/// Unicode general category Cf (Unicode 15.1).
fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891
        | 0x08E2 | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064
        | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD
        | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001
        | 0xE0020..=0xE007F)
}

/// Render untrusted text for a terminal: unsafe characters are shown escaped
/// (`\n`, `\t`, `\u{1b}`, `\u{202e}`), everything else as is. One line out.
pub(crate) fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_char(c) => {
                let _ = write!(out, "{}", c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_have_one_spelling_and_refuse_what_could_deceive() {
        assert_eq!(room_name("Help").unwrap(), "#help");
        assert_eq!(room_name(" #Général ").unwrap(), "#général");
        assert_eq!(room_name("#dev-ops_2.0").unwrap(), "#dev-ops_2.0");
        assert_eq!(room_name("#"), Err(RoomNameError::Empty));
        assert_eq!(room_name(""), Err(RoomNameError::Empty));
        assert!(matches!(room_name("a b"), Err(RoomNameError::Char(c)) if c == "a space"));
        assert!(
            matches!(room_name("#x\u{202e}y"), Err(RoomNameError::Char(c)) if c.contains("202e"))
        );
        assert!(matches!(
            room_name("#x\u{1b}[2J"),
            Err(RoomNameError::Char(_))
        ));
        assert!(matches!(room_name("#a#b"), Err(RoomNameError::Char(_))));
        assert_eq!(room_name(&"a".repeat(31)).unwrap().len(), 32);
        assert_eq!(room_name(&"a".repeat(32)), Err(RoomNameError::TooLong(33)));
        assert!(matches!(
            room_name(&"a".repeat(100_000)),
            Err(RoomNameError::TooLong(_))
        ));
        // Latin "paypal" with a Cyrillic "а" inside: two scripts.
        assert_eq!(room_name("#p\u{430}ypal"), Err(RoomNameError::MixedScript));
        // A whole name in Cyrillic is one script, but the same room as its
        // Latin look-alike (one key).
        let cyr = room_name("#\u{440}\u{430}\u{441}").unwrap();
        assert_eq!(name_key(&cyr), name_key(&room_name("#pac").unwrap()));
    }

    #[test]
    fn names_with_spaces_split_by_quotes_or_known_names() {
        let known = vec!["bob smith".to_string(), "bob".to_string()];
        assert_eq!(
            split_name("bob smith hi there", &known),
            ("bob smith".into(), "hi there")
        );
        assert_eq!(split_name("BOB hi", &known), ("BOB".into(), "hi"));
        assert_eq!(
            split_name("\"ann lee\" hello", &[]),
            ("ann lee".into(), "hello")
        );
        assert_eq!(
            split_name("carol hey you", &known),
            ("carol".into(), "hey you")
        );
        assert_eq!(split_name("dave", &[]), ("dave".into(), ""));
        assert_eq!(split_name("bobby x", &known), ("bobby".into(), "x"));
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(validate_name("  Alice ").unwrap(), "Alice");
        assert_eq!(validate_name("Jane Doe").unwrap(), "Jane Doe");
        assert_eq!(validate_name("   "), Err(NameError::Empty));
        assert_eq!(validate_name(&"x".repeat(25)), Err(NameError::TooLong(25)));
        assert!(
            validate_name(&"é".repeat(24)).is_ok(),
            "limit counts characters"
        );
        assert!(matches!(
            validate_name("a\u{1b}[31m"),
            Err(NameError::ControlChar(_))
        ));
        assert!(matches!(
            validate_name("evil\u{202e}txt"),
            Err(NameError::ControlChar(_))
        ));
        assert!(matches!(
            validate_name("Server"),
            Err(NameError::Reserved(_))
        ));
    }

    #[test]
    fn the_look_alikes_of_issue_43_are_the_same_name() {
        let same = [
            ("alice", "aIice"),
            ("Bob Lee", "B0b Lee"),
            ("lola", "IoIa"),
            ("alice", "al\u{131}\u{307}ce"),
            ("alice", "ali\u{307}ce"),
            ("Bob Lee", "Bob  Lee"),
        ];
        for (a, b) in same {
            assert!(validate_name(b).is_ok(), "{b} is a valid name");
            let same = NameKeys::of(a).clash(&NameKeys::of(b));
            assert!(same, "{a} ~ {}", b.escape_unicode());
        }
        assert!(!NameKeys::of("alice").clash(&NameKeys::of("alicia")));
        assert!(!NameKeys::of("Bob Lee").clash(&NameKeys::of("BobLee")));
    }

    #[test]
    fn look_alike_names_are_one_name_and_marks_cannot_start_one() {
        let same = [
            ("alice", "\u{430}lice"),  // Cyrillic a
            ("alice", "\u{ff41}lice"), // full-width a
            ("Alice", "ALICE"),
            ("jos\u{e9}", "jose\u{301}"), // composed, decomposed
        ];
        for (a, b) in same {
            assert_eq!(name_key(a), name_key(b), "{a} ~ {b}");
        }
        assert_ne!(name_key("alice"), name_key("alicia"));
        assert!(
            matches!(validate_name("\u{455}erver"), Err(NameError::Reserved(_))),
            "Cyrillic s"
        );
        assert!(matches!(
            validate_name("SYSTEM"),
            Err(NameError::Reserved(_))
        ));
        for marked in ["[history 12:00:00] alice", "*** bob joined", "! error"] {
            assert!(
                matches!(validate_name(marked), Err(NameError::Mark(_))),
                "{marked}"
            );
        }
        assert_eq!(
            validate_name("jose\u{301}").unwrap(),
            "jos\u{e9}",
            "stored composed"
        );
    }

    #[test]
    fn names_and_rooms_follow_the_identifier_profile() {
        for (bad, what) in [
            ("alice\u{2800}", "2800"),
            ("alice\u{e000}", "unassigned, private-use"),
            ("alice\u{378}", "unassigned"),
            ("alice\u{fdd0}", "fdd0"),
            ("\u{3164}bob", "invisible"),
            ("bob\u{115f}", "invisible"),
            ("bob\u{ffa0}", "ffa0"),
            ("party \u{1f389}", "symbol"),
        ] {
            match validate_name(bad) {
                Err(NameError::NotAllowed(why)) => assert!(why.contains(what), "{bad:?}: {why}"),
                other => panic!("{bad:?} accepted or refused otherwise: {other:?}"),
            }
        }
        for good in [
            "Jos\u{e9}",
            "Ann (teacher)",
            "o'brien",
            "stra\u{df}e",
            "\u{5f20}\u{4f1f}",
            "Jane Doe",
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        assert!(matches!(
            room_name("#\u{3164}"),
            Err(RoomNameError::NotAllowed(_))
        ));
        assert!(
            room_name("#a\u{2800}").is_err(),
            "a braille blank is not a letter"
        );
        assert!(room_name("#caf\u{e9}").is_ok());
    }

    #[test]
    fn a_relayed_name_is_checked_for_what_deceives_a_reader() {
        for ok in ["alice", "server", "Jos\u{e9}", "Jane Doe"] {
            assert_eq!(check_relayed_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            " alice",
            "*** server",
            "a\u{1b}[2J",
            "alice\u{2800}",
            "jose\u{301}",
            &"x".repeat(25),
        ] {
            assert!(check_relayed_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_capital_i_is_an_l_before_case_is_folded() {
        let alice = NameKeys::of("alice");
        for twin in ["aIice", "ALICE", "Alice", "\u{430}lice"] {
            assert!(NameKeys::of(twin).clash(&alice), "{twin}");
        }
        assert!(!NameKeys::of("alicia").clash(&alice));
        assert!(!NameKeys::of("bob").clash(&alice));
    }

    #[test]
    fn suffixes_keep_names_within_the_limit() {
        assert_eq!(with_suffix("Alice", 2), "Alice-2");
        let long = "x".repeat(24);
        let s = with_suffix(&long, 13);
        assert_eq!(s.chars().count(), 24);
        assert!(s.ends_with("-13"));
    }

    #[test]
    fn sanitize_escapes_what_a_terminal_would_obey() {
        assert_eq!(sanitize("plain é text"), "plain é text");
        assert_eq!(sanitize("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(sanitize("x\ny"), "x\\ny");
        assert_eq!(sanitize("abc\u{202e}def"), "abc\\u{202e}def");
        assert_eq!(sanitize("bell\u{7}"), "bell\\u{7}");
    }
}
