//! The chat line's hot path, by hand: every chat line is parsed once and
//! serialized once per room, so both skip serde's general machinery (the
//! internally tagged enum buffers every field before it knows the type;
//! the serializer escapes byte by byte). Both produce exactly what serde
//! does — the tests compare them on arbitrary packets — and parsing falls
//! back to serde for anything unusual, so errors read the same.

use std::borrow::Cow;

use serde::Deserialize;

use super::{Chat, Packet};

/// Append `chat` as a `chat` packet line (`\n` included), byte for byte
/// what `Packet::Chat(chat).to_line()` gives.
pub fn write_chat_line(out: &mut Vec<u8>, chat: &Chat) {
    out.extend_from_slice(b"{\"type\":\"chat\",\"encrypted\":");
    out.extend_from_slice(if chat.encrypted { b"true" } else { b"false" });
    if let Some(from) = &chat.from {
        out.extend_from_slice(b",\"from\":");
        string(out, from);
    }
    if let Some(port) = chat.port {
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
    if let Some(room) = &chat.room {
        out.extend_from_slice(b",\"room\":");
        string(out, room);
    }
    if let Some(seq) = chat.seq {
        out.extend_from_slice(b",\"seq\":");
        number(out, seq);
    }
    out.extend_from_slice(b"}\n");
}

fn number(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// A JSON string, escaped as serde_json escapes: `"`, `\` and control
/// characters (short forms where JSON has them, else `\u00XX`).
fn string(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.push(b'"');
    if !b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\') {
        out.extend_from_slice(b);
    } else {
        let mut start = 0;
        for (i, &c) in b.iter().enumerate() {
            let short = match c {
                b'"' => b'"',
                b'\\' => b'\\',
                b'\n' => b'n',
                b'\r' => b'r',
                b'\t' => b't',
                0x08 => b'b',
                0x0c => b'f',
                0..=0x1f => b'u',
                _ => continue,
            };
            out.extend_from_slice(&b[start..i]);
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
        out.extend_from_slice(&b[start..]);
    }
    out.push(b'"');
}

/// A chat packet as clients send it, borrowed from the line where its
/// strings need no unescaping.
#[derive(Deserialize)]
struct ChatIn<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    encrypted: bool,
    #[serde(borrow)]
    from: Option<Cow<'a, str>>,
    port: Option<u16>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payload: Option<Cow<'a, str>>,
    sent: Option<u64>,
    id: Option<u64>,
    ts: Option<u64>,
    #[serde(default)]
    action: bool,
    #[serde(borrow)]
    room: Option<Cow<'a, str>>,
    seq: Option<u64>,
}

/// A line that starts as a chat packet does, parsed straight into one;
/// `None` when it is anything else or anything unusual (the caller then
/// parses it the general way, which also words any error).
pub fn parse_chat(line: &[u8]) -> Option<Packet> {
    if !line.starts_with(b"{\"type\":\"chat\"") {
        return None;
    }
    let c: ChatIn = serde_json::from_slice(line).ok()?;
    if c.kind != "chat" {
        return None;
    }
    let own = |s: Option<Cow<'_, str>>| s.map(Cow::into_owned);
    Some(Packet::Chat(Chat {
        encrypted: c.encrypted,
        from: own(c.from),
        port: c.port,
        text: own(c.text),
        payload: own(c.payload),
        sent: c.sent,
        id: c.id,
        ts: c.ts,
        action: c.action,
        room: own(c.room),
        seq: c.seq,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_chat_line_is_what_serde_writes(chat: Chat) {
            let mut out = Vec::new();
            write_chat_line(&mut out, &chat);
            prop_assert_eq!(out, Packet::Chat(chat).to_line().to_vec());
        }

        #[test]
        fn a_chat_line_parses_as_serde_parses_it(chat: Chat, extra in "[ -~]{0,12}") {
            let mut line = Packet::Chat(chat.clone()).to_line().to_vec();
            line.pop();
            prop_assert_eq!(parse_chat(&line), Some(Packet::Chat(chat.clone())));
            // An unknown field is ignored by both.
            let mut odd = line.clone();
            odd.pop();
            odd.extend_from_slice(format!(",\"zz\":{}}}", serde_json::to_string(&extra).unwrap()).as_bytes());
            prop_assert_eq!(parse_chat(&odd), super::super::parse(&odd).ok());
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
        write_chat_line(&mut out, &chat);
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
