//! The Unix implementation: the guard, the rewrite, the stub.

mod exposure;
mod guard;
mod inspect;
#[cfg(double_spawn_embedded)]
pub(crate) mod loader;
pub(crate) mod resolve;
mod rewrite;
mod signals;
mod stub_flags;
#[path = "../stubs/mod.rs"]
mod stubs;

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use nix::libc;

pub(crate) use guard::Guard;
pub(crate) use rewrite::IoDefaults;
use rewrite::{Rewritten, Uncarried};

use crate::config::{DoubleSpawn, Stub};
use crate::fallback;
use crate::protocol::{self, Flags, MARKER};
use crate::route::{DirectReason, Route};

/// Set when this process is known to be a stub host: its main executable
/// links the crate and the process is not a stub. With glibc the ELF
/// constructor sets it before `main`; elsewhere `init()` does.
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn mark_installed() {
    INSTALLED.store(true, Ordering::Release);
}

pub(crate) fn init() {
    keep_constructor_linked();
    if !in_main_executable() {
        // A shared library calling init(): the host program's arguments
        // are not ours, and its executable is not our stub.
        return;
    }
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv
        .get(1)
        .is_some_and(|a| protocol::is_marker(a.as_encoded_bytes()))
    {
        stubs::current_exe::run_from_init(argv);
    }
    mark_installed();
}

/// With glibc the stub runs from an ELF constructor; a reference to it from
/// every path that spawns keeps the object holding it linked.
#[inline(always)]
fn keep_constructor_linked() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::hint::black_box(&stubs::current_exe::early::STUB_CONSTRUCTOR);
}

/// Whether this code was loaded as part of the main executable (the one
/// `/proc/self/exe` names), rather than from a shared library that another
/// program loaded (a Python extension, a plugin).
///
/// The C library's list of loaded objects starts with the main executable
/// (`dl_iterate_phdr` reports it first, with its load bias); this function's
/// own address lies in one of that executable's loadable segments exactly
/// when the crate was linked into it. The bias comes from the C library
/// rather than from the kernel's `AT_PHDR`, because static-pie executables
/// (musl's default) carry no `PT_PHDR` entry to compute it from.
fn in_main_executable() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        /// Stops at the first object (the main executable) and records
        /// whether `data`'s address lies in one of its loadable segments.
        unsafe extern "C" fn first_object(
            info: *mut libc::dl_phdr_info,
            _size: libc::size_t,
            data: *mut libc::c_void,
        ) -> libc::c_int {
            // SAFETY: the C library passes a valid `dl_phdr_info` whose
            // program headers stay mapped during the call; `data` is the
            // `(usize, bool)` that `in_main_executable` passed.
            unsafe {
                let info = &*info;
                let (here, found) = &mut *data.cast::<(usize, bool)>();
                let headers =
                    std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
                *found = headers
                    .iter()
                    .filter(|h| h.p_type == libc::PT_LOAD)
                    .any(|h| {
                        let start = (info.dlpi_addr as usize).wrapping_add(h.p_vaddr as usize);
                        *here >= start && *here - start < h.p_memsz as usize
                    });
            }
            1 // the main executable is all we need
        }
        let mut probe = (in_main_executable as *const () as usize, false);
        // SAFETY: the callback only reads what the C library hands it and
        // writes to `probe`, which outlives the call; it allocates nothing.
        unsafe {
            libc::dl_iterate_phdr(
                Some(first_object),
                (&mut probe as *mut (usize, bool)).cast(),
            );
        }
        probe.1
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        true
    }
}

/// True for setuid/setgid binaries and binaries with file capabilities: on
/// Linux the kernel sets `AT_SECURE` for them; the BSDs, Apple systems and
/// illumos answer the same question with `issetugid()` (the process gained
/// privileges at `exec`, or changed its ids since), which stays true after
/// a privileged process drops back to its real ids.
fn is_privileged() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: getauxval only reads the auxiliary vector.
        unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
    }
    #[cfg(any(
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd",
        target_vendor = "apple"
    ))]
    {
        // SAFETY: issetugid takes no arguments and only reads the kernel's
        // record of how this process was started.
        unsafe { libc::issetugid() != 0 }
    }
    #[cfg(any(target_os = "illumos", target_os = "solaris"))]
    {
        extern "C" {
            // illumos libc: `int issetugid(void)`, not declared by `libc`.
            fn issetugid() -> libc::c_int;
        }
        // SAFETY: as above; the declaration matches illumos's `unistd.h`.
        unsafe { issetugid() != 0 }
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd",
        target_vendor = "apple",
        target_os = "illumos",
        target_os = "solaris"
    )))]
    {
        // SAFETY: these getters cannot fail and touch no memory.
        unsafe { libc::getuid() != libc::geteuid() || libc::getgid() != libc::getegid() }
    }
}

/// The path the current-executable stub is started from, found once.
///
/// On Linux this is `/proc/self/exe`, resolved by the kernel in the child at
/// `exec` time: it always names the very binary that is running, even when
/// the file was replaced or deleted since (a rebuild during a long test run),
/// so a parent and its stub can never disagree about the stub protocol. It is
/// also the one name the stub obeys (see `protocol::trusted_exec_name`).
///
/// Whether this process is a stub host is read on every call, not cached:
/// where `init()` does the job, a spawn made before it (from another
/// library's start-up, say) must not keep later spawns unprotected.
fn current_exe_stub() -> Result<&'static Path, DirectReason> {
    if !INSTALLED.load(Ordering::Acquire) {
        static IN_MAIN: OnceLock<bool> = OnceLock::new();
        return Err(if *IN_MAIN.get_or_init(in_main_executable) {
            DirectReason::NotInstalled
        } else {
            DirectReason::SharedLibrary
        });
    }
    static EXE: OnceLock<Result<PathBuf, DirectReason>> = OnceLock::new();
    EXE.get_or_init(|| {
        if is_privileged() {
            return Err(DirectReason::Privileged);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let exe = {
            let proc_exe = PathBuf::from("/proc/self/exe");
            std::fs::metadata(&proc_exe).map(|_| proc_exe)
        };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let exe = std::env::current_exe();
        exe.map_err(|_| DirectReason::NoExecutable)
    })
    .as_ref()
    .map(PathBuf::as_path)
    .map_err(|f| *f)
}

/// The embedded stub's path, when it is built in and this process can run
/// it; the first call loads and probes it, and reports a refusal once.
fn embedded_stub() -> Option<&'static Path> {
    #[cfg(double_spawn_embedded)]
    match loader::embedded_stub() {
        Ok(path) => return Some(path),
        Err(why) => crate::fallback::embedded_refused(&why.to_string()),
    }
    #[cfg(not(double_spawn_embedded))]
    crate::fallback::embedded_refused("it is not built for this target");
    None
}

/// A stub that can be started, and which.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StubPath {
    path: &'static Path,
    embedded: bool,
}

/// Which stub spawns with `config` go through, or why they are direct.
/// Nothing is reported here.
fn availability(config: &DoubleSpawn) -> Result<StubPath, DirectReason> {
    keep_constructor_linked();
    if !config.is_enabled() {
        return Err(DirectReason::Disabled);
    }
    if config.get_stub() == Stub::Embedded {
        if let Some(path) = embedded_stub() {
            return Ok(StubPath {
                path,
                embedded: true,
            });
        }
    }
    current_exe_stub().map(|path| StubPath {
        path,
        embedded: false,
    })
}

pub(crate) fn route(config: &DoubleSpawn) -> Route {
    if !exposure::EVERY_SPAWN && config.is_enabled() {
        // Most commands; those std may fork for take the stub (`exposure`).
        return Route::Direct(DirectReason::KernelSpawn);
    }
    match availability(config) {
        Ok(StubPath {
            path,
            embedded: true,
        }) => Route::Embedded { path },
        Ok(StubPath { path, .. }) => Route::CurrentExe { path },
        Err(reason) => Route::Direct(reason),
    }
}

/// Whether `program` names a stub of this process: a stub-form command built
/// for one route is spawned as it is on another.
fn is_stub_path(program: &std::ffi::OsStr) -> bool {
    let bytes = program.as_encoded_bytes();
    protocol::trusted_exec_name(protocol::StubKind::CurrentExe, bytes)
        || protocol::trusted_exec_name(protocol::StubKind::Embedded, bytes)
        || current_exe_stub().is_ok_and(|exe| exe.as_os_str() == program)
}

/// Fails for a stub-form command that names the embedded stub by a
/// descriptor that no longer holds it: the caller closed or replaced that
/// descriptor after the command was built (the loader has loaded the stub
/// again elsewhere). Spawning it would execute whatever the descriptor holds
/// now, so it is refused rather than run.
///
/// `stub` is the route of this spawn: when it is the embedded stub, the
/// loader has just checked its descriptor, and a match needs no second look.
fn check_embedded_path(program: &std::ffi::OsStr, stub: StubPath) -> io::Result<()> {
    if !protocol::trusted_exec_name(protocol::StubKind::Embedded, program.as_encoded_bytes()) {
        return Ok(());
    }
    if stub.embedded && stub.path.as_os_str() == program {
        return Ok(());
    }
    #[cfg(double_spawn_embedded)]
    if loader::embedded_stub().is_ok_and(|current| current.as_os_str() == program) {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "this stub-form command names the embedded stub as {program:?}, a descriptor \
             that was closed or replaced after the command was built; build it again"
        ),
    ))
}

/// The flags a command carries until it is spawned.
fn build_flags(config: &DoubleSpawn) -> Flags {
    Flags {
        exec_failed: config.get_exec_failure_code(),
        ..Flags::DEFAULT
    }
}

/// A stub-form command for `program` (see `DoubleSpawn::std_command`).
pub(crate) fn stub_form(program: &std::ffi::OsStr, config: &DoubleSpawn) -> Command {
    match availability(config) {
        Ok(stub) => {
            let mut cmd = Command::new(stub.path);
            cmd.arg0(build_flags(config).to_arg0().as_str())
                .arg(MARKER)
                .arg(program)
                .arg(program);
            cmd
        }
        Err(reason) => {
            // Strict mode fails at spawn time, where an error can be
            // returned; the plain command is spawned directly then.
            let _ = fallback::direct(reason, None, false);
            Command::new(program)
        }
    }
}

/// What to spawn, decided under the guard.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The stub's command; `None`: spawn the caller's command itself (a
    /// direct spawn, or a stub-form command spawned in place).
    pub(crate) stub: Option<Command>,
    /// Held until `finish`, so SIGTSTP stays blocked across the spawn.
    guard: Option<Guard>,
    /// The in-place command's `argv[0]` to put back after the spawn.
    reset_arg0: Option<Flags>,
    /// Which stub, for the `tracing` event.
    pub(crate) embedded: bool,
    /// A direct spawn to report only if it succeeds (see `Uncarried`).
    report_if_spawned: bool,
}

/// What is reported when a command holding std's NUL placeholder text
/// spawns directly and succeeds.
const NUL_DETAIL: &str =
    "an argument, the program or the directory is the text std shows for a NUL byte";

impl Prepared {
    fn direct() -> Prepared {
        Prepared {
            stub: None,
            guard: None,
            reset_arg0: None,
            embedded: false,
            report_if_spawned: false,
        }
    }

    /// True when the caller's command is in stub form and is to be spawned
    /// as it is, under the guard.
    pub(crate) fn in_place(&self) -> bool {
        self.stub.is_none() && self.guard.is_some()
    }

    /// Ends the spawn: resets a stub-form command's flags, releases the
    /// guard, and reports a direct spawn that had to wait for its outcome.
    pub(crate) fn finish(self, cmd: &mut Command, spawned: bool) {
        if let Some(flags) = self.reset_arg0 {
            cmd.arg0(flags.to_arg0().as_str());
        }
        drop(self.guard);
        if self.report_if_spawned && spawned {
            let _ = fallback::direct(DirectReason::UncarriedSetting, Some(NUL_DETAIL), false);
        }
    }
}

/// Decides how to spawn `cmd` and blocks SIGTSTP for the spawn.
///
/// Falls back to a direct spawn, reported (or an error in strict mode),
/// where no stub is available or the command cannot be carried to one.
pub(crate) fn prepare(
    cmd: &mut Command,
    config: &DoubleSpawn,
    io: IoDefaults,
) -> io::Result<Prepared> {
    if !exposure::needs_stub(cmd) && !rewrite::is_stub_form(cmd, is_stub_path) {
        // No stop can catch this spawn before `exec` on this system: a
        // direct spawn is safe and exact, and nothing is reported.
        return Ok(Prepared::direct());
    }
    let stub = match availability(config) {
        Ok(stub) => stub,
        Err(reason) => {
            fallback::direct(reason, None, config.is_strict())?;
            return Ok(Prepared::direct());
        }
    };
    let guard = Guard::block_sigtstp()?;
    let in_place = rewrite::is_stub_form(cmd, is_stub_path);
    if in_place {
        check_embedded_path(cmd.get_program(), stub)?;
    }
    if guard.was_blocked() && !in_place {
        // The caller blocks SIGTSTP itself, the child inherits that, and no
        // stop can reach it before exec: a direct spawn is safe and exact.
        return Ok(Prepared::direct());
    }
    let flags = Flags {
        unblock_tstp: !guard.was_blocked(),
        // Only a stub that runs after std's start-up (from `init()`, where
        // there is no glibc constructor) finds descriptors to close again;
        // the embedded stub and the constructor run before any runtime.
        close_std: if stub.embedded || cfg!(all(target_os = "linux", target_env = "gnu")) {
            [false; 3]
        } else {
            closed_std_fds()
        },
        ignored_internal: signals::ignored_internal(),
        exec_failed: config.get_exec_failure_code(),
        // The stub compares its own group with this one and, if it is in
        // another, discards a SIGTSTP that reached it while it was still in
        // this one (see `stubs::core`, step 4). Read here, at the spawn, for
        // a stub-form command too: its process group, or a `pre_exec` that
        // changes it, is the caller's to set after the command was built,
        // and only the stub sees where the child really ended up.
        spawner_pgid: Some(nix::unistd::getpgrp().as_raw()),
        // `s` and `m` for a stub-form command (`stub_flags`).
        ..stub_flags::in_place(cmd, in_place)
    };
    if in_place {
        if io == IoDefaults::Output {
            rewrite::fill_unset_stdio(cmd, io)?;
        }
        let after = build_flags(config);
        cmd.arg0(flags.to_arg0().as_str());
        return Ok(Prepared {
            stub: None,
            guard: Some(guard),
            reset_arg0: Some(after),
            embedded: stub.embedded,
            report_if_spawned: false,
        });
    }
    match rewrite::stub_command(stub.path, cmd, io, flags)? {
        Rewritten::Stub(stub_cmd) => Ok(Prepared {
            stub: Some(stub_cmd),
            guard: Some(guard),
            reset_arg0: None,
            embedded: stub.embedded,
            report_if_spawned: false,
        }),
        Rewritten::Direct(Uncarried::Setting(setting)) => {
            drop(guard);
            fallback::direct(
                DirectReason::UncarriedSetting,
                Some(&setting),
                config.is_strict(),
            )?;
            Ok(Prepared::direct())
        }
        Rewritten::Direct(Uncarried::NulPlaceholder) => {
            drop(guard);
            if config.is_strict() {
                fallback::direct(DirectReason::UncarriedSetting, Some(NUL_DETAIL), true)?;
            }
            // A NUL byte makes the direct spawn fail exactly as it should;
            // only if it succeeds was the text literal and worth reporting.
            Ok(Prepared {
                report_if_spawned: true,
                ..Prepared::direct()
            })
        }
    }
}

/// Which of descriptors 0, 1, 2 a child that inherits them would find
/// closed after `exec`: closed here, or open with close-on-exec (a parent
/// whose stdin was closed often has some other descriptor, an epoll instance
/// or a pipe, sitting on 0).
fn closed_std_fds() -> [bool; 3] {
    // SAFETY: F_GETFD on a descriptor number only reads kernel state.
    [0, 1, 2].map(|fd| {
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        flags == -1 || flags & libc::FD_CLOEXEC != 0
    })
}
