//! The SIGTSTP guard: blocks the stop signals on the calling thread for the
//! length of a spawn and puts back exactly the mask it found.
//!
//! A double spawn blocks all three stop signals a terminal sends to a whole
//! process group (SIGTSTP for Ctrl-Z; SIGTTIN and SIGTTOU when a member of
//! a background group reads from it or, with `tostop`, writes to it): any
//! of them can reach the child between `clone` and `exec`, where its
//! handlers are reset to the default, and stop it there. The public
//! `SigtstpGuard` blocks SIGTSTP alone, as its name and docs say: a command
//! it guards is spawned by other code, whose stub is told only about
//! SIGTSTP (`Flags::DEFAULT`).

use std::io;
use std::marker::PhantomData;

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};

/// The stop signals a double spawn blocks, in the order of
/// `protocol::Flags` (`t`, then `u` and `o`).
pub(crate) const STOP_SIGNALS: [Signal; 3] = [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU];

/// Blocks SIGTSTP, or all three stop signals, on this thread until dropped.
#[derive(Debug)]
pub(crate) struct Guard {
    previous: SigSet,
    /// A signal mask is per thread: restoring it on another thread would
    /// change the wrong thread's mask, so the guard is neither `Send` nor
    /// `Sync`.
    _not_send: PhantomData<*const ()>,
}

impl Guard {
    /// SIGTSTP alone (`SigtstpGuard`).
    pub(crate) fn block_sigtstp() -> io::Result<Guard> {
        Guard::block(&[Signal::SIGTSTP])
    }

    /// SIGTSTP, SIGTTIN and SIGTTOU: a double spawn's own guard.
    pub(crate) fn block_stop_signals() -> io::Result<Guard> {
        Guard::block(&STOP_SIGNALS)
    }

    fn block(signals: &[Signal]) -> io::Result<Guard> {
        let mut set = SigSet::empty();
        for &sig in signals {
            set.add(sig);
        }
        let mut previous = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut previous))
            .map_err(io::Error::from)?;
        Ok(Guard {
            previous,
            _not_send: PhantomData,
        })
    }

    /// Whether SIGTSTP was already blocked before the guard.
    /// Whether SIGTSTP was blocked before the guard.
    pub(crate) fn was_blocked(&self) -> bool {
        self.previous.contains(Signal::SIGTSTP)
    }

    /// Which of SIGTSTP, SIGTTIN and SIGTTOU were blocked before the guard.
    pub(crate) fn previously_blocked(&self) -> [bool; 3] {
        STOP_SIGNALS.map(|sig| self.previous.contains(sig))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Setting the whole previous mask (not "unblock SIGTSTP") restores
        // what the caller had, including a SIGTSTP it had blocked itself.
        // pthread_sigmask fails only for an invalid `how`, which this is not,
        // and a destructor has nobody to report to.
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.previous), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> SigSet {
        SigSet::thread_get_mask().unwrap()
    }

    // Each test runs on its own libtest thread, so changing this thread's
    // mask touches no other test.

    #[test]
    fn blocks_then_restores_the_exact_mask() {
        let before = current();
        assert!(!before.contains(Signal::SIGTSTP));
        {
            let g = Guard::block_sigtstp().unwrap();
            assert!(!g.was_blocked());
            assert!(current().contains(Signal::SIGTSTP));
        }
        assert_eq!(current(), before);
    }

    #[test]
    fn a_double_spawn_s_guard_blocks_the_three_stop_signals_and_restores() {
        let before = current();
        {
            let g = Guard::block_stop_signals().unwrap();
            assert_eq!(g.previously_blocked(), [false; 3]);
            for sig in STOP_SIGNALS {
                assert!(current().contains(sig), "{sig}");
            }
        }
        assert_eq!(current(), before);
        // SIGTSTP alone for the public guard.
        {
            let _g = Guard::block_sigtstp().unwrap();
            assert!(current().contains(Signal::SIGTSTP));
            assert!(!current().contains(Signal::SIGTTIN));
            assert!(!current().contains(Signal::SIGTTOU));
        }
        assert_eq!(current(), before);
    }

    #[test]
    fn a_previously_blocked_sigtstp_stays_blocked() {
        let mut mine = SigSet::empty();
        mine.add(Signal::SIGTSTP);
        mine.add(Signal::SIGHUP);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mine), None).unwrap();
        let before = current();
        {
            let g = Guard::block_sigtstp().unwrap();
            assert!(g.was_blocked());
        }
        assert_eq!(current(), before);
        assert!(current().contains(Signal::SIGTSTP));
        pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&mine), None).unwrap();
    }

    #[test]
    fn a_panic_inside_the_guard_restores_the_mask() {
        let before = current();
        let r = std::panic::catch_unwind(|| {
            let _g = Guard::block_sigtstp().unwrap();
            assert!(current().contains(Signal::SIGTSTP));
            panic!("inside the guard");
        });
        assert!(r.is_err());
        assert_eq!(current(), before);
    }
}
