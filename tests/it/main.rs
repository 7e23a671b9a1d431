//! Integration tests: the real binary and the real library over real sockets
//! on 127.0.0.1, with real TLS. One test binary; modules by subject.

mod irc;
mod irc_irssi;
mod irc_sasl;
mod util;
mod web;
mod web_abuse;

mod accounts;
mod bad_input;
mod bench;
mod browser;
mod chat;
mod check;
mod cli;
mod cluster;
mod cluster_faults;
mod cluster_presence;
mod cluster_refusals;
mod cluster_rules;
mod doc_examples;
mod docs;
mod faults;
mod features;
mod gencert;
mod history_crash;
mod hostile;
mod layers;
mod legacy;
mod limits;
mod model;
mod moderation;
mod newcomer;
mod operate;
mod outside;
mod outside_openssl;
mod pty;
mod rooms;
mod secure;
mod secure_impostors;
mod secure_sealed;
mod settings;
mod tls;
mod walk;
