//! The two `pre_exec` closures that keep process-wrap's `ResetSigmask`
//! closure from unblocking SIGTSTP before the stub's `exec` (see the
//! module docs of `process_wrap`, "ResetSigmask").
//!
//! std runs a command's `pre_exec` closures in the order they were added,
//! in the forked child, before `exec`. The adapter adds `before_hooks`'s
//! closure before any wrapper's hook runs (so it runs before
//! `ResetSigmask`'s) and `after_hooks`'s after all of them (so it runs
//! after every wrapper's closure, right before std's `exec` of the stub).
//! Between the two, SIGTSTP may be unblocked; a SIGTSTP then runs
//! [`note_sigtstp`] in the child instead of stopping it, and is raised again
//! once SIGTSTP is blocked again, so the stub starts with it pending, as it
//! would have without the wrapper.
//!
//! Everything here runs between `fork` and `exec`: `sigaction`,
//! `pthread_sigmask` and `raise` are async-signal-safe, and nothing
//! allocates or logs.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{
    pthread_sigmask, raise, sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};

/// Whether a SIGTSTP arrived between the two closures. Only a forked child
/// writes it, in its own copy of this process's memory; the parent never
/// installs the handler, so its copy stays false.
static SEEN: AtomicBool = AtomicBool::new(false);

/// The child's SIGTSTP handler between the two closures: notes the signal.
extern "C" fn note_sigtstp(_: nix::libc::c_int) {
    SEEN.store(true, Ordering::Relaxed);
}

/// Adds the closure that runs before every wrapper's: unless SIGTSTP is
/// ignored (then no SIGTSTP can stop the child, and nothing changes), its
/// action becomes [`note_sigtstp`]. SIGTSTP is blocked at this point (by
/// the guard, or by the caller), so nothing is delivered while it changes.
pub(super) fn before_hooks(cmd: &mut Command) {
    let closure = || {
        SEEN.store(false, Ordering::Relaxed);
        let note = SigAction::new(
            SigHandler::Handler(note_sigtstp),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; sigaction itself is async-signal-safe.
        let old = unsafe { sigaction(Signal::SIGTSTP, &note) }?;
        if matches!(old.handler(), SigHandler::SigIgn) {
            // SAFETY: putting back the action that was there.
            unsafe { sigaction(Signal::SIGTSTP, &old) }?;
        }
        Ok(())
    };
    // SAFETY: the closure calls only async-signal-safe functions
    // (sigaction) and allocates nothing; it touches no lock and no state
    // of the parent but `SEEN`, in the child's own copy.
    unsafe { cmd.pre_exec(closure) };
}

/// Adds the closure that runs after every wrapper's: SIGTSTP blocked again
/// (whatever `ResetSigmask` unblocked; the stub empties the mask for the
/// target itself, flag `m`), and a SIGTSTP noted in between raised again,
/// blocked, so that it is pending (thread-directed) across the `exec`. The
/// `exec` resets the noting handler to the default action.
pub(super) fn after_hooks(cmd: &mut Command) {
    let closure = || {
        let mut tstp = SigSet::empty();
        tstp.add(Signal::SIGTSTP);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&tstp), None)?;
        if SEEN.swap(false, Ordering::Relaxed) {
            raise(Signal::SIGTSTP)?;
        }
        Ok(())
    };
    // SAFETY: as in `before_hooks`: pthread_sigmask and raise are
    // async-signal-safe, nothing allocates.
    unsafe { cmd.pre_exec(closure) };
}
