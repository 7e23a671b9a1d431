//! Operating the server: metrics and health over HTTP (scraped during real
//! sessions), JSON logs, the config test, man pages, socket activation and
//! the systemd units.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;

use crate::util::{home, http_get, metric_until, sample, tcpplay, Peer, Server};

#[cfg(unix)]
#[test]
fn metrics_count_each_event_where_it_happens_and_health_answers() {
    let mut s = Server::start_with(
        &["--metrics", "127.0.0.1:0"],
        &[
            ("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "1"),
            ("TCPPLAY_LIMITS__MESSAGE_BURST", "1"),
            ("TCPPLAY_LIMITS__HANDSHAKE_TIMEOUT", "1"),
        ],
        home(),
    );
    let m = s.metrics_addr();
    let (code, body) = http_get(&m, "/metrics");
    assert_eq!(code, 200);
    assert_eq!(sample(&body, "tcpplay_joins_total"), 0.0);
    assert!(body.contains("tcpplay_build_info{version=\""), "{body}");
    assert!(
        body.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    assert_eq!(http_get(&m, "/healthz"), (200, "ok\n".into()));
    assert_eq!(http_get(&m, "/readyz"), (200, "ready\n".into()));
    assert_eq!(http_get(&m, "/nope").0, 404);

    let (mut alice, _) = Peer::join(s.addr, "alice");
    let (mut bob, _) = Peer::join(s.addr, "bob");
    metric_until(&m, "tcpplay_joins_total", 2.0);
    metric_until(&m, "tcpplay_members", 2.0);
    // One line within the rate, one over it.
    alice.send(json!({"type": "chat", "text": "hello"}));
    alice.send(json!({"type": "chat", "text": "too soon"}));
    assert_eq!(alice.recv_type("error")["code"], "rate_limited");
    bob.recv_chat("hello");
    metric_until(&m, "tcpplay_messages_received_total", 1.0);
    let body = metric_until(
        &m,
        "tcpplay_limit_fired_total{limit=\"messages_per_second\"}",
        1.0,
    );
    assert!(sample(&body, "tcpplay_line_bytes_received_total") > 0.0);
    assert!(sample(&body, "tcpplay_line_bytes_sent_total") > 0.0);
    assert_eq!(
        sample(
            &body,
            "tcpplay_limit_fired_total{limit=\"handshake_timeout\"}"
        ),
        0.0
    );
    // A connection that never says who it is: one handshake timeout.
    let mut silent = std::net::TcpStream::connect(s.addr).unwrap();
    let mut sink = Vec::new();
    silent.read_to_end(&mut sink).unwrap();
    metric_until(
        &m,
        "tcpplay_limit_fired_total{limit=\"handshake_timeout\"}",
        1.0,
    );
    drop(bob);
    metric_until(&m, "tcpplay_leaves_total", 1.0);
    metric_until(&m, "tcpplay_members", 1.0);
    metric_until(&m, "tcpplay_connections_open", 1.0);
    // The shutdown summary reads the same counters.
    drop(alice);
    s.proc.signal(libc::SIGTERM);
    s.proc
        .stderr
        .expect("refusals and drops by limit: messages_per_second=1 handshake_timeout=1");
}

#[test]
fn a_reader_dropped_as_too_slow_is_counted() {
    let mut s = Server::start_with(
        &["--metrics", "127.0.0.1:0"],
        // Default send queue (1 MiB); no chat rate limit.
        &[("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "0")],
        home(),
    );
    let m = s.metrics_addr();
    let (_stalled, _) = Peer::join(s.addr, "stalled"); // never reads again
                                                       // The talker reads everything (its own lines come back too), so only
                                                       // the stalled member falls behind.
    let mut talker = std::net::TcpStream::connect(s.addr).unwrap();
    let mut reader = talker.try_clone().unwrap();
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    talker
        .write_all(b"{\"type\":\"auth\",\"name\":\"talker\",\"proto\":1}\n")
        .unwrap();
    let text = "x".repeat(3000);
    let line = format!("{{\"type\":\"chat\",\"text\":\"{text}\"}}\n");
    // Far past the stalled reader's socket buffers and its allowance.
    for i in 0..4000 {
        talker.write_all(line.as_bytes()).unwrap();
        if i % 50 == 49
            && sample(
                &http_get(&m, "/metrics").1,
                "tcpplay_limit_fired_total{limit=\"too_slow\"}",
            ) > 0.0
        {
            break;
        }
    }
    metric_until(&m, "tcpplay_limit_fired_total{limit=\"too_slow\"}", 1.0);
    // The talker, who kept reading, is still there.
    metric_until(&m, "tcpplay_members", 1.0);
    s.proc.stderr.expect("client too slow");
}

#[cfg(unix)]
#[test]
fn json_logs_are_one_object_per_line_and_chat_is_not_echoed() {
    let mut s = Server::start_with(
        &["--log-format", "json"],
        &[("TCPPLAY_LIMITS__HANDSHAKE_TIMEOUT", "1")],
        home(),
    );
    // A connection that never joins: a refusal logged with its fields.
    let mut silent = std::net::TcpStream::connect(s.addr).unwrap();
    silent.read_to_end(&mut Vec::new()).unwrap();
    let (mut a, _) = Peer::join(s.addr, "alice");
    a.send(json!({"type": "chat", "text": "private words"}));
    a.recv_chat("private words");
    drop(a);
    s.proc.signal(libc::SIGTERM);
    let mut saw_summary = false;
    let mut saw_refusal = false;
    for line in s.proc.stderr.rest() {
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line:?}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{v}");
        saw_summary |= v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("refusals and drops by limit"));
        saw_refusal |= v["fields"]["limit"] == "handshake_timeout"
            && v["fields"]["peer"]
                .as_str()
                .is_some_and(|p| p.starts_with("127.0.0.1:"));
        assert!(!line.contains("private words"), "chat in the log: {line}");
    }
    assert!(saw_summary && saw_refusal);
    let out = s.proc.stdout.rest().join("\n");
    assert!(!out.contains("private words"), "chat echoed: {out}");
}

#[test]
fn check_config_reads_everything_and_binds_nothing() {
    let h = home();
    // The port is taken: --check-config must not try to bind it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let ok = tcpplay(h.path())
        .args([
            "serve",
            "--check-config",
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
        ])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("configuration OK"));
    let bad = tcpplay(h.path())
        .args([
            "serve",
            "--check-config",
            "--tls",
            "--cert",
            "/nonexistent/cert.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--key"), "{err}");
    // A room record that is not one (bytes that are not even UTF-8).
    let record = h.path().join("room.record");
    std::fs::write(&record, b"\xff\xfe not a record\n").unwrap();
    let bad = tcpplay(h.path())
        .args(["serve", "--check-config", "--room-record"])
        .arg(&record)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("room.record") && err.contains("gen-room"),
        "{err}"
    );
    let bad = tcpplay(h.path())
        .args(["serve", "--check-config", "--metrics", "not an address"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("serve.metrics"));
}

/// Socket activation as systemd does it: a listening socket on fd 3,
/// LISTEN_FDS=1 and LISTEN_PID of the server (python execs it in place).
#[cfg(target_os = "linux")]
#[test]
fn a_listener_passed_by_the_service_manager_is_used_instead_of_binding() {
    let h = home();
    let exe = env!("CARGO_BIN_EXE_tcpplay");
    let script = r#"
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], [sys.argv[1], "--no-input", "serve", "--no-history", "--port", "1"])
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, exe])
        .env("HOME", h.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = crate::util::Lines::spawn(child.stdout.take().unwrap(), "stdout");
    let port: u16 = out.expect("").trim().parse().unwrap();
    // Not port 1 (that would need privileges): the socket it was given.
    out.expect(&format!("listening on 127.0.0.1:{port}"));
    let (mut p, _) = Peer::join(format!("127.0.0.1:{port}").parse().unwrap(), "alice");
    p.send(json!({"type": "chat", "text": "activated"}));
    p.recv_chat("activated");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let Ok(v) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze not installed: the units are not verified here");
        return;
    };
    assert!(v.status.success());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    // verify wants the ExecStart binary to exist: point it at this build.
    let tmp = tempfile::TempDir::new().unwrap();
    for unit in ["tcpplay.service", "tcpplay.socket"] {
        let text = std::fs::read_to_string(dir.join(unit))
            .unwrap()
            .replace("/usr/local/bin/tcpplay", env!("CARGO_BIN_EXE_tcpplay"));
        std::fs::write(tmp.path().join(unit), text).unwrap();
    }
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(tmp.path().join("tcpplay.service"))
        .arg(tmp.path().join("tcpplay.socket"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Complaints about the host (no running systemd, missing units it
    // depends on) are not about our files; anything naming them is.
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("tcpplay.service") || l.contains("tcpplay.socket"))
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{err}");
}

#[test]
fn the_man_command_writes_a_page_per_command() {
    let h = home();
    let dir = h.path().join("man");
    let out = tcpplay(h.path())
        .args(["man", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let serve = std::fs::read_to_string(dir.join("tcpplay-serve.1")).unwrap();
    assert!(serve.contains(".TH TCPPLAY-SERVE 1 \"version "), "{serve}");
    assert!(
        serve.contains("check\\-config"),
        "serve's flags are on its page"
    );
}

/// The systemd notification protocol, read from a real datagram socket as
/// systemd would: READY once listening, RELOADING then READY around a
/// reload (SIGHUP), STOPPING on SIGTERM.
#[cfg(target_os = "linux")]
#[test]
fn the_service_manager_is_told_ready_reloading_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let h = home();
    let path = h.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut s = Server::start_with(&[], &[("NOTIFY_SOCKET", path.to_str().unwrap())], h.clone());
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).trim_end().to_string()
    };
    assert_eq!(next(), "READY=1");
    s.proc.signal(libc::SIGHUP);
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    assert_eq!(next(), "READY=1");
    s.proc.stderr.expect("reloaded");
    s.proc.signal(libc::SIGTERM);
    assert_eq!(next(), "STOPPING=1");
    assert_eq!(s.proc.wait(), 0);
}

/// A Python interpreter with the Prometheus client library (its
/// OpenMetrics parser), as `.ci/run` installs it.
fn python_with_prometheus() -> &'static str {
    for py in ["python3", "/usr/bin/python3"] {
        let ok = std::process::Command::new(py)
            .args(["-c", "import prometheus_client.openmetrics.parser"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return py;
        }
    }
    panic!(
        "no python3 with the prometheus_client package: install it \
         (Debian: apt-get install python3-prometheus-client; or pip install prometheus-client)"
    );
}

/// What we expose is read by the Prometheus project's own OpenMetrics
/// parser (strict: types, `_total`, `# EOF`), fetched over HTTP by urllib.
#[test]
fn the_prometheus_projects_parser_reads_our_metrics() {
    let mut s = Server::start_with(&["--metrics", "127.0.0.1:0"], &[], home());
    let m = s.metrics_addr();
    let (mut a, _) = Peer::join(s.addr, "alice");
    a.send(json!({"type": "chat", "text": "counted"}));
    a.recv_chat("counted");
    metric_until(&m, "tcpplay_messages_received_total", 1.0);
    let script = r#"
import json, sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
with urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=10) as r:
    kind = r.headers.get("Content-Type")
    text = r.read().decode()
out = {"content_type": kind, "samples": {}, "types": {}}
for fam in text_string_to_metric_families(text):
    out["types"][fam.name] = fam.type
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        out["samples"]["%s{%s}" % (s.name, labels)] = s.value
print(json.dumps(out))
"#;
    let out = std::process::Command::new(python_with_prometheus())
        .args(["-c", script, &m])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the parser refused our exposition: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["content_type"]
        .as_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let samples = &v["samples"];
    assert_eq!(samples["tcpplay_joins_total{}"], 1.0);
    assert_eq!(samples["tcpplay_messages_received_total{}"], 1.0);
    assert_eq!(samples["tcpplay_members{}"], 1.0);
    assert_eq!(samples["tcpplay_rooms{}"], 1.0);
    assert_eq!(samples["tcpplay_limit_fired_total{limit=too_slow}"], 0.0);
    assert_eq!(v["types"]["tcpplay_limit_fired"], "counter");
    assert_eq!(v["types"]["tcpplay_build"], "info");
}

/// `contrib/install.sh` (the README's install step) puts the binary, the
/// manual pages and the completions where man and the shells look; with
/// the pages installed the systemd unit's `Documentation=man:` resolves.
#[test]
fn the_install_script_installs_binary_man_pages_and_completions_together() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let prefix = tempfile::TempDir::new().unwrap();
    let out = std::process::Command::new("bash")
        .arg(root.join("contrib/install.sh"))
        .args(["--prefix"])
        .arg(prefix.path())
        .args(["--bin", env!("CARGO_BIN_EXE_tcpplay")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = prefix.path();
    for f in [
        "bin/tcpplay",
        "share/man/man1/tcpplay.1",
        "share/man/man1/tcpplay-serve.1",
        "share/man/man1/tcpplay-join.1",
        "share/bash-completion/completions/tcpplay",
        "share/zsh/site-functions/_tcpplay",
        "share/fish/vendor_completions.d/tcpplay.fish",
    ] {
        assert!(p.join(f).is_file(), "{f} not installed");
    }
    let v = std::process::Command::new(p.join("bin/tcpplay"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).contains(env!("CARGO_PKG_VERSION")));
    let manpath = p.join("share/man");
    if let Ok(found) = std::process::Command::new("man")
        .args(["-w", "tcpplay-serve"])
        .env("MANPATH", &manpath)
        .output()
    {
        assert!(
            String::from_utf8_lossy(&found.stdout).contains("tcpplay-serve.1"),
            "man does not find the installed page: {}",
            String::from_utf8_lossy(&found.stderr)
        );
    }
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze not installed: Documentation=man: is not verified here");
        return;
    }
    let tmp = tempfile::TempDir::new().unwrap();
    let text = std::fs::read_to_string(root.join("contrib/systemd/tcpplay.service"))
        .unwrap()
        .replace("/usr/local/bin/tcpplay", env!("CARGO_BIN_EXE_tcpplay"));
    std::fs::write(tmp.path().join("tcpplay.service"), text).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=yes"])
        .arg(tmp.path().join("tcpplay.service"))
        .env("MANPATH", &manpath)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let about_docs: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("(1)") || l.contains("Documentation"))
        .collect();
    assert!(about_docs.is_empty(), "{err}");
}
