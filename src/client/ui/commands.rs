//! What a typed (or piped) line means: a pure parser from a line to an
//! [`Action`], with the command table that `/help` and Tab completion use.
//! Nothing here touches the network or the terminal.

use crate::names::{sanitize, split_name};
use crate::protocol::{AccountOp, ModAction, Moderate, MAX_HISTORY_FETCH};

pub use crate::commands::COMMANDS;

/// Commands that only a tcpplay server understands.
const NEEDS_TCPPLAY: [&str; 27] = [
    "users",
    "away",
    "nick",
    "msg",
    "me",
    "history",
    "join",
    "part",
    "switch",
    "rooms",
    "topic",
    "register",
    "unregister",
    "certfp",
    "weblink",
    "kick",
    "ban",
    "unban",
    "mute",
    "unmute",
    "invite",
    "invite-only",
    "topic-lock",
    "op",
    "deop",
    "bans",
    "password",
];

/// Commands that need a server with rooms (protocol 3).
pub(crate) const NEEDS_ROOMS: [&str; 5] = ["join", "part", "switch", "rooms", "topic"];

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
    /// Away saying why, or (`None`) back.
    Away(Option<String>),
    /// Who is in this room (`None`) or another.
    Users(Option<String>),
    Join(Vec<String>),
    /// Leave this room (`None`) or another, perhaps saying why.
    Part {
        room: Option<String>,
        reason: Option<String>,
    },
    /// Send typed lines to this room from now on (nothing is sent).
    Switch(String),
    Rooms,
    /// Show the topic of this room (`None`) or another.
    ShowTopic(Option<String>),
    /// Set the topic of this room (`None`) or another; empty clears it.
    Topic {
        room: Option<String>,
        text: String,
    },
    /// Fetch this many older messages.
    History(u32),
    /// Register the current name (the password comes from the account
    /// password given to `join`).
    Register,
    /// An account operation that needs no password (unregister, certfp),
    /// with a certificate fingerprint for `certfp del`.
    Account(AccountOp, Option<String>),
    /// An operator's action in this room.
    Moderate(Moderate),
    Help,
    /// Leave, perhaps saying why.
    Quit(Option<String>),
    /// Nothing is sent: say this to the user (a usage error, an unknown
    /// command, a command the server does not know).
    Refuse(String),
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
        "users" if args.is_empty() => Action::Users(None),
        "users" => Action::Users(Some(args.to_string())),
        "join" if args.is_empty() => usage("/join #ROOM [#ROOM...]"),
        "join" => Action::Join(args.split_whitespace().map(str::to_string).collect()),
        "part" => part(args),
        "switch" if args.is_empty() || args.contains(' ') => usage("/switch #ROOM"),
        "switch" => Action::Switch(args.to_string()),
        "rooms" => Action::Rooms,
        "topic" => topic(args),
        "nick" if args.is_empty() => usage("/nick NEW"),
        "nick" => Action::Nick(args.to_string()),
        "away" => Action::Away((!args.is_empty()).then(|| args.to_string())),
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
        "history" => history(args),
        "register" => Action::Register,
        "password" => Action::Refuse(
            "to change your account's password, run `tcpplay join --change-password` (it asks for the new one without echo)".into(),
        ),
        "unregister" => Action::Account(AccountOp::Unregister, None),
        "weblink" => Action::Account(AccountOp::Signin, None),
        "certfp" => match args.split_once(' ').unwrap_or((args, "")) {
            ("add", "") => Action::Account(AccountOp::CertfpAdd, None),
            ("list", "") => Action::Account(AccountOp::CertfpList, None),
            ("del", fp) => Action::Account(AccountOp::CertfpDel, (!fp.is_empty()).then(|| fp.trim().to_string())),
            _ => usage("/certfp add | del [FINGERPRINT] | list"),
        },
        "kick" | "ban" | "unban" | "mute" | "unmute" | "invite" | "op" | "deop" | "bans"
        | "invite-only" | "topic-lock" => moderate(word, args),
        other => Action::Refuse(format!(
            "unknown command /{}: try /help, or //text to send a line starting with /",
            sanitize(other)
        )),
    }
}

/// An operator's command: `/kick NAME [REASON]`, `/ban WHO [DURATION]
/// [REASON]`, `/invite-only on|off`, ….
fn moderate(word: &str, args: &str) -> Action {
    let action = match word {
        "kick" => ModAction::Kick,
        "ban" => ModAction::Ban,
        "unban" => ModAction::Unban,
        "mute" => ModAction::Mute,
        "unmute" => ModAction::Unmute,
        "invite" => ModAction::Invite,
        "op" => ModAction::Op,
        "deop" => ModAction::Deop,
        "invite-only" => ModAction::InviteOnly,
        "topic-lock" => ModAction::TopicLock,
        _ => ModAction::List,
    };
    let m = |target: Option<&str>, duration, reason: &str, on| {
        Action::Moderate(Moderate {
            action,
            room: None,
            target: target.map(str::to_string),
            duration,
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            on,
        })
    };
    match action {
        ModAction::List => m(None, None, "", None),
        ModAction::InviteOnly | ModAction::TopicLock => match args {
            "on" | "" => m(None, None, "", Some(true)),
            "off" => m(None, None, "", Some(false)),
            _ => Action::Refuse(format!("usage: /{word} on|off")),
        },
        _ => {
            let (target, rest) = args.split_once(' ').unwrap_or((args, ""));
            if target.is_empty() {
                return Action::Refuse(format!("usage: /{word} NAME (see /help)"));
            }
            let rest = rest.trim();
            match action {
                ModAction::Ban | ModAction::Mute => {
                    let (first, after) = rest.split_once(' ').unwrap_or((rest, ""));
                    match duration(first) {
                        Some(d) => m(Some(target), Some(d), after.trim(), None),
                        // A word that starts with a digit is meant as a duration.
                        None if first.starts_with(|c: char| c.is_ascii_digit()) => {
                            Action::Refuse(format!(
                                "'{}' is not a duration: say 60 (seconds), 60s, 10m, 1h or 1d, e.g. /{word} {} 10m REASON",
                                sanitize(first),
                                sanitize(target)
                            ))
                        }
                        None => m(Some(target), None, rest, None),
                    }
                }
                ModAction::Kick => m(Some(target), None, rest, None),
                _ if !rest.is_empty() => Action::Refuse(format!("usage: /{word} NAME")),
                _ => m(Some(target), None, "", None),
            }
        }
    }
}

/// `60` (seconds), `30s`, `10m`, `2h`, `7d` as seconds.
fn duration(s: &str) -> Option<u64> {
    let (digits, unit) = match s.chars().last()? {
        's' => (&s[..s.len() - 1], 1),
        'm' => (&s[..s.len() - 1], 60),
        'h' => (&s[..s.len() - 1], 3600),
        'd' => (&s[..s.len() - 1], 86_400),
        _ => (s, 1),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    (n > 0).then(|| n.saturating_mul(unit))
}

/// `/part [#ROOM] [REASON]`.
fn part(args: &str) -> Action {
    let (room, reason) = match args.strip_prefix('#') {
        Some(_) => {
            let (r, why) = args.split_once(' ').unwrap_or((args, ""));
            (Some(r.to_string()), why.trim())
        }
        None => (None, args),
    };
    Action::Part {
        room,
        reason: (!reason.is_empty()).then(|| reason.to_string()),
    }
}

/// `/topic [#ROOM] [TEXT]`: without a text, show it (`-` clears it).
fn topic(args: &str) -> Action {
    let (room, text) = match args.starts_with('#') {
        true => {
            let (r, t) = args.split_once(' ').unwrap_or((args, ""));
            (Some(r.to_string()), t.trim())
        }
        false => (None, args),
    };
    if text.is_empty() {
        return Action::ShowTopic(room);
    }
    let text = match text {
        "-" => String::new(),
        t => t.to_string(),
    };
    Action::Topic { room, text }
}

/// `/history [N]`.
fn history(args: &str) -> Action {
    match args {
        "" => Action::History(20),
        n => match n.parse::<u32>() {
            Ok(n) if n >= 1 => Action::History(n.min(MAX_HISTORY_FETCH)),
            _ => Action::Refuse(format!(
                "/history takes a number of messages, 1-{MAX_HISTORY_FETCH} (not '{}')",
                sanitize(n)
            )),
        },
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
        s.push_str(&format!("\n  {c:<24} {what}"));
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
        assert_eq!(p("/away  at lunch "), Action::Away(Some("at lunch".into())));
        assert_eq!(p("/away"), Action::Away(None));
        assert_eq!(p("/history"), Action::History(20));
        assert_eq!(p("/history 500"), Action::History(MAX_HISTORY_FETCH));
        assert_eq!(p("/quit gone home"), Action::Quit(Some("gone home".into())));
        assert_eq!(p("/exit"), Action::Quit(None));
        assert_eq!(p("/users"), Action::Users(None));
        assert_eq!(p("/users #help"), Action::Users(Some("#help".into())));
        assert_eq!(
            p("/join #a  #b"),
            Action::Join(vec!["#a".into(), "#b".into()])
        );
        assert_eq!(
            p("/part"),
            Action::Part {
                room: None,
                reason: None
            }
        );
        assert_eq!(
            p("/part #a gone home"),
            Action::Part {
                room: Some("#a".into()),
                reason: Some("gone home".into())
            }
        );
        assert_eq!(
            p("/part gone home"),
            Action::Part {
                room: None,
                reason: Some("gone home".into())
            }
        );
        assert_eq!(p("/switch #b"), Action::Switch("#b".into()));
        assert_eq!(p("/rooms"), Action::Rooms);
        assert_eq!(
            p("/topic #a Rust help"),
            Action::Topic {
                room: Some("#a".into()),
                text: "Rust help".into()
            }
        );
        assert_eq!(
            p("/topic -"),
            Action::Topic {
                room: None,
                text: String::new()
            }
        );
        assert_eq!(p("/help"), Action::Help);
        // Without a text, the topic is shown, not refused.
        assert_eq!(p("/topic"), Action::ShowTopic(None));
        assert_eq!(p("/topic #a"), Action::ShowTopic(Some("#a".into())));
        assert_eq!(p("/weblink"), Action::Account(AccountOp::Signin, None));
    }

    #[test]
    fn bad_commands_are_refused_locally_and_named() {
        for (line, says) in [
            ("/nick", "usage: /nick NEW"),
            ("/msg bob", "usage: /msg NAME TEXT"),
            ("/me", "usage: /me ACTION"),
            ("/history x\u{1b}", "not 'x\\u{1b}'"),
            ("/frobnicate", "unknown command /frobnicate"),
            ("/join", "usage: /join"),
            ("/switch", "usage: /switch"),
            ("/switch #a #b", "usage: /switch"),
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

#[cfg(test)]
mod operator_tests {
    use super::*;

    fn p(line: &str) -> Action {
        parse(line, &[], true)
    }

    fn mod_of(a: Action) -> Moderate {
        match a {
            Action::Moderate(m) => m,
            other => panic!("not a moderation: {other:?}"),
        }
    }

    #[test]
    fn ban_and_mute_take_an_optional_duration_then_a_reason() {
        let m = mod_of(p("/ban carol 10m talking over others"));
        assert_eq!(m.action, ModAction::Ban);
        assert_eq!(m.target.as_deref(), Some("carol"));
        assert_eq!(m.duration, Some(600));
        assert_eq!(m.reason.as_deref(), Some("talking over others"));
        let m = mod_of(p("/mute address:192.0.2.7 spam"));
        assert_eq!(m.duration, None);
        assert_eq!(m.reason.as_deref(), Some("spam"));
        assert_eq!(mod_of(p("/invite-only off")).on, Some(false));
        assert!(matches!(p("/kick"), Action::Refuse(_)));
        assert!(matches!(p("/topic-lock maybe"), Action::Refuse(_)));
        assert_eq!(duration("0m"), None);
        assert_eq!(duration("60"), Some(60));
        assert_eq!(duration("60s"), Some(60));
        assert_eq!(duration("+5m"), None);
        let m = mod_of(p("/mute bob 60 quiet"));
        assert_eq!(m.duration, Some(60), "a bare number is seconds");
        assert_eq!(m.reason.as_deref(), Some("quiet"));
        for bad in ["/ban bob 10x spam", "/mute bob 0m", "/ban bob 1.5h"] {
            match p(bad) {
                Action::Refuse(why) => assert!(why.contains("e.g. /"), "{why}"),
                _ => panic!("{bad} was taken"),
            }
        }
        assert_eq!(duration("2d"), Some(172_800));
    }
}
