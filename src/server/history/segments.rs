//! The history's append-only files: a room's plain lines of one write as
//! one record, appended to the newest segment file and never rewritten, so
//! each byte is written once (SQLite wrote each line twice, to its WAL and
//! again at the checkpoint: half the writer's CPU was the kernel's file
//! writes, docs/BENCHMARKS.md). A segment goes whole once none of its
//! records is kept.
//!
//! A record: `TPH1`, the body's length and its CRC-32 (little-endian u32s),
//! then the body: first id, last id, newest time (u64s), line count, room
//! name length (u32s; `u32::MAX`: the default room), the room's name, and
//! the lines (each a chat packet in its stored form, `\n`-ended).
//!
//! Durability as SQLite's WAL with `synchronous = NORMAL` gave: a record is
//! in the operating system's hands when `append` returns (it survives the
//! process being killed); the file is synced every [`SYNC_BYTES`] and when
//! a segment is full, so an operating system crash may lose the last writes
//! before it. What a crash leaves torn at the end of the newest segment
//! (its length or CRC do not hold) is cut off when the files are opened.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"TPH1";
/// Magic, body length, CRC.
const HEAD: usize = 12;
/// First id, last id, newest time, line count, room name length.
const FIXED: usize = 8 + 8 + 8 + 4 + 4;
/// A segment is closed (synced) and a new one begun past this size.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Bytes appended between syncs (SQLite checkpointed its WAL about every
/// 16 MiB, syncing it, with these pages).
const SYNC_BYTES: u64 = 16 << 20;
/// A record's body at most (a longer length is a torn or foreign file).
const MAX_BODY: u32 = 256 << 20;

/// Where a record is: its segment, and its body's offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Place {
    pub seg: u32,
    pub off: u64,
    pub len: u32,
}

/// What a record says of its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Header {
    pub first: u64,
    pub last: u64,
    pub ts: u64,
    pub n: u32,
    pub room: Option<String>,
}

/// Start a record in `buf` (cleared): the caller appends the lines, then
/// [`seal`]s it.
pub(super) fn begin(buf: &mut Vec<u8>, room: Option<&str>) {
    buf.clear();
    buf.resize(HEAD + FIXED, 0);
    let len = room.map_or(u32::MAX, |r| r.len() as u32);
    buf[HEAD + FIXED - 4..].copy_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(room.unwrap_or_default().as_bytes());
}

/// Fill in the record's header once its lines are in `buf`.
pub(super) fn seal(buf: &mut [u8], first: u64, last: u64, ts: u64, n: u32) {
    let body = HEAD;
    buf[body..body + 8].copy_from_slice(&first.to_le_bytes());
    buf[body + 8..body + 16].copy_from_slice(&last.to_le_bytes());
    buf[body + 16..body + 24].copy_from_slice(&ts.to_le_bytes());
    buf[body + 24..body + 28].copy_from_slice(&n.to_le_bytes());
    let len = (buf.len() - HEAD) as u32;
    let crc = crc32fast::hash(&buf[HEAD..]);
    buf[..4].copy_from_slice(MAGIC);
    buf[4..8].copy_from_slice(&len.to_le_bytes());
    buf[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// A record's header and where its lines start in the body, or `None`
/// for a body that does not read as one.
pub(super) fn header(body: &[u8]) -> Option<(Header, usize)> {
    let u64_at = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
    let u32_at = |i: usize| u32::from_le_bytes(body[i..i + 4].try_into().expect("4 bytes"));
    if body.len() < FIXED {
        return None;
    }
    let (room, lines) = match u32_at(FIXED - 4) {
        u32::MAX => (None, FIXED),
        len => {
            let end = FIXED
                .checked_add(len as usize)
                .filter(|&e| e <= body.len())?;
            let room = std::str::from_utf8(&body[FIXED..end]).ok()?;
            (Some(room.to_string()), end)
        }
    };
    let h = Header {
        first: u64_at(0),
        last: u64_at(8),
        ts: u64_at(16),
        n: u32_at(24),
        room,
    };
    Some((h, lines))
}

/// The segment files of one history (`PATH-log/`), the newest open for
/// appending.
pub(super) struct Segments {
    dir: PathBuf,
    /// The newest segment: its number, file and length.
    active: (u32, File, u64),
    /// Bytes appended since the last sync.
    unsynced: u64,
    /// A segment is full past this size ([`SEGMENT_BYTES`]; tests make it small).
    pub(super) full_at: u64,
}

/// The directory of a history's segments.
pub(super) fn dir_of(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-log");
    db.with_file_name(name)
}

fn seg_path(dir: &Path, seg: u32) -> PathBuf {
    dir.join(format!("{seg:010}.tph"))
}

fn open_rw(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

impl Segments {
    /// Open (creating) the segments of `db`, calling `found` with each
    /// record's place and header, oldest first; a torn end of the newest
    /// segment is cut off, a record that does not read in an older one
    /// ends what is read of it (said in the log).
    pub(super) fn open(
        db: &Path,
        mut found: impl FnMut(Place, Header),
    ) -> std::io::Result<Segments> {
        let dir = dir_of(db);
        crate::files::private_dir(&dir)?;
        let mut segs = BTreeMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_suffix(".tph")
                .and_then(|s| s.parse::<u32>().ok())
            {
                segs.insert(n, ());
            }
        }
        let newest = segs.keys().next_back().copied().unwrap_or(1);
        let mut active = None;
        for &seg in segs.keys() {
            let path = seg_path(&dir, seg);
            let (good, size) = scan(&path, seg, &mut found)?;
            if good < size {
                if seg == newest {
                    tracing::info!(path = %path.display(), "history: the last {} bytes of {} were torn (a crash while they were written): cut off", size - good, path.display());
                    open_rw(&path)?.set_len(good)?;
                } else {
                    tracing::warn!(path = %path.display(), "history: {} bytes at the end of {} do not read as records (changed by another program?): their lines are not shown", size - good, path.display());
                }
            }
            if seg == newest {
                active = Some((seg, open_rw(&path)?, good));
            }
        }
        let active = match active {
            Some(a) => a,
            None => (newest, open_rw(&seg_path(&dir, newest))?, 0),
        };
        Ok(Segments {
            dir,
            active,
            unsynced: 0,
            full_at: SEGMENT_BYTES,
        })
    }

    /// Append a [`seal`]ed record; where its body is.
    pub(super) fn append(&mut self, record: &[u8]) -> std::io::Result<Place> {
        if self.active.2 >= self.full_at {
            self.active.1.sync_data()?;
            let seg = self.active.0 + 1;
            self.active = (seg, open_rw(&seg_path(&self.dir, seg))?, 0);
            // The new file's name, on disk before its records are.
            File::open(&self.dir)?.sync_all()?;
            self.unsynced = 0;
        }
        let (seg, file, len) = &mut self.active;
        let place = Place {
            seg: *seg,
            off: *len + HEAD as u64,
            len: (record.len() - HEAD) as u32,
        };
        if let Err(e) = file.write_all(record) {
            // Nothing half-written stays to be read as the next record's
            // start.
            let _ = file.set_len(*len);
            return Err(e);
        }
        *len += record.len() as u64;
        self.unsynced += record.len() as u64;
        if self.unsynced >= SYNC_BYTES {
            self.unsynced = 0;
            file.sync_data()?;
        }
        Ok(place)
    }

    /// The segment being appended to (never removed).
    pub(super) fn active(&self) -> u32 {
        self.active.0
    }

    /// A record's body, read back.
    pub(super) fn read(&self, p: Place) -> std::io::Result<Vec<u8>> {
        use std::io::Seek;
        let mut body = vec![0; p.len as usize];
        let mut f = File::open(seg_path(&self.dir, p.seg))?;
        f.seek(std::io::SeekFrom::Start(p.off))?;
        f.read_exact(&mut body)?;
        Ok(body)
    }

    /// Remove a segment none of whose records is kept.
    pub(super) fn remove(&self, seg: u32) {
        if seg == self.active.0 {
            return;
        }
        let path = seg_path(&self.dir, seg);
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), "history: cannot remove {} ({e}); its lines are past retention and no longer shown", path.display());
        }
    }
}

impl Drop for Segments {
    fn drop(&mut self) {
        let _ = self.active.1.sync_data();
    }
}

/// Read a segment's records (calling `found` with each); how many bytes
/// hold whole records, and the file's size.
fn scan(
    path: &Path,
    seg: u32,
    found: &mut impl FnMut(Place, Header),
) -> std::io::Result<(u64, u64)> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut r = std::io::BufReader::with_capacity(1 << 20, file);
    let mut good = 0u64;
    let mut head = [0u8; HEAD];
    let mut body = Vec::new();
    while good + HEAD as u64 <= size {
        r.read_exact(&mut head)?;
        let len = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        if &head[..4] != MAGIC || len > MAX_BODY || good + (HEAD as u64) + u64::from(len) > size {
            break;
        }
        body.resize(len as usize, 0);
        r.read_exact(&mut body)?;
        if crc32fast::hash(&body) != crc {
            break;
        }
        let Some((h, _)) = header(&body) else { break };
        let place = Place {
            seg,
            off: good + HEAD as u64,
            len,
        };
        found(place, h);
        good += (HEAD as u64) + u64::from(len);
    }
    Ok((good, size))
}
