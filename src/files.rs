//! Writing the user's files safely: whole or not at all (a temporary file in
//! the same directory, then a rename; never following a symlink at the
//! temporary name), and private ones readable by their owner only. Used by
//! `gen-cert`, `known_hosts` and the history's folder.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Replace `path` with `contents` atomically; the new file is owner-only
/// (0600 on Unix) when `private`, else 0644.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], private: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("tcpplay");
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    // create_new: an existing file or symlink at the temporary name is an
    // error, never something we write through.
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, if private { 0o600 } else { 0o644 });
    #[cfg(not(unix))]
    let _ = private;
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Create `dir` and its missing parents; the ones created are owner-only
/// (0700 on Unix).
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_with_the_right_mode_and_never_through_a_link() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("a/b");
        private_dir(&sub).unwrap();
        let f = sub.join("f");
        write_atomic(&f, b"one", true).unwrap();
        write_atomic(&f, b"two", true).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&f), 0o600);
            assert_eq!(mode(&sub), 0o700);
            // A symlink planted at the temporary name is not followed.
            let target = d.path().join("victim");
            std::fs::write(&target, b"keep").unwrap();
            let tmp = sub.join(format!(".f.tmp-{}", std::process::id()));
            std::os::unix::fs::symlink(&target, &tmp).unwrap();
            assert!(write_atomic(&f, b"three", true).is_err());
            assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        }
    }
}
