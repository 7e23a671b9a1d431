//! Trust on first use: SHA-256 fingerprints of servers the user chose to
//! trust, one `HOST:PORT FINGERPRINT` line each, in `known_hosts` in the
//! user's data directory (like SSH's). A later connection to that host and
//! port accepts only the pinned certificate; [`connect_with_pins`] is the
//! policy, the rest the file.

use std::path::{Path, PathBuf};

use super::{ClientError, ConnectOptions, Connection};
use crate::tls::{TlsMode, Trust};

/// `known_hosts` in the user's data directory (`~/.local/share/tcpplay` on Linux).
pub(crate) fn default_path() -> Option<PathBuf> {
    crate::config::data_dir().map(|d| d.join("known_hosts"))
}

/// What a `known_hosts` line says about a server.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// Trust only the certificate with this SHA-256 fingerprint.
    Pin(String),
    /// A secure room: never accept it answering as anything else.
    SecureRoom,
}

const SECURE_ROOM: &str = "secure-room";

/// Every entry in the file (none when it does not exist), with its line
/// number. A line that is not `HOST:PORT FINGERPRINT` or `HOST:PORT
/// secure-room` is an error that names it: the file is the user's trust,
/// never silently rewritten.
fn read_lines(file: &Path) -> std::io::Result<Vec<(String, Entry, usize)>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || {
            std::io::Error::other(format!(
                "line {} of {} is not `HOST:PORT FINGERPRINT` or `HOST:PORT secure-room`: fix or delete that line",
                i + 1,
                file.display()
            ))
        };
        let (target, value) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
        let value = value.trim();
        let entry = if value == SECURE_ROOM {
            Entry::SecureRoom
        } else if !value.is_empty() && value.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            Entry::Pin(value.to_string())
        } else {
            return Err(bad());
        };
        out.push((target.to_ascii_lowercase(), entry, i + 1));
    }
    Ok(out)
}

/// Every entry in the file, without line numbers.
fn read(file: &Path) -> std::io::Result<Vec<(String, Entry)>> {
    Ok(read_lines(file)?
        .into_iter()
        .map(|(t, e, _)| (t, e))
        .collect())
}

/// Where `target`'s pin (or, with `secure_room`, its secure-room mark) is:
/// `FILE line N`, for messages that send the user there.
fn line_of(file: &Path, target: &str, secure_room: bool) -> String {
    let target = target.to_ascii_lowercase();
    let n = read_lines(file).ok().and_then(|l| {
        l.into_iter()
            .find(|(t, e, _)| *t == target && (*e == Entry::SecureRoom) == secure_room)
            .map(|(_, _, n)| n)
    });
    match n {
        Some(n) => format!("{} line {n}", file.display()),
        None => file.display().to_string(),
    }
}

/// The command that forgets what known_hosts remembers of `target`.
pub(crate) fn forget_command(target: &str) -> String {
    format!("tcpplay join --forget-host {target}")
}

/// Where `target` is remembered as a secure room, and how to forget it,
/// for the refusal of a server that no longer answers as one.
pub(crate) fn secure_room_note(target: &str) -> String {
    match default_path() {
        Some(f) => format!(
            "{} remembers {target} as a secure room; if the server really changed, forget it with `{}`",
            line_of(&f, target, true),
            forget_command(target)
        ),
        None => format!("if the server really changed, forget it with `{}`", forget_command(target)),
    }
}

/// Forget every line about `target` (its pin and its secure-room mark):
/// what was forgotten, as `(line, what)`.
pub(crate) fn forget(file: &Path, target: &str) -> std::io::Result<Vec<(usize, String)>> {
    let target = target.to_ascii_lowercase();
    let entries = read_lines(file)?;
    let gone: Vec<(usize, String)> = entries
        .iter()
        .filter(|(t, _, _)| *t == target)
        .map(|(_, e, n)| {
            let what = match e {
                Entry::Pin(fp) => format!("the pinned certificate SHA-256 {fp}"),
                Entry::SecureRoom => "that it is a secure room".to_string(),
            };
            (*n, what)
        })
        .collect();
    if !gone.is_empty() {
        let kept = entries
            .into_iter()
            .filter(|(t, _, _)| *t != target)
            .map(|(t, e, _)| (t, e))
            .collect();
        write_entries(file, kept)?;
    }
    Ok(gone)
}

/// The pinned fingerprint of `target` (`host:port`), if any.
pub(crate) fn lookup(file: &Path, target: &str) -> std::io::Result<Option<String>> {
    let target = target.to_ascii_lowercase();
    Ok(read(file)?.into_iter().find_map(|(t, e)| match e {
        Entry::Pin(fp) if t == target => Some(fp),
        _ => None,
    }))
}

/// `target` was a secure room: a password is required there, and an answer
/// that it is not secure is refused (a downgrade).
pub(crate) fn is_secure_room(file: &Path, target: &str) -> std::io::Result<bool> {
    let target = target.to_ascii_lowercase();
    Ok(read(file)?
        .iter()
        .any(|(t, e)| *t == target && *e == Entry::SecureRoom))
}

/// Pin `fingerprint` for `target`, replacing an older pin.
pub(crate) fn pin(file: &Path, target: &str, fingerprint: &str) -> std::io::Result<()> {
    write(file, target, Entry::Pin(fingerprint.to_string()))
}

/// Remember that `target` is a secure room.
pub(crate) fn mark_secure_room(file: &Path, target: &str) -> std::io::Result<()> {
    if is_secure_room(file, target)? {
        return Ok(());
    }
    write(file, target, Entry::SecureRoom)
}

/// Write `entry` for `target` (replacing its line of the same kind), whole or
/// not at all, owner-only, never through a link.
fn write(file: &Path, target: &str, entry: Entry) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        crate::files::private_dir(dir)?;
    }
    let target = target.to_ascii_lowercase();
    let mut entries = read(file)?;
    entries.retain(|(t, e)| {
        *t != target || std::mem::discriminant(e) != std::mem::discriminant(&entry)
    });
    entries.push((target, entry));
    write_entries(file, entries)
}

/// The whole file, rewritten with `entries`.
fn write_entries(file: &Path, entries: Vec<(String, Entry)>) -> std::io::Result<()> {
    let mut text = String::from(
        "# tcpplay known hosts: HOST:PORT and the SHA-256 fingerprint of a trusted certificate,\n\
         # or `secure-room` for a server whose room needs a password.\n\
         # `tcpplay join --forget-host HOST:PORT` (or deleting its lines) forgets a server.\n",
    );
    for (t, e) in entries {
        let value = match e {
            Entry::Pin(fp) => fp,
            Entry::SecureRoom => SECURE_ROOM.into(),
        };
        text.push_str(&format!("{t} {value}\n"));
    }
    crate::files::write_atomic(file, text.as_bytes(), true)
}

/// Connect; with the default trust (public roots), use and offer trust on
/// first use: a pinned host:port accepts only its pinned certificate, and a
/// certificate nobody vouches for can be pinned after the user saw its
/// fingerprint (on a terminal). A changed pinned certificate is refused.
pub(crate) async fn connect_with_pins(
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
        .map(|f| lookup(f, &target))
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .flatten();
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
    // Which certificate does the server show, if it still speaks TLS?
    // (Verified only as far as the server holding its key; nothing is sent
    // but the TLS handshake, or read but the plaintext server's hello.)
    let mut probe = opts.clone();
    probe.trust = Trust::Insecure;
    probe.tls = TlsMode::Auto;
    probe.progress = None;
    let shown = super::connect(&probe)
        .await
        .ok()
        .map(|c| c.transport.tls.and_then(|t| t.fingerprint));
    let (Some(shown), Some(file)) = (shown, file) else {
        return Err(err.into());
    };
    if let Some(pin) = pin {
        return Err(stale_pin(&file, &target, &pin, shown));
    }
    let Some(seen) = shown else {
        return Err(err.into());
    };
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

/// A pinned server that no longer shows its pinned certificate: the file
/// and line of the pin, both fingerprints (or that it speaks plaintext
/// now), and the command that forgets the pin — as ssh says it.
fn stale_pin(file: &Path, target: &str, pin: &str, now: Option<String>) -> anyhow::Error {
    let at = line_of(file, target, false);
    let forget = forget_command(target);
    match now {
        Some(seen) => anyhow::anyhow!(
            "THE CERTIFICATE OF {target} HAS CHANGED. Refusing to connect.\n  \
             pinned: SHA-256 {pin} ({at})\n  \
             now:    SHA-256 {seen}\n\
             Someone may be impersonating the server, or it got a new certificate. Ask its operator for \
             the fingerprint (`tcpplay gen-cert` printed it); if the new one is right, forget the old one \
             with `{forget}` and connect again."
        ),
        None => anyhow::anyhow!(
            "{target} speaks plaintext now, but its certificate is pinned (SHA-256 {pin}, {at}), \
             so join asks for TLS there. Refusing to connect.\n\
             Someone may be impersonating the server, or another server without TLS uses that port now. \
             If that is expected, forget the pin with `{forget}` and connect again."
        ),
    }
}

/// `join --forget-host HOST:PORT`: forget what known_hosts remembers of
/// it, and say what (or that there was nothing).
pub(crate) fn forget_host(target: &str) -> anyhow::Result<String> {
    let Some(file) = default_path() else {
        anyhow::bail!(
            "this system has no data directory, so there is no known_hosts to forget {target} from"
        );
    };
    let gone = forget(&file, target).map_err(|e| anyhow::anyhow!("{e}"))?;
    if gone.is_empty() {
        return Ok(format!(
            "{} remembers nothing of {target}: nothing to forget",
            file.display()
        ));
    }
    let what: Vec<String> = gone
        .iter()
        .map(|(n, what)| format!("{what} (line {n})"))
        .collect();
    Ok(format!(
        "forgot {target} in {}: {}",
        file.display(),
        what.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_found_replaced_and_kept_per_host_and_port() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/known_hosts");
        assert_eq!(lookup(&f, "a:1").unwrap(), None);
        pin(&f, "a:1", "AA:BB").unwrap();
        pin(&f, "b:2", "CC").unwrap();
        pin(&f, "A:1", "DD").unwrap();
        mark_secure_room(&f, "a:1").unwrap();
        assert_eq!(lookup(&f, "a:1").unwrap().as_deref(), Some("DD"));
        assert_eq!(lookup(&f, "b:2").unwrap().as_deref(), Some("CC"));
        assert_eq!(lookup(&f, "b:3").unwrap(), None);
        assert!(is_secure_room(&f, "A:1").unwrap() && !is_secure_room(&f, "b:2").unwrap());
        let text = std::fs::read_to_string(&f).unwrap();
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 3);
        assert!(
            line_of(&f, "b:2", false).ends_with(" line 4"),
            "{}",
            line_of(&f, "b:2", false)
        );
        // Forgetting takes both lines of a:1 and leaves b:2.
        let gone = forget(&f, "A:1").unwrap();
        assert_eq!(gone.len(), 2, "{gone:?}");
        assert_eq!(lookup(&f, "a:1").unwrap(), None);
        assert!(!is_secure_room(&f, "a:1").unwrap());
        assert_eq!(lookup(&f, "b:2").unwrap().as_deref(), Some("CC"));
        assert!(forget(&f, "a:1").unwrap().is_empty());
    }

    #[test]
    fn a_malformed_file_is_an_error_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        std::fs::write(&f, "a:1 AA:BB\ngarbage line here!\n").unwrap();
        let e = lookup(&f, "a:1").unwrap_err().to_string();
        assert!(e.contains("line 2 of"), "{e}");
        assert!(pin(&f, "b:2", "CC").is_err());
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "a:1 AA:BB\ngarbage line here!\n",
            "not wiped"
        );
    }
}
