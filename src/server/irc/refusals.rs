//! The session's `error` packets as IRC numerics: each tcpplay refusal
//! code with the numeric IRC clients know for it, the session's own words
//! as its text; a refusal IRC has no numeric for is a NOTICE.

use super::state::State;
use crate::protocol::ErrorPacket;

/// The numeric for a refusal `code`, and whether its first parameter is
/// the channel (else the nick the refused line went to).
fn numeric_of(code: &str) -> Option<(&'static str, bool)> {
    Some(match code {
        "not_in_room" => ("442", true),
        "no_such_room" | "room_invalid" => ("403", true),
        "too_many_rooms" => ("405", true),
        "room_full" => ("471", true),
        "invite_only" => ("473", true),
        "banned" => ("474", true),
        "muted" => ("404", true),
        "not_operator" | "topic_locked" => ("482", true),
        "no_such_user" => ("401", false),
        "name_taken" | "name_registered" | "name_not_certified" => ("433", false),
        "name_invalid" => ("432", false),
        _ => return None,
    })
}

pub(super) fn error(st: &mut State, e: ErrorPacket) {
    if e.code == "muted" {
        // An AWAY refused (or a line): no 306 is owed.
        st.away_asked = false;
    }
    let target = st.target_of(e.seq);
    let Some((code, in_room)) = numeric_of(&e.code) else {
        match e.code.as_str() {
            // The registration deadline passed, or the session ends.
            "timeout" | "server_full" | "too_many_connections" => {
                let line = crate::protocol::irc::Message::new(
                    None,
                    "ERROR",
                    vec![format!("Closing link: {}", e.message)],
                );
                st.send(line);
            }
            _ => st.notice(&e.message),
        }
        return;
    };
    let about = if in_room {
        e.room
            .clone()
            .or(target)
            .unwrap_or_else(|| st.default_room())
    } else {
        target.unwrap_or_else(|| "*".into())
    };
    let about = if in_room {
        about
    } else {
        st.nicks.nick_of(&st.nicks.name_of(&about))
    };
    st.numeric(code, &[&about, &e.message]);
    if code == "433" && st.me.is_some() {
        st.notice(&e.message);
    }
}
