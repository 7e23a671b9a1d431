//! Where a setting's value came from (a default, a file, the environment,
//! a flag), as figment's metadata says: for `check`, and for every error
//! that names a value. Below both loading and explaining errors, so neither
//! imports the other.

use std::path::PathBuf;

use figment::{Metadata, Profile};

/// The name of the flags' layer in figment.
pub(super) const FLAGS: &str = "command-line flag";

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    /// The environment variable, e.g. `TCPPLAY_SERVE__PORT`.
    Env(String),
    /// The flag, e.g. `--port`.
    Flag(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::File(p) => write!(f, "config file {}", p.display()),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

impl Source {
    /// Where figment says `key` (e.g. `serve.port`) came from.
    pub(super) fn of(m: &Metadata, key: &str) -> Source {
        let keys: Vec<&str> = key.split('.').collect();
        match &m.source {
            Some(figment::Source::File(p)) => Source::File(p.clone()),
            // Our Env provider maps TCPPLAY_SECTION__KEY to section.key.
            _ if m.name.contains("environment") => {
                Source::Env(format!("TCPPLAY_{}", keys.join("__").to_uppercase()))
            }
            _ if m.name == FLAGS => Source::Flag(m.interpolate(&Profile::Default, &keys)),
            _ => Source::Default,
        }
    }
}
