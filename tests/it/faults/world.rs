//! The processes a fault schedule acts on: one real `redis-server` (with
//! an append-only file synced on every write, so a restart "with its data"
//! keeps every acknowledged write, and a restart "without" starts from an
//! empty directory) and real `tcpplay serve` nodes. Every process is
//! started here, on loopback, and ended by its pid here.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use tempfile::TempDir;

use crate::util::{free_port, Lines, Server};

/// Send `sig` to our own child `pid`.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: a signal to a process this test started.
    unsafe { libc::kill(pid as i32, sig) };
}

pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    _log: Option<Lines>,
    pub paused: bool,
}

impl Redis {
    pub fn start() -> Redis {
        let mut r = Redis {
            child: None,
            port: free_port(),
            dir: TempDir::new().unwrap(),
            _log: None,
            paused: false,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                // `DEBUG SLEEP`: a Redis that stalls (Redis 7 asks for it).
                "--enable-debug-command",
                "yes",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server (install it: apt-get install redis-server)");
        let mut log = Lines::spawn(child.stdout.take().unwrap(), "redis-server");
        log.expect("Ready to accept connections");
        self.child = Some(child);
        self._log = Some(log);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn pause(&mut self) {
        signal(self.pid(), libc::SIGSTOP);
        self.paused = true;
    }

    pub fn resume(&mut self) {
        signal(self.pid(), libc::SIGCONT);
        self.paused = false;
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.paused = false;
    }

    /// Killed (no goodbye) and started again on its port, with its data
    /// (`keep`) or from nothing.
    pub fn restart(&mut self, keep: bool) {
        self.kill();
        if !keep {
            self.dir = TempDir::new().unwrap();
        }
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if self.paused {
            self.resume();
        }
        self.kill();
    }
}

/// A node: its name and its running server (none while it is down).
pub struct Node {
    pub name: String,
    pub server: Option<Server>,
    pub paused: bool,
    url: String,
    env: Vec<(String, String)>,
}

impl Node {
    pub fn start(redis: &Redis, name: &str) -> Node {
        Node::start_env(redis, name, &[])
    }

    /// A node with more settings from the environment.
    pub fn start_env(redis: &Redis, name: &str, env: &[(&str, &str)]) -> Node {
        Node::start_at(&redis.url(), name, env)
    }

    /// A node on the Redis at `url` (one with a password, say).
    pub fn start_at(url: &str, name: &str, env: &[(&str, &str)]) -> Node {
        let mut all = vec![
            ("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "0"),
            ("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "0"),
            ("TCPPLAY_LIMITS__MAX_ROOMS_PER_MEMBER", "0"),
        ];
        all.extend_from_slice(env);
        // `FAULT_NODE_LOG=debug`: the nodes log more, for reading a failure.
        let level = std::env::var("FAULT_NODE_LOG").unwrap_or_default();
        if !level.is_empty() {
            all.push(("TCPPLAY_LOG", level.as_str()));
        }
        let mut n = Node {
            name: name.to_string(),
            server: None,
            paused: false,
            url: url.to_string(),
            env: all
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let args = ["--cluster", self.url.as_str(), "--node", self.name.as_str()];
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.server = Some(Server::start_with(
            &args,
            &env,
            Arc::new(TempDir::new().unwrap()),
        ));
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(|s| s.addr)
    }

    /// The address of a node that is up.
    pub fn at(&self) -> SocketAddr {
        self.addr().expect("the node is up")
    }

    /// What the running node wrote so far (its log on stderr, its stdout),
    /// for reading a failure.
    pub fn log(&mut self) -> String {
        let Some(s) = self.server.as_mut() else {
            return format!("== node {} is down\n", self.name);
        };
        let mut out = format!("== node {} stdout\n", self.name);
        for l in s.proc.stdout.drain() {
            out += &format!("  {l}\n");
        }
        out += &format!("== node {} stderr\n", self.name);
        for l in s.proc.stderr.drain() {
            out += &format!("  {l}\n");
        }
        out
    }

    /// SIGKILL, and not started again.
    pub fn kill(&mut self) {
        if self.paused {
            self.resume();
        }
        self.server = None;
    }

    fn pid(&self) -> u32 {
        self.server.as_ref().map(|s| s.proc.child.id()).unwrap_or(0)
    }

    pub fn pause(&mut self) {
        signal(self.pid(), libc::SIGSTOP);
        self.paused = true;
    }

    pub fn resume(&mut self) {
        signal(self.pid(), libc::SIGCONT);
        self.paused = false;
    }

    /// SIGKILL, then the same node name again (a new run: it waits out the
    /// old run's heartbeat).
    pub fn kill_and_restart(&mut self) {
        if self.paused {
            self.resume();
        }
        self.server = None;
        self.spawn();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.paused {
            self.resume();
        }
    }
}

impl Redis {
    /// `redis-cli ARGS` against this Redis (as its operator would): its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}
