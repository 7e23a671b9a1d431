//! Lines from a pipe or file (`join` as a line filter): read as bytes, each
//! line checked on its own. A line that is not UTF-8 or is absurdly long is
//! reported on stderr with its number and counted, and the lines after it
//! still go; nothing ends the input early but its end.

use std::io::BufRead;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::outbox::Tally;
use super::Input;

/// Longest input line read into memory; the rest of a longer one is skipped
/// (no server takes a line this long).
pub(crate) const MAX_INPUT_LINE: usize = 1 << 20;

/// What the end of stdin means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtEnd {
    /// Leave once what was read is sent.
    Leave,
    /// Stay and keep printing what arrives (`join --listen`).
    Stay,
}

/// Feed stdin's lines into `tx` on a thread; `Quit` at the end of input,
/// unless told to stay.
pub(crate) fn spawn_stdin_lines(tx: mpsc::Sender<Input>, tally: Arc<Tally>, at_end: AtEnd) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        read_lines(stdin.lock(), &tx, &tally);
        if at_end == AtEnd::Leave {
            let _ = tx.blocking_send(Input::Quit);
        }
    });
}

/// One line of input as read: its bytes (at most [`MAX_INPUT_LINE`]) and
/// whether more was skipped.
struct RawLine {
    bytes: Vec<u8>,
    cut: bool,
}

fn read_raw(r: &mut impl BufRead) -> std::io::Result<Option<RawLine>> {
    let mut line = RawLine {
        bytes: Vec::new(),
        cut: false,
    };
    let mut any = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then_some(line));
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = MAX_INPUT_LINE.saturating_sub(line.bytes.len());
        if chunk.len() > room {
            line.cut = true;
        }
        line.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(line));
        }
    }
}

/// Read lines until the end (or a read error, reported); send the good ones.
pub(super) fn read_lines(mut r: impl BufRead, tx: &mpsc::Sender<Input>, tally: &Tally) {
    let mut number = 0u64;
    loop {
        let raw = match read_raw(&mut r) {
            Ok(Some(raw)) => raw,
            Ok(None) => return,
            Err(e) => {
                crate::output::err(format!(
                    "tcpplay: reading input after line {number} failed: {e}; the rest is not sent"
                ));
                tally.invalid();
                return;
            }
        };
        number += 1;
        let mut bytes = raw.bytes;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        if raw.cut {
            tally.invalid();
            crate::output::err(format!(
                "tcpplay: line {number} not sent: longer than {MAX_INPUT_LINE} bytes"
            ));
            continue;
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                tally.invalid();
                let at = e.utf8_error().valid_up_to();
                let byte = e.as_bytes()[at];
                crate::output::err(format!(
                    "tcpplay: line {number} not sent: it is not UTF-8 text (byte 0x{byte:02X} at position {}); \
                     convert it first, e.g. with iconv",
                    at + 1
                ));
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        if tx.blocking_send(Input::Line(Some(number), text)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> (Vec<(Option<u64>, String)>, u64) {
        let (tx, mut rx) = mpsc::channel(1000);
        let tally = Tally::default();
        read_lines(std::io::Cursor::new(input.to_vec()), &tx, &tally);
        drop(tx);
        let mut got = Vec::new();
        while let Ok(Input::Line(n, t)) = rx.try_recv() {
            got.push((n, t));
        }
        (got, tally.failed())
    }

    #[test]
    fn bad_lines_are_skipped_and_counted_and_the_rest_still_goes() {
        let (got, failed) = lines(b"good1\n\xff\xfe bad\r\ngood2\n\n  \nlast without newline");
        assert_eq!(
            got,
            vec![
                (Some(1), "good1".to_string()),
                (Some(3), "good2".to_string()),
                (Some(6), "last without newline".to_string())
            ]
        );
        assert_eq!(failed, 1);
    }

    #[test]
    fn an_endless_line_is_cut_without_holding_it() {
        let mut input = vec![b'x'; MAX_INPUT_LINE * 3];
        input.extend_from_slice(b"\nafter\n");
        let (got, failed) = lines(&input);
        assert_eq!(got, vec![(Some(2), "after".to_string())]);
        assert_eq!(failed, 1);
    }
}
