//! Connecting `join` to its server: trust on first use and the pins a
//! link or known_hosts hold, the login (a secure room's password asked
//! again when it is wrong), and reconnecting with back-off over `--also`.

use anyhow::Result;

use super::plan::{password_given, JoinPlan};
use crate::cli::JoinArgs;
use crate::client::ui;
use crate::client::{self, known_hosts};
use crate::config::Loaded;
use crate::hostport::HostPort;
use crate::names::sanitize;
use crate::tls::Trust;
use crate::{prompt, secret};

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
pub(super) async fn open(
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
pub(super) async fn reconnect(
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
