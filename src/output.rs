//! Where tcpplay's own lines go: stdout (the console, results) and stderr
//! (logs, warnings).
//!
//! By default a line is written at once and a write error is ignored: a
//! closed terminal or pipe never panics the program (`println!` would).
//! `serve` switches to [`install_nonblocking`]: each stream gets a queue
//! bounded in bytes and its own writer thread, so a reader that stops reading
//! (a paused pager, a stuck log shipper, a closed terminal) costs lines, never
//! service. Dropped lines are counted and reported on the stream as soon as it
//! takes writes again. A line editor on the terminal can take over the
//! printing ([`set_printer`]) so that lines appear above the prompt.

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Bytes a stream may have queued before new lines are dropped.
pub const QUEUE_BYTES: usize = 1 << 20;

/// Which standard stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Prints a whole line (with its `\n`) some other way, e.g. above a line editor.
pub type Printer = Box<dyn FnMut(&str) -> std::io::Result<()> + Send>;

enum Job {
    Line(Vec<u8>),
    /// Answered once everything queued before it was written (or dropped).
    Flush(Sender<()>),
}

struct Queue {
    tx: Mutex<Sender<Job>>,
    queued: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
}

struct Queues {
    out: Queue,
    err: Queue,
}

static QUEUES: OnceLock<Queues> = OnceLock::new();
static PRINTER: Mutex<Option<Printer>> = Mutex::new(None);

/// Switch both streams to bounded, lossy, non-blocking queues (idempotent).
pub fn install_nonblocking() {
    QUEUES.get_or_init(|| Queues {
        out: Queue::spawn(Stream::Stdout),
        err: Queue::spawn(Stream::Stderr),
    });
}

/// Route lines through `printer` (a line editor's) until [`clear_printer`].
pub fn set_printer(printer: Printer) {
    *PRINTER.lock().unwrap_or_else(|e| e.into_inner()) = Some(printer);
}

pub fn clear_printer() {
    PRINTER.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// A line on stdout (`\n` added).
pub fn out(line: impl AsRef<str>) {
    write_line(Stream::Stdout, line.as_ref().as_bytes());
}

/// A line on stderr (`\n` added).
pub fn err(line: impl AsRef<str>) {
    write_line(Stream::Stderr, line.as_ref().as_bytes());
}

fn write_line(stream: Stream, line: &[u8]) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line);
    bytes.push(b'\n');
    write_raw(stream, bytes);
}

/// Bytes as they are (a log event carries its own `\n`).
fn write_raw(stream: Stream, bytes: Vec<u8>) {
    match QUEUES.get() {
        Some(q) => q.get(stream).push(bytes),
        None => {
            let _ = emit(stream, &bytes);
        }
    }
}

/// Wait (at most `limit`) until what was queued so far is written: at exit.
pub fn flush(limit: Duration) {
    let Some(q) = QUEUES.get() else {
        let _ = std::io::stdout().flush();
        return;
    };
    for queue in [&q.out, &q.err] {
        let (done, wait) = channel();
        let sent = queue
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Job::Flush(done));
        if sent.is_ok() {
            let _ = wait.recv_timeout(limit);
        }
    }
}

impl Queues {
    fn get(&self, s: Stream) -> &Queue {
        match s {
            Stream::Stdout => &self.out,
            Stream::Stderr => &self.err,
        }
    }
}

impl Queue {
    fn spawn(stream: Stream) -> Queue {
        let (tx, rx) = channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let (q, d) = (queued.clone(), dropped.clone());
        std::thread::Builder::new()
            .name(format!("{stream:?}").to_lowercase())
            .spawn(move || writer(stream, rx, q, d))
            .expect("start an output thread");
        Queue {
            tx: Mutex::new(tx),
            queued,
            dropped,
        }
    }

    /// Queue a line, or count it as dropped when the queue is full.
    fn push(&self, bytes: Vec<u8>) {
        let n = bytes.len();
        if self.queued.fetch_add(n, Ordering::AcqRel) + n > QUEUE_BYTES {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if tx.send(Job::Line(bytes)).is_err() {
            self.queued.fetch_sub(n, Ordering::AcqRel);
        }
    }
}

fn writer(stream: Stream, rx: Receiver<Job>, queued: Arc<AtomicUsize>, dropped: Arc<AtomicU64>) {
    while let Ok(job) = rx.recv() {
        match job {
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Line(bytes) => {
                let ok = emit(stream, &bytes).is_ok();
                queued.fetch_sub(bytes.len(), Ordering::AcqRel);
                let lost = if ok {
                    dropped.swap(0, Ordering::Relaxed)
                } else {
                    0
                };
                if lost > 0 {
                    let note = format!(
                        "tcpplay: {lost} line(s) of output were dropped here: nobody was reading {} fast enough\n",
                        match stream {
                            Stream::Stdout => "standard output",
                            Stream::Stderr => "standard error",
                        }
                    );
                    let _ = emit(stream, note.as_bytes());
                }
            }
        }
    }
}

/// One write to the stream (or the printer); errors are the caller's to ignore.
fn emit(stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
    {
        let mut printer = PRINTER.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = printer.as_mut() {
            return p(&String::from_utf8_lossy(bytes));
        }
    }
    match stream {
        Stream::Stdout => {
            let mut o = std::io::stdout().lock();
            o.write_all(bytes).and_then(|_| o.flush())
        }
        Stream::Stderr => std::io::stderr().lock().write_all(bytes),
    }
}

/// A `tracing` writer onto stderr through this module: one event, one write.
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

/// One log event being formatted; sent as a whole when dropped.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            write_raw(Stream::Stderr, std::mem::take(&mut self.0));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;
    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::with_capacity(256))
    }
}

/// `n` and the noun, singular for one: "1 earlier message", "2 rooms".
pub fn plural(n: impl Into<i128>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        // A queue whose writer never runs: the channel's receiver is kept
        // here, so nothing drains it.
        let (tx, _rx) = channel();
        let q = Queue {
            tx: Mutex::new(tx),
            queued: Arc::default(),
            dropped: Arc::default(),
        };
        let line = vec![b'x'; 1000];
        let started = std::time::Instant::now();
        for _ in 0..5000 {
            q.push(line.clone());
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never blocks");
        let kept = QUEUE_BYTES / 1000;
        assert_eq!(q.dropped.load(Ordering::Relaxed), 5000 - kept as u64);
        assert!(q.queued.load(Ordering::Relaxed) <= QUEUE_BYTES);
    }
}
