//! `join`'s settings and prompts, turned into a plan: where, as whom, how
//! to trust the server, which rooms, and an account change to make.

use anyhow::Result;

use crate::cli::JoinArgs;
use crate::client::{known_hosts, ConnectOptions};
use crate::config::{self, secs, usage, Loaded};
use crate::hostport::HostPort;
use crate::names::{sanitize, validate_name};
use crate::tls::{TlsMode, Trust};
use crate::{prompt, secret};

/// The join settings after prompts, ready to connect.
pub(super) struct JoinPlan {
    pub(super) connect: ConnectOptions,
    pub(super) name: String,
    /// A room password was given, or the server is remembered as a secure
    /// room: nothing is sent unless it answers as one, over TLS.
    pub(super) must_be_secure: bool,
    /// known_hosts remembers the server as a secure room (a refusal then
    /// says where, and how to forget it).
    pub(super) remembered: bool,
    /// The rooms to be in (none: the server's default room).
    pub(super) rooms: Vec<String>,
    /// Other servers of the same cluster (`--also`), tried in turn when
    /// reconnecting.
    pub(super) also: Vec<HostPort>,
    /// The account's password: given, or asked once the server said the
    /// name is registered (then kept for reconnections). Shared by the
    /// copies of the plan a reconnection makes.
    pub(super) account: std::sync::Arc<std::sync::Mutex<Option<crate::secret::Password>>>,
    /// `--register` or `--change-password`, with the new password.
    pub(super) account_change: Option<(crate::protocol::AccountOp, crate::secret::Password)>,
}

/// A room password was given (flag, file or environment): the user expects
/// a secure room, and a server that says otherwise is refused.
pub(super) fn password_given(loaded: &Loaded, args: &JoinArgs) -> bool {
    args.password.is_some()
        || loaded.settings.join.password_file.is_some()
        || std::env::var_os(config::ENV_PASSWORD).is_some_and(|v| !v.is_empty())
}

pub(super) fn plan_join(loaded: &Loaded, args: &JoinArgs, no_input: bool) -> Result<JoinPlan> {
    let mut j = loaded.settings.join.clone();
    let interactive = prompt::can_prompt(no_input);
    // `tcpplay join` alone is the guided way in (as the original client
    // was): it asks where and who. Given anything (a server, a port, a
    // name), only what is still missing is asked; the address has defaults.
    let said =
        !loaded.is_default("join.host") || !loaded.is_default("join.port") || j.name.is_some();
    if interactive && !said {
        j.host = prompt::host(&j.host)?;
        j.port = prompt::port(j.port)?;
    }
    if j.port == 0 {
        return Err(usage(format!(
            "port 0 from {}: a server port is 1-65535",
            loaded.source_of("join.port")
        )));
    }
    let name = match &j.name {
        Some(n) => validate_name(n).map_err(|e| {
            usage(format!("name '{}' from {}: {e}", sanitize(n), loaded.source_of("join.name")))
        })?,
        None if interactive => prompt::name()?,
        None => {
            return Err(usage(
                "no name given: pass --name NAME, or set TCPPLAY_JOIN__NAME or name in the [join] section of the config file",
            ))
        }
    };
    let link = args.target.as_ref();
    let pinned = link.and_then(|t| t.fingerprint.clone());
    let trust = trust(&j, pinned.as_deref());
    let target = HostPort::new(&j.host, j.port);
    let remembered = match known_hosts::default_path() {
        Some(f) => known_hosts::is_secure_room(&f, &target.to_string())?,
        None => false,
    };
    let must_be_secure =
        password_given(loaded, args) || remembered || link.is_some_and(|t| t.secure);
    let tls = tls_mode(
        &j,
        pinned.is_some(),
        must_be_secure,
        remembered.then_some(&target),
    )?;
    let connect = ConnectOptions {
        target,
        timeout: secs(j.timeout),
        tls,
        trust,
        client_auth: j.client_cert.clone().zip(j.client_key.clone()),
        show_wire: false,
        progress: None,
    };
    // The files to trust and present must be usable before we connect.
    if let Err(e) = connect.tls_config(&connect.trust) {
        return Err(usage(format!("{e:#}")));
    }
    Ok(JoinPlan {
        connect,
        name,
        must_be_secure,
        remembered,
        rooms: j.rooms.clone(),
        also: args
            .also
            .iter()
            .map(|a| HostPort::parse(a).map_err(|e| usage(format!("--also {e}"))))
            .collect::<Result<_>>()?,
        account: std::sync::Arc::new(std::sync::Mutex::new(secret::account_password(loaded)?)),
        account_change: account_change(loaded, args, interactive)?,
    })
}

/// `--register` / `--change-password`: the new password, asked twice on a
/// terminal (else `TCPPLAY_ACCOUNT_PASSWORD` or the file, for scripts).
fn account_change(
    loaded: &Loaded,
    args: &JoinArgs,
    interactive: bool,
) -> Result<Option<(crate::protocol::AccountOp, crate::secret::Password)>> {
    use crate::protocol::AccountOp;
    let op = match (args.register, args.change_password) {
        (true, _) => AccountOp::Register,
        (_, true) => AccountOp::Password,
        _ => return Ok(None),
    };
    if let Some(path) = &args.new_password_file {
        return Ok(Some((op, secret::read_password_file(path)?)));
    }
    if interactive {
        let what = match op {
            AccountOp::Register => "Set your account's password",
            _ => "Your account's new password",
        };
        return Ok(Some((op, prompt::password(what, true)?)));
    }
    match (op, secret::account_password(loaded)?) {
        (AccountOp::Register, Some(p)) => Ok(Some((op, p))),
        (AccountOp::Register, None) => Err(usage(format!(
            "--register needs the new password: run on a terminal to be asked, or give              --account-password-file PATH or {}",
            config::ENV_ACCOUNT_PASSWORD
        ))),
        _ => Err(usage(
            "--change-password needs the new password: run on a terminal to be asked, or give --new-password-file PATH              (--account-password-file and the environment hold the current one)",
        )),
    }
}

/// Whom to trust: no one (`--tls-insecure`), a file, the certificate the
/// operator's link names (that one only), or the public roots.
fn trust(j: &config::JoinSettings, pinned: Option<&str>) -> Trust {
    if j.tls_insecure {
        Trust::Insecure
    } else if let Some(c) = &j.cert {
        Trust::File(c.clone())
    } else if let Some(fp) = pinned {
        Trust::Pinned(fp.to_string())
    } else {
        Trust::PublicRoots
    }
}

/// TLS as the settings ask, made `on` by a certificate policy or a secure
/// room (never a fallback to plaintext then), and `off` refused where the
/// server must speak TLS; `remembered`: the server known_hosts remembers
/// as a secure room.
fn tls_mode(
    j: &config::JoinSettings,
    pinned: bool,
    must_be_secure: bool,
    remembered: Option<&HostPort>,
) -> Result<TlsMode> {
    Ok(match j.tls {
        TlsMode::Off if pinned => {
            return Err(usage(
                "the link pins a certificate (fp=), so the server speaks TLS: drop --no-tls",
            ))
        }
        TlsMode::Auto if j.cert.is_some() || j.tls_insecure || must_be_secure || pinned => {
            TlsMode::On
        }
        TlsMode::Off if must_be_secure => {
            let why = match remembered {
                Some(t) => known_hosts::secure_room_note(&t.to_string()),
                None => "a room password was given, or the link names a secure room".into(),
            };
            return Err(usage(format!(
                "a secure room runs over TLS only: drop --no-tls ({why})"
            )));
        }
        m => m,
    })
}
