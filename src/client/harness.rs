//! What a fuzzer drives: everything the client does with the packets of a
//! server it does not trust, without sockets. The first line is taken as
//! the server's `hello` (its limits clamped and paced by, as `join` does);
//! every later line is parsed, opened as in a secure room with a fixed
//! key (refused or vouched for), and rendered for a terminal and as JSON.
//! Nothing here may panic, whatever the bytes. Used by
//! `fuzz/fuzz_targets/client_packets.rs` (coverage-guided, on a nightly
//! toolchain) and by a bounded property test that CI runs.

use std::time::Instant;

use super::replays::Replays;
use super::secure::{open_packet, Me};
use super::ui::outbox::Pacer;
use super::ui::{render, render_json, View};
use crate::crypto::RoomKey;
use crate::protocol::{parse, Packet};

/// The room key the harness opens with: fixed, so that a fuzzer's
/// dictionary of sealed payloads made with it can reach the open path.
pub(crate) fn fuzz_key() -> RoomKey {
    RoomKey::from_export_key(&[7; 64], &[1; 16])
}

/// Drive the client's handling of `data`, a server's lines.
#[doc(hidden)]
pub fn client_packets(data: &[u8]) {
    let key = fuzz_key();
    let mut me = Me::new("bob");
    let mut replays = Replays::default();
    let views = [
        View::default(),
        View {
            timestamps: true,
            color: true,
            json: false,
            bell: true,
        },
    ];
    let mut lines = data.split(|b| *b == b'\n');
    if let Some(Ok(Packet::Hello(h))) = lines.next().map(parse) {
        let limits = h.limits.map(|l| l.clamped(super::MAX_FRAME_BYTES));
        if let Some(mut p) = Pacer::for_server(limits.as_ref()) {
            let _ = p.due_at(Instant::now());
        }
    }
    for line in lines {
        let Ok(mut packet) = parse(line) else {
            continue;
        };
        if let Packet::System(s) = &packet {
            if let (Some("rename"), Some(new)) = (s.event.as_deref(), &s.new_name) {
                me.renamed(new);
            }
        }
        let _ = open_packet(&mut packet, &key, &me, &mut replays, 1_800_000_000_000);
        for v in &views {
            let _ = render(&packet, v, &me.name);
        }
        let _ = render_json(&packet, Some("#lobby"), true, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Lines a hostile server might send: real packet shapes with absurd
    /// values, spliced and mutated by proptest.
    fn seeds() -> Vec<String> {
        vec![
            r##"{"type":"hello","proto":3,"secure":true,"limits":{"messages_per_second":1e-300,"message_burst":0,"max_text_chars":0,"max_frame_bytes":0}}"##.into(),
            r##"{"type":"hello","proto":3,"limits":{"messages_per_second":1e300,"message_burst":4294967295,"max_text_chars":18446744073709551615,"max_frame_bytes":1}}"##.into(),
            r##"{"type":"chat","from":"alice","text":"\u001b[2J","ts":18446744073709551615}"##.into(),
            r##"{"type":"chat","from":"alice","payload":"AAAA","sent":18446744073709551615,"encrypted":true}"##.into(),
            r##"{"type":"dm","from":"alice","to":"bob","payload":"","sent":0}"##.into(),
            r##"{"type":"history","from":"\u202e","payload":"!!!!","sent":1,"ts":0}"##.into(),
            r##"{"type":"users","users":[{"name":"x","since":18446744073709551615}],"total":0}"##.into(),
            r##"{"type":"system","event":"rename","name":"bob","new_name":"\u0000"}"##.into(),
            r##"{"type":"rooms","rooms":[{"room":"#a","total":18446744073709551615}]}"##.into(),
            r##"{"type":"history_end","count":18446744073709551615,"more":true}"##.into(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn no_server_input_panics_the_client(
            picks in proptest::collection::vec(0usize..10, 1..8),
            cut in 0usize..400,
            noise in proptest::collection::vec(any::<u8>(), 0..64),
            at in 0usize..400,
        ) {
            let seeds = seeds();
            let mut data = Vec::new();
            for p in picks {
                data.extend_from_slice(seeds[p].as_bytes());
                data.push(b'\n');
            }
            // Mutate: splice random bytes in, cut somewhere.
            let at = at.min(data.len());
            data.splice(at..at, noise);
            data.truncate(data.len().saturating_sub(cut % 8));
            client_packets(&data);
        }
    }

    #[test]
    fn a_genuine_line_opens_in_the_harness() {
        use crate::crypto::{Kind, Sealed};
        let key = fuzz_key();
        let sent = 1_800_000_000_000;
        let what = Sealed {
            from: "alice",
            kind: Kind::Chat,
            sent,
            room: "",
        };
        let line = format!(
            "{{\"type\":\"hello\",\"proto\":3}}\n{{\"type\":\"chat\",\"from\":\"alice\",\"sent\":{sent},\"payload\":\"{}\"}}",
            key.seal("hello", &what)
        );
        client_packets(line.as_bytes());
    }
}
