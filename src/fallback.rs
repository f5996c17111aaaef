//! Saying so when a spawn is not protected: one warning, once per reason
//! and process, on the channel [`Warnings`] chooses; or, in strict mode, an
//! error that carries the reason ([`Unprotected`]).
//!
//! By default a warning goes to `tracing` when a subscriber will record it,
//! and to stderr otherwise: a program without a subscriber must not run
//! unprotected in silence, which is the very thing a user of this crate
//! wants to know about, and a program with one must not see it twice.

use std::io::{self, Write};
use std::mem::Discriminant;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;

use crate::route::DirectReason;

/// Where the crate's warnings go: a spawn that could not be protected
/// (once per [`DirectReason`] and process), an embedded stub that is
/// refused, a value of the configuration variable that means nothing.
///
/// The choice is the process's, like the once-per-reason record it goes
/// with: [`set`](Warnings::set) it in `main` (a binary) or leave it. It is
/// not part of a [`DoubleSpawn`](crate::DoubleSpawn) because some warnings
/// come from no configuration (a bad value is found while one is being
/// built; the embedded stub's probe serves every configuration), and
/// because a warning given once per process can only go one way.
///
/// ```
/// use double_spawn::Warnings;
///
/// // A runner that prints the crate's warnings through its own logger:
/// Warnings::Tracing.set();
/// assert_eq!(Warnings::get(), Warnings::Tracing);
/// # Warnings::Auto.set();
/// ```
///
/// A library has no reason to call `set`: with the default, its warnings
/// reach its host's subscriber when there is one and stderr when not, once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Warnings {
    /// The default: a `tracing` warning event if the `tracing` feature is on
    /// and the current subscriber is interested in it
    /// (`tracing::enabled!` at `WARN` for the crate's target: there is a
    /// subscriber, global or the thread's default, and its filter lets the
    /// event through); otherwise one line on stderr. Each warning is printed
    /// exactly once, either way. A subscriber that filters the crate's
    /// warnings out gets the line on stderr: the crate does not take a
    /// filter for a wish to run unprotected without a word.
    #[default]
    Auto,
    /// One line on stderr (`double-spawn: warning: ...`), never `tracing`.
    Stderr,
    /// A `tracing` warning event only, subscriber or not. Without the
    /// `tracing` feature there is no such thing, and the line goes to stderr
    /// instead.
    Tracing,
    /// Both (the behaviour before there was a choice).
    Both,
    /// Nothing. Strict mode ([`DoubleSpawn::strict`](crate::DoubleSpawn::strict))
    /// still fails the spawn with its error.
    Off,
}

/// [`Warnings`] as set, in a byte.
static CHANNEL: AtomicU8 = AtomicU8::new(0);

impl Warnings {
    const ALL: [Warnings; 5] = [
        Warnings::Auto,
        Warnings::Stderr,
        Warnings::Tracing,
        Warnings::Both,
        Warnings::Off,
    ];

    /// Makes this the channel of every warning from now on, in the whole
    /// process (the last call wins).
    pub fn set(self) {
        let index = Warnings::ALL.iter().position(|w| *w == self).unwrap_or(0);
        CHANNEL.store(index as u8, Ordering::Relaxed);
    }

    /// The channel in use ([`Warnings::Auto`] unless [`set`](Warnings::set)).
    pub fn get() -> Warnings {
        Warnings::ALL[usize::from(CHANNEL.load(Ordering::Relaxed)) % Warnings::ALL.len()]
    }

    /// Where a warning goes now: (stderr, tracing).
    fn targets(self) -> (bool, bool) {
        match self {
            Warnings::Auto => {
                let traced = subscriber_wants_warnings();
                (!traced, traced)
            }
            Warnings::Stderr => (true, false),
            Warnings::Tracing if cfg!(feature = "tracing") => (false, true),
            Warnings::Tracing => (true, false),
            Warnings::Both => (true, cfg!(feature = "tracing")),
            Warnings::Off => (false, false),
        }
    }
}

/// Whether the current `tracing` subscriber records the crate's warnings.
#[cfg(feature = "tracing")]
fn subscriber_wants_warnings() -> bool {
    // Same level and target (this module) as the event `say` emits.
    tracing::enabled!(tracing::Level::WARN)
}

#[cfg(not(feature = "tracing"))]
fn subscriber_wants_warnings() -> bool {
    false
}

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
/// per reason, since a later fallback for another reason is news. A
/// reason's kind counts, not the names it carries. Only reported reasons
/// get here, a handful per process, so a short list is enough.
fn first_time(reason: DirectReason) -> bool {
    static WARNED: Mutex<Vec<Discriminant<DirectReason>>> = Mutex::new(Vec::new());
    let kind = std::mem::discriminant(&reason);
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.contains(&kind) {
        return false;
    }
    warned.push(kind);
    true
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
/// // After `cmd.double_spawn_with(DoubleSpawn::process_default().strict(true)).spawn()` failed:
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

/// Gives `message` as a warning, unless `warned` says this kind of report
/// was made before in this process.
fn once(warned: &AtomicBool, message: &str) {
    if warned.swap(true, Ordering::Relaxed) {
        return;
    }
    say(message);
}

/// Gives one warning on the channel [`Warnings::get`] chooses.
fn say(message: &str) {
    let (stderr, traced) = Warnings::get().targets();
    if stderr {
        let _ = writeln!(io::stderr(), "double-spawn: warning: {message}");
    }
    #[cfg(feature = "tracing")]
    if traced {
        tracing::warn!("{message}");
    }
    #[cfg(not(feature = "tracing"))]
    let _ = traced;
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
    fn channels() {
        // `set`/`get` round-trip every value; restore the default after.
        for w in Warnings::ALL {
            w.set();
            assert_eq!(Warnings::get(), w);
        }
        Warnings::Auto.set();
        assert_eq!(Warnings::Off.targets(), (false, false));
        assert_eq!(Warnings::Stderr.targets(), (true, false));
        assert_eq!(
            Warnings::Tracing.targets(),
            (!cfg!(feature = "tracing"), cfg!(feature = "tracing"))
        );
        // No subscriber in unit tests: the default is stderr.
        assert_eq!(Warnings::Auto.targets(), (true, false));
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
