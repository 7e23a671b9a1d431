//! The `tcpplay` binary: parse the command line, set up logging, run the
//! command, and map the outcome to an exit code (documented in `--help`).

use std::io::IsTerminal;
use std::process::ExitCode;

use tcpplay::cli::{Cli, Command};
use tcpplay::config::ConfigError;

/// mimalloc rather than the C library's allocator: a chat line is a handful
/// of short-lived allocations on one thread and frees on another, where
/// glibc's malloc spent about a tenth of the server's instructions
/// (docs/BENCHMARKS.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // While this is the only thread (see the function).
    tcpplay::client::ui::render::init_local_offset();
    // clap, with a "did you mean" for other programs' words (`host`, `connect`).
    let cli = tcpplay::cli::habits::parse();
    if matches!(cli.command, Command::Serve(_)) {
        // A server never waits for whoever reads its output.
        tcpplay::output::install_nonblocking();
    }
    // serve.workers and serve.log_format, from every layer but the prompts,
    // before the runtime and the logger start. A settings error is reported
    // by `serve` itself, once they are up.
    let serve = match &cli.command {
        Command::Serve(args) => tcpplay::config::load(cli.config.as_deref(), args.flags())
            .ok()
            .map(|l| l.settings.serve),
        _ => None,
    };
    init_logging(&cli, serve.as_ref().is_some_and(|s| s.log_format == "json"));
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.thread_name("tcpplay-worker");
    if let Some(workers) = serve.as_ref().map(|s| s.workers).filter(|w| *w > 0) {
        builder.worker_threads(workers);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tcpplay: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(tcpplay::app::run(cli));
    // Do not wait for threads blocked on stdin (console, line editor).
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    let code = match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => 0,
        Err(err) if err.downcast_ref::<tcpplay::prompt::Cancelled>().is_some() => {
            tcpplay::output::err("tcpplay: cancelled");
            130
        }
        Err(err) => {
            tcpplay::output::err(format!("tcpplay: error: {err:#}"));
            let usage = err
                .chain()
                .any(|c| c.downcast_ref::<ConfigError>().is_some());
            if usage {
                2
            } else {
                1
            }
        }
    };
    tcpplay::output::flush(std::time::Duration::from_millis(500));
    ExitCode::from(code)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Logs go to stderr: `info` for the server, `warn` for everything else,
/// `-v`/`-vv` for more; `TCPPLAY_LOG` (an env-filter directive) overrides.
fn init_logging(cli: &Cli, json: bool) {
    let base = match (cli.verbose, &cli.command) {
        (0, Command::Serve(_)) => "info",
        (0, _) => "warn",
        (1, _) => "debug",
        _ => "trace",
    };
    // Libraries' own log lines (rustls, rusqlite) are for -v: their wording is
    // not written for the user, and each refusal is already said by tcpplay.
    let others = if cli.verbose > 0 { "warn" } else { "error" };
    let filter = std::env::var("TCPPLAY_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(format!("tcpplay={base},{others}")));
    // Through `output`: never a panic on a closed terminal, and for `serve`
    // never a wait on a reader that stopped reading.
    if json {
        // One JSON object per line, with the event's fields (peer, name, limit…).
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(tcpplay::output::LogWriter)
            .with_target(false)
            .with_current_span(false)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(tcpplay::output::LogWriter)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .init();
}
