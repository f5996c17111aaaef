//! Saying so when a spawn is not protected: one line on stderr and a
//! `tracing` warning, once per process; or, in strict mode, an error.
//!
//! The line goes to stderr as well as to `tracing` because a program without
//! a subscriber would otherwise run unprotected in silence, which is the
//! very thing a user of this crate wants to know about.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::route::DirectReason;

/// Reports that a spawn will be direct for `reason`, with `detail` (the
/// setting or the program concerned) when there is one. Returns the error
/// to fail the spawn with when `strict`.
pub(crate) fn direct(reason: DirectReason, detail: Option<&str>, strict: bool) -> io::Result<()> {
    if !reason.is_reported() {
        return Ok(());
    }
    let message = match detail {
        Some(detail) => format!("{reason}: {detail}"),
        None => reason.to_string(),
    };
    if strict {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("double-spawn (strict): cannot protect this spawn: {message}"),
        ));
    }
    static WARNED: AtomicBool = AtomicBool::new(false);
    once(
        &WARNED,
        &format!("spawning directly, without protection against SIGTSTP during spawn: {message}"),
    );
    Ok(())
}

/// Reports a fallback from the embedded stub to the next route.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn embedded_refused(why: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    once(
        &WARNED,
        &format!("the embedded stub cannot be used here ({why}); using the next route"),
    );
}

/// Writes `message` to stderr and `tracing`, unless `warned` says this kind
/// of report was made before in this process.
fn once(warned: &AtomicBool, message: &str) {
    if warned.swap(true, Ordering::Relaxed) {
        return;
    }
    let _ = writeln!(io::stderr(), "double-spawn: warning: {message}");
    #[cfg(feature = "tracing")]
    tracing::warn!("{message}");
}
