//! Dispositions of the C library's internal signals (32, 33, 34), read and
//! set through the kernel, because glibc's and musl's `sigaction` refuse to
//! touch them.
//!
//! A child made by `fork`/`exec` inherits an ignored disposition and gets the
//! default for every handled one; glibc's and musl's `posix_spawn` instead
//! leave these three ignored in the child, whatever the parent had, and an
//! ignored disposition survives `exec`. The stub is always started by one of
//! the two, so the parent tells it what it has (`Flags::ignored_internal`)
//! and the stub sets exactly that.

use crate::protocol::INTERNAL_SIGNALS;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use linux::*;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use nix::libc;

    /// The kernel's `struct sigaction` for `rt_sigaction` on the 64-bit
    /// Linux targets (x86_64 and aarch64 both define `SA_RESTORER`, and
    /// their kernel `sigset_t` is one 64-bit word).
    #[repr(C)]
    #[derive(Debug)]
    pub(crate) struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }

    impl KernelSigaction {
        /// `SIG_DFL` or `SIG_IGN`, no flags, empty mask.
        pub(crate) fn new(handler: libc::sighandler_t) -> KernelSigaction {
            KernelSigaction {
                handler,
                flags: 0,
                restorer: 0,
                mask: 0,
            }
        }
    }

    /// Sets `sig`'s disposition; errors are ignored (a signal number the
    /// kernel does not know has no disposition to restore).
    ///
    /// # Safety
    /// `action` must hold `SIG_DFL` or `SIG_IGN`: no code runs on delivery.
    pub(crate) unsafe fn set_raw(sig: i32, action: &KernelSigaction) {
        // SAFETY: `action` is a valid kernel sigaction; the size argument is
        // the kernel's sigset size, 8 bytes on these targets.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                action as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
    }

    /// Whether `sig` is ignored in this process.
    pub(crate) fn is_ignored(sig: i32) -> bool {
        let mut old = KernelSigaction::new(libc::SIG_DFL);
        // SAFETY: a NULL new action only reads the disposition into `old`,
        // a properly sized kernel sigaction.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                std::ptr::null::<KernelSigaction>(),
                &mut old as *mut KernelSigaction,
                8usize,
            )
        };
        rc == 0 && old.handler == libc::SIG_IGN
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
