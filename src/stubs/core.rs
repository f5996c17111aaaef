//! The child side of a double spawn: the one algorithm every stub runs.
//!
//! A stub is an ordinary process (the parent's spawn returned when the stub
//! itself was executed), so nothing here runs between fork and exec; but
//! everything it does is added to every spawn, so the path to the target's
//! `exec` allocates nothing, copies no argument and logs nothing. This file
//! uses `core` only (no `std`, no `alloc`): it is compiled into the crate for
//! the current-executable stub and, unchanged, into the embedded static stub
//! (`embedded/main.rs`), which has no C library. What differs between the two
//! is behind [`Sys`], a handful of raw operations.
//!
//! The algorithm:
//!
//! 1. **Privileges** (current-executable stub only). A setuid, setgid or
//!    file-capability binary (`AT_SECURE`) never acts as a stub: one line on
//!    stderr and `exit_code::REFUSED_PRIVILEGED` (126), whoever started it.
//!    The embedded stub has no file anyone else could start, and a
//!    privileged parent that spawns through it gets what a direct spawn
//!    gives (its stub sees `AT_SECURE` too: the parent's effective ids
//!    differ from its real ones).
//! 2. **Origin.** Act only when the `execve` that started this process named
//!    the path only the spawning process can use (`AT_EXECFN`, see
//!    `protocol::trusted_exec_name`); otherwise one line and 126. A shell or
//!    `sudo` replaying the stub's arguments is refused here.
//! 3. **Shape.** The marker in `argv[1]`, at least the four fixed entries
//!    and a program, else usage and `exit_code::USAGE` (125).
//! 4. **Restore** what differs from the child of a direct spawn, from the
//!    flags in `argv[0]` (`protocol::Flags`). If a runtime's start-up ran
//!    before the stub (`Startup::AfterRuntime`): SIGPIPE to the default (std
//!    ignores it at start-up, a direct spawn resets it), and close the
//!    `/dev/null` it put on standard descriptors the parent had closed.
//!    Signals 32-34 ignored or default as the parent has them, only with
//!    `i` (a direct spawn that would have forked). SIGTSTP, SIGTTIN and
//!    SIGTTOU unblocked, each where only the guard blocked it (`t`, `u`,
//!    `o`). Everything else the stub leaves as its own
//!    spawn made it, which is how the direct spawn would have made it: the
//!    stub's command is spawned by the same std code with the same
//!    settings. What happens to a SIGTSTP (or SIGTTIN, SIGTTOU: below, what
//!    is said of SIGTSTP holds for all three)
//!    that arrived while it was blocked depends on the process group:
//!    - **The child is still in the spawner's group** (no process group set,
//!      or `process_group(getpgrp())`): it is delivered here and stops the
//!      stub, which is harmless: the parent's spawn has already returned, so
//!      the stop is visible, and the `SIGCONT` that continues the spawner's
//!      group (the shell's `fg`) continues the child too.
//!    - **The child is in a group of its own** (`process_group(0)`, another
//!      group, `setsid` in a stub-form command's `pre_exec`): it is
//!      discarded first. Such a stop was aimed at the spawner's group and
//!      reached the child only because the child was still in it between
//!      `clone` and `setpgid`; delivered now, it would stop a process in a
//!      group that no shell continues, and the spawner would hang in
//!      `wait()` instead of `spawn()`. The stub discards it by setting
//!      SIGTSTP to `SIG_IGN` while it is still blocked (POSIX: setting a
//!      pending signal's action to ignored discards it; Linux discards both
//!      the process-directed and the thread-directed one), then puts back
//!      the disposition the target must inherit, then unblocks it. The three
//!      stop signals need this because the guard blocks them, so they are
//!      the ones it can leave pending; the stub asks which are pending
//!      (`sigpending`, one call) and discards only those. A terminal sends
//!      SIGTTIN and SIGTTOU to a whole background group when one of its
//!      members reads from it (or writes, with `tostop`), so they reach a
//!      child between `clone` and `exec` as a Ctrl-Z does; a signal the
//!      caller blocked itself is not the guard's, and a direct spawn's
//!      target would inherit it pending too.
//!
//!    How the stub knows which case it is in: the parent writes the group
//!    it was in at the moment of the spawn into the flags
//!    (`Flags::spawner_pgid`, read under the guard, for a plain command and
//!    for a stub-form command alike), and the stub compares its own
//!    `getpgrp()` with it. The comparison is made with the group the stub
//!    is actually in, so it is exact however the child got there: a
//!    `process_group` the parent can read back, a stub-form command's
//!    `process_group` set after it was built, a `pre_exec` closure that
//!    calls `setsid` or `setpgid` (process-wrap's `ProcessSession`), which
//!    no parent-side flag could see. Without the flag (a stub-form command
//!    spawned by a plain `spawn()`) nothing is discarded.
//!
//!    With `m` (process-wrap's `ResetSigmask`, `Flags::reset_mask`) the
//!    stub then sets an empty signal mask, which unblocks SIGTSTP too: the
//!    discard above applies to it as it does to `t`, so a stop pending from
//!    the spawner's group is discarded first in a child of its own group
//!    (also when the caller, not the guard, blocked SIGTSTP).
//!
//!    The window this leaves: a SIGTSTP sent to the child's *new* group
//!    after the child joined it and before the stub discards is discarded
//!    too. For `process_group(0)` that group's id is the child's pid, which
//!    nobody knows before `spawn()` returns; after it returns, the stub may
//!    still be starting. Measured with a SIGTSTP to the new group at a
//!    delay after `spawn()` returned (100 tries each, 2 loaded cores): the
//!    embedded stub lost 83 at once and none from 0.1 ms on; the current
//!    executable (a 30 MB debug test binary, whose dynamic loading runs
//!    before the stub) lost 61 to 98 up to 0.5 ms, 20 at 1 ms, 1 at 2 ms,
//!    none at 5 ms. A supervisor that forwards a Ctrl-Z to a job spawned
//!    that recently loses that one stop for that job: it keeps running (no
//!    hang; the later SIGCONT is harmless). `job_control` stops a job
//!    whose leader is still the stub (and one it spawns while the jobs are
//!    stopped) with SIGSTOP, which cannot be discarded. A child that joins an *existing* group (`process_group(g)`
//!    with `g` another job's group) also loses a stop sent to that group
//!    while it was joining.
//! 5. **Exec** the target with the tail of this process's own `argv`, which
//!    is already the target's NULL-terminated `argv`, and its `envp`. A
//!    program with a `/` is executed as it is; a bare name (stub-form
//!    commands only: a double spawn passes a resolved path) is searched in
//!    `PATH` as `posix_spawnp` does, the candidate built in a stack buffer.
//!    With `s` (`Flags::sh_fallback`: the direct spawn would have been std's
//!    `fork`/`exec` path, whose glibc `execvp` does this), a candidate that
//!    fails with `ENOEXEC` is run as glibc's `maybe_script_execute` runs it
//!    (posix/execvpe.c): `execve("/bin/sh", ["/bin/sh", FILE, ARGS...])`,
//!    where `FILE` is the candidate's path, the target's `argv[0]` is
//!    dropped and `ARGS` are its arguments (none for an `argv` of one
//!    entry); if that `exec` fails, its `errno` is the candidate's (so an
//!    `ENOENT` for a missing `/bin/sh` goes on with the next `PATH`
//!    directory, as glibc's loop does). The shell's `argv` is built in place
//!    in the stub's own `argv` array (entries 2 and 3, the program and the
//!    target's `argv[0]`, become `/bin/sh` and `FILE`; they are put back if
//!    the shell cannot be executed), so nothing is allocated or copied.
//! 6. **Fail** with one line on stderr,
//!    `double-spawn: cannot execute "<program>" in "<cwd>": <message> (os error N)`,
//!    and the exit code the parent chose (`Flags::exec_failed`, 127 unless
//!    configured).

use ::core::ffi::c_char;

use crate::protocol::{self, Flags, StubKind};

/// Whether a runtime's start-up ran in this process before the stub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Startup {
    /// Nothing ran before the stub (the ELF constructor on glibc, the
    /// embedded stub's `_start`): there is nothing to undo but inherited
    /// state.
    #[cfg_attr(not(target_env = "gnu"), allow(dead_code))] // glibc and the embedded stub
    BeforeRuntime,
    /// std's runtime started first (`init()` from `main`): it ignored
    /// SIGPIPE and put `/dev/null` on closed standard descriptors.
    AfterRuntime,
}

/// The platform's `errno` values the algorithm tells apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Errno {
    pub(crate) acces: i32,
    pub(crate) noent: i32,
    /// `ENOEXEC`: the file is no executable format the kernel knows.
    pub(crate) noexec: i32,
    /// After these a `PATH` search goes on with the next directory, as the
    /// C library's `posix_spawnp` and `execvp` do: glibc goes on after
    /// `ENOENT`, `ESTALE`, `ENOTDIR`, `ENODEV`, `ETIMEDOUT`; musl
    /// (`__execvpe`) after `ENOENT` and `ENOTDIR` only.
    pub(crate) search_on: &'static [i32],
}

impl Errno {
    /// The values of every Linux architecture the embedded stub is built
    /// for (x86_64 and aarch64 share the generic numbers), searching as the
    /// C library of the target does.
    #[allow(dead_code)] // used by the embedded stub's build and the tests
    pub(crate) const LINUX: Errno = Errno {
        acces: 13,
        noent: 2,
        noexec: 8,
        search_on: if cfg!(target_env = "musl") {
            &[2, 20]
        } else {
            &[2, 116, 20, 19, 110]
        },
    };
}

/// The raw operations a stub needs. The current-executable stub implements
/// them with the C library, the embedded stub with system calls.
pub(crate) trait Sys {
    /// `SIGPIPE`'s number.
    const SIGPIPE: i32;
    /// Whether signals 32-34 are the C library's internal signals here
    /// (Linux): only then does the stub set their dispositions.
    const INTERNAL_SIGNALS: bool;
    /// The platform's `errno` values.
    const ERRNO: Errno;

    /// The file name the `execve` that started this process was given
    /// (`AT_EXECFN`; an empty slice when the kernel recorded none), or
    /// `None` on a platform that keeps no such record.
    fn exec_name(&self) -> Option<&[u8]>;
    /// Whether the process runs with elevated privileges (`AT_SECURE`).
    fn secure(&self) -> bool;
    /// Writes all of `bytes` to descriptor 2, ignoring errors.
    fn write_stderr(&mut self, bytes: &[u8]);
    /// Ends the process at once with `code`.
    fn exit(&mut self, code: i32) -> !;
    /// Sets `sig` to `SIG_IGN` (`ignore`) or `SIG_DFL`, through the kernel:
    /// the C library refuses to touch its internal signals.
    fn set_disposition(&mut self, sig: i32, ignore: bool);
    /// SIGTSTP, SIGTTIN and SIGTTOU: the stop signals a terminal sends to
    /// a whole process group, which the guard blocks across a spawn.
    const STOP_SIGNALS: [i32; 3];

    /// Removes from the signal mask those of [`Sys::STOP_SIGNALS`] that
    /// `which` marks, in one call.
    fn unblock(&mut self, which: [bool; 3]);
    /// Sets an empty signal mask.
    fn clear_signal_mask(&mut self);
    /// The process group of this process (`getpgrp()`).
    fn process_group(&mut self) -> i32;
    /// Which of [`Sys::STOP_SIGNALS`] are pending (`sigpending`: for the
    /// process or the thread).
    fn pending_stops(&mut self) -> [bool; 3];
    /// Discards a pending `sig`, process- and thread-directed: sets its
    /// action to `SIG_IGN` and then back to exactly the action it had.
    /// Called while `sig` is blocked, so nothing is delivered in between.
    fn discard_pending(&mut self, sig: i32);
    /// `fcntl(fd, F_GETFL)`, `None` on failure.
    fn status_flags(&mut self, fd: i32) -> Option<i32>;
    /// Whether `fstat(fd)` shows the character device `/dev/null` (1, 3).
    fn is_null_device(&mut self, fd: i32) -> bool;
    /// Closes `fd`, ignoring errors.
    fn close(&mut self, fd: i32);
    /// `execve`; returns the `errno` of its failure.
    ///
    /// # Safety
    /// `path` is NUL-terminated; `argv` and `envp` are NULL-terminated
    /// arrays of NUL-terminated strings.
    unsafe fn execve(
        &mut self,
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> i32;
    /// Writes the working directory into `buf`; returns its length (without
    /// the NUL), `None` on failure.
    fn getcwd(&mut self, buf: &mut [u8]) -> Option<usize>;
    /// The text for `errno`, as `strerror` gives it; `None` for a value
    /// without one ("Unknown error N" is printed).
    fn error_message(&self, errno: i32) -> Option<&[u8]>;
}

/// The longest path the stub builds for a `PATH` candidate, NUL included
/// (Linux's `PATH_MAX`; glibc skips longer candidates, so does the stub).
/// The kernel's `struct sigaction` for `rt_sigaction` on the 64-bit Linux
/// targets (x86_64 and aarch64 both have `sa_restorer`, and a 64-bit
/// `sigset_t`), with no handler code: `SIG_DFL` (0) or `SIG_IGN` (1). The
/// C libraries refuse to touch signals 32-34, so both stubs and the parent
/// use the system call directly.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[repr(C)]
#[derive(Debug)]
#[allow(dead_code)] // the fields are read by the kernel
pub(crate) struct KernelSigaction {
    /// `SIG_DFL` or `SIG_IGN`.
    pub(crate) handler: usize,
    flags: usize,
    restorer: usize,
    mask: u64,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl KernelSigaction {
    /// `SIG_IGN` or `SIG_DFL`, no flags, empty mask.
    pub(crate) const fn new(ignore: bool) -> KernelSigaction {
        KernelSigaction {
            handler: ignore as usize,
            flags: 0,
            restorer: 0,
            mask: 0,
        }
    }

    /// Whether the disposition is `SIG_IGN`.
    #[allow(dead_code)] // the parent reads dispositions, the stubs only set them
    pub(crate) const fn is_ignored(&self) -> bool {
        self.handler == 1
    }
}

/// The size of the kernel's signal set, the last argument of
/// `rt_sigaction` and `rt_sigprocmask`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const KERNEL_SIGSET_SIZE: usize = 8;

const PATH_MAX: usize = 4096;

/// The search path when the environment has no `PATH`: what the C library's
/// `posix_spawnp` uses, and what the parent resolves with (`unix::resolve`).
#[cfg(target_env = "musl")]
pub(crate) const DEFAULT_PATH: &[u8] = b"/usr/local/bin:/bin:/usr/bin";
/// The search path when the environment has no `PATH`: what the C library's
/// `posix_spawnp` uses, and what the parent resolves with (`unix::resolve`).
#[cfg(not(target_env = "musl"))]
pub(crate) const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// The shell glibc's `execvp` runs a file with when `execve` fails with
/// `ENOEXEC` (`_PATH_BSHELL`), which is also the shell's `argv[0]` there.
const SHELL: &[u8] = b"/bin/sh\0";

/// Runs the stub; never returns.
///
/// # Safety
/// `argv` points to a writable array of `argc` valid NUL-terminated strings
/// followed by a NULL pointer (the stub may change entries 2 and 3 of the
/// array, never the strings), `envp` to a NULL-terminated array of
/// NUL-terminated strings (or is NULL), all alive until the process execs or
/// exits.
pub(crate) unsafe fn run<S: Sys>(
    sys: &mut S,
    kind: StubKind,
    startup: Startup,
    argc: usize,
    argv: *mut *const c_char,
    envp: *const *const c_char,
) -> ! {
    if kind == StubKind::CurrentExe && sys.secure() {
        fail(
            sys,
            REFUSED,
            &[b"refusing to act as a stub: this executable runs with elevated privileges"],
        );
    }
    let trusted = match sys.exec_name() {
        Some(name) => protocol::trusted_exec_name(kind, name),
        // Elsewhere there is no record of the name `execve` was given; see
        // the crate docs' security section.
        None => true,
    };
    if !trusted {
        fail(
            sys,
            REFUSED,
            &[b"refusing to act as a stub: not started by a double spawn"],
        );
    }
    // SAFETY: the caller guarantees `argc` valid entries.
    let arg = |i: usize| unsafe { c_bytes(*argv.add(i)) };
    let program = if argc >= 3 { arg(2) } else { &[] };
    let marked = argc >= 2 && protocol::is_marker(arg(1));
    if !marked || protocol::check_shape(argc, program).is_err() {
        fail(
            sys,
            USAGE,
            &[
                b"usage: ",
                protocol::MARKER.as_bytes(),
                b" PROGRAM ARGV0 [ARGS...] (a private subcommand started by the double-spawn crate)",
            ],
        );
    }
    let flags = Flags::from_arg0(arg(0));
    restore(sys, flags, startup);
    // SAFETY: the array holds at least the four fixed entries (the shape
    // was checked) and is writable; entries 3.. are the target's argv,
    // NULL-terminated by the caller's guarantee; `envp` as given.
    let errno = unsafe { exec(sys, argv, program, flags.sh_fallback, envp) };
    exec_failed(sys, flags.exec_failed, program, errno)
}

/// `exit_code::REFUSED_PRIVILEGED`, from the protocol (which the embedded
/// stub compiles too).
const REFUSED: i32 = protocol::REFUSED as i32;
/// `exit_code::USAGE`.
const USAGE: i32 = protocol::USAGE as i32;

/// Undoes what differs from the child of a direct spawn (step 4).
fn restore<S: Sys>(sys: &mut S, flags: Flags, startup: Startup) {
    if startup == Startup::AfterRuntime {
        // Only a runtime's start-up changed SIGPIPE here; before it, the
        // stub has the disposition its own spawn gave it, which is the one
        // the direct spawn's child would have had (std sets it to the
        // default in both, or leaves both alone under `-Zon-broken-pipe`).
        sys.set_disposition(S::SIGPIPE, false);
        for (fd, close) in (0..3).zip(flags.close_std) {
            if close && is_runtime_dev_null(sys, fd) {
                sys.close(fd);
            }
        }
    }
    if let (true, Some(ignored)) = (S::INTERNAL_SIGNALS, flags.ignored_internal) {
        for (sig, ignored) in protocol::INTERNAL_SIGNALS.into_iter().zip(ignored) {
            sys.set_disposition(sig, ignored);
        }
    }
    // The stop signals the guard blocked (`t`, `u`, `o`); `m` empties the
    // mask, which unblocks all three as well.
    let unblock = flags.unblock_stops;
    let released = unblock.map(|u| u || flags.reset_mask);
    if released.contains(&true) {
        // A stop that was aimed at the spawner's group must not follow the
        // child into a group of its own (step 4 in the module docs). Only
        // the pending ones are discarded (usually none: one call).
        if flags
            .spawner_pgid
            .is_some_and(|spawner| sys.process_group() != spawner)
        {
            let pending = sys.pending_stops();
            for ((sig, released), pending) in S::STOP_SIGNALS.into_iter().zip(released).zip(pending)
            {
                if released && pending {
                    sys.discard_pending(sig);
                }
            }
        }
        if flags.reset_mask {
            sys.clear_signal_mask();
        } else {
            sys.unblock(unblock);
        }
    }
}

/// std's start-up opens `/dev/null` read-write on a closed standard
/// descriptor; an explicit `Stdio::null()` opens it read-only or write-only.
fn is_runtime_dev_null<S: Sys>(sys: &mut S, fd: i32) -> bool {
    const O_ACCMODE: i32 = 3;
    const O_RDWR: i32 = 2;
    sys.status_flags(fd)
        .is_some_and(|fl| fl & O_ACCMODE == O_RDWR)
        && sys.is_null_device(fd)
}

/// Executes the target; returns the `errno` of the failure.
///
/// # Safety
/// `stub_argv` is the stub's whole writable `argv` array, at least four
/// entries and a NULL: `[2]` is the NUL-terminated program whose bytes are
/// `program`, `[3..]` the target's NULL-terminated `argv`; `envp` as for
/// [`Sys::execve`] (it may be NULL).
unsafe fn exec<S: Sys>(
    sys: &mut S,
    stub_argv: *mut *const c_char,
    program: &[u8],
    sh_fallback: bool,
    envp: *const *const c_char,
) -> i32 {
    static EMPTY: [usize; 1] = [0];
    let envp = if envp.is_null() {
        EMPTY.as_ptr().cast()
    } else {
        envp
    };
    // SAFETY: as the caller guarantees.
    let program_c = unsafe { *stub_argv.add(2) };
    let target = Target {
        stub_argv,
        envp,
        sh_fallback,
    };
    if program.contains(&b'/') {
        // SAFETY: `program_c` is the NUL-terminated program, the rest as
        // the caller guarantees.
        return unsafe { target.attempt(sys, program_c) };
    }
    // SAFETY: as the caller guarantees.
    unsafe { search(sys, &target, program) }
}

/// What every candidate of one target is executed with.
struct Target {
    /// The stub's whole `argv` array (see [`exec`]).
    stub_argv: *mut *const c_char,
    /// Never NULL.
    envp: *const *const c_char,
    /// `s`: glibc's shell fallback on `ENOEXEC`.
    sh_fallback: bool,
}

impl Target {
    /// One candidate: `execve`, then, with `s`, glibc's shell fallback.
    /// Returns the `errno`.
    ///
    /// # Safety
    /// `file` is a NUL-terminated path; the fields as for [`exec`].
    unsafe fn attempt<S: Sys>(&self, sys: &mut S, file: *const c_char) -> i32 {
        // SAFETY: as the caller guarantees; entries 3.. of the stub's argv
        // are the target's NULL-terminated argv.
        let e = unsafe { sys.execve(file, self.stub_argv.add(3).cast_const(), self.envp) };
        if e != S::ERRNO.noexec || !self.sh_fallback {
            return e;
        }
        // SAFETY: as above; `script` puts the entries back.
        unsafe { script(sys, self.stub_argv, file, self.envp) }
    }
}

/// Searches `PATH` for a bare name like posix_spawnp, or with `s` like
/// execvp; returns the `errno` of the failure.
///
/// A function of its own, never inlined: its `PATH_MAX` buffer would
/// otherwise sit in the frame of every exec, and the stack probe for that
/// frame touches one more page of stack, a page fault in the embedded
/// stub's common case (a resolved path), which never searches.
///
/// # Safety
/// As for [`exec`].
#[cold]
#[inline(never)]
unsafe fn search<S: Sys>(sys: &mut S, target: &Target, program: &[u8]) -> i32 {
    // SAFETY: as the caller guarantees.
    let path = unsafe { env_value(target.envp, b"PATH") }.unwrap_or(DEFAULT_PATH);
    let errno = S::ERRNO;
    let mut buf = [0u8; PATH_MAX];
    let mut saw_eacces = false;
    for dir in path.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let len = dir.len() + 1 + program.len();
        if len >= buf.len() {
            continue; // as glibc: a candidate longer than PATH_MAX is skipped
        }
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..len].copy_from_slice(program);
        buf[len] = 0;
        // SAFETY: `buf` holds a NUL-terminated candidate.
        let e = unsafe { target.attempt(sys, buf.as_ptr().cast()) };
        if e == errno.acces {
            saw_eacces = true;
        } else if !errno.search_on.contains(&e) {
            return e;
        }
    }
    if saw_eacces {
        errno.acces
    } else {
        errno.noent
    }
}

/// Runs `file`, which failed with `ENOEXEC`, as glibc's
/// `maybe_script_execute` does: `execve("/bin/sh", ["/bin/sh", file,
/// argv[1..]...], envp)`, where `argv` is the target's. The shell's `argv`
/// is the stub's own array from entry 2 on, with entries 2 and 3 (the
/// program and the target's `argv[0]`) replaced for the call and put back
/// after it. Returns the shell's `errno`.
///
/// # Safety
/// As for [`exec`]; `file` is a NUL-terminated path that stays valid.
unsafe fn script<S: Sys>(
    sys: &mut S,
    stub_argv: *mut *const c_char,
    file: *const c_char,
    envp: *const *const c_char,
) -> i32 {
    let shell = SHELL.as_ptr().cast::<c_char>();
    // SAFETY: entries 2 and 3 exist and are writable (the caller's
    // guarantee); `stub_argv + 2` is then `[shell, file, the target's
    // arguments..., NULL]`, an argc of one giving `[shell, file, NULL]` as
    // glibc builds it.
    unsafe {
        let saved = (*stub_argv.add(2), *stub_argv.add(3));
        *stub_argv.add(2) = shell;
        *stub_argv.add(3) = file;
        let e = sys.execve(shell, stub_argv.add(2).cast_const(), envp);
        *stub_argv.add(2) = saved.0;
        *stub_argv.add(3) = saved.1;
        e
    }
}

/// The value of the first `name=` entry of `envp`, as `getenv` finds it.
///
/// # Safety
/// `envp` is a NULL-terminated array of NUL-terminated strings.
unsafe fn env_value<'a>(envp: *const *const c_char, name: &[u8]) -> Option<&'a [u8]> {
    let mut p = envp;
    loop {
        // SAFETY: `p` stays within the NULL-terminated array.
        let entry = unsafe { *p };
        if entry.is_null() {
            return None;
        }
        // SAFETY: every entry is NUL-terminated.
        let entry = unsafe { c_bytes(entry) };
        if let Some(value) = entry
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(b"="))
        {
            return Some(value);
        }
        // SAFETY: the entry was not the terminating NULL.
        p = unsafe { p.add(1) };
    }
}

/// The bytes of a NUL-terminated string, without the NUL.
///
/// # Safety
/// `p` points to a NUL-terminated string that lives for `'a`.
unsafe fn c_bytes<'a>(p: *const c_char) -> &'a [u8] {
    let p = p.cast::<u8>();
    let mut len = 0;
    // SAFETY: every byte up to the NUL is readable. (A loop, not
    // `CStr::from_ptr`: `core` implements that with the C library's
    // `strlen`, which the embedded stub does not have.)
    unsafe {
        while *p.add(len) != 0 {
            len += 1;
        }
        ::core::slice::from_raw_parts(p, len)
    }
}

/// Prints the one line for a failed `exec` and exits with `code` (step 6).
fn exec_failed<S: Sys>(sys: &mut S, code: u8, program: &[u8], errno: i32) -> ! {
    let mut cwd_buf = [0u8; PATH_MAX];
    let cwd_len = sys.getcwd(&mut cwd_buf).unwrap_or(0);
    let mut line = Line::new(sys);
    line.push(b"double-spawn: cannot execute ");
    line.push_quoted(program);
    line.push(b" in ");
    line.push_quoted(&cwd_buf[..cwd_len]);
    line.push(b": ");
    match line.sys.error_message(errno) {
        Some(message) => {
            let mut copy = [0u8; 128];
            let n = message.len().min(copy.len());
            copy[..n].copy_from_slice(&message[..n]);
            line.push(&copy[..n]);
        }
        None => {
            line.push(b"Unknown error ");
            line.push_decimal(errno);
        }
    }
    line.push(b" (os error ");
    line.push_decimal(errno);
    line.push(b")\n");
    line.flush();
    sys.exit(i32::from(code))
}

/// Prints `double-spawn: <parts>` and a newline; exits with `code`.
fn fail<S: Sys>(sys: &mut S, code: i32, parts: &[&[u8]]) -> ! {
    let mut line = Line::new(sys);
    line.push(b"double-spawn: ");
    for part in parts {
        line.push(part);
    }
    line.push(b"\n");
    line.flush();
    sys.exit(code)
}

/// A line of output on stderr, built in a stack buffer: one write, unless
/// it is longer than the buffer (a program name or directory near
/// `PATH_MAX`), then a few writes in a row.
struct Line<'a, S: Sys> {
    sys: &'a mut S,
    buf: [u8; 512],
    len: usize,
}

impl<'a, S: Sys> Line<'a, S> {
    fn new(sys: &'a mut S) -> Self {
        Line {
            sys,
            buf: [0; 512],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if self.len == self.buf.len() {
            self.flush();
        }
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn flush(&mut self) {
        self.sys.write_stderr(&self.buf[..self.len]);
        self.len = 0;
    }

    /// Writes `bytes` between double quotes, escaped as Rust's `Debug` for
    /// `OsStr` does on Unix for the characters a path or program name
    /// holds: `\"`, `\\`, `\t`, `\r`, `\n`, `\0`, other control characters
    /// as `\u{..}`, bytes that are not UTF-8 as `\x..`.
    fn push_quoted(&mut self, bytes: &[u8]) {
        self.byte(b'"');
        let mut rest = bytes;
        while !rest.is_empty() {
            let (valid, invalid) = match ::core::str::from_utf8(rest) {
                Ok(s) => (s, 0),
                Err(e) => {
                    let valid = e.valid_up_to();
                    // SAFETY: `from_utf8` says the first `valid` bytes are
                    // UTF-8.
                    let s = unsafe { ::core::str::from_utf8_unchecked(&rest[..valid]) };
                    (s, e.error_len().unwrap_or(rest.len() - valid))
                }
            };
            for c in valid.chars() {
                self.push_char(c);
            }
            let start = valid.len();
            for &b in &rest[start..start + invalid] {
                self.push(b"\\x");
                self.byte(hex_digit(b >> 4));
                self.byte(hex_digit(b & 0xf));
            }
            rest = &rest[start + invalid..];
        }
        self.byte(b'"');
    }

    fn push_char(&mut self, c: char) {
        match c {
            '"' => self.push(b"\\\""),
            '\\' => self.push(b"\\\\"),
            '\t' => self.push(b"\\t"),
            '\r' => self.push(b"\\r"),
            '\n' => self.push(b"\\n"),
            '\0' => self.push(b"\\0"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let n = c as u8;
                self.push(b"\\u{");
                if n >= 0x10 {
                    self.byte(hex_digit(n >> 4));
                }
                self.byte(hex_digit(n & 0xf));
                self.byte(b'}');
            }
            c => {
                let mut utf8 = [0u8; 4];
                self.push(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }

    fn push_decimal(&mut self, n: i32) {
        if n < 0 {
            self.byte(b'-');
        }
        for &d in protocol::decimal(n.unsigned_abs(), &mut [0; 10]) {
            self.byte(d);
        }
    }
}

fn hex_digit(n: u8) -> u8 {
    match n {
        0..=9 => b'0' + n,
        _ => b'a' + n - 10,
    }
}

/// `strerror`'s text for the `errno` values an `execve` or a `PATH` search
/// can end with on Linux, for a stub without a C library: in the wording of
/// the C library of the target, glibc's or musl's (which has no text for
/// `ELIBBAD`), so that the embedded stub says what std's `io::Error` says.
#[allow(dead_code)] // used by the embedded stub's build and the tests
pub(crate) fn linux_error_message(errno: i32) -> Option<&'static [u8]> {
    let musl = cfg!(target_env = "musl");
    Some(match errno {
        5 if musl => b"I/O error",
        12 if musl => b"Out of memory",
        24 if musl => b"No file descriptors available",
        36 if musl => b"Filename too long",
        40 if musl => b"Symbolic link loop",
        75 if musl => b"Value too large for data type",
        80 if musl => return None,
        110 if musl => b"Operation timed out",
        1 => b"Operation not permitted",
        2 => b"No such file or directory",
        4 => b"Interrupted system call",
        5 => b"Input/output error",
        6 => b"No such device or address",
        7 => b"Argument list too long",
        8 => b"Exec format error",
        9 => b"Bad file descriptor",
        11 => b"Resource temporarily unavailable",
        12 => b"Cannot allocate memory",
        13 => b"Permission denied",
        14 => b"Bad address",
        19 => b"No such device",
        20 => b"Not a directory",
        21 => b"Is a directory",
        22 => b"Invalid argument",
        23 => b"Too many open files in system",
        24 => b"Too many open files",
        26 => b"Text file busy",
        36 => b"File name too long",
        38 => b"Function not implemented",
        40 => b"Too many levels of symbolic links",
        75 => b"Value too large for defined data type",
        80 => b"Accessing a corrupted shared library",
        110 => b"Connection timed out",
        116 => b"Stale file handle",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::ffi::CString;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::vec::Vec;

    /// What a stub did, in order.
    #[derive(Debug, PartialEq, Eq)]
    enum Op {
        Disposition(i32, bool),
        Discard(i32),
        Unblock([bool; 3]),
        ClearMask,
        Close(i32),
        Exec(Vec<u8>),
    }

    struct Exit(i32);

    struct Mock {
        exec_name: Option<&'static [u8]>,
        secure: bool,
        /// The errno each `execve` returns, by path; ENOENT otherwise.
        exec_errors: Vec<(&'static [u8], i32)>,
        /// Descriptors that are std's read-write `/dev/null`.
        dev_null: [bool; 3],
        /// What `process_group` returns.
        pgid: i32,
        /// What `pending_stops` returns.
        pending: [bool; 3],
        ops: RefCell<Vec<Op>>,
        /// The `argv` of each `execve`, in order.
        argvs: Vec<Vec<Vec<u8>>>,
        stderr: Vec<u8>,
    }

    impl Mock {
        fn new() -> Mock {
            Mock {
                exec_name: Some(b"/proc/self/fd/7"),
                secure: false,
                exec_errors: Vec::new(),
                dev_null: [false; 3],
                pgid: 100,
                pending: [true; 3],
                ops: RefCell::new(Vec::new()),
                argvs: Vec::new(),
                stderr: Vec::new(),
            }
        }
    }

    impl Sys for Mock {
        const SIGPIPE: i32 = 13;
        const INTERNAL_SIGNALS: bool = true;
        const ERRNO: Errno = Errno::LINUX;

        fn exec_name(&self) -> Option<&[u8]> {
            self.exec_name
        }
        fn secure(&self) -> bool {
            self.secure
        }
        fn write_stderr(&mut self, bytes: &[u8]) {
            self.stderr.extend_from_slice(bytes);
        }
        fn exit(&mut self, code: i32) -> ! {
            std::panic::panic_any(Exit(code))
        }
        fn set_disposition(&mut self, sig: i32, ignore: bool) {
            self.ops.borrow_mut().push(Op::Disposition(sig, ignore));
        }
        const STOP_SIGNALS: [i32; 3] = [20, 21, 22];

        fn unblock(&mut self, which: [bool; 3]) {
            self.ops.borrow_mut().push(Op::Unblock(which));
        }
        fn clear_signal_mask(&mut self) {
            self.ops.borrow_mut().push(Op::ClearMask);
        }
        fn process_group(&mut self) -> i32 {
            self.pgid
        }
        fn pending_stops(&mut self) -> [bool; 3] {
            self.pending
        }
        fn discard_pending(&mut self, sig: i32) {
            self.ops.borrow_mut().push(Op::Discard(sig));
        }
        fn status_flags(&mut self, fd: i32) -> Option<i32> {
            Some(if self.dev_null[fd as usize] { 2 } else { 1 })
        }
        fn is_null_device(&mut self, _fd: i32) -> bool {
            true
        }
        fn close(&mut self, fd: i32) {
            self.ops.borrow_mut().push(Op::Close(fd));
        }
        unsafe fn execve(
            &mut self,
            path: *const c_char,
            argv: *const *const c_char,
            _envp: *const *const c_char,
        ) -> i32 {
            // SAFETY: the algorithm passes NUL-terminated paths and a
            // NULL-terminated argv.
            let path = unsafe { c_bytes(path) }.to_vec();
            let mut args = Vec::new();
            // SAFETY: as above.
            unsafe {
                let mut p = argv;
                while !(*p).is_null() {
                    args.push(c_bytes(*p).to_vec());
                    p = p.add(1);
                }
            }
            self.argvs.push(args);
            let errno = self
                .exec_errors
                .iter()
                .find(|(p, _)| *p == &path[..])
                .map_or(2, |&(_, e)| e);
            self.ops.borrow_mut().push(Op::Exec(path));
            errno
        }
        fn getcwd(&mut self, buf: &mut [u8]) -> Option<usize> {
            buf[..4].copy_from_slice(b"/w\"d");
            Some(4)
        }
        fn error_message(&self, errno: i32) -> Option<&[u8]> {
            linux_error_message(errno)
        }
    }

    /// Runs the algorithm as the given stub with `args` and `env`; returns
    /// the exit code.
    fn run_with(
        mock: &mut Mock,
        kind: StubKind,
        startup: Startup,
        args: &[&[u8]],
        env: &[&[u8]],
    ) -> i32 {
        let args: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
        let env: Vec<CString> = env.iter().map(|a| CString::new(*a).unwrap()).collect();
        let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(::core::ptr::null());
        let mut envp: Vec<*const c_char> = env.iter().map(|a| a.as_ptr()).collect();
        envp.push(::core::ptr::null());
        quiet_exits();
        let result = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: argv and envp are NULL-terminated arrays of C strings
            // that outlive the call.
            unsafe {
                run(
                    mock,
                    kind,
                    startup,
                    args.len(),
                    argv.as_mut_ptr(),
                    envp.as_ptr(),
                )
            }
        }));
        match result {
            Ok(()) => unreachable!("the stub returned"),
            Err(payload) => payload.downcast::<Exit>().map_or(-1, |e| e.0),
        }
    }

    /// Keeps the mock's `exit` (a panic carrying `Exit`) off the test
    /// output; every other panic is reported as usual.
    fn quiet_exits() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let default = std::panic::take_hook();
            std::panic::set_hook(std::boxed::Box::new(move |info| {
                if info.payload().downcast_ref::<Exit>().is_none() {
                    default(info);
                }
            }));
        });
    }

    fn embedded(mock: &mut Mock, args: &[&[u8]], env: &[&[u8]]) -> i32 {
        run_with(mock, StubKind::Embedded, Startup::BeforeRuntime, args, env)
    }

    fn execs(mock: &Mock) -> Vec<Vec<u8>> {
        mock.ops
            .borrow()
            .iter()
            .filter_map(|op| match op {
                Op::Exec(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    fn stderr(mock: &Mock) -> std::string::String {
        std::string::String::from_utf8_lossy(&mock.stderr).into_owned()
    }

    const M: &[u8] = protocol::MARKER.as_bytes();

    #[test]
    fn untrusted_origin_is_refused_before_anything_else() {
        for (kind, name) in [
            (StubKind::Embedded, &b"/usr/bin/stub"[..]),
            (StubKind::Embedded, b"/proc/self/exe"),
            (StubKind::CurrentExe, b"/proc/self/fd/3"),
            (StubKind::CurrentExe, b""),
        ] {
            let mut mock = Mock::new();
            mock.exec_name = Some(name);
            let code = run_with(
                &mut mock,
                kind,
                Startup::BeforeRuntime,
                &[b"x", M, b"/bin/sh", b"sh"],
                &[],
            );
            assert_eq!(code, 126, "{kind:?} {name:?}");
            assert_eq!(
                stderr(&mock),
                "double-spawn: refusing to act as a stub: not started by a double spawn\n"
            );
            assert!(mock.ops.borrow().is_empty());
        }
    }

    #[test]
    fn privileges_refuse_the_current_exe_stub_only() {
        let mut mock = Mock::new();
        mock.exec_name = Some(b"/proc/self/exe");
        mock.secure = true;
        let args: &[&[u8]] = &[b"double-spawn:", M, b"/bin/sh", b"sh"];
        assert_eq!(
            run_with(
                &mut mock,
                StubKind::CurrentExe,
                Startup::BeforeRuntime,
                args,
                &[]
            ),
            126
        );
        assert!(stderr(&mock).contains("elevated privileges"));
        assert!(execs(&mock).is_empty());

        let mut mock = Mock::new();
        mock.secure = true;
        assert_eq!(embedded(&mut mock, args, &[]), 127);
        assert_eq!(execs(&mock), [b"/bin/sh".to_vec()]);
    }

    #[test]
    fn bad_shape_is_usage() {
        for args in [
            &[&b"double-spawn:"[..], M, b"/bin/sh"][..],
            &[b"double-spawn:", M, b"", b"sh"],
            &[b"double-spawn:", b"not-the-marker", b"/bin/sh", b"sh"],
            &[b"double-spawn:"],
        ] {
            let mut mock = Mock::new();
            assert_eq!(embedded(&mut mock, args, &[]), 125);
            assert!(
                stderr(&mock).starts_with("double-spawn: usage: __double-spawn-stub-v1 PROGRAM")
            );
        }
    }

    #[test]
    fn flags_restore_in_order() {
        let mut mock = Mock::new();
        let code = embedded(&mut mock, &[b"double-spawn:t01i5e42", M, b"/p", b"p"], &[]);
        assert_eq!(code, 42);
        assert_eq!(
            *mock.ops.borrow(),
            [
                Op::Disposition(32, true),
                Op::Disposition(33, false),
                Op::Disposition(34, true),
                Op::Unblock([true, false, false]),
                Op::Exec(b"/p".to_vec()),
            ]
        );
        // Without `i` the three are left as the stub found them, and before
        // any runtime SIGPIPE is too: only SIGTSTP is touched.
        let mut mock = Mock::new();
        embedded(&mut mock, &[b"double-spawn:t", M, b"/p", b"p"], &[]);
        assert_eq!(
            *mock.ops.borrow(),
            [Op::Unblock([true, false, false]), Op::Exec(b"/p".to_vec())]
        );
        // Without `t` the mask is left alone; an unreadable argv[0] is the
        // default (unblock, close nothing).
        let mut mock = Mock::new();
        embedded(&mut mock, &[b"double-spawn:", M, b"/p", b"p"], &[]);
        assert!(!mock
            .ops
            .borrow()
            .iter()
            .any(|op| matches!(op, Op::Unblock(_))));
        let mut mock = Mock::new();
        embedded(&mut mock, &[b"whatever", M, b"/p", b"p"], &[]);
        assert!(mock
            .ops
            .borrow()
            .contains(&Op::Unblock([true, false, false])));
    }

    #[test]
    fn a_stop_pending_from_the_spawners_group_is_discarded_only_after_leaving_it() {
        let ops = |arg0: &[u8], pgid: i32| {
            let mut mock = Mock::new();
            mock.pgid = pgid;
            embedded(&mut mock, &[arg0, M, b"/p", b"p"], &[]);
            let ops = mock.ops.take();
            ops.into_iter()
                .filter(|op| matches!(op, Op::Discard(_) | Op::Unblock(_)))
                .collect::<Vec<_>>()
        };
        let t = || Op::Unblock([true, false, false]);
        // In another group than the spawner's: discard, then unblock.
        assert_eq!(ops(b"double-spawn:tg42", 100), [Op::Discard(20), t()]);
        // Still in the spawner's group: the stop lands after the unblock.
        assert_eq!(ops(b"double-spawn:tg100", 100), [t()]);
        // No group given, or SIGTSTP not unblocked: nothing is discarded.
        assert_eq!(ops(b"double-spawn:t", 100), [t()]);
        assert_eq!(ops(b"double-spawn:g42", 100), []);
        assert_eq!(ops(b"whatever", 100), [t()]);
        // SIGTTIN and SIGTTOU as SIGTSTP, each by its own letter.
        let all = Op::Unblock([true, true, true]);
        assert_eq!(
            ops(b"double-spawn:tuog42", 100),
            [Op::Discard(20), Op::Discard(21), Op::Discard(22), all]
        );
        assert_eq!(
            ops(b"double-spawn:og42", 100),
            [Op::Discard(22), Op::Unblock([false, false, true])]
        );
        assert_eq!(ops(b"double-spawn:tuog100", 100), [Op::Unblock([true; 3])]);
    }

    #[test]
    fn only_a_pending_stop_is_discarded() {
        let mut mock = Mock::new();
        mock.pending = [false, true, false];
        embedded(&mut mock, &[b"double-spawn:tuog42", M, b"/p", b"p"], &[]);
        let ops = mock.ops.take();
        let ops: Vec<_> = ops
            .into_iter()
            .filter(|op| matches!(op, Op::Discard(_) | Op::Unblock(_)))
            .collect();
        assert_eq!(ops, [Op::Discard(21), Op::Unblock([true; 3])]);
    }

    #[test]
    fn m_empties_the_mask_after_the_sigtstp_handling() {
        let ops = |arg0: &[u8]| {
            let mut mock = Mock::new();
            embedded(&mut mock, &[arg0, M, b"/p", b"p"], &[]);
            let ops = mock.ops.take();
            ops.into_iter()
                .filter(|op| matches!(op, Op::Discard(_) | Op::Unblock(_) | Op::ClearMask))
                .collect::<Vec<_>>()
        };
        assert_eq!(ops(b"double-spawn:tm"), [Op::ClearMask]);
        // `m` releases all three stop signals: each pending one is discarded.
        let discard_all = || {
            std::vec![
                Op::Discard(20),
                Op::Discard(21),
                Op::Discard(22),
                Op::ClearMask
            ]
        };
        assert_eq!(ops(b"double-spawn:tmg42"), discard_all());
        assert_eq!(ops(b"double-spawn:tmg100"), [Op::ClearMask]);
        // The caller blocked SIGTSTP itself (no `t`): emptying the mask
        // unblocks it all the same, so a stop from the spawner's group is
        // discarded first here too.
        assert_eq!(ops(b"double-spawn:mg42"), discard_all());
        assert_eq!(ops(b"double-spawn:m"), [Op::ClearMask]);
    }

    /// The shell fallback of glibc's execvp (`s`), for a path and in a
    /// `PATH` search.
    #[test]
    fn s_runs_an_enoexec_file_with_bin_sh_as_glibc_execvp_does() {
        let v = |items: &[&[u8]]| items.iter().map(|i| i.to_vec()).collect::<Vec<_>>();
        // A path: `/bin/sh FILE ARGS...`, argv[0] dropped; the shell's
        // errno is the one reported.
        let mut mock = Mock::new();
        mock.exec_errors = std::vec![(&b"/d/script"[..], 8), (b"/bin/sh", 13)];
        let code = embedded(
            &mut mock,
            &[b"double-spawn:s", M, b"/d/script", b"zero", b"a", b"b c"],
            &[],
        );
        assert_eq!(code, 127);
        assert_eq!(execs(&mock), v(&[b"/d/script", b"/bin/sh"]));
        assert_eq!(mock.argvs[0], v(&[b"zero", b"a", b"b c"]));
        assert_eq!(mock.argvs[1], v(&[b"/bin/sh", b"/d/script", b"a", b"b c"]));
        assert!(stderr(&mock).ends_with("Permission denied (os error 13)\n"));

        // An argv of one entry: `[/bin/sh, FILE]`.
        let mut mock = Mock::new();
        mock.exec_errors = std::vec![(&b"/d/script"[..], 8)];
        embedded(
            &mut mock,
            &[b"double-spawn:s", M, b"/d/script", b"zero"],
            &[],
        );
        assert_eq!(mock.argvs[1], v(&[b"/bin/sh", b"/d/script"]));

        // Without `s`: ENOEXEC is the failure.
        let mut mock = Mock::new();
        mock.exec_errors = std::vec![(&b"/d/script"[..], 8)];
        embedded(
            &mut mock,
            &[b"double-spawn:", M, b"/d/script", b"zero"],
            &[],
        );
        assert_eq!(execs(&mock), v(&[b"/d/script"]));
        assert!(stderr(&mock).ends_with("Exec format error (os error 8)\n"));

        // A search: the candidate's path is the shell's FILE; a shell that
        // fails with ENOENT goes on with the next directory (glibc's loop
        // switches on the shell's errno), with the target's argv put back.
        let mut mock = Mock::new();
        mock.exec_errors = std::vec![(&b"/a/prog"[..], 8), (b"/b/prog", 8), (b"/bin/sh", 2)];
        embedded(
            &mut mock,
            &[b"double-spawn:s", M, b"prog", b"prog", b"x"],
            &[b"PATH=/a:/b:/c"],
        );
        assert_eq!(
            execs(&mock),
            v(&[b"/a/prog", b"/bin/sh", b"/b/prog", b"/bin/sh", b"/c/prog"])
        );
        assert_eq!(mock.argvs[1], v(&[b"/bin/sh", b"/a/prog", b"x"]));
        assert_eq!(mock.argvs[2], v(&[b"prog", b"x"]));
        assert_eq!(mock.argvs[3], v(&[b"/bin/sh", b"/b/prog", b"x"]));
        assert_eq!(mock.argvs[4], v(&[b"prog", b"x"]));

        // A shell error that is not a search-on one ends the search.
        let mut mock = Mock::new();
        mock.exec_errors = std::vec![(&b"/a/prog"[..], 8), (b"/bin/sh", 7)];
        embedded(
            &mut mock,
            &[b"double-spawn:s", M, b"prog", b"prog"],
            &[b"PATH=/a:/b"],
        );
        assert_eq!(execs(&mock), v(&[b"/a/prog", b"/bin/sh"]));
        assert!(stderr(&mock).ends_with("Argument list too long (os error 7)\n"));
    }

    #[test]
    fn std_fds_are_closed_only_after_a_runtime_and_only_its_dev_null() {
        let args: &[&[u8]] = &[b"double-spawn:012", M, b"/p", b"p"];
        let mut mock = Mock::new();
        mock.exec_name = Some(b"/proc/self/exe");
        mock.dev_null = [true, false, true];
        run_with(
            &mut mock,
            StubKind::CurrentExe,
            Startup::AfterRuntime,
            args,
            &[],
        );
        let ops = mock.ops.borrow();
        let closed: Vec<&Op> = ops.iter().filter(|o| matches!(o, Op::Close(_))).collect();
        assert_eq!(closed, [&Op::Close(0), &Op::Close(2)]);
        // The runtime ignored SIGPIPE: it is put back to the default.
        assert!(ops.contains(&Op::Disposition(13, false)));

        let mut mock = Mock::new();
        mock.dev_null = [true; 3];
        embedded(&mut mock, args, &[]);
        assert!(!mock.ops.borrow().iter().any(|o| matches!(o, Op::Close(_))));
    }

    #[test]
    fn bare_names_search_path_like_posix_spawnp() {
        let mut mock = Mock::new();
        mock.exec_errors = std::vec![(&b"/b/prog"[..], 13), (b"./prog", 20)];
        let code = embedded(
            &mut mock,
            &[b"double-spawn:", M, b"prog", b"prog"],
            &[b"PATHX=/x", b"PATH=/a::/b:/c"],
        );
        assert_eq!(code, 127);
        assert_eq!(
            execs(&mock),
            [
                b"/a/prog".to_vec(),
                b"./prog".to_vec(),
                b"/b/prog".to_vec(),
                b"/c/prog".to_vec()
            ]
        );
        // EACCES anywhere wins over ENOENT at the end.
        assert!(
            stderr(&mock).ends_with(": Permission denied (os error 13)\n"),
            "{}",
            stderr(&mock)
        );

        // No PATH: the C library's default (musl's starts with
        // /usr/local/bin). An error other than the search-on ones ends the
        // search.
        let mut mock = Mock::new();
        mock.exec_errors = std::vec![(&b"/bin/prog"[..], 8)];
        embedded(&mut mock, &[b"double-spawn:", M, b"prog", b"prog"], &[]);
        let mut expected = std::vec![b"/bin/prog".to_vec()];
        if cfg!(target_env = "musl") {
            expected.insert(0, b"/usr/local/bin/prog".to_vec());
        }
        assert_eq!(execs(&mock), expected);
        assert!(stderr(&mock).contains("Exec format error (os error 8)"));

        // ESTALE: glibc goes on with the next directory, musl stops there.
        let mut mock = Mock::new();
        mock.exec_errors = std::vec![(&b"/a/prog"[..], 116)];
        embedded(
            &mut mock,
            &[b"double-spawn:", M, b"prog", b"prog"],
            &[b"PATH=/a:/b"],
        );
        let stops = cfg!(target_env = "musl");
        assert_eq!(execs(&mock).len(), if stops { 1 } else { 2 });
    }

    #[test]
    fn candidates_longer_than_path_max_are_skipped() {
        let long = std::format!("/{}", "d".repeat(PATH_MAX));
        let path = std::format!("PATH={long}:/ok");
        let mut mock = Mock::new();
        embedded(
            &mut mock,
            &[b"double-spawn:", M, b"prog", b"prog"],
            &[path.as_bytes()],
        );
        assert_eq!(execs(&mock), [b"/ok/prog".to_vec()]);
    }

    #[test]
    fn exec_failure_is_one_line_with_program_cwd_and_error() {
        let mut mock = Mock::new();
        let code = embedded(
            &mut mock,
            &[b"double-spawn:e3", M, b"/no/\xffpro\tg\"", b"x"],
            &[],
        );
        assert_eq!(code, 3);
        assert_eq!(
            stderr(&mock),
            "double-spawn: cannot execute \"/no/\\xffpro\\tg\\\"\" in \"/w\\\"d\": \
             No such file or directory (os error 2)\n"
        );
        // The quoting is std's Debug for OsStr.
        let os = std::ffi::OsStr::new("/no/\u{1b}é\"");
        let mut mock = Mock::new();
        embedded(
            &mut mock,
            &[b"double-spawn:", M, "/no/\u{1b}é\"".as_bytes(), b"x"],
            &[],
        );
        assert!(stderr(&mock).starts_with(&std::format!("double-spawn: cannot execute {os:?} in ")));
        // An errno without a text.
        let mut mock = Mock::new();
        mock.exec_errors = std::vec![(&b"/p"[..], 999)];
        embedded(&mut mock, &[b"double-spawn:", M, b"/p", b"x"], &[]);
        assert!(stderr(&mock).ends_with(": Unknown error 999 (os error 999)\n"));
    }

    #[test]
    fn long_lines_are_written_whole() {
        let program = std::format!("/{}", "p".repeat(3000));
        let mut mock = Mock::new();
        embedded(
            &mut mock,
            &[b"double-spawn:", M, program.as_bytes(), b"x"],
            &[],
        );
        let err = stderr(&mock);
        assert!(
            err.contains(&program)
                && err.ends_with("(os error 2)\n")
                && err.matches('\n').count() == 1
        );
    }

    #[test]
    fn linux_messages_match_the_c_library() {
        for errno in 1..200 {
            if let Some(ours) = linux_error_message(errno) {
                let libc = std::io::Error::from_raw_os_error(errno).to_string();
                assert_eq!(
                    std::format!("{} (os error {errno})", std::str::from_utf8(ours).unwrap()),
                    libc
                );
            }
        }
    }
}
