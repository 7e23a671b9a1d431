//! Direct messages: to a member of this server, else (cluster mode) to the
//! node that has them; the sender gets its copy, or why not.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{End, Session};
use crate::names::sanitize;
use crate::protocol::{codes, Dm, Packet};
use crate::server::room::{Body, Direct, DirectError};

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    pub(super) async fn direct(&mut self, dm: Dm, from: &str) -> Result<Option<Packet>, End> {
        let to = dm.to.trim().to_string();
        let hub = self.ctx.hub.clone();
        let remote = dm.clone();
        let refusal = match hub.direct(from, dm) {
            // The sender's copy: the same line the recipient got; then,
            // if the recipient is away, that it is and why.
            Ok(line) => {
                self.conn.write_bytes(&line).await.map_err(End::Io)?;
                return Ok(hub.away_reply(&to));
            }
            Err(DirectError::NoSuchUser) => match self.ctx.cluster.clone() {
                Some(c) => {
                    let ts = crate::protocol::now_ms();
                    let body = Body {
                        text: remote.text.clone(),
                        payload: remote.payload.clone(),
                        sent: remote.sent,
                        action: remote.action,
                        seq: None,
                    };
                    let direct = Direct {
                        from: from.to_string(),
                        to: to.clone(),
                        body,
                        ts,
                    };
                    if c.direct(direct).await {
                        let mut copy = remote;
                        let (line, _) = crate::server::room::dm_lines(from, &mut copy, ts);
                        return self
                            .conn
                            .write_bytes(&line)
                            .await
                            .map(|()| None)
                            .map_err(End::Io);
                    }
                    DirectError::NoSuchUser
                }
                None => DirectError::NoSuchUser,
            },
            Err(e) => e,
        };
        Ok(Some(match refusal {
            DirectError::NoSuchUser => Packet::error(
                codes::NO_SUCH_USER,
                format!(
                    "nobody called '{}' is here (on this server); not sent",
                    sanitize(&to)
                ),
            ),
            DirectError::InboxFull(n) => Packet::error(
                codes::INBOX_FULL,
                format!(
                    "{} has too many unread direct messages; not sent",
                    sanitize(&n)
                ),
            ),
        }))
    }
}
