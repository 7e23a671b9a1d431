//! Writing certificate and key files: new files only (unless forced), keys
//! owner-only on Unix, through a temporary name so a failure leaves nothing
//! half-written.

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
    crate::files::write_atomic(path, contents.as_bytes(), private).with_context(|| {
        format!(
            "cannot write {} (does its directory exist, and is it writable?)",
            path.display()
        )
    })
}

/// Write several files; if any fails, remove the ones this call wrote.
pub(crate) fn write_all(files: &[(PathBuf, &str, bool)], force: bool) -> Result<()> {
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
