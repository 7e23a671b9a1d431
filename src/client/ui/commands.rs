//! What a typed (or piped) line means: a pure parser from a line to an
//! [`Action`], with the command table that `/help` and Tab completion use.
//! Nothing here touches the network or the terminal.

use crate::names::{sanitize, split_name};
use crate::protocol::MAX_HISTORY_FETCH;

/// Every command, for `/help` and Tab.
pub const COMMANDS: [(&str, &str); 8] = [
    ("/help", "this list"),
    ("/users", "who is here, and for how long"),
    ("/nick NEW", "change your name"),
    (
        "/msg NAME TEXT",
        "a direct message (only NAME sees it; quote names with spaces)",
    ),
    ("/me ACTION", "an action: /me waves"),
    ("/history [N]", "fetch N older messages (default 20)"),
    ("/quit [REASON]", "leave, saying why"),
    ("//text", "send a line that starts with /"),
];

/// Commands that only a tcpplay server understands.
const NEEDS_TCPPLAY: [&str; 5] = ["users", "nick", "msg", "me", "history"];

/// What a line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A chat line (`action`: a `/me` line).
    Say {
        text: String,
        action: bool,
    },
    /// A direct message.
    Direct {
        to: String,
        text: String,
    },
    Nick(String),
    Users,
    /// Fetch this many older messages.
    History(u32),
    Help,
    /// Leave, perhaps saying why.
    Quit(Option<String>),
    /// Nothing is sent: say this to the user (a usage error, an unknown
    /// command, a command the server does not know).
    Refuse(String),
}

impl Action {
    /// Sent to the server, and so paced and rate-limited there.
    pub fn is_sent(&self) -> bool {
        !matches!(self, Action::Help | Action::Quit(_) | Action::Refuse(_))
    }
}

/// Parse one line. `names` resolves `/msg` recipients whose names have
/// spaces; `tcpplay` is false for the Python original, which knows no commands.
pub fn parse(line: &str, names: &[String], tcpplay: bool) -> Action {
    if let Some(rest) = line.strip_prefix("//") {
        return say(format!("/{rest}"));
    }
    let Some(cmd) = line.strip_prefix('/') else {
        return say(line.to_string());
    };
    let (word, args) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let args = args.trim();
    if NEEDS_TCPPLAY.contains(&word) && !tcpplay {
        return Action::Refuse(format!(
            "/{word} needs a tcpplay server; this one is the original Python host"
        ));
    }
    let usage = |u: &str| Action::Refuse(format!("usage: {u}"));
    match word {
        "quit" | "exit" => Action::Quit((!args.is_empty()).then(|| args.to_string())),
        "help" => Action::Help,
        "users" => Action::Users,
        "nick" if args.is_empty() => usage("/nick NEW"),
        "nick" => Action::Nick(args.to_string()),
        "msg" => {
            let (to, text) = split_name(args, names);
            if to.is_empty() || text.trim().is_empty() {
                return usage("/msg NAME TEXT");
            }
            Action::Direct {
                to,
                text: text.to_string(),
            }
        }
        "me" if args.is_empty() => usage("/me ACTION"),
        "me" => Action::Say {
            text: args.to_string(),
            action: true,
        },
        "history" => match args {
            "" => Action::History(20),
            n => match n.parse::<u32>() {
                Ok(n) if n >= 1 => Action::History(n.min(MAX_HISTORY_FETCH)),
                _ => Action::Refuse(format!(
                    "/history takes a number of messages, 1-{MAX_HISTORY_FETCH} (not '{}')",
                    sanitize(n)
                )),
            },
        },
        other => Action::Refuse(format!(
            "unknown command /{}: try /help, or //text to send a line starting with /",
            sanitize(other)
        )),
    }
}

fn say(text: String) -> Action {
    Action::Say {
        text,
        action: false,
    }
}

/// The `/help` text.
pub fn help() -> String {
    let mut s = String::from("commands:");
    for (c, what) in COMMANDS {
        s.push_str(&format!("\n  {c:<16} {what}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Action {
        parse(line, &["Ann Lee".to_string()], true)
    }

    #[test]
    fn lines_become_actions() {
        assert_eq!(p("hello"), say("hello".into()));
        assert_eq!(p("//not a command"), say("/not a command".into()));
        assert_eq!(
            p("/me waves"),
            Action::Say {
                text: "waves".into(),
                action: true
            }
        );
        assert_eq!(
            p("/msg Ann Lee hi there"),
            Action::Direct {
                to: "Ann Lee".into(),
                text: "hi there".into()
            }
        );
        assert_eq!(p("/nick  bob "), Action::Nick("bob".into()));
        assert_eq!(p("/history"), Action::History(20));
        assert_eq!(p("/history 500"), Action::History(MAX_HISTORY_FETCH));
        assert_eq!(p("/quit gone home"), Action::Quit(Some("gone home".into())));
        assert_eq!(p("/exit"), Action::Quit(None));
        assert_eq!(p("/users"), Action::Users);
        assert_eq!(p("/help"), Action::Help);
    }

    #[test]
    fn bad_commands_are_refused_locally_and_named() {
        for (line, says) in [
            ("/nick", "usage: /nick NEW"),
            ("/msg bob", "usage: /msg NAME TEXT"),
            ("/me", "usage: /me ACTION"),
            ("/history x\u{1b}", "not 'x\\u{1b}'"),
            ("/frobnicate", "unknown command /frobnicate"),
        ] {
            match p(line) {
                Action::Refuse(m) => assert!(m.contains(says), "{line}: {m}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        match parse("/users", &[], false) {
            Action::Refuse(m) => assert!(m.contains("original Python host"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse("plain", &[], false), say("plain".into()));
    }
}
