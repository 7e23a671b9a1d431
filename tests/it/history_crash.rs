//! The history under a crash: `kill -9` of the server in the middle of a
//! blast, then a restart on the same file. What was acknowledged as stored
//! — every line a member had received before it asked `fetch_history` and
//! got the answer — is all there, each line once, in id order, intact;
//! what was said after may or may not be (docs/PROTOCOL.md, "What a stored
//! line survives").

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::util::{Peer, Server};

/// Blasters, lines each, and the window of a blaster's own lines not yet
/// echoed back to it.
const BLASTERS: usize = 3;
const LINES: usize = 5000;
const WINDOW: usize = 32;
/// The observer asks for the history once it has seen this many lines.
const ASK_AT: usize = 2500;

/// The text of blaster `b`'s line `k`: its identity, then padding whose
/// length and content show a torn line.
fn text(b: usize, k: usize) -> String {
    format!("b{b}-{k:05}-{}", "x".repeat(64))
}

/// One line per write, at most WINDOW ahead of its own echo, until done or
/// the server is gone (then it stops quietly: the crash is the point).
fn blast(addr: SocketAddr, b: usize) {
    let Ok(s) = TcpStream::connect(addr) else {
        return;
    };
    s.set_nodelay(true).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut read = |line: &mut String| {
        line.clear();
        matches!(r.read_line(line), Ok(n) if n > 0)
    };
    // hello, then auth; the server answers with auth_result.
    if !read(&mut line) {
        return;
    }
    let auth = json!({"type": "auth", "name": format!("blaster{b}"), "proto": 3});
    if writeln!(w, "{auth}").is_err() {
        return;
    }
    let mine = format!("\"b{b}-");
    let mut echoed = 0;
    for k in 0..LINES {
        while k >= echoed + WINDOW {
            if !read(&mut line) {
                return;
            }
            if line.contains("\"type\":\"chat\"") && line.contains(&mine) {
                echoed += 1;
            }
        }
        let chat = json!({"type": "chat", "text": text(b, k)});
        if writeln!(w, "{chat}").is_err() {
            return;
        }
    }
}

/// Every stored line of the default room, oldest first, page by page.
fn stored(p: &mut Peer) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let mut ask = json!({"type": "fetch_history", "limit": 100});
        if let Some(b) = before {
            ask["before"] = json!(b);
        }
        p.send(ask);
        let mut page = Vec::new();
        let end = loop {
            let v = p.recv();
            match v["type"].as_str() {
                Some("history") => page.push(v),
                Some("history_end") => break v,
                _ => {}
            }
        };
        before = page.first().and_then(|v| v["id"].as_u64());
        page.append(&mut all);
        all = page;
        if end["more"] == false || before.is_none() {
            return all;
        }
    }
}

#[test]
fn a_crash_mid_blast_keeps_every_line_acknowledged_as_stored_once_and_intact() {
    let home = Arc::new(tempfile::TempDir::new().unwrap());
    let path = home.path().join("h.sqlite3");
    let args = ["--history", path.to_str().unwrap()];
    let env = [
        ("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "0"),
        ("TCPPLAY_LIMITS__MAX_CLIENTS_PER_ADDRESS", "0"),
        ("TCPPLAY_HISTORY__MAX_MESSAGES", "0"),
    ];
    let mut server = Server::start_with(&args, &env, home.clone());
    let (mut observer, _) = Peer::join_v3(server.addr, "observer");
    let addr = server.addr;
    let blasters: Vec<_> = (0..BLASTERS)
        .map(|b| std::thread::spawn(move || blast(addr, b)))
        .collect();

    // What the observer received before it asked: by the promise, on disk
    // once the answer arrives.
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    while seen.len() < ASK_AT {
        let v = observer.recv();
        if v["type"] == "chat" && v["from"] != "observer" {
            if let (Some(id), Some(t)) = (v["id"].as_u64(), v["text"].as_str()) {
                seen.insert(id, t.to_string());
            }
        }
    }
    observer.send(json!({"type": "fetch_history", "limit": 1}));
    observer.recv_type("history_end");
    server.proc.signal(libc::SIGKILL);
    server.proc.wait();
    for t in blasters {
        t.join().unwrap();
    }

    let server = Server::start_with(&args, &env, home);
    let (mut reader, _) = Peer::join_v3(server.addr, "reader");
    // The replay a join gets, before the pages asked for.
    reader.recv_type("history_end");
    let rows = stored(&mut reader);
    let mut last = 0;
    let mut by_id = BTreeMap::new();
    for r in &rows {
        let id = r["id"].as_u64().expect("every stored line has an id");
        assert!(id > last, "ids out of order or repeated: {id} after {last}");
        last = id;
        let t = r["text"].as_str().expect("a stored line has its text");
        let (who, rest) = t.split_once('-').expect("a blaster's line");
        let (k, pad) = rest.split_once('-').expect("a blaster's line");
        assert!(
            who.starts_with('b') && k.len() == 5 && pad == "x".repeat(64),
            "a torn or altered line: {t:?}"
        );
        by_id.insert(id, t.to_string());
    }
    let missing: Vec<_> = seen
        .iter()
        .filter(|(id, t)| by_id.get(id) != Some(t))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} lines acknowledged as stored are not in the history after the crash, e.g. {missing:?}",
        seen.iter().filter(|(id, t)| by_id.get(id) != Some(t)).count(),
        seen.len()
    );
    // Each blaster's lines are stored in the order it said them, none twice.
    for b in 0..BLASTERS {
        let ks: Vec<usize> = by_id
            .values()
            .filter_map(|t| t.strip_prefix(&format!("b{b}-")))
            .map(|rest| rest[..5].parse().unwrap())
            .collect();
        assert!(
            ks.windows(2).all(|w| w[0] < w[1]),
            "blaster {b}'s lines doubled or reordered"
        );
    }
    assert!(
        rows.len() < BLASTERS * LINES,
        "the blast ended before the crash ({} lines stored): the crash was not mid-blast",
        rows.len()
    );
}
