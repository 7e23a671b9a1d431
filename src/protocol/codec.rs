//! Lines on the wire: [`FrameCodec`] splits a byte stream into bounded
//! `\n`-terminated lines, [`parse`] turns one into a [`Packet`] and tells a
//! broken peer (not a JSON object) from a malformed packet.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::Packet;

/// Why a received line is not a packet.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not UTF-8, not JSON, or not a JSON object: the peer is broken, close.
    #[error("not a JSON object line: {0}")]
    BadFrame(String),
    /// A JSON object whose fields do not fit its `type`: refuse, keep going.
    #[error("malformed packet: {0}")]
    BadPacket(String),
    /// Another protocol's opening line (HTTP, IRC): answer in its form, close.
    #[error("another protocol ({})", .0.name())]
    Foreign(super::Foreign),
}

/// Decode one frame (without its newline) into a packet.
pub fn parse(line: &[u8]) -> Result<Packet, ParseError> {
    if let Some(chat) = super::fast::parse_chat(line) {
        return Ok(chat);
    }
    match serde_json::from_slice::<Packet>(line) {
        Ok(p) => Ok(p),
        Err(e) => {
            // A well-formed object whose fields do not fit is a bad packet
            // (a string that is not Unicode text, raw or as an escape, is
            // such a field); anything else is not this protocol.
            let is_object = line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
                && serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok();
            if is_object {
                Err(ParseError::BadPacket(e.to_string()))
            } else if let Some(f) = super::Foreign::recognise(line) {
                Err(ParseError::Foreign(f))
            } else {
                Err(ParseError::BadFrame(e.to_string()))
            }
        }
    }
}

/// Errors of the framing layer.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("line longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("connection closed in the middle of a line")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into `\n`-terminated lines of at most `max` bytes.
///
/// A longer line (or a partial line growing past `max`) is an error at once:
/// the codec never buffers more than `max` bytes plus one read of a peer's data.
/// Empty (whitespace-only) lines are skipped; a trailing `\r` is removed.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max: usize,
    /// How far the buffer was already searched for `\n`.
    scanned: usize,
    /// Bytes of lines taken from the stream so far.
    consumed: u64,
}

impl FrameCodec {
    /// Bytes of lines read so far (blank lines included).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    pub fn new(max: usize) -> Self {
        FrameCodec {
            max,
            scanned: 0,
            consumed: 0,
        }
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        loop {
            let from = self.scanned.min(buf.len());
            let Some(off) = memchr::memchr(b'\n', &buf[from..]) else {
                if buf.len() > self.max {
                    return Err(FrameError::TooLong { limit: self.max });
                }
                self.scanned = buf.len();
                return Ok(None);
            };
            let end = from + off;
            self.scanned = 0;
            if end > self.max {
                return Err(FrameError::TooLong { limit: self.max });
            }
            let mut line = buf.split_to(end + 1);
            self.consumed += end as u64 + 1;
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return Ok(Some(line));
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        match self.decode(buf)? {
            Some(line) => Ok(Some(line)),
            None if buf.iter().all(|b| b.is_ascii_whitespace()) => {
                buf.clear();
                Ok(None)
            }
            None => {
                buf.clear();
                Err(FrameError::Truncated)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut FrameCodec, input: &[u8]) -> Vec<Result<Vec<u8>, String>> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(l)) => out.push(Ok(l.to_vec())),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn bad_frames_and_bad_packets_are_told_apart() {
        assert!(matches!(parse(b"not json"), Err(ParseError::BadFrame(_))));
        assert!(matches!(parse(b"[1,2]"), Err(ParseError::BadFrame(_))));
        assert!(matches!(
            parse(b"{\"type\":\"chat\""),
            Err(ParseError::BadFrame(_))
        ));
        assert!(matches!(parse(b"\xff\xfe{}"), Err(ParseError::BadFrame(_))));
        // A well-formed object with a string that is not Unicode text (an
        // escape of a lone surrogate, raw bytes that are not UTF-8): its
        // field does not fit, the session goes on.
        for lone in [
            br#"{"type":"chat","text":"\ud800"}"#.as_slice(),
            br#"{"type":"nick","name":"a\udc00b"}"#.as_slice(),
            b"{\"type\":\"chat\",\"text\":\"\xff\xfe\"}".as_slice(),
        ] {
            assert!(
                matches!(parse(lone), Err(ParseError::BadPacket(_))),
                "{lone:?}"
            );
        }
        assert!(matches!(
            parse(br#"{"text":"no type"}"#),
            Err(ParseError::BadPacket(_))
        ));
        assert!(matches!(
            parse(br#"{"type":"count","total":"x"}"#),
            Err(ParseError::BadPacket(_))
        ));
    }

    #[test]
    fn codec_splits_lines_skips_blanks_and_strips_cr() {
        let mut c = FrameCodec::new(100);
        let got = decode_all(&mut c, b"a\r\n\n  \nb\nrest");
        assert_eq!(got, vec![Ok(b"a".to_vec()), Ok(b"b".to_vec())]);
    }

    #[test]
    fn codec_refuses_long_lines_and_never_ending_partials() {
        let mut c = FrameCodec::new(4);
        assert!(decode_all(&mut c, b"12345\n")[0].is_err());
        let mut c = FrameCodec::new(4);
        assert!(decode_all(&mut c, b"123456789")[0].is_err());
        let mut c = FrameCodec::new(4);
        assert_eq!(decode_all(&mut c, b"1234\n"), vec![Ok(b"1234".to_vec())]);
    }

    #[test]
    fn codec_reports_a_truncated_last_line() {
        let mut c = FrameCodec::new(100);
        let mut buf = BytesMut::from(&b"{\"type\":"[..]);
        assert!(matches!(c.decode_eof(&mut buf), Err(FrameError::Truncated)));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::protocol::*;
    use proptest::prelude::*;

    /// Any Unicode, newlines and quotes included: framing must still hold.
    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("(?s).{0,40}").unwrap()
    }

    fn one_line(p: &Packet) -> Result<(), TestCaseError> {
        let line = p.to_line();
        prop_assert_eq!(
            line.iter().filter(|b| **b == b'\n').count(),
            1,
            "one frame, one newline"
        );
        let mut codec = FrameCodec::new(1 << 20);
        let mut buf = BytesMut::from(&line[..]);
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        prop_assert_eq!(&parse(&frame).unwrap(), p);
        Ok(())
    }

    /// The derived strategy for every packet type is deep: a debug build
    /// needs more than a test thread's stack to build it.
    #[test]
    fn every_packet_round_trips_as_one_line() {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                let mut runner = proptest::test_runner::TestRunner::default();
                if let Err(e) = runner.run(&any::<Packet>(), |p| one_line(&p)) {
                    panic!("{e}");
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    proptest! {
        #[test]
        fn texts_with_newlines_and_quotes_stay_one_line(text in text(), from in text()) {
            let chat = Chat { text: Some(text), from: Some(from), ..Default::default() };
            one_line(&Packet::Chat(chat))?;
        }

        #[test]
        fn random_bytes_never_panic_and_never_grow_the_buffer(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)
        ) {
            let max = 256;
            let mut codec = FrameCodec::new(max);
            let mut buf = BytesMut::new();
            'feed: for chunk in chunks {
                buf.extend_from_slice(&chunk);
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(line)) => {
                            prop_assert!(line.len() <= max);
                            let _ = parse(&line);
                        }
                        Ok(None) => break,
                        Err(_) => break 'feed, // the session closes here
                    }
                }
                prop_assert!(buf.len() <= max, "a partial line is bounded");
            }
        }
    }
}
