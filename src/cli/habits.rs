//! The words people bring from elsewhere — the Python original's `host.py`
//! and `clint.py`, nc's and IRC's `connect`, `client`, `server` — answered
//! with the command they mean, in clap's usage-error style (exit 2), where
//! clap alone says only "unrecognized subcommand".

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

use super::Cli;

/// Another program's word, the tcpplay command it means, and why.
pub const HABITS: [(&str, &str, &str); 7] = [
    (
        "host",
        "serve",
        "runs the chat server, as the original's host.py did",
    ),
    ("server", "serve", "runs the chat server"),
    ("listen", "serve", "runs the chat server"),
    (
        "client",
        "join",
        "joins a chat server, as the original's clint.py did",
    ),
    (
        "clint",
        "join",
        "joins a chat server, as the original's clint.py did",
    ),
    ("connect", "join", "joins a chat server"),
    ("chat", "join", "joins a chat server"),
];

/// The command line, parsed as [`Cli::parse`] does (exiting on an error),
/// with a "did you mean" for the words of [`HABITS`].
pub fn parse() -> Cli {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// [`parse`] without exiting, from these arguments.
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    Cli::try_parse_from(args).map_err(habit)
}

/// clap's "unrecognized subcommand" for a word of [`HABITS`], with the
/// command it means.
fn habit(e: clap::Error) -> clap::Error {
    if e.kind() != ErrorKind::InvalidSubcommand {
        return e;
    }
    let Some(ContextValue::String(word)) = e.get(ContextKind::InvalidSubcommand) else {
        return e;
    };
    let mut cmd = Cli::command();
    // A command in other letters (`JOIN`, caps lock on), or a habit.
    let same = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .find(|n| word.eq_ignore_ascii_case(n));
    let (meant, what) = match (
        &same,
        HABITS.iter().find(|(w, _, _)| word.eq_ignore_ascii_case(w)),
    ) {
        (Some(name), _) => (name.as_str(), "is spelled in small letters"),
        (None, Some((_, meant, what))) => (*meant, *what),
        (None, None) => return e,
    };
    let usage = cmd.render_usage();
    let mut out = clap::Error::new(ErrorKind::InvalidSubcommand).with_cmd(&cmd);
    out.insert(
        ContextKind::InvalidSubcommand,
        ContextValue::String(word.clone()),
    );
    out.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![format!(
            "did you mean `{meant}`? (`tcpplay {meant}` {what}; `tcpplay --help` lists the commands)"
        )
        .into()]),
    );
    out.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_words_name_the_command_they_mean() {
        for (word, meant, _) in HABITS {
            let e = try_parse_from(["tcpplay", word]).expect_err("a usage error");
            assert_eq!(e.exit_code(), 2);
            let text = e.to_string();
            assert!(
                text.contains(&format!("did you mean `{meant}`?")),
                "{word}: {text}"
            );
            assert!(text.contains("Usage:"), "{text}");
        }
        // A command in capitals names itself.
        let e = try_parse_from(["tcpplay", "JOIN"]).expect_err("a usage error");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("did you mean `join`?"), "{e}");
        // Other words keep clap's own answer.
        let e = try_parse_from(["tcpplay", "serv"]).expect_err("a usage error");
        assert!(e.to_string().contains("'serve'"), "{e}");
    }
}
