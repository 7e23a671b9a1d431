//! What one IRC connection's translator knows: its capabilities, its
//! registration, its nick and channels, the names it has shown, and what
//! the session's next answers are for. `commands` (client → session) and
//! `render` (session → client) both work on it; [`super::io`] owns it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::BytesMut;

use super::nick::Nicks;
use crate::protocol::irc::Message;
use crate::protocol::Packet;
use crate::server::Ctx;

/// Most commands held while registration is answered.
pub(super) const HELD: usize = 32;

/// The server's name in prefixes and numerics.
pub(super) const SERVER: &str = "tcpplay";

/// The IRCv3 capabilities this listener offers: one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cap {
    ServerTime,
    MessageTags,
    EchoMessage,
    MultiPrefix,
    Batch,
    AwayNotify,
    AccountTag,
    ExtendedJoin,
}

impl Cap {
    pub(super) const ALL: [Cap; 8] = [
        Cap::ServerTime,
        Cap::MessageTags,
        Cap::EchoMessage,
        Cap::MultiPrefix,
        Cap::Batch,
        Cap::AwayNotify,
        Cap::AccountTag,
        Cap::ExtendedJoin,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Cap::ServerTime => "server-time",
            Cap::MessageTags => "message-tags",
            Cap::EchoMessage => "echo-message",
            Cap::MultiPrefix => "multi-prefix",
            Cap::Batch => "batch",
            Cap::AwayNotify => "away-notify",
            Cap::AccountTag => "account-tag",
            Cap::ExtendedJoin => "extended-join",
        }
    }

    pub(super) fn named(s: &str) -> Option<Cap> {
        Cap::ALL.into_iter().find(|c| c.name() == s)
    }

    fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

/// What an answer the session will send is for (it answers in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Asked {
    /// `users` for NAMES (after JOIN, or asked).
    Names,
    /// `users` for WHO.
    Who,
}

/// Registration: what the client has said so far.
#[derive(Default)]
pub(super) struct Registration {
    pub nick: Option<String>,
    pub user: Option<String>,
    /// `CAP LS`/`REQ` seen and no `CAP END` yet.
    pub cap_hold: bool,
    /// `auth` staged for the session; waiting for its answer.
    pub auth_sent: bool,
}

/// One connection's translator state.
pub(super) struct State {
    pub ctx: Arc<Ctx>,
    caps: u16,
    pub reg: Registration,
    /// The member's name (and nick) once registered.
    pub me: Option<String>,
    pub nicks: Nicks,
    /// The rooms the member is in, with their topics.
    pub channels: BTreeMap<String, Option<String>>,
    /// `users` asked for, with the room (a refused one leaves its entry
    /// behind: answers are matched by room, and at most 64 are kept).
    pub asked: VecDeque<(Asked, String)>,
    /// Line numbers of chat and DMs sent, with their target (for errors).
    pub seqs: VecDeque<(u64, String)>,
    pub next_seq: u64,
    /// The history batch open: its id and room.
    pub batch: Option<(String, String)>,
    pub batches: u64,
    /// The last rename shown (a rename comes once from each shared room).
    pub last_rename: Option<(String, String)>,
    /// Names whose QUIT was shown (a leave comes from each shared room).
    pub quit: Vec<String>,
    /// AWAY sent, its 305/306 not yet (the first room's notice answers).
    pub away_asked: bool,
    /// The last away change shown (it comes once from each shared room).
    pub last_away: Option<(String, Option<String>)>,
    /// Commands sent after NICK and USER, before the session's answer:
    /// handled once registered (at most [`HELD`]).
    pub held: Vec<Message>,
    /// The account this connection's client certificate is bound to: the
    /// only one SASL EXTERNAL is offered for.
    pub cert_account: Option<String>,
    /// SASL PLAIN is offered (`[irc] sasl_plain`, over TLS, with accounts).
    pub sasl_plain: bool,
    pub sasl: Sasl,
    /// PLAIN verified: the one-time sign-in token the session's `auth`
    /// logs in to the account with (never shown, never logged).
    pub signin: Option<String>,
    /// Packets for the session.
    pub staged: BytesMut,
    /// Lines for the client.
    pub out: BytesMut,
    /// The client is gone, or must go: end the session's input.
    pub ended: bool,
}

impl State {
    pub(super) fn new(ctx: Arc<Ctx>) -> State {
        State {
            ctx,
            caps: 0,
            reg: Registration::default(),
            me: None,
            nicks: Nicks::default(),
            channels: BTreeMap::new(),
            asked: VecDeque::new(),
            seqs: VecDeque::new(),
            next_seq: 1,
            batch: None,
            batches: 0,
            last_rename: None,
            quit: Vec::new(),
            away_asked: false,
            last_away: None,
            held: Vec::new(),
            cert_account: None,
            sasl_plain: false,
            sasl: Sasl::Idle,
            signin: None,
            staged: BytesMut::new(),
            out: BytesMut::new(),
            ended: false,
        }
    }

    pub(super) fn has(&self, cap: Cap) -> bool {
        self.caps & cap.bit() != 0
    }

    pub(super) fn set(&mut self, cap: Cap, on: bool) {
        match on {
            true => self.caps |= cap.bit(),
            false => self.caps &= !cap.bit(),
        }
    }

    /// Hand `p` to the session.
    pub(super) fn stage(&mut self, p: &Packet) {
        self.staged.extend_from_slice(&p.to_line());
    }

    /// Send `m` to the client.
    pub(super) fn send(&mut self, m: Message) {
        self.out.extend_from_slice(m.to_line().as_bytes());
    }

    /// The client's nick, `*` before it has one.
    pub(super) fn nick(&self) -> String {
        self.me
            .clone()
            .or_else(|| self.reg.nick.clone())
            .unwrap_or_else(|| "*".into())
    }

    /// A numeric reply to the client: `:tcpplay NNN nick params...`.
    pub(super) fn numeric(&mut self, code: &str, params: &[&str]) {
        let mut all = vec![self.nick()];
        all.extend(params.iter().map(|p| p.to_string()));
        self.send(Message::new(Some(SERVER), code, all));
    }

    /// A NOTICE from the server to the client.
    pub(super) fn notice(&mut self, text: &str) {
        let to = self.nick();
        self.send(Message::new(
            Some(SERVER),
            "NOTICE",
            vec![to, text.to_string()],
        ));
    }

    /// `name`'s JOIN of `room`: with `extended-join`, its account (`*`: a
    /// guest, or a member of another node whose account this one does
    /// not know) and its name as realname.
    pub(super) fn join_line(&mut self, name: &str, room: &str) -> Message {
        let prefix = self.prefix_of(name);
        let mut params = vec![room.to_string()];
        if self.has(Cap::ExtendedJoin) {
            let account = self.account_of(name);
            params.push(account.unwrap_or_else(|| "*".into()));
            params.push(name.to_string());
        }
        Message::new(Some(&prefix), "JOIN", params)
    }

    /// The account the member of this server called `name` logged in to,
    /// as IRC names it (accounts are names: by its nick, so one with a
    /// space is one word); `None` for a guest or a member of another node.
    pub(super) fn account_of(&mut self, name: &str) -> Option<String> {
        let account = self.ctx.hub.account_of(name)?;
        Some(self.nicks.nick_of(&account))
    }

    /// The prefix of `name`'s lines: `nick!u@tcpplay`.
    pub(super) fn prefix_of(&mut self, name: &str) -> String {
        format!("{}!u@tcpplay", self.nicks.nick_of(name))
    }

    /// The default room's name (lines without a `room` are its).
    pub(super) fn default_room(&self) -> String {
        self.ctx.hub.default_room().name().to_string()
    }

    pub(super) fn room_or_default(&self, room: Option<&str>) -> String {
        room.map(str::to_string)
            .unwrap_or_else(|| self.default_room())
    }

    /// A number for a chat line or DM to `target`.
    pub(super) fn seq_for(&mut self, target: &str) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.seqs.len() >= 256 {
            self.seqs.pop_front();
        }
        self.seqs.push_back((seq, target.to_string()));
        seq
    }

    pub(super) fn target_of(&self, seq: Option<u64>) -> Option<String> {
        let seq = seq?;
        self.seqs
            .iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, t)| t.clone())
    }
}

/// Where a SASL exchange is (`sasl.rs` runs it).
// No Debug: a PLAIN message under way holds a password.
#[derive(Clone, PartialEq, Eq, Default)]
pub(super) enum Sasl {
    #[default]
    Idle,
    /// `AUTHENTICATE EXTERNAL` answered with `+`: the client's turn.
    Asked,
    /// `AUTHENTICATE PLAIN` answered with `+`: the client's credentials,
    /// base64, in 400-byte pieces (what came so far).
    AskedPlain(zeroize::Zeroizing<String>),
    /// Logged in: the account's name is the name asked for.
    Done(String),
}
