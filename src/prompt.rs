//! The only place that talks to a TTY through dialoguer. Prompts are asked only
//! when stdin and stderr are terminals and `--no-input` was not given.

use std::io::IsTerminal;

use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Password};

use crate::names::validate_name;

/// True when prompting is allowed and possible.
pub fn can_prompt(no_input: bool) -> bool {
    !no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn theme() -> ColorfulTheme {
    ColorfulTheme::default()
}

/// A yes/no question; no is the default.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    Ok(Confirm::with_theme(&theme())
        .with_prompt(question)
        .default(false)
        .interact()?)
}

pub fn host(default: &str) -> anyhow::Result<String> {
    Ok(Input::with_theme(&theme())
        .with_prompt("Server host or IP address")
        .default(default.to_string())
        .validate_with(|s: &String| -> Result<(), String> {
            let s = s.trim();
            if s.is_empty() || s.contains(char::is_whitespace) {
                Err("a host name or IP address, e.g. 127.0.0.1 or chat.lan".into())
            } else {
                Ok(())
            }
        })
        .interact_text()?
        .trim()
        .to_string())
}

pub fn port(default: u16) -> anyhow::Result<u16> {
    let text: String = Input::with_theme(&theme())
        .with_prompt("Server port")
        .default(default.to_string())
        .validate_with(|s: &String| -> Result<(), String> {
            match s.trim().parse::<u32>() {
                Ok(p) if (1..=65535).contains(&p) => Ok(()),
                _ => Err(format!(
                    "'{}' is not a port: enter a number from 1 to 65535",
                    s.trim()
                )),
            }
        })
        .interact_text()?;
    Ok(text.trim().parse()?)
}

pub fn name() -> anyhow::Result<String> {
    let text: String = Input::with_theme(&theme())
        .with_prompt("Your user name")
        .validate_with(|s: &String| -> Result<(), String> {
            validate_name(s).map(|_| ()).map_err(|e| e.to_string())
        })
        .interact_text()?;
    Ok(validate_name(&text)?)
}

/// A hidden password; `confirm` asks twice (setting a room password).
pub fn password(prompt: &str, confirm: bool) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let theme = theme();
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
        .interact()?;
    Ok(zeroize::Zeroizing::new(pw))
}
