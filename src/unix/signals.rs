//! Dispositions of the C library's internal signals (32, 33, 34), read and
//! set through the kernel, because glibc's and musl's `sigaction` refuse to
//! touch them.
//!
//! A child made by `fork`/`exec` inherits an ignored disposition and gets the
//! default for every handled one; glibc's and musl's `posix_spawn` instead
//! leave these three ignored in the child, whatever the parent had, and an
//! ignored disposition survives `exec`. Where the direct spawn would have
//! been a `fork`/`exec` and the stub's is a `posix_spawn`, the parent tells
//! the stub what it has (`Flags::ignored_internal`) and the stub sets
//! exactly that; elsewhere both children got them the same way and the stub
//! leaves them alone (`unix::stub_flags`).

use crate::protocol::INTERNAL_SIGNALS;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use linux::*;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use nix::libc;

    pub(crate) use crate::imp::stubs::core::KernelSigaction;
    use crate::imp::stubs::core::KERNEL_SIGSET_SIZE;

    /// Sets `sig` to `SIG_IGN` or `SIG_DFL`; errors are ignored (a signal
    /// number the kernel does not know has no disposition to restore).
    pub(crate) fn set_raw(sig: i32, ignore: bool) {
        let action = KernelSigaction::new(ignore);
        // SAFETY: `action` is a valid kernel sigaction holding SIG_IGN or
        // SIG_DFL, so no code of ours runs on delivery.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &action as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                KERNEL_SIGSET_SIZE,
            );
        }
    }

    /// Discards a pending `sig` (process- and thread-directed) by setting
    /// its action to `SIG_IGN` and then back to exactly the action the
    /// kernel had, flags, mask and restorer included. For the stub, which
    /// calls it with `sig` blocked; errors are ignored (the first call can
    /// fail only for an invalid signal, and then there is nothing to put
    /// back).
    pub(crate) fn discard_pending_raw(sig: i32) {
        let ignore = KernelSigaction::new(true);
        let mut old = KernelSigaction::new(false);
        // SAFETY: `ignore` is a valid kernel sigaction holding SIG_IGN, so no
        // code runs on delivery; `old` is a properly sized out-parameter.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &ignore as *const KernelSigaction,
                &mut old as *mut KernelSigaction,
                KERNEL_SIGSET_SIZE,
            )
        };
        if rc != 0 {
            return;
        }
        // SAFETY: `old` is what the kernel just returned for `sig`: putting
        // it back installs the action the process had, no new code.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &old as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                KERNEL_SIGSET_SIZE,
            );
        }
    }

    /// Whether `sig` is ignored in this process.
    pub(crate) fn is_ignored(sig: i32) -> bool {
        let mut old = KernelSigaction::new(false);
        // SAFETY: a NULL new action only reads the disposition into `old`,
        // a properly sized kernel sigaction.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                std::ptr::null::<KernelSigaction>(),
                &mut old as *mut KernelSigaction,
                KERNEL_SIGSET_SIZE,
            )
        };
        rc == 0 && old.is_ignored()
    }
}

/// Which of signals 32, 33, 34 this process ignores now.
pub(crate) fn ignored_internal() -> [bool; 3] {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        INTERNAL_SIGNALS.map(is_ignored)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = INTERNAL_SIGNALS;
        [false; 3]
    }
}
