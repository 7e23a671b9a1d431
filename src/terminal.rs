//! The terminal's mode, saved and restored: a line editor puts the terminal in
//! raw mode and may still be inside `readline` when the program exits, so the
//! program restores what it found (also on a panic).

/// Restores the terminal's mode on drop (and so on every exit path of
/// `join` and `serve`, including when an editor thread is still inside
/// `readline`).
pub(crate) struct TermGuard {
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

impl TermGuard {
    pub(crate) fn save() -> TermGuard {
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

/// While held: a SIGINT (Ctrl-C while a prompt has the terminal in a
/// non-echoing mode) first restores the terminal as it was when this was
/// made, then ends the process as SIGINT does by default.
pub(crate) struct RestoreOnInterrupt {
    #[cfg(unix)]
    previous: Option<libc::sigaction>,
}

#[cfg(unix)]
static SAVED_RAW: std::sync::atomic::AtomicPtr<libc::termios> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

#[cfg(unix)]
extern "C" fn restore_and_die(sig: libc::c_int) {
    let saved = SAVED_RAW.load(std::sync::atomic::Ordering::Acquire);
    // SAFETY: only async-signal-safe calls; `saved` points at a termios that
    // lives in a leaked box for the rest of the process (see below).
    unsafe {
        if !saved.is_null() {
            libc::tcsetattr(0, libc::TCSANOW, saved);
        }
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// See [`RestoreOnInterrupt`].
pub(crate) fn restore_on_interrupt() -> RestoreOnInterrupt {
    #[cfg(unix)]
    {
        // SAFETY: tcgetattr writes into the termios we own.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return RestoreOnInterrupt { previous: None };
        }
        if SAVED_RAW
            .load(std::sync::atomic::Ordering::Acquire)
            .is_null()
        {
            // Leaked once on purpose: the handler may read it at any time.
            let leaked = Box::into_raw(Box::new(t));
            let _ = SAVED_RAW.compare_exchange(
                std::ptr::null_mut(),
                leaked,
                std::sync::atomic::Ordering::AcqRel,
                std::sync::atomic::Ordering::Acquire,
            );
        }
        // SAFETY: installing a handler that only makes async-signal-safe calls.
        let previous = unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = restore_and_die as extern "C" fn(libc::c_int) as *const () as usize;
            let mut old: libc::sigaction = std::mem::zeroed();
            (libc::sigaction(libc::SIGINT, &new, &mut old) == 0).then_some(old)
        };
        RestoreOnInterrupt { previous }
    }
    #[cfg(not(unix))]
    RestoreOnInterrupt {}
}

impl Drop for RestoreOnInterrupt {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(old) = &self.previous {
            // SAFETY: putting back the handler that was there before.
            unsafe { libc::sigaction(libc::SIGINT, old, std::ptr::null_mut()) };
        }
    }
}
