//! Fuzz the framing codec and the packet parser together, as the server uses
//! them: arbitrary bytes arrive in arbitrary chunks; nothing may panic, a
//! partial line stays bounded, and every frame that parses re-encodes to a
//! line that parses to the same packet.
//!
//! `cargo fuzz run frames` (from the repository root; see docs/LIMITS.md).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tcpplay::protocol::{parse, FrameCodec};
use tokio_util::codec::Decoder;

const MAX: usize = 1024;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size, so reads split lines everywhere.
    let Some((&step, rest)) = data.split_first() else { return };
    let step = step as usize % 64 + 1;
    let mut codec = FrameCodec::new(MAX);
    let mut buf = BytesMut::new();
    for chunk in rest.chunks(step) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(line)) => {
                    assert!(line.len() <= MAX);
                    if let Ok(p) = parse(&line) {
                        let again = p.to_line();
                        assert_eq!(parse(&again[..again.len() - 1]).ok(), Some(p));
                    }
                }
                Ok(None) => break,
                Err(_) => return, // the connection is closed here
            }
        }
        assert!(buf.len() <= MAX, "partial line bounded");
    }
    let _ = codec.decode_eof(&mut buf);
});
