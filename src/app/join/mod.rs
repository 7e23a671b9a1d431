//! `tcpplay join`, wired: settings and prompts → a plan (`plan`); connect
//! (trust on first use), authenticate, run the chat; reconnect when asked;
//! the exit code says whether every line was sent.

mod plan;

use plan::{password_given, plan_join, JoinPlan};

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use tokio::sync::mpsc;

use crate::cli::JoinArgs;
use crate::client::ui::{self, Ending, StdoutOutput};
use crate::client::{self, known_hosts};
use crate::config::{self, Loaded};
use crate::hostport::HostPort;
use crate::names::sanitize;
use crate::protocol::codes;
use crate::tls::Trust;
use crate::{prompt, secret};

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
        let lost = match ui::run(&mut client, conn, me).await? {
            Ending::Left => break,
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

/// A certificate the operator's link pinned (and the server proved it holds)
/// is remembered for this host and port, as if the user had accepted it:
/// `tcpplay join HOST:PORT` then trusts it too. An existing pin is kept.
fn remember_linked_pin(plan: &JoinPlan, t: &client::TransportInfo) {
    let (Trust::Pinned(fp), Some(file)) = (&plan.connect.trust, known_hosts::default_path()) else {
        return;
    };
    let target = plan.connect.target.to_string();
    if matches!(known_hosts::lookup(&file, &target), Ok(None)) && t.tls.is_some() {
        match known_hosts::pin(&file, &target, fp) {
            Ok(()) => eprintln!(
                "Pinned the link's certificate for {target} in {}",
                file.display()
            ),
            Err(e) => eprintln!(
                "warning: could not remember the certificate in {}: {e}",
                file.display()
            ),
        }
    }
}

/// Connect (trust on first use) and say how; a server that stopped being
/// the secure room known_hosts remembers (or that a password or the link
/// promised) is refused, naming where it is remembered. The connection,
/// and how it is protected, for the "Connected to" line.
async fn connect(
    plan: &JoinPlan,
    loaded: &Loaded,
    args: &JoinArgs,
    no_input: bool,
) -> Result<(client::Connection, String)> {
    let target = plan.connect.target.to_string();
    let conn =
        match known_hosts::connect_with_pins(&plan.connect, prompt::can_prompt(no_input)).await {
            Err(e)
                if plan.remembered
                    && matches!(
                        e.downcast_ref::<client::ClientError>(),
                        Some(client::ClientError::Tls { .. })
                    ) =>
            {
                anyhow::bail!(
                    "{e:#}\n{}; a secure room runs over TLS only, so join asked for TLS",
                    known_hosts::secure_room_note(&target)
                )
            }
            other => other?,
        };
    let t = &conn.transport;
    remember_linked_pin(plan, t);
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
    if plan.must_be_secure && !conn.hello.secure {
        anyhow::bail!(
            "refusing {}: it answered that its room is not secure, but {} — someone may be \
             downgrading the connection. Nothing was sent.{}",
            plan.connect.target,
            if password_given(loaded, args) {
                "a room password was given"
            } else if args.target.as_ref().is_some_and(|t| t.secure) {
                "the link says it is a secure room"
            } else {
                "it was a secure room before"
            },
            match plan.remembered {
                true => format!("\n{}", known_hosts::secure_room_note(&target)),
                false => String::new(),
            }
        );
    }
    Ok((conn, security))
}

/// Connect, say how, and authenticate.
async fn open(
    plan: &JoinPlan,
    loaded: &Loaded,
    args: &JoinArgs,
    no_input: bool,
) -> Result<(client::Connection, client::Joined)> {
    let (mut conn, security) = connect(plan, loaded, args, no_input).await?;
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
    conn.want_rooms = plan.rooms.clone();
    // Registering: we join as a guest; the account comes after.
    let account = match plan.account_change {
        Some((crate::protocol::AccountOp::Register, _)) => None,
        _ => plan
            .account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    };
    let authed = client::authenticate(
        &mut conn,
        &plan.name,
        plan.connect.timeout,
        password,
        account.as_ref(),
    )
    .await;
    let joined = match authed {
        Err(client::ClientError::NeedsAccount(why))
            if account.is_none() && prompt::can_prompt(no_input) =>
        {
            eprintln!("{why}");
            let pw = prompt::password(
                &format!("Password of the account {}", sanitize(&plan.name)),
                false,
            )?;
            *plan.account.lock().unwrap_or_else(|e| e.into_inner()) = Some(pw);
            return Box::pin(open(plan, loaded, args, no_input)).await;
        }
        other => other?,
    };
    let room = match conn.key.is_some() {
        true => {
            remember_secure_room(&mut conn, plan);
            ", secure room: each side proved itself to the other"
        }
        false => "",
    };
    match &joined.account {
        Some(a) => eprintln!(
            "Authenticated as {} (logged in to the account {})",
            sanitize(&joined.name),
            sanitize(a)
        ),
        None => eprintln!("Authenticated as {}", sanitize(&joined.name)),
    }
    eprintln!("Connected to {} ({security}{room})", conn.transport.addr);
    if conn.key.is_some() {
        eprintln!(
            "Members' lines are shown only when the room's key vouches for their sender, room and time; \
             lines starting with *** are the server's word"
        );
    }
    Ok((conn, joined))
}

/// A secure room joined: remember it as one (no later downgrade), and keep
/// its replay record in the user's data directory.
fn remember_secure_room(conn: &mut client::Connection, plan: &JoinPlan) {
    if let Some(f) = known_hosts::default_path() {
        let target = plan.connect.target.to_string();
        if let Err(e) = known_hosts::mark_secure_room(&f, &target) {
            eprintln!(
                "warning: cannot remember {target} as a secure room in {}: {e}",
                f.display()
            );
        }
    }
    if let Some(dir) = crate::config::data_dir() {
        if let Some(problem) = conn.keep_replays(&dir) {
            eprintln!("warning: {problem}");
        }
    }
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
) -> Option<(client::Connection, String)> {
    let mut wait = std::time::Duration::from_millis(500);
    // The main server, then each of `--also` in turn.
    let targets: Vec<HostPort> = std::iter::once(plan.connect.target.clone())
        .chain(plan.also.iter().cloned())
        .collect();
    let mut turn = 0;
    let mut next_now = false;
    let mut plan_now = JoinPlan {
        connect: plan.connect.clone(),
        name: plan.name.clone(),
        must_be_secure: plan.must_be_secure,
        remembered: plan.remembered,
        rooms: plan.rooms.clone(),
        also: Vec::new(),
        account: plan.account.clone(),
        account_change: None,
    };
    loop {
        let pause = tokio::time::sleep(if next_now {
            std::time::Duration::ZERO
        } else {
            wait
        });
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                gave_up = client.wait_input(), if !client.input_done => if gave_up {
                    return None;
                },
            }
        }
        next_now = false;
        let target = targets[turn % targets.len()].clone();
        turn += 1;
        plan_now.connect.target = target.clone();
        match open(&plan_now, loaded, args, no_input).await {
            Ok((conn, joined)) => {
                eprintln!("reconnected to {target}");
                if joined.name != plan.name {
                    eprintln!(
                        "(as {} for now: {} is still held by the server that was lost, for a few seconds; it is taken back as soon as it is free)",
                        sanitize(&joined.name),
                        sanitize(&plan.name)
                    );
                }
                return Some((conn, joined.name));
            }
            // Another server to try: at once.
            Err(e) if turn % targets.len() != 0 => {
                eprintln!("reconnect to {target} failed: {e:#}; trying the next server");
                next_now = true;
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
