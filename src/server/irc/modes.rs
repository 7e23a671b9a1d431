//! `MODE` on tcpplay's room operators: `+o`/`-o` make or unmake an
//! operator (an account's), `+b`/`-b` ban or unban a nick (`nick!*@*`
//! masks: the nick), `+i` invite-only, `+t` topic lock. A mode tcpplay
//! has no rule for gets 472; user modes are none (221 `+`, 501).

use super::commands::{moderate, set_mode};
use super::state::State;
use crate::protocol::irc::Message;
use crate::protocol::ModAction;

pub(super) fn mode(st: &mut State, m: &Message) {
    let target = m.params[0].clone();
    if !target.starts_with('#') {
        match m.param(1) {
            None => st.numeric("221", &["+"]),
            Some(_) => st.numeric("501", &["Unknown MODE flag: tcpplay has no user modes"]),
        }
        return;
    }
    let Some(changes) = m.param(1) else {
        // tcpplay tells a room's modes to its operators only (moderate list).
        st.numeric("324", &[&target, "+"]);
        return;
    };
    let mut args = m.params.iter().skip(2);
    let mut on = true;
    for c in changes.chars() {
        match c {
            '+' => on = true,
            '-' => on = false,
            'b' => match args.next() {
                // An empty list: tcpplay lists bans to operators (moderate list).
                None => st.numeric("368", &[&target, "End of channel ban list"]),
                Some(mask) => {
                    let nick = mask.split('!').next().unwrap_or(mask);
                    let name = st.nicks.name_of(nick);
                    let action = if on { ModAction::Ban } else { ModAction::Unban };
                    moderate(st, action, &target, Some(name), None);
                }
            },
            'o' => {
                if let Some(nick) = args.next() {
                    let name = st.nicks.name_of(nick);
                    let action = if on { ModAction::Op } else { ModAction::Deop };
                    moderate(st, action, &target, Some(name), None);
                }
            }
            'i' => set_mode(st, ModAction::InviteOnly, &target, on),
            't' => set_mode(st, ModAction::TopicLock, &target, on),
            other => {
                let c = other.to_string();
                st.numeric(
                    "472",
                    &[&c, "is not a mode tcpplay has (b, i, o and t are)"],
                );
            }
        }
    }
}
