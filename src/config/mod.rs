//! Settings: the structs, their one `impl Default`, and the figment layering
//! defaults < TOML file < `TCPPLAY_…` environment < command-line flags, with the
//! source of every value kept for error messages and `tcpplay check`.
//! Prompts (the last layer) live in `prompt.rs`; secrets never live here.
//!
//! - here: the settings, their one `impl Default`, and their checks
//! - [`load`]: the layers and where each value came from
//! - `explain`: what a bad value means, in words
//! - `source`: where a value came from
//! - `validate`: the checks across settings, after layering
//! - `de`: ports and TLS modes as people write them

mod de;
mod explain;
mod limits;
mod load;
mod source;
mod validate;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use limits::Limits;
pub use load::{
    config_file, data_dir, load, user_config_file, FlagLayer, Loaded, ENV_ACCOUNT_PASSWORD,
    ENV_CONFIG, ENV_PASSWORD,
};
pub use source::Source;

/// The highest `limits.messages_per_second` (what a client paces itself by
/// is bounded the same way: `HelloLimits::MAX_RATE`).
pub const MAX_RATE: f64 = crate::protocol::HelloLimits::MAX_RATE;

/// A usage or configuration error: the binary exits with code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    pub fn new(msg: impl Into<String>) -> Self {
        ConfigError(msg.into())
    }
}

/// A usage or configuration error for `?`: the binary exits with code 2.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    ConfigError::new(msg).into()
}

/// Every setting, as read from the file (sections `[serve]`, `[join]`,
/// `[limits]`, `[history]`, `[cluster]`, `[web]`, `[irc]`, and one `[[rooms]]` per
/// declared room).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub serve: ServeSettings,
    pub join: JoinSettings,
    pub limits: Limits,
    pub history: HistorySettings,
    pub cluster: ClusterSettings,
    pub web: WebSettings,
    pub irc: IrcSettings,
    /// Rooms the server keeps from its start, empty or not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<RoomSettings>,
}

/// Browser access (`serve --web`): the page and its WebSocket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSettings {
    /// Serve the page and the WebSocket on this address (`HOST:PORT`);
    /// unset: no web access. HTTPS and WSS when the server has TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Origins besides the page's own whose pages may open the WebSocket
    /// (`https://class.example`); others are refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
}

/// IRC clients (`serve --irc`): an IRC listener beside the chat port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IrcSettings {
    /// Speak IRC on this address (`HOST:PORT`; 6667, or 6697 under TLS,
    /// are the usual ports); unset: no IRC. IRC over TLS when the server
    /// has TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Offer SASL PLAIN over TLS: an IRC client logs in to an account by
    /// sending its password to the server (which checks it against the
    /// OPAQUE record by running both sides) — what OPAQUE exists to avoid.
    /// Off by default; never offered without TLS.
    pub sasl_plain: bool,
}

/// Cluster mode (`serve --cluster`): rooms shared by the servers on one Redis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// `redis://HOST:PORT[/DB]` or `rediss://` (TLS); unset: one server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// This server's name among the nodes (default: HOSTNAME-PORT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Prefix of every Redis key: clusters with different prefixes share a
    /// Redis without seeing each other.
    pub prefix: String,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            url: None,
            node: None,
            prefix: "tcpplay".into(),
        }
    }
}

/// A Redis URL as it may be shown: its password (if any) as `***`.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// A setting's value as it may be shown (logs, `check`): secrets hidden.
pub fn shown_value(key: &str, value: &serde_json::Value) -> serde_json::Value {
    match (key, value) {
        ("cluster.url", serde_json::Value::String(u)) => serde_json::Value::String(redact_url(u)),
        _ => value.clone(),
    }
}

/// A room declared by the operator (`[[rooms]]`): it exists from the start,
/// survives being empty, and has its topic and message for whoever joins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RoomSettings {
    /// `#name` (the `#` may be left out).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Sent to each member who joins it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motd: Option<String>,
    /// Accounts that operate it (kick, ban, mute, invite; see README,
    /// Accounts). A guest cannot take these names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<String>,
}

/// Chat history kept by `serve` (SQLite). See `docs/PROTOCOL.md`, History.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistorySettings {
    /// Keep history at all (`--no-history` turns it off).
    pub enabled: bool,
    /// The database file; default: one per server (bind address and port) in
    /// the `history` folder of the user's data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Messages replayed to each new member (0 = none).
    pub replay: usize,
    /// Keep at most this many messages (0 = no count limit).
    pub max_messages: u64,
    /// Forget messages older than this many days (0 = no age limit).
    pub max_age_days: f64,
    /// Also store direct messages (never replayed; for the operator's records).
    pub store_direct_messages: bool,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            enabled: true,
            path: None,
            replay: 20,
            max_messages: 100_000,
            max_age_days: 30.0,
            store_direct_messages: false,
        }
    }
}

/// Most messages `history.replay` may ask for (each join writes them all).
pub const MAX_REPLAY: usize = 1000;

impl HistorySettings {
    /// The default database of the server listening on `addr`: each server
    /// keeps its own (`history/0.0.0.0-12345.sqlite3` in the data directory).
    pub fn default_path(addr: std::net::SocketAddr) -> Option<PathBuf> {
        data_dir().map(|d| d.join("history").join(server_file(addr)))
    }
}

/// A server's own file name in a data folder: `0.0.0.0-12345.sqlite3`.
pub fn server_file(addr: std::net::SocketAddr) -> String {
    let key = format!("{}-{}", addr.ip(), addr.port()).replace([':', '%'], "_");
    format!("{key}.sqlite3")
}

impl ServeSettings {
    /// The accounts database when `serve.accounts` does not say
    /// (`accounts/0.0.0.0-12345.sqlite3` in the data directory).
    pub fn default_accounts_path(addr: std::net::SocketAddr) -> Option<PathBuf> {
        data_dir().map(|d| d.join("accounts").join(server_file(addr)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeSettings {
    /// Address to bind: `0.0.0.0` (all IPv4), `::` (all IPv6), or one address.
    pub bind: String,
    /// TCP port; 0 picks a free one (printed in the readiness line).
    #[serde(deserialize_with = "de::port")]
    pub port: u16,
    /// Idle timeout for clients in seconds (0 = none), the original's `--timeout`.
    pub timeout: f64,
    pub tls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Password-protected room (implies TLS).
    pub secure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Do not echo chat lines on the server console.
    pub quiet: bool,
    /// Require client certificates issued by this CA (mutual TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// Message of the day, sent to each member after joining.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motd: Option<String>,
    /// Read the message of the day from this file (used when `motd` is not set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motd_file: Option<PathBuf>,
    /// A secure room's record (made by `tcpplay gen-room`): the server then
    /// needs no password at all.
    pub room_record: Option<PathBuf>,
    /// Threads serving clients; 0 = one per CPU core.
    pub workers: usize,
    /// Serve `/metrics`, `/healthz` and `/readyz` over HTTP on this address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// Log lines as `text` (for people) or `json` (one object per line).
    pub log_format: String,
    /// The room a client is in when it asks for none (clients that know no
    /// rooms, like the Python original, are always there).
    pub default_room: String,
    /// Members may make rooms by joining one that does not exist (else only
    /// `[[rooms]]` and the default room exist).
    pub create_rooms: bool,
    /// Accounts (TLS only): who may register a name — `open` (anyone),
    /// `operator` (only the server's operator, with `tcpplay gen-account`)
    /// or `closed` (accounts already made still log in).
    pub registration: Registration,
    /// The accounts database (OPAQUE records, certificate bindings, rooms'
    /// bans and operators); default: one per server in the `accounts`
    /// folder of the user's data directory. A cluster node keeps its
    /// durable copy of the cluster's accounts beside it (`cluster-NODE-`
    /// before its file name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<PathBuf>,
    /// Accounts that operate every room (and may register others when
    /// registration is `operator`). A guest cannot take these names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<String>,
}

/// Who may register an account (`serve.registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    Open,
    Operator,
    #[default]
    Closed,
}

impl Registration {
    /// As `hello.accounts` says it.
    pub fn offer(self) -> crate::protocol::Registration {
        match self {
            Registration::Open => crate::protocol::Registration::Open,
            Registration::Operator => crate::protocol::Registration::Operator,
            Registration::Closed => crate::protocol::Registration::Closed,
        }
    }

    /// As the settings say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Open => "open",
            Registration::Operator => "operator",
            Registration::Closed => "closed",
        }
    }
}

/// The port `serve` listens on and `join` connects to unless told.
pub const DEFAULT_PORT: u16 = 12345;

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            bind: "0.0.0.0".into(),
            port: DEFAULT_PORT,
            timeout: 0.0,
            tls: false,
            cert: None,
            key: None,
            secure: false,
            password_file: None,
            quiet: false,
            client_ca: None,
            motd: None,
            motd_file: None,
            room_record: None,
            workers: 0,
            metrics: None,
            log_format: "text".into(),
            default_room: "#lobby".into(),
            create_rooms: true,
            registration: Registration::Closed,
            accounts: None,
            operators: Vec::new(),
        }
    }
}

pub use crate::tls::TlsMode;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JoinSettings {
    pub host: String,
    #[serde(deserialize_with = "de::port")]
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Connect and handshake timeout in seconds (0 = none).
    pub timeout: f64,
    #[serde(deserialize_with = "de::tls_mode")]
    pub tls: TlsMode,
    /// A certificate or CA (PEM) to trust instead of the public roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Accept any certificate (testing only; loudly warned).
    pub tls_insecure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The account's password, from the first line of this file (or
    /// `TCPPLAY_ACCOUNT_PASSWORD`); else asked on a terminal when the name
    /// is registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_password_file: Option<PathBuf>,
    /// A client certificate and key to present (mutual TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// Show the time before each line.
    pub timestamps: bool,
    /// Ring the terminal bell when a line names you.
    pub bell: bool,
    /// Rooms to join (none: the server's default room); the first is where
    /// typed lines go.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<String>,
}

impl Default for JoinSettings {
    fn default() -> Self {
        JoinSettings {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            name: None,
            timeout: 10.0,
            tls: TlsMode::Auto,
            cert: None,
            tls_insecure: false,
            password_file: None,
            account_password_file: None,
            client_cert: None,
            client_key: None,
            timestamps: false,
            bell: true,
            rooms: Vec::new(),
        }
    }
}

/// Seconds as a `Duration`, with 0 meaning "none".
pub fn secs(v: f64) -> Option<std::time::Duration> {
    (v > 0.0).then(|| std::time::Duration::from_secs_f64(v))
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn a_redis_password_is_never_shown() {
        for (url, shown) in [
            (
                "redis://:s3cret@10.0.0.1:6379/2",
                "redis://***@10.0.0.1:6379/2",
            ),
            ("rediss://user:s3cret@host:6380", "rediss://***@host:6380"),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        ] {
            assert_eq!(redact_url(url), shown);
            let v = shown_value("cluster.url", &serde_json::Value::String(url.into()));
            assert!(!v.to_string().contains("s3cret"), "{v}");
        }
    }

    /// Every section of the file is one of the environment too: the web
    /// and IRC addresses, which the example config shows as
    /// `TCPPLAY_WEB__ADDR` and `TCPPLAY_IRC__ADDR`, were refused.
    #[test]
    fn the_environment_takes_every_section_the_file_takes() {
        Jail::expect_with(|jail| {
            jail.set_env("TCPPLAY_WEB__ADDR", "127.0.0.1:0");
            jail.set_env("TCPPLAY_IRC__ADDR", "127.0.0.1:0");
            let l = load(None, FlagLayer::default()).map_err(|e| e.to_string())?;
            assert_eq!(l.settings.web.addr.as_deref(), Some("127.0.0.1:0"));
            assert_eq!(l.settings.irc.addr.as_deref(), Some("127.0.0.1:0"));
            assert_eq!(
                l.source_of("web.addr"),
                "environment variable TCPPLAY_WEB__ADDR"
            );
            jail.set_env("TCPPLAY_WBE__ADDR", "127.0.0.1:0");
            let Err(e) = load(None, FlagLayer::default()) else {
                panic!("a misspelt section was taken");
            };
            assert!(
                e.to_string().contains("TCPPLAY_WBE__ADDR names no section")
                    && e.to_string().contains("irc, join, limits, serve, web"),
                "{e}"
            );
            Ok(())
        });
    }

    #[test]
    fn layers_apply_in_order_and_name_their_source() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "tcpplay.toml",
                "[serve]\nport = 2000\nbind = \"127.0.0.1\"\n[join]\nhost = \"filehost\"\n",
            )?;
            jail.set_env("TCPPLAY_SERVE__PORT", "3000");
            let mut flags = FlagLayer::default();
            flags.set("join.host", Some("flaghost"));
            let l = load(None, flags).map_err(|e| e.to_string())?;
            assert_eq!(l.settings.serve.port, 3000);
            assert_eq!(l.settings.serve.bind, "127.0.0.1");
            assert_eq!(l.settings.join.host, "flaghost");
            assert_eq!(
                l.source_of("serve.port"),
                "environment variable TCPPLAY_SERVE__PORT"
            );
            assert_eq!(l.source_of("serve.bind"), "config file tcpplay.toml");
            assert_eq!(l.source_of("join.host"), "flag --host");
            assert_eq!(l.source_of("join.port"), "built-in default");
            assert!(l.is_default("join.port") && !l.is_default("join.host"));
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_its_source() {
        Jail::expect_with(|jail| {
            jail.set_env("TCPPLAY_SERVE__PORT", "70000");
            let err = load(None, FlagLayer::default()).err().expect("must fail");
            let msg = err.to_string();
            assert!(msg.contains("serve.port"), "{msg}");
            assert!(msg.contains("TCPPLAY_SERVE__PORT"), "{msg}");
            assert!(msg.contains("70000") && msg.contains("0-65535"), "{msg}");
            Ok(())
        });
    }

    #[test]
    fn wrong_types_and_typos_are_explained_without_rust_words() {
        Jail::expect_with(|jail| {
            jail.set_env("TCPPLAY_LIMITS__MAX_CLIENTS", "-5");
            let msg = load(None, FlagLayer::default()).err().unwrap().to_string();
            assert_eq!(
                msg,
                "invalid limits.max_clients from environment variable TCPPLAY_LIMITS__MAX_CLIENTS: \
                 -5 is not a whole number, 0 or more"
            );
            jail.set_env("TCPPLAY_LIMITS__MAX_CLIENTS", "10");
            jail.create_file("tcpplay.toml", "[serve]\nprot = 1\n")?;
            let typo = load(None, FlagLayer::default()).err().unwrap().to_string();
            assert!(typo.contains("did you mean `port`?"), "{typo}");
            jail.create_file("tcpplay.toml", "[serve]\nquiet = \"yes\"\n")?;
            let kind = load(None, FlagLayer::default()).err().unwrap().to_string();
            assert!(kind.contains("'yes' is not true or false"), "{kind}");
            for rust in ["usize", "signed int", "invalid type", "bool"] {
                assert!(!typo.contains(rust) && !kind.contains(rust), "{rust}");
            }
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        Jail::expect_with(|jail| {
            jail.create_file("tcpplay.toml", "[serve]\nprot = 1\n")?;
            let msg = load(None, FlagLayer::default())
                .err()
                .expect("must fail")
                .to_string();
            assert!(
                msg.contains("prot") && msg.contains("tcpplay.toml"),
                "{msg}"
            );
            Ok(())
        });
    }

    #[test]
    fn tls_mode_accepts_bools_and_words() {
        Jail::expect_with(|jail| {
            jail.set_env("TCPPLAY_JOIN__TLS", "true");
            let l = load(None, FlagLayer::default()).map_err(|e| e.to_string())?;
            assert_eq!(l.settings.join.tls, TlsMode::On);
            jail.set_env("TCPPLAY_JOIN__TLS", "off");
            let l = load(None, FlagLayer::default()).map_err(|e| e.to_string())?;
            assert_eq!(l.settings.join.tls, TlsMode::Off);
            Ok(())
        });
    }

    #[test]
    fn unrelated_tcpplay_variables_are_not_settings() {
        Jail::expect_with(|jail| {
            jail.set_env("TCPPLAY_PASSWORD", "x");
            jail.set_env("TCPPLAY_LOG", "debug");
            assert!(load(None, FlagLayer::default()).is_ok());
            Ok(())
        });
    }
}
