//! The subcommands, wired from settings to the library: what `main` calls.
//! Each turns the layered settings into plain options once; nothing below
//! this sees clap or figment.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::CommandFactory;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, CompletionsArgs, JoinArgs, ServeArgs};
use crate::client::ui::{self, Ending, StdoutOutput};
use crate::client::{self, ConnectOptions};
use crate::config::{self, secs, ConfigError, Loaded, TlsMode};
use crate::crypto::KdfParams;
use crate::names::{sanitize, validate_name};
use crate::protocol::codes;
use crate::server::history::{HistoryDb, Retention};
use crate::server::room::HistorySetup;
use crate::server::secure::SecureRoom;
use crate::server::{self, Server, ServerOptions};
use crate::tls::{self, Trust};
use crate::{certgen, check, prompt, secret};

/// Run the parsed command line; the result is the process exit code.
pub async fn run(cli: Cli) -> Result<u8> {
    let config = cli.config.clone();
    match cli.command {
        Command::Serve(args) => serve(config, cli.no_input, args).await,
        Command::Join(args) => join(config, cli.no_input, args).await,
        Command::GenCert(args) => certgen::run(&args),
        Command::Check(args) => check::run(config, &args, cli.verbose > 0).await,
        Command::Completions(args) => completions(&args),
    }
}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    ConfigError::new(msg).into()
}

async fn serve(config_file: Option<PathBuf>, no_input: bool, args: ServeArgs) -> Result<u8> {
    let loaded = config::load(config_file.as_deref(), args.flags())?;
    let s = loaded.settings.serve.clone();
    let tls = server_tls(&loaded)?;
    for warning in check::serve_warnings(&loaded) {
        tracing::warn!("{warning}");
    }
    let motd = read_motd(&loaded)?;
    let bind = if s.bind.trim().is_empty() {
        "0.0.0.0".to_string()
    } else {
        s.bind.trim().to_string()
    };
    let bind_host = bind
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let listener = TcpListener::bind((bind_host.as_str(), s.port)).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => "another program (or tcpplay) already uses it: pick another --port, or --port 0 for a free one",
            std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges: pick a port from 1024 up",
            std::io::ErrorKind::AddrNotAvailable => "that address is not on this machine: use 0.0.0.0, ::, or one of its addresses",
            _ => "check --bind and --port",
        };
        anyhow::anyhow!("cannot listen on {bind}:{}: {e} ({hint})", s.port)
    })?;
    let db = open_history(&loaded.settings.history, s.secure, listener.local_addr()?)?;
    let secure = if s.secure {
        if tls.is_none() {
            return Err(usage(
                "secure mode runs over TLS only: make a certificate with `tcpplay gen-cert`, \
                 then serve --secure --cert cert.pem --key key.pem",
            ));
        }
        let password = secret::room_password(
            &loaded,
            s.password_file.as_deref(),
            secret::Sources {
                flag: args.password.clone(),
                file_key: "serve.password_file",
                confirm: true,
                can_prompt: prompt::can_prompt(no_input),
            },
        )?;
        // With history, the salt is kept beside it: the same password reads
        // the stored messages after a restart.
        let fresh = crate::crypto::random_bytes::<16>();
        let salt = match db.as_ref().map(|db| db.salt_or(fresh)) {
            Some(Ok(salt)) => salt,
            Some(Err(e)) => {
                tracing::warn!("history: cannot keep the room salt ({e}); stored messages will not be readable after a restart");
                fresh
            }
            None => fresh,
        };
        let room = tokio::task::spawn_blocking(move || {
            SecureRoom::with_salt(password.as_bytes(), salt, KdfParams::default())
        })
        .await
        .context("deriving the room key")??;
        Some(Arc::new(room))
    } else {
        if args.password.is_some() || s.password_file.is_some() {
            tracing::warn!(
                "a password was given but the room is not secure (--secure): it is not used"
            );
        }
        None
    };
    let mode = match (&tls, &secure) {
        (_, Some(_)) => "tls, secure",
        (Some(_), None) => "tls",
        _ => "plaintext",
    };
    let history = start_history(db, &loaded.settings.history);
    let opts = ServerOptions {
        tls,
        limits: loaded.settings.limits.clone(),
        idle_timeout: secs(s.timeout),
        quiet: s.quiet,
        secure: secure.clone(),
        history,
        motd,
    };
    let shutdown = CancellationToken::new();
    let server = Server::new(listener, opts, shutdown.clone());
    let addr = server.local_addr()?;
    server::spawn_console_printer(&server.room(), s.quiet, secure.clone());
    // Signals are caught from before the readiness line on (by default SIGINT,
    // SIGTERM and SIGHUP end the process at once, without goodbyes).
    let stop = stop_on_signal(shutdown);
    #[cfg(unix)]
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    crate::output::out(format!("listening on {addr} ({mode}; Ctrl-C to stop)"));
    // The console's line editor may still be in `readline` when we return.
    let _term = std::io::stdin()
        .is_terminal()
        .then(crate::terminal::TermGuard::save);
    server::spawn_console_input(server.handle());
    tokio::spawn(stop);
    tokio::spawn(reload_on_request(
        server.handle(),
        config_file,
        args,
        loaded,
        #[cfg(unix)]
        hup,
    ));
    let room = server.room();
    server.run().await;
    if let Some(history) = room.history() {
        if !tokio::task::block_in_place(|| history.flush(std::time::Duration::from_secs(5))) {
            tracing::warn!("history: the last messages may not have been written");
        }
    }
    crate::output::clear_printer();
    crate::output::out("server stopped");
    Ok(0)
}

/// The message of the day: `serve.motd`, else the first 2000 characters of
/// `serve.motd_file`.
fn read_motd(loaded: &Loaded) -> Result<Option<String>> {
    let s = &loaded.settings.serve;
    if let Some(m) = s.motd.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        return Ok(Some(m.to_string()));
    }
    let Some(path) = &s.motd_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        usage(format!(
            "cannot read the message of the day from {} (serve.motd_file, from {}): {e}",
            path.display(),
            loaded.source_of("serve.motd_file")
        ))
    })?;
    let text: String = text.trim().chars().take(2000).collect();
    Ok((!text.is_empty()).then_some(text))
}

/// Open this server's history database. Another server already using it is
/// an error (two servers must never share one); so is a `--history` whose
/// folder does not exist. Other failures are warnings, and chat goes on.
fn open_history(
    h: &config::HistorySettings,
    secure: bool,
    addr: std::net::SocketAddr,
) -> Result<Option<HistoryDb>> {
    if !h.enabled {
        return Ok(None);
    }
    let path = match &h.path {
        Some(p) => {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                return Err(usage(format!(
                    "history file {}: its folder {} does not exist; create it, or pick another --history PATH",
                    p.display(),
                    dir.display()
                )));
            }
            p.clone()
        }
        None => {
            let Some(p) = config::HistorySettings::default_path(addr) else {
                tracing::warn!("history: no data directory on this system; pass --history PATH (or --no-history). Chat goes on without history");
                return Ok(None);
            };
            if let Some(dir) = p.parent() {
                if let Err(e) = crate::files::private_dir(dir) {
                    tracing::warn!("history: cannot create {} ({e}); chat goes on WITHOUT history (pass --history PATH, or --no-history)", dir.display());
                    return Ok(None);
                }
            }
            p
        }
    };
    match HistoryDb::open(&path, secure) {
        Ok(db) => Ok(Some(db)),
        Err(e) if e.in_use => Err(usage(format!(
            "history {e}: give this server its own with --history PATH (or --no-history)"
        ))),
        Err(e) => {
            tracing::warn!("history: cannot open {e}; chat goes on WITHOUT history (fix the path, pass --history PATH, or --no-history)");
            Ok(None)
        }
    }
}

/// Seed the room from the database and start its writer.
fn start_history(db: Option<HistoryDb>, h: &config::HistorySettings) -> HistorySetup {
    let Some(db) = db else {
        return HistorySetup::default();
    };
    let (recent, last_id) = match db.recent(h.replay) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("history: cannot read {e}; chat goes on WITHOUT history");
            return HistorySetup::default();
        }
    };
    tracing::info!(path = %db.path().display(), "history kept ({} recent messages)", recent.len());
    let store = db.spawn(Retention {
        max_messages: h.max_messages,
        max_age: secs(h.max_age_days * 86_400.0),
        store_direct: h.store_direct_messages,
    });
    HistorySetup {
        store: Some(store),
        recent,
        last_id,
        replay: h.replay,
    }
}

/// SIGHUP or the console's `/reload`: re-read the settings and apply what
/// can change live; log what changed and what needs a restart.
async fn reload_on_request(
    server: server::ServerHandle,
    config_file: Option<PathBuf>,
    args: ServeArgs,
    mut current: Loaded,
    #[cfg(unix)] mut hup: Option<tokio::signal::unix::Signal>,
) {
    loop {
        #[cfg(unix)]
        let hangup = next_signal(&mut hup);
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        tokio::select! {
            _ = hangup => tracing::info!("SIGHUP: reloading settings"),
            _ = server.reload_requested() => tracing::info!("reloading settings"),
        }
        match reload(&server, config_file.as_deref(), &args, &current) {
            Ok(next) => current = next,
            Err(e) => tracing::error!("reload failed, the current settings stay: {e:#}"),
        }
    }
}

fn reload(
    server: &server::ServerHandle,
    config_file: Option<&std::path::Path>,
    args: &ServeArgs,
    current: &Loaded,
) -> Result<Loaded> {
    let loaded = config::load(config_file, args.flags())?;
    let motd = read_motd(&loaded)?;
    let tls = server_tls(&loaded)?;
    let (old, new) = (&current.settings, &loaded.settings);
    let mut report = Vec::new();
    let restart = [
        ("serve.bind", old.serve.bind != new.serve.bind),
        ("serve.port", old.serve.port != new.serve.port),
        ("serve.timeout", old.serve.timeout != new.serve.timeout),
        ("serve.secure", old.serve.secure != new.serve.secure),
        ("serve.tls (on/off)", tls.is_some() != server.is_tls()),
        (
            "serve.client_ca",
            old.serve.client_ca != new.serve.client_ca,
        ),
        ("serve.quiet", old.serve.quiet != new.serve.quiet),
        ("history", old.history != new.history),
    ];
    for (key, changed) in restart {
        if changed {
            report.push(format!("{key} changed (needs a restart)"));
        }
    }
    report.extend(server.apply(server::Reload {
        limits: new.limits.clone(),
        motd,
        tls,
    }));
    if report.is_empty() {
        tracing::info!("reloaded: nothing changed");
    }
    for line in report {
        tracing::info!("reloaded: {line}");
    }
    Ok(loaded)
}

/// TLS for `serve`: on with `--tls`, or when both a certificate and key are set.
fn server_tls(loaded: &Loaded) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
    let s = &loaded.settings.serve;
    match (&s.cert, &s.key) {
        // A file that cannot serve is a configuration error (exit 2).
        (Some(cert), Some(key)) => tls::server_config_mtls(cert, key, s.client_ca.as_deref())
            .map(Some)
            .map_err(|e| {
                usage(format!(
                    "{e:#} (serve.cert from {}, serve.key from {})",
                    loaded.source_of("serve.cert"),
                    loaded.source_of("serve.key")
                ))
            }),
        (None, None) if !s.tls => Ok(None),
        (cert, _) => {
            let missing = if cert.is_none() { "--cert" } else { "--key" };
            Err(usage(format!(
                "TLS needs both --cert and --key ({missing} is missing): make a pair with `tcpplay gen-cert`, \
                 then serve with --tls --cert cert.pem --key key.pem"
            )))
        }
    }
}

/// Ctrl-C or SIGTERM: start the graceful shutdown. The handlers are installed
/// when this is called (before the readiness line, so that an early signal is
/// never the default "terminate at once"); the returned future waits.
fn stop_on_signal(shutdown: CancellationToken) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        tokio::select! {
            _ = next_signal(&mut int) => {}
            _ = next_signal(&mut term) => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: telling clients goodbye");
        shutdown.cancel();
    }
}

/// The next delivery of a signal (never, when it could not be installed).
#[cfg(unix)]
async fn next_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// The join settings after prompts, ready to connect.
struct JoinPlan {
    connect: ConnectOptions,
    name: String,
}

fn plan_join(loaded: &Loaded, no_input: bool) -> Result<JoinPlan> {
    let mut j = loaded.settings.join.clone();
    let interactive = prompt::can_prompt(no_input);
    // Where to connect is asked only when nothing said it: given a host (or
    // a port), the other one's default is the answer, as for any flag.
    let said = !loaded.is_default("join.host") || !loaded.is_default("join.port");
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
    let trust = if j.tls_insecure {
        Trust::Insecure
    } else if let Some(c) = &j.cert {
        Trust::File(c.clone())
    } else {
        Trust::PublicRoots
    };
    // The files to trust and present must be usable before we connect.
    let client_auth = j.client_cert.clone().zip(j.client_key.clone());
    let files = client_auth
        .as_ref()
        .map(|(c, k)| (c.as_path(), k.as_path()));
    if let Err(e) = tls::client_config_mtls(&trust, files) {
        return Err(usage(format!("{e:#}")));
    }
    // Asking for a certificate policy is asking for TLS: never fall back then.
    let tls = match j.tls {
        TlsMode::Auto if j.cert.is_some() || j.tls_insecure => TlsMode::On,
        m => m,
    };
    Ok(JoinPlan {
        connect: ConnectOptions {
            host: j.host.clone(),
            port: j.port,
            timeout: secs(j.timeout),
            tls,
            trust,
            client_auth,
            show_wire: false,
            progress: None,
        },
        name,
    })
}

async fn join(config_file: Option<PathBuf>, no_input: bool, args: JoinArgs) -> Result<u8> {
    let loaded = config::load(config_file.as_deref(), args.flags())?;
    let mut plan = plan_join(&loaded, no_input)?;
    plan.connect.show_wire = args.show_wire;
    if matches!(plan.connect.trust, Trust::Insecure) {
        eprintln!("WARNING: --tls-insecure: the server's certificate is NOT verified; anyone on the path can impersonate it. Use only for local tests.");
    }
    let (conn, joined) = open(&plan, &loaded, &args, no_input).await?;
    let json = args.json;
    let (tx, rx) = mpsc::channel(64);
    let terminal = !json && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let view = ui::View {
        json,
        timestamps: loaded.settings.join.timestamps,
        color: !json
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let names: ui::Names = Default::default();
    let _guard = terminal.then(crate::terminal::TermGuard::save);
    let editor = terminal
        .then(|| ui::terminal::start(tx.clone(), "> ".into(), names.clone()))
        .flatten();
    let piped = editor.is_none() && !std::io::stdin().is_terminal();
    let read_stdin = editor.is_none();
    let mut client = match editor {
        Some(out) => ui::Client::new(rx, out, view, false),
        None => ui::Client::new(rx, Box::new(StdoutOutput), view, piped),
    };
    client.names = names;
    if read_stdin {
        ui::input::spawn_stdin_lines(tx, client.tally.clone());
    }
    let (mut conn, mut key, mut me) = (conn, joined.key, joined.name);
    loop {
        let lost = match ui::run(&mut client, conn, key, me).await? {
            Ending::Left => break,
            Ending::Bye { code, reason } => {
                eprintln!("disconnected by the server: {}", sanitize(&reason));
                let comes_back = matches!(
                    code.as_deref(),
                    Some(codes::SHUTDOWN | codes::TOO_SLOW | codes::IDLE)
                );
                if !(args.reconnect && comes_back) {
                    return Ok(give_up(&mut client));
                }
                "the server said goodbye"
            }
            Ending::Lost => "the connection to the server was lost",
        };
        if !args.reconnect {
            eprintln!("{lost} (the server stopped or the network failed); --reconnect retries");
            return Ok(give_up(&mut client));
        }
        eprintln!("{lost}; reconnecting (Ctrl-C to give up)");
        match reconnect(&plan, &loaded, &args, no_input, &mut client).await {
            Some(again) => (conn, key, me) = again,
            None => return Ok(give_up(&mut client)),
        }
    }
    let failed = client.tally.failed();
    if failed > 0 {
        eprintln!("tcpplay: {failed} line(s) could not be sent (each is named above)");
        return Ok(1);
    }
    Ok(0)
}

/// The session ended without the user leaving: what was still to send is
/// not sent, and said; the exit code is 1.
fn give_up(client: &mut ui::Client) -> u8 {
    let left = client.outbox.abandon();
    if left > 0 {
        client.tally.unsent(left);
        eprintln!("tcpplay: {left} line(s) were not sent (or not confirmed by the server)");
    }
    1
}

/// Connect, say how, and authenticate.
async fn open(
    plan: &JoinPlan,
    loaded: &Loaded,
    args: &JoinArgs,
    no_input: bool,
) -> Result<(client::Connection, client::Joined)> {
    let mut conn = connect_with_pins(plan, no_input).await?;
    let t = &conn.transport;
    let security = match &t.tls {
        Some(info) => format!(
            "{}, certificate SHA-256 {}",
            info.version,
            info.fingerprint.as_deref().unwrap_or("?")
        ),
        None => "NOT ENCRYPTED".to_string(),
    };
    if t.fell_back {
        eprintln!(
            "warning: {} does not speak TLS, so this connection is NOT ENCRYPTED: anyone on the network can read it (use --tls to refuse plaintext)",
            t.addr
        );
    }
    let password = || {
        let sources = secret::Sources {
            flag: args.password.clone(),
            file_key: "join.password_file",
            confirm: false,
            can_prompt: prompt::can_prompt(no_input),
        };
        secret::room_password(
            loaded,
            loaded.settings.join.password_file.as_deref(),
            sources,
        )
    };
    let joined =
        client::authenticate(&mut conn, &plan.name, plan.connect.timeout, password).await?;
    let room = if joined.key.is_some() {
        ", secure room: proofs verified both ways"
    } else {
        ""
    };
    eprintln!("Authenticated as {}", sanitize(&joined.name));
    eprintln!("Connected to {} ({security}{room})", conn.transport.addr);
    Ok((conn, joined))
}

/// Connect; with the default trust (public roots), use and offer trust on
/// first use: a pinned host:port accepts only its pinned certificate, and a
/// certificate nobody vouches for can be pinned after the user saw its
/// fingerprint (on a terminal). A changed pinned certificate is refused.
async fn connect_with_pins(plan: &JoinPlan, no_input: bool) -> Result<client::Connection> {
    let mut opts = plan.connect.clone();
    opts.progress = crate::progress::spinner("connecting");
    let done = |opts: &ConnectOptions| {
        if let Some(pb) = &opts.progress {
            pb.finish_and_clear();
        }
    };
    let target = format!("{}:{}", opts.host, opts.port);
    let file = client::known_hosts::default_path();
    let tofu = matches!(opts.trust, Trust::PublicRoots) && opts.tls != TlsMode::Off;
    let pin = file
        .as_deref()
        .filter(|_| tofu)
        .and_then(|f| client::known_hosts::lookup(f, &target));
    if let Some(pin) = &pin {
        opts.trust = Trust::Pinned(pin.clone());
        opts.tls = TlsMode::On;
    }
    let first = client::connect(&opts).await;
    done(&opts);
    let err = match first {
        Ok(conn) => return Ok(conn),
        Err(e @ client::ClientError::Certificate { .. }) if tofu => e,
        // A pinned certificate that does not match fails inside the handshake.
        Err(e @ client::ClientError::Tls { .. }) if pin.is_some() => e,
        Err(e) => return Err(e.into()),
    };
    // Which certificate does the server show? (Verified only as far as the
    // server holding its key; nothing is sent but the TLS handshake.)
    let mut probe = opts.clone();
    probe.trust = Trust::Insecure;
    probe.progress = None;
    let seen = client::connect(&probe)
        .await
        .ok()
        .and_then(|c| c.transport.tls.and_then(|t| t.fingerprint));
    let (Some(seen), Some(file)) = (seen, file) else {
        return Err(err.into());
    };
    if let Some(pin) = pin {
        anyhow::bail!(
            "THE CERTIFICATE OF {target} HAS CHANGED. Refusing to connect.\n  \
             pinned: SHA-256 {pin}\n  \
             now:    SHA-256 {seen}\n\
             Someone may be impersonating the server, or it got a new certificate. \
             Ask its operator for the fingerprint (`tcpplay gen-cert` printed it); if the new one is right, \
             delete the line for {target} from {} and connect again.",
            file.display()
        );
    }
    if !prompt::can_prompt(no_input) {
        return Err(anyhow::Error::new(err).context(format!(
            "the certificate of {target} (SHA-256 {seen}) is not trusted; on a terminal, tcpplay join offers to pin it"
        )));
    }
    eprintln!(
        "The certificate of {target} is not signed by anyone this computer trusts.\n  \
         SHA-256 {seen}\n\
         Compare it with the fingerprint the server's operator gives you (`tcpplay gen-cert` prints it)."
    );
    if !prompt::confirm("Trust this certificate and remember it for this server?")? {
        anyhow::bail!("not connected: the certificate of {target} was not trusted");
    }
    client::known_hosts::pin(&file, &target, &seen)
        .with_context(|| format!("cannot write {}", file.display()))?;
    eprintln!("Pinned in {}", file.display());
    opts.trust = Trust::Pinned(seen);
    opts.tls = TlsMode::On;
    opts.progress = crate::progress::spinner("connecting");
    let conn = client::connect(&opts).await;
    done(&opts);
    Ok(conn?)
}

/// Try again with exponential back-off (0.5 s doubling to 30 s) until it
/// works, or (`None`) the user gives up with Ctrl-C. Lines typed meanwhile
/// wait in the client's queue.
async fn reconnect(
    plan: &JoinPlan,
    loaded: &Loaded,
    args: &JoinArgs,
    no_input: bool,
    client: &mut ui::Client,
) -> Option<(
    client::Connection,
    Option<client::secure::SharedKey>,
    String,
)> {
    let mut wait = std::time::Duration::from_millis(500);
    loop {
        let pause = tokio::time::sleep(wait);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                gave_up = client.wait_input(), if !client.input_done => if gave_up {
                    return None;
                },
            }
        }
        match open(plan, loaded, args, no_input).await {
            Ok((conn, joined)) => {
                eprintln!("reconnected");
                return Some((conn, joined.key, joined.name));
            }
            Err(e) => {
                wait = (wait * 2).min(std::time::Duration::from_secs(30));
                eprintln!(
                    "reconnect failed: {e:#}; next try in {:.1} s",
                    wait.as_secs_f64()
                );
            }
        }
    }
}

fn completions(args: &CompletionsArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for shell in ALL_SHELLS {
            let path = clap_complete::generate_to(shell, &mut cmd, "tcpplay", dir)
                .with_context(|| format!("cannot write completions into {}", dir.display()))?;
            println!("wrote {}", path.display());
        }
        return Ok(0);
    }
    if let Some(shell) = args.shell {
        clap_complete::generate(shell, &mut cmd, "tcpplay", &mut std::io::stdout());
    }
    Ok(0)
}

/// Every shell `completions` supports.
pub const ALL_SHELLS: [clap_complete::Shell; 5] = [
    clap_complete::Shell::Bash,
    clap_complete::Shell::Zsh,
    clap_complete::Shell::Fish,
    clap_complete::Shell::PowerShell,
    clap_complete::Shell::Elvish,
];

/// Used by tests to generate a script into memory.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tcpplay", &mut buf);
    buf
}
