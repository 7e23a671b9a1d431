//! Settings precedence through the binary: defaults < file < environment <
//! flags, and errors that name the value's source.

use std::collections::BTreeSet;

use crate::util::{home, tcpplay, Peer, Proc, Server};

#[test]
fn file_then_env_then_flag_each_win_over_the_one_below() {
    let home = home();
    // The file alone: a bind address that is not on this machine would fail,
    // so a server that starts proves a higher layer replaced it.
    std::fs::write(
        home.path().join("tcpplay.toml"),
        "[serve]\nbind = \"192.0.2.1\"\nport = 0\n",
    )
    .unwrap();
    let mut cmd = tcpplay(home.path());
    cmd.args(["serve"]);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the file's bind is used: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("192.0.2.1"));

    // Environment over file.
    let server = Server::start_with(
        &["--bind", "127.0.0.1"],
        &[("TCPPLAY_SERVE__BIND", "192.0.2.1")],
        home.clone(),
    );
    let (_p, _) = Peer::join(server.addr, "flag-over-env");
    drop(server);
    let mut cmd = tcpplay(home.path());
    cmd.args(["serve"]).env("TCPPLAY_SERVE__BIND", "127.0.0.1");
    let mut env_server = Proc::spawn(cmd);
    env_server.stdout.expect("listening on 127.0.0.1:");

    // And the sources, as `check --local` reports them.
    let mut cmd = tcpplay(home.path());
    cmd.args(["check", "--local"])
        .env("TCPPLAY_SERVE__PORT", "4321");
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("serve.bind = \"192.0.2.1\"  [config file tcpplay.toml]"),
        "{text}"
    );
    assert!(
        text.contains("serve.port = 4321  [environment variable TCPPLAY_SERVE__PORT]"),
        "{text}"
    );
    assert!(
        text.contains("join.host = \"127.0.0.1\"  [built-in default]"),
        "{text}"
    );
}

#[test]
fn join_flags_override_environment() {
    let server = Server::start(&[]);
    let mut cmd = tcpplay(server.home.path());
    cmd.args(["join", "--no-tls", "--port", &server.port()])
        .env("TCPPLAY_JOIN__PORT", "1")
        .env("TCPPLAY_JOIN__NAME", "from-env");
    let mut j = Proc::spawn(cmd);
    j.stderr.expect("Authenticated as from-env");
}

#[test]
fn an_out_of_range_port_names_its_source_and_exits_2() {
    let home = home();
    let mut cmd = tcpplay(home.path());
    cmd.args(["serve"]).env("TCPPLAY_SERVE__PORT", "70000");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TCPPLAY_SERVE__PORT") && err.contains("70000") && err.contains("0-65535"),
        "{err}"
    );

    std::fs::write(home.path().join("bad.toml"), "[join]\nport = \"abc\"\n").unwrap();
    let mut cmd = tcpplay(home.path());
    cmd.args(["--config", "bad.toml", "join", "--name", "x"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("join.port") && err.contains("bad.toml") && err.contains("abc"),
        "{err}"
    );
}

#[test]
fn a_missing_name_without_a_terminal_is_a_usage_error_naming_flag_and_variable() {
    let home = home();
    let mut cmd = tcpplay(home.path());
    cmd.args(["join", "--port", "9"])
        .stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--name") && err.contains("TCPPLAY_JOIN__NAME"),
        "{err}"
    );
}

#[test]
fn a_config_file_that_does_not_exist_is_named() {
    let home = home();
    let mut cmd = tcpplay(home.path());
    cmd.args(["--config", "nope.toml", "serve"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml"));
}

#[test]
fn the_example_config_is_valid_and_complete() {
    // Every key, uncommented, parses; so the example cannot drift from the code.
    let (text, parsed) = example_settings();
    let defaults = serde_json::to_value(tcpplay::config::Settings::default()).unwrap();
    for (section, keys) in defaults.as_object().unwrap() {
        for key in keys.as_object().unwrap().keys() {
            let env = format!("TCPPLAY_{}__{}", section.to_uppercase(), key.to_uppercase());
            assert!(
                text.contains(&env),
                "examples/tcpplay.toml does not show {env}"
            );
        }
    }
    let _ = parsed;
}

/// Threads named by tokio's workers in a running server.
#[cfg(target_os = "linux")]
fn worker_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "tcpplay-worker")
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn serve_runs_the_worker_threads_asked_for_by_flag_or_environment() {
    let by_flag = Server::start(&["--workers", "1"]);
    assert_eq!(worker_threads(by_flag.proc.child.id()), 1);
    let by_env = Server::start_with(&[], &[("TCPPLAY_SERVE__WORKERS", "3")], home());
    assert_eq!(worker_threads(by_env.proc.child.id()), 3);
    // And it still serves: a member joins and is counted.
    let (_alice, _) = Peer::join(by_flag.addr, "alice");
}

#[test]
fn a_bad_rate_is_refused_as_a_rate_not_as_seconds() {
    for bad in ["-1", "2000000"] {
        let home = home();
        let mut cmd = tcpplay(home.path());
        cmd.args(["serve"])
            .env("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", bad);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("limits.messages_per_second")
                && err.contains("lines per second")
                && !err.contains("seconds, 0 or more")
                && err.contains("TCPPLAY_LIMITS__MESSAGES_PER_SECOND"),
            "{bad}: {err}"
        );
    }
}

/// Every `section.field` the code names as a string (flags' layer, reload's
/// lists, error messages, provenance look-ups) is a setting that exists:
/// the list of settings is derived from `Settings` itself, so a renamed or
/// misspelt key anywhere in src/ fails here.
#[test]
fn every_setting_key_the_code_names_is_a_setting() {
    let (sections, keys) = settings_keys();
    let mut named = Vec::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for lit in text.split('"').skip(1).step_by(2) {
                let Some((section, field)) = lit.split_once('.') else {
                    continue;
                };
                let word = |s: &str| {
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                };
                if sections.contains(section) && (field.is_empty() || word(field)) {
                    named.push((p.display().to_string(), lit.to_string()));
                }
            }
        }
    }
    assert!(
        named.len() > 50,
        "the code was read ({} keys found)",
        named.len()
    );
    let wrong: Vec<String> = named
        .iter()
        .filter(|(_, k)| !(keys.contains(k) || k.ends_with('.')))
        .map(|(f, k)| format!("{f}: \"{k}\""))
        .collect();
    assert!(
        wrong.is_empty(),
        "keys that are no setting:\n{}",
        wrong.join("\n")
    );
}

/// The settings' sections and their `section.key`s, from `Settings` itself
/// (the one source of the keys the file, the environment and the docs know).
fn settings_keys() -> (BTreeSet<String>, BTreeSet<String>) {
    // The defaults leave optional settings out; the example (every key
    // uncommented) has them all, and cannot hold one that is no setting.
    let (_, full) = example_settings();
    let mut keys = BTreeSet::new();
    let mut sections = BTreeSet::new();
    for settings in [
        serde_json::to_value(tcpplay::config::Settings::default()).unwrap(),
        serde_json::to_value(full).unwrap(),
    ] {
        for (section, fields) in settings.as_object().unwrap() {
            sections.insert(section.clone());
            if let Some(o) = fields.as_object() {
                for f in o.keys() {
                    keys.insert(format!("{section}.{f}"));
                }
            }
        }
    }
    (sections, keys)
}

/// Every `TCPPLAY_SECTION__KEY` the README, the docs and the example config
/// name is a setting, and the example names each key's variable in the
/// key's own section: a renamed or removed setting cannot stay in the docs.
#[test]
fn every_environment_variable_the_docs_name_is_a_setting() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (_, keys) = settings_keys();
    let mut files = vec![root.join("README.md"), root.join("examples/tcpplay.toml")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    let mut named = 0;
    let mut wrong = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let mut section = String::new();
        for line in text.lines() {
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.to_string();
            }
            for var in line.split("TCPPLAY_").skip(1) {
                let word: String = var
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                let Some((s, k)) = word.split_once("__") else {
                    continue;
                };
                let key = format!("{}.{}", s.to_lowercase(), k.to_lowercase());
                // `TCPPLAY_<SECTION>__<KEY>`, `TCPPLAY_SECTION__KEY` and the
                // README's misspelt example are no settings on purpose.
                if k.is_empty() || ["SECTION", "SEVRE"].contains(&s) {
                    continue;
                }
                named += 1;
                let here = f.ends_with("tcpplay.toml") && !key.starts_with(&format!("{section}."));
                if !keys.contains(&key) || here {
                    wrong.push(format!("{}: TCPPLAY_{word}", f.display()));
                }
            }
        }
    }
    assert!(named > 40, "the docs were read ({named} variables)");
    assert!(
        wrong.is_empty(),
        "variables that are no setting (or not in their section):\n{}",
        wrong.join("\n")
    );
}

/// examples/tcpplay.toml as written, and as settings with every commented
/// key uncommented.
fn example_settings() -> (String, tcpplay::config::Settings) {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tcpplay.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let key = |r: &&str| {
        r.split_once(" = ")
            .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    };
    let uncommented: String = text
        .lines()
        .map(|l| l.strip_prefix("# ").filter(key).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let parsed = toml::from_str(&uncommented).expect("example parses as settings");
    (text, parsed)
}

/// The example's word for serve.timeout is README's and `--help`'s: a
/// silent client is pinged first, and dropped only if it stays silent.
#[test]
fn the_example_config_says_a_silent_client_is_pinged_before_it_is_dropped() {
    let (text, _) = example_settings();
    let serve = &text[text.find("[serve]").unwrap()..text.find("[join]").unwrap()];
    let at = serve
        .find("# timeout = ")
        .expect("serve.timeout in the example");
    let comment: String = serve[..at]
        .lines()
        .rev()
        .take_while(|l| {
            l.strip_prefix("# ").is_some_and(|c| {
                !c.split_once(" = ")
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            })
        })
        .collect::<Vec<_>>()
        .join(" ");
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    for said in [comment.as_str(), readme.as_str()] {
        assert!(
            said.to_lowercase().contains("ping") && said.contains("silent as long again"),
            "serve.timeout: {comment}"
        );
    }
}
