//! Spinners on stderr for the waits a person would otherwise wonder about
//! (connecting, key derivation, probing). Only on a terminal: pipes and logs
//! never see them.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::ProgressBar;

/// A ticking spinner showing `message`, or `None` when stderr is not a terminal.
/// Finish it with `finish_and_clear`.
pub(crate) fn spinner(message: impl Into<Cow<'static, str>>) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let pb = ProgressBar::new_spinner().with_message(message);
        pb.enable_steady_tick(Duration::from_millis(100));
        pb
    })
}
