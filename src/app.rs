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
use crate::client::ui::{self, Ending, Output, StdoutOutput};
use crate::client::{self, ConnectOptions};
use crate::config::{self, secs, ConfigError, Loaded, TlsMode};
use crate::crypto::KdfParams;
use crate::names::{sanitize, validate_name};
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
        Command::Check(args) => check::run(config, &args).await,
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
        let room = tokio::task::spawn_blocking(move || {
            SecureRoom::new(password.as_bytes(), KdfParams::default())
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
    let mode = match (&tls, &secure) {
        (_, Some(_)) => "tls, secure",
        (Some(_), None) => "tls",
        _ => "plaintext",
    };
    let opts = ServerOptions {
        tls,
        limits: loaded.settings.limits.clone(),
        idle_timeout: secs(s.timeout),
        quiet: s.quiet,
        secure: secure.clone(),
    };
    let shutdown = CancellationToken::new();
    let server = Server::new(listener, opts, shutdown.clone());
    let addr = server.local_addr()?;
    server::spawn_console_printer(&server.room(), s.quiet, secure.clone());
    println!("listening on {addr} ({mode}; Ctrl-C to stop)");
    server::spawn_console_input(server.room(), shutdown.clone(), secure);
    tokio::spawn(stop_on_signal(shutdown));
    server.run().await;
    println!("server stopped");
    Ok(0)
}

/// TLS for `serve`: on with `--tls`, or when both a certificate and key are set.
fn server_tls(loaded: &Loaded) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
    let s = &loaded.settings.serve;
    match (&s.cert, &s.key) {
        (Some(cert), Some(key)) => Ok(Some(tls::server_config_mtls(
            cert,
            key,
            s.client_ca.as_deref(),
        )?)),
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

/// Ctrl-C or SIGTERM: start the graceful shutdown.
async fn stop_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down: telling clients goodbye");
    shutdown.cancel();
}

/// The join settings after prompts, ready to connect.
struct JoinPlan {
    connect: ConnectOptions,
    name: String,
}

fn plan_join(loaded: &Loaded, no_input: bool) -> Result<JoinPlan> {
    let mut j = loaded.settings.join.clone();
    let interactive = prompt::can_prompt(no_input);
    if interactive && loaded.is_default("join.host") {
        j.host = prompt::host(&j.host)?;
    }
    if interactive && loaded.is_default("join.port") {
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
            client_auth: j.client_cert.clone().zip(j.client_key.clone()),
            show_wire: false,
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
    let _guard = terminal.then(ui::terminal::TermGuard::save);
    let mut out: Box<dyn Output> = match terminal
        .then(|| ui::terminal::start(tx.clone(), "> ".into()))
        .flatten()
    {
        Some(o) => o,
        None => {
            ui::spawn_stdin_lines(tx);
            Box::new(StdoutOutput)
        }
    };
    let mut rx = rx;
    let (mut conn, mut key) = (conn, joined.key);
    loop {
        match ui::run(conn, &mut rx, &mut *out, json, key).await? {
            Ending::Left => return Ok(0),
            Ending::Bye(reason) => {
                eprintln!("disconnected by the server: {}", sanitize(&reason));
                return Ok(0);
            }
            Ending::Lost if args.reconnect => {
                eprintln!(
                    "the connection to the server was lost; reconnecting (Ctrl-C to give up)"
                );
                (conn, key) = reconnect(&plan, &loaded, &args, no_input).await;
            }
            Ending::Lost => {
                eprintln!("the connection to the server was lost (the server stopped or the network failed); --reconnect retries");
                return Ok(1);
            }
        }
    }
}

/// Connect, say how, and authenticate.
async fn open(
    plan: &JoinPlan,
    loaded: &Loaded,
    args: &JoinArgs,
    no_input: bool,
) -> Result<(client::Connection, client::Joined)> {
    let mut conn = client::connect(&plan.connect).await?;
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

/// Try again with exponential back-off (0.5 s doubling to 30 s) until it works.
async fn reconnect(
    plan: &JoinPlan,
    loaded: &Loaded,
    args: &JoinArgs,
    no_input: bool,
) -> (client::Connection, Option<client::secure::SharedKey>) {
    let mut wait = std::time::Duration::from_millis(500);
    loop {
        tokio::time::sleep(wait).await;
        match open(plan, loaded, args, no_input).await {
            Ok((conn, joined)) => {
                eprintln!("reconnected");
                return (conn, joined.key);
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
