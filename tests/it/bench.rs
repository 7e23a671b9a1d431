//! The benchmark reads its peers fairly: `ncat --chat` output (a prefix per
//! read chunk, not per line) reassembles into each sender's lines — from a
//! capture of the real ncat, and live against it. And it reads a server's
//! CPU time as the kernel counts it: user and system time agree with what
//! the process itself reads through times(2).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
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

#[path = "../../examples/loadgen/proc.rs"]
#[allow(dead_code)]
mod proc;

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

/// Run `python3` burning `work` until the process has used 0.5 s of CPU,
/// then read its user and system time two ways: Python's `os.times()`
/// (times(2)) as the child prints it, and the benchmark's /proc reader
/// while the child waits. Returns (python's, ours), in seconds.
fn cpu_seen_both_ways(work: &str) -> ((f64, f64), (f64, f64)) {
    let script = format!(
        "import os, sys\n\
         f = os.open('/dev/zero', os.O_RDONLY)\n\
         x = 0\n\
         while sum(os.times()[:2]) < 0.5:\n\
         \x20   {work}\n\
         t = os.times()\n\
         print(t.user, t.system, flush=True)\n\
         sys.stdin.read()\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ours = proc::cpu_split(child.id()).expect("read /proc/<pid>/stat");
    drop(child.stdin.take()); // the child reads EOF and ends
    child.wait().unwrap();
    let t: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(t.len(), 2, "python printed {line:?}");
    let secs = |ns: u64| ns as f64 / 1e9;
    ((t[0], t[1]), (secs(ours.user_ns), secs(ours.system_ns)))
}

#[test]
fn server_cpu_is_split_into_user_and_kernel_time_as_the_kernel_counts_it() {
    // Reading /dev/zero a MiB at a time: the kernel's work (clearing pages).
    let (py, ours) = cpu_seen_both_ways("os.read(f, 1 << 20)");
    assert!(
        ours.1 > ours.0,
        "kernel-bound child: ours {ours:?}, python's {py:?}"
    );
    // Counting in Python (asking the clock, a system call, only now and
    // then): user time.
    let (py2, ours2) = cpu_seen_both_ways("for _ in range(200000): x += 1");
    assert!(
        ours2.0 > 4.0 * ours2.1,
        "user-bound child: ours {ours2:?}, python's {py2:?}"
    );
    // Both readings come from the same counters (clock ticks): they agree
    // to a tick or two (the child's last tick may land between the reads).
    for (p, o) in [(py, ours), (py2, ours2)] {
        for (a, b) in [(p.0, o.0), (p.1, o.1)] {
            assert!((a - b).abs() <= 0.03, "python {p:?} vs ours {o:?}");
        }
    }
}
