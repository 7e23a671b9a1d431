//! Test harness: the real `tcpplay` binary with a scrubbed environment, raw
//! protocol peers over plain and TLS sockets, and certificates made by the
//! project's own generator. Every wait is bounded; nothing sleeps to sync.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

/// How long any single expectation may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// `tcpplay` with no `TCPPLAY_*` settings, a private HOME and working dir.
pub fn tcpplay(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tcpplay"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .current_dir(home);
    cmd
}

/// Lines of a child's output stream, read on a thread.
pub struct Lines {
    rx: Receiver<String>,
    seen: Vec<String>,
    name: &'static str,
}

impl Lines {
    pub fn spawn(r: impl Read + Send + 'static, name: &'static str) -> Lines {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
            name,
        }
    }

    /// The next line, waiting at most until `deadline` (`None`: none came,
    /// or the stream closed).
    pub fn next_until(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = self.rx.recv_timeout(left).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Wait for a line containing `pat`; return it.
    pub fn expect(&mut self, pat: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(pat) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {} line containing {pat:?} within {WAIT:?}; saw: {:#?}",
                        self.name, self.seen
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{} closed before a line containing {pat:?}; saw: {:#?}",
                        self.name, self.seen
                    )
                }
            }
        }
    }

    /// Everything until the stream closes (bounded by WAIT).
    pub fn rest(&mut self) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    out.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => return out,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{} did not close within {WAIT:?}", self.name)
                }
            }
        }
    }

    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Every line so far: those already read and those waiting (no wait).
    pub fn drain(&mut self) -> Vec<String> {
        while let Ok(line) = self.rx.try_recv() {
            self.seen.push(line);
        }
        self.seen.clone()
    }
}

/// A running child process, killed on drop.
pub struct Proc {
    pub child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
    pub stdin: Option<ChildStdin>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start tcpplay");
        let stdout = Lines::spawn(child.stdout.take().unwrap(), "stdout");
        let stderr = Lines::spawn(child.stderr.take().unwrap(), "stderr");
        let stdin = child.stdin.take();
        Proc {
            child,
            stdout,
            stderr,
            stdin,
        }
    }

    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to child stdin");
        stdin.flush().unwrap();
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Wait for exit (bounded); the exit code.
    pub fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20)); // polling an exit, not synchronising
        }
    }

    #[cfg(unix)]
    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `tcpplay serve` on 127.0.0.1, port 0, ready when it said so.
pub struct Server {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub home: Arc<TempDir>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_with(args, &[], Arc::new(TempDir::new().unwrap()))
    }

    pub fn start_with(args: &[&str], env: &[(&str, &str)], home: Arc<TempDir>) -> Server {
        Server::start_cmd(tcpplay(home.path()), args, env, home)
    }

    /// As [`Server::start_with`], the server allowed at most `files` open
    /// descriptors (`ulimit -n`, set in the child before it runs).
    #[cfg(unix)]
    pub fn start_with_files(args: &[&str], env: &[(&str, &str)], files: u64) -> Server {
        use std::os::unix::process::CommandExt;
        let home = home();
        let mut cmd = tcpplay(home.path());
        // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: files as libc::rlim_t,
                    rlim_max: files as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        Server::start_cmd(cmd, args, env, home)
    }

    fn start_cmd(
        mut cmd: Command,
        args: &[&str],
        env: &[(&str, &str)],
        home: Arc<TempDir>,
    ) -> Server {
        cmd.arg("serve");
        if !args.contains(&"--bind") {
            cmd.args(["--bind", "127.0.0.1"]);
        }
        if !args.contains(&"--port") {
            cmd.args(["--port", "0"]);
        }
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut proc = Proc::spawn(cmd);
        let line = proc.stdout.expect("listening on ");
        let addr = line
            .split_whitespace()
            .nth(2)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in readiness line {line:?}"));
        Server { proc, addr, home }
    }

    /// `serve --tls` with this certificate and key (`extra` appended).
    pub fn tls(cert: impl AsRef<Path>, key: impl AsRef<Path>, extra: &[&str]) -> Server {
        let (c, k) = (cert.as_ref(), key.as_ref());
        let mut args = vec![
            "--tls",
            "--cert",
            c.to_str().unwrap(),
            "--key",
            k.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Server::start(&args)
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// Start `tcpplay join` against this server with extra args.
    pub fn join(&self, args: &[&str]) -> Proc {
        let mut cmd = tcpplay(self.home.path());
        cmd.args(["join", "--port", &self.port()]);
        if !args.contains(&"--host") {
            cmd.args(["--host", "127.0.0.1"]);
        }
        cmd.args(args);
        Proc::spawn(cmd)
    }
}

/// A certificate and key for localhost/127.0.0.1/::1, made by gen-cert's code.
pub struct CertFiles {
    pub dir: TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub fingerprint: String,
}

pub fn make_cert() -> CertFiles {
    make_cert_with(tcpplay::certgen::CertRequest::default())
}

pub fn make_cert_with(req: tcpplay::certgen::CertRequest) -> CertFiles {
    let dir = TempDir::new().unwrap();
    let g = tcpplay::certgen::generate(&req).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    tcpplay::certgen::write_new(&cert, &g.cert_pem, false, false).unwrap();
    tcpplay::certgen::write_new(&key, &g.key_pem, true, false).unwrap();
    CertFiles {
        dir,
        cert,
        key,
        fingerprint: tcpplay::tls::fingerprint(&g.cert_der),
    }
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// A raw protocol peer: sends and expects JSON lines byte for byte.
pub struct Peer {
    stream: Box<dyn ReadWrite>,
    buf: Vec<u8>,
    pub local_port: u16,
}

impl Peer {
    pub fn connect(addr: SocketAddr) -> Peer {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_nodelay(true).unwrap();
        let local_port = s.local_addr().unwrap().port();
        Peer {
            stream: Box::new(s),
            buf: Vec::new(),
            local_port,
        }
    }

    /// TLS to `addr`, trusting `cert`; also returns the TLS exporter closure's input.
    pub fn connect_tls(addr: SocketAddr, cert: &Path) -> Peer {
        let (peer, _) = Peer::connect_tls_raw(addr, cert);
        peer
    }

    pub fn connect_tls_raw(addr: SocketAddr, cert: &Path) -> (Peer, [u8; 32]) {
        Peer::connect_tls_from(addr, cert, None)
    }

    /// TLS from a chosen loopback source address (e.g. 127.0.0.2).
    pub fn connect_tls_from(
        addr: SocketAddr,
        cert: &Path,
        from: Option<std::net::IpAddr>,
    ) -> (Peer, [u8; 32]) {
        let s = match from {
            None => TcpStream::connect(addr).expect("connect"),
            Some(ip) => {
                let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                sock.bind(&SocketAddr::new(ip, 0).into())
                    .expect("bind source address");
                sock.connect(&addr.into()).expect("connect");
                sock.into()
            }
        };
        s.set_read_timeout(Some(WAIT)).unwrap();
        let local_port = s.local_addr().unwrap().port();
        let config =
            tcpplay::tls::client_config(&tcpplay::tls::Trust::File(cert.to_path_buf())).unwrap();
        let name = tcpplay::tls::server_name("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        let mut sock = s;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).expect("TLS handshake");
        }
        let mut binding = [0u8; 32];
        conn.export_keying_material(&mut binding, tcpplay::crypto::EXPORTER_LABEL, None)
            .unwrap();
        let stream = rustls::StreamOwned::new(conn, sock);
        (
            Peer {
                stream: Box::new(stream),
                buf: Vec::new(),
                local_port,
            },
            binding,
        )
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
        self.stream.flush().unwrap();
    }

    pub fn send(&mut self, v: Value) {
        let mut line = serde_json::to_vec(&v).unwrap();
        line.push(b'\n');
        self.send_raw(&line);
    }

    /// The next raw line (without `\n`); `None` at end of stream.
    pub fn recv_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(line[..line.len() - 1].to_vec());
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    panic!("no line from the server within {WAIT:?}")
                }
                Err(_) => return None,
            }
        }
    }

    /// The next packet; panics at end of stream.
    pub fn recv(&mut self) -> Value {
        let line = self.recv_line().expect("server closed the connection");
        serde_json::from_slice(&line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&line)))
    }

    /// Skip packets until one of `ty` arrives.
    pub fn recv_type(&mut self, ty: &str) -> Value {
        loop {
            let v = self.recv();
            if v["type"] == ty {
                return v;
            }
        }
    }

    /// Skip packets until a chat with this text arrives.
    pub fn recv_chat(&mut self, text: &str) -> Value {
        loop {
            let v = self.recv();
            if v["type"] == "chat" && v["text"] == text {
                return v;
            }
        }
    }

    /// Skip packets until a system notice with this text arrives.
    pub fn recv_system(&mut self, text: &str) -> Value {
        loop {
            let v = self.recv();
            if v["type"] == "system" && v["text"] == text {
                return v;
            }
        }
    }

    /// Round-trip a marker chat and count the system notices equal to `text`
    /// that arrive before it (proves nothing more was queued for us).
    pub fn until_idle_count_of(&mut self, text: &str) -> usize {
        let marker = format!("marker-{}", self.local_port);
        self.send(serde_json::json!({"type": "chat", "text": marker}));
        let mut n = 0;
        loop {
            let v = self.recv();
            if v["type"] == "system" && v["text"] == text {
                n += 1;
            }
            if v["type"] == "chat" && v["text"] == marker.as_str() {
                return n;
            }
        }
    }

    /// Read until the server closes; the packets seen.
    pub fn until_closed(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(line) = self.recv_line() {
            if let Ok(v) = serde_json::from_slice(&line) {
                out.push(v);
            }
        }
        out
    }

    /// Connect, read hello, auth as `name` the way the Python client does
    /// (no `proto`); the name the server gave.
    pub fn join(addr: SocketAddr, name: &str) -> (Peer, String) {
        Peer::join_as(addr, json!({"type": "auth", "name": name}))
    }

    /// As [`join`](Self::join), declaring protocol version 1 as `tcpplay join` does.
    pub fn join_v1(addr: SocketAddr, name: &str) -> (Peer, String) {
        Peer::join_as(addr, json!({"type": "auth", "name": name, "proto": 1}))
    }

    /// As [`join`](Self::join), declaring protocol version 3.
    pub fn join_v3(addr: SocketAddr, name: &str) -> (Peer, String) {
        Peer::join_as(addr, json!({"type": "auth", "name": name, "proto": 3}))
    }

    /// Skip lines until a chat line with this text arrives: its raw bytes
    /// (without `\n`) and the packet.
    pub fn recv_chat_raw(&mut self, text: &str) -> (String, Value) {
        loop {
            let line = self.recv_line().expect("server closed the connection");
            let v: Value = serde_json::from_slice(&line).expect("a JSON line");
            if v["type"] == "chat" && v["text"] == text {
                return (String::from_utf8(line).expect("UTF-8"), v);
            }
        }
    }

    fn join_as(addr: SocketAddr, auth: Value) -> (Peer, String) {
        let mut p = Peer::connect(addr);
        let hello = p.recv();
        assert_eq!(hello["type"], "hello");
        p.send(auth);
        let r = p.recv_type("auth_result");
        assert_eq!(r["ok"], true, "{r}");
        let name = r["client_name"].as_str().unwrap().to_string();
        (p, name)
    }
}

/// A TLS server on 127.0.0.1 that accepts one connection, completes the
/// handshake with `cert`, and hands the stream to `serve` on its own thread.
pub fn tls_once<F, Fut>(cert: &CertFiles, serve: F) -> SocketAddr
where
    F: FnOnce(tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(
        tcpplay::tls::server_config(&cert.cert, &cert.key).unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (s, _) = listener.accept().await.unwrap();
            if let Ok(tls) = acceptor.accept(s).await {
                serve(tls).await;
            }
        });
    });
    addr
}

/// `tcpplay ARGS` run to completion (bounded), for its exit code and output.
pub struct Run {
    cmd: Command,
    stdin: Vec<u8>,
}

/// What a finished run printed, and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(home: &Path, args: &[&str]) -> Run {
    let mut cmd = tcpplay(home);
    cmd.args(args);
    Run {
        cmd,
        stdin: Vec::new(),
    }
}

impl Run {
    pub fn env(mut self, k: &str, v: &str) -> Run {
        self.cmd.env(k, v);
        self
    }

    pub fn stdin(mut self, bytes: &[u8]) -> Run {
        self.stdin = bytes.to_vec();
        self
    }

    pub fn go(mut self) -> Ran {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("start tcpplay");
        let mut stdin = child.stdin.take().unwrap();
        let input = std::mem::take(&mut self.stdin);
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let o = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        });
        let e = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        });
        let deadline = Instant::now() + WAIT * 4;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("tcpplay did not finish within {:?}", WAIT * 4);
            }
            std::thread::sleep(Duration::from_millis(20)); // polling an exit, not synchronising
        };
        Ran {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.join().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&e.join().unwrap()).into_owned(),
        }
    }
}

impl Ran {
    pub fn code(&self, code: i32) -> &Ran {
        assert_eq!(self.code, code, "exit code; {self:#?}");
        self
    }

    pub fn stderr_has(&self, s: &str) -> &Ran {
        assert!(self.stderr.contains(s), "stderr lacks {s:?}: {self:#?}");
        self
    }

    pub fn stdout_has(&self, s: &str) -> &Ran {
        assert!(self.stdout.contains(s), "stdout lacks {s:?}: {self:#?}");
        self
    }

    /// Nothing a user reads is Rust's: no debug output, type names or URLs.
    pub fn for_people(&self) -> &Ran {
        for bad in [
            "Other(",
            "OtherError",
            "KeyMismatch",
            "UnknownIssuer",
            "usize",
            "signed int",
            "invalid float literal",
            "https://",
            "(UNIX)",
            "Kind(",
            "Error {",
        ] {
            assert!(
                !self.stderr.contains(bad) && !self.stdout.contains(bad),
                "{bad:?} shown to a user: {self:#?}"
            );
        }
        self
    }
}

/// `tcpplay check --json ARGS` (a fresh home, `env` set): its document.
pub fn check_json(args: &[&str], env: &[(&str, &str)]) -> Value {
    let home = TempDir::new().unwrap();
    let mut cmd = tcpplay(home.path());
    cmd.arg("check").arg("--json").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// A script in tests/fixtures (written for these tests, run by python3).
pub fn python(script: &str) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(script),
    );
    cmd
}

/// Run the `openssl` command line in `dir`; it must succeed.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (install it: apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port that was free a moment ago (for a server that must come back on
/// the same address).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on a plain HTTP listener: (status code, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    (status, body.to_string())
}

/// The value of one sample (`name{labels}`, exactly as exposed) in
/// OpenMetrics text; 0 when it is absent.
pub fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

impl Server {
    /// The metrics listener's address (from `serve --metrics 127.0.0.1:0`).
    pub fn metrics_addr(&mut self) -> String {
        let line = self.proc.stdout.expect("metrics on http://");
        line.split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_string()
    }
}

/// Scrape until `name` reaches `want` (counters move when the event has
/// happened in the server, which the client may see a moment earlier).
pub fn metric_until(addr: &str, name: &str, want: f64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (code, body) = http_get(addr, "/metrics");
        assert_eq!(code, 200);
        if sample(&body, name) == want || std::time::Instant::now() > deadline {
            assert_eq!(sample(&body, name), want, "{name} in:\n{body}");
            return body;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A fresh home directory (data, history, known_hosts) for a server or a
/// client.
pub fn home() -> Arc<TempDir> {
    Arc::new(TempDir::new().unwrap())
}

/// What a member was told when it came in: the name it was given, and each
/// room's `joined` packet (by room name; `welcome["#room"]`).
pub struct Welcome {
    pub name: String,
    pub rooms: std::collections::BTreeMap<String, Value>,
}

impl std::ops::Index<&str> for Welcome {
    type Output = Value;
    fn index(&self, room: &str) -> &Value {
        &self.rooms[room]
    }
}

/// A server with `--web 127.0.0.1:0` (and `args`, `env`), and the page's
/// `HOST:PORT`.
pub fn web_server(args: &[&str], env: &[(&str, &str)]) -> (Server, String) {
    let mut all = vec!["--no-history", "--web", "127.0.0.1:0"];
    all.extend_from_slice(args);
    web_server_from(Server::start_with(&all, env, home()))
}

/// The page's `HOST:PORT` from a server started with `--web`.
pub fn web_server_from(mut server: Server) -> (Server, String) {
    let line = server.proc.stdout.expect("open in a browser: ");
    let url = line.rsplit(' ').next().unwrap().to_string();
    let host = url
        .trim_end_matches('/')
        .trim_start_matches("http://")
        .to_string();
    (server, host)
}

/// One HTTP request (written whole) on a new connection, and the answer's
/// head and body (by its Content-Length; the connection may stay open).
pub fn http_exchange(addr: &str, request: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    read_http_answer(&mut s)
}

/// An HTTP answer's head (status line and headers) and body, read by its
/// Content-Length (to the end when it has none; none after a 101).
pub fn read_http_answer(s: &mut std::net::TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).expect("an HTTP answer");
        assert!(
            n > 0,
            "closed before an HTTP answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let mut body = buf[head_end..].to_vec();
    if head.starts_with("HTTP/1.1 101 ") {
        // Switched protocols: what follows is no HTTP body.
        return (head, String::new());
    }
    match length {
        Some(n) => {
            while body.len() < n {
                let got = s.read(&mut chunk).expect("the body");
                assert!(got > 0, "closed inside the body");
                body.extend_from_slice(&chunk[..got]);
            }
        }
        None => {
            let _ = s.read_to_end(&mut body);
        }
    }
    (head, String::from_utf8_lossy(&body).into_owned())
}

/// A tcpplay client (protocol 3) of the server at `addr`, in `rooms` (none:
/// the server's default room).
pub fn member(addr: SocketAddr, name: &str, rooms: &[&str]) -> (Peer, Welcome) {
    let mut p = Peer::connect(addr);
    let hello = p.recv();
    assert!(hello["proto"].as_u64().unwrap_or(0) >= 3, "{hello}");
    p.send(serde_json::json!({"type": "auth", "name": name, "proto": 3, "rooms": rooms}));
    let r = p.recv_type("auth_result");
    assert_eq!(r["ok"], true, "{r}");
    let mut joined = std::collections::BTreeMap::new();
    for _ in 0..rooms.len().max(1) {
        let j = p.recv_type("joined");
        joined.insert(j["room"].as_str().unwrap().to_string(), j);
    }
    let name = r["client_name"].as_str().unwrap().to_string();
    (
        p,
        Welcome {
            name,
            rooms: joined,
        },
    )
}

/// A chat line to `room`.
pub fn say(p: &mut Peer, room: &str, text: &str) {
    p.send(serde_json::json!({"type": "chat", "room": room, "text": text}));
}

/// A process's resident memory in KiB (Linux: /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Members with accounts, over TLS: the server (with an accounts database),
/// `tcpplay join` under an account, accounts made offline, client
/// certificates.
pub mod accounts {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use tempfile::TempDir;

    use super::{tcpplay, CertFiles, Proc, Server};

    /// A TLS server with accounts in `dir/accounts.sqlite3`, the settings in
    /// `config` (TOML) and these flags.
    pub fn serve(cert: &CertFiles, dir: &Path, config: &str, extra: &[&str]) -> Server {
        let cfg = dir.join("tcpplay.toml");
        std::fs::write(&cfg, config).unwrap();
        let db = dir.join("accounts.sqlite3");
        let mut args = vec![
            "--tls",
            "--cert",
            cert.cert.to_str().unwrap(),
            "--key",
            cert.key.to_str().unwrap(),
            "--accounts",
            db.to_str().unwrap(),
            "--no-history",
        ];
        args.extend_from_slice(extra);
        let home = Arc::new(TempDir::new().unwrap());
        let cfg_env = cfg.to_str().unwrap().to_string();
        Server::start_with(&args, &[("TCPPLAY_CONFIG", &cfg_env)], home)
    }

    /// `tcpplay join` to `server` as `name`, with the account password `pw`
    /// (in the environment, as a script gives it) and extra flags.
    pub fn join(
        server: &Server,
        cert: &CertFiles,
        name: &str,
        pw: Option<&str>,
        extra: &[&str],
    ) -> Proc {
        let mut cmd = tcpplay(server.home.path());
        cmd.args(["join", "--host", "localhost", "--port", &server.port()])
            .args(["--cert", cert.cert.to_str().unwrap(), "--name", name])
            .args(extra);
        cmd.env_remove("TCPPLAY_ACCOUNT_PASSWORD");
        if let Some(pw) = pw {
            cmd.env("TCPPLAY_ACCOUNT_PASSWORD", pw);
        }
        Proc::spawn(cmd)
    }

    /// `tcpplay gen-account NAME` into `db`, with `pw`.
    pub fn gen_account(dir: &Path, db: &Path, name: &str, pw: &str) {
        let out = tcpplay(dir)
            .args(["gen-account", name, "--accounts", db.to_str().unwrap()])
            .env("TCPPLAY_ACCOUNT_PASSWORD", pw)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("made the account"));
    }

    /// A CA, and client certificates for `names`, made by `gen-cert`.
    pub fn client_pki(dir: &Path, names: &[&str]) -> PathBuf {
        let gen = |args: &[&str]| {
            let o = tcpplay(dir)
                .current_dir(dir)
                .arg("gen-cert")
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        gen(&["--ca"]);
        for n in names {
            gen(&["--client", n]);
        }
        dir.join("ca.pem")
    }
}
