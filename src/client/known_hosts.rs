//! Trust on first use: SHA-256 fingerprints of servers the user chose to
//! trust, one `HOST:PORT FINGERPRINT` line each, in `known_hosts` in the
//! user's data directory (like SSH's). A later connection to that host and
//! port accepts only the pinned certificate; [`connect_with_pins`] is the
//! policy, the rest the file.

use std::path::{Path, PathBuf};

use super::{ClientError, ConnectOptions, Connection};
use crate::tls::{TlsMode, Trust};

/// `known_hosts` in the user's data directory (`~/.local/share/tcpplay` on Linux).
pub fn default_path() -> Option<PathBuf> {
    crate::config::data_dir().map(|d| d.join("known_hosts"))
}

/// The pinned fingerprint of `target` (`host:port`), if any.
pub fn lookup(file: &Path, target: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(char::is_whitespace))
        .find(|(t, _)| t.eq_ignore_ascii_case(target))
        .map(|(_, fp)| fp.trim().to_string())
}

/// Pin `fingerprint` for `target`, replacing an older pin (file mode 0600).
pub fn pin(file: &Path, target: &str, fingerprint: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        crate::files::private_dir(dir)?;
    }
    let old = std::fs::read_to_string(file).unwrap_or_default();
    let mut text = String::new();
    if old.is_empty() {
        text.push_str("# tcpplay known hosts: HOST:PORT SHA-256 fingerprint of a trusted certificate.\n# Delete a line to forget a server.\n");
    }
    for line in old.lines() {
        let same = line
            .split_once(char::is_whitespace)
            .is_some_and(|(t, _)| t.eq_ignore_ascii_case(target));
        if !same {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str(&format!("{target} {fingerprint}\n"));
    crate::files::write_atomic(file, text.as_bytes(), true)
}

/// Connect; with the default trust (public roots), use and offer trust on
/// first use: a pinned host:port accepts only its pinned certificate, and a
/// certificate nobody vouches for can be pinned after the user saw its
/// fingerprint (on a terminal). A changed pinned certificate is refused.
pub async fn connect_with_pins(
    connect: &ConnectOptions,
    can_prompt: bool,
) -> anyhow::Result<Connection> {
    let mut opts = connect.clone();
    opts.progress = crate::progress::spinner("connecting");
    let done = |opts: &ConnectOptions| {
        if let Some(pb) = &opts.progress {
            pb.finish_and_clear();
        }
    };
    let target = opts.target.to_string();
    let file = default_path();
    let tofu = matches!(opts.trust, Trust::PublicRoots) && opts.tls != TlsMode::Off;
    let pin = file
        .as_deref()
        .filter(|_| tofu)
        .and_then(|f| lookup(f, &target));
    if let Some(pin) = &pin {
        opts.trust = Trust::Pinned(pin.clone());
        opts.tls = TlsMode::On;
    }
    let first = super::connect(&opts).await;
    done(&opts);
    let err = match first {
        Ok(conn) => return Ok(conn),
        Err(e @ ClientError::Certificate { .. }) if tofu => e,
        // A pinned certificate that does not match fails inside the handshake.
        Err(e @ ClientError::Tls { .. }) if pin.is_some() => e,
        Err(e) => return Err(e.into()),
    };
    // Which certificate does the server show? (Verified only as far as the
    // server holding its key; nothing is sent but the TLS handshake.)
    let mut probe = opts.clone();
    probe.trust = Trust::Insecure;
    probe.progress = None;
    let seen = super::connect(&probe)
        .await
        .ok()
        .and_then(|c| c.transport.tls.and_then(|t| t.fingerprint));
    let (Some(seen), Some(file)) = (seen, file) else {
        return Err(err.into());
    };
    if let Some(pin) = pin {
        anyhow::bail!(
            "THE CERTIFICATE OF {target} HAS CHANGED. Refusing to connect.\n  \
             pinned: SHA-256 {pin}\n  \
             now:    SHA-256 {seen}\n\
             Someone may be impersonating the server, or it got a new certificate. \
             Ask its operator for the fingerprint (`tcpplay gen-cert` printed it); if the new one is right, \
             delete the line for {target} from {} and connect again.",
            file.display()
        );
    }
    if !can_prompt {
        return Err(anyhow::Error::new(err).context(format!(
            "the certificate of {target} (SHA-256 {seen}) is not trusted; on a terminal, tcpplay join offers to pin it"
        )));
    }
    eprintln!(
        "The certificate of {target} is not signed by anyone this computer trusts.\n  \
         SHA-256 {seen}\n\
         Compare it with the fingerprint the server's operator gives you (`tcpplay gen-cert` prints it)."
    );
    if !crate::prompt::confirm("Trust this certificate and remember it for this server?")? {
        anyhow::bail!("not connected: the certificate of {target} was not trusted");
    }
    self::pin(&file, &target, &seen)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
    eprintln!("Pinned in {}", file.display());
    opts.trust = Trust::Pinned(seen);
    opts.tls = TlsMode::On;
    opts.progress = crate::progress::spinner("connecting");
    let conn = super::connect(&opts).await;
    done(&opts);
    Ok(conn?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_found_replaced_and_kept_per_host_and_port() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/known_hosts");
        assert_eq!(lookup(&f, "a:1"), None);
        pin(&f, "a:1", "AA:BB").unwrap();
        pin(&f, "b:2", "CC").unwrap();
        pin(&f, "A:1", "DD").unwrap();
        assert_eq!(lookup(&f, "a:1").as_deref(), Some("DD"));
        assert_eq!(lookup(&f, "b:2").as_deref(), Some("CC"));
        assert_eq!(lookup(&f, "b:3"), None);
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 2);
    }
}
