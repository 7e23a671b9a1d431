//! The secure room's replay record: the sealed lines this user has been
//! shown, kept across connections and restarts in the user's data directory,
//! so that a dishonest server cannot show a member's line again as new.
//!
//! What it can promise is bounded by time: a live line sealed more than
//! [`WINDOW_MS`] before (or after) this machine's clock is refused by the
//! opener whatever this record says, so the record only has to keep the
//! nonces of lines sealed within the window. A replay inside the window is
//! caught on this machine (any connection, any restart); a replay to a fresh
//! device with no record is not (docs/SECURITY.md says so).
//!
//! The file is a list of 32-byte entries (24-byte nonce, 8-byte sealed time,
//! big-endian), owner-only, appended as lines arrive and compacted when it
//! is opened. A record that cannot be kept is said once, and the check goes
//! on in memory for this process.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How far a live line's sealed time may be from this machine's clock.
pub const WINDOW_MS: u64 = 10 * 60 * 1000;

/// Most nonces remembered (about 6 MiB on disk, more than a window's worth
/// of any room this server's rate limits allow).
const MAX_REMEMBERED: usize = 200_000;

const ENTRY: usize = 32;

/// A nonce: 24 random bytes chosen by the sender.
pub(crate) type Nonce = [u8; 24];

/// Nonces seen, on disk when a record could be opened.
#[derive(Default)]
pub(crate) struct Replays {
    seen: HashMap<Nonce, u64>,
    order: VecDeque<Nonce>,
    /// Nonces shown as history on this connection (history may repeat what
    /// was live, never itself).
    history: HashSet<Nonce>,
    file: Option<File>,
    /// Why the record is not kept on disk, until said once.
    pub problem: Option<String>,
}

impl Replays {
    /// The record of `room` (its 16-byte id) in `dir`: loaded, compacted to
    /// the window around `now`, and kept open for appending. A record that
    /// cannot be read or written leaves an in-memory one, with the reason in
    /// [`problem`](Self::problem).
    pub fn open(dir: &Path, room: &[u8], now: u64) -> Replays {
        let path = dir.join("replays").join(hex(room));
        let mut r = Replays::default();
        if let Err(e) = r.load(&path, now) {
            r.file = None;
            r.problem = Some(format!(
                "cannot keep this secure room's replay record in {}: {e}; a line replayed by the server is \
                 detected on this connection only",
                path.display()
            ));
        }
        r
    }

    fn load(&mut self, path: &Path, now: u64) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            crate::files::private_dir(dir)?;
        }
        let raw = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let whole = raw.len() / ENTRY * ENTRY;
        for chunk in raw[..whole].chunks_exact(ENTRY) {
            let nonce: Nonce = chunk[..24].try_into().expect("24 bytes");
            let sent = u64::from_be_bytes(chunk[24..].try_into().expect("8 bytes"));
            if in_window(sent, now) {
                self.remember(nonce, sent);
            }
        }
        let kept = self.encode();
        if kept.len() != raw.len() {
            crate::files::write_atomic(path, &kept, true)?;
        }
        self.file = Some(append(path)?);
        Ok(())
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.order.len() * ENTRY);
        for n in &self.order {
            out.extend_from_slice(n);
            out.extend_from_slice(&self.seen[n].to_be_bytes());
        }
        out
    }

    fn remember(&mut self, nonce: Nonce, sent: u64) -> bool {
        if self.seen.insert(nonce, sent).is_some() {
            return false;
        }
        self.order.push_back(nonce);
        if self.order.len() > MAX_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    fn write(&mut self, nonce: &Nonce, sent: u64) {
        let Some(f) = &mut self.file else { return };
        let mut entry = [0u8; ENTRY];
        entry[..24].copy_from_slice(nonce);
        entry[24..].copy_from_slice(&sent.to_be_bytes());
        if let Err(e) = f.write_all(&entry) {
            self.file = None;
            self.problem = Some(format!(
                "cannot write this secure room's replay record: {e}; a line replayed by the server is \
                 detected on this connection only"
            ));
        }
    }

    /// A live line: true the first time its nonce is seen (then kept).
    pub fn live(&mut self, nonce: Nonce, sent: u64) -> bool {
        if !self.remember(nonce, sent) {
            return false;
        }
        self.write(&nonce, sent);
        true
    }

    /// A line of history: true the first time this connection's history
    /// shows it. It is kept too, so that it cannot come back as live.
    pub fn history(&mut self, nonce: Nonce, sent: u64, now: u64) -> bool {
        if !self.history.insert(nonce) {
            return false;
        }
        if in_window(sent, now) && self.remember(nonce, sent) {
            self.write(&nonce, sent);
        }
        true
    }
}

/// Within [`WINDOW_MS`] of `now`, either way.
pub(crate) fn in_window(sent: u64, now: u64) -> bool {
    sent.abs_diff(now) <= WINDOW_MS
}

fn append(path: &Path) -> std::io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(path)
}

fn hex(bytes: &[u8]) -> PathBuf {
    PathBuf::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_seen_live_is_refused_after_a_restart_and_old_entries_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let room = [7u8; 16];
        let now = 1_800_000_000_000;
        let mut r = Replays::open(dir.path(), &room, now);
        assert!(r.problem.is_none(), "{:?}", r.problem);
        assert!(r.live([1; 24], now));
        assert!(!r.live([1; 24], now), "twice in one process");
        assert!(r.history([2; 24], now - 1000, now));
        drop(r);
        let mut again = Replays::open(dir.path(), &room, now + 1000);
        assert!(!again.live([1; 24], now), "remembered across a restart");
        assert!(
            !again.live([2; 24], now - 1000),
            "history cannot come back live"
        );
        assert!(again.history([1; 24], now, now), "but may be history");
        drop(again);
        let file = dir.path().join("replays").join(hex(&room));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only: {mode:o}");
        }
        let later = Replays::open(dir.path(), &room, now + WINDOW_MS + 5000);
        assert!(later.seen.is_empty(), "out of the window: forgotten");
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 0, "compacted");
    }

    #[test]
    fn a_record_that_cannot_be_kept_is_said_and_the_check_goes_on_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("replays"), b"not a directory").unwrap();
        let mut r = Replays::open(dir.path(), &[1; 16], 5);
        let why = r.problem.clone().expect("a reason");
        assert!(
            why.contains("replay record") && why.contains("replays"),
            "{why}"
        );
        assert!(r.live([9; 24], 5));
        assert!(!r.live([9; 24], 5));
    }
}
