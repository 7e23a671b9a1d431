//! tcpplay: a multi-client TCP chat in plaintext, over TLS, or in a
//! password-protected secure room, and the tools around it.
//!
//! # Layers (each imports only from the ones below; docs/ARCHITECTURE.md)
//!
//! 1. glue — [`cli`] (clap) and [`app`] (the subcommands, the operator
//!    console): the only code that sees clap, figment's layers or prompts
//! 2. services — `server`, [`client`], `check`, [`certgen`]: sockets,
//!    tasks and files, on plain types
//! 3. foundations — [`config`], [`protocol`], [`commands`], [`crypto`], [`tls`],
//!    `names`, `secret`, `files`, [`hostport`], [`share`], `lan`, [`output`],
//!    [`prompt`], `progress`, `terminal`
//!
//! # Modules
//!
//! - [`cli`]: clap definitions (also the source of shell completions), and
//!   their translation into plain options
//! - [`app`]: the subcommands, from settings to the library (`serve` and its
//!   operator console, `join`)
//! - [`config`]: the settings, their layering and where each value came from
//! - [`protocol`]: packet types, the bounded line codec, and [`protocol::Connection`]
//! - `server`: accept loop, sessions, rooms, the cluster (a layer beside the
//!   rooms), history, limits, metrics, the operator's actions, reload
//! - [`client`]: transport, authentication, [`client::Connection`], the chat UI of `join`
//! - `check`: diagnostics of settings, files and a live server
//! - [`certgen`]: `gen-cert` on rcgen
//! - [`commands`]: the one table of typed commands every front end lists
//! - [`crypto`]: secure rooms and accounts: OPAQUE (its steps once, in
//!   `crypto::opaque`), HKDF, XChaCha20-Poly1305
//! - [`tls`]: rustls configurations, trust, verification, errors in words
//! - `names`: name rules and terminal-safe rendering of untrusted text
//! - `secret`: where the room password comes from
//! - [`prompt`]: the only place that prompts on a terminal (dialoguer)
//! - `progress`: spinners on a terminal (indicatif)
//! - [`hostport`]: HOST:PORT as users write it (IPv6 brackets in one place)
//! - [`share`]: `join`'s HOST[:PORT] argument and the `tcpplay://` link `serve` prints
//! - `lan`: this machine's addresses other machines can reach
//! - `files`: whole-or-nothing writes of the user's files, private modes
//! - `terminal`: the terminal's mode, restored on exit
//! - [`output`]: stdout/stderr lines that never panic, and never block `serve`

pub mod app;
pub mod certgen;
pub(crate) mod check;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod crypto;
pub(crate) mod files;
pub mod hostport;
pub mod lan;
pub(crate) mod names;
pub mod output;
pub(crate) mod progress;
pub mod prompt;
pub mod protocol;
pub(crate) mod secret;
pub(crate) mod server;
pub mod share;
pub(crate) mod terminal;
pub mod tls;
