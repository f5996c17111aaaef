//! The SIGTSTP guard: blocks SIGTSTP on the calling thread for the length of
//! a spawn and puts back exactly the mask it found.

use std::io;
use std::marker::PhantomData;

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};

/// Blocks SIGTSTP on this thread until dropped.
#[derive(Debug)]
pub(crate) struct Guard {
    previous: SigSet,
    /// A signal mask is per thread: restoring it on another thread would
    /// change the wrong thread's mask, so the guard is neither `Send` nor
    /// `Sync`.
    _not_send: PhantomData<*const ()>,
}

impl Guard {
    pub(crate) fn block_sigtstp() -> io::Result<Guard> {
        let mut tstp = SigSet::empty();
        tstp.add(Signal::SIGTSTP);
        let mut previous = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&tstp), Some(&mut previous))
            .map_err(io::Error::from)?;
        Ok(Guard {
            previous,
            _not_send: PhantomData,
        })
    }

    /// Whether SIGTSTP was already blocked before the guard.
    pub(crate) fn was_blocked(&self) -> bool {
        self.previous.contains(Signal::SIGTSTP)
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
