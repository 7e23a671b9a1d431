//! A promise in the docs names the test that checks it: every test named in
//! docs/SECURITY.md, docs/CLUSTER.md and docs/PROTOCOL.md must exist, so a
//! test renamed or removed fails here rather than leaving a promise that
//! nothing checks.

use std::path::{Path, PathBuf};

const DOCS: [&str; 3] = ["docs/SECURITY.md", "docs/CLUSTER.md", "docs/PROTOCOL.md"];

/// Backticked `a::b::c` paths in `text`.
fn named_tests(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| {
            t.contains("::")
                && t.split("::").all(|seg| {
                    !seg.is_empty()
                        && seg
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                })
        })
        .map(str::to_string)
        .collect()
}

/// The source files a path can live in: `tests/it/MOD.rs` for the
/// integration tests, else the library's module files.
fn files_for(root: &Path, path: &[&str]) -> Vec<PathBuf> {
    let it = root.join("tests/it").join(format!("{}.rs", path[0]));
    if path.len() == 2 && it.exists() {
        return vec![it];
    }
    let it_dir = root.join("tests/it").join(path[0]).join("mod.rs");
    if path.len() == 2 && it_dir.exists() {
        return vec![it_dir];
    }
    // `browser::phone::name`: a file in a folder of tests.
    let nested = root
        .join("tests/it")
        .join(path[0])
        .join(format!("{}.rs", path[1]));
    if path.len() == 3 && nested.exists() {
        return vec![nested];
    }
    // A library path: the longest prefix that names a file.
    let mods: Vec<&str> = path.iter().copied().take_while(|s| *s != "tests").collect();
    let mut found = Vec::new();
    for n in (1..=mods.len()).rev() {
        let base = root.join("src").join(mods[..n].join("/"));
        for f in [base.with_extension("rs"), base.join("mod.rs")] {
            if f.exists() {
                found.push(f);
            }
        }
        if !found.is_empty() {
            break;
        }
    }
    found
}

#[test]
fn every_test_the_docs_name_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in DOCS {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for name in named_tests(&text) {
            let path: Vec<&str> = name.split("::").collect();
            // Module paths that are not tests (`crate::x::y` in prose) are
            // told apart by naming a test module or an integration file.
            let it = root.join("tests/it");
            let is_test = path.contains(&"tests")
                || it.join(format!("{}.rs", path[0])).exists()
                || it.join(path[0]).join("mod.rs").exists();
            if !is_test {
                continue;
            }
            checked += 1;
            let last = *path.last().unwrap();
            let files = files_for(root, &path);
            let ok = files.iter().any(|f| {
                let src = std::fs::read_to_string(f).unwrap_or_default();
                match last {
                    "tests" => src.contains("mod tests"),
                    name => src.contains(&format!("fn {name}(")),
                }
            });
            if !ok {
                missing.push(format!("{doc}: `{name}`"));
            }
        }
    }
    assert!(checked > 20, "the docs name tests ({checked} found)");
    assert!(
        missing.is_empty(),
        "tests the docs name but nobody wrote:\n{}",
        missing.join("\n")
    );
}

/// Locked crates that need a newer Rust than their `rust-version` says (or
/// say none): name, from which major version, the Rust it needs, and why.
/// Found by building with the older toolchain (`cargo +1.89 build`).
const UNSTATED_NEEDS: [(&str, u32, &str, &str); 1] = [(
    "rustyline",
    19,
    "1.95",
    "uses cfg_select!, stable since Rust 1.95, and states no rust-version",
)];

/// The `rust-version` in Cargo.toml and the README's "1.NN or newer" are the
/// real minimum: the highest `rust-version` among the packages Cargo.lock
/// pins (dependencies, build and test dependencies, every platform's), and
/// what the crates of [`UNSTATED_NEEDS`] need without saying.
#[test]
fn the_stated_rust_version_is_the_highest_any_locked_package_needs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Not --offline: every platform's packages are read, and a machine that
    // built for Linux alone has not downloaded the Windows ones (the
    // registry is reachable wherever the tests run).
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let mut ours = None;
    let mut highest: Option<(Vec<u32>, String)> = None;
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let version = p["version"].as_str().unwrap();
        let major: u32 = version.split('.').next().unwrap().parse().unwrap();
        let unstated = UNSTATED_NEEDS
            .iter()
            .find(|(n, from, _, _)| *n == name && major >= *from)
            .map(|(_, _, rv, why)| (*rv, *why));
        let Some(rv) = unstated.map(|u| u.0).or(p["rust_version"].as_str()) else {
            continue;
        };
        if name == "tcpplay" {
            ours = Some(rv.to_string());
            continue;
        }
        let who = match unstated {
            Some((_, why)) => format!("{name} {version} needs {rv} ({why})"),
            None => format!("{name} {version} needs {rv}"),
        };
        if highest.as_ref().is_none_or(|(h, _)| parse(rv) > *h) {
            highest = Some((parse(rv), who));
        }
    }
    let ours = ours.expect("Cargo.toml states a rust-version");
    let (needed, who) = highest.expect("some dependency states its rust-version");
    let mut stated = parse(&ours);
    stated.resize(3, 0);
    let mut needed_3 = needed.clone();
    needed_3.resize(3, 0);
    assert_eq!(
        stated, needed_3,
        "Cargo.toml says rust-version {ours}, but the highest a locked package needs is {who}"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("{ours} or newer")),
        "README.md must say \"{ours} or newer\" (Cargo.toml's rust-version)"
    );
}

/// The rows of README's option table under `### `tcpplay NAME``: each
/// row's first cell.
fn option_rows(readme: &str, name: &str) -> Vec<String> {
    let head = format!("### `tcpplay {name}`");
    let Some(start) = readme.find(&head) else {
        return Vec::new();
    };
    let section = &readme[start + head.len()..];
    let section = &section[..section.find("\n### ").unwrap_or(section.len())];
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1).map(str::to_string))
        .collect()
}

/// A flag without docs fails CI: every long flag of every subcommand, from
/// clap's own definition, is in the committed man page of its command and
/// in README — a row of its table for `serve` and `join` (whose tables
/// list every option), and named in backticks for the others.
#[test]
fn every_flag_of_every_command_is_in_the_readme_and_the_man_pages() {
    use clap::CommandFactory;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let cli = tcpplay::cli::Cli::command();
    let man_flag = |long: &str| format!("\\-\\-{}", long.replace('-', "\\-"));
    let mut missing = Vec::new();
    let mut checked = 0;
    let top = std::fs::read_to_string(root.join("man/tcpplay.1")).unwrap();
    for arg in cli.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        checked += 1;
        if !readme.contains(&format!("`--{long}")) && !readme.contains(&format!(" --{long}`")) {
            missing.push(format!(
                "README.md does not name the global option --{long}"
            ));
        }
        if !top.contains(&man_flag(long)) {
            missing.push(format!("man/tcpplay.1 lacks --{long}"));
        }
    }
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        let page = format!("man/tcpplay-{name}.1");
        let man = std::fs::read_to_string(root.join(&page)).unwrap_or_default();
        let rows = match name {
            "serve" | "join" => Some(option_rows(&readme, name)),
            _ => None,
        };
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if arg.is_hide_set() || long == "help" {
                continue;
            }
            checked += 1;
            let flag = format!("--{long}");
            let documented = match &rows {
                Some(rows) => rows
                    .iter()
                    .any(|r| r.split(['`', ' ', ',', '/']).any(|w| w == flag)),
                None => {
                    readme.contains(&format!("`{flag}")) || readme.contains(&format!(" {flag}"))
                }
            };
            if !documented {
                missing.push(match &rows {
                    Some(_) => {
                        format!("README.md: the `tcpplay {name}` table has no row for {flag}")
                    }
                    None => format!("README.md does not name `tcpplay {name} {flag}`"),
                });
            }
            if !man.contains(&man_flag(long)) {
                missing.push(format!(
                    "{page} lacks {flag} (regenerate: tcpplay man --dir man)"
                ));
            }
        }
    }
    assert!(checked > 60, "clap's flags were read ({checked})");
    assert!(
        missing.is_empty(),
        "flags without docs:\n{}",
        missing.join("\n")
    );
}
