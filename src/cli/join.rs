//! `tcpplay join`'s flags (and the target flags `check` shares), and
//! their layer of the settings.

use crate::config::FlagLayer;
use crate::share::JoinTarget;
use clap::Args;
use std::path::PathBuf;

use super::{port_number, seconds};

/// Which server, and the certificates to trust and present: shared by
/// `join` and `check`.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Server host name or IP address [default: 127.0.0.1]
    #[arg(long, help_heading = "Connection")]
    pub host: Option<String>,
    /// Server port [default: 12345]
    #[arg(short, long, value_parser = port_number, help_heading = "Connection")]
    pub port: Option<u16>,
    /// Trust this certificate or CA (PEM) instead of the public roots; implies --tls.
    #[arg(long, value_name = "PATH", help_heading = "TLS")]
    pub cert: Option<PathBuf>,
    /// Present this client certificate (PEM) to a server that asks for one (mutual TLS).
    #[arg(
        long,
        value_name = "PATH",
        requires = "client_key",
        help_heading = "TLS"
    )]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(
        long,
        value_name = "PATH",
        requires = "client_cert",
        help_heading = "TLS"
    )]
    pub client_key: Option<PathBuf>,
}

impl TargetArgs {
    /// The server's address as settings (`check --local` means its own port
    /// instead, so it passes `with_address: false`).
    pub(super) fn flags(&self, f: &mut FlagLayer, with_address: bool) {
        if with_address {
            f.set("join.host", self.host.clone());
            f.set("join.port", self.port);
        }
        f.set_path("join.cert", self.cert.as_deref());
        f.set_path("join.client_cert", self.client_cert.as_deref());
        f.set_path("join.client_key", self.client_key.as_deref());
    }
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The server: HOST, HOST:PORT, [IPv6]:PORT, or the tcpplay:// link
    /// `serve` prints (it can also name the room and pin the certificate).
    #[arg(value_name = "SERVER", value_parser = JoinTarget::parse, conflicts_with = "host")]
    pub target: Option<JoinTarget>,
    #[command(flatten)]
    pub server: TargetArgs,
    /// Your name in the room (1-24 characters).
    #[arg(short, long, help_heading = "Chat")]
    pub name: Option<String>,
    /// Connect and handshake timeout in seconds (0 = none) [default: 10]
    #[arg(long, value_name = "SECS", value_parser = seconds, help_heading = "Connection")]
    pub timeout: Option<f64>,
    /// Room password for a secure server (visible in the process list: prefer
    /// --password-file, TCPPLAY_PASSWORD or the prompt).
    #[arg(long, value_name = "PASSWORD", help_heading = "Secure room")]
    pub password: Option<String>,
    /// Read the room password from the first line of this file.
    #[arg(long, value_name = "PATH", help_heading = "Secure room")]
    pub password_file: Option<PathBuf>,
    /// Read your account's password from the first line of this file (or
    /// set TCPPLAY_ACCOUNT_PASSWORD; on a terminal it is asked when needed).
    #[arg(long, value_name = "PATH", help_heading = "Account")]
    pub account_password_file: Option<PathBuf>,
    /// Register your name as an account once joined (asks for a new
    /// password twice on a terminal; TLS servers with registration open).
    #[arg(long, help_heading = "Account", conflicts_with = "change_password")]
    pub register: bool,
    /// Give your account a new password once logged in (asks for it twice
    /// on a terminal).
    #[arg(long, help_heading = "Account")]
    pub change_password: bool,
    /// --register or --change-password without a terminal: the new
    /// password, from the first line of this file.
    #[arg(long, value_name = "PATH", help_heading = "Account")]
    pub new_password_file: Option<PathBuf>,
    /// Require TLS (never fall back to plaintext).
    #[arg(long, conflicts_with = "no_tls", help_heading = "TLS")]
    pub tls: bool,
    /// Plaintext only (do not try TLS first).
    #[arg(long, help_heading = "TLS")]
    pub no_tls: bool,
    /// Do not verify the server certificate (testing only: anyone can impersonate the server).
    #[arg(long, help_heading = "TLS")]
    pub tls_insecure: bool,
    /// Forget what known_hosts remembers of HOST[:PORT] (its pinned
    /// certificate, that it was a secure room), then exit: after the
    /// server got a new certificate, or another server took its port.
    #[arg(long, value_name = "HOST:PORT", value_parser = JoinTarget::parse, help_heading = "TLS")]
    pub forget_host: Option<JoinTarget>,
    /// Print one JSON object per received event (for scripts).
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Stay connected when input ends (or is /dev/null), printing what
    /// arrives: for loggers and bots. Ctrl-C or SIGTERM leaves (exit 0).
    #[arg(long, help_heading = "Output")]
    pub listen: bool,
    /// When the connection is lost (not closed by the server), reconnect with back-off.
    #[arg(long, help_heading = "Connection")]
    pub reconnect: bool,
    /// Another server of the same cluster, HOST:PORT (repeat for more):
    /// with --reconnect, tried in turn after the main one.
    #[arg(long, value_name = "HOST:PORT", help_heading = "Connection")]
    pub also: Vec<String>,
    /// Print every protocol line sent (->) and received (<-) on stderr, secrets redacted.
    #[arg(long, help_heading = "Output")]
    pub show_wire: bool,
    /// Show the time before each line.
    #[arg(long, help_heading = "Output")]
    pub timestamps: bool,
    /// Do not ring the terminal bell when a line names you.
    #[arg(long, help_heading = "Output")]
    pub no_bell: bool,
    /// A room to join (repeat for more); typed lines go to the first
    /// [default: the server's default room]
    #[arg(long = "room", value_name = "ROOM", help_heading = "Chat")]
    pub rooms: Vec<String>,
}

impl JoinArgs {
    pub fn flags(&self) -> FlagLayer {
        let mut f = FlagLayer::default();
        self.server.flags(&mut f, true);
        if let Some(t) = &self.target {
            f.set("join.host", Some(t.host.clone()));
            if self.server.port.is_none() {
                f.set("join.port", t.port);
            }
            if self.rooms.is_empty() {
                f.set("join.rooms", t.room.clone().map(|r| vec![r]));
            }
        }
        f.set("join.name", self.name.clone());
        f.set("join.timeout", self.timeout);
        let tls = match (self.tls, self.no_tls) {
            (true, _) => Some("on"),
            (_, true) => Some("off"),
            _ => None,
        };
        f.set("join.tls", tls);
        f.set("join.tls_insecure", self.tls_insecure.then_some(true));
        f.set_path("join.password_file", self.password_file.as_deref());
        f.set_path(
            "join.account_password_file",
            self.account_password_file.as_deref(),
        );
        f.set("join.timestamps", self.timestamps.then_some(true));
        f.set("join.bell", self.no_bell.then_some(false));
        if !self.rooms.is_empty() {
            f.set("join.rooms", Some(self.rooms.clone()));
        }
        f
    }
}
