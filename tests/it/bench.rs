//! The benchmark reads its peers fairly: `ncat --chat` output (a prefix per
//! read chunk, not per line) reassembles into each sender's lines — from a
//! capture of the real ncat, and live against it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio_util::codec::Decoder;

#[path = "../../examples/loadgen/ncat.rs"]
#[allow(dead_code)]
mod ncat;

use ncat::{demux_all, NcatDemux};

/// Sender and sequence number of a load line `SSSSS|NNNNNNNNN|…|xxx`, and
/// whether it is whole (`len` bytes, padding intact).
fn id(line: &[u8], len: usize) -> (u32, u32, bool) {
    let s = std::str::from_utf8(line).expect("ASCII");
    let mut f = s.splitn(4, '|');
    let sender = f.next().unwrap().parse().expect("sender");
    let seq = f.next().unwrap().parse().expect("seq");
    f.next();
    let whole = line.len() == len && f.next().unwrap().bytes().all(|b| b == b'x');
    (sender, seq, whole)
}

/// Every sender's lines arrived whole and in order, `per_sender` each.
fn assert_reassembled(lines: &[Vec<u8>], senders: u32, per_sender: u32, len: usize) {
    let mut next: HashMap<u32, u32> = HashMap::new();
    for l in lines {
        let (s, n, whole) = id(l, len);
        assert!(whole, "cut or altered: {:?}", String::from_utf8_lossy(l));
        let want = next.entry(s).or_default();
        assert_eq!(n, *want, "sender {s} out of order");
        *want += 1;
    }
    assert_eq!(next.len(), senders as usize, "{next:?}");
    assert!(next.values().all(|n| *n == per_sender), "{next:?}");
}

#[test]
fn a_captured_chunked_ncat_stream_reassembles_to_the_original_lines() {
    // tests/fixtures/ncat_capture.py made it: 3 senders x 300 lines of 48
    // bytes through the real ncat --chat; chunks end mid-line.
    let capture = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ncat_chat_capture.bin"),
    )
    .unwrap();
    let prefixes = capture.windows(5).filter(|w| w == b"<user").count();
    assert!(prefixes > 10, "the capture has chunks from several senders");
    let mid_line = capture
        .windows(6)
        .filter(|w| w[0] != b'\n' && &w[1..] == b"<user")
        .count();
    assert!(mid_line > 0, "the capture has chunks that end mid-line");
    for read in [1, 7, 100, 4096, capture.len()] {
        assert_reassembled(&demux_all(&capture, read), 3, 300, 48);
    }
    // A naive line reader (the benchmark's old one) gets it wrong.
    let naive_whole = capture
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"<user") || l.first().is_some_and(u8::is_ascii_digit))
        .filter(|l| {
            let start = l.iter().position(|b| b.is_ascii_digit()).unwrap_or(0);
            l.len() - start == 48
        })
        .count();
    assert!(naive_whole < 900, "{naive_whole}");
}

struct Ncat(Child);

impl Drop for Ncat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(e) if Instant::now() > deadline => panic!("ncat did not listen: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Read until `want` lines came through the demultiplexer (or 30 s).
fn read_lines(mut s: TcpStream, want: usize) -> Vec<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut d = NcatDemux::new(1 << 16);
    let mut buf = BytesMut::new();
    let mut lines = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while lines.len() < want {
        let n = s.read(&mut chunk).expect("read from ncat");
        assert!(n > 0, "ncat closed after {} lines", lines.len());
        buf.extend_from_slice(&chunk[..n]);
        while let Some(l) = d.decode(&mut buf).unwrap() {
            lines.push(l.to_vec());
        }
    }
    lines
}

#[test]
fn live_ncat_chat_output_is_demultiplexed_with_nothing_lost() {
    let port = crate::util::free_port();
    let child = Command::new("ncat")
        .args(["--chat", "-l", "127.0.0.1", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ncat (install it: apt-get install ncat)");
    let _ncat = Ncat(child);
    let receiver = connect(port);
    let senders: Vec<TcpStream> = (0..4).map(|_| connect(port)).collect();
    // ncat accepts in order: the receiver is in the room before any
    // sender's bytes are read.
    const LINES: u32 = 2000;
    const LEN: usize = 100;
    let reader = std::thread::spawn(move || read_lines(receiver, 4 * LINES as usize));
    let writers: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(k, mut s)| {
            std::thread::spawn(move || {
                let mut data = Vec::new();
                for i in 0..LINES {
                    let t = format!("{k:05}|{i:09}|{:013}|", 0);
                    data.extend_from_slice(t.as_bytes());
                    data.resize(data.len() + LEN - t.len(), b'x');
                    data.push(b'\n');
                }
                for part in data.chunks(16 * 1024 + k * 777) {
                    s.write_all(part).unwrap();
                }
                s // kept open until the reader is done
            })
        })
        .collect();
    let open: Vec<TcpStream> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let lines = reader.join().unwrap();
    drop(open);
    assert_reassembled(&lines, 4, LINES, LEN);
}
