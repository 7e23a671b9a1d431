//! `join --show-wire`: a tap around the connection that prints every line sent
//! (`->`) and received (`<-`) on stderr with the time, secrets redacted
//! (`password`, `proof`, `server_proof`). For learning the protocol.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Stream;

/// Longest partial line kept for printing; longer lines are shown cut.
const MAX_LINE: usize = 64 * 1024;

pub(crate) struct Tap {
    inner: Box<dyn Stream>,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl Tap {
    pub(crate) fn new(inner: Box<dyn Stream>) -> Tap {
        Tap {
            inner,
            rx: Vec::new(),
            tx: Vec::new(),
        }
    }
}

/// The line as it should be shown: compact JSON with secrets replaced by "***".
pub(crate) fn redact(line: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(mut v) => {
            if let Some(obj) = v.as_object_mut() {
                for key in ["password", "proof", "server_proof", "ke1", "ke2", "ke3"] {
                    if obj.contains_key(key) {
                        obj.insert(key.into(), serde_json::Value::String("***".into()));
                    }
                }
            }
            crate::names::sanitize(&v.to_string()).into_owned()
        }
        Err(_) => crate::names::sanitize(&String::from_utf8_lossy(line)).into_owned(),
    }
}

fn feed(buf: &mut Vec<u8>, data: &[u8], arrow: &str) {
    for &b in data {
        if b == b'\n' {
            print_line(buf, arrow);
        } else if buf.len() < MAX_LINE {
            buf.push(b);
        }
    }
}

fn print_line(buf: &mut Vec<u8>, arrow: &str) {
    let line = std::mem::take(buf);
    let line = line.strip_suffix(b"\r").unwrap_or(&line);
    if line.is_empty() {
        return;
    }
    let now = time::OffsetDateTime::now_utc();
    let ts = format!(
        "{:02}:{:02}:{:02}.{:03}",
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    eprintln!("{arrow} {ts} {}", redact(line));
}

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = buf.filled()[before..].to_vec();
            feed(&mut self.rx, &new, "<-");
        }
        r
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &r {
            feed(&mut self.tx, &data[..*n], "->");
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_redacted_and_the_rest_is_shown() {
        let s =
            super::redact(br#"{"type":"auth","name":"a","proof":"c2VjcmV0","password":"hunter2"}"#);
        assert!(
            s.contains(r#""proof":"***""#) && s.contains(r#""password":"***""#),
            "{s}"
        );
        assert!(!s.contains("hunter2") && !s.contains("c2VjcmV0"));
        assert!(super::redact(b"not json \x1b[2J").contains("\\u{1b}"));
    }
}
