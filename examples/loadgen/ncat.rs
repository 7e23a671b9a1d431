//! Reading `ncat --chat` fairly: its output demultiplexed back into each
//! sender's lines.
//!
//! ncat's chat mode prefixes `<userN> ` (N: the sender's file descriptor) to
//! each *chunk it read* from a client, not to each line: under load one chunk
//! holds many lines and may end in the middle of one, whose rest arrives in a
//! later chunk — possibly after chunks from other senders. Its own notices
//! are whole lines starting `<announce> `. So a receiver must keep a partial
//! line per sender and switch senders at each prefix.
//!
//! A prefix is recognised wherever `<` starts `<userN> ` or `<announce> `:
//! ncat writes each chunk whole, so a prefix can only follow the end of the
//! previous chunk, and the load generator's texts (digits, `|`, `x`) never
//! contain `<`. Control characters are escaped by ncat; the texts have none.

use std::collections::HashMap;

use bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

/// Where the bytes being read come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Nothing read yet: a prefix must come first.
    Start,
    /// A chunk from ncat's client `<userN>`.
    User(u32),
    /// ncat's own notice, up to its newline.
    Announce,
}

/// A `tokio_util` decoder yielding each sender's lines, whole, without the
/// prefixes (ncat's notices are skipped).
#[derive(Debug)]
pub struct NcatDemux {
    source: Source,
    /// Each sender's line so far.
    partial: HashMap<u32, Vec<u8>>,
    /// Longest line accepted (a peer that never sends a newline is an error).
    max: usize,
}

impl NcatDemux {
    pub fn new(max: usize) -> NcatDemux {
        NcatDemux {
            source: Source::Start,
            partial: HashMap::new(),
            max,
        }
    }
}

/// A prefix at the start of `b`: its source and length, `Ok(None)` when `b`
/// ends before one could be told apart, `Err` when `b` starts with no prefix.
fn prefix(b: &[u8]) -> Result<Option<(Source, usize)>, ()> {
    const ANNOUNCE: &[u8] = b"<announce> ";
    const USER: &[u8] = b"<user";
    if b.len() < ANNOUNCE.len() && ANNOUNCE.starts_with(b) {
        return Ok(None);
    }
    if b.starts_with(ANNOUNCE) {
        return Ok(Some((Source::Announce, ANNOUNCE.len())));
    }
    if b.len() < USER.len() {
        return if USER.starts_with(b) {
            Ok(None)
        } else {
            Err(())
        };
    }
    if !b.starts_with(USER) {
        return Err(());
    }
    let digits = b[USER.len()..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let at = USER.len() + digits;
    match (b.get(at), b.get(at + 1)) {
        (Some(b'>'), Some(b' ')) if digits > 0 && digits <= 9 => {
            let n = std::str::from_utf8(&b[USER.len()..at])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(())?;
            Ok(Some((Source::User(n), at + 2)))
        }
        (None, _) | (Some(b'>'), None) if digits <= 9 => Ok(None),
        _ => Err(()),
    }
}

impl Decoder for NcatDemux {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> std::io::Result<Option<BytesMut>> {
        loop {
            if buf.is_empty() {
                return Ok(None);
            }
            // A notice runs to its newline, whatever it says (`<announce>
            // <user5> is disconnected.`).
            if self.source != Source::Announce && (buf[0] == b'<' || self.source == Source::Start) {
                match prefix(buf) {
                    Ok(Some((source, len))) => {
                        self.source = source;
                        buf.advance(len);
                        continue;
                    }
                    Ok(None) => return Ok(None), // wait for the rest of the prefix
                    Err(()) if self.source == Source::Start => {
                        return Err(std::io::Error::other(
                            "not ncat --chat output: it does not start with <userN> or <announce>",
                        ))
                    }
                    Err(()) => {} // a '<' inside a sender's text
                }
            }
            // This chunk's bytes run to its next possible prefix.
            let end = match self.source {
                Source::Announce => buf.len(),
                _ => {
                    let skip = usize::from(buf[0] == b'<');
                    memchr::memchr(b'<', &buf[skip..]).map_or(buf.len(), |i| i + skip)
                }
            };
            let newline = memchr::memchr(b'\n', &buf[..end]);
            let take = newline.map_or(end, |i| i + 1);
            let piece = buf.split_to(take);
            match self.source {
                Source::Announce => {
                    if newline.is_some() {
                        self.source = Source::Start;
                    }
                }
                Source::User(n) => {
                    let line = self.partial.entry(n).or_default();
                    line.extend_from_slice(&piece);
                    if line.len() > self.max {
                        return Err(std::io::Error::other(format!(
                            "<user{n}> sent a line longer than {} bytes",
                            self.max
                        )));
                    }
                    if newline.is_some() {
                        let mut whole = std::mem::take(line);
                        whole.pop();
                        return Ok(Some(BytesMut::from(&whole[..])));
                    }
                }
                Source::Start => unreachable!("a prefix was read above"),
            }
        }
    }
}

/// Every line of `stream` read `read` bytes at a time (tests).
#[cfg(test)]
pub fn demux_all(stream: &[u8], read: usize) -> Vec<Vec<u8>> {
    let mut d = NcatDemux::new(1 << 16);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in stream.chunks(read) {
        buf.extend_from_slice(piece);
        while let Some(l) = d.decode(&mut buf).unwrap() {
            out.push(l.to_vec());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cut_mid_line_and_interleaved_are_reassembled() {
        let s = b"<announce> 127.0.0.1 is connected as <user5>.\n<user5> a1\na2\na<user6> b1\nb<announce> <user7> is disconnected.\n<user5> 3\n<user6> 2\n";
        for cut in 1..s.len() {
            assert_eq!(
                demux_all(s, cut),
                vec![
                    b"a1".to_vec(),
                    b"a2".to_vec(),
                    b"b1".to_vec(),
                    b"a3".to_vec(),
                    b"b2".to_vec()
                ],
                "read {cut} bytes at a time"
            );
        }
    }
}
