//! The operator console's commands: a line → what it asks for. Pure (no
//! server, no terminal), so every spelling is unit-tested; running a
//! command is [`super::console`]'s job.

/// A change to a topic or a message: set it, or clear it (`-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Set(String),
    Clear,
}

impl Change {
    fn of(text: &str) -> Change {
        match text {
            "-" => Change::Clear,
            t => Change::Set(t.to_string()),
        }
    }

    pub(crate) fn into_option(self) -> Option<String> {
        match self {
            Change::Set(t) => Some(t),
            Change::Clear => None,
        }
    }
}

/// What an operator's line asks for. Rooms are as typed (`#help`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Say `text` in a room (`None`: the default room) as `server`.
    Say {
        room: Option<String>,
        text: String,
    },
    /// Who is connected (or in a room).
    Users(Option<String>),
    Rooms,
    /// Remove a member (from the server, or one room); `words` is the name
    /// and the reason, split against who is here when it runs.
    Kick {
        room: Option<String>,
        words: String,
    },
    /// Show (`None`) or change a room's topic.
    Topic {
        room: String,
        change: Option<Change>,
    },
    /// Show or change a room's message (`room`), or the message of the day.
    Motd {
        room: Option<String>,
        change: Option<Change>,
    },
    /// A room operator's action (`/ban`, `/mute`, …) in a room (`None`:
    /// the default room).
    Moderate {
        room: Option<String>,
        action: crate::protocol::Moderate,
    },
    Unlock,
    /// A one-time sign-in link for the page, for the account called this.
    Weblink(String),
    Reload,
    Quit,
    Help,
    /// A command used wrongly: how to use it.
    Usage(&'static str),
    /// Not a command: its word.
    Unknown(String),
}

/// `#room REST`: the room word and the rest.
fn room_and_rest(args: &str) -> (String, String) {
    let (room, rest) = args.split_once(' ').unwrap_or((args, ""));
    (room.to_string(), rest.trim().to_string())
}

/// What `line` asks for (an empty line is not given: the console skips it).
pub(crate) fn parse(line: &str) -> Command {
    if let Some(rest) = line.strip_prefix("//") {
        return Command::Say {
            room: None,
            text: format!("/{rest}"),
        };
    }
    let Some(cmd) = line.strip_prefix('/') else {
        return Command::Say {
            room: None,
            text: line.to_string(),
        };
    };
    let (word, args) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let args = args.trim();
    let change = |t: &str| (!t.is_empty()).then(|| Change::of(t));
    match word {
        "users" if args.starts_with('#') => Command::Users(Some(room_and_rest(args).0)),
        "users" => Command::Users(None),
        "rooms" => Command::Rooms,
        "say" => match room_and_rest(args) {
            (_, text) if text.is_empty() => Command::Usage("usage: /say #ROOM TEXT"),
            (room, text) => Command::Say {
                room: Some(room),
                text,
            },
        },
        "kick" if args.is_empty() => Command::Usage("usage: /kick [#ROOM] NAME [REASON]"),
        "kick" if args.starts_with('#') => match room_and_rest(args) {
            (_, words) if words.is_empty() => Command::Usage("usage: /kick [#ROOM] NAME [REASON]"),
            (room, words) => Command::Kick {
                room: Some(room),
                words,
            },
        },
        "kick" => Command::Kick {
            room: None,
            words: args.to_string(),
        },
        "topic" => {
            let (room, text) = room_and_rest(args);
            Command::Topic {
                room,
                change: change(&text),
            }
        }
        "motd" if args.starts_with('#') => {
            let (room, text) = room_and_rest(args);
            Command::Motd {
                room: Some(room),
                change: change(&text),
            }
        }
        "motd" => Command::Motd {
            room: None,
            change: change(args),
        },
        "ban" | "unban" | "mute" | "unmute" | "invite" | "op" | "deop" | "bans" | "invite-only"
        | "topic-lock" => {
            let (room, rest) = match args.starts_with('#') {
                true => {
                    let (r, rest) = room_and_rest(args);
                    (Some(r), rest)
                }
                false => (None, args.to_string()),
            };
            match crate::client::ui::commands::parse(&format!("/{word} {rest}"), &[], true) {
                crate::client::ui::commands::Action::Moderate(action) => {
                    Command::Moderate { room, action }
                }
                _ => Command::Usage(
                    "usage: /ban|/mute [#ROOM] WHO [DURATION] [REASON], /unban|/unmute|/invite|/op|/deop [#ROOM] WHO,                      /invite-only|/topic-lock [#ROOM] on|off, /bans [#ROOM]",
                ),
            }
        }
        "unlock" => Command::Unlock,
        "weblink" if args.is_empty() => {
            Command::Usage("usage: /weblink NAME (a registered account's name)")
        }
        "weblink" => Command::Weblink(args.to_string()),
        "reload" => Command::Reload,
        "quit" => Command::Quit,
        "help" => Command::Help,
        other => Command::Unknown(other.to_string()),
    }
}

/// The console's `/help`.
pub(crate) fn help() -> String {
    format!("console: {}", crate::cli::help::CONSOLE_COMMANDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moderation_takes_an_optional_room_first() {
        match parse("/ban #class carol 1h shouting") {
            Command::Moderate { room, action } => {
                assert_eq!(room.as_deref(), Some("#class"));
                assert_eq!(action.target.as_deref(), Some("carol"));
                assert_eq!(action.duration, Some(3600));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse("/mute"), Command::Usage(_)));
        assert!(matches!(
            parse("/bans"),
            Command::Moderate { room: None, .. }
        ));
    }

    fn say(room: Option<&str>, text: &str) -> Command {
        Command::Say {
            room: room.map(str::to_string),
            text: text.into(),
        }
    }

    #[test]
    fn plain_lines_and_double_slashes_are_said_in_the_default_room() {
        assert_eq!(parse("hello all"), say(None, "hello all"));
        assert_eq!(parse("//help is a word"), say(None, "/help is a word"));
        assert_eq!(parse("/say #dev hi there"), say(Some("#dev"), "hi there"));
        assert_eq!(parse("/say #dev"), Command::Usage("usage: /say #ROOM TEXT"));
    }

    #[test]
    fn each_command_and_its_arguments() {
        assert_eq!(parse("/users"), Command::Users(None));
        assert_eq!(parse("/users #a"), Command::Users(Some("#a".into())));
        assert_eq!(parse("/rooms"), Command::Rooms);
        assert!(matches!(parse("/kick"), Command::Usage(_)));
        assert!(matches!(parse("/kick #a"), Command::Usage(_)));
        assert_eq!(
            parse("/kick Jane Doe spamming"),
            Command::Kick {
                room: None,
                words: "Jane Doe spamming".into()
            }
        );
        assert_eq!(
            parse("/kick #a bob"),
            Command::Kick {
                room: Some("#a".into()),
                words: "bob".into()
            }
        );
        assert_eq!(
            parse("/topic #a"),
            Command::Topic {
                room: "#a".into(),
                change: None
            }
        );
        assert_eq!(
            parse("/topic #a new topic"),
            Command::Topic {
                room: "#a".into(),
                change: Some(Change::Set("new topic".into()))
            }
        );
        assert_eq!(
            parse("/topic #a -"),
            Command::Topic {
                room: "#a".into(),
                change: Some(Change::Clear)
            }
        );
        assert_eq!(
            parse("/motd"),
            Command::Motd {
                room: None,
                change: None
            }
        );
        assert_eq!(
            parse("/motd -"),
            Command::Motd {
                room: None,
                change: Some(Change::Clear)
            }
        );
        assert_eq!(
            parse("/motd #a welcome"),
            Command::Motd {
                room: Some("#a".into()),
                change: Some(Change::Set("welcome".into()))
            }
        );
        for (line, cmd) in [
            ("/unlock", Command::Unlock),
            ("/reload", Command::Reload),
            ("/quit", Command::Quit),
            ("/help", Command::Help),
        ] {
            assert_eq!(parse(line), cmd);
        }
        assert_eq!(parse("/weblink Ines"), Command::Weblink("Ines".into()));
        assert!(matches!(parse("/weblink"), Command::Usage(_)));
        assert_eq!(
            parse("/weblink Jane Doe"),
            Command::Weblink("Jane Doe".into())
        );
        assert_eq!(
            parse("/frobnicate x"),
            Command::Unknown("frobnicate".into())
        );
    }
}
