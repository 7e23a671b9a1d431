//! Time the client's room-key derivation (Argon2id + HKDF) with the default
//! parameters: what a user waits for when joining a secure room.
//!
//! `cargo run --release --example kdf_time`

use std::time::Instant;

use tcpplay::crypto::{KdfParams, RoomKey};

fn main() {
    let params = KdfParams::default();
    let mut times: Vec<f64> = (0..10)
        .map(|i| {
            let t = Instant::now();
            let key = RoomKey::derive(b"a room password", &[i as u8; 16], params).expect("derive");
            drop(key);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "argon2id m={} KiB t={} p={}: min {:.1} ms, median {:.1} ms, max {:.1} ms (10 runs)",
        params.m_kib, params.t, params.p, times[0], times[5], times[9]
    );
}
