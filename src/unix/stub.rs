//! The stub: the child side of a double spawn.
//!
//! `init()` lands here when the process was started with the private
//! subcommand. The stub is an ordinary process (the parent's `posix_spawn`
//! returned when the stub itself was executed), so it may allocate and print;
//! it just does as little as possible, because everything it does is added to
//! every spawn:
//!
//! 1. refuse to act for a privileged binary (see `REFUSED_PRIVILEGED`);
//! 2. decode the command line (no copies of the arguments beyond the
//!    NUL-terminated strings `execv` needs);
//! 3. undo what this process's own start-up changed compared with the child
//!    of a direct spawn: std's runtime ignores SIGPIPE (a direct spawn resets
//!    it to the default), and opens `/dev/null` on standard descriptors that
//!    were closed (a direct spawn leaves them closed);
//! 4. put back the signal mask the spawning thread had: unblock SIGTSTP when
//!    the guard blocked it. A SIGTSTP that arrived since the spawn is
//!    delivered here and stops the stub, which is harmless: the parent's spawn
//!    has already returned, so the stop is visible and `SIGCONT` resumes it;
//! 5. `execv` the target, or search `PATH` for a bare name (stub-form
//!    commands only; `double_spawn()` passes a resolved path).

use std::ffi::{CStr, CString, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::libc;
use nix::sys::signal::{pthread_sigmask, signal, SigHandler, SigSet, SigmaskHow, Signal};

use crate::exit_code;
use crate::protocol::{self, Flags, Malformed};

/// Runs the stub with this process's arguments; never returns.
pub(crate) fn run(argv: Vec<OsString>) -> ! {
    if super::is_privileged() {
        fail(
            exit_code::REFUSED_PRIVILEGED,
            format_args!(
                "refusing to act as a stub: this executable runs with elevated privileges"
            ),
        );
    }
    // Arguments come from execve and cannot contain NUL.
    let argv: Vec<CString> = argv
        .into_iter()
        .map(|a| CString::new(a.into_vec()).unwrap_or_default())
        .collect();
    let args = match protocol::decode(&argv) {
        Ok(args) => args,
        Err(Malformed::TooFewArguments | Malformed::EmptyProgram) => usage(),
    };
    let mut ptrs: Vec<*const libc::c_char> = args.argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());

    restore_child_state(args.flags);
    let errno = exec(args.program, &ptrs);

    let cwd = std::env::current_dir().unwrap_or_default();
    fail(
        exit_code::EXEC_FAILED,
        format_args!(
            "cannot execute {:?} in {:?}: {}",
            OsString::from_vec(args.program.to_bytes().to_vec()),
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
    std::process::exit(code)
}

fn restore_child_state(flags: Flags) {
    // SAFETY: installing SIG_DFL runs no code of ours in a signal context;
    // the stub is single-threaded here or about to exec, which ends every
    // other thread.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
    for (fd, close) in (0..3).zip(flags.close_std) {
        if close && is_runtime_dev_null(fd) {
            // SAFETY: closing a descriptor nothing in this process uses: the
            // runtime opened it only to keep 0..=2 occupied.
            unsafe { libc::close(fd) };
        }
    }
    if flags.unblock_tstp {
        let mut tstp = SigSet::empty();
        tstp.add(Signal::SIGTSTP);
        let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&tstp), None);
    }
}

/// std's start-up opens `/dev/null` read-write on a closed standard
/// descriptor; an explicit `Stdio::null()` opens it read-only or write-only.
fn is_runtime_dev_null(fd: libc::c_int) -> bool {
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
fn exec(program: &CStr, argv: &[*const libc::c_char]) -> i32 {
    if program.to_bytes().contains(&b'/') {
        return execv(program, argv);
    }
    // A bare name: search like posix_spawnp (no shell fallback on ENOEXEC).
    let path = std::env::var_os("PATH");
    let search = path
        .as_deref()
        .map(OsStrExt::as_bytes)
        .unwrap_or(super::resolve::DEFAULT_PATH.as_bytes());
    let mut saw_eacces = false;
    for dir in search.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let mut candidate = Vec::with_capacity(dir.len() + 1 + program.to_bytes().len());
        candidate.extend_from_slice(dir);
        candidate.push(b'/');
        candidate.extend_from_slice(program.to_bytes());
        let Ok(candidate) = CString::new(candidate) else {
            continue;
        };
        match execv(&candidate, argv) {
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

fn execv(path: &CStr, argv: &[*const libc::c_char]) -> i32 {
    // SAFETY: `path` is NUL-terminated; `argv` is a NULL-terminated array of
    // pointers to NUL-terminated strings that outlive the call. execv returns
    // only on failure.
    unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::ENOEXEC)
}
