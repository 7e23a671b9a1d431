//! The text after the options in `join --help` and `serve --help`, and in
//! their manual pages: the commands typed in the chat and at the server's
//! console, and the exit codes. One source, so help, `/help` and the man
//! pages say the same.

use crate::client::ui::commands::COMMANDS;

/// The operator console's commands (its `/help` prints this too).
pub const CONSOLE_COMMANDS: &str = "\
a plain line is said in the default room as `server`; //text sends a line starting with /
  /users [#ROOM]         who is connected (or in a room), from where, for how long
  /rooms                 the rooms, their members and topics
  /say #ROOM TEXT        say TEXT in a room as `server`
  /kick NAME [REASON]    remove someone from the server (they are told the reason)
  /kick #ROOM NAME [REASON]  take someone out of one room
  /topic #ROOM [TEXT]    show, or set, a room's topic (/topic #ROOM - clears it)
  /motd [TEXT]           show, or set, the message of the day (/motd - clears it)
  /motd #ROOM [TEXT]     show, or set, a room's message for whoever joins it
  /ban [#ROOM] WHO [DURATION] [REASON]  keep WHO out of a room (a name, account:NAME, address:IP or address:NAME; 60 (seconds), 60s, 10m, 2h, 7d)
  /mute [#ROOM] WHO [DURATION] [REASON] refuse WHO's lines in a room
  /unban, /unmute, /invite, /op, /deop [#ROOM] WHO   lift a ban or mute, invite, make or unmake an operator (accounts)
  /invite-only, /topic-lock [#ROOM] on|off           a room's modes
  /bans [#ROOM]          a room's operators, modes, bans and mutes
  /unlock                a secure room: read and speak (asks the room password; the server keeps none)
  /weblink NAME          a one-time sign-in link to the browser page for the account NAME, good 10 minutes (shown on a terminal only)
  /reload                re-read the settings (like SIGHUP): limits, MOTD, certificate
  /quit                  stop the server (everyone gets a goodbye)";

/// The chat commands, one a line.
pub fn chat_commands() -> String {
    COMMANDS
        .iter()
        .map(|(c, what)| format!("  {c:<24} {what}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// After `join --help`'s options.
pub fn join_after() -> String {
    format!(
        "Chat commands (typed in the chat; Tab completes them):\n{}\n\n{}",
        chat_commands(),
        super::EXIT_CODES
    )
}

/// After `serve --help`'s options.
pub fn serve_after() -> String {
    format!(
        "Console commands (typed where serve runs): {CONSOLE_COMMANDS}\n\n{}",
        super::EXIT_CODES
    )
}
