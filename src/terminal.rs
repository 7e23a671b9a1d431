//! The terminal's mode, saved and restored: a line editor puts the terminal in
//! raw mode and may still be inside `readline` when the program exits, so the
//! program restores what it found (also on a panic).

/// Restores the terminal's mode on drop (and so on every exit path of
/// `join` and `serve`, including when an editor thread is still inside
/// `readline`).
pub struct TermGuard {
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

impl TermGuard {
    pub fn save() -> TermGuard {
        #[cfg(unix)]
        {
            // SAFETY: tcgetattr writes a termios for fd 0; a zeroed termios
            // is a valid value to pass in and we only keep it on success.
            let mut t: libc::termios = unsafe { std::mem::zeroed() };
            let ok = unsafe { libc::tcgetattr(0, &mut t) } == 0;
            let saved = ok.then_some(t);
            if let Some(t) = saved {
                let prev = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    // SAFETY: restoring attributes read from the same fd.
                    unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
                    prev(info);
                }));
            }
            TermGuard { saved }
        }
        #[cfg(not(unix))]
        TermGuard {}
    }
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(t) = &self.saved {
            // SAFETY: restoring attributes read from the same fd.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}
