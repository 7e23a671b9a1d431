//! The only place that asks questions on a terminal. Prompts are asked only
//! when stdin and stderr are terminals and `--no-input` was not given.
//!
//! Plain questions use a line editor (rustyline): Enter takes the default,
//! Ctrl-C or Ctrl-D cancel ([`Cancelled`], exit 130) with the terminal as it
//! was. The hidden password prompt is dialoguer's; while it has echo off, a
//! Ctrl-C restores the terminal before the process ends.

use std::io::IsTerminal;

use std::sync::Mutex;

use dialoguer::theme::ColorfulTheme;
use dialoguer::Password;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::names::validate_name;

/// The user cancelled a prompt: the binary exits with 130, like a shell's Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("cancelled at the prompt")]
pub struct Cancelled;

/// True when prompting is allowed and possible.
pub fn can_prompt(no_input: bool) -> bool {
    !no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Tab completion: the word's start and the candidates, given the line and
/// the cursor.
pub type Completion = Box<dyn Fn(&str, usize) -> (usize, Vec<String>) + Send>;

/// The line editor's helper: the chat's completion (none at the prompts).
#[derive(Default)]
pub struct LineHelper(pub Option<Completion>);

impl Completer for LineHelper {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.0.as_ref().map_or((pos, Vec::new()), |c| c(line, pos)))
    }
}
impl Hinter for LineHelper {
    type Hint = String;
}
impl Highlighter for LineHelper {}
impl Validator for LineHelper {}
impl Helper for LineHelper {}

/// The terminal's one line editor.
pub type LineEditor = Editor<LineHelper, DefaultHistory>;

/// Kept between the prompts and the chat: bytes typed ahead of an answer
/// (a line typed while `join` connects) wait in its buffer, and the next
/// question — or the chat's editor — reads them instead of losing them
/// with a dropped editor.
static EDITOR: Mutex<Option<LineEditor>> = Mutex::new(None);

/// The terminal's line editor (the one the prompts used, with what was
/// typed ahead), for the caller to keep.
pub fn take_editor() -> rustyline::Result<LineEditor> {
    let kept = EDITOR.lock().unwrap_or_else(|e| e.into_inner()).take();
    match kept {
        Some(e) => Ok(e),
        None => Editor::new(),
    }
}

/// Ask until `check` accepts the answer (an empty answer is `default`, when
/// there is one); a refusal is said and the question asked again.
fn ask<T>(
    question: &str,
    default: Option<&str>,
    check: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<T> {
    let mut editor =
        take_editor().map_err(|e| anyhow::anyhow!("cannot ask on this terminal: {e}"))?;
    let answer = ask_with(&mut editor, question, default, check);
    *EDITOR.lock().unwrap_or_else(|e| e.into_inner()) = Some(editor);
    answer
}

/// [`ask`] with this editor.
fn ask_with<T>(
    editor: &mut LineEditor,
    question: &str,
    default: Option<&str>,
    check: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<T> {
    let prompt = match default {
        // A yes/no question shows its choices instead.
        Some(_) if question.ends_with(']') => format!("{question} "),
        Some(d) => format!("{question} [{d}]: "),
        None => format!("{question}: "),
    };
    loop {
        let answer = match editor.readline(&prompt) {
            Ok(a) => a,
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => return Err(Cancelled.into()),
            Err(e) => anyhow::bail!("cannot read the answer from the terminal: {e}"),
        };
        let answer = answer.trim();
        let answer = match (answer.is_empty(), default) {
            (true, Some(d)) => d,
            _ => answer,
        };
        match check(answer) {
            Ok(v) => return Ok(v),
            Err(why) => eprintln!("  {why}"),
        }
    }
}

/// A yes/no question; no is the default.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    ask(&format!("{question} [y/N]"), Some("n"), |a| {
        match a.to_ascii_lowercase().as_str() {
            "y" | "yes" => Ok(true),
            "n" | "no" => Ok(false),
            _ => Err("answer y (yes) or n (no)".into()),
        }
    })
}

pub fn host(default: &str) -> anyhow::Result<String> {
    ask("Server host or IP address", Some(default), |s| {
        if s.is_empty() || s.contains(char::is_whitespace) {
            Err("a host name or IP address, e.g. 127.0.0.1 or chat.lan".into())
        } else {
            Ok(s.to_string())
        }
    })
}

pub fn port(default: u16) -> anyhow::Result<u16> {
    ask("Server port", Some(&default.to_string()), |s| {
        match s.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
            _ => Err(format!(
                "'{}' is not a port: enter a number from 1 to 65535",
                crate::names::sanitize(s)
            )),
        }
    })
}

pub fn name() -> anyhow::Result<String> {
    ask("Your user name", None, |s| {
        validate_name(s).map_err(|e| e.to_string())
    })
}

/// A hidden password; `confirm` asks twice (setting a room password).
pub fn password(prompt: &str, confirm: bool) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let _restore = crate::terminal::restore_on_interrupt();
    let theme = ColorfulTheme::default();
    let mut p = Password::with_theme(&theme).with_prompt(prompt);
    if confirm {
        p = p.with_confirmation("Repeat the password", "the passwords do not match");
    }
    let pw = p
        .validate_with(|s: &String| -> Result<(), &str> {
            if s.is_empty() {
                Err("the password cannot be empty")
            } else {
                Ok(())
            }
        })
        .interact()
        .map_err(|e| match e {
            dialoguer::Error::IO(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                anyhow::Error::new(Cancelled)
            }
            dialoguer::Error::IO(io) => {
                anyhow::anyhow!("cannot read the password from the terminal: {io}")
            }
        })?;
    Ok(zeroize::Zeroizing::new(pw))
}
