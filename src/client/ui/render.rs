//! How received packets are shown: one line for people (terminal-safe,
//! optionally coloured and timestamped), or one JSON object per event
//! (`--json`, escaped so that it is terminal-safe too).

use console::{Color, Style};

use crate::names::{name_key, sanitize};
use crate::protocol::{self, Packet};

/// How received events are shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct View {
    /// One JSON object per event.
    pub json: bool,
    /// `[HH:MM:SS]` before each line (local time).
    pub timestamps: bool,
    /// ANSI colours (only on a terminal, never with `NO_COLOR`).
    pub color: bool,
    /// Ring the terminal bell on a line that names us (on a terminal,
    /// unless `join.bell = false` / `--no-bell`).
    pub bell: bool,
}

/// How a line from the server itself begins. No member's line can: a chat
/// line begins with a name, an action with `* ` and a name, and names may
/// not begin with `*`, `[` or `!` (see `names::MARKS`).
pub(crate) const SYSTEM_MARK: &str = "*** ";

const UNDECRYPTABLE: &str =
    "[a sealed message that does not open here: altered, replayed, or not from whom it says]";

/// `HH:MM:SS` of a time in ms since the epoch, in local time where known.
pub fn clock(ms: u64) -> String {
    let utc = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let t = utc.to_offset(local_offset());
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

static LOCAL_OFFSET: std::sync::OnceLock<time::UtcOffset> = std::sync::OnceLock::new();

/// Read the local time zone's offset. Call at start-up, while the program
/// has one thread: the `time` crate will not read it later (reading the
/// environment beside other threads is not sound on Unix).
pub fn init_local_offset() {
    let offset = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    let _ = LOCAL_OFFSET.set(offset);
}

fn local_offset() -> time::UtcOffset {
    *LOCAL_OFFSET.get().unwrap_or(&time::UtcOffset::UTC)
}

/// "3 s", "12 min", "2 h", "4 d".
fn ago(ms: u64) -> String {
    let s = protocol::now_ms().saturating_sub(ms) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// Styles when colour is on ([`View::color`]), plain text otherwise.
struct Paint(bool);

impl Paint {
    fn with(&self, style: Style, s: &str) -> String {
        if self.0 {
            style.force_styling(true).apply_to(s).to_string()
        } else {
            s.to_string()
        }
    }
    fn dim(&self, s: &str) -> String {
        self.with(Style::new().dim(), s)
    }
    /// A stable colour per sender name (same name, same colour); own name bold.
    fn sender(&self, name: &str, me: &str) -> String {
        if name_key(name) == name_key(me) {
            return self.with(Style::new().bold(), name);
        }
        const COLOURS: [Color; 6] = [
            Color::Red,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::Cyan,
        ];
        let h = name_key(name)
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        self.with(Style::new().fg(COLOURS[h as usize % COLOURS.len()]), name)
    }
}

/// The room a packet belongs to: `Some(its room field)` for what happens in
/// a room (`Some(None)`: the default room), `None` for the rest.
pub(crate) fn room_of(packet: &Packet) -> Option<Option<&str>> {
    match packet {
        Packet::Chat(c) | Packet::History(c) => Some(c.room.as_deref()),
        Packet::System(s) if s.event.as_deref() == Some("rename") => None,
        Packet::System(s) => Some(s.room.as_deref()),
        Packet::Count(c) => Some(c.room.as_deref()),
        Packet::Users(u) => Some(u.room.as_deref()),
        Packet::HistoryEnd(h) => Some(h.room.as_deref()),
        Packet::Error(e) => e.room.as_deref().map(Some),
        _ => None,
    }
}

/// A live chat line from someone else that names `me` as a word
/// (case-insensitively; "bob" in "Bob, look" or "@bob", not in "bobsled").
pub fn mentions(packet: &Packet, me: &str) -> bool {
    match packet {
        Packet::Chat(c) => names_me(c, me),
        _ => false,
    }
}

/// A readable line from someone else naming `me` (see [`mentions`]).
fn names_me(c: &protocol::Chat, me: &str) -> bool {
    let (Some(text), Some(from)) = (&c.text, &c.from) else {
        return false;
    };
    !c.encrypted && !me.is_empty() && name_key(from) != name_key(me) && names_word(text, me)
}

/// `word` occurs in `text` with no letter, digit, `_` or `-` right before or after it.
fn names_word(text: &str, word: &str) -> bool {
    let (text, word) = (text.to_lowercase(), word.to_lowercase());
    let inside = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    text.match_indices(&word).any(|(at, w)| {
        let before = text[..at].chars().next_back();
        let after = text[at + w.len()..].chars().next();
        !before.is_some_and(inside) && !after.is_some_and(inside)
    })
}

/// Render one packet as a line for people (`None`: nothing to show). `me` is
/// our current name (own lines and direct messages are shown as such).
pub fn render(packet: &Packet, view: &View, me: &str) -> Option<String> {
    let paint = Paint(view.color);
    Some(match packet {
        Packet::Chat(c) | Packet::History(c) => {
            chat_line(c, matches!(packet, Packet::History(_)), view, &paint, me)
        }
        Packet::Dm(d) => dm_line(d, view, &paint, me),
        Packet::HistoryEnd(h) if h.count == 0 => paint.dim("-- no older messages --"),
        Packet::HistoryEnd(h) => {
            let older = if h.more { "; /history for older" } else { "" };
            paint.dim(&format!(
                "-- {} above{older} --",
                crate::output::plural(h.count, "earlier message", "earlier messages")
            ))
        }
        Packet::System(s) if s.event.as_deref() == Some("motd") => paint.with(
            Style::new().bold(),
            &format!(
                "{SYSTEM_MARK}message of the day: {}",
                sanitize(s.text.trim())
            ),
        ),
        Packet::System(s) => format!(
            "{}{}",
            stamp(view, None),
            paint.dim(&format!("{SYSTEM_MARK}{}", sanitize(s.text.trim())))
        ),
        Packet::Count(c) => paint.dim(&format!("{SYSTEM_MARK}{} connected", c.total)),
        Packet::Users(u) => users_line(u),
        Packet::Error(e) => paint.with(
            Style::new().red(),
            &format!("! {} ({})", sanitize(&e.message), sanitize(&e.code)),
        ),
        Packet::Joined(j) => {
            let topic = j
                .topic
                .as_deref()
                .map(|t| format!("; topic: {}", sanitize(t)))
                .unwrap_or_default();
            let here = format!(
                "{SYSTEM_MARK}you joined {} ({} here{topic})",
                sanitize(&j.room),
                j.total
            );
            paint.with(Style::new().bold(), &here)
        }
        Packet::Parted(p) => {
            let why = p
                .reason
                .as_deref()
                .map(|r| format!(" ({})", sanitize(r)))
                .unwrap_or_default();
            format!("{SYSTEM_MARK}you left {}{why}", sanitize(&p.room))
        }
        Packet::Rooms(r) => rooms_lines(r),
        Packet::Account(a) => format!("{SYSTEM_MARK}{}", sanitize(a.text.as_deref()?.trim())),
        _ => return None,
    })
}

/// `[HH:MM:SS] ` when timestamps are on (now, when the packet has no time).
fn stamp(view: &View, ts: Option<u64>) -> String {
    match view.timestamps {
        true => format!("[{}] ", clock(ts.unwrap_or_else(protocol::now_ms))),
        false => String::new(),
    }
}

/// A text as shown: escaped, or the mark of one that did not open.
fn body(text: &Option<String>, encrypted: bool) -> String {
    match (text, encrypted) {
        (Some(t), false) => sanitize(t).into_owned(),
        _ => UNDECRYPTABLE.into(),
    }
}

/// A chat line or action, live or from history.
fn chat_line(c: &protocol::Chat, history: bool, view: &View, paint: &Paint, me: &str) -> String {
    let from = paint.sender(&sanitize(c.from.as_deref().unwrap_or("?")), me);
    let mut text = body(&c.text, c.encrypted);
    if !history && names_me(c, me) {
        text = paint.with(Style::new().bold().yellow(), &text);
    }
    let line = match c.action {
        true => format!("* {from} {text}"),
        false => format!("{from}: {text}"),
    };
    match history {
        true => paint.dim(&format!(
            "[history {}] {line}",
            clock(c.ts.unwrap_or_default())
        )),
        false => format!("{}{line}", stamp(view, c.ts)),
    }
}

/// A direct message, to us or (our own, echoed) from us.
fn dm_line(d: &protocol::Dm, view: &View, paint: &Paint, me: &str) -> String {
    let from = d.from.as_deref().unwrap_or("?");
    let text = body(&d.text, d.encrypted);
    let head = match name_key(from) == name_key(me) {
        true => format!("[dm to {}]", sanitize(&d.to)),
        false => format!("[dm from {}]", sanitize(from)),
    };
    let text = match d.action {
        true => format!("* {} {text}", sanitize(from)),
        false => text,
    };
    let head = paint.with(Style::new().bold().magenta(), &head);
    format!("{}{head} {text}", stamp(view, d.ts))
}

/// Who is here, with how long each has been.
fn users_line(u: &protocol::Users) -> String {
    let list: Vec<String> = u
        .users
        .iter()
        .map(|x| {
            // @ an operator of the room, + logged in to an account (as IRC marks them).
            let mark = match (x.op, &x.account) {
                (true, _) => "@",
                (false, Some(_)) => "+",
                _ => "",
            };
            let away = match &x.away {
                Some(why) => format!(" (away: {})", sanitize(why)),
                None => String::new(),
            };
            // A member of another node of a cluster: its join time is unknown (0).
            match x.since {
                0 => format!("{mark}{}{away}", sanitize(&x.name)),
                since => format!("{mark}{} ({}){away}", sanitize(&x.name), ago(since)),
            }
        })
        .collect();
    let total = u.total.unwrap_or(u.users.len() as u64);
    let more = match total.saturating_sub(u.users.len() as u64) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!("{SYSTEM_MARK}{total} here: {}{more}", list.join(", "))
}

/// The rooms, one a line, with their members and topics.
fn rooms_lines(r: &protocol::Rooms) -> String {
    let mut out = format!(
        "{SYSTEM_MARK}{}:",
        crate::output::plural(r.total.unwrap_or(r.rooms.len() as u64), "room", "rooms")
    );
    for x in &r.rooms {
        let topic = x
            .topic
            .as_deref()
            .map(|t| format!(": {}", sanitize(t)))
            .unwrap_or_default();
        out.push_str(&format!("\n    {} [{}]{topic}", sanitize(&x.room), x.total));
    }
    out
}

/// Render one packet as a JSON event (`None`: nothing to show); `room`:
/// the room it happened in, when the server has rooms; `sealed`: a member's
/// line that a secure room's key vouched for (its `ts` is then the sealed
/// time). A line without `sealed: true` is only the server's word.
pub(crate) fn render_json(
    packet: &Packet,
    room: Option<&str>,
    sealed: bool,
    mention: bool,
) -> Option<String> {
    let now = protocol::now_ms();
    let mut v = match packet {
        Packet::Chat(c) | Packet::History(c) => serde_json::json!({
            "event": if matches!(packet, Packet::History(_)) { "history" } else { "chat" },
            "from": c.from, "text": c.text, "action": c.action,
            "undecryptable": c.encrypted, "id": c.id, "ts": c.ts, "sealed": sealed,
        }),
        Packet::Dm(d) => serde_json::json!({
            "event": "dm", "from": d.from, "to": d.to, "text": d.text, "action": d.action,
            "undecryptable": d.encrypted, "ts": d.ts, "sealed": sealed,
        }),
        Packet::HistoryEnd(h) => {
            serde_json::json!({"event": "history_end", "count": h.count, "more": h.more})
        }
        Packet::System(s) => serde_json::json!({
            "event": "system", "text": s.text.trim(), "kind": s.event, "name": s.name,
            "new_name": s.new_name, "ts": now,
        }),
        Packet::Count(c) => serde_json::json!({"event": "count", "total": c.total, "ts": now}),
        Packet::Users(u) => serde_json::json!({
            "event": "users", "users": u.users, "total": u.total, "ts": now,
        }),
        Packet::Error(e) => {
            serde_json::json!({"event": "error", "code": e.code, "message": e.message})
        }
        Packet::Bye(b) => serde_json::json!({"event": "bye", "reason": b.reason, "code": b.code}),
        Packet::Joined(j) => serde_json::json!({
            "event": "joined", "room": j.room, "topic": j.topic, "total": j.total,
        }),
        Packet::Parted(p) => serde_json::json!({
            "event": "parted", "room": p.room, "reason": p.reason,
        }),
        Packet::Rooms(r) => serde_json::json!({
            "event": "rooms", "rooms": r.rooms, "total": r.total, "ts": now,
        }),
        Packet::Account(a) => serde_json::json!({
            "event": "account", "text": a.text.as_deref()?, "fps": a.fps, "ts": now,
        }),
        _ => return None,
    };
    if let (Some(room), Some(obj)) = (room, v.as_object_mut()) {
        obj.entry("room").or_insert_with(|| room.into());
    }
    if let (true, Some(obj)) = (mention, v.as_object_mut()) {
        obj.insert("mention".into(), true.into());
    }
    Some(json_safe(&v.to_string()))
}

/// JSON text that is also safe on a terminal: serde_json leaves C1 controls,
/// DEL, bidi overrides and line separators raw; escape them as `\\uXXXX`
/// (still the same JSON value).
pub(crate) fn json_safe(json: &str) -> String {
    if !json.chars().any(needs_json_escape) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs_json_escape(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_json_escape(c: char) -> bool {
    // ASCII controls other than DEL are escaped by serde_json already.
    c == '\u{7f}' || (c as u32 >= 0x80 && crate::names::is_unsafe_char(c))
}

#[cfg(test)]
mod mention_tests {
    use super::*;

    #[test]
    fn a_name_is_mentioned_as_a_word_in_any_case_and_not_inside_another() {
        assert!(names_word("Bob, look at this", "bob"));
        assert!(names_word("thanks @BOB!", "Bob"));
        assert!(names_word("ask pty user now", "pty user"));
        assert!(!names_word("a bobsled", "bob"));
        assert!(!names_word("bob_2 said", "bob"));
        assert!(!names_word("nothing here", "bob"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_whose_join_time_is_unknown_shows_none_not_one_from_1970() {
        let u = protocol::Users {
            users: vec![
                protocol::UserInfo {
                    name: "dora".into(),
                    ..Default::default()
                },
                protocol::UserInfo {
                    name: "bea".into(),
                    since: protocol::now_ms(),
                    ..Default::default()
                },
            ],
            total: Some(2),
            room: None,
        };
        let line = users_line(&u);
        assert!(
            line.contains("dora,") && line.contains("bea (0 s)"),
            "{line}"
        );
        assert!(!line.contains(" d)"), "{line}");
    }
    use crate::protocol::{Chat, Dm};

    #[test]
    fn rendering_marks_history_dms_actions_and_colours_only_when_asked() {
        let chat = Chat {
            from: Some("bob".into()),
            text: Some("waves\u{1b}[2J".into()),
            action: true,
            ts: Some(0),
            ..Default::default()
        };
        let plain = View::default();
        assert_eq!(
            render(&Packet::Chat(chat.clone()), &plain, "me").unwrap(),
            "* bob waves\\u{1b}[2J"
        );
        let past = render(&Packet::History(chat.clone()), &plain, "me").unwrap();
        assert!(
            past.starts_with("[history ") && past.ends_with("* bob waves\\u{1b}[2J"),
            "{past}"
        );
        let dm = Dm {
            from: Some("me".into()),
            to: "bob".into(),
            text: Some("psst".into()),
            ..Default::default()
        };
        assert_eq!(
            render(&Packet::Dm(dm), &plain, "me").unwrap(),
            "[dm to bob] psst"
        );
        let coloured = View {
            color: true,
            ..View::default()
        };
        let line = render(&Packet::Chat(chat), &coloured, "me").unwrap();
        assert!(
            line.contains("\x1b[3") && !line.contains("\x1b[2J"),
            "{line:?}"
        );
        let stamped = View {
            timestamps: true,
            ..View::default()
        };
        let line = render(&Packet::system("x"), &stamped, "me").unwrap();
        assert!(
            line.starts_with('[') && line[1..9].chars().filter(|c| *c == ':').count() == 2,
            "{line}"
        );
    }

    #[test]
    fn json_output_escapes_what_a_terminal_would_obey() {
        let chat = Chat {
            from: Some("m\u{202e}x".into()),
            text: Some("a\u{9b}31m\u{7f}\u{2028}b\u{1b}[2J".into()),
            ..Default::default()
        };
        let line = render_json(&Packet::Chat(chat.clone()), Some("#lobby"), false, false).unwrap();
        assert!(
            line.chars()
                .all(|c| !c.is_control() && !crate::names::is_unsafe_char(c)),
            "{line:?}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["text"].as_str(), chat.text.as_deref(), "same value");
        assert_eq!(v["from"].as_str(), chat.from.as_deref());
        assert_eq!(v["room"].as_str(), Some("#lobby"));
    }
}
