//! Command-line definitions (clap derive). Also the source of the shell
//! completions. Nothing outside `main.rs` and this file sees clap types: flags
//! become a [`FlagLayer`] of settings here.
//!
//! Options that also live in the config file are `Option<T>` without a clap
//! default, so a clap default can never mask a file or environment value.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::certgen::{GenCertPlan, KeyType};
use crate::config::FlagLayer;

pub mod habits;
pub mod help;
mod join;
mod serve;

pub use join::{JoinArgs, TargetArgs};
pub use serve::ServeArgs;

pub const EXIT_CODES: &str = "\
Exit codes:
  0    success (join: left with /quit, Ctrl-D, or the end of piped input with every line sent)
  1    runtime failure (connection refused or lost, TLS or authentication failed, a piped
       line that could not be sent, ...)
  2    usage or configuration error
  130  cancelled at a prompt (Ctrl-C or Ctrl-D)
  check uses more codes per failing stage: see `tcpplay check --help`.

Settings come from, lowest to highest: built-in defaults < config file
(--config, TCPPLAY_CONFIG, ./tcpplay.toml, ~/.config/tcpplay/config.toml)
< TCPPLAY_SECTION__KEY environment variables < flags < prompts.";

/// `--port`: said in words when it is not a port (clap's own message names
/// a Rust range).
fn port_number(s: &str) -> Result<u16, String> {
    s.trim()
        .parse::<u16>()
        .map_err(|_| "a port is a whole number from 0 to 65535".to_string())
}

/// `--timeout` and the like: seconds, 0 or more, fractions allowed.
fn seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("give a number of seconds, like 5 or 0.5 (0 means none)".to_string()),
    }
}

#[derive(Debug, Parser)]
#[command(name = "tcpplay", version, about = "Multi-client TCP chat: plaintext, TLS or a password-protected secure room", after_help = EXIT_CODES)]
pub struct Cli {
    /// Read settings from this TOML file (see examples/tcpplay.toml).
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "TCPPLAY_CONFIG",
        help_heading = "Global options"
    )]
    pub config: Option<PathBuf>,

    /// Never prompt; fail if a required value is missing.
    #[arg(long, global = true, help_heading = "Global options")]
    pub no_input: bool,

    /// More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a chat server.
    #[command(after_help = help::serve_after())]
    Serve(ServeArgs),
    /// Join a chat server.
    #[command(after_help = help::join_after())]
    Join(JoinArgs),
    /// Make a self-signed (or local-CA) certificate and key for TLS.
    GenCert(GenCertArgs),
    /// Diagnose settings, certificate files and a live server.
    Check(CheckArgs),
    /// Make a secure room's record from its password, for `serve --room-record`
    /// (a server holding only the record cannot read the room).
    GenRoom(GenRoomArgs),
    /// Make (or give a new password to) an account in the accounts
    /// database, offline, for `serve` (its operators, or a closed server).
    GenAccount(GenAccountArgs),
    /// Print a shell completion script (or write all of them with --dir).
    Completions(CompletionsArgs),
    /// Show the manual (tcpplay(1), or a command's page), or write every
    /// page into DIR.
    Man(ManArgs),
}

/// `--key-type`: the words for [`KeyType`] (which lives with the generator).
impl ValueEnum for KeyType {
    fn value_variants<'a>() -> &'a [Self] {
        &[KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
        }))
    }
}

#[derive(Debug, Args)]
pub struct GenCertArgs {
    /// Directory to write into [default: current directory]
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Certificate file name or path [default: cert.pem]
    #[arg(long, value_name = "PATH")]
    pub cert_file: Option<PathBuf>,
    /// Private key file name or path [default: key.pem]
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Days of validity (browsers and Apple refuse more than 825).
    #[arg(long, default_value_t = 365, allow_negative_numbers = true)]
    pub days: i64,
    /// Extra subject alternative name: a DNS name or an IP address (repeatable).
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Key algorithm (RSA keys cannot be generated with this build's crypto backend).
    #[arg(long, value_enum, default_value_t = KeyType::EcdsaP256)]
    pub key_type: KeyType,
    /// Also add this machine's host name and LAN addresses, so other machines can verify it.
    #[arg(long)]
    pub lan: bool,
    /// Issue from a local CA (ca.pem, ca-key.pem): created once, reused after.
    #[arg(long)]
    pub ca: bool,
    /// An existing CA certificate to issue from [default: OUT_DIR/ca.pem]
    #[arg(long, value_name = "PATH", requires = "ca_key")]
    pub ca_cert: Option<PathBuf>,
    /// The CA's private key [default: OUT_DIR/ca-key.pem]
    #[arg(long, value_name = "PATH", requires = "ca_cert")]
    pub ca_key: Option<PathBuf>,
    /// Issue a client certificate for NAME (mutual TLS; needs the local CA).
    #[arg(long, value_name = "NAME")]
    pub client: Option<String>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

impl GenCertArgs {
    /// What to make, as plain options.
    pub fn plan(&self) -> GenCertPlan {
        GenCertPlan {
            out_dir: self.out_dir.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            days: self.days,
            sans: self.sans.clone(),
            key_type: self.key_type,
            lan: self.lan,
            ca: self.ca,
            ca_cert: self.ca_cert.clone(),
            ca_key: self.ca_key.clone(),
            client: self.client.clone(),
            force: self.force,
            json: self.json,
        }
    }
}

pub const CHECK_EXIT_CODES: &str = "\
Exit codes:
  0  every check passed (or only warnings, without --strict)
  1  warnings only, with --strict
  2  usage or configuration error
  3  resolve: the host name does not resolve
  4  connect: nothing accepts connections there
  5  tls: TLS failed, or TLS was required and the server is plaintext
  6  certificate: the server's certificate does not verify (untrusted, expired, wrong name)
  7  protocol: the server does not speak tcpplay's protocol (or says nothing)
  8  auth: joining failed (name refused, wrong password, proofs did not verify)
  9  local: a local file or setting is broken (certificate, key, password file)";

#[derive(Debug, Args)]
#[command(after_help = CHECK_EXIT_CODES)]
pub struct CheckArgs {
    /// Server to probe, HOST:PORT. Without it (and without --host/--port/--remote) only local checks run.
    pub target: Option<String>,
    /// Only check local settings and files; do not connect.
    #[arg(long, conflicts_with_all = ["target", "remote"])]
    pub local: bool,
    /// Probe the server named by the join settings.
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub server: TargetArgs,
    /// Also join as NAME, run ping round trips, and leave.
    #[arg(short, long)]
    pub name: Option<String>,
    /// Room password file (secure rooms; or TCPPLAY_PASSWORD).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// Ping round trips after joining.
    #[arg(long, default_value_t = 5)]
    pub pings: u32,
    /// Seconds each network step may take.
    #[arg(long, default_value_t = 5.0, value_parser = seconds)]
    pub timeout: f64,
    /// Exit 1 when there are warnings.
    #[arg(long)]
    pub strict: bool,
    /// Print one JSON document on stdout (logs stay on stderr).
    #[arg(long)]
    pub json: bool,
    /// Also look at a cluster's Redis, redis://HOST:PORT[/DB]: its nodes
    /// alive, their members, the latency (or cluster.url in the settings).
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
}

impl CheckArgs {
    /// The checks asked for, once the settings are known (`--remote` probes
    /// the server the join settings name).
    pub fn options(
        &self,
        loaded: &crate::config::Loaded,
        verbose: bool,
    ) -> anyhow::Result<crate::check::CheckOptions> {
        use crate::hostport::HostPort;
        let j = &loaded.settings.join;
        let target = match &self.target {
            _ if self.local => None,
            Some(t) => Some(HostPort::parse(t).map_err(crate::config::usage)?),
            None if self.server.host.is_some() || self.server.port.is_some() || self.remote => {
                Some(HostPort::new(&j.host, j.port))
            }
            None => None,
        };
        Ok(crate::check::CheckOptions {
            target,
            name: self.name.clone(),
            pings: self.pings,
            timeout: std::time::Duration::from_secs_f64(self.timeout.max(0.1)),
            strict: self.strict,
            json: self.json,
            verbose,
        })
    }

    /// Flags as settings: with --local, `--port` is the server's own port;
    /// for a probe, the target's.
    pub fn flags(&self) -> FlagLayer {
        let mut f = FlagLayer::default();
        if self.local {
            f.set("serve.port", self.server.port);
        }
        self.server.flags(&mut f, !self.local);
        f.set_path("join.password_file", self.password_file.as_deref());
        f.set("cluster.url", self.cluster.clone());
        f
    }
}

#[derive(Debug, Args)]
pub struct GenRoomArgs {
    /// Where to write the record (owner-only) [default: room.record]
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Read the room password from the first line of this file (else
    /// TCPPLAY_PASSWORD, else asked twice on the terminal).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct GenAccountArgs {
    /// The account's name (the name its holder joins as).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The accounts database [default: the one `serve` uses with these settings]
    #[arg(long, value_name = "PATH")]
    pub accounts: Option<PathBuf>,
    /// Read the password from the first line of this file (else
    /// TCPPLAY_ACCOUNT_PASSWORD, else asked twice on the terminal).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to print the script for.
    #[arg(value_enum, required_unless_present = "dir")]
    pub shell: Option<clap_complete::Shell>,
    /// Write the scripts for every shell into DIR (how completions/ is made).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Show this command's page (`tcpplay man join`: the page of `tcpplay
    /// join`) [default: tcpplay(1)]
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
    /// Write every page (tcpplay.1 and tcpplay-COMMAND.1) into DIR instead
    /// of showing one (how man/ is made).
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
