//! The current-executable stub: this executable, started by the path
//! `/proc/self/exe` with the private subcommand, runs the stub algorithm
//! (`super::core`) with the C library's help.
//!
//! There are two ways in. With glibc, which passes `argc`/`argv`/`envp` to
//! ELF constructors, an `.init_array` entry runs the stub before std's
//! runtime starts and before any `main`: no runtime start-up to pay for or
//! undo, and a `#[tokio::main]` runtime is never built in a stub. Elsewhere
//! (musl passes no arguments to constructors) `init()` runs it from `main`,
//! after std's start-up, which the algorithm then undoes
//! (`Startup::AfterRuntime`).
//!
//! Everything the stub does is added to every spawn, so the path to the
//! target's `exec` does no allocation, no argument copying and no logging;
//! `run_from_init` alone copies the arguments once, because std hands them
//! over as `OsString`s.

use std::ffi::{CStr, CString, OsString};
use std::os::unix::ffi::OsStringExt;

use nix::libc::{self, c_char, c_int};
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};

use super::core::{self as algorithm, Errno, Startup, Sys};
use crate::protocol::StubKind;

/// Runs the stub from `init()` with this process's arguments; never returns.
pub(crate) fn run_from_init(argv: Vec<OsString>) -> ! {
    // Arguments come from execve and cannot contain NUL.
    let argv: Vec<CString> = argv
        .into_iter()
        .map(|a| CString::new(a.into_vec()).unwrap_or_default())
        .collect();
    let mut ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    extern "C" {
        static environ: *const *const c_char;
    }
    // SAFETY: `ptrs` holds `argv.len()` pointers to NUL-terminated strings
    // owned by `argv`, then NULL; both live until the process execs or
    // exits. `environ` is the C library's NULL-terminated environment,
    // which nothing changes before the stub execs or exits (the stub runs
    // first in `main`, before any thread).
    unsafe {
        algorithm::run(
            &mut LibcSys,
            StubKind::CurrentExe,
            Startup::AfterRuntime,
            argv.len(),
            ptrs.as_mut_ptr(),
            environ,
        )
    }
}

/// The ELF constructor (glibc only: it passes `argc`, `argv`, `envp`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) mod early {
    use super::*;

    /// Runs before `main` and before std's own constructor (`.00099`), in
    /// every process of every binary that links the crate (the reference
    /// from `availability()`, which every spawn goes through, and from
    /// `init()` keeps the object holding it linked).
    #[used]
    #[link_section = ".init_array.00098"]
    pub(crate) static STUB_CONSTRUCTOR: extern "C" fn(
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) = stub_constructor;

    /// Decides, once, what this process is: in the main executable, a stub
    /// (never returns) or a stub host (records it, so that double spawns need
    /// no `init()`); in a shared library loaded by another program, neither:
    /// that program's command line is not ours to obey and its executable is
    /// not our stub.
    extern "C" fn stub_constructor(
        argc: c_int,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) {
        if !crate::imp::in_main_executable() {
            return;
        }
        let argc = usize::try_from(argc).unwrap_or(0);
        // SAFETY: glibc passes the process's `argv`: `argc` valid
        // NUL-terminated strings followed by NULL, and its `envp`, alive for
        // the process.
        unsafe {
            if argc >= 2 && !argv.is_null() {
                let first = *argv.add(1);
                if !first.is_null() && crate::protocol::is_marker(CStr::from_ptr(first).to_bytes())
                {
                    algorithm::run(
                        &mut LibcSys,
                        StubKind::CurrentExe,
                        Startup::BeforeRuntime,
                        argc,
                        // glibc's `argv` is the process's own `char **`
                        // array on the initial stack: writable.
                        argv.cast_mut(),
                        envp,
                    )
                }
            }
        }
        crate::imp::mark_installed();
    }
}

/// The stub's raw operations, through the C library.
struct LibcSys;

impl Sys for LibcSys {
    const SIGPIPE: i32 = libc::SIGPIPE;
    const STOP_SIGNALS: [i32; 3] = [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];
    const INTERNAL_SIGNALS: bool = cfg!(any(target_os = "linux", target_os = "android"));
    const ERRNO: Errno = Errno {
        acces: libc::EACCES,
        noent: libc::ENOENT,
        noexec: libc::ENOEXEC,
        #[cfg(not(target_env = "musl"))]
        search_on: &[
            libc::ENOENT,
            libc::ESTALE,
            libc::ENOTDIR,
            libc::ENODEV,
            libc::ETIMEDOUT,
        ],
        #[cfg(target_env = "musl")]
        search_on: &[libc::ENOENT, libc::ENOTDIR],
    };

    fn exec_name(&self) -> Option<&[u8]> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // SAFETY: getauxval only reads the auxiliary vector; AT_EXECFN,
            // when present, is the address of a NUL-terminated string the
            // kernel put on this process's stack, alive for the life of the
            // process.
            unsafe {
                let name = libc::getauxval(libc::AT_EXECFN) as *const c_char;
                Some(if name.is_null() {
                    &[][..]
                } else {
                    CStr::from_ptr(name).to_bytes()
                })
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            None
        }
    }

    fn secure(&self) -> bool {
        crate::imp::is_privileged()
    }

    fn write_stderr(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            // SAFETY: writes from a valid buffer of `bytes.len()` bytes.
            let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
            match usize::try_from(n) {
                Ok(n) if n > 0 => bytes = &bytes[n..],
                _ if n == -1 && errno() == libc::EINTR => {}
                _ => return,
            }
        }
    }

    fn exit(&mut self, code: i32) -> ! {
        // SAFETY: _exit ends the process at once; nothing of the stub's needs
        // flushing and no destructor or atexit handler of a program that
        // never started should run.
        unsafe { libc::_exit(code) }
    }

    fn set_disposition(&mut self, sig: i32, ignore: bool) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        crate::imp::signals::set_raw(sig, ignore);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        // SAFETY: SIG_IGN or SIG_DFL runs no code of ours on delivery; the
        // stub is single-threaded here or about to exec.
        unsafe {
            libc::signal(sig, if ignore { libc::SIG_IGN } else { libc::SIG_DFL });
        }
    }

    fn unblock(&mut self, which: [bool; 3]) {
        let mut set = SigSet::empty();
        for (sig, unblock) in crate::imp::STOP_SIGNALS.into_iter().zip(which) {
            if unblock {
                set.add(sig);
            }
        }
        let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    }

    fn pending_stops(&mut self) -> [bool; 3] {
        // SAFETY: sigpending only fills `set`, a properly sized
        // out-parameter initialised by sigemptyset.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            if libc::sigpending(&mut set) != 0 {
                return [false; 3];
            }
            Self::STOP_SIGNALS.map(|sig| libc::sigismember(&set, sig) == 1)
        }
    }

    fn clear_signal_mask(&mut self) {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    }

    fn process_group(&mut self) -> i32 {
        nix::unistd::getpgrp().as_raw()
    }

    fn discard_pending(&mut self, sig: i32) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        crate::imp::signals::discard_pending_raw(sig);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, Signal};
            let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
            // SAFETY: SIG_IGN runs no code on delivery; the second call puts
            // back the action the first one returned. The stub is
            // single-threaded here and `sig` is blocked.
            unsafe {
                if let Ok(sig) = Signal::try_from(sig) {
                    if let Ok(old) = sigaction(sig, &ignore) {
                        let _ = sigaction(sig, &old);
                    }
                }
            }
        }
    }

    fn status_flags(&mut self, fd: i32) -> Option<i32> {
        // SAFETY: F_GETFL on a descriptor number only reads kernel state.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        (fl != -1).then_some(fl)
    }

    fn is_null_device(&mut self, fd: i32) -> bool {
        // SAFETY: fstat only fills `st`, a properly sized out-parameter.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            libc::fstat(fd, &mut st) == 0
                && st.st_mode & libc::S_IFMT == libc::S_IFCHR
                && st.st_rdev == libc::makedev(1, 3)
        }
    }

    fn close(&mut self, fd: i32) {
        // SAFETY: the algorithm closes only the `/dev/null` std's start-up
        // opened to keep 0..=2 occupied, which nothing in this process uses.
        unsafe { libc::close(fd) };
    }

    unsafe fn execve(
        &mut self,
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> i32 {
        // SAFETY: the caller passes NUL-terminated `path` and NULL-terminated
        // `argv`/`envp`; execve returns only on failure.
        unsafe { libc::execve(path, argv, envp) };
        errno()
    }

    fn getcwd(&mut self, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: getcwd writes at most `buf.len()` bytes, NUL included.
        let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
        if p.is_null() {
            return None;
        }
        buf.iter().position(|&b| b == 0)
    }

    fn error_message(&self, errno: i32) -> Option<&[u8]> {
        // SAFETY: strerror returns a NUL-terminated string that stays valid
        // until the next strerror call; the stub is single-threaded and the
        // algorithm copies it before anything else runs.
        unsafe {
            let p = libc::strerror(errno);
            (!p.is_null()).then(|| CStr::from_ptr(p).to_bytes())
        }
    }
}

fn errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::ENOEXEC)
}
