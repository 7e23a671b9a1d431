//! The subcommands, wired from settings to the library: what `main` calls.
//! Each turns the layered settings into plain options once; nothing below
//! this sees clap or figment.
//!
//! - `serve`: the server and its console, signals and reloads
//! - `join`: the client, its prompts, trust on first use and reconnects

mod join;
mod serve;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, Command, CompletionsArgs};
use crate::{certgen, check};

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
        Command::Completions(args) => completions(&args),
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
