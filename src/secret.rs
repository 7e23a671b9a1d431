//! Where the room password comes from, in this order: `--password` (warned:
//! visible in the process list), `--password-file`, `TCPPLAY_PASSWORD`, the
//! `password_file` setting (config file or environment), then a hidden prompt.
//! The password is held in a zeroizing buffer and never printed or logged.

use std::path::Path;

use anyhow::{Context, Result};
use zeroize::Zeroizing;

use crate::config::{ConfigError, Loaded, Source, ENV_PASSWORD};
use crate::prompt;

pub(crate) type Password = Zeroizing<String>;

/// Which settings key and flag value to consult.
pub(crate) struct Sources<'a> {
    /// `--password`, if given.
    pub flag: Option<String>,
    /// `serve.password_file` or `join.password_file`.
    pub file_key: &'a str,
    /// Ask twice (setting a room password) rather than once.
    pub confirm: bool,
    pub can_prompt: bool,
}

pub(crate) fn room_password(
    loaded: &Loaded,
    file: Option<&Path>,
    src: Sources<'_>,
) -> Result<Password> {
    if let Some(p) = src.flag {
        eprintln!(
            "warning: --password is visible to other users of this machine in the process list; \
             prefer --password-file, {ENV_PASSWORD} or the prompt"
        );
        return non_empty(Zeroizing::new(p), "--password");
    }
    let file_from_flag = matches!(loaded.source(src.file_key), Source::Flag(_));
    if let (Some(path), true) = (file, file_from_flag) {
        return read_file(path);
    }
    if let Ok(p) = std::env::var(ENV_PASSWORD) {
        return non_empty(Zeroizing::new(p), ENV_PASSWORD);
    }
    if let Some(path) = file {
        return read_file(path);
    }
    if src.can_prompt {
        let prompt_text = if src.confirm {
            "Set the room password"
        } else {
            "Room password"
        };
        return prompt::password(prompt_text, src.confirm);
    }
    Err(ConfigError::new(format!(
        "this room needs a password: pass --password-file PATH, set {ENV_PASSWORD}, \
         set password_file in the config file, or run on a terminal to be asked"
    ))
    .into())
}

/// An account's password when one is given: `--account-password-file`,
/// `TCPPLAY_ACCOUNT_PASSWORD`, or `join.account_password_file` (no flag
/// takes the password itself: it would show in the process list).
pub(crate) fn account_password(loaded: &Loaded) -> Result<Option<Password>> {
    use crate::config::ENV_ACCOUNT_PASSWORD;
    let file = loaded.settings.join.account_password_file.as_deref();
    let from_flag = matches!(loaded.source("join.account_password_file"), Source::Flag(_));
    if let (Some(path), true) = (file, from_flag) {
        return read_file(path).map(Some);
    }
    if let Ok(p) = std::env::var(ENV_ACCOUNT_PASSWORD) {
        return non_empty(Zeroizing::new(p), ENV_ACCOUNT_PASSWORD).map(Some);
    }
    file.map(read_file).transpose()
}

fn non_empty(p: Password, from: &str) -> Result<Password> {
    if p.is_empty() {
        return Err(ConfigError::new(format!("the password from {from} is empty")).into());
    }
    Ok(p)
}

/// A password from the first line of `path` (warned when others may read it).
pub(crate) fn read_password_file(path: &Path) -> Result<Password> {
    read_file(path)
}

/// The first line of `path`, without its line ending.
fn read_file(path: &Path) -> Result<Password> {
    warn_if_readable_by_others(path);
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the password file {}", path.display()))?,
    );
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    non_empty(
        Zeroizing::new(line.to_string()),
        &path.display().to_string(),
    )
}

/// A secret readable by group or world deserves a warning (never a refusal:
/// the user may have reasons).
pub(crate) fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "warning: {} is readable by other users of this machine: chmod 600 {}",
                    path.display(),
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
