//! tcpplay: a multi-client TCP chat in plaintext, over TLS, or in a
//! password-protected secure room, and the tools around it.
//!
//! # Layout
//!
//! - [`cli`]: clap definitions (also the source of shell completions)
//! - [`config`]: settings structs and figment layering with provenance
//! - [`app`]: the subcommands, from settings to the library
//! - [`protocol`]: packet types, the bounded line codec, limits
//! - [`names`]: name rules and terminal-safe rendering of untrusted text
//! - [`crypto`]: secure mode: Argon2id, HKDF, HMAC proofs, XChaCha20-Poly1305
//! - [`tls`]: rustls server and client configurations, fingerprints
//! - [`server`]: accept loop, room (registry + broadcast), sessions, console
//! - [`client`]: connect + handshake, and the chat UI of `join`
//! - [`certgen`]: `gen-cert` on rcgen
//! - [`check`]: diagnostics of settings, files and a live server
//! - [`secret`]: where the room password comes from
//! - [`prompt`]: the only place that prompts on a terminal (dialoguer)
//! - [`progress`]: spinners on a terminal (indicatif)
//! - [`hostport`]: HOST:PORT as users write it (IPv6 brackets in one place)
//! - [`files`]: whole-or-nothing writes of the user's files, private modes
//! - [`terminal`]: the terminal's mode, restored on exit
//! - [`output`]: stdout/stderr lines that never panic, and never block `serve`

pub mod app;
pub mod certgen;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod crypto;
pub mod files;
pub mod hostport;
pub mod names;
pub mod output;
pub mod progress;
pub mod prompt;
pub mod protocol;
pub mod secret;
pub mod server;
pub mod terminal;
pub mod tls;
