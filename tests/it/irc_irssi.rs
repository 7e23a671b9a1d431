//! irssi, the terminal IRC client, against `serve --irc`: run in a real
//! pty (it draws a full screen), typed into as a person types, read
//! through its own logs (autolog, written line by line), beside a
//! `tcpplay join` member. irssi comes from Debian's package (`.ci/run`).
#![cfg(unix)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rexpect::session::{spawn_command, PtySession};

use crate::irc::irc_server;
use crate::util::WAIT;

/// irssi in a pty, with its own home (a config that logs every window
/// to `DIR/logs/TARGET.log`), connected to `addr` as `nick`.
fn irssi(dir: &Path, addr: SocketAddr, nick: &str) -> PtySession {
    let logs = dir.join("logs");
    let config = format!(
        "settings = {{\n  core = {{ real_name = \"{nick}\"; user_name = \"{nick}\"; nick = \"{nick}\"; }};\n  \
         \"fe-common/core\" = {{ autolog = \"yes\"; autolog_path = \"{}/$0.log\"; autolog_level = \"all\"; }};\n}};\n",
        logs.display()
    );
    std::fs::write(dir.join("config"), config).unwrap();
    let mut cmd = Command::new("irssi");
    cmd.arg("--home")
        .arg(dir)
        .args(["-n", nick, "-c", &addr.ip().to_string(), "-p"])
        .arg(addr.port().to_string())
        .env("TERM", "xterm")
        .env("LANG", "C.UTF-8");
    spawn_command(cmd, Some(WAIT.as_millis() as u64)).expect("irssi in a pty")
}

/// Wait until irssi's log of `target` (a channel, a nick) holds `pat`.
fn logged(dir: &Path, target: &str, pat: &str) -> String {
    let path = dir.join("logs").join(format!("{target}.log"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains(pat)) {
            return l.to_string();
        }
        if Instant::now() > deadline {
            let logs: Vec<_> = std::fs::read_dir(dir.join("logs"))
                .map(|d| d.filter_map(|e| Some(e.ok()?.file_name())).collect())
                .unwrap_or_default();
            panic!("no {pat:?} in {}: {text} (logs: {logs:?})", path.display());
        }
        std::thread::sleep(Duration::from_millis(50)); // polling a file irssi writes
    }
}

/// Type a line into irssi's current window.
fn type_line(p: &mut PtySession, line: &str) {
    p.send(line).unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
}

#[test]
fn irssi_in_a_pty_chats_acts_sets_a_topic_dms_goes_away_and_quits_with_a_tcpplay_member() {
    let (server, addr) = irc_server(&["--no-history"]);
    let mut tom = server.join(&["--name", "Tom", "--no-tls"]);
    tom.stdout.expect("Tom joined");
    let dir = tempfile::TempDir::new().unwrap();
    let mut p = irssi(dir.path(), addr, "irsi");
    tom.stdout.expect("irsi joined");
    // The default room: irssi opened a window for the JOIN it got.
    logged(dir.path(), "#lobby", "irsi [u@tcpplay] has joined #lobby");
    tom.send_line("hello irssi");
    logged(dir.path(), "#lobby", "< Tom> hello irssi");
    // A JOIN irssi did not ask for opens a window it does not go to.
    type_line(&mut p, "/window goto #lobby");
    type_line(&mut p, "hello tom");
    tom.stdout.expect("irsi: hello tom");
    type_line(&mut p, "/me waves");
    tom.stdout.expect("irsi waves");
    type_line(&mut p, "/topic set from irssi");
    tom.stdout.expect("set from irssi");
    type_line(&mut p, "/msg Tom psst");
    tom.stdout.expect("[dm from irsi] psst");
    tom.send_line("/msg irsi back at you");
    logged(dir.path(), "tom", "back at you"); // irssi names a log in small letters
    type_line(&mut p, "/away out for lunch");
    tom.stdout.expect("irsi is away: out for lunch");
    type_line(&mut p, "/away");
    tom.stdout.expect("irsi is back");
    type_line(&mut p, "/quit see you");
    tom.stdout.expect("irsi left (see you)");
    p.exp_eof().expect("irssi exits");
}
