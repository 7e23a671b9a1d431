//! The one table of IRC commands this listener knows — when each may be
//! used, how many parameters it needs, its handler — and the dispatch
//! that checks registration (451) and arity (461) before the handler, as
//! Ergo's command table does. Unknown commands get 421 (a tcpplay command
//! IRC has no word for says so, in the words of the one table of
//! commands, [`crate::commands`]); `HELP` lists the commands both have
//! from that table.

use super::commands::{
    away, invite, join, kick, list, names, nick, part, pass, ping, pong, privmsg, quit, topic,
    user, who, whois,
};
use super::state::State;
use crate::protocol::irc::Message;

/// A command: its name, whether it may come before registration, the
/// parameters it needs, and its handler.
struct Command {
    name: &'static str,
    pre_reg: bool,
    min_params: usize,
    run: fn(&mut State, &Message),
}

const fn cmd(
    name: &'static str,
    pre_reg: bool,
    min_params: usize,
    run: fn(&mut State, &Message),
) -> Command {
    Command {
        name,
        pre_reg,
        min_params,
        run,
    }
}

/// Every command this listener answers.
const COMMANDS: &[Command] = &[
    cmd("CAP", true, 1, super::caps::cap),
    cmd("NICK", true, 0, nick),
    cmd("USER", true, 4, user),
    cmd("PASS", true, 1, pass),
    cmd("AUTHENTICATE", true, 1, super::sasl::authenticate),
    cmd("PING", true, 1, ping),
    cmd("PONG", true, 0, pong),
    cmd("QUIT", true, 0, quit),
    cmd("JOIN", false, 1, join),
    cmd("PART", false, 1, part),
    cmd("PRIVMSG", false, 0, privmsg),
    cmd("NOTICE", false, 0, privmsg),
    cmd("TOPIC", false, 1, topic),
    cmd("NAMES", false, 0, names),
    cmd("WHO", false, 0, who),
    cmd("WHOIS", false, 1, whois),
    cmd("LIST", false, 0, list),
    cmd("MOTD", false, 0, super::welcome::motd),
    cmd("MODE", false, 1, super::modes::mode),
    cmd("KICK", false, 2, kick),
    cmd("INVITE", false, 2, invite),
    cmd("AWAY", false, 0, away),
    cmd("HELP", false, 0, help),
];

/// `HELP` (704–706): the commands a member has here and in `tcpplay
/// join`, each with its IRC command, in the one table's words.
fn help(st: &mut State, _m: &Message) {
    st.numeric("704", &["*", "tcpplay's commands, as IRC commands:"]);
    for (word, verb) in crate::commands::IRC {
        let shared = crate::commands::COMMANDS
            .iter()
            .find(|(usage, _)| crate::commands::word(usage) == word);
        if let Some((usage, what)) = shared {
            st.numeric("705", &["*", &format!("{verb} ({usage}): {what}")]);
        }
    }
    st.numeric("706", &["*", "End of /HELP"]);
}

/// 421's words: a tcpplay command IRC has no command for is named as one.
fn unknown(command: &str) -> String {
    let asked = command.to_ascii_lowercase();
    match crate::commands::COMMANDS
        .iter()
        .find(|(usage, _)| crate::commands::word(usage) == asked)
    {
        Some((usage, what)) => format!(
            "Unknown command: {usage} ({what}) is a command of tcpplay join and the page, not of IRC; HELP lists the ones IRC has"
        ),
        None => "Unknown command".into(),
    }
}

/// Handle one message from the client.
pub(super) fn dispatch(st: &mut State, m: &Message) {
    let Some(c) = COMMANDS.iter().find(|c| c.name == m.command) else {
        if st.me.is_some() || !m.command.chars().all(|c| c.is_ascii_digit()) {
            let why = unknown(&m.command);
            st.numeric("421", &[&m.command, &why]);
        }
        return;
    };
    if !c.pre_reg && st.me.is_none() {
        if st.reg.auth_sent && st.held.len() < super::state::HELD {
            st.held.push(m.clone());
            return;
        }
        st.numeric("451", &["You have not registered"]);
        return;
    }
    if m.params.len() < c.min_params {
        st.numeric("461", &[c.name, "Not enough parameters"]);
        return;
    }
    (c.run)(st, m)
}

#[cfg(test)]
mod tests {
    use super::COMMANDS;

    #[test]
    fn every_command_both_have_is_in_the_one_table_and_answered_here() {
        for (word, verb) in crate::commands::IRC {
            assert!(
                crate::commands::COMMANDS
                    .iter()
                    .any(|(usage, _)| crate::commands::word(usage) == word),
                "/{word} is not in src/commands.rs"
            );
            assert!(
                COMMANDS.iter().any(|c| c.name == verb),
                "{verb} (for /{word}) has no handler in the IRC table"
            );
        }
    }
}
