//! Why a double spawn becomes a direct spawn, and the one warning it logs.

use std::sync::atomic::{AtomicBool, Ordering};

/// A reason to spawn directly instead of through the stub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// `DoubleSpawn::disabled()` or `DOUBLE_SPAWN=0`: asked for, not logged.
    Disabled,
    #[cfg_attr(not(unix), allow(dead_code))]
    /// `init()` was never called, so starting this binary with the stub's
    /// arguments would run the user's `main` again instead of a stub.
    NotInstalled,
    /// The binary runs with elevated privileges (`AT_SECURE`); a stub in it
    /// would let anyone execute anything with those privileges.
    Privileged,
    /// The current executable cannot be found (`/proc` is not mounted).
    NoExecutable,
    /// Not a Unix target: there is no SIGTSTP race to avoid.
    #[cfg_attr(unix, allow(dead_code))]
    Unsupported,
}

impl Fallback {
    fn message(self) -> Option<&'static str> {
        match self {
            Fallback::Disabled | Fallback::Unsupported => None,
            Fallback::NotInstalled => Some(
                "double_spawn::init() was not called at the start of main; \
                 spawning directly, without protection against SIGTSTP during spawn",
            ),
            Fallback::Privileged => Some(
                "this executable runs with elevated privileges and never acts as a stub; \
                 spawning directly, without protection against SIGTSTP during spawn",
            ),
            Fallback::NoExecutable => Some(
                "the current executable cannot be found (is /proc mounted?); \
                 spawning directly, without protection against SIGTSTP during spawn",
            ),
        }
    }

    /// Logs the fallback: one warning per process, on the first fallback
    /// that has something to say.
    pub(crate) fn report(self) {
        static WARNED: AtomicBool = AtomicBool::new(false);
        let Some(message) = self.message() else {
            return;
        };
        if WARNED.swap(true, Ordering::Relaxed) {
            return;
        }
        #[cfg(feature = "tracing")]
        tracing::warn!(reason = ?self, "{message}");
        #[cfg(not(feature = "tracing"))]
        let _ = message;
    }
}
