//! Another protocol on tcpplay's port: a browser or `curl` (HTTP), an IRC
//! client (`NICK`, `USER`, `CAP`). Recognised from the first bytes, so the
//! server can answer with one line that person can read — in a form their
//! program shows — instead of JSON they would never see.

/// A protocol that is not tcpplay's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    Http,
    Irc,
}

const HTTP_METHODS: [&str; 9] = [
    "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ",
];
const IRC_OPENERS: [&str; 4] = ["NICK ", "USER ", "CAP ", "PASS "];

const WEB: &str =
    "This is a tcpplay chat server, not a web server: it speaks JSON lines over TCP. \
                   Join with `tcpplay join` and this server's address and port.";
const IRC: &str = "This is a tcpplay chat server, not an IRC server: \
                   join with `tcpplay join` and this server's address and port.";

impl Foreign {
    /// Its name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Foreign::Http => "HTTP",
            Foreign::Irc => "IRC",
        }
    }

    /// What the start of a connection's input (a line, or the bytes that
    /// arrived first) says it is; `None` for anything else.
    pub fn recognise(start: &[u8]) -> Option<Foreign> {
        let has =
            |p: &str| start.len() >= p.len() && start[..p.len()].eq_ignore_ascii_case(p.as_bytes());
        if HTTP_METHODS.iter().any(|m| start.starts_with(m.as_bytes())) {
            return Some(Foreign::Http);
        }
        if IRC_OPENERS.iter().any(|c| has(c)) {
            return Some(Foreign::Irc);
        }
        None
    }

    /// The line to send before closing, in the form that program shows
    /// (on a plaintext port, after the `hello` already sent).
    pub fn answer(self) -> Vec<u8> {
        match self {
            Foreign::Http => format!("{WEB}\r\n"),
            Foreign::Irc => format!("ERROR :{IRC}\r\n"),
        }
        .into_bytes()
    }

    /// The answer on a TLS port, where nothing was said yet: a whole HTTP
    /// response for a browser.
    pub fn answer_first(self) -> Vec<u8> {
        if self == Foreign::Irc {
            return self.answer();
        }
        let body = format!("{WEB}\n");
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_irc_openers_are_recognised_and_chat_is_not() {
        assert_eq!(Foreign::recognise(b"GET / HTTP/1.1"), Some(Foreign::Http));
        assert_eq!(
            Foreign::recognise(b"OPTIONS * HTTP/1.1"),
            Some(Foreign::Http)
        );
        assert_eq!(Foreign::recognise(b"NICK bob"), Some(Foreign::Irc));
        assert_eq!(Foreign::recognise(b"cap LS 302"), Some(Foreign::Irc));
        assert_eq!(Foreign::recognise(b"{\"type\":\"auth\"}"), None);
        assert_eq!(Foreign::recognise(b"get"), None);
        assert_eq!(Foreign::recognise(b""), None);
        assert!(String::from_utf8(Foreign::Irc.answer())
            .unwrap()
            .starts_with("ERROR :"));
        assert!(String::from_utf8(Foreign::Http.answer_first())
            .unwrap()
            .starts_with("HTTP/1.1 400"));
    }
}
