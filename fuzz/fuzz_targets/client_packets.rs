//! Fuzz the client's handling of a server it does not trust: the hello's
//! limits, every packet opened as in a secure room, rendered for a terminal
//! and as JSON. Nothing may panic (`tcpplay::client::harness`).
//!
//! `cargo +nightly fuzz run client_packets` (from the repository root). CI,
//! on the stable toolchain only, runs the same harness under a bounded
//! property test (`client::harness::tests`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tcpplay::client::harness::client_packets(data);
});
