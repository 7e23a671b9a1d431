//! `tcpplay check`: small named checks, each `ok | warn | FAIL  name: detail`
//! with its time, a verdict, and an exit code that names the first failing
//! stage (`--help` lists them). Local checks live in `local.rs`, the network
//! probe in `remote.rs`. `--json` prints one document and nothing else.

mod cluster;
mod local;
mod remote;

pub(crate) use local::serve_warnings;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Loaded;
use crate::hostport::HostPort;

/// What to check, from the command line (resolved by the binary).
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The server to probe; `None`: local checks only.
    pub target: Option<HostPort>,
    /// Join as this name, ping and leave.
    pub name: Option<String>,
    pub pings: u32,
    /// How long each network step may take.
    pub timeout: Duration,
    /// Warnings make the exit code 1.
    pub strict: bool,
    /// One JSON document on stdout.
    pub json: bool,
    /// A probe also lists the settings and their sources.
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Warn,
    Fail,
}

/// Where a failure happened; each has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Stage {
    Resolve,
    Connect,
    Tls,
    Certificate,
    Protocol,
    Auth,
    Local,
}

impl Stage {
    /// The stage's name, as in `--json`'s `failed_stage`.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::Connect => "connect",
            Stage::Tls => "tls",
            Stage::Certificate => "certificate",
            Stage::Protocol => "protocol",
            Stage::Auth => "auth",
            Stage::Local => "local",
        }
    }

    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Stage::Resolve => 3,
            Stage::Connect => 4,
            Stage::Tls => 5,
            Stage::Certificate => 6,
            Stage::Protocol => 7,
            Stage::Auth => 8,
            Stage::Local => 9,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
}

/// The checks so far.
#[derive(Default, Serialize)]
pub(crate) struct Report {
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<SettingLine>,
    /// The server's rooms, when it has rooms and we could join.
    pub rooms: Vec<crate::protocol::RoomInfo>,
    /// A cluster's nodes alive (`check --cluster`).
    pub nodes: Vec<cluster::Node>,
}

#[derive(Serialize)]
pub(crate) struct SettingLine {
    pub key: String,
    pub value: serde_json::Value,
    pub source: String,
}

impl Report {
    pub(crate) fn add(
        &mut self,
        status: Status,
        name: &str,
        detail: impl Into<String>,
        took: Option<Duration>,
        stage: Option<Stage>,
    ) {
        self.checks.push(Check {
            name: name.to_string(),
            status,
            detail: detail.into(),
            ms: took.map(|d| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0),
            stage: if status == Status::Fail { stage } else { None },
        });
    }
    pub(crate) fn ok(&mut self, name: &str, detail: impl Into<String>, took: Option<Duration>) {
        self.add(Status::Ok, name, detail, took, None);
    }
    pub(crate) fn warn(&mut self, name: &str, detail: impl Into<String>, took: Option<Duration>) {
        self.add(Status::Warn, name, detail, took, None);
    }
    pub(crate) fn fail(
        &mut self,
        stage: Stage,
        name: &str,
        detail: impl Into<String>,
        took: Option<Duration>,
    ) {
        self.add(Status::Fail, name, detail, took, Some(stage));
    }
    fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }
    fn failed_stage(&self) -> Option<Stage> {
        self.checks.iter().find_map(|c| c.stage)
    }
}

/// Time a step.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

/// Run the checks; the exit code.
pub(crate) async fn run(loaded: &Loaded, args: &CheckOptions) -> u8 {
    let mut report = Report::default();
    if args.target.is_none() || args.verbose {
        local::settings(loaded, &mut report);
    }
    if args.target.is_none() {
        local::files(loaded, &mut report);
    }
    if let Some(t) = &args.target {
        let spinner = crate::progress::spinner(format!("probing {t}")).filter(|_| !args.json);
        remote::probe(loaded, args, t, &mut report).await;
        if let Some(pb) = spinner {
            pb.finish_and_clear();
        }
    }
    if let Some(url) = &loaded.settings.cluster.url {
        cluster::probe(url, &loaded.settings.cluster.prefix, args, &mut report).await;
    }
    let worst = report.worst();
    let code = match (report.failed_stage(), worst) {
        (Some(stage), _) => stage.exit_code(),
        (None, Status::Warn) if args.strict => 1,
        _ => 0,
    };
    let verdict = match worst {
        Status::Ok => "ok",
        Status::Warn => "warnings",
        Status::Fail => "failed",
    };
    if args.json {
        let doc = serde_json::json!({
            "verdict": verdict,
            "failed_stage": report.failed_stage(),
            "exit_code": code,
            "checks": report.checks,
            "settings": report.settings,
            "rooms": report.rooms,
            "nodes": report.nodes,
        });
        emit(&format!("{doc}\n"));
    } else {
        emit(&human(&report, verdict, code));
    }
    code
}

/// Write the whole report at once; a closed pipe means the reader is done.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

fn human(report: &Report, verdict: &str, code: u8) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |s: &str, c: &str| {
        if color {
            format!("\x1b[{c}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    if !report.settings.is_empty() {
        let _ = writeln!(o, "settings:");
        for s in &report.settings {
            let _ = writeln!(o, "      {} = {}  [{}]", s.key, s.value, s.source);
        }
    }
    for c in &report.checks {
        let mark = match c.status {
            Status::Ok => paint("✓ ok  ", "32"),
            Status::Warn => paint("! warn", "33"),
            Status::Fail => paint("✗ FAIL", "31"),
        };
        let took = c.ms.map(|m| format!(" ({m:.1} ms)")).unwrap_or_default();
        let _ = writeln!(o, "{mark}  {}: {}{took}", c.name, c.detail);
    }
    let line = match (verdict, report.failed_stage()) {
        ("failed", Some(stage)) => {
            format!("verdict: FAILED at stage {} (exit {code})", stage.word())
        }
        ("warnings", _) => format!("verdict: passed with warnings (exit {code})"),
        _ => "verdict: all checks passed".to_string(),
    };
    let _ = writeln!(o, "{line}");
    o
}
