//! The README's and the docs' examples run as tests, so a sample that
//! drifts from what the program prints fails CI.
//!
//! Every ```` ```console ```` block in README.md and docs/*.md is a script:
//! `$ COMMAND` lines (a trailing `\` continues one) run in `sh` in a fresh
//! directory that is also `$HOME`, with this build's `tcpplay` first on
//! `PATH`; the lines after a command are what it prints (stdout and stderr
//! together), compared by snapbox: `[..]` matches within a line, `...` on
//! its own matches any lines. A `? N` line right after a command expects
//! exit status N (else 0).
//!
//! An HTML comment right before a block sets it up:
//! - `<!-- doctest: server NAME ARGS -->`: a `tcpplay serve ARGS` runs
//!   beside the block (on 127.0.0.1 unless ARGS bind elsewhere; port 0).
//!   `12345` in the commands is its real port, and its port is shown as
//!   `12345` in what they print.
//! - `<!-- doctest: server-output NAME -->` on a ```` ```text ```` block: what
//!   server NAME printed while its block ran (stdout, until it stopped).
//!   This machine's LAN addresses read as `192.168.1.5`, its port as 12345,
//!   a client's port on the console as 56582.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use snapbox::{Assert, IntoData};

use crate::util::{tcpplay, Proc};

/// A fenced block and what precedes it.
struct Block {
    /// `file:line` of the fence.
    at: String,
    lang: String,
    directive: Option<Vec<String>>,
    body: String,
}

fn blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut last_comment: Option<Vec<String>> = None;
    while let Some((n, line)) = lines.next() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("<!-- doctest:") {
            let words = rest
                .trim_end_matches("-->")
                .split_whitespace()
                .map(str::to_string)
                .collect();
            last_comment = Some(words);
            continue;
        }
        if let Some(lang) = t.strip_prefix("```") {
            let indent = line.len() - line.trim_start().len();
            let mut body = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                body.push_str(l.get(indent..).unwrap_or(l.trim_start()));
                body.push('\n');
            }
            out.push(Block {
                at: format!("{name}:{}", n + 1),
                lang: lang.trim().to_string(),
                directive: last_comment.take(),
                body,
            });
            continue;
        }
        if !t.is_empty() {
            last_comment = None;
        }
    }
    out
}

/// One command of a console block.
struct Step {
    cmd: String,
    status: i32,
    expected: String,
}

fn steps(body: &str) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut lines = body.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            let mut cmd = cmd.to_string();
            while cmd.ends_with('\\') {
                cmd.pop();
                cmd.push(' ');
                cmd.push_str(lines.next().unwrap_or_default().trim());
            }
            let mut status = 0;
            if let Some(code) = lines.peek().and_then(|l| l.strip_prefix("? ")) {
                status = code.trim().parse().expect("`? N` names an exit status");
                lines.next();
            }
            out.push(Step {
                cmd,
                status,
                expected: String::new(),
            });
        } else if let Some(step) = out.last_mut() {
            step.expected.push_str(line);
            step.expected.push('\n');
        }
    }
    out
}

/// `PATH` with this build's binary first.
fn path_with_binary() -> std::ffi::OsString {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tcpplay"));
    let mut dirs = vec![bin.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// Run `cmd` in `dir` (bounded to a minute); its status and output.
fn run_script(cmd: &str, dir: &Path) -> (i32, String) {
    let out = Command::new("timeout")
        .args(["60", "sh", "-c", &format!("exec 2>&1; {cmd}")])
        .env_clear()
        .env("PATH", path_with_binary())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("LANG", "C.UTF-8")
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A server beside a block.
struct Beside {
    proc: Proc,
    port: String,
}

fn start_server(dir: &Path, args: &[String]) -> Beside {
    let mut cmd = tcpplay(dir);
    cmd.env("PATH", path_with_binary())
        .arg("serve")
        .args(["--port", "0"]);
    if !args.iter().any(|a| a == "--bind") {
        cmd.args(["--bind", "127.0.0.1"]);
    }
    cmd.args(args);
    let mut proc = Proc::spawn(cmd);
    let line = proc.stdout.expect("listening on ");
    let port = line
        .split_whitespace()
        .nth(2)
        .and_then(|a| a.rsplit(':').next())
        .unwrap()
        .to_string();
    Beside { proc, port }
}

/// The server's output so far, as the docs show it.
fn normalized(lines: &[String], port: &str, lan: &[String]) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for line in lines {
        if line == "server stopped" {
            continue;
        }
        let mut l = line.replace(port, "12345");
        for ip in lan {
            l = l.replace(ip.as_str(), "192.168.1.5");
        }
        // Several LAN addresses: their lines read the same now.
        if l.starts_with("  ") && !seen.insert(l.clone()) {
            continue;
        }
        // A chat line on the console names the sender's port: `NAME[56582]:`.
        if l.starts_with("..:: ") {
            if let Some((head, tail)) = l.split_once("]: ") {
                if let Some((name, _port)) = head.rsplit_once('[') {
                    l = format!("{name}[56582]: {tail}");
                }
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// What the server printed once it printed what the docs show (waiting a
/// bounded time for its last lines, such as a member's leaving, which come
/// after the command that caused them ended), then stopped. `None` on a
/// machine without a LAN address, whose banner reads differently.
fn server_output(mut server: Beside, expected: Option<&str>) -> Option<String> {
    let lan: Vec<String> = tcpplay::lan::addresses()
        .iter()
        .filter(|ip| ip.is_ipv4())
        .map(|ip| ip.to_string())
        .collect();
    let matches = |out: &str| {
        expected.is_some_and(|e| {
            Assert::new()
                .try_eq(None, out.to_string().into_data(), e.to_string().into_data())
                .is_ok()
        })
    };
    let deadline = std::time::Instant::now() + crate::util::WAIT;
    while expected.is_some() && !lan.is_empty() {
        let out = normalized(server.proc.stdout.seen(), &server.port, &lan);
        if matches(&out) || server.proc.stdout.next_until(deadline).is_none() {
            break;
        }
    }
    server.proc.signal(libc::SIGTERM);
    let _ = server.proc.wait();
    let _ = server.proc.stdout.rest();
    if lan.is_empty() {
        return None;
    }
    Some(normalized(server.proc.stdout.seen(), &server.port, &lan))
}

fn doc_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn compare(failures: &mut Vec<String>, at: &str, what: &str, actual: &str, expected: &str) {
    let label = format!("{at}: {what}");
    if let Err(e) = Assert::new().try_eq(
        Some(&label),
        actual.to_string().into_data(),
        expected.to_string().into_data(),
    ) {
        failures.push(format!("{label}\n{e}"));
    }
}

#[test]
fn the_readme_and_docs_examples_print_what_they_show() {
    let mut failures = Vec::new();
    let mut ran = 0;
    let mut outputs: HashMap<String, Option<String>> = HashMap::new();
    let all: Vec<Block> = doc_files().iter().flat_map(|f| blocks(f)).collect();
    let mut wanted = Vec::new();
    for block in &all {
        let directive = block.directive.clone().unwrap_or_default();
        if block.lang == "text" && directive.first().map(String::as_str) == Some("server-output") {
            wanted.push((block.at.clone(), directive[1].clone(), block.body.clone()));
        }
    }
    for block in all {
        let directive = block.directive.clone().unwrap_or_default();
        let kind = directive.first().map(String::as_str);
        if block.lang != "console" {
            continue;
        }
        let wants_server = match kind {
            Some("server") => Some(directive[1].clone()),
            Some(other) => panic!("{}: unknown doctest directive '{other}'", block.at),
            None => None,
        };
        let dir = tempfile::TempDir::new().unwrap();
        let mut server: Option<Beside> = None;
        for step in steps(&block.body) {
            ran += 1;
            // The server starts when a command first needs it, so the
            // commands before can make its files (a certificate).
            if wants_server.is_some() && server.is_none() && step.cmd.contains("12345") {
                server = Some(start_server(dir.path(), &directive[2..]));
            }
            let port = server.as_ref().map(|s| s.port.clone());
            let cmd = match &port {
                Some(p) => step.cmd.replace("12345", p),
                None => step.cmd.clone(),
            };
            let (status, mut output) = run_script(&cmd, dir.path());
            if let Some(p) = &port {
                output = output.replace(p.as_str(), "12345");
            }
            if status != step.status {
                failures.push(format!(
                    "{}: `{}` exited {status}, the docs say {}; it printed:\n{output}",
                    block.at, step.cmd, step.status
                ));
                continue;
            }
            let what = format!("`{}`", step.cmd);
            compare(&mut failures, &block.at, &what, &output, &step.expected);
        }
        match (wants_server, server) {
            (Some(name), Some(s)) => {
                let expected = wanted.iter().find(|w| w.1 == name).map(|w| w.2.as_str());
                outputs.insert(name, server_output(s, expected));
            }
            (Some(name), None) => {
                panic!(
                    "{}: server {name} is never used (no command names port 12345)",
                    block.at
                )
            }
            _ => {}
        }
    }
    for (at, name, expected) in wanted {
        match outputs.get(&name) {
            Some(Some(actual)) => {
                let what = format!("the output of server {name}");
                compare(&mut failures, &at, &what, actual, &expected)
            }
            Some(None) => eprintln!(
                "{at}: this machine has no LAN address, so the server's banner reads differently: not compared"
            ),
            None => failures.push(format!("{at}: no doctest server named {name}")),
        }
    }
    assert!(
        ran >= 10,
        "the docs have console examples ({ran} commands found)"
    );
    assert!(
        failures.is_empty(),
        "{} example(s) drifted:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The parser reads commands, statuses, continuations and directives.
#[test]
fn console_blocks_parse_into_commands_and_their_output() {
    let s = steps("$ a \\\n  b\n? 2\nout 1\nout 2\n$ c\n");
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].cmd.as_str(), s[0].status, s[0].expected.as_str()),
        ("a  b", 2, "out 1\nout 2\n")
    );
    assert_eq!(
        (s[1].cmd.as_str(), s[1].status, s[1].expected.as_str()),
        ("c", 0, "")
    );
    let dir = tempfile::TempDir::new().unwrap();
    let md = dir.path().join("x.md");
    std::fs::write(
        &md,
        "<!-- doctest: server s --no-history -->\n```console\n$ x\n```\n\n```text\nt\n```\n",
    )
    .unwrap();
    let b = blocks(&md);
    assert_eq!(b.len(), 2);
    assert_eq!(
        b[0].directive.as_deref().unwrap(),
        ["server", "s", "--no-history"]
    );
    assert!(b[1].directive.is_none());
}
