//! `tcpplay join`, wired: settings and prompts → a plan (`plan`); connect
//! (trust on first use), authenticate, run the chat; reconnect when asked;
//! the exit code says whether every line was sent.

mod connect;
mod plan;

use connect::{open, reconnect};
use plan::plan_join;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use tokio::sync::mpsc;

use crate::cli::JoinArgs;
use crate::client::known_hosts;
use crate::client::ui::{self, Ending, StdoutOutput};
use crate::config::{self, Loaded};
use crate::hostport::HostPort;
use crate::names::sanitize;
use crate::protocol::codes;
use crate::tls::Trust;

pub(crate) async fn join(
    config_file: Option<PathBuf>,
    no_input: bool,
    args: JoinArgs,
) -> Result<u8> {
    let loaded = config::load(config_file.as_deref(), args.flags())?;
    if let Some(t) = &args.forget_host {
        // HOST alone is the join port's (12345 unless the settings say).
        let target = HostPort::new(&t.host, t.port.unwrap_or(loaded.settings.join.port));
        return known_hosts::forget_host(&target.to_string()).map(|said| {
            println!("{said}");
            0
        });
    }
    let mut plan = plan_join(&loaded, &args, no_input)?;
    plan.connect.show_wire = args.show_wire;
    if matches!(plan.connect.trust, Trust::Insecure) {
        eprintln!("WARNING: --tls-insecure: the server's certificate is NOT verified; anyone on the path can impersonate it. Use only for local tests.");
    }
    let (conn, joined) = open(&plan, &loaded, &args, no_input).await?;
    let (mut client, _guard) = client_for(&loaded, &args);
    client.account_change = plan.account_change.take();
    client.account_password = plan
        .account
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some((_, new)) = &client.account_change {
        // Reconnections log in with the new password.
        *plan.account.lock().unwrap_or_else(|e| e.into_inner()) = Some(new.clone());
    }
    let (mut conn, mut me) = (conn, joined.name);
    loop {
        let lost = match after(ui::run(&mut client, conn, me).await?, &args, &mut client) {
            Next::Done => break,
            Next::Exit(code) => return Ok(code),
            Next::Retry(lost) => lost,
        };
        eprintln!("{lost}; reconnecting (Ctrl-C to give up)");
        // Back in the rooms we were in (else those asked for at the start).
        let was_in = client
            .rooms
            .lock()
            .map(|r| r.joined.clone())
            .unwrap_or_default();
        if !was_in.is_empty() {
            plan.rooms = was_in;
        }
        match reconnect(&plan, &loaded, &args, no_input, &mut client).await {
            Some(again) => {
                (conn, me) = again;
                // Given another name: take ours back when it is free.
                client.want_name = (me != plan.name).then(|| plan.name.clone());
            }
            None => return Ok(give_up(&mut client)),
        }
    }
    // Piped input is a script: a line that could not be sent fails it
    // (exit 1). Typed input was answered line by line on the screen, so
    // `/quit` after a mistyped command is a normal end (exit 0).
    let failed = client.tally.failed();
    if failed > 0 && client.piped {
        eprintln!("tcpplay: {failed} line(s) could not be sent (each is named above)");
    }
    if say_refusals(&client) || (failed > 0 && client.piped) {
        return Ok(1);
    }
    Ok(0)
}

/// What comes after a connection's talk ended.
enum Next {
    /// The user left.
    Done,
    /// Give up, with this exit code.
    Exit(u8),
    /// Reconnect (`--reconnect`); why the connection ended.
    Retry(&'static str),
}

/// What `ending` means: the server's goodbyes that a reconnection can get
/// past (it stopped, we were too slow or idle, the cluster was lost) and a
/// lost connection are retried with `--reconnect`; the rest end the chat.
fn after(ending: Ending, args: &JoinArgs, client: &mut ui::Client) -> Next {
    let lost = match ending {
        Ending::Left => return Next::Done,
        Ending::Bye { code, reason } => {
            eprintln!("disconnected by the server: {}", sanitize(&reason));
            let comes_back = matches!(
                code.as_deref(),
                Some(
                    codes::SHUTDOWN
                        | codes::TOO_SLOW
                        | codes::IDLE
                        | codes::CLUSTER_LOST
                        | codes::CLUSTER_UNAVAILABLE
                )
            );
            if !(args.reconnect && comes_back) {
                return Next::Exit(give_up(client));
            }
            "the server said goodbye"
        }
        Ending::Lost => "the connection to the server was lost",
    };
    if !args.reconnect {
        eprintln!("{lost} (the server stopped or the network failed); --reconnect retries");
        return Next::Exit(give_up(client));
    }
    Next::Retry(lost)
}

/// The chat's client: a line editor on a terminal (its mode restored by
/// the guard), else lines from stdin and to stdout.
fn client_for(
    loaded: &Loaded,
    args: &JoinArgs,
) -> (ui::Client, Option<crate::terminal::TermGuard>) {
    let json = args.json;
    let (tx, rx) = mpsc::channel(64);
    let terminal =
        !json && !args.listen && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let view = ui::View {
        json,
        timestamps: loaded.settings.join.timestamps,
        bell: !json && loaded.settings.join.bell && std::io::stdout().is_terminal(),
        color: !json
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let names: ui::Names = Default::default();
    let rooms: ui::SharedRooms = Default::default();
    let _guard = terminal.then(crate::terminal::TermGuard::save);
    let editor = terminal
        .then(|| ui::terminal::start(tx.clone(), "> ".into(), names.clone(), rooms.clone()))
        .flatten();
    let piped = editor.is_none() && !std::io::stdin().is_terminal();
    let read_stdin = editor.is_none();
    let mut client = match editor {
        Some(out) => ui::Client::new(rx, out, view, false),
        None => ui::Client::new(rx, Box::new(StdoutOutput), view, piped),
    };
    client.names = names;
    client.rooms = rooms;
    if args.listen {
        tokio::spawn(leave_on_signal(tx.clone()));
    }
    if read_stdin {
        let at_end = match args.listen {
            true => ui::input::AtEnd::Stay,
            false => ui::input::AtEnd::Leave,
        };
        ui::input::spawn_stdin_lines(tx, client.tally.clone(), at_end);
    }
    (client, _guard)
}

/// `--listen` runs unattended: Ctrl-C (SIGINT) or SIGTERM leaves the
/// chat as `/quit` does, with a goodbye to the server; a second one ends
/// the process at once (exit 130), should the goodbye hang.
async fn leave_on_signal(tx: mpsc::Sender<ui::Input>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        for round in 0..2 {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if round == 0 {
                let _ = tx.send(ui::Input::Interrupt).await;
            }
        }
        std::process::exit(130);
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_ok() {
        let _ = tx.send(ui::Input::Interrupt).await;
    }
}

/// Lines the secure room's key refused, said when the session ends; true
/// when there were any (the exit code is then 1).
fn say_refusals(client: &ui::Client) -> bool {
    let n = client.refusals.total();
    if n > 0 {
        eprintln!(
            "tcpplay: {n} line(s) from the server were refused in this secure room ({}): not shown as \
             members' words; the server may be compromised",
            client.refusals.summary()
        );
    }
    n > 0
}

/// The session ended without the user leaving: what was still to send is
/// not sent, and said; the exit code is 1.
fn give_up(client: &mut ui::Client) -> u8 {
    let left = client.outbox.abandon();
    if left > 0 {
        client.tally.unsent(left);
        eprintln!("tcpplay: {left} line(s) were not sent (or not confirmed by the server)");
    }
    say_refusals(client);
    1
}
