//! The command line itself: completions are current, help documents exit codes.

use std::path::Path;

use clap_complete::Generator;

#[test]
fn committed_completions_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for shell in tcpplay::app::ALL_SHELLS {
        let path = dir.join(shell.file_name("tcpplay"));
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == tcpplay::app::completion_script(shell),
            "{} is stale: run `cargo run -- completions --dir completions`",
            path.display()
        );
    }
}

#[test]
fn completions_print_a_script() {
    let home = tempfile::TempDir::new().unwrap();
    let out = crate::util::tcpplay(home.path())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("tcpplay"));
}

#[test]
fn help_documents_exit_codes() {
    let home = tempfile::TempDir::new().unwrap();
    let out = crate::util::tcpplay(home.path())
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Exit codes:") && text.contains("2    usage or configuration error"),
        "{text}"
    );
}

#[test]
fn connection_refused_is_a_runtime_failure_with_a_hint() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let home = tempfile::TempDir::new().unwrap();
    let out = crate::util::tcpplay(home.path())
        .args([
            "join",
            "--no-tls",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--name",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("connection refused") && err.contains("is the server running"),
        "{err}"
    );
}

#[test]
fn committed_man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = tcpplay::app::man_pages();
    assert!(pages.len() >= 7, "tcpplay.1 and one per command");
    for (name, text) in pages {
        let committed = std::fs::read(dir.join(&name)).unwrap_or_default();
        assert!(
            committed == text,
            "man/{name} is stale: run `cargo run -- man --dir man`"
        );
    }
}

/// Each manual page has the sections a manual has, the version, and no
/// reference to a page that does not exist (no `tcpplay-help(1)`).
#[test]
fn man_pages_have_commands_files_environment_exit_status_examples_and_no_dangling_references() {
    let pages = tcpplay::app::man_pages();
    let names: Vec<String> = pages
        .iter()
        .map(|(n, _)| n.trim_end_matches(".1").to_string())
        .collect();
    for (name, body) in &pages {
        let text = String::from_utf8_lossy(body);
        for section in [
            "EXIT STATUS",
            "ENVIRONMENT",
            "FILES",
            "EXAMPLES",
            "SEE ALSO",
            "VERSION",
        ] {
            assert!(
                text.contains(&format!(".SH \"{section}\""))
                    || text.contains(&format!(".SH {section}")),
                "{name}: no {section}"
            );
        }
        assert!(
            text.contains(env!("CARGO_PKG_VERSION")),
            "{name}: no version"
        );
        for (at, _) in text.match_indices("(1)") {
            let start = text[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '\\'))
                .map_or(0, |i| i + 1);
            let referenced = text[start..at].replace("\\-", "-");
            assert!(
                names.contains(&referenced),
                "{name} refers to {referenced}(1), which is not a page"
            );
        }
    }
    let join =
        String::from_utf8_lossy(&pages.iter().find(|(n, _)| n == "tcpplay-join.1").unwrap().1)
            .into_owned();
    assert!(
        join.contains("COMMANDS") && join.contains("/nick"),
        "join's page lists the chat commands"
    );
    let serve = String::from_utf8_lossy(
        &pages
            .iter()
            .find(|(n, _)| n == "tcpplay-serve.1")
            .unwrap()
            .1,
    )
    .into_owned();
    assert!(
        serve.contains("COMMANDS") && serve.contains("/reload"),
        "serve's page lists the console commands"
    );
}

/// `--help` groups the options under headings and names the commands.
#[test]
fn help_groups_options_under_headings_and_lists_the_commands() {
    let home = tempfile::TempDir::new().unwrap();
    let help = |cmd: &str| {
        let out = crate::util::tcpplay(home.path())
            .args([cmd, "--help"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let serve = help("serve");
    for heading in [
        "Connection:",
        "TLS:",
        "Secure room:",
        "History:",
        "Cluster:",
        "Global options:",
        "Console commands",
    ] {
        assert!(
            serve.contains(heading),
            "serve --help lacks {heading}\n{serve}"
        );
    }
    let join = help("join");
    for heading in [
        "Connection:",
        "TLS:",
        "Secure room:",
        "Output:",
        "Chat commands",
        "/msg NAME TEXT",
    ] {
        assert!(
            join.contains(heading),
            "join --help lacks {heading}\n{join}"
        );
    }
}
