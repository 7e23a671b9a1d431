//! Writing certificate and key files: new files only (unless forced), keys
//! owner-only on Unix, through a temporary name so a failure leaves nothing
//! half-written.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Write `contents` to `path` (owner-only on Unix when `private`), refusing to
/// overwrite unless `force`.
pub fn write_new(path: &Path, contents: &str, private: bool, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists: pass --force to overwrite it",
            path.display()
        );
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("tcpplay"),
        std::process::id()
    ));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let result = (|| -> Result<()> {
        let mut f = opts.open(&tmp).with_context(|| {
            format!(
                "cannot create a file in {} (does it exist, and is it writable?)",
                dir.display()
            )
        })?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Write several files; if any fails, remove the ones this call wrote.
pub fn write_all(files: &[(PathBuf, &str, bool)], force: bool) -> Result<()> {
    for (path, _, _) in files {
        if path.exists() && !force {
            bail!(
                "{} already exists: pass --force to overwrite it",
                path.display()
            );
        }
    }
    let mut written: Vec<&Path> = Vec::new();
    for (path, contents, private) in files {
        if let Err(e) = write_new(path, contents, *private, force) {
            for w in written {
                let _ = std::fs::remove_file(w);
            }
            return Err(e);
        }
        written.push(path);
    }
    Ok(())
}
