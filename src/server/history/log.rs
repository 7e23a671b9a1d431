//! The history's log of plain room lines: the [`segments`](super::segments)
//! on disk and, in memory, each room's records in id order (48 bytes a
//! record, rebuilt from the files' headers at start), which `fetch_history`
//! walks back and retention trims.
//!
//! Retention is exact on what is shown: a room keeps its newest
//! `max_messages` lines (the record the limit cuts through keeps its bytes,
//! and its oldest lines are skipped when read), and a line older than
//! `max_age` is never shown; a record goes when its newest line is past
//! either, and a segment's file when all of its records went.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

use super::segments::{self, Header, Place, Segments};
use super::Retention;
use crate::protocol::fast::{write_chat_line, Form};
use crate::protocol::{now_ms, Chat, Packet};

/// One record of a room's lines.
#[derive(Debug, Clone, Copy)]
struct Entry {
    place: Place,
    first: u64,
    last: u64,
    /// Its newest line's time.
    ts: u64,
    n: u32,
    /// Its oldest lines past the count limit (not shown).
    skip: u32,
}

#[derive(Default)]
struct Room {
    /// Ordered by first id.
    entries: VecDeque<Entry>,
    /// Lines kept: each entry's `n - skip`.
    total: u64,
}

impl Room {
    /// Drop the oldest lines past `max` (0: no limit) and the records
    /// whose newest line is older than `cutoff`; the segment of each record
    /// that went is pushed to `gone`.
    fn trim(&mut self, max: u64, cutoff: Option<u64>, gone: &mut Vec<u32>) {
        while let Some(e) = self.entries.front_mut() {
            let kept = u64::from(e.n.saturating_sub(e.skip));
            let aged = cutoff.is_some_and(|c| e.ts < c);
            let excess = match max {
                0 => 0,
                max => self.total.saturating_sub(max),
            };
            if aged || excess >= kept {
                self.total -= kept;
                gone.push(e.place.seg);
                self.entries.pop_front();
            } else {
                e.skip += excess as u32;
                self.total -= excess;
                break;
            }
        }
    }
}

/// The log and its index.
pub(super) struct Log {
    segs: Segments,
    rooms: HashMap<Option<String>, Room>,
    /// Records kept per segment.
    live: BTreeMap<u32, usize>,
    /// The highest id in the log.
    last_id: u64,
    /// Lines older than this are not shown (`history.max_age_days`).
    max_age: Option<std::time::Duration>,
    /// A record being made.
    buf: Vec<u8>,
}

impl Log {
    /// Open the log beside the database at `db`, reading its records' headers.
    pub(super) fn open(db: &Path) -> std::io::Result<Log> {
        let mut found: Vec<(Place, Header)> = Vec::new();
        let segs = Segments::open(db, |p, h| found.push((p, h)))?;
        let mut log = Log {
            segs,
            rooms: HashMap::new(),
            live: BTreeMap::new(),
            last_id: 0,
            max_age: None,
            buf: Vec::new(),
        };
        for (place, h) in found {
            log.index(place, h);
        }
        for room in log.rooms.values_mut() {
            // In order as written; a file changed by another program may not be.
            room.entries.make_contiguous().sort_by_key(|e| e.first);
        }
        Ok(log)
    }

    fn index(&mut self, place: Place, h: Header) {
        let e = Entry {
            place,
            first: h.first,
            last: h.last,
            ts: h.ts,
            n: h.n,
            skip: 0,
        };
        self.last_id = self.last_id.max(h.last);
        *self.live.entry(place.seg).or_default() += 1;
        let room = self.rooms.entry(h.room).or_default();
        room.total += u64::from(h.n);
        room.entries.push_back(e);
    }

    /// The highest id in the log (0: none).
    pub(super) fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Lines of `room` the log keeps.
    pub(super) fn total(&self, room: &Option<String>) -> u64 {
        self.rooms.get(room).map_or(0, |r| r.total)
    }

    /// Append one room's lines (in id order, each with an id) as one record.
    pub(super) fn append(&mut self, room: Option<&str>, chats: &[&Chat]) -> std::io::Result<()> {
        let (Some(first), Some(last)) = (chats.first(), chats.last()) else {
            return Ok(());
        };
        segments::begin(&mut self.buf, room);
        for c in chats {
            write_chat_line(&mut self.buf, c, Form::Stored);
        }
        let ts = chats
            .iter()
            .filter_map(|c| c.ts)
            .max()
            .unwrap_or_else(now_ms);
        let (first, last) = (first.id.unwrap_or_default(), last.id.unwrap_or_default());
        let n = chats.len() as u32;
        segments::seal(&mut self.buf, first, last, ts, n);
        let place = self.segs.append(&self.buf)?;
        let room = room.map(str::to_string);
        self.index(
            place,
            Header {
                first,
                last,
                ts,
                n,
                room,
            },
        );
        Ok(())
    }

    /// Drop what is past `r`: in `room` (every room when `None`) its oldest
    /// lines past `max_messages` (whole records, then skipped lines of the
    /// one the limit cuts through), records whose newest line is older
    /// than `max_age` (when `age`), and segments left with no record.
    pub(super) fn prune(&mut self, r: Retention, age: bool, room: Option<&Option<String>>) {
        self.max_age = r.max_age;
        let cutoff = r
            .max_age
            .filter(|_| age)
            .map(|a| now_ms().saturating_sub(a.as_millis() as u64));
        let mut gone: Vec<u32> = Vec::new();
        match room {
            Some(key) => {
                if let Some(room) = self.rooms.get_mut(key) {
                    room.trim(r.max_messages, cutoff, &mut gone);
                }
            }
            None => {
                for room in self.rooms.values_mut() {
                    room.trim(r.max_messages, cutoff, &mut gone);
                }
            }
        }
        if gone.is_empty() {
            return;
        }
        self.rooms.retain(|_, r| !r.entries.is_empty());
        for seg in gone {
            let live = self.live.entry(seg).or_default();
            *live = live.saturating_sub(1);
            if *live == 0 && seg != self.segs.active() {
                self.live.remove(&seg);
                self.segs.remove(seg);
            }
        }
    }

    /// Newest first: up to `limit + 1` lines of `room` below `before`
    /// (records newest first, until one adds nothing newer than what is
    /// found), none older than `max_age`.
    pub(super) fn fetch(
        &self,
        room: Option<&str>,
        before: u64,
        limit: usize,
    ) -> std::io::Result<Vec<Chat>> {
        let key = room.map(str::to_string);
        let Some(r) = self.rooms.get(&key) else {
            return Ok(Vec::new());
        };
        let cutoff = self
            .max_age
            .map_or(0, |a| now_ms().saturating_sub(a.as_millis() as u64));
        let below = r.entries.partition_point(|e| e.first < before);
        let mut found: Vec<Chat> = Vec::new();
        for e in r.entries.range(..below).rev() {
            // The (limit + 1)-th newest found so far: nothing below it is wanted.
            let floor = (found.len() > limit).then(|| found[limit].id.unwrap_or(0));
            if floor.is_some_and(|f| e.last < f) || e.ts < cutoff {
                break;
            }
            let body = self.segs.read(e.place)?;
            let Some((_, at)) = segments::header(&body) else {
                continue;
            };
            for c in lines(&body[at..]).skip(e.skip as usize) {
                let id = c.id.unwrap_or(0);
                let young = c.ts.is_none_or(|t| t >= cutoff);
                if id < before && young && floor.is_none_or(|f| id > f) {
                    found.push(Chat {
                        room: key.clone(),
                        ..c
                    });
                }
            }
            found.sort_unstable_by_key(|c| std::cmp::Reverse(c.id));
            found.dedup_by_key(|c| c.id);
            found.truncate(limit + 1);
        }
        Ok(found)
    }
}

/// A record's lines, oldest first (a line that does not read back as a
/// chat line with an id is left out).
fn lines(bytes: &[u8]) -> impl Iterator<Item = Chat> + '_ {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| match crate::protocol::codec::parse(l) {
            Ok(Packet::Chat(c)) if c.id.is_some() => Some(c),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn chat(id: u64, ts: u64) -> Chat {
        Chat {
            from: Some(format!("u{}", id % 5)),
            text: Some(format!("line {id}")),
            id: Some(id),
            ts: Some(ts),
            ..Default::default()
        }
    }

    /// Append ids `ids` to `room` in records of `size` lines.
    fn add(
        log: &mut Log,
        room: Option<&str>,
        ids: std::ops::RangeInclusive<u64>,
        size: usize,
        ts: u64,
    ) {
        let chats: Vec<Chat> = ids.map(|i| chat(i, ts + i)).collect();
        for part in chats.chunks(size) {
            let refs: Vec<&Chat> = part.iter().collect();
            log.append(room, &refs).unwrap();
        }
    }

    /// Every id of `room`, newest first, page by page (`limit` a page).
    fn walk(log: &Log, room: Option<&str>, limit: usize) -> Vec<u64> {
        let (mut all, mut before) = (Vec::new(), u64::MAX);
        loop {
            let mut page = log.fetch(room, before, limit).unwrap();
            let more = page.len() > limit;
            page.truncate(limit);
            for c in &page {
                assert_eq!(c.text, Some(format!("line {}", c.id.unwrap())));
                assert_eq!(c.room.as_deref(), room);
            }
            all.extend(page.iter().map(|c| c.id.unwrap()));
            match page.last() {
                Some(c) if more => before = c.id.unwrap(),
                _ => return all,
            }
        }
    }

    /// A crash while a record was written leaves part of it: opened again,
    /// the part is cut off, every whole record is read back, and what is
    /// appended after is read too.
    #[test]
    fn a_torn_record_at_the_end_is_cut_off_and_the_rest_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.sqlite3");
        let now = now_ms();
        let mut log = Log::open(&db).unwrap();
        add(&mut log, None, 1..=95, 10, now);
        drop(log);
        let seg = segments::dir_of(&db).join("0000000001.tph");
        let whole = std::fs::read(&seg).unwrap();
        // Half of one more record, as a kill in the middle of its write leaves.
        let mut log = Log::open(&db).unwrap();
        add(&mut log, None, 96..=99, 10, now);
        drop(log);
        let longer = std::fs::read(&seg).unwrap();
        let torn = whole.len() + (longer.len() - whole.len()) / 2;
        std::fs::write(&seg, &longer[..torn]).unwrap();
        let mut log = Log::open(&db).unwrap();
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), whole.len() as u64);
        assert_eq!(log.last_id(), 95);
        add(&mut log, None, 100..=120, 7, now);
        drop(log);
        let log = Log::open(&db).unwrap();
        let want: Vec<u64> = (1..=95).chain(100..=120).rev().collect();
        assert_eq!(walk(&log, None, 13), want);
        // A flipped byte in a whole record: its CRC fails, it and what follows
        // are not read (the newest segment is cut there).
        let mut bytes = std::fs::read(&seg).unwrap();
        let at = bytes.len() - 5;
        bytes[at] ^= 1;
        std::fs::write(&seg, &bytes).unwrap();
        let log = Log::open(&db).unwrap();
        assert_eq!(log.last_id(), 113, "the last record (114 to 120) went");
    }

    /// Two rooms in small segments: pages walk each room back once;
    /// the count limit keeps exactly each room's newest lines (cutting a
    /// record), and a segment none of whose records is kept is removed.
    #[test]
    fn count_retention_is_exact_and_old_segments_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.sqlite3");
        let now = now_ms();
        let mut log = Log::open(&db).unwrap();
        log.segs.full_at = 2000;
        for k in 0..30u64 {
            let base = k * 40;
            add(&mut log, None, base + 1..=base + 25, 9, now);
            add(&mut log, Some("#a"), base + 26..=base + 40, 4, now);
        }
        let segs = || std::fs::read_dir(segments::dir_of(&db)).unwrap().count();
        let before = segs();
        assert!(before > 5, "{before} segments");
        let r = Retention {
            max_messages: 101,
            max_age: None,
            store_direct: false,
        };
        log.prune(r, true, None);
        let default: Vec<u64> = walk(&log, None, 10);
        assert_eq!(default.len(), 101);
        let all: Vec<u64> = (0..30u64)
            .flat_map(|k| k * 40 + 1..=k * 40 + 25)
            .rev()
            .collect();
        assert_eq!(default, all[..101]);
        assert_eq!(walk(&log, Some("#a"), 7).len(), 101);
        assert_eq!(log.total(&None), 101);
        assert!(segs() < before, "segments past retention removed");
        // Opened again: the same lines once retention is applied.
        drop(log);
        let mut log = Log::open(&db).unwrap();
        log.prune(r, true, None);
        assert_eq!(walk(&log, None, 10), all[..101]);
    }

    /// A line older than max_age is never shown, even in a record whose
    /// newest line is young; a record wholly older goes.
    #[test]
    fn lines_past_max_age_are_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.sqlite3");
        let day = 86_400_000;
        let now = now_ms();
        let mut log = Log::open(&db).unwrap();
        let chats: Vec<Chat> = (1..=30)
            .map(|i| chat(i, if i <= 15 { now - 5 * day } else { now }))
            .collect();
        for part in [&chats[..10], &chats[10..20], &chats[20..]] {
            log.append(None, &part.iter().collect::<Vec<_>>()).unwrap();
        }
        let r = Retention {
            max_messages: 0,
            max_age: Some(Duration::from_secs(3 * 86_400)),
            store_direct: false,
        };
        log.prune(r, true, None);
        assert_eq!(walk(&log, None, 4), (16..=30).rev().collect::<Vec<_>>());
        assert_eq!(log.rooms[&None].entries.len(), 2, "the old record went");
    }
}
