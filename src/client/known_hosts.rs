//! Trust on first use: SHA-256 fingerprints of servers the user chose to
//! trust, one `HOST:PORT FINGERPRINT` line each, in `known_hosts` in the
//! user's data directory (like SSH's). A later connection to that host and
//! port accepts only the pinned certificate.

use std::path::{Path, PathBuf};

/// `known_hosts` in the user's data directory (`~/.local/share/tcpplay` on Linux).
pub fn default_path() -> Option<PathBuf> {
    crate::config::data_dir().map(|d| d.join("known_hosts"))
}

/// The pinned fingerprint of `target` (`host:port`), if any.
pub fn lookup(file: &Path, target: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(char::is_whitespace))
        .find(|(t, _)| t.eq_ignore_ascii_case(target))
        .map(|(_, fp)| fp.trim().to_string())
}

/// Pin `fingerprint` for `target`, replacing an older pin (file mode 0600).
pub fn pin(file: &Path, target: &str, fingerprint: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        crate::files::private_dir(dir)?;
    }
    let old = std::fs::read_to_string(file).unwrap_or_default();
    let mut text = String::new();
    if old.is_empty() {
        text.push_str("# tcpplay known hosts: HOST:PORT SHA-256 fingerprint of a trusted certificate.\n# Delete a line to forget a server.\n");
    }
    for line in old.lines() {
        let same = line
            .split_once(char::is_whitespace)
            .is_some_and(|(t, _)| t.eq_ignore_ascii_case(target));
        if !same {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str(&format!("{target} {fingerprint}\n"));
    crate::files::write_atomic(file, text.as_bytes(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_found_replaced_and_kept_per_host_and_port() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/known_hosts");
        assert_eq!(lookup(&f, "a:1"), None);
        pin(&f, "a:1", "AA:BB").unwrap();
        pin(&f, "b:2", "CC").unwrap();
        pin(&f, "A:1", "DD").unwrap();
        assert_eq!(lookup(&f, "a:1").as_deref(), Some("DD"));
        assert_eq!(lookup(&f, "b:2").as_deref(), Some("CC"));
        assert_eq!(lookup(&f, "b:3"), None);
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 2);
    }
}
