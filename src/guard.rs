//! The public SIGTSTP guard.

use std::io;

use crate::imp;

/// Blocks SIGTSTP on the current thread until dropped, then restores the
/// thread's previous signal mask exactly.
///
/// This is the primitive a double spawn holds around its `spawn()` call;
/// [`DoubleSpawnCommand`](crate::DoubleSpawnCommand) takes one for you, which
/// also blocks SIGTTIN and SIGTTOU (a terminal sends them to a whole
/// background group, so they too can stop a child before `exec`) and tells
/// the stub which of the three to unblock. This guard blocks SIGTSTP alone:
/// the stub of a command spawned by other code is told about SIGTSTP only. Hold
/// it yourself only when some other code performs the spawn of a command
/// built with [`DoubleSpawn::std_command`](crate::DoubleSpawn::std_command),
/// and prefer [`DoubleSpawnExt::double_spawn`](crate::DoubleSpawnExt) inside
/// such code when you can: it also carries a SIGTSTP that the thread had
/// blocked before, which a bare guard cannot tell the stub about.
///
/// The guard:
/// - changes only the calling thread's mask (`pthread_sigmask`); a
///   process-directed SIGTSTP is delivered to another thread or stays pending
///   until the guard is dropped;
/// - restores the *previous* mask on drop, on every path including
///   unwinding, so a SIGTSTP the thread had blocked stays blocked;
/// - is neither `Send` nor `Sync`: restoring a mask on another thread would
///   change the wrong thread. Do not hold it across an `.await`; a task may
///   resume on another worker thread.
///
/// On non-Unix targets it does nothing.
///
/// ```
/// let guard = double_spawn::SigtstpGuard::new()?;
/// // ... spawn here ...
/// drop(guard);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "SIGTSTP is unblocked again as soon as the guard is dropped"]
pub struct SigtstpGuard {
    inner: imp::Guard,
}

impl SigtstpGuard {
    /// Blocks SIGTSTP on the current thread.
    ///
    /// # Errors
    /// Whatever `pthread_sigmask` reports; with the arguments used here it
    /// has no failure mode on Linux.
    pub fn new() -> io::Result<SigtstpGuard> {
        Ok(SigtstpGuard {
            inner: imp::Guard::block_sigtstp()?,
        })
    }

    /// Whether SIGTSTP was already blocked on this thread before the guard
    /// (in which case dropping the guard leaves it blocked).
    ///
    /// ```
    /// let guard = double_spawn::SigtstpGuard::new()?;
    /// assert!(!guard.was_blocked());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn was_blocked(&self) -> bool {
        self.inner.was_blocked()
    }
}
