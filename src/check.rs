//! `tcpplay check`: diagnostics of the local settings and files, and of a live
//! server. Each check is one named line: `ok | warn | FAIL  name: detail`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::CheckArgs;
use crate::client::{self, ConnectOptions};
use crate::config::{self, secs, FlagLayer, Loaded, TlsMode};
use crate::names::sanitize;
use crate::tls::Trust;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

struct Report {
    worst: Status,
}

impl Report {
    fn line(
        &mut self,
        status: Status,
        name: &str,
        detail: impl AsRef<str>,
        took: Option<Duration>,
    ) {
        self.worst = self.worst.max(status);
        let s = match status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let took = took
            .map(|d| format!(" ({:.1} ms)", d.as_secs_f64() * 1000.0))
            .unwrap_or_default();
        println!("{s}  {name}: {}{took}", detail.as_ref());
    }
}

/// Keys shown in the settings listing.
const KEYS: [&str; 12] = [
    "serve.bind",
    "serve.port",
    "serve.tls",
    "serve.cert",
    "serve.key",
    "serve.secure",
    "join.host",
    "join.port",
    "join.name",
    "join.tls",
    "join.cert",
    "join.tls_insecure",
];

pub async fn run(config_file: Option<PathBuf>, args: &CheckArgs) -> Result<u8> {
    let loaded = config::load(config_file.as_deref(), FlagLayer::default())?;
    let mut report = Report { worst: Status::Ok };
    settings(&loaded, &mut report);
    if !args.local {
        remote(&loaded, args.target.as_deref(), &mut report).await?;
    }
    let verdict = match report.worst {
        Status::Ok => "all checks passed",
        Status::Warn => "passed with warnings",
        Status::Fail => "FAILED",
    };
    println!("verdict: {verdict}");
    Ok(if report.worst == Status::Fail { 1 } else { 0 })
}

fn settings(loaded: &Loaded, report: &mut Report) {
    let file = match &loaded.file {
        Some(f) => format!("config file {}", f.display()),
        None => "no config file (defaults, environment and flags only)".into(),
    };
    report.line(Status::Ok, "settings", file, None);
    let value = serde_json::to_value(&loaded.settings).unwrap_or_default();
    for key in KEYS {
        let v = key
            .split('.')
            .try_fold(&value, |v, k| v.get(k))
            .map(|v| v.to_string())
            .unwrap_or_else(|| "(unset)".into());
        println!("      {key} = {v}  [{}]", loaded.source_of(key));
    }
}

async fn remote(loaded: &Loaded, target: Option<&str>, report: &mut Report) -> Result<()> {
    let j = &loaded.settings.join;
    let (host, port) = match target {
        Some(t) => split_target(t)?,
        None => (j.host.clone(), j.port),
    };
    let trust = if j.tls_insecure {
        Trust::Insecure
    } else if let Some(c) = &j.cert {
        Trust::File(c.clone())
    } else {
        Trust::PublicRoots
    };
    let opts = ConnectOptions {
        host: host.clone(),
        port,
        timeout: secs(j.timeout).or(Some(Duration::from_secs(10))),
        tls: if j.cert.is_some() { TlsMode::On } else { j.tls },
        trust,
        client_auth: j.client_cert.clone().zip(j.client_key.clone()),
    };
    let start = Instant::now();
    match client::connect(&opts).await {
        Ok(conn) => {
            let took = Some(start.elapsed());
            match &conn.transport.tls {
                Some(t) => report.line(
                    Status::Ok,
                    "tls",
                    format!(
                        "{}, certificate SHA-256 {}",
                        t.version,
                        t.fingerprint.as_deref().unwrap_or("?")
                    ),
                    took,
                ),
                None => report.line(
                    Status::Warn,
                    "tls",
                    "none: the connection is NOT ENCRYPTED",
                    took,
                ),
            }
            let h = &conn.hello;
            let software = match h.proto {
                Some(p) => format!(
                    "{} (protocol {p}){}",
                    sanitize(h.server.as_deref().unwrap_or("unknown")),
                    if h.secure { ", secure room" } else { "" }
                ),
                None => format!(
                    "legacy TCP-Playground server{}",
                    if h.secure {
                        " in its old secure mode (not supported)"
                    } else {
                        ""
                    }
                ),
            };
            report.line(Status::Ok, "hello", software, None);
        }
        Err(e) => report.line(
            Status::Fail,
            "connect",
            format!("{host}:{port}: {e}"),
            Some(start.elapsed()),
        ),
    }
    Ok(())
}

/// `HOST:PORT`, `[v6]:PORT`.
fn split_target(t: &str) -> Result<(String, u16)> {
    let (host, port) = t
        .rsplit_once(':')
        .ok_or_else(|| config::ConfigError::new(format!("target '{t}' must be HOST:PORT")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| config::ConfigError::new(format!("port '{port}' in '{t}' must be 1-65535")))?;
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    ))
}
