//! Layering: defaults < TOML file < `TCPPLAY_…` environment < command-line
//! flags, with the [`Source`] of every value kept for messages and `check`.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};

use super::explain::explain;
use super::validate::validate;
use super::{ConfigError, Settings};

/// The name of the flags layer (how [`Source`] knows it).
use super::source::{Source, FLAGS};

/// One layer of command-line flags, named so errors can say `--port`.
#[derive(Debug, Default, Clone)]
pub struct FlagLayer {
    values: serde_json::Map<String, serde_json::Value>,
}

impl FlagLayer {
    /// Set `section.key` when the flag was given.
    pub fn set<T: Into<serde_json::Value>>(&mut self, key: &str, value: Option<T>) {
        let Some(value) = value else { return };
        let (section, field) = key.split_once('.').expect("flag keys are section.field");
        let entry = self
            .values
            .entry(section.to_string())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let serde_json::Value::Object(m) = entry {
            m.insert(field.to_string(), value.into());
        }
    }

    pub fn set_path(&mut self, key: &str, value: Option<&Path>) {
        self.set(key, value.map(|p| p.to_string_lossy().into_owned()));
    }
}

impl Provider for FlagLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(FLAGS).interpolater(|_, keys| match keys {
            ["history", "enabled"] => "--no-history".into(),
            ["history", "path"] => "--history".into(),
            ["cluster", "url"] => "--cluster".into(),
            _ => format!(
                "--{}",
                keys.last().copied().unwrap_or_default().replace('_', "-")
            ),
        })
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.values).data()
    }
}

struct DefaultLayer;

impl Provider for DefaultLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named("built-in default")
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(Settings::default()).data()
    }
}

/// Environment variables that are read on their own, never as settings.
pub const ENV_CONFIG: &str = "TCPPLAY_CONFIG";
pub const ENV_PASSWORD: &str = "TCPPLAY_PASSWORD";
/// An account's password (`join`, `gen-account`).
pub const ENV_ACCOUNT_PASSWORD: &str = "TCPPLAY_ACCOUNT_PASSWORD";

/// Which config file to read: `--config`, else `TCPPLAY_CONFIG`, else
/// `./tcpplay.toml`, else the user's config dir. An explicit path must exist.
pub fn config_file(explicit: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(p) = explicit {
        return must_exist(p, "--config");
    }
    if let Some(p) = std::env::var_os(ENV_CONFIG).filter(|v| !v.is_empty()) {
        return must_exist(Path::new(&p), ENV_CONFIG);
    }
    let local = PathBuf::from("tcpplay.toml");
    if local.is_file() {
        return Ok(Some(local));
    }
    Ok(user_config_file().filter(|p| p.is_file()))
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "tcpplay")
}

/// `~/.config/tcpplay/config.toml` on Linux, the platform's equivalent elsewhere.
pub fn user_config_file() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// Where tcpplay keeps its data (history, known hosts): `~/.local/share/tcpplay`
/// on Linux, the platform's equivalent elsewhere.
pub fn data_dir() -> Option<PathBuf> {
    project_dirs().map(|d| d.data_dir().to_path_buf())
}

fn must_exist(p: &Path, via: &str) -> Result<Option<PathBuf>, ConfigError> {
    if p.is_file() {
        Ok(Some(p.to_path_buf()))
    } else {
        Err(ConfigError::new(format!(
            "config file {} (from {via}) does not exist or is not a file: create it \
             (see examples/tcpplay.toml) or point {via} elsewhere",
            p.display()
        )))
    }
}

/// Settings after layering, with their provenance.
pub struct Loaded {
    pub settings: Settings,
    pub file: Option<PathBuf>,
    figment: Figment,
}

impl Loaded {
    /// Where `key` (e.g. `serve.port`) came from.
    pub fn source(&self, key: &str) -> Source {
        self.figment
            .find_metadata(key)
            .map_or(Source::Default, |m| Source::of(m, key))
    }

    /// Where `key` came from, for people.
    pub fn source_of(&self, key: &str) -> String {
        self.source(key).to_string()
    }

    /// True when no layer above the built-in defaults set `key`.
    pub fn is_default(&self, key: &str) -> bool {
        self.source(key) == Source::Default
    }
}

/// Layer defaults < file < environment < flags and validate the result.
pub fn load(explicit_file: Option<&Path>, flags: FlagLayer) -> Result<Loaded, ConfigError> {
    let file = config_file(explicit_file)?;
    let mut figment = Figment::from(DefaultLayer);
    if let Some(f) = &file {
        figment = figment.merge(Toml::file_exact(f));
    }
    const ENV_SECTIONS: [&str; 7] = [
        "serve", "join", "limits", "history", "cluster", "web", "irc",
    ];
    let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
    if let Some(e) = super::explain::unknown_env_section(names, &ENV_SECTIONS) {
        return Err(ConfigError::new(e));
    }
    let env = Env::prefixed("TCPPLAY_")
        .filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            ENV_SECTIONS
                .iter()
                .any(|s| k.strip_prefix(s).is_some_and(|r| r.starts_with("__")))
        })
        .split("__");
    figment = figment.merge(env).merge(flags);
    let settings: Settings = figment.extract().map_err(explain)?;
    let loaded = Loaded {
        settings,
        file,
        figment,
    };
    validate(&loaded)?;
    Ok(loaded)
}
