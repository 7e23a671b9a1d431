//! Fuzz the IRC line parser as the IRC listener uses it: any bytes are a
//! message or a refusal, never a panic, and every message that parses
//! serializes to a line that parses to the same message.
//!
//! `cargo fuzz run irc_lines` (from the repository root; see docs/LIMITS.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpplay::protocol::irc::{parse, MAX_PARAMS};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = parse(data) else { return };
    assert!(m.params.len() <= MAX_PARAMS);
    let line = m.to_line();
    assert_eq!(parse(line.trim_end_matches("\r\n").as_bytes()), Ok(m));
});
