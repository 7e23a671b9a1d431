//! What a secure room's login costs: the OPAQUE key exchange of
//! `tcpplay::crypto::room`, run in one process N times, timed on each side.
//! The client's share is Argon2id (on purpose: it is what a guess costs);
//! the server's is a few elliptic-curve operations.
//!
//! `cargo run --release --example secure_login [-- N]`

use std::time::{Duration, Instant};

use tcpplay::crypto::room::{ClientStart, RoomRecord, ServerStart};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let password = b"a room password";
    let started = Instant::now();
    let room = RoomRecord::register(password).expect("register");
    let register = started.elapsed();
    let (mut client, mut server) = (Vec::new(), Vec::new());
    for i in 0..n {
        let binding = [i as u8; 32];
        let t = Instant::now();
        let c = ClientStart::new(password).expect("KE1");
        let mut ct = t.elapsed();
        let t = Instant::now();
        let s = ServerStart::new(&room, &c.ke1, &binding).expect("KE2");
        let mut st = t.elapsed();
        let t = Instant::now();
        let (ke3, _key) = c.finish(password, &s.ke2, &room.id, &binding).expect("KE3");
        ct += t.elapsed();
        let t = Instant::now();
        s.finish(&ke3, &room.id, &binding).expect("login");
        st += t.elapsed();
        client.push(ct);
        server.push(st);
    }
    let med = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1000.0
    };
    println!(
        "secure room login, median of {n}: client {:.2} ms (Argon2id), server {:.3} ms; registering the room {:.1} ms",
        med(&mut client),
        med(&mut server),
        register.as_secs_f64() * 1000.0
    );
}
