//! The layering written in docs/ARCHITECTURE.md, checked on the source: no
//! two modules import each other (a circle), and the rooms never import
//! the layers above them (the cluster, the sessions, the archive, the
//! operator's actions, the application). Imports are `use` lines, paths
//! written inline (`super::identify::Retry`), and names a module
//! re-exports from a child (counted as the child's).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// `src/a/b.rs` → `a::b`; `src/a/mod.rs` → `a`; `src/lib.rs` → ``.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The `use` declarations of a file's own code (tests left out), whole.
fn uses(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in code.lines() {
        let t = line.trim_start();
        if cur.is_none()
            && (t.starts_with("use ")
                || t.starts_with("pub use ")
                || t.starts_with("pub(crate) use "))
        {
            cur = Some(String::new());
        }
        if let Some(c) = &mut cur {
            c.push_str(t);
            if t.ends_with(';') {
                out.push(cur.take().unwrap());
            }
        }
    }
    out
}

/// The module paths a `use` names (the first path of each, to the module
/// it reaches: whatever follows that is a module known in `modules`).
fn targets(
    decl: &str,
    here: &[String],
    is_mod_file: bool,
    modules: &BTreeSet<Vec<String>>,
    reexported: &BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
) -> Vec<Vec<String>> {
    let body = decl
        .trim_start_matches("pub(crate) ")
        .trim_start_matches("pub ")
        .trim_start_matches("use ")
        .trim_end_matches(';');
    // `a::{b, c::d}` → `a::b`, `a::c::d` (one level of braces is enough here).
    let mut paths = Vec::new();
    match body.split_once("::{") {
        Some((head, rest)) => {
            for item in rest.trim_end_matches('}').split(',') {
                let item = item.trim().split(" as ").next().unwrap_or("").trim();
                if !item.is_empty() && !item.contains('{') {
                    paths.push(format!("{head}::{item}"));
                }
            }
            paths.push(head.to_string());
        }
        None => paths.push(body.split(" as ").next().unwrap_or(body).to_string()),
    }
    let mut out = Vec::new();
    for p in paths {
        let segs: Vec<&str> = p.split("::").collect();
        let mut base: Vec<String> = match segs[0] {
            "crate" => Vec::new(),
            "super" => {
                let mut b = here.to_vec();
                // In `a/b.rs`, `super` is `a`; in `a/b/mod.rs` too.
                b.pop();
                let _ = is_mod_file;
                b
            }
            "self" => here.to_vec(),
            _ => continue, // another crate
        };
        let mut rest = &segs[1..];
        while rest.first() == Some(&"super") {
            base.pop();
            rest = &rest[1..];
        }
        let mut reached = base.clone();
        for s in rest {
            let mut next = reached.clone();
            next.push(s.to_string());
            if modules.contains(&next) {
                reached = next;
            } else {
                // A name the module re-exports from a child: the child.
                if let Some(from) = reexported.get(&reached).and_then(|m| m.get(*s)) {
                    reached = from.clone();
                }
                break;
            }
        }
        out.push(reached);
    }
    out
}

/// Paths written inline in a file's own code (tests left out), outside
/// `use` lines and comments: `super::identify::Retry(r)` imports as much
/// as a `use` does.
fn inline_paths(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut out = Vec::new();
    for line in code.lines() {
        let t = line.trim_start();
        if t.starts_with("//") || t.starts_with("use ") || t.contains(" use ") {
            continue;
        }
        let t = t.split("//").next().unwrap_or(t);
        let b = t.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if !t.is_char_boundary(i) {
                i += 1;
                continue;
            }
            let start_ok = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
            let head = ["crate::", "super::", "self::"]
                .into_iter()
                .find(|h| t[i..].starts_with(h));
            match head {
                Some(_) if start_ok => {
                    let end = t[i..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                        .map_or(t.len(), |n| i + n);
                    out.push(format!("use {};", t[i..end].trim_end_matches(':')));
                    i = end;
                }
                _ => i += 1,
            }
        }
    }
    out
}

/// Names each module re-exports (`pub use child::Name;`, `pub(crate) use
/// x::{A, B}`): module → name → the module the name comes from.
fn reexports(
    all: &[PathBuf],
    src: &Path,
    modules: &BTreeSet<Vec<String>>,
) -> BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>> {
    let none = BTreeMap::new();
    let mut out: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for f in all {
        let here = module_of(src, f);
        let is_mod = f.file_name().is_some_and(|n| n == "mod.rs");
        let text = std::fs::read_to_string(f).unwrap();
        for d in uses(&text).iter().filter(|d| d.starts_with("pub")) {
            let body = d
                .split_once("use ")
                .map_or("", |(_, b)| b)
                .trim_end_matches(';');
            let names: Vec<&str> = match body.split_once("::{") {
                Some((_, rest)) => rest.trim_end_matches('}').split(',').collect(),
                None => vec![body.rsplit("::").next().unwrap_or(body)],
            };
            let Some(from) = targets(d, &here, is_mod, modules, &none).into_iter().next() else {
                continue;
            };
            for n in names {
                let n = n.trim();
                let n = n.split(" as ").last().unwrap_or(n).trim();
                let n = n.rsplit("::").next().unwrap_or(n);
                if !n.is_empty() && from != here {
                    out.entry(here.clone())
                        .or_default()
                        .insert(n.to_string(), from.clone());
                }
            }
        }
    }
    out
}

/// The import graph: module → the modules it imports, through `use`
/// lines, paths written inline, and names a parent module re-exports from
/// a child (resolved to the child).
fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let all = files(&src);
    let modules: BTreeSet<Vec<String>> = all.iter().map(|f| module_of(&src, f)).collect();
    let re = reexports(&all, &src, &modules);
    let mut g = BTreeMap::new();
    for f in &all {
        let here = module_of(&src, f);
        let is_mod = f.file_name().is_some_and(|n| n == "mod.rs");
        let text = std::fs::read_to_string(f).unwrap();
        let set: &mut BTreeSet<Vec<String>> = g.entry(here.clone()).or_default();
        for d in uses(&text).into_iter().chain(inline_paths(&text)) {
            for t in targets(&d, &here, is_mod, &modules, &re) {
                if t != here {
                    set.insert(t);
                }
            }
        }
    }
    g
}

/// `a` and `b` lifted to the two children of their deepest common module
/// (`None` when one contains the other).
fn siblings(a: &[String], b: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if common == a.len() || common == b.len() {
        return None;
    }
    Some((a[..=common].to_vec(), b[..=common].to_vec()))
}

#[test]
fn no_two_modules_import_each_other() {
    let g = graph();
    let mut lifted: BTreeSet<(Vec<String>, Vec<String>)> = BTreeSet::new();
    for (from, tos) in &g {
        for to in tos {
            if let Some(pair) = siblings(from, to) {
                lifted.insert(pair);
            }
        }
    }
    let circles: Vec<String> = lifted
        .iter()
        .filter(|(a, b)| a < b && lifted.contains(&(b.clone(), a.clone())))
        .map(|(a, b)| format!("{} <-> {}", a.join("::"), b.join("::")))
        .collect();
    assert!(g.len() > 50, "the source was read ({} modules)", g.len());
    assert!(
        circles.is_empty(),
        "modules that import each other:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_rooms_never_import_the_layers_above_them() {
    let g = graph();
    let above: [&[&str]; 6] = [
        &["server", "cluster"],
        &["server", "session"],
        &["server", "archive"],
        &["server", "operator"],
        &["app"],
        &["cli"],
    ];
    let mut wrong = Vec::new();
    for (from, tos) in &g {
        let low = from.starts_with(&["server".to_string(), "room".to_string()])
            || from.starts_with(&["server".to_string(), "history".to_string()]);
        if !low {
            continue;
        }
        for to in tos {
            if above.iter().any(|a| {
                to.iter()
                    .map(String::as_str)
                    .take(a.len())
                    .eq(a.iter().copied())
            }) {
                wrong.push(format!("{} imports {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
