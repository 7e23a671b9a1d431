//! A small bot written against the tcpplay library: it joins a room and
//! answers `!time` with the time and `!echo TEXT` with TEXT. Works in
//! plaintext, TLS and secure rooms (the password from TCPPLAY_PASSWORD).
//!
//! ```sh
//! cargo run --example bot -- --port 12345
//! TCPPLAY_PASSWORD=... cargo run --example bot -- --host localhost --port 12345 --cert cert.pem
//! ```

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tcpplay::client::{self, ConnectOptions};
use tcpplay::hostport::HostPort;
use tcpplay::protocol::Packet;
use tcpplay::tls::{TlsMode, Trust};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 12345)]
    port: u16,
    #[arg(long, default_value = "bot")]
    name: String,
    /// Trust this certificate (TLS); without it the bot speaks plaintext.
    #[arg(long)]
    cert: Option<std::path::PathBuf>,
}

/// The bot's whole behaviour: a reply to a line, or nothing.
fn reply(text: &str) -> Option<String> {
    let text = text.trim();
    if text == "!time" {
        let now = time::OffsetDateTime::now_utc();
        return Some(format!(
            "the time is {}",
            now.format(&time::format_description::well_known::Rfc3339)
                .ok()?
        ));
    }
    text.strip_prefix("!echo ").map(|rest| rest.to_string())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let opts = ConnectOptions {
        target: HostPort::new(&args.host, args.port),
        timeout: Some(Duration::from_secs(10)),
        tls: if args.cert.is_some() {
            TlsMode::On
        } else {
            TlsMode::Off
        },
        trust: args
            .cert
            .clone()
            .map(Trust::File)
            .unwrap_or(Trust::PublicRoots),
        client_auth: None,
        show_wire: false,
        progress: None,
    };
    let mut conn = client::connect(&opts).await.context("connecting")?;
    let password = || {
        Ok(zeroize::Zeroizing::new(
            std::env::var("TCPPLAY_PASSWORD").unwrap_or_default(),
        ))
    };
    let joined = client::authenticate(&mut conn, &args.name, opts.timeout, password, None).await?;
    println!("bot ready as {}", joined.name);
    // The connection opens sealed messages in a secure room and seals ours.
    while let Some(packet) = conn.next().await? {
        let Packet::Chat(chat) = packet else {
            continue;
        };
        // Never answer ourselves (no loops), only people.
        if chat.from.as_deref() == Some(joined.name.as_str()) {
            continue;
        }
        let Some(answer) = chat.text.as_deref().and_then(reply) else {
            continue;
        };
        let line = conn.chat(&answer, false, None, None);
        conn.send(&line).await?;
    }
    Ok(())
}
