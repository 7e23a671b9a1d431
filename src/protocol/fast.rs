//! The chat line's hot path, by hand: every chat line is parsed once and
//! serialized once per room, so both skip serde's general machinery (the
//! internally tagged enum buffers every field before it knows the type;
//! serde_json checks strings byte by byte). Strings are scanned eight bytes
//! at a time for what JSON must escape. Both produce exactly what serde
//! does — the tests compare them on arbitrary packets and on broken ones —
//! and parsing gives up (`None`) on anything unusual (an escape, an unknown
//! field, a number serde would refuse), so the general parser takes those
//! and errors read the same.

use super::{Chat, Packet};

/// Which form of a chat line a member gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// What the Python TCP-Playground client reads: `encrypted` always and
    /// the sender's `port` (serde's bytes exactly).
    Legacy,
    /// Clients that send `proto` (1 to 3): `encrypted` only when true (every
    /// version reads it as false when absent),
    /// no `port` (no client of these versions shows it) — 31 of a 100-byte
    /// text's 200 bytes, bytes every recipient's socket would copy.
    Compact,
    /// What the history keeps in a room's batch: the compact form without
    /// `room` (the batch's row holds it).
    Stored,
}

/// Append `chat` as a `chat` packet line (`\n` included): in the legacy
/// form byte for byte what `Packet::Chat(chat).to_line()` gives; in the
/// compact one the same without `"encrypted":false` and `port`.
pub fn write_chat_line(out: &mut Vec<u8>, chat: &Chat, form: Form) {
    match (form, chat.encrypted) {
        (Form::Legacy, false) => out.extend_from_slice(b"{\"type\":\"chat\",\"encrypted\":false"),
        (_, true) => out.extend_from_slice(b"{\"type\":\"chat\",\"encrypted\":true"),
        (Form::Compact | Form::Stored, false) => out.extend_from_slice(b"{\"type\":\"chat\""),
    }
    if let Some(from) = &chat.from {
        out.extend_from_slice(b",\"from\":");
        string(out, from);
    }
    if let (Some(port), Form::Legacy) = (chat.port, form) {
        out.extend_from_slice(b",\"port\":");
        number(out, port.into());
    }
    if let Some(text) = &chat.text {
        out.extend_from_slice(b",\"text\":");
        string(out, text);
    }
    if let Some(payload) = &chat.payload {
        out.extend_from_slice(b",\"payload\":");
        string(out, payload);
    }
    for (key, value) in [
        (&b",\"sent\":"[..], chat.sent),
        (b",\"id\":", chat.id),
        (b",\"ts\":", chat.ts),
    ] {
        if let Some(v) = value {
            out.extend_from_slice(key);
            number(out, v);
        }
    }
    if chat.action {
        out.extend_from_slice(b",\"action\":true");
    }
    if let (Some(room), false) = (&chat.room, form == Form::Stored) {
        out.extend_from_slice(b",\"room\":");
        string(out, room);
    }
    if let Some(seq) = chat.seq {
        out.extend_from_slice(b",\"seq\":");
        number(out, seq);
    }
    out.extend_from_slice(b"}\n");
}

/// Two digits per step (itoa, what serde_json itself writes numbers with).
fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Index of the first byte JSON treats specially in a string (`"`, `\\`
/// or a control character below 0x20), or `b.len()`: eight bytes per step.
fn find_special(b: &[u8]) -> usize {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    let mut i = 0;
    while i + 8 <= b.len() {
        let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
        // Each term flags the bytes it matches (and may flag bytes after
        // the first match, by a borrow): the lowest flag is a true one.
        let control = x.wrapping_sub(LO * 0x20) & !x & HI;
        let q = x ^ (LO * b'"' as u64);
        let quote = q.wrapping_sub(LO) & !q & HI;
        let s = x ^ (LO * b'\\' as u64);
        let slash = s.wrapping_sub(LO) & !s & HI;
        let m = control | quote | slash;
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b[i..]
        .iter()
        .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
        .unwrap_or(b.len() - i)
}

/// A JSON string, escaped as serde_json escapes: `"`, `\\` and control
/// characters (short forms where JSON has them, else `\u00XX`).
fn string(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.push(b'"');
    let mut start = 0;
    loop {
        let i = start + find_special(&b[start..]);
        out.extend_from_slice(&b[start..i]);
        let Some(&c) = b.get(i) else { break };
        let short = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            _ => b'u',
        };
        if short == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xf) as usize]);
        } else {
            out.push(b'\\');
            out.push(short);
        }
        start = i + 1;
    }
    out.push(b'"');
}

/// A line that starts as a chat packet does (`"type": "chat"` first), parsed
/// straight into one; `None` when it is anything else or anything unusual
/// (the caller then parses it the general way, which also words any error).
/// What it accepts, serde accepts and reads the same (the tests check).
pub fn parse_chat(line: &[u8]) -> Option<Packet> {
    const HEAD: &[u8] = b"{\"type\":\"chat\"";
    let mut p = Reader { b: line, i: 0 };
    if line.starts_with(HEAD) {
        p.i = HEAD.len();
    } else {
        // Spaced as other writers space it (Python's `json` writes
        // `{"type": "chat", ...}`).
        p.space();
        if p.byte()? != b'{' {
            return None;
        }
        for (token, separator) in [("type", Some(b':')), ("chat", None)] {
            p.space();
            if p.plain_string()? != token {
                return None;
            }
            p.space();
            if separator.is_some_and(|c| p.byte() != Some(c)) {
                return None;
            }
        }
    }
    let mut chat = Chat::default();
    let mut seen = 0u16;
    loop {
        p.space();
        match p.byte()? {
            b'}' => break,
            b',' => {}
            _ => return None,
        }
        p.space();
        let key = p.plain_string()?;
        p.space();
        if p.byte()? != b':' {
            return None;
        }
        p.space();
        // A field seen twice is refused by serde: left to it.
        let mut first = |bit: u16| (seen & bit == 0).then(|| seen |= bit);
        match key {
            "encrypted" => (first(1)?, chat.encrypted = p.boolean()?),
            "from" => (first(2)?, chat.from = p.or_null(Reader::owned_string)?),
            "port" => (
                first(4)?,
                chat.port = match p.or_null(Reader::number)? {
                    Some(n) => Some(u16::try_from(n).ok()?),
                    None => None,
                },
            ),
            "text" => (first(8)?, chat.text = p.or_null(Reader::owned_string)?),
            "payload" => (first(16)?, chat.payload = p.or_null(Reader::owned_string)?),
            "sent" => (first(32)?, chat.sent = p.or_null(Reader::number)?),
            "id" => (first(64)?, chat.id = p.or_null(Reader::number)?),
            "ts" => (first(128)?, chat.ts = p.or_null(Reader::number)?),
            "action" => (first(256)?, chat.action = p.boolean()?),
            "room" => (first(512)?, chat.room = p.or_null(Reader::owned_string)?),
            "seq" => (first(1024)?, chat.seq = p.or_null(Reader::number)?),
            _ => return None, // `type` again, or a field serde would skip
        };
    }
    p.space();
    (p.i == line.len()).then_some(Packet::Chat(chat))
}

/// A cursor over a line, for [`parse_chat`]: each method reads one JSON
/// token or gives up.
struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters, valid UTF-8.
    fn plain_string(&mut self) -> Option<&'a str> {
        if self.byte()? != b'"' {
            return None;
        }
        let rest = &self.b[self.i..];
        let end = find_special(rest);
        if rest.get(end) != Some(&b'"') {
            return None;
        }
        self.i += end + 1;
        std::str::from_utf8(&rest[..end]).ok()
    }

    fn owned_string(&mut self) -> Option<String> {
        self.plain_string().map(str::to_owned)
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let found = self.b[self.i..].starts_with(word);
        if found {
            self.i += word.len();
        }
        found
    }

    fn boolean(&mut self) -> Option<bool> {
        if self.literal(b"true") {
            Some(true)
        } else if self.literal(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// `null`, or what `value` reads.
    fn or_null<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.literal(b"null") {
            Some(None)
        } else {
            value(self).map(Some)
        }
    }

    /// A non-negative integer as JSON writes it (no sign, fraction,
    /// exponent or leading zero: serde refuses those for an integer field,
    /// or reads them otherwise), fitting a u64.
    fn number(&mut self) -> Option<u64> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.b[start] == b'0';
        let more = matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !more).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Change (`how` 0), add (1) or remove (2) the byte at `at`.
    fn break_one_byte(line: &mut Vec<u8>, at: prop::sample::Index, byte: u8, how: u8) {
        let i = at.index(line.len());
        match how {
            0 => line[i] = byte,
            1 => line.insert(i, byte),
            _ => {
                line.remove(i);
            }
        }
    }

    proptest! {
        #[test]
        fn the_chat_line_is_what_serde_writes(chat: Chat) {
            let mut out = Vec::new();
            write_chat_line(&mut out, &chat, Form::Legacy);
            prop_assert_eq!(out, Packet::Chat(chat).to_line().to_vec());
        }

        /// The compact form is the legacy one without `"encrypted":false`
        /// and `port`, and reads back as the same chat without its port.
        #[test]
        fn the_compact_chat_line_is_the_legacy_one_without_two_fields(chat: Chat) {
            let mut out = Vec::new();
            write_chat_line(&mut out, &chat, Form::Compact);
            let without = Chat { port: None, ..chat.clone() };
            let mut legacy = Packet::Chat(without.clone()).to_line().to_vec();
            if !chat.encrypted {
                let at = b"{\"type\":\"chat\"".len();
                legacy.drain(at..at + b",\"encrypted\":false".len());
            }
            prop_assert_eq!(&out, &legacy);
            let back = crate::protocol::codec::parse(&out[..out.len() - 1]).unwrap();
            prop_assert_eq!(back, Packet::Chat(without.clone()));
            // The history's form: the compact one of the line without its room.
            let mut stored = Vec::new();
            write_chat_line(&mut stored, &chat, Form::Stored);
            let mut roomless = Vec::new();
            write_chat_line(&mut roomless, &Chat { room: None, ..without }, Form::Compact);
            prop_assert_eq!(stored, roomless);
        }

        #[test]
        fn a_chat_line_parses_as_serde_parses_it(chat: Chat, extra in "[ -~]{0,12}") {
            let mut line = Packet::Chat(chat.clone()).to_line().to_vec();
            line.pop();
            // Taken by the fast parser unless a string has an escape (then
            // left to serde); read as serde reads it either way.
            let plain = [&chat.from, &chat.text, &chat.payload, &chat.room]
                .into_iter()
                .flatten()
                .all(|s| find_special(s.as_bytes()) == s.len());
            let fast = parse_chat(&line);
            prop_assert_eq!(fast.is_some(), plain);
            if plain {
                prop_assert_eq!(fast, Some(Packet::Chat(chat.clone())));
            }
            prop_assert_eq!(super::super::parse(&line).ok(), Some(Packet::Chat(chat.clone())));
            // Spaced and indented (as Python's `json` or a pretty printer
            // writes): the same.
            let pretty = serde_json::to_vec_pretty(&Packet::Chat(chat.clone())).unwrap();
            prop_assert_eq!(parse_chat(&pretty).is_some(), plain);
            if plain {
                prop_assert_eq!(parse_chat(&pretty), Some(Packet::Chat(chat.clone())));
            }
            // An unknown field: left to serde, which ignores it.
            let mut odd = line.clone();
            odd.pop();
            odd.extend_from_slice(format!(",\"zz\":{}}}", serde_json::to_string(&extra).unwrap()).as_bytes());
            prop_assert_eq!(parse_chat(&odd), None);
            prop_assert_eq!(super::super::parse(&odd).ok(), Some(Packet::Chat(chat)));
        }

        /// A chat line with a byte changed, inserted or removed: whatever
        /// the fast parser accepts, serde accepts and reads the same.
        #[test]
        fn a_broken_chat_line_is_read_as_serde_reads_it_or_left_to_serde(
            chat: Chat,
            at: prop::sample::Index,
            byte: u8,
            how in 0..3u8,
        ) {
            let mut line = Packet::Chat(chat).to_line().to_vec();
            line.pop();
            break_one_byte(&mut line, at, byte, how);
            if let Some(fast) = parse_chat(&line) {
                prop_assert_eq!(Some(fast), serde_json::from_slice::<Packet>(&line).ok());
            }
        }

        /// The same on lines the fast parser would take before the change.
        #[test]
        fn a_broken_plain_chat_line_is_read_as_serde_reads_it_or_left_to_serde(
            mut chat: Chat,
            text in "[ -~]{0,24}",
            from in proptest::option::of("[a-z0-9_]{1,8}"),
            at: prop::sample::Index,
            byte: u8,
            how in 0..3u8,
        ) {
            chat.text = Some(text.replace(['"', '\\'], ""));
            chat.from = from;
            chat.payload = None;
            chat.room = None;
            let mut line = Packet::Chat(chat).to_line().to_vec();
            line.pop();
            prop_assert!(parse_chat(&line).is_some());
            break_one_byte(&mut line, at, byte, how);
            if let Some(fast) = parse_chat(&line) {
                prop_assert_eq!(Some(fast), serde_json::from_slice::<Packet>(&line).ok());
            }
        }

        #[test]
        fn the_special_byte_scan_finds_what_a_plain_loop_finds(b: Vec<u8>) {
            let plain = b.iter().position(|&c| c < 0x20 || c == b'"' || c == b'\\').unwrap_or(b.len());
            prop_assert_eq!(find_special(&b), plain);
        }
    }

    /// Lines serde refuses or reads differently from the obvious: the fast
    /// parser leaves each to serde (`None`), and what it does accept,
    /// serde reads the same.
    #[test]
    fn the_fast_parser_gives_serde_what_it_is_unsure_of() {
        let left = [
            &br#"{"type":"chat","text":"a\"b"}"#[..],
            br#"{"type":"chat","text":"tab	here"}"#,
            br#"{"type":"chat","te\u0078t":"x"}"#,
            br#"{"type":"chat","text":"x","text":"y"}"#,
            br#"{"type":"chat","zz":1,"text":"x"}"#,
            br#"{"type":"chat","id":01}"#,
            br#"{"type":"chat","id":-1}"#,
            br#"{"type":"chat","id":1.0}"#,
            br#"{"type":"chat","id":1e3}"#,
            br#"{"type":"chat","id":18446744073709551616}"#,
            br#"{"type":"chat","port":65536}"#,
            br#"{"type":"chat","encrypted":null}"#,
            br#"{"type":"chat","action":1}"#,
            br#"{"type":"chat","text":"x"} x"#,
            br#"{"type":"chat","text":"x",}"#,
            br#"{"type":"chat","text":"x""#,
            br#"{"type":"chat","text":x}"#,
            br#"{"type":"chat","encrypted":truex}"#,
            br#"{"type":"chatter","text":"x"}"#,
            br#"{"type":"ch\u0061t","text":"x"}"#,
            br#"{"text":"x","type":"chat"}"#,
            br#"{"type" "chat","text":"x"}"#,
            b"{\"type\":\"chat\",\"text\":\"\xff\"}",
        ];
        for line in left {
            assert_eq!(parse_chat(line), None, "{}", String::from_utf8_lossy(line));
        }
        let taken = [
            &br#"{"type":"chat","text":"hi"}"#[..],
            br#" { "type" : "chat", "encrypted": false, "text": "spaced"} "#,
            b"{\"type\":\"chat\" , \"encrypted\" : false ,\"text\":\"h\xc3\xa9\",\"seq\":0}  ",
            b"{\"type\":\"chat\",\r\n\t\"text\":null,\"port\":65535,\"id\":18446744073709551615}",
            br#"{"type":"chat","encrypted":true,"payload":"AAAA","sent":17,"action":true,"room":"ops"}"#,
            br#"{"type":"chat"}"#,
        ];
        for line in taken {
            let fast = parse_chat(line);
            assert!(fast.is_some(), "{}", String::from_utf8_lossy(line));
            assert_eq!(fast, serde_json::from_slice::<Packet>(line).ok());
        }
    }

    #[test]
    fn escapes_match_serde_and_odd_lines_fall_back() {
        let text = "quote \" slash \\ nl \n tab \t nul \u{0} bell \u{7} del \u{7f} é 🎉 \u{2028}";
        let chat = Chat {
            text: Some(text.into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        write_chat_line(&mut out, &chat, Form::Legacy);
        assert_eq!(out, Packet::Chat(chat).to_line().to_vec());
        for odd in [
            &br#"{"type":"chat","type":"dm","text":"x"}"#[..],
            br#"{"type":"chat","text":5}"#,
            br#"{"type":"chatter","text":"x"}"#,
            br#"{"text":"x","type":"chat"}"#,
        ] {
            assert_eq!(parse_chat(odd), None, "{}", String::from_utf8_lossy(odd));
        }
    }
}
