//! One IRC line as the Modern IRC documents and IRCv3's message-tags
//! specification define it: `@tags :prefix COMMAND params :trailing`.
//! The IRC listener (`server::irc`) reads every line a client sends through
//! [`parse`] and writes every line it answers with [`Message::to_line`], so
//! nothing an IRC client sends reaches the rooms unparsed.
//!
//! What is refused, and why (docs/PROTOCOL.md, "IRC"): a line of more than
//! [`MAX_BODY`] bytes without its tags or [`MAX_TAGS`] of tags, a NUL or a
//! `\r` inside it, bytes that are not UTF-8 (refused, never replaced: a
//! replaced line would say something its sender did not), no command, a
//! command that is neither letters nor three digits, more than
//! [`MAX_PARAMS`] parameters.

use std::fmt::Write as _;

/// Bytes of a line without its tags, its line end included (Modern IRC).
pub const MAX_BODY: usize = 512;
/// Bytes of a line's tags, the `@` and the space after them included
/// (IRCv3 message-tags: 4,094 from a client, 8,191 in all).
pub const MAX_TAGS: usize = 4096;
/// Most parameters a message carries (RFC 1459's 15).
pub const MAX_PARAMS: usize = 15;

/// One IRC message. Tag values are unescaped; a tag without a value and
/// one with an empty value are the same (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub tags: Vec<(String, Option<String>)>,
    pub prefix: Option<String>,
    /// Upper-case letters, or three digits.
    pub command: String,
    pub params: Vec<String>,
}

/// Why a line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// Nothing but spaces.
    Empty,
    /// Over [`MAX_BODY`] bytes without the tags, or [`MAX_TAGS`] of tags.
    TooLong,
    /// A NUL byte, a `\n`, or a `\r` that does not end the line.
    Control,
    /// Bytes that are not UTF-8.
    NotUtf8,
    /// No command, or one that is neither letters nor three digits.
    BadCommand,
    /// More than [`MAX_PARAMS`] parameters.
    TooManyParams,
    /// A tag with an empty key.
    BadTag,
}

impl LineError {
    /// In words, for the NOTICE that refuses the line.
    pub fn explain(self) -> &'static str {
        match self {
            LineError::Empty => "the line is empty",
            LineError::TooLong => {
                "the line is longer than 512 bytes (plus 4096 bytes of tags): split it"
            }
            LineError::Control => "the line holds a NUL or a carriage return inside it",
            LineError::NotUtf8 => "the line is not UTF-8 text: set your client's encoding to UTF-8",
            LineError::BadCommand => "the line has no command (letters, or three digits)",
            LineError::TooManyParams => "the line has more than 15 parameters",
            LineError::BadTag => "the line has a tag without a name",
        }
    }
}

/// Parse one line, without its line end (a trailing `\r` is taken off).
pub fn parse(line: &[u8]) -> Result<Message, LineError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(LineError::Control);
    }
    let (tags, body) = split_tags(line)?;
    if body.len() + 2 > MAX_BODY {
        return Err(LineError::TooLong);
    }
    let body = std::str::from_utf8(body).map_err(|_| LineError::NotUtf8)?;
    let tags = match tags {
        Some(t) => parse_tags(std::str::from_utf8(t).map_err(|_| LineError::NotUtf8)?)?,
        None => Vec::new(),
    };
    let mut rest = body.trim_start_matches(' ');
    let mut prefix = None;
    if let Some(p) = rest.strip_prefix(':') {
        let (p, r) = p.split_once(' ').unwrap_or((p, ""));
        prefix = Some(p.to_string());
        rest = r.trim_start_matches(' ');
    }
    if rest.is_empty() && prefix.is_none() && tags.is_empty() {
        return Err(LineError::Empty);
    }
    let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let three_digits = command.len() == 3 && command.bytes().all(|b| b.is_ascii_digit());
    if command.is_empty() || !(three_digits || command.bytes().all(|b| b.is_ascii_alphabetic())) {
        return Err(LineError::BadCommand);
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing.to_string());
            break;
        }
        let (p, r) = rest.split_once(' ').unwrap_or((rest, ""));
        params.push(p.to_string());
        rest = r;
    }
    if params.len() > MAX_PARAMS {
        return Err(LineError::TooManyParams);
    }
    Ok(Message {
        tags,
        prefix,
        command: command.to_ascii_uppercase(),
        params,
    })
}

/// The tags (without `@`) and the rest of the line.
fn split_tags(line: &[u8]) -> Result<(Option<&[u8]>, &[u8]), LineError> {
    let Some(after) = line.strip_prefix(b"@") else {
        return Ok((None, line));
    };
    let end = after.iter().position(|&b| b == b' ').unwrap_or(after.len());
    if end + 2 > MAX_TAGS {
        return Err(LineError::TooLong);
    }
    Ok((
        Some(&after[..end]),
        after.get(end + 1..).unwrap_or_default(),
    ))
}

fn parse_tags(raw: &str) -> Result<Vec<(String, Option<String>)>, LineError> {
    let mut tags: Vec<(String, Option<String>)> = Vec::new();
    for item in raw.split(';').filter(|i| !i.is_empty()) {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k, Some(unescape(v)).filter(|v| !v.is_empty())),
            None => (item, None),
        };
        if key.is_empty() || key == "+" {
            return Err(LineError::BadTag);
        }
        // A key given twice: the last value counts (message-tags).
        tags.retain(|(k, _)| k != key);
        tags.push((key.to_string(), value));
    }
    Ok(tags)
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn escape(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

impl Message {
    /// A message from `prefix` (none: from the client).
    pub fn new(prefix: Option<&str>, command: &str, params: Vec<String>) -> Message {
        Message {
            tags: Vec::new(),
            prefix: prefix.map(str::to_string),
            command: command.to_string(),
            params,
        }
    }

    /// With a tag added.
    pub fn tag(mut self, key: &str, value: Option<String>) -> Message {
        self.tags.push((key.to_string(), value));
        self
    }

    /// The `n`th parameter, if there is one.
    pub fn param(&self, n: usize) -> Option<&str> {
        self.params.get(n).map(String::as_str)
    }

    /// The line, with its CRLF. The last parameter is written as a trailing
    /// one when it must be (empty, holding a space, or starting with `:`);
    /// the others never hold those (the listener only makes such messages).
    pub fn to_line(&self) -> String {
        let mut out = String::with_capacity(64);
        if !self.tags.is_empty() {
            out.push('@');
            for (i, (k, v)) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                out.push_str(k);
                if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    out.push('=');
                    escape(v, &mut out);
                }
            }
            out.push(' ');
        }
        if let Some(p) = &self.prefix {
            let _ = write!(out, ":{p} ");
        }
        out.push_str(&self.command);
        let last = self.params.len().saturating_sub(1);
        for (i, p) in self.params.iter().enumerate() {
            out.push(' ');
            if i == last && (p.is_empty() || p.contains(' ') || p.starts_with(':')) {
                out.push(':');
            }
            out.push_str(p);
        }
        out.push_str("\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Message {
        parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn the_parts_of_a_line_are_read_as_the_specifications_write_them() {
        let m = p("@time=2026-01-01T00:00:00.000Z;+draft/x=a\\sb\\:c :nick!u@h PRIVMSG #room :hello there ");
        assert_eq!(
            m.tags,
            vec![
                ("time".into(), Some("2026-01-01T00:00:00.000Z".into())),
                ("+draft/x".into(), Some("a b;c".into()))
            ]
        );
        assert_eq!(m.prefix.as_deref(), Some("nick!u@h"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#room", "hello there "]);
        // Lower case commands, runs of spaces, an empty trailing.
        let m = p("privmsg   #a   :");
        assert_eq!(
            (m.command.as_str(), m.params.clone()),
            ("PRIVMSG", vec!["#a".into(), String::new()])
        );
        let m = p("USER a 0 * ::colon first\r");
        assert_eq!(m.params, vec!["a", "0", "*", ":colon first"]);
        assert_eq!(p("001 x").command, "001");
        assert_eq!(
            p("@a;b=;c=\\ PING").tags,
            vec![("a".into(), None), ("b".into(), None), ("c".into(), None)]
        );
    }

    #[test]
    fn bad_lines_are_refused_each_with_its_reason() {
        let long = format!("PRIVMSG #a :{}", "x".repeat(500));
        assert_eq!(parse(long.as_bytes()), Err(LineError::TooLong));
        let ok = format!("PRIVMSG #a :{}", "x".repeat(510 - 12));
        assert!(parse(ok.as_bytes()).is_ok());
        let tags = format!("@a={} PING x", "t".repeat(4100));
        assert_eq!(parse(tags.as_bytes()), Err(LineError::TooLong));
        let tags = format!("@a={} PING x", "t".repeat(4000));
        assert!(parse(tags.as_bytes()).is_ok());
        assert_eq!(parse(b"PRIVMSG #a :a\0b"), Err(LineError::Control));
        assert_eq!(parse(b"PRIVMSG #a :a\rb"), Err(LineError::Control));
        assert_eq!(parse(b"PRIVMSG #a :\xff\xfe"), Err(LineError::NotUtf8));
        assert_eq!(parse(b"   "), Err(LineError::Empty));
        assert_eq!(parse(b""), Err(LineError::Empty));
        assert_eq!(parse(b":only.prefix"), Err(LineError::BadCommand));
        assert_eq!(parse(b"PRIV-MSG x"), Err(LineError::BadCommand));
        assert_eq!(parse(b"12 x"), Err(LineError::BadCommand));
        assert_eq!(parse(b"@=x PING"), Err(LineError::BadTag));
        let many = format!("X{}", " a".repeat(16));
        assert_eq!(parse(many.as_bytes()), Err(LineError::TooManyParams));
    }

    #[test]
    fn serialized_lines_are_what_clients_expect() {
        let m = Message::new(
            Some("srv"),
            "001",
            vec!["ann".into(), "Welcome to tcpplay".into()],
        )
        .tag("time", Some("a b;c".into()));
        assert_eq!(
            m.to_line(),
            "@time=a\\sb\\:c :srv 001 ann :Welcome to tcpplay\r\n"
        );
        assert_eq!(
            Message::new(None, "PING", vec!["x".into()]).to_line(),
            "PING x\r\n"
        );
        assert_eq!(
            Message::new(None, "X", vec![":y".into()]).to_line(),
            "X ::y\r\n"
        );
    }

    fn word() -> impl Strategy<Value = String> {
        "[^ \r\n\0:][^ \r\n\0]{0,8}"
    }

    fn message() -> impl Strategy<Value = Message> {
        (
            prop::collection::vec(
                ("[+]?[a-z][a-z/.-]{0,6}", prop::option::of("[^\0]{1,8}")),
                0..3,
            ),
            prop::option::of("[a-z]{1,5}(![a-z]{1,3}@[a-z.]{1,6})?"),
            prop_oneof!["[A-Z]{1,8}", "[0-9]{3}"],
            prop::collection::vec(word(), 0..5),
            prop::option::of("[^\r\n\0]{0,20}"),
        )
            .prop_map(|(tags, prefix, command, mut params, trailing)| {
                let mut seen = std::collections::HashSet::new();
                let tags = tags
                    .into_iter()
                    .filter(|(k, _)| seen.insert(k.clone()))
                    .collect();
                params.extend(trailing);
                Message {
                    tags,
                    prefix,
                    command,
                    params,
                }
            })
    }

    proptest! {
        #[test]
        fn any_bytes_are_parsed_or_refused_never_a_panic(bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(b' '), Just(b':'), Just(b'@'), Just(b';'), Just(b'='), Just(b'\\'), Just(b'a')], 0..700)) {
            if let Ok(m) = parse(&bytes) {
                prop_assert!(m.params.len() <= MAX_PARAMS);
                prop_assert!(!m.command.is_empty());
                let line = m.to_line();
                prop_assert_eq!(parse(line.trim_end_matches("\r\n").as_bytes()), Ok(m));
            }
        }

        #[test]
        fn parse_of_serialize_is_the_message(m in message()) {
            let line = m.to_line();
            let back = parse(line.trim_end_matches("\r\n").as_bytes());
            prop_assert_eq!(back, Ok(m));
        }
    }
}
