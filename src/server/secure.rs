//! The server's half of a secure room: the room's OPAQUE record (never the
//! password), where it is kept, and the `hello.auth` it offers. The server
//! relays sealed messages as they came and cannot open them; its operator
//! can, after `/unlock` on the console with the room password.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::crypto::room::{RoomRecord, SCHEME};
use crate::crypto::{self, CryptoError, RoomKey};
use crate::protocol::AuthParams;
use crate::secret::Password;

use super::history::HistoryDb;

/// A password-protected room, as its server holds it.
pub(crate) struct SecureRoom {
    pub record: RoomRecord,
    /// The message key, only after the operator unlocked the console.
    console_key: Mutex<Option<Arc<RoomKey>>>,
}

impl std::fmt::Debug for SecureRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureRoom").finish_non_exhaustive()
    }
}

/// Why a secure room could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Crypto(#[from] CryptoError),
}

/// Where the room's record comes from.
pub(crate) struct RecordSource<'a> {
    /// `--room-record FILE` (made by `tcpplay gen-room`): no password needed.
    pub file: Option<&'a Path>,
    /// The history database, which keeps the record beside the messages.
    pub history: Option<&'a HistoryDb>,
    /// Cluster mode: the record the cluster keeps in Redis (every node
    /// serves the same room).
    pub cluster: Option<&'a [u8]>,
}

impl SecureRoom {
    pub(crate) fn new(record: RoomRecord) -> SecureRoom {
        SecureRoom {
            record,
            console_key: Mutex::new(None),
        }
    }

    /// Set up the room: its record from a file, else from the history, else
    /// registered now from `password` (then kept in the history, so a restart
    /// needs no password). A password given for a stored room is checked
    /// against it. The password is dropped here; Argon2id runs on a blocking
    /// thread.
    pub(crate) async fn start(
        password: Option<Password>,
        from: RecordSource<'_>,
    ) -> Result<SecureRoom, SetupError> {
        let stored = match (from.file, from.history) {
            (Some(f), _) => Some(read_record(f)?),
            (None, _) if from.cluster.is_some() => Some(
                RoomRecord::from_bytes(from.cluster.unwrap_or_default()).map_err(|_| {
                    SetupError::Usage(
                        "the room record the cluster keeps in Redis is damaged".into(),
                    )
                })?,
            ),
            (None, Some(db)) => db
                .room_record()
                .map_err(|e| SetupError::Usage(format!("history {e}")))?
                .map(|b| RoomRecord::from_bytes(&b))
                .transpose()
                .map_err(|_| SetupError::Usage("the room record kept with the history is damaged: give the room a new one with --reset-room".into()))?,
            (None, None) => None,
        };
        let (record, fresh) = match (stored, password) {
            (Some(r), None) => (r, false),
            (Some(r), Some(pw)) => {
                let (r, ok) = tokio::task::spawn_blocking(move || {
                    let ok = r.unlock(pw.as_bytes()).is_some();
                    (r, ok)
                })
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
                if !ok {
                    return Err(SetupError::Usage(
                        "the password given is not this room's (its record is kept with the history, or in the \
                         --room-record file): serve without a password, give the room's, or start a new room \
                         with --reset-room (its old messages will be unreadable)"
                            .into(),
                    ));
                }
                (r, false)
            }
            (None, Some(pw)) => {
                let r = tokio::task::spawn_blocking(move || RoomRecord::register(pw.as_bytes()))
                    .await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
                (r, true)
            }
            (None, None) => {
                return Err(SetupError::Usage(
                    "this secure room has no record yet: give its password once (prompt, --password-file or \
                     TCPPLAY_PASSWORD), or a record made by `tcpplay gen-room` with --room-record FILE"
                        .into(),
                ))
            }
        };
        if fresh && from.file.is_none() {
            if let Some(db) = from.history {
                if let Err(e) = db.keep_room_record(&record.to_bytes()) {
                    tracing::warn!("history: cannot keep the room record ({e}); after a restart the room will need its password again");
                }
            }
        }
        Ok(SecureRoom::new(record))
    }

    /// The room's record, as stored (cluster mode shares it through Redis).
    pub(crate) fn record_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        self.record.to_bytes()
    }

    /// What `hello.auth` carries.
    pub(crate) fn offer(&self) -> AuthParams {
        AuthParams {
            scheme: SCHEME.into(),
            room: crypto::b64(&self.record.id),
        }
    }

    /// The console's key, once unlocked.
    pub(crate) fn console_key(&self) -> Option<Arc<RoomKey>> {
        self.console_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Unlock the console with the room password (slow: Argon2id); false
    /// when it is not the room's.
    pub(crate) fn unlock(&self, password: &[u8]) -> bool {
        crypto::no_core_dumps();
        match self.record.unlock(password) {
            Some(k) => {
                *self.console_key.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(k));
                true
            }
            None => false,
        }
    }
}

/// A `--room-record` file.
pub(crate) fn read_record(path: &Path) -> Result<RoomRecord, SetupError> {
    crate::secret::warn_if_readable_by_others(path);
    let text = std::fs::read_to_string(path).map_err(|e| {
        SetupError::Usage(format!(
            "cannot read the room record {}: {e} (make one with `tcpplay gen-room --out {}`)",
            path.display(),
            path.display()
        ))
    })?;
    parse_record_file(&text).ok_or_else(|| {
        SetupError::Usage(format!(
            "{} is not a tcpplay room record (make one with `tcpplay gen-room`)",
            path.display()
        ))
    })
}

/// The text of a room record file: a header line and the record in base64.
pub(crate) fn record_file_text(record: &RoomRecord) -> String {
    format!(
        "# tcpplay secure room record (no password in it; keep it private)\n{}\n",
        crypto::b64(&record.to_bytes())
    )
}

fn parse_record_file(text: &str) -> Option<RoomRecord> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    RoomRecord::from_bytes(&crypto::unb64(line)?).ok()
}
