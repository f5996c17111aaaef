//! The stub: the child side of a double spawn.
//!
//! The stub is this executable started with the private subcommand. It is an
//! ordinary process (the parent's `posix_spawn` returned when the stub itself
//! was executed), so nothing here runs between fork and exec; but everything
//! it does is added to every spawn, so the path to the target's `exec` does
//! no allocation, no argument copying and no logging:
//!
//! 1. refuse to act for a privileged binary (see `REFUSED_PRIVILEGED`);
//! 2. check the command line's shape and read the flags from `argv[0]`;
//! 3. undo what differs from the child of a direct spawn: SIGPIPE goes back
//!    to the default (std ignores it at start-up; a direct spawn resets it),
//!    and, if std's start-up ran, the `/dev/null` it puts on closed standard
//!    descriptors is closed again;
//! 4. put back the signal mask the spawning thread had: unblock SIGTSTP when
//!    the guard blocked it. A SIGTSTP that arrived since the spawn is
//!    delivered here and stops the stub, which is harmless: the parent's spawn
//!    has already returned, so the stop is visible and `SIGCONT` resumes it;
//! 5. `execv` the target with the tail of this process's own `argv`, which
//!    is already the target's NULL-terminated `argv`; a bare program name
//!    (stub-form commands only; `double_spawn()` passes a resolved path) is
//!    looked up in `PATH` with the candidate built in a stack buffer.
//!
//! There are two ways in. With glibc, which passes `argc`/`argv` to ELF
//! constructors, an `.init_array` entry runs the stub before std's runtime
//! starts and before any `main`: no runtime start-up to pay for or undo, and
//! a `#[tokio::main]` runtime is never built in a stub. Elsewhere (musl
//! passes no arguments to constructors) `init()` runs it from `main`.
//! Failure paths may allocate: they print one line and exit.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::libc::{self, c_char, c_int};
use nix::sys::signal::{pthread_sigmask, signal, SigHandler, SigSet, SigmaskHow, Signal};

use crate::exit_code;
use crate::protocol::{self, Flags};

/// Whether std's runtime start-up ran in this process before the stub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Startup {
    /// From the ELF constructor: nothing to undo but inherited state.
    BeforeStd,
    /// From `init()`: std ignored SIGPIPE and filled closed descriptors.
    AfterStd,
}

/// Runs the stub from `init()` with this process's arguments; never returns.
pub(crate) fn run_from_init(argv: Vec<OsString>) -> ! {
    // Arguments come from execve and cannot contain NUL.
    let argv: Vec<CString> = argv
        .into_iter()
        .map(|a| CString::new(a.into_vec()).unwrap_or_default())
        .collect();
    let mut ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: `ptrs` holds `argv.len()` pointers to NUL-terminated strings
    // owned by `argv`, then NULL; both live until the process execs or exits.
    unsafe { run(argv.len(), ptrs.as_ptr(), Startup::AfterStd) }
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
        _envp: *const *const c_char,
    ) {
        if !super::super::in_main_executable() {
            return;
        }
        let argc = usize::try_from(argc).unwrap_or(0);
        // SAFETY: glibc passes the process's `argv`: `argc` valid
        // NUL-terminated strings followed by NULL, alive for the process.
        unsafe {
            if argc >= 2 && !argv.is_null() {
                let first = *argv.add(1);
                if !first.is_null() && protocol::is_marker(CStr::from_ptr(first).to_bytes()) {
                    run(argc, argv, Startup::BeforeStd)
                }
            }
        }
        super::super::mark_installed();
    }
}

/// The stub proper; never returns.
///
/// # Safety
/// `argv` must point to `argc` valid NUL-terminated strings followed by a
/// NULL pointer, all alive until the process execs or exits.
unsafe fn run(argc: usize, argv: *const *const c_char, startup: Startup) -> ! {
    if super::is_privileged() {
        fail(
            exit_code::REFUSED_PRIVILEGED,
            format_args!(
                "refusing to act as a stub: this executable runs with elevated privileges"
            ),
        );
    }
    if !started_by_own_double_spawn() {
        fail(
            exit_code::REFUSED_PRIVILEGED,
            format_args!("refusing to act as a stub: not started by a double spawn"),
        );
    }
    // SAFETY: the caller guarantees `argc` valid entries.
    let arg = |i: usize| unsafe { CStr::from_ptr(*argv.add(i)) };
    let program = if argc >= 3 {
        arg(2)
    } else {
        <&CStr>::default()
    };
    if protocol::check_shape(argc, program.to_bytes()).is_err() {
        usage();
    }
    let flags = Flags::from_arg0(arg(0).to_bytes());
    restore_child_state(flags, startup);
    // SAFETY: entries 3.. are the target's argv, NULL-terminated by the
    // caller's guarantee.
    let target_argv = unsafe { argv.add(3) };
    let errno = exec(program, target_argv);

    let cwd = std::env::current_dir().unwrap_or_default();
    fail(
        i32::from(flags.exec_failed),
        format_args!(
            "cannot execute {:?} in {:?}: {}",
            OsStr::from_bytes(program.to_bytes()),
            cwd,
            std::io::Error::from_raw_os_error(errno)
        ),
    )
}

fn usage() -> ! {
    fail(
        exit_code::USAGE,
        format_args!(
            "usage: {} PROGRAM ARGV0 [ARGS...] (a private subcommand started by the double-spawn crate)",
            protocol::MARKER
        ),
    )
}

fn fail(code: i32, msg: std::fmt::Arguments<'_>) -> ! {
    let _ = writeln!(std::io::stderr(), "double-spawn: {msg}");
    // SAFETY: _exit ends the process at once; nothing of the stub's needs
    // flushing (stderr is unbuffered) and no destructor or atexit handler of
    // a program that never started should run.
    unsafe { libc::_exit(code) }
}

fn restore_child_state(flags: Flags, startup: Startup) {
    // SAFETY: installing SIG_DFL runs no code of ours in a signal context;
    // the stub is single-threaded here or about to exec, which ends every
    // other thread.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
    if startup == Startup::AfterStd {
        for (fd, close) in (0..3).zip(flags.close_std) {
            if close && is_runtime_dev_null(fd) {
                // SAFETY: closing a descriptor nothing in this process uses:
                // the runtime opened it only to keep 0..=2 occupied.
                unsafe { libc::close(fd) };
            }
        }
    }
    set_internal_signals(flags.ignored_internal);
    if flags.unblock_tstp {
        let mut tstp = SigSet::empty();
        tstp.add(Signal::SIGTSTP);
        let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&tstp), None);
    }
}

/// Whether the `execve` that started this process named `/proc/self/exe`,
/// which only code already running in this executable can do (see
/// `protocol::trusted_exec_name`).
fn started_by_own_double_spawn() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: getauxval only reads the auxiliary vector; AT_EXECFN, when
        // present, is the address of a NUL-terminated string the kernel put
        // on this process's stack, alive for the life of the process.
        unsafe {
            let name = libc::getauxval(libc::AT_EXECFN) as *const c_char;
            !name.is_null()
                && protocol::trusted_exec_name(
                    protocol::StubKind::CurrentExe,
                    CStr::from_ptr(name).to_bytes(),
                )
        }
    }
    // Elsewhere there is no record of the name `execve` was given; see the
    // crate docs' security section.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        true
    }
}

/// Sets signals 32, 33 and 34 to ignored or default as the parent has them
/// (see `protocol::Flags::ignored_internal`). The C library refuses to touch
/// its own internal signals, so this asks the kernel directly.
fn set_internal_signals(ignored: [bool; 3]) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    for (sig, ignored) in protocol::INTERNAL_SIGNALS.into_iter().zip(ignored) {
        let action = super::signals::KernelSigaction::new(if ignored {
            libc::SIG_IGN
        } else {
            libc::SIG_DFL
        });
        // SAFETY: installing SIG_IGN or SIG_DFL runs no code of ours.
        unsafe { super::signals::set_raw(sig, &action) };
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = ignored;
}

/// std's start-up opens `/dev/null` read-write on a closed standard
/// descriptor; an explicit `Stdio::null()` opens it read-only or write-only.
fn is_runtime_dev_null(fd: c_int) -> bool {
    // SAFETY: fcntl and fstat on a descriptor number only read kernel state;
    // `st` is a properly sized out-parameter.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl == -1 || fl & libc::O_ACCMODE != libc::O_RDWR {
            return false;
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return false;
        }
        st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3)
    }
}

/// Executes the target; returns the errno of the failure.
fn exec(program: &CStr, argv: *const *const c_char) -> c_int {
    let name = program.to_bytes();
    if name.contains(&b'/') {
        return execv(program.as_ptr(), argv);
    }
    // A bare name: search like posix_spawnp (no shell fallback on ENOEXEC).
    // SAFETY: getenv returns NULL or a NUL-terminated string owned by the
    // environment, which nothing changes before exec.
    let path = unsafe {
        let p = libc::getenv(b"PATH\0".as_ptr().cast());
        if p.is_null() {
            super::resolve::DEFAULT_PATH.as_bytes()
        } else {
            CStr::from_ptr(p).to_bytes()
        }
    };
    let mut buf = [0u8; libc::PATH_MAX as usize];
    let mut saw_eacces = false;
    for dir in path.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let len = dir.len() + 1 + name.len();
        if len >= buf.len() {
            continue; // as glibc: a candidate longer than PATH_MAX is skipped
        }
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..len].copy_from_slice(name);
        buf[len] = 0;
        match execv(buf.as_ptr().cast(), argv) {
            libc::EACCES => saw_eacces = true,
            libc::ENOENT | libc::ESTALE | libc::ENOTDIR | libc::ENODEV | libc::ETIMEDOUT => {}
            other => return other,
        }
    }
    if saw_eacces {
        libc::EACCES
    } else {
        libc::ENOENT
    }
}

fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: `path` is NUL-terminated; `argv` is a NULL-terminated array of
    // pointers to NUL-terminated strings that outlive the call (see `run`).
    // execv returns only on failure.
    unsafe { libc::execv(path, argv) };
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::ENOEXEC)
}
