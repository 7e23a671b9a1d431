//! What is said in a room: a chat line (to the relay first in a cluster,
//! else straight into the room's feed, the console and the history, with
//! its id and time from one constructor), and the room's topic and message.

use std::sync::{Arc, MutexGuard};

use super::{NotSent, Registry, Room, RoomEvent, Said};
use crate::protocol::fast::{self, Form};
use crate::protocol::{now_ms, Chat, Packet};

/// A chat line's content: text in a plaintext room; in a secure room a
/// sealed payload and the sender's clock, relayed as they came.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Body {
    pub text: Option<String>,
    pub payload: Option<String>,
    pub sent: Option<u64>,
    /// `/me`.
    pub action: bool,
    /// The sender's `seq` for it (kept on its node, never relayed): a
    /// refusal that comes later answers it.
    pub seq: Option<u64>,
}

impl Body {
    pub(crate) fn text(text: impl Into<String>) -> Body {
        Body {
            text: Some(text.into()),
            ..Default::default()
        }
    }
}

/// Who sent a chat line.
pub(crate) enum Speaker<'a> {
    Member { name: &'a str, port: u16 },
    Server,
}

impl Room {
    /// Broadcast a chat line to the room, its sender included. The packet gets
    /// the next id and the server time; it is serialized once for all.
    /// Refused only in a cluster whose link is down too long (`NotSent`).
    pub(crate) fn chat(self: &Arc<Self>, from: Speaker<'_>, body: Body) -> Result<(), NotSent> {
        self.chat_and(from, body, true)
    }

    /// [`chat`](Self::chat), leaving the readers asleep: a session with more
    /// lines already read publishes them all, then wakes the readers once
    /// ([`wake_readers`](Self::wake_readers)), so that they write them in
    /// one go.
    pub(crate) fn chat_batched(
        self: &Arc<Self>,
        from: Speaker<'_>,
        body: Body,
    ) -> Result<(), NotSent> {
        self.chat_and(from, body, false)
    }

    /// Wake the members waiting for what was published.
    pub(crate) fn wake_readers(&self) {
        self.feed.wake();
        if let Some(legacy) = self.legacy_feed() {
            legacy.wake();
        }
    }

    pub(super) fn chat_and(
        self: &Arc<Self>,
        from: Speaker<'_>,
        body: Body,
        wake: bool,
    ) -> Result<(), NotSent> {
        let (from, port) = match from {
            Speaker::Member { name, port } => (name.to_string(), Some(port)),
            Speaker::Server => ("server".to_string(), None),
        };
        let said = Said { from, port, body };
        if let Some(c) = &self.shared.relay {
            // Every node (this one too) delivers it from the room's stream.
            c.publish(self, RoomEvent::Said(said))?;
            self.own
                .sent
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            return Ok(());
        }
        let mut reg = self.lock();
        self.flush_presence(&mut reg);
        let chat = self.chat_of(said, self.shared.next_chat(), now_ms());
        self.publish_chat(reg, chat, wake);
        Ok(())
    }

    /// The one way a chat line becomes the packet members get: id `id`,
    /// server time `ts`, this room's tag.
    pub(crate) fn chat_of(&self, said: Said, id: u64, ts: u64) -> Chat {
        let Body {
            text,
            payload,
            sent,
            action,
            seq: _,
        } = said.body;
        Chat {
            encrypted: payload.is_some(),
            from: Some(said.from),
            port: said.port,
            text,
            payload,
            id: Some(id),
            ts: Some(ts),
            action,
            sent,
            room: self.tag.clone(),
            seq: None,
        }
    }

    /// Publish a chat line under the registry lock (callers hold it, with
    /// presence flushed): into the history's queue, the feed, the console.
    ///
    /// The history comes first, under the lock: lines reach its queue in id
    /// order, and before any member can read them — so a `fetch_history`
    /// answered after a member saw a line answers after that line is on
    /// disk (docs/PROTOCOL.md, "What a stored line survives"). Queueing is
    /// a push on a list the writer takes whole: the room never waits on
    /// the disk.
    pub(super) fn publish_chat(&self, mut reg: MutexGuard<'_, Registry>, chat: Chat, wake: bool) {
        let chat = match &self.shared.history {
            Some(store) => {
                let chat = Arc::new(chat);
                store.record(chat.clone());
                let replay = self.shared.replay;
                if let Some(recent) = reg.recent.as_mut().filter(|_| replay > 0) {
                    if recent.len() >= replay {
                        recent.pop_front();
                    }
                    recent.push_back(chat.clone());
                }
                Stored::Shared(chat)
            }
            None => Stored::Own(chat),
        };
        let chat: &Chat = &chat;
        // Serialized straight into the feed (the hot path), once per form
        // its members read.
        self.feed
            .publish_with(wake, |out| fast::write_chat_line(out, chat, Form::Compact));
        if let Some(legacy) = self.legacy_feed() {
            legacy.publish_with(wake, |out| fast::write_chat_line(out, chat, Form::Legacy));
        }
        if self.shared.console.get().is_some_and(|t| t.chat) {
            self.shared
                .console(Packet::Chat(chat.clone()).to_line(), true);
        }
        drop(reg);
    }

    pub(crate) fn topic(&self) -> Option<String> {
        self.lock().topic.clone()
    }

    /// Set (or clear, with `None`) the topic; the room is told who did
    /// (on every node: in a cluster the topic takes the stream's order, so
    /// every node applies it from there, this one too).
    pub(crate) fn set_topic(self: &Arc<Self>, topic: Option<String>, by: &str) {
        if let Some(c) = &self.shared.relay {
            let event = RoomEvent::Topic {
                by: by.to_string(),
                text: topic,
            };
            // Never refused: only chat lines are.
            let _ = c.publish(self, event);
            return;
        }
        self.apply_topic(topic, by);
    }

    pub(super) fn apply_topic(&self, topic: Option<String>, by: &str) {
        let mut reg = self.lock();
        if reg.topic == topic {
            return;
        }
        reg.topic = topic.clone();
        self.flush_presence(&mut reg);
        let text = match &topic {
            Some(t) => format!("{by} set the topic of {}: {t}", self.name),
            None => format!("{by} cleared the topic of {}", self.name),
        };
        let line = self
            .tagged(Packet::event("topic", Some(by), text))
            .to_line();
        self.publish_locked(&mut reg, line, false);
    }

    /// The operator's message for whoever joins this room.
    pub(crate) fn motd(&self) -> Option<String> {
        self.lock().motd.clone()
    }

    pub(crate) fn set_motd(&self, motd: Option<String>) {
        self.lock().motd = motd;
    }
}

/// A published line: shared with the history's queue, or the room's alone
/// (no history: no allocation for sharing).
enum Stored {
    Shared(Arc<Chat>),
    Own(Chat),
}

impl std::ops::Deref for Stored {
    type Target = Chat;
    fn deref(&self) -> &Chat {
        match self {
            Stored::Shared(c) => c,
            Stored::Own(c) => c,
        }
    }
}
