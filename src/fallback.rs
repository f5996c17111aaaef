//! Saying so when a spawn is not protected: one line on stderr and a
//! `tracing` warning, once per reason and process; or, in strict mode, an
//! error that carries the reason ([`Unprotected`]).
//!
//! The line goes to stderr as well as to `tracing` because a program without
//! a subscriber would otherwise run unprotected in silence, which is the
//! very thing a user of this crate wants to know about.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::route::DirectReason;

/// Reports that a spawn will be direct for `reason`, with `detail` (the
/// setting or the program concerned) when there is one. Returns the error
/// to fail the spawn with when `strict`.
#[cfg_attr(not(unix), allow(dead_code))]
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
            Unprotected { reason, message },
        ));
    }
    if !first_time(reason) {
        return Ok(());
    }
    say(&format!(
        "spawning directly, without protection against SIGTSTP during spawn: {message}"
    ));
    Ok(())
}

/// Whether `reason` is reported for the first time in this process: once
/// per reason, since a later fallback for another reason is news.
fn first_time(reason: DirectReason) -> bool {
    static WARNED: AtomicU32 = AtomicU32::new(0);
    let bit = 1u32 << (reason as u32);
    WARNED.fetch_or(bit, Ordering::Relaxed) & bit == 0
}

/// Reports, once per process, a value of the configuration variable `var`
/// that means nothing (`DoubleSpawn::from_env`).
pub(crate) fn unknown_setting(var: &str, value: &std::ffi::OsStr) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    once(
        &WARNED,
        &format!(
            "{var}={value:?} is not a value double-spawn knows (0/off, embedded, current-exe); \
             using the current-executable stub"
        ),
    );
}

/// The error of a spawn that strict mode refused to make unprotected: an
/// `io::Error` of kind `Unsupported` that carries it.
///
/// ```
/// use double_spawn::{DirectReason, Unprotected};
/// # let err = std::io::Error::new(std::io::ErrorKind::Other, "x");
/// // After `cmd.double_spawn_with(DoubleSpawn::new().strict(true)).spawn()` failed:
/// if let Some(why) = Unprotected::of(&err) {
///     if why.reason() == DirectReason::UncarriedSetting {
///         // ...
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unprotected {
    reason: DirectReason,
    message: String,
}

impl Unprotected {
    /// Why the spawn could not be protected.
    pub fn reason(&self) -> DirectReason {
        self.reason
    }

    /// The strict-mode refusal inside `err`, if that is what `err` is.
    pub fn of(err: &io::Error) -> Option<&Unprotected> {
        err.get_ref()?.downcast_ref::<Unprotected>()
    }
}

impl std::fmt::Display for Unprotected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "double-spawn (strict): cannot protect this spawn: {}",
            self.message
        )
    }
}

impl std::error::Error for Unprotected {}

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
    say(message);
}

/// Writes one warning to stderr and `tracing`.
fn say(message: &str) {
    let _ = writeln!(io::stderr(), "double-spawn: warning: {message}");
    #[cfg(feature = "tracing")]
    tracing::warn!("{message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_is_reported_once() {
        // No other unit test reaches `direct`, so this process's record is
        // this test's alone.
        assert!(first_time(DirectReason::UncarriedSetting));
        assert!(!first_time(DirectReason::UncarriedSetting));
        assert!(first_time(DirectReason::NoExecutable));
        assert!(!first_time(DirectReason::NoExecutable));
        assert!(!first_time(DirectReason::UncarriedSetting));
    }

    #[test]
    fn strict_errors_carry_their_reason() {
        let err = direct(DirectReason::Privileged, Some("x"), true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert_eq!(
            Unprotected::of(&err).map(Unprotected::reason),
            Some(DirectReason::Privileged)
        );
        assert!(err.to_string().ends_with(": x"), "{err}");
        assert!(Unprotected::of(&io::Error::other("x")).is_none());
    }
}
