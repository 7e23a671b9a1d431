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
        text.contains("Exit codes:") && text.contains("2  usage or configuration error"),
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
