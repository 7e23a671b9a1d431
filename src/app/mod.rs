//! The subcommands, wired from settings to the library: what `main` calls.
//! Each turns the layered settings into plain options once; nothing below
//! this sees clap or figment.
//!
//! - `serve`: the server and its console, signals and reloads
//! - `join`: the client, its prompts, trust on first use and reconnects

mod join;
mod manual;
mod serve;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, Command, CompletionsArgs, GenAccountArgs, GenRoomArgs};
use crate::{certgen, check};

pub use manual::man_pages;

/// Run the parsed command line; the result is the process exit code.
pub async fn run(cli: Cli) -> Result<u8> {
    let config: Option<PathBuf> = cli.config.clone();
    match cli.command {
        Command::Serve(args) => serve::serve(config, cli.no_input, args).await,
        Command::Join(args) => join::join(config, cli.no_input, args).await,
        Command::GenCert(args) => certgen::run(&args.plan()),
        Command::Check(args) => {
            let loaded = crate::config::load(config.as_deref(), args.flags())?;
            let opts = args.options(&loaded, cli.verbose > 0)?;
            Ok(check::run(&loaded, &opts).await)
        }
        Command::GenRoom(args) => gen_room(config, cli.no_input, &args).await,
        Command::GenAccount(args) => gen_account(config, cli.no_input, &args).await,
        Command::Completions(args) => completions(&args),
        Command::Man(args) => {
            let Some(dir) = &args.dir else {
                return manual::show(args.command.as_deref());
            };
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, page) in man_pages() {
                let path = dir.join(&name);
                std::fs::write(&path, page)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            Ok(0)
        }
    }
}

/// `tcpplay gen-room`: register a secure room from its password and write
/// its record (no password in it) for `serve --room-record`.
async fn gen_room(config: Option<PathBuf>, no_input: bool, args: &GenRoomArgs) -> Result<u8> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("room.record"));
    if out.exists() && !args.force {
        return Err(crate::config::usage(format!(
            "{} already exists: pass --force to overwrite it (the room it holds would be gone)",
            out.display()
        )));
    }
    let mut flags = crate::config::FlagLayer::default();
    flags.set_path("serve.password_file", args.password_file.as_deref());
    let loaded = crate::config::load(config.as_deref(), flags)?;
    crate::crypto::no_core_dumps();
    let sources = crate::secret::Sources {
        flag: None,
        file_key: "serve.password_file",
        confirm: true,
        can_prompt: crate::prompt::can_prompt(no_input),
    };
    let password = crate::secret::room_password(&loaded, args.password_file.as_deref(), sources)?;
    let record = tokio::task::spawn_blocking(move || {
        crate::crypto::room::RoomRecord::register(password.as_bytes())
    })
    .await??;
    let text = crate::server::record_file_text(&record);
    crate::files::write_atomic(&out, text.as_bytes(), true)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {} (owner-only; no password in it)\nserve the room with: tcpplay serve --secure --room-record {} --cert cert.pem --key key.pem",
        out.display(),
        out.display()
    );
    Ok(0)
}

/// `tcpplay gen-account NAME`: an account's OPAQUE record, made here from
/// its password and stored in the accounts database (the password is not).
async fn gen_account(config: Option<PathBuf>, no_input: bool, args: &GenAccountArgs) -> Result<u8> {
    use crate::config::usage;
    let name = crate::names::validate_name(&args.name).map_err(|e| {
        usage(format!(
            "'{}' cannot be an account's name: {e}",
            crate::names::sanitize(&args.name)
        ))
    })?;
    let mut flags = crate::config::FlagLayer::default();
    flags.set_path("serve.accounts", args.accounts.as_deref());
    flags.set_path("join.account_password_file", args.password_file.as_deref());
    let loaded = crate::config::load(config.as_deref(), flags)?;
    let s = &loaded.settings.serve;
    let path = match &s.accounts {
        Some(p) => p.clone(),
        None => {
            let ip: std::net::IpAddr = s.bind.parse().map_err(|_| {
                usage(format!(
                    "serve.bind '{}' is not an address: name the database with --accounts PATH",
                    s.bind
                ))
            })?;
            crate::config::ServeSettings::default_accounts_path(std::net::SocketAddr::new(
                ip, s.port,
            ))
            .ok_or_else(|| {
                usage("this system has no data directory: name the database with --accounts PATH")
            })?
        }
    };
    crate::crypto::no_core_dumps();
    let password = match crate::secret::account_password(&loaded)? {
        Some(p) => p,
        None if crate::prompt::can_prompt(no_input) => {
            crate::prompt::password(&format!("Password of the account {name}"), true)?
        }
        None => {
            return Err(usage(format!(
                "the account needs a password: --password-file PATH, {}, or run on a terminal to be asked",
                crate::config::ENV_ACCOUNT_PASSWORD
            )))
        }
    };
    let accounts = crate::server::accounts::Accounts::open(
        &path,
        crate::config::Registration::Closed,
        &[],
        &[],
    )
    .map_err(usage)?;
    let n = name.clone();
    let existed = tokio::task::spawn_blocking(move || accounts.provision(&n, password.as_bytes()))
        .await?
        .map_err(anyhow::Error::msg)?;
    println!(
        "{} the account {name} in {} (owner-only; its OPAQUE record, no password); a running server reads it when it starts: restart it",
        if existed { "gave a new password to" } else { "made" },
        path.display()
    );
    Ok(0)
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
