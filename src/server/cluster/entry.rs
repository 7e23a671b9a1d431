//! The cluster's wire: the only file that knows Redis key names and stream
//! field letters. Room events and inbox messages are encoded here, and
//! every entry read back is decoded into a typed value and checked — its
//! version, kind, names, sizes, and that a secure room's line carries a
//! sealed payload and no plaintext — before anything reaches a member. An
//! entry that fails is skipped with its reason (the node logs and counts
//! it, and goes on serving); nothing from Redis is passed on as bytes.

pub(crate) use super::keys::{heartbeat, parse_heartbeat, run_node, Keys};
pub(crate) use super::reply::{entries, line_id, read_reply, stream_id, Entry};
use crate::names::check_relayed_name;
use crate::server::body;
use crate::server::room::{Body, Departure, Direct, Relayed, RoomEvent, Said};

/// The entry format this node reads (`v`). It writes none: an entry
/// without `v` is of this version, and a later format will say its own.
const VERSION: &str = "1";

/// Longest node run id (`NODE/STARTED_MS`; a node name is at most 64).
const MAX_RUN_BYTES: usize = 96;

/// Most characters in a presence entry's text (a leave reason).
const MAX_REASON_CHARS: usize = 1000;

/// Why an entry was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Skip {
    #[error("its id '{0}' is not a stream id")]
    Id(String),
    #[error("it is of format version '{0}', this node reads {VERSION}")]
    Version(String),
    #[error("it is of an unknown kind '{0}'")]
    Kind(String),
    #[error("its field '{0}' is missing or malformed")]
    Field(&'static str),
    #[error("its name is not a valid name: {0}")]
    Name(String),
    #[error("its message is refused: {0}")]
    Body(String),
}

impl Skip {
    /// A short word for logs and metrics.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Skip::Id(_) => "id",
            Skip::Version(_) => "version",
            Skip::Kind(_) => "kind",
            Skip::Field(_) => "field",
            Skip::Name(_) => "name",
            Skip::Body(_) => "body",
        }
    }
}

/// What decoding checks an entry against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// The rooms are secure: a line must be sealed.
    pub secure: bool,
    pub max_text_chars: usize,
}

/// Fields of a stream entry.
pub(crate) type Fields = Vec<(&'static str, String)>;

/// A room event as its stream's fields, written by run `origin`.
pub(crate) fn encode(event: &RoomEvent, origin: &str) -> Fields {
    // Version 1 writes no `v` (every entry would carry it, and Redis with
    // it); a later format will.
    let mut f: Fields = Vec::with_capacity(8);
    match event {
        RoomEvent::Said(s) => {
            f.push(("k", "chat".into()));
            f.push(("f", s.from.clone()));
            if let Some(p) = s.port {
                f.push(("p", p.to_string()));
            }
            push_body(&mut f, &s.body);
        }
        RoomEvent::Joined { name } => {
            f.push(("k", "join".into()));
            f.push(("m", name.clone()));
        }
        RoomEvent::Left { name, how } => {
            let (kind, text) = match how {
                Departure::Kicked(why) => ("kick", why.clone()),
                Departure::Parted(why) => ("part", why.clone().unwrap_or_default()),
                Departure::Said(why) => ("leave", why.clone()),
                Departure::Gone => ("leave", String::new()),
            };
            f.push(("k", kind.into()));
            f.push(("m", name.clone()));
            f.push(("x", text));
        }
        RoomEvent::Renamed { old, new } => {
            f.push(("k", "rename".into()));
            f.push(("m", old.clone()));
            f.push(("x", new.clone()));
        }
        RoomEvent::Topic { by, text } => {
            f.push(("k", "topic".into()));
            f.push(("m", by.clone()));
            f.push(("x", text.clone().unwrap_or_default()));
        }
    }
    f.push(("n", origin.to_string()));
    f
}

fn push_body(f: &mut Fields, b: &Body) {
    if let Some(t) = &b.text {
        f.push(("t", t.clone()));
    }
    if let Some(y) = &b.payload {
        f.push(("y", y.clone()));
    }
    if let Some(s) = b.sent {
        f.push(("s", s.to_string()));
    }
    if b.action {
        f.push(("a", "1".into()));
    }
}

fn version(e: &Entry) -> Result<(), Skip> {
    match e.get("v") {
        None | Some(VERSION) => Ok(()),
        Some(v) => Err(Skip::Version(
            crate::names::sanitize(v).chars().take(16).collect(),
        )),
    }
}

fn name(e: &mut Entry, field: &'static str) -> Result<String, Skip> {
    let raw = e.get(field).ok_or(Skip::Field(field))?;
    check_relayed_name(raw).map_err(|err| Skip::Name(err.to_string()))?;
    Ok(e.take(field).unwrap_or_default())
}

/// A bounded free text (a reason, a topic).
fn text(e: &mut Entry, field: &'static str, max: usize) -> Result<Option<String>, Skip> {
    match e.get(field) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > max => Err(Skip::Field(field)),
        Some(_) => Ok(e.take(field)),
    }
}

fn decode_body(e: &mut Entry, rules: &Rules) -> Result<Body, Skip> {
    let sent = match e.get("s") {
        None => None,
        Some(s) => Some(s.parse().map_err(|_| Skip::Field("s"))?),
    };
    let (text, payload) = (e.get("t"), e.get("y"));
    body::check(
        rules.secure,
        rules.max_text_chars,
        payload.is_some(),
        text,
        payload,
    )
    .map_err(|b| Skip::Body(b.message()))?;
    if rules.secure && sent.is_none() {
        return Err(Skip::Field("s"));
    }
    Ok(Body {
        text: e.take("t"),
        payload: e.take("y"),
        sent,
        action: e.get("a").is_some(),
        seq: None,
    })
}

/// A name read from a room's members hash, if it is a valid name.
pub(crate) fn checked_name(raw: &str) -> Option<String> {
    check_relayed_name(raw).ok().map(|()| raw.to_string())
}

/// A room's topic read from Redis, if it is within the rules (else none).
pub(crate) fn checked_topic(raw: &str, rules: &Rules) -> Option<String> {
    let n = raw.chars().count();
    (n > 0 && n <= rules.max_text_chars).then(|| raw.to_string())
}

/// A room's name as shown, read from Redis: a valid room name as it is.
pub(crate) fn checked_room(raw: &str) -> bool {
    crate::names::room_name(raw).is_ok_and(|n| n == raw)
}

/// A run id read from Redis (`NODE/MS`): printable, bounded.
pub(crate) fn checked_run(raw: &str) -> bool {
    !raw.is_empty() && raw.len() <= MAX_RUN_BYTES && raw.bytes().all(|b| b.is_ascii_graphic())
}

/// Decode and check a room's stream entry.
/// Its fields are moved out as they are read (each entry is read once).
pub(crate) fn decode(e: &mut Entry, rules: &Rules) -> Result<Relayed, Skip> {
    let line = line_id(&e.id).ok_or_else(|| Skip::Id(e.id.chars().take(32).collect()))?;
    version(e)?;
    // The writing node's run (`NODE/MS`): kept for presence, so bounded.
    if !e.get("n").is_some_and(checked_run) {
        return Err(Skip::Field("n"));
    }
    let kind = e.take("k").ok_or(Skip::Field("k"))?;
    let reason = |e: &mut Entry, f| text(e, f, MAX_REASON_CHARS);
    let event = match kind.as_str() {
        "chat" => RoomEvent::Said(Said {
            from: name(e, "f")?,
            port: match e.get("p") {
                None => None,
                Some(p) => Some(p.parse().map_err(|_| Skip::Field("p"))?),
            },
            body: decode_body(e, rules)?,
        }),
        "join" => RoomEvent::Joined {
            name: name(e, "m")?,
        },
        "leave" => RoomEvent::Left {
            name: name(e, "m")?,
            how: reason(e, "x")?.map_or(Departure::Gone, Departure::Said),
        },
        "kick" => RoomEvent::Left {
            name: name(e, "m")?,
            how: Departure::Kicked(reason(e, "x")?.unwrap_or_default()),
        },
        "part" => RoomEvent::Left {
            name: name(e, "m")?,
            how: Departure::Parted(reason(e, "x")?),
        },
        "rename" => RoomEvent::Renamed {
            old: name(e, "m")?,
            new: name(e, "x")?,
        },
        "topic" => RoomEvent::Topic {
            by: name(e, "m")?,
            text: text(e, "x", rules.max_text_chars)?,
        },
        other => {
            return Err(Skip::Kind(
                crate::names::sanitize(other).chars().take(16).collect(),
            ))
        }
    };
    Ok(Relayed {
        id: e.id.clone(),
        line,
        event,
        origin: e.take("n").unwrap_or_default(),
        seq: e.take("q").and_then(|q| q.parse().ok()),
    })
}

/// What a node's inbox carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InboxEntry {
    Direct(Direct),
    /// Remove the member called `to` (an operator's kick on another node):
    /// from the server, or from `room` only (a room operator's, `by`).
    Kick {
        to: String,
        reason: String,
        room: Option<String>,
        by: Option<String>,
    },
}

/// An inbox entry's fields.
pub(crate) fn encode_inbox(entry: &InboxEntry) -> Fields {
    // Version 1 writes no `v` (every entry would carry it, and Redis with
    // it); a later format will.
    let mut f: Fields = Vec::with_capacity(8);
    match entry {
        InboxEntry::Direct(d) => {
            f.push(("k", "dm".into()));
            f.push(("f", d.from.clone()));
            f.push(("to", d.to.clone()));
            f.push(("c", d.ts.to_string()));
            push_body(&mut f, &d.body);
        }
        InboxEntry::Kick {
            to,
            reason,
            room,
            by,
        } => {
            f.push(("k", "kick".into()));
            f.push(("to", to.clone()));
            f.push(("x", reason.clone()));
            if let (Some(r), Some(b)) = (room, by) {
                f.push(("r", r.clone()));
                f.push(("b", b.clone()));
            }
        }
    }
    f
}

/// Decode and check an inbox entry.
pub(crate) fn decode_inbox(e: &mut Entry, rules: &Rules) -> Result<InboxEntry, Skip> {
    version(e)?;
    match e.get("k").ok_or(Skip::Field("k"))? {
        "dm" => Ok(InboxEntry::Direct(Direct {
            from: name(e, "f")?,
            to: name(e, "to")?,
            body: decode_body(e, rules)?,
            ts: e
                .get("c")
                .and_then(|c| c.parse().ok())
                .ok_or(Skip::Field("c"))?,
        })),
        "kick" => Ok(InboxEntry::Kick {
            to: name(e, "to")?,
            reason: text(e, "x", MAX_REASON_CHARS)?.unwrap_or_default(),
            room: match e.get("r") {
                Some(r) => Some(crate::names::room_name(r).map_err(|_| Skip::Field("r"))?),
                None => None,
            },
            by: match e.get("b").is_some() {
                true => Some(name(e, "b")?),
                false => None,
            },
        }),
        other => Err(Skip::Kind(
            crate::names::sanitize(other).chars().take(16).collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    const PLAIN: Rules = Rules {
        secure: false,
        max_text_chars: 100,
    };
    const SECURE: Rules = Rules {
        secure: true,
        max_text_chars: 100,
    };

    fn back(event: RoomEvent, rules: &Rules) -> Result<RoomEvent, Skip> {
        let fields = encode(&event, "n1/5");
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        decode(&mut Entry::from_fields("5-1", &f), rules).map(|e| e.event)
    }

    #[test]
    fn stream_ids_and_line_ids_map_both_ways_in_order() {
        let a = line_id("1796097468183-0").unwrap();
        let b = line_id("1796097468183-7").unwrap();
        let c = line_id("1796097468184-0").unwrap();
        assert!(a < b && b < c);
        assert!(c < 1 << 53, "exact as a JSON number");
        assert_eq!(stream_id(b), "1796097468183-7");
        assert_eq!(line_id("nonsense"), None);
    }

    #[test]
    fn every_event_comes_back_as_it_went() {
        let said = |body| {
            RoomEvent::Said(Said {
                from: "ann".into(),
                port: Some(7),
                body,
            })
        };
        let events = [
            said(Body::text("hi")),
            // The operator's line, from another node's console.
            RoomEvent::Said(Said {
                from: "server".into(),
                port: None,
                body: Body::text("maintenance at noon"),
            }),
            RoomEvent::Joined { name: "bob".into() },
            RoomEvent::Left {
                name: "bob".into(),
                how: Departure::Gone,
            },
            RoomEvent::Left {
                name: "bob".into(),
                how: Departure::Said("bye".into()),
            },
            RoomEvent::Left {
                name: "bob".into(),
                how: Departure::Kicked("spam".into()),
            },
            RoomEvent::Left {
                name: "bob".into(),
                how: Departure::Parted(None),
            },
            RoomEvent::Renamed {
                old: "bob".into(),
                new: "rob".into(),
            },
            RoomEvent::Topic {
                by: "ann".into(),
                text: Some("t".into()),
            },
            RoomEvent::Topic {
                by: "ann".into(),
                text: None,
            },
        ];
        for e in events {
            assert_eq!(back(e.clone(), &PLAIN), Ok(e));
        }
        let sealed = said(Body {
            payload: Some("AAAA".into()),
            sent: Some(9),
            ..Default::default()
        });
        assert_eq!(back(sealed.clone(), &SECURE), Ok(sealed));
    }

    #[test]
    fn what_a_hostile_writer_puts_in_redis_is_skipped_with_its_reason() {
        let d = |f: &[(&str, &str)], r: &Rules| decode(&mut Entry::from_fields("5-1", f), r);
        // Plaintext in a secure room: only a forger writes it.
        let forged = [
            ("k", "chat"),
            ("f", "alice"),
            ("t", "FORGED"),
            ("s", "1"),
            ("n", "x/1"),
        ];
        assert!(matches!(d(&forged, &SECURE), Err(Skip::Body(_))));
        let unsent = [("k", "chat"), ("f", "alice"), ("y", "AAAA"), ("n", "x/1")];
        assert_eq!(d(&unsent, &SECURE), Err(Skip::Field("s")));
        let marked = [
            ("k", "chat"),
            ("f", "*** server"),
            ("t", "restart"),
            ("n", "x/1"),
        ];
        assert!(matches!(d(&marked, &PLAIN), Err(Skip::Name(_))));
        let long = "x".repeat(101);
        let big = [
            ("k", "chat"),
            ("f", "ann"),
            ("t", long.as_str()),
            ("n", "x/1"),
        ];
        assert!(matches!(d(&big, &PLAIN), Err(Skip::Body(_))));
        let v2 = [
            ("v", "2"),
            ("k", "chat"),
            ("f", "ann"),
            ("t", "hi"),
            ("n", "x/1"),
        ];
        assert_eq!(d(&v2, &PLAIN), Err(Skip::Version("2".into())));
        let odd = [("k", "boom"), ("m", "ann"), ("n", "x/1")];
        assert_eq!(d(&odd, &PLAIN), Err(Skip::Kind("boom".into())));
        assert_eq!(
            d(&[("k", "join"), ("m", "ann")], &PLAIN),
            Err(Skip::Field("n"))
        );
        let huge = "n".repeat(10_000);
        let run = [("k", "join"), ("m", "ann"), ("n", huge.as_str())];
        assert_eq!(
            d(&run, &PLAIN),
            Err(Skip::Field("n")),
            "a run id is bounded"
        );
        let bad_id = decode(&mut Entry::from_fields("x", &[("k", "join")]), &PLAIN);
        assert!(matches!(bad_id, Err(Skip::Id(_))));
        let dm = [
            ("k", "dm"),
            ("f", "ann"),
            ("to", "bob"),
            ("t", "hi"),
            ("c", "5"),
        ];
        assert!(matches!(
            decode_inbox(&mut Entry::from_fields("1-0", &dm), &SECURE),
            Err(Skip::Body(_))
        ));
        let raw = [("k", "dm"), ("to", "bob"), ("l", "{\"type\":\"system\"}\n")];
        assert_eq!(
            decode_inbox(&mut Entry::from_fields("1-0", &raw), &PLAIN),
            Err(Skip::Field("f"))
        );
    }

    #[test]
    fn stream_replies_parse_without_the_generic_maps() {
        let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let entry = |id: &str, kv: &[&str]| {
            Value::Array(vec![b(id), Value::Array(kv.iter().map(|s| b(s)).collect())])
        };
        let reply = Value::Array(vec![Value::Array(vec![
            b("tcpplay:room:#a:log"),
            Value::Array(vec![
                entry(
                    "5-1",
                    &["k", "chat", "f", "ann", "t", "hi", "p", "7", "n", "a/1"],
                ),
                entry("6-0", &["k", "join", "m", "bob", "n", "a/1"]),
            ]),
        ])]);
        let mut keys = read_reply(reply);
        assert_eq!(keys.len(), 1);
        let (key, ids) = &mut keys[0];
        assert_eq!(key, "tcpplay:room:#a:log");
        let chat = decode(&mut ids[0], &PLAIN).unwrap();
        assert_eq!(chat.line, line_id("5-1").unwrap());
        assert!(matches!(
            chat.event,
            RoomEvent::Said(Said { port: Some(7), .. })
        ));
        assert!(read_reply(Value::Nil).is_empty());
    }
}
