//! What the kernel alone charges a chat server per delivery on loopback: one
//! thread writes the same bytes to N TCP connections (as a relay does),
//! in writes of a given size made of lines of a given size, and nothing
//! else — no reading, parsing, storing or waking tasks. Its thread CPU
//! (user + system: on loopback the receiver's TCP processing runs in the
//! sender's system call) divided by the lines delivered is the floor under
//! any server that relays those bytes in those writes on this machine.
//! The readers (the clients' side, not counted) are tasks on a tokio
//! multi-thread runtime, as the load generator's clients are: how often a
//! write must wake a sleeping reader is part of what a write costs.
//!
//!   cargo run --release --example kernel_floor -- --sockets 100 --line 198 --write 10240
//!
//! Loopback only; bounded by `--lines` per connection.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Kernel CPU per delivery for a relay's writes on loopback")]
struct Args {
    /// Connections written to (the room's members).
    #[arg(long, default_value_t = 100)]
    sockets: usize,
    /// Bytes per line (tcpplay's chat line for a 100-byte text: ~198;
    /// ncat's: 99 plus its `<userN> ` prefix).
    #[arg(long, default_value_t = 198)]
    line: usize,
    /// Bytes per write (whole lines; at least one).
    #[arg(long, default_value_t = 10240)]
    write: usize,
    /// Lines delivered to each connection.
    #[arg(long, default_value_t = 20000)]
    lines: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec for the call's duration.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let per_write = (a.write / a.line).max(1);
    let mut line = vec![b'x'; a.line.max(2)];
    *line.last_mut().unwrap() = b'\n';
    let buf: Vec<u8> = line.repeat(per_write);
    let writes = a.lines.div_ceil(per_write);
    let total = (writes * buf.len()) as u64;

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..a.sockets {
        let client = TcpStream::connect(addr)?;
        let (server, _) = listener.accept()?;
        server.set_nodelay(true)?; // as tcpplay's sessions are
        writers.push(server);
        client.set_nonblocking(true)?;
        readers.push(rt.spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut client = tokio::net::TcpStream::from_std(client)?;
            let mut got = 0u64;
            let mut b = vec![0u8; 64 * 1024];
            while got < total {
                let n = client.read(&mut b).await?;
                if n == 0 {
                    break;
                }
                got += n as u64;
            }
            Ok::<u64, std::io::Error>(got)
        }));
    }
    let started = Instant::now();
    let cpu0 = thread_cpu();
    for _ in 0..writes {
        for w in &mut writers {
            w.write_all(&buf)?;
        }
    }
    let cpu = thread_cpu() - cpu0;
    let wall = started.elapsed().as_secs_f64();
    for r in readers {
        let got = rt.block_on(r).expect("reader task")?;
        assert_eq!(got, total, "a reader got less than was written");
    }
    let deliveries = (writes * per_write * a.sockets) as f64;
    let us = cpu * 1e6 / deliveries;
    let (bytes, ns_per_byte, rate) = (buf.len(), us * 1000.0 / a.line as f64, deliveries / wall);
    if a.json {
        println!(
            "{{\"sockets\":{},\"line\":{},\"bytes_per_write\":{bytes},\"cpu_us_per_delivery\":{us:.4},\"ns_per_byte\":{ns_per_byte:.3},\"deliveries_per_sec\":{rate:.0}}}",
            a.sockets, a.line
        );
    } else {
        println!(
            "{} sockets, {}-byte lines, {bytes} bytes per write: {us:.4} µs writer CPU per delivery ({ns_per_byte:.3} ns/byte), {rate:.0} deliveries/s",
            a.sockets, a.line
        );
    }
    Ok(())
}
