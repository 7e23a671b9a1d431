//! `tcpplay serve`'s flags, and their layer of the settings.

use crate::config::FlagLayer;
use clap::Args;
use std::path::PathBuf;

use super::{port_number, seconds};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind: 0.0.0.0 (all IPv4, the default), :: (all IPv6) or one address.
    #[arg(long, value_name = "ADDR", help_heading = "Connection")]
    pub bind: Option<String>,
    /// TCP port (0 picks a free one) [default: 12345]
    #[arg(short, long, value_parser = port_number, help_heading = "Connection")]
    pub port: Option<u16>,
    /// Ping a client silent this many seconds; drop it if it stays silent
    /// as long again (tcpplay join answers by itself; 0 = never) [default: 0]
    #[arg(long, value_name = "SECS", value_parser = seconds, help_heading = "Connection")]
    pub timeout: Option<f64>,
    /// Password-protected secure room (requires TLS).
    #[arg(long, help_heading = "Secure room")]
    pub secure: bool,
    /// Room password (visible to other users in the process list: prefer
    /// --password-file, TCPPLAY_PASSWORD or the prompt).
    #[arg(long, value_name = "PASSWORD", help_heading = "Secure room")]
    pub password: Option<String>,
    /// Read the room password from the first line of this file.
    #[arg(long, value_name = "PATH", help_heading = "Secure room")]
    pub password_file: Option<PathBuf>,
    /// The secure room's record (from `tcpplay gen-room`): no password needed.
    #[arg(long, value_name = "PATH", help_heading = "Secure room")]
    pub room_record: Option<PathBuf>,
    /// Give the secure room a new record from the password given (its old
    /// sealed messages become unreadable and are removed from the history).
    #[arg(long, help_heading = "Secure room")]
    pub reset_room: bool,
    /// Serve over TLS (needs --cert and --key; see `tcpplay gen-cert`).
    #[arg(long, help_heading = "TLS")]
    pub tls: bool,
    /// Threads serving clients (0 = one per CPU core) [default: 0]
    #[arg(long, value_name = "N", help_heading = "Connection")]
    pub workers: Option<usize>,
    /// Serve /metrics (OpenMetrics), /healthz and /readyz over HTTP on this
    /// address, e.g. 127.0.0.1:9100 (off by default).
    #[arg(long, value_name = "ADDR", help_heading = "Output and operation")]
    pub metrics: Option<String>,
    /// Log format: text (for people) or json (one object per line; chat
    /// lines are then not echoed unless serve.quiet = false is set)
    /// [default: text]
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"], help_heading = "Output and operation")]
    pub log_format: Option<String>,
    /// Check the settings, certificate, key, history and room record, then
    /// exit (0: fine, 2: an error) without listening: for ExecStartPre.
    #[arg(long, help_heading = "Output and operation")]
    pub check_config: bool,
    /// Certificate chain (PEM).
    #[arg(long, value_name = "PATH", help_heading = "TLS")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM).
    #[arg(long, value_name = "PATH", help_heading = "TLS")]
    pub key: Option<PathBuf>,
    /// Require client certificates issued by this CA (mutual TLS; see `gen-cert --client`).
    #[arg(long, value_name = "PATH", help_heading = "TLS")]
    pub client_ca: Option<PathBuf>,
    /// Do not echo chat lines on the console.
    #[arg(short, long, help_heading = "Output and operation")]
    pub quiet: bool,
    /// Keep chat history in this SQLite file [default: history/BIND-PORT.sqlite3
    /// in the user's data dir, one per server]
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "no_history",
        help_heading = "History"
    )]
    pub history: Option<PathBuf>,
    /// Keep no chat history (nothing is written to disk).
    #[arg(long, help_heading = "History")]
    pub no_history: bool,
    /// Message of the day, sent to each member after joining.
    #[arg(long, value_name = "TEXT", help_heading = "Messages")]
    pub motd: Option<String>,
    /// Read the message of the day from this file.
    #[arg(long, value_name = "PATH", help_heading = "Messages")]
    pub motd_file: Option<PathBuf>,
    /// Serve the browser page and its WebSocket on this address, e.g.
    /// 0.0.0.0:8080 (HTTPS/WSS under --tls).
    #[arg(long, value_name = "ADDR", help_heading = "Connection")]
    pub web: Option<String>,
    /// Let IRC clients in on this address, e.g. 0.0.0.0:6667 (IRC over
    /// TLS under --tls: 6697 is the usual port). Off by default.
    #[arg(long, value_name = "ADDR", help_heading = "Connection")]
    pub irc: Option<String>,
    /// Who may register an account: open, operator (only `tcpplay
    /// gen-account`), closed (accounts made before still log in) [default: closed]
    #[arg(long, value_name = "WHO", value_parser = ["open", "operator", "closed"], help_heading = "Accounts")]
    pub registration: Option<String>,
    /// The accounts database; in a cluster, the node's durable copy of the cluster's accounts
    /// goes beside it as cluster-NODE-FILE [default: accounts/BIND-PORT.sqlite3 in the data directory]
    #[arg(long, value_name = "PATH", help_heading = "Accounts")]
    pub accounts: Option<PathBuf>,
    /// An account that operates every room (repeat for more; a guest cannot take the name).
    #[arg(long = "operator", value_name = "NAME", help_heading = "Accounts")]
    pub operators: Vec<String>,
    /// Cluster mode: share rooms with the other servers on this Redis,
    /// redis://HOST:PORT[/DB] or rediss:// (TLS). A password belongs in
    /// TCPPLAY_CLUSTER__URL or the config file, not here.
    #[arg(long, value_name = "URL", help_heading = "Cluster")]
    pub cluster: Option<String>,
    /// This server's name in the cluster [default: HOSTNAME-PORT]
    #[arg(long, value_name = "NAME", help_heading = "Cluster")]
    pub node: Option<String>,
}

impl ServeArgs {
    pub fn flags(&self) -> FlagLayer {
        let mut f = FlagLayer::default();
        f.set("serve.bind", self.bind.clone());
        f.set("serve.port", self.port);
        f.set("serve.timeout", self.timeout);
        f.set("serve.secure", self.secure.then_some(true));
        f.set("serve.tls", self.tls.then_some(true));
        f.set_path("serve.cert", self.cert.as_deref());
        f.set_path("serve.key", self.key.as_deref());
        f.set_path("serve.password_file", self.password_file.as_deref());
        f.set("serve.quiet", self.quiet.then_some(true));
        f.set_path("serve.client_ca", self.client_ca.as_deref());
        f.set_path("history.path", self.history.as_deref());
        f.set("history.enabled", self.no_history.then_some(false));
        f.set("serve.motd", self.motd.clone());
        f.set_path("serve.motd_file", self.motd_file.as_deref());
        f.set_path("serve.room_record", self.room_record.as_deref());
        f.set("serve.workers", self.workers);
        f.set("serve.metrics", self.metrics.clone());
        f.set("serve.log_format", self.log_format.clone());
        f.set("cluster.url", self.cluster.clone());
        f.set("cluster.node", self.node.clone());
        f.set("web.addr", self.web.clone());
        f.set("irc.addr", self.irc.clone());
        f.set("serve.registration", self.registration.clone());
        f.set_path("serve.accounts", self.accounts.as_deref());
        if !self.operators.is_empty() {
            f.set("serve.operators", Some(self.operators.clone()));
        }
        f
    }
}
