//! Local checks: the effective settings and where each came from, the
//! certificate and key files, the password source, and the server port.

use std::net::IpAddr;
use std::path::Path;

use super::{timed, Report, SettingLine, Stage};
use crate::config::{Loaded, ENV_PASSWORD};

pub(crate) fn settings(loaded: &Loaded, report: &mut Report) {
    let file = match &loaded.file {
        Some(f) => format!("config file {}", f.display()),
        None => "no config file (defaults, environment and flags only)".into(),
    };
    report.ok("settings", file, None);
    let value = serde_json::to_value(&loaded.settings).unwrap_or_default();
    if let Some(sections) = value.as_object() {
        for (section, keys) in sections {
            for (k, v) in keys.as_object().into_iter().flatten() {
                let key = format!("{section}.{k}");
                report.settings.push(SettingLine {
                    source: loaded.source_of(&key),
                    value: crate::config::shown_value(&key, v),
                    key,
                });
            }
        }
    }
    if std::env::var_os(ENV_PASSWORD).is_some() {
        report.settings.push(SettingLine {
            key: "password".into(),
            value: serde_json::Value::String("***".into()),
            source: format!("environment variable {ENV_PASSWORD}"),
        });
    }
}

pub(crate) fn files(loaded: &Loaded, report: &mut Report) {
    let s = &loaded.settings;
    match (&s.serve.cert, &s.serve.key) {
        (Some(cert), Some(key)) => cert_pair(loaded, cert, key, report),
        (None, None) if s.serve.tls || s.serve.secure => report.fail(
            Stage::Local,
            "serve certificate",
            "TLS is on but no cert/key is set: make a pair with `tcpplay gen-cert`",
            None,
        ),
        (None, None) => report.ok(
            "serve certificate",
            "none configured (plaintext server)",
            None,
        ),
        _ => report.fail(
            Stage::Local,
            "serve certificate",
            "only one of cert and key is set: set both",
            None,
        ),
    }
    if let Some(trust) = &s.join.cert {
        let (r, took) = timed(|| crate::tls::load_certs(trust));
        match r {
            Ok(c) => report.ok(
                "join trust file",
                format!("{} ({} certificate(s))", trust.display(), c.len()),
                Some(took),
            ),
            Err(e) => report.fail(
                Stage::Local,
                "join trust file",
                format!("{e:#}"),
                Some(took),
            ),
        }
    }
    if s.serve.secure {
        password_source(loaded, report);
    }
    bind_port(loaded, report);
}

fn cert_pair(loaded: &Loaded, cert: &Path, key: &Path, report: &mut Report) {
    let s = &loaded.settings;
    let (pair, took) =
        timed(|| crate::tls::server_config_mtls(cert, key, s.serve.client_ca.as_deref()));
    if let Err(e) = pair {
        report.fail(
            Stage::Local,
            "serve certificate",
            format!("{e:#}"),
            Some(took),
        );
        return;
    }
    let certs = crate::tls::load_certs(cert).unwrap_or_default();
    let Some(leaf) = certs.first() else { return };
    let info = match crate::tls::describe(leaf) {
        Ok(i) => i,
        Err(e) => {
            return report.fail(
                Stage::Local,
                "serve certificate",
                format!("{e:#}"),
                Some(took),
            )
        }
    };
    report.ok(
        "serve certificate",
        format!(
            "{} and {} form a pair; SHA-256 {}",
            cert.display(),
            key.display(),
            info.fingerprint
        ),
        Some(took),
    );
    validity(&info, report, "serve certificate validity", Stage::Local);
    names(&info, &s.serve.bind, &s.join.host, report);
    key_permissions(key, report);
}

/// Do the certificate's names cover how clients will reach the server? A
/// given bind address must be among them; a server on every interface
/// (0.0.0.0, ::) is reached from other machines by a name or address that
/// is not loopback, so a certificate for loopback names only is warned.
fn names(info: &crate::tls::CertInfo, bind: &str, join_host: &str, report: &mut Report) {
    let bind_ip = bind
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let mut wanted: Vec<String> = Vec::new();
    match bind_ip {
        Some(ip) if !ip.is_unspecified() => wanted.push(ip.to_string()),
        _ => {}
    }
    if !wanted.iter().any(|w| w.eq_ignore_ascii_case(join_host)) {
        wanted.push(join_host.to_string());
    }
    let missing: Vec<&String> = wanted.iter().filter(|n| !info.covers(n)).collect();
    let loopback_only = info.sans.iter().all(|n| {
        n.eq_ignore_ascii_case("localhost") || n.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    if !missing.is_empty() {
        report.warn(
            "certificate names",
            format!(
                "{} not among the certificate's names ({}): clients connecting by that name will refuse it; add it with `tcpplay gen-cert --san NAME`",
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                info.sans.join(", ")
            ),
            None,
        );
    } else if bind_ip.is_none_or(|ip| ip.is_unspecified()) && loopback_only {
        report.warn(
            "certificate names",
            format!(
                "the server listens on every interface ({bind}) but the certificate names only this machine's loopback ({}): \
                 clients on other machines will refuse it; `tcpplay gen-cert --lan` adds this machine's names",
                info.sans.join(", ")
            ),
            None,
        );
    } else {
        report.ok(
            "certificate names",
            format!("covers {}", wanted.join(", ")),
            None,
        );
    }
}

/// What `serve` should warn about before it starts: every warning and
/// failure of the local certificate checks, and `--client-ca` without TLS.
pub(crate) fn serve_warnings(loaded: &Loaded) -> Vec<String> {
    let s = &loaded.settings.serve;
    let mut report = Report::default();
    match (&s.cert, &s.key) {
        (Some(cert), Some(key)) => cert_pair(loaded, cert, key, &mut report),
        _ if s.client_ca.is_some() => report.warn(
            "client CA",
            format!(
                "--client-ca {} is set but the server is not serving TLS (no --cert/--key): it runs in PLAINTEXT and asks nobody for a certificate",
                s.client_ca.as_deref().unwrap_or(Path::new("")).display()
            ),
            None,
        ),
        _ => {}
    }
    report
        .checks
        .into_iter()
        .filter(|c| c.status != super::Status::Ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect()
}

/// Expired: FAIL; not yet valid: FAIL; under 30 days left: warn.
pub(crate) fn validity(info: &crate::tls::CertInfo, report: &mut Report, name: &str, stage: Stage) {
    let days = info.days_left;
    if days < 0 {
        report.fail(
            stage,
            name,
            format!(
                "EXPIRED {} ago ({}): make a new one with `tcpplay gen-cert`",
                crate::output::plural(-days, "day", "days"),
                info.not_after
            ),
            None,
        );
    } else if info.not_yet_valid {
        report.fail(
            stage,
            name,
            format!("not valid before {}", info.not_before),
            None,
        );
    } else if days < 30 {
        report.warn(
            name,
            format!(
                "expires in {} ({})",
                crate::output::plural(days, "day", "days"),
                info.not_after
            ),
            None,
        );
    } else {
        report.ok(
            name,
            format!(
                "valid until {} ({} left)",
                info.not_after,
                crate::output::plural(days, "day", "days")
            ),
            None,
        );
    }
}

fn key_permissions(key: &Path, report: &mut Report) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(key) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                report.warn(
                    "key file permissions",
                    format!(
                        "{} is mode {mode:o}: other users can read the private key; chmod 600 {}",
                        key.display(),
                        key.display()
                    ),
                    None,
                );
            } else {
                report.ok(
                    "key file permissions",
                    format!("{} is mode {mode:o}", key.display()),
                    None,
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (key, report);
}

fn password_source(loaded: &Loaded, report: &mut Report) {
    if std::env::var_os(ENV_PASSWORD).is_some_and(|v| !v.is_empty()) {
        return report.ok(
            "room password",
            format!("set by {ENV_PASSWORD} (not shown)"),
            None,
        );
    }
    match &loaded.settings.serve.password_file {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) if !t.lines().next().unwrap_or("").is_empty() => {
                report.ok("room password", format!("read from {} (not shown)", p.display()), None)
            }
            Ok(_) => report.fail(Stage::Local, "room password", format!("{} is empty", p.display()), None),
            Err(e) => report.fail(Stage::Local, "room password", format!("cannot read {}: {e}", p.display()), None),
        },
        None => report.warn(
            "room password",
            "no password source: `serve --secure` will prompt on a terminal, and fail without one (set password_file or TCPPLAY_PASSWORD)",
            None,
        ),
    }
}

fn bind_port(loaded: &Loaded, report: &mut Report) {
    let s = &loaded.settings.serve;
    if s.port == 0 {
        return report.ok("serve port", "0: a free port is picked at start", None);
    }
    let host = s.bind.trim_start_matches('[').trim_end_matches(']');
    let (r, took) = timed(|| std::net::TcpListener::bind((host, s.port)));
    match r {
        Ok(_) => report.ok(
            "serve port",
            format!("{}:{} can be bound", s.bind, s.port),
            Some(took),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => report.warn(
            "serve port",
            format!(
                "{}:{} is in use{}: is a server already running?",
                s.bind,
                s.port,
                owner(s.port)
            ),
            Some(took),
        ),
        Err(e) => report.warn(
            "serve port",
            format!("{}:{} cannot be bound: {e}", s.bind, s.port),
            Some(took),
        ),
    }
}

/// Which process listens on `port` (Linux, when /proc tells).
fn owner(port: u16) -> String {
    #[cfg(target_os = "linux")]
    {
        let hex = format!(":{port:04X} ");
        let mut inodes = Vec::new();
        for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
            for line in std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .skip(1)
            {
                let cols: Vec<&str> = line.split_whitespace().collect();
                if cols.len() > 9 && format!("{} ", cols[1]).contains(&hex) && cols[3] == "0A" {
                    inodes.push(format!("socket:[{}]", cols[9]));
                }
            }
        }
        for proc in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let fds = proc.path().join("fd");
            for fd in std::fs::read_dir(&fds).into_iter().flatten().flatten() {
                let target = std::fs::read_link(fd.path()).unwrap_or_default();
                if inodes.iter().any(|i| target.to_string_lossy() == *i) {
                    let comm =
                        std::fs::read_to_string(proc.path().join("comm")).unwrap_or_default();
                    let pid = proc.file_name().to_string_lossy().into_owned();
                    return format!(" by {} (pid {pid})", comm.trim());
                }
            }
        }
    }
    let _ = port;
    String::new()
}
