//! The server's system calls over a run, counted by `perf stat` with the
//! kernel's syscall tracepoints (software events: they work on VMs without
//! hardware counters). Optional: without `perf`, or without permission,
//! the figures are simply absent.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Tracepoints counted: every syscall, and the ones that move bytes.
const EVENTS: &[&str] = &[
    "raw_syscalls:sys_enter",
    "syscalls:sys_enter_write",
    "syscalls:sys_enter_writev",
    "syscalls:sys_enter_sendto",
    "syscalls:sys_enter_sendmsg",
    "syscalls:sys_enter_read",
    "syscalls:sys_enter_readv",
    "syscalls:sys_enter_recvfrom",
    "syscalls:sys_enter_recvmsg",
];

pub struct Perf {
    child: Child,
    out: PathBuf,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Syscalls {
    pub total: u64,
    /// write, writev, sendto, sendmsg.
    pub writes: u64,
    /// read, readv, recvfrom, recvmsg.
    pub reads: u64,
}

impl Perf {
    /// Start counting `pid`'s system calls (all its threads).
    pub fn start(pid: u32) -> Option<Perf> {
        let out =
            std::env::temp_dir().join(format!("loadgen-perf-{}-{pid}.csv", std::process::id()));
        let child = Command::new("perf")
            .args(["stat", "-x", ",", "-o"])
            .arg(&out)
            .args(["-e", &EVENTS.join(","), "-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // perf attaches in a few milliseconds; the senders wait for it.
        std::thread::sleep(std::time::Duration::from_millis(100));
        Some(Perf { child, out })
    }

    /// Stop and read the counts (`None` if perf could not count).
    pub fn stop(mut self) -> Option<Syscalls> {
        // SIGINT makes perf stat print its counts and exit.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.out).ok()?;
        let _ = std::fs::remove_file(&self.out);
        let mut s = Syscalls::default();
        let mut any = false;
        for line in text.lines() {
            let f: Vec<&str> = line.split(',').collect();
            let (Some(v), Some(name)) = (f.first(), f.get(2)) else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else { continue };
            any = true;
            match *name {
                "raw_syscalls:sys_enter" => s.total += v,
                n if n.ends_with("_write")
                    || n.ends_with("_writev")
                    || n.ends_with("_sendto")
                    || n.ends_with("_sendmsg") =>
                {
                    s.writes += v
                }
                n if n.ends_with("_read")
                    || n.ends_with("_readv")
                    || n.ends_with("_recvfrom")
                    || n.ends_with("_recvmsg") =>
                {
                    s.reads += v
                }
                _ => {}
            }
        }
        any.then_some(s)
    }
}
