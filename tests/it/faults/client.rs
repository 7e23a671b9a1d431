//! A scripted client that records everything it sees: a plain JSON-line
//! connection, a reader thread that timestamps every packet (nothing is
//! interpreted while recording), and chat lines `cK-N` it sends with
//! `seq` N, so that a refusal answering it is matched.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What one client saw, with when (since the run started).
#[derive(Debug, Clone)]
pub enum Ev {
    /// Its name, from `auth_result`.
    Named(String),
    Chat {
        room: String,
        id: u64,
        text: String,
    },
    /// A `system` (or cluster) notice in a room.
    Notice {
        room: String,
        text: String,
    },
    /// An `error` answering chat line `seq`.
    Refused {
        seq: u64,
    },
    Users {
        room: String,
        names: Vec<String>,
    },
    Bye(String),
    Closed,
}

/// What the reader thread records, with a condition to wait on.
pub type Recorded = Arc<(Mutex<Vec<(Duration, Ev)>>, Condvar)>;

/// A line this client sent: its room, number and when.
#[derive(Debug, Clone)]
pub struct Sent {
    pub room: String,
    pub n: u64,
    pub at: Duration,
}

pub struct Client {
    pub k: usize,
    pub rooms: Vec<String>,
    pub node: String,
    pub events: Recorded,
    pub sent: Vec<Sent>,
    writer: Option<TcpStream>,
    next: u64,
}

impl Client {
    /// Connect to `addr` (node `node`) as `cK` in `rooms`, recording from
    /// `t0` on. The reader runs until the server closes the connection.
    pub fn connect(
        k: usize,
        addr: SocketAddr,
        node: &str,
        rooms: Vec<String>,
        t0: Instant,
    ) -> Client {
        let events = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let mut c = Client {
            k,
            rooms,
            node: node.to_string(),
            events: events.clone(),
            sent: Vec::new(),
            writer: None,
            next: 0,
        };
        let Ok(stream) = TcpStream::connect(addr) else {
            push(&events, t0, Ev::Closed);
            return c;
        };
        stream
            .set_write_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        // A paused node answers nothing: the reader gives up after a while.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let reader = stream.try_clone().unwrap();
        let auth = json!({"type": "auth", "name": format!("c{k}"), "proto": 3, "rooms": c.rooms});
        let mut w = stream;
        if writeln!(w, "{auth}").is_err() {
            push(&events, t0, Ev::Closed);
            return c;
        }
        c.writer = Some(w);
        std::thread::spawn(move || read_all(reader, events, t0));
        c
    }

    /// Wait (bounded) until the server named this client; false when it
    /// closed first.
    pub fn wait_named(&self, limit: Duration) -> bool {
        let (lock, cv) = &*self.events;
        let deadline = Instant::now() + limit;
        let mut evs = lock.lock().unwrap();
        loop {
            if evs.iter().any(|(_, e)| matches!(e, Ev::Named(_))) {
                return true;
            }
            if evs.iter().any(|(_, e)| matches!(e, Ev::Closed)) {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            evs = cv.wait_timeout(evs, left).unwrap().0;
        }
    }

    pub fn closed(&self) -> bool {
        let evs = self.events.0.lock().unwrap();
        evs.iter().any(|(_, e)| matches!(e, Ev::Closed))
    }

    /// Say the next line in `room`.
    pub fn say(&mut self, room: &str, t0: Instant) {
        let n = self.next;
        self.next += 1;
        let text = format!("c{}-{n}", self.k);
        let line = json!({"type": "chat", "room": room, "text": text, "seq": n});
        self.sent.push(Sent {
            room: room.to_string(),
            n,
            at: t0.elapsed(),
        });
        self.send(&line);
    }

    pub fn ask_users(&mut self, room: &str) {
        self.send(&json!({"type": "users", "room": room}));
    }

    /// A marker line (not counted as chat by the checker).
    pub fn mark(&mut self, room: &str, text: &str) {
        self.send(&json!({"type": "chat", "room": room, "text": text}));
    }

    fn send(&mut self, v: &Value) {
        if let Some(w) = self.writer.as_mut() {
            if writeln!(w, "{v}").is_err() {
                self.writer = None;
            }
        }
    }

    /// Hang up (client churn).
    pub fn leave(&mut self) {
        if let Some(w) = self.writer.take() {
            let _ = w.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The events so far.
    pub fn events(&self) -> Vec<(Duration, Ev)> {
        self.events.0.lock().unwrap().clone()
    }

    /// Wait (bounded) for an event matching `f` after index `from`.
    pub fn wait_for(&self, from: usize, limit: Duration, f: impl Fn(&Ev) -> bool) -> bool {
        let (lock, cv) = &*self.events;
        let deadline = Instant::now() + limit;
        let mut evs = lock.lock().unwrap();
        loop {
            if evs.iter().skip(from).any(|(_, e)| f(e)) {
                return true;
            }
            if evs.iter().any(|(_, e)| matches!(e, Ev::Closed)) {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            evs = cv.wait_timeout(evs, left).unwrap().0;
        }
    }

    pub fn len(&self) -> usize {
        self.events.0.lock().unwrap().len()
    }
}

fn push(events: &Recorded, t0: Instant, e: Ev) {
    events.0.lock().unwrap().push((t0.elapsed(), e));
    events.1.notify_all();
}

fn read_all(s: TcpStream, events: Recorded, t0: Instant) {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(e) = event(&v) {
            push(&events, t0, e);
        }
    }
    push(&events, t0, Ev::Closed);
}

fn event(v: &Value) -> Option<Ev> {
    let room = v["room"].as_str().unwrap_or("#lobby").to_string();
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    Some(match v["type"].as_str()? {
        "auth_result" if v["ok"] == true => Ev::Named(s("client_name")),
        "chat" | "history" => Ev::Chat {
            room,
            id: v["id"].as_u64()?,
            text: s("text"),
        },
        "system" => Ev::Notice {
            room,
            text: s("text"),
        },
        "error" => Ev::Refused {
            seq: v["seq"].as_u64()?,
        },
        "users" => Ev::Users {
            room,
            names: v["users"]
                .as_array()?
                .iter()
                .filter_map(|u| u["name"].as_str().map(str::to_string))
                .collect(),
        },
        "bye" => Ev::Bye(s("code")),
        _ => return None,
    })
}
