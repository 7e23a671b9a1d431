//! The packets of accounts and room operators: `account` (register, change
//! the password, unregister, bind a certificate) and `moderate` (an
//! operator's kick, ban, mute, invite and room modes). Each is answered by
//! an `account` with `op: "done"` and words, or an `error` with a code.

use serde::{Deserialize, Serialize};

/// What an `account` packet does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum AccountOp {
    /// Register the current name: `request`, then `response`, then `upload`.
    Register,
    /// A new password for the account one is logged in to (same steps).
    Password,
    /// Drop the account one is logged in to.
    Unregister,
    /// Bind this connection's client certificate to one's account.
    CertfpAdd,
    /// Unbind a certificate (`fp`), or this connection's.
    CertfpDel,
    /// The certificates bound to one's account (answered in `fps`).
    CertfpList,
    /// A one-time link that signs this account in on the browser page
    /// (answered with `done`, the token in `token`).
    Signin,
    /// Server to client: it is done (`text` says what).
    Done,
    /// An operation this build does not know.
    #[serde(other)]
    Unknown,
}

/// `account`, both ways.
#[serde_with::skip_serializing_none]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct AccountMsg {
    pub op: AccountOp,
    /// Registration: the client's request (base64).
    pub request: Option<String>,
    /// Registration: the server's response (base64).
    pub response: Option<String>,
    /// Registration: the client's upload, which the server keeps (base64).
    pub upload: Option<String>,
    /// A certificate's SHA-256 fingerprint (hex).
    pub fp: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fps: Vec<String>,
    /// `done` answering `signin`: the one-time token.
    pub token: Option<String>,
    /// `done`: what was done, for people.
    pub text: Option<String>,
}

impl AccountMsg {
    pub fn new(op: AccountOp) -> AccountMsg {
        AccountMsg {
            op,
            request: None,
            response: None,
            upload: None,
            fp: None,
            fps: Vec::new(),
            token: None,
            text: None,
        }
    }
}

impl std::fmt::Debug for AccountMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountMsg")
            .field("op", &self.op)
            .finish_non_exhaustive()
    }
}

/// What an operator does with `moderate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum ModAction {
    /// Take `target` out of the room.
    Kick,
    /// Keep `target` (a name, `account:NAME` or `address:IP`) out, for
    /// `duration` seconds or for good.
    Ban,
    Unban,
    /// `target`'s lines are refused in the room.
    Mute,
    Unmute,
    /// Let `target` into an invite-only room.
    Invite,
    /// Make `target`'s account an operator of the room.
    Op,
    Deop,
    /// `on`: only operators and the invited may join.
    InviteOnly,
    /// `on`: only operators may set the topic.
    TopicLock,
    /// List the room's bans, mutes and operators (answered in words).
    List,
    #[serde(other)]
    Unknown,
}

/// `moderate`, client to server.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Moderate {
    pub action: ModAction,
    /// The room (absent: the default room).
    pub room: Option<String>,
    pub target: Option<String>,
    /// Seconds a ban or mute lasts (absent: until lifted).
    pub duration: Option<u64>,
    pub reason: Option<String>,
    /// `invite_only`, `topic_lock`: on or off.
    pub on: Option<bool>,
}
