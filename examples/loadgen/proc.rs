//! What /proc tells of a process (Linux): its CPU time, how much of it the
//! kernel spent (system time — the part no user-space change can save), and
//! its resident memory.

/// CPU time used so far by process `pid`, all threads, in nanoseconds: the
/// sum of each thread's `schedstat` (nanosecond precision), else `stat`'s
/// utime + stime (clock ticks).
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    let mut any = false;
    for t in tasks.flatten() {
        let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            total += ns;
            any = true;
        }
    }
    if any {
        return Some(total);
    }
    cpu_split(pid).map(|s| s.user_ns + s.system_ns)
}

/// User and system CPU time of a process (all its threads, exited ones too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    pub user_ns: u64,
    pub system_ns: u64,
}

impl std::ops::Add for Split {
    type Output = Split;
    fn add(self, other: Split) -> Split {
        Split {
            user_ns: self.user_ns + other.user_ns,
            system_ns: self.system_ns + other.system_ns,
        }
    }
}

impl std::ops::Sub for Split {
    type Output = Split;
    fn sub(self, before: Split) -> Split {
        Split {
            user_ns: self.user_ns.saturating_sub(before.user_ns),
            system_ns: self.system_ns.saturating_sub(before.system_ns),
        }
    }
}

/// `utime` and `stime` of `/proc/<pid>/stat`, in nanoseconds (they are
/// counted in clock ticks: 10 ms each at the usual 100 Hz, so a run needs a
/// second or more for a figure to two digits).
pub fn cpu_split(pid: u32) -> Option<Split> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields
    // are counted from the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick_ns = 1_000_000_000 / clock_ticks_per_sec();
    Some(Split {
        user_ns: f.get(11)?.parse::<u64>().ok()? * tick_ns,
        system_ns: f.get(12)?.parse::<u64>().ok()? * tick_ns,
    })
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf reads a constant of the system; no memory is passed.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as u64
    } else {
        100
    }
}

/// Resident memory (`VmRSS` of `/proc/<pid>/status`), in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
