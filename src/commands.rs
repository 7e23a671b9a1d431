//! The one table of the commands a member types — `/help` in `tcpplay join`
//! and in the browser page, Tab completion, the `join` manual — so every
//! front end lists the same commands in the same words. Data only: each
//! front end's parser turns a typed line into packets (`client::ui::commands`
//! for `join`; the page's script, which gets this table in the script it
//! loads, `server::web::page`). The IRC listener's `HELP` and 421 read it
//! too, with [`IRC`]: which of these an IRC client has, under which command.

/// Every command: its usage (the words a user types) and what it does.
pub const COMMANDS: [(&str, &str); 30] = [
    ("/help", "this list"),
    (
        "/users [#ROOM]",
        "who is in this room (or another), and for how long",
    ),
    (
        "/join #ROOM [#ROOM...]",
        "join rooms (made when they do not exist); typed lines go to the first",
    ),
    ("/part [#ROOM] [REASON]", "leave this room (or another)"),
    ("/switch #ROOM", "send typed lines to another of your rooms"),
    ("/rooms", "the server's rooms, their members and topics"),
    (
        "/topic [#ROOM] [TEXT]",
        "show the topic of this room (or another), or set it (- clears it)",
    ),
    ("/nick NEW", "change your name"),
    (
        "/msg NAME TEXT",
        "a direct message (only NAME sees it; quote names with spaces)",
    ),
    ("/me ACTION", "an action: /me waves"),
    (
        "/away [TEXT]",
        "say you are away, and why (your rooms see it; whoever writes to you is told); /away alone: back",
    ),
    ("/history [N]", "fetch N older messages (default 20)"),
    ("/quit [REASON]", "leave, saying why"),
    (
        "/register",
        "register your name as an account (password from --account-password-file; or join --register)",
    ),
    ("/unregister", "drop your account: its name is anyone's again"),
    (
        "/certfp add|del [FP]|list",
        "bind this client certificate to your account (it then logs in without a password)",
    ),
    (
        "/weblink",
        "a one-time link that logs your account in on the browser page (10 minutes)",
    ),
    ("/kick NAME [REASON]", "operators: take NAME out of this room"),
    (
        "/ban WHO [DURATION] [REASON]",
        "operators: keep WHO out (a name, account:NAME, address:IP or address:NAME; 10m, 2h, 7d)",
    ),
    ("/unban WHO", "operators: lift a ban"),
    ("/mute WHO [DURATION] [REASON]", "operators: refuse WHO's lines here"),
    ("/unmute WHO", "operators: lift a mute"),
    ("/invite NAME", "operators: let NAME into this invite-only room"),
    ("/invite-only on|off", "operators: only the invited and operators may join"),
    ("/topic-lock on|off", "operators: only operators may set the topic"),
    ("/op NAME", "operators: make NAME's account an operator of this room"),
    ("/deop NAME", "operators: take that back"),
    ("/bans", "this room's operators, modes, bans and mutes"),
    ("/password", "change your account's password: run join --change-password"),
    ("//text", "send a line that starts with /"),
];

/// The commands an IRC client has too: the word a member types here and
/// the IRC command that does the same (`server::irc`'s table answers each;
/// its `HELP` lists them in these words).
pub const IRC: [(&str, &str); 14] = [
    ("users", "NAMES"),
    ("join", "JOIN"),
    ("part", "PART"),
    ("rooms", "LIST"),
    ("topic", "TOPIC"),
    ("nick", "NICK"),
    ("msg", "PRIVMSG"),
    ("me", "PRIVMSG"),
    ("away", "AWAY"),
    ("quit", "QUIT"),
    ("kick", "KICK"),
    ("ban", "MODE"),
    ("invite", "INVITE"),
    ("op", "MODE"),
];

/// The word of a command's usage: `away` for `/away [TEXT]`.
pub fn word(usage: &str) -> &str {
    let u = usage.trim_start_matches('/');
    u.split(' ').next().unwrap_or(u)
}
