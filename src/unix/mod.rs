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

pub(crate) use guard::{Guard, STOP_SIGNALS};
use inspect::Hidden;
pub(crate) use rewrite::IoDefaults;

use crate::config::{DoubleSpawn, Stub};
use crate::ext::Spawner;
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
/// it; the first call loads it (it spawns nothing where the process runs
/// natively: see `loader`), and a refusal is reported once. With
/// `need_proof` (a stub-form command, which cannot be made again on another
/// route) an unproven stub is proved by the loader's probe first.
fn embedded_stub(need_proof: bool) -> Option<&'static Path> {
    #[cfg(double_spawn_embedded)]
    match if need_proof {
        loader::embedded_stub_proven()
    } else {
        loader::embedded_stub()
    } {
        Ok(path) => return Some(path),
        Err(why) if why.is_reported() => crate::fallback::embedded_refused(&why.to_string()),
        Err(_) => {}
    }
    #[cfg(not(double_spawn_embedded))]
    {
        let _ = need_proof;
        crate::fallback::embedded_refused("it is not built for this target");
    }
    None
}

/// A spawn to make again, at once, on the next route: it went through the
/// embedded stub before any spawn had proved it, and failed as a refused
/// `exec` of the stub would (see `loader`). The caller spawns again (the
/// stub is skipped meanwhile) and calls [`Retry::succeeded`] if that worked;
/// dropping it instead says the error was the command's own.
#[derive(Debug)]
pub(crate) struct Retry {
    #[cfg(double_spawn_embedded)]
    suspicion: loader::Suspicion,
}

impl Retry {
    /// The spawn worked on the next route: the embedded stub is refused in
    /// this process, which is reported once.
    pub(crate) fn succeeded(self) {
        #[cfg(double_spawn_embedded)]
        if let Some(why) = self.suspicion.confirm() {
            crate::fallback::embedded_refused(&why.to_string());
        }
    }
}

impl Prepared {
    /// Records how the spawn `prepare` chose ended (`Err` with its error):
    /// one through the embedded stub that worked proves the stub; one that
    /// failed as a refusal would, before that proof, is to be made again on
    /// the next route. Called before `finish`.
    pub(crate) fn outcome(&self, result: Result<(), &io::Error>) -> Option<Retry> {
        // A stub-form command spawned in place (the one kind whose argv[0]
        // is put back) names the stub itself and cannot be made again
        // elsewhere; it is only built for a proven stub. (`in_place()` no
        // longer tells: the stub's command has been taken by now.)
        if !self.embedded || self.reset_arg0.is_some() {
            return None;
        }
        #[cfg(double_spawn_embedded)]
        match result {
            Ok(()) => loader::spawned(),
            Err(err) => return loader::failed(err).map(|suspicion| Retry { suspicion }),
        }
        #[cfg(not(double_spawn_embedded))]
        let _ = result;
        None
    }
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
    availability_for(config, false)
}

/// As `availability`; `need_proof` for a stub-form command (see
/// `embedded_stub`).
fn availability_for(config: &DoubleSpawn, need_proof: bool) -> Result<StubPath, DirectReason> {
    keep_constructor_linked();
    if !config.is_enabled() {
        return Err(config.disabled_reason());
    }
    if config.get_stub() == Stub::Embedded {
        if let Some(path) = embedded_stub(need_proof) {
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

/// The plain command `cmd` (in stub form or not) stands for
/// (`DoubleSpawn::plain_command`).
pub(crate) fn plain_command(cmd: &Command) -> io::Result<Command> {
    rewrite::plain_command(cmd, is_stub_path)
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
    match availability_for(config, true) {
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

/// How one command is to be spawned. [`plan`] decides it; `prepare` acts on
/// it and `command_route` reports it, so a command's route and its spawn
/// can never disagree.
#[derive(Debug)]
enum Plan {
    /// The caller's command, directly and without the guard, exactly as
    /// `cmd.spawn()` would spawn it; `why` is reported as `report` says.
    Direct {
        why: DirectReason,
        detail: Option<String>,
        report: Report,
    },
    /// The caller's command, directly, but with SIGTSTP (and the guard's
    /// SIGTTIN and SIGTTOU) still blocked: the
    /// parent's check found that its program cannot be run, and a direct
    /// spawn lets the C library and the kernel produce the error, in their
    /// own order (a process group or working directory that fails first).
    /// The spawn fails, so no child starts with SIGTSTP blocked, unless the
    /// program appears between the check and the spawn (crate docs, "What
    /// differs").
    Checked,
    /// A stub-form command, as it is, under the guard; `hidden` is its
    /// settings read back once here (`None`: std shows one the crate cannot
    /// read), for the target check, the flags and `output()`'s stdio.
    InPlace {
        stub: StubPath,
        hidden: Option<Hidden>,
    },
    /// The stub's command, built from the caller's, under the guard.
    Stub {
        stub: StubPath,
        hidden: Hidden,
        exec_path: OsString,
    },
}

/// When a direct spawn's reason is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Report {
    /// Before the spawn (an error instead in strict mode), if the reason is
    /// one that is reported at all.
    Before,
    /// After the spawn, and only if it succeeded: std's NUL placeholder text
    /// is either a NUL (the spawn fails, nothing ran unprotected) or literal.
    IfSpawned,
    /// Never: the spawn is certain to fail before any child exists.
    Never,
}

/// Decides how `cmd` is spawned with `config`.
///
/// `sigtstp_blocked` says whether the spawning thread blocks SIGTSTP, SIGTTIN
/// and SIGTTOU (all three: `guard::STOP_SIGNALS`); it is
/// asked only once a stub is to be used (`prepare` takes the guard there,
/// `command_route` reads the thread's mask). Everything else is read from
/// the command, the process and the file system; nothing is reported.
fn plan(
    cmd: &Command,
    config: &DoubleSpawn,
    sigtstp_blocked: &mut dyn FnMut() -> io::Result<bool>,
) -> io::Result<Plan> {
    let direct = |why: DirectReason, detail: Option<String>| {
        Ok(Plan::Direct {
            why,
            detail,
            report: Report::Before,
        })
    };
    let stub_form = rewrite::is_stub_form(cmd, is_stub_path);
    if !exposure::needs_stub(cmd) && !stub_form {
        // No stop can catch this spawn before `exec` on this system: a
        // direct spawn is safe and exact, and nothing is reported.
        return direct(DirectReason::KernelSpawn, None);
    }
    let stub = match availability(config) {
        Ok(stub) => stub,
        Err(reason) => return direct(reason, None),
    };
    if stub_form {
        sigtstp_blocked()?;
        check_embedded_path(cmd.get_program(), stub)?;
        let hidden = inspect::hidden_settings(cmd).ok();
        check_stub_form_target(cmd, hidden.as_ref())?;
        return Ok(Plan::InPlace { stub, hidden });
    }
    // std refuses a NUL before anything else (issue 16, kinds 1 and 2):
    // leave it to std, before any lookup, so its `InvalidInput` wins.
    let hidden = rewrite::carried_settings(cmd);
    let arg0 = hidden.as_ref().ok().and_then(|h| h.arg0.as_deref());
    match rewrite::nul(cmd, arg0) {
        Some(rewrite::Nul::Env) => {
            return Ok(Plan::Direct {
                why: DirectReason::NulByte,
                detail: None,
                report: Report::Never,
            })
        }
        Some(rewrite::Nul::Placeholder) => {
            return Ok(Plan::Direct {
                why: DirectReason::NulByte,
                detail: Some(NUL_DETAIL.to_string()),
                report: Report::IfSpawned,
            })
        }
        None => {}
    }
    if sigtstp_blocked()? {
        // The caller blocks all three stop signals itself, the child
        // inherits that, and no stop can reach it before exec: a direct
        // spawn is safe and exact.
        return direct(DirectReason::SigtstpBlocked, None);
    }
    let hidden = match hidden {
        Ok(hidden) => hidden,
        Err(setting) => return direct(DirectReason::UncarriedSetting, Some(setting)),
    };
    let stub = match choose_stub(stub, cmd, &hidden) {
        Ok(stub) => stub,
        Err((why, detail)) => return direct(why, Some(detail)),
    };
    match rewrite::resolve_target(cmd, cmd.get_program(), &hidden) {
        Ok(exec_path) => Ok(Plan::Stub {
            stub,
            hidden,
            exec_path,
        }),
        // Not the parent's error: the C library's (issue 16, kind 3).
        Err(_) => Ok(Plan::Checked),
    }
}

/// The stub that can carry this command exactly, starting from `stub`, the
/// configuration's: a program that names the spawner through `/proc/self`
/// and loader variables meant for the target each rule one stub out.
fn choose_stub(
    stub: StubPath,
    cmd: &Command,
    hidden: &Hidden,
) -> Result<StubPath, (DirectReason, String)> {
    let program = cmd.get_program();
    let names_exe = match self_reference(program) {
        Some(SelfName::Exe) => true,
        Some(SelfName::Fd(fd)) if is_close_on_exec(fd) => {
            // Open in the direct child at its `exec` (the kernel closes
            // close-on-exec descriptors only once the new image is in), but
            // closed in the stub, which `exec`ed once already.
            return Err((
                DirectReason::ProcSelf,
                format!("{program:?} names descriptor {fd}, which is close-on-exec here"),
            ));
        }
        Some(SelfName::Fd(_)) | None => false,
    };
    let mut stub = stub;
    if names_exe && stub.embedded {
        // In the embedded stub `/proc/self/exe` is the stub's memory file;
        // in the current executable's stub it is this very binary (kind 4).
        stub = current_exe_stub()
            .map(|path| StubPath {
                path,
                embedded: false,
            })
            .map_err(|why| {
                (
                    DirectReason::ProcSelf,
                    format!(
                        "{program:?} would name the embedded stub, and the current \
                         executable cannot be the stub ({why})"
                    ),
                )
            })?;
    }
    if !stub.embedded {
        if let Some(var) = loader_variable_changed(cmd, hidden.env_clear) {
            // The loader would apply it to the stub, a dynamic program
            // (kind 6); the embedded stub is static and has no loader.
            let embedded = if names_exe {
                None
            } else {
                quiet_embedded_stub()
            };
            stub = embedded.ok_or_else(|| {
                (
                    DirectReason::LoaderVariables,
                    format!("{var:?} (for {program:?})"),
                )
            })?;
        }
    }
    Ok(stub)
}

/// The embedded stub when it can be used, without the report `embedded_stub`
/// makes of a refusal: this is a detour of the current-executable route,
/// whose own fallback is reported instead.
fn quiet_embedded_stub() -> Option<StubPath> {
    #[cfg(double_spawn_embedded)]
    if let Ok(path) = loader::embedded_stub() {
        return Some(StubPath {
            path,
            embedded: true,
        });
    }
    None
}

/// What a program names in the spawning process's own `/proc` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SelfName {
    /// `/proc/self/exe`, `/proc/thread-self/exe`: the process's executable.
    Exe,
    /// `/proc/self/fd/N`, `/proc/thread-self/fd/N`, `/dev/fd/N`.
    Fd(i32),
}

/// How `program` names the spawning process itself, which in a stub is the
/// stub. `/proc/<pid>/...` with the spawner's pid is not such a name: it
/// names the spawner in the direct child and in the stub alike. Only these
/// spellings are recognised (no `.` or doubled `/`).
fn self_reference(program: &std::ffi::OsStr) -> Option<SelfName> {
    let bytes = program.as_encoded_bytes();
    let fd = |digits: &[u8]| {
        (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(digits).ok()?.parse().ok())
            .flatten()
            .map(SelfName::Fd)
    };
    if let Some(n) = bytes.strip_prefix(b"/dev/fd/") {
        return fd(n);
    }
    if !cfg!(any(target_os = "linux", target_os = "android")) {
        return None;
    }
    let rest = bytes
        .strip_prefix(b"/proc/self/")
        .or_else(|| bytes.strip_prefix(b"/proc/thread-self/"))?;
    if rest == b"exe" {
        return Some(SelfName::Exe);
    }
    fd(rest.strip_prefix(b"fd/")?)
}

/// Whether descriptor `fd` (above 2: the standard slots are the command's
/// to set) is open and close-on-exec in this process.
fn is_close_on_exec(fd: i32) -> bool {
    if fd <= 2 {
        return false;
    }
    // SAFETY: F_GETFD on a descriptor number only reads kernel state.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags != -1 && flags & libc::FD_CLOEXEC != 0
}

/// Whether `key` is read by the dynamic loader (or the C library's start-up)
/// of a dynamically linked program: the current-executable stub would obey
/// it before the target does. `MALLOC_*` and the like are left out: they
/// configure `malloc`, which the stub never calls before its `exec`.
fn is_loader_variable(key: &[u8]) -> bool {
    key.starts_with(b"LD_")
        || key == b"GLIBC_TUNABLES"
        || (cfg!(target_vendor = "apple") && key.starts_with(b"DYLD_"))
}

/// A loader variable whose value in the target's environment differs from
/// this process's own (set, changed, removed, or cleared away). One that
/// equals this process's own (cargo's `LD_LIBRARY_PATH` for test binaries)
/// acts on the stub exactly as it acted on this process, the same binary.
fn loader_variable_changed(cmd: &Command, env_clear: bool) -> Option<OsString> {
    for (key, value) in cmd.get_envs() {
        if is_loader_variable(key.as_encoded_bytes())
            && value.map(|v| v.to_owned()) != std::env::var_os(key)
        {
            return Some(key.to_owned());
        }
    }
    if env_clear {
        // Every variable of this process is gone unless set again (equal:
        // the loop above compared those that were).
        return std::env::vars_os().map(|(key, _)| key).find(|key| {
            is_loader_variable(key.as_encoded_bytes())
                && !cmd
                    .get_envs()
                    .any(|(k, v)| k == key.as_os_str() && v.is_some())
        });
    }
    None
}

/// Checks a stub-form command's target (its `argv[2]`) as a direct spawn
/// would, with the command's environment, working directory and ids, so
/// that a program that cannot be run fails `spawn()` with the direct
/// spawn's error rather than starting a stub that exits 127 (issue 17).
/// What `pre_exec` closures change (a `chdir`, the ids) is invisible here:
/// the crate docs say so.
fn check_stub_form_target(cmd: &Command, hidden: Option<&Hidden>) -> io::Result<()> {
    let Some(target) = cmd.get_args().nth(1) else {
        return Ok(()); // malformed: the stub says so
    };
    let Some(hidden) = hidden else {
        return Ok(()); // spawned as it is, the stub looks it up
    };
    rewrite::resolve_target(cmd, target, hidden).map(drop)
}

/// The route `cmd` would take now with `config` (`DoubleSpawnCommand::route`).
pub(crate) fn command_route(cmd: &Command, config: &DoubleSpawn) -> Route {
    let mut blocked = || {
        let mask = nix::sys::signal::SigSet::thread_get_mask().map_err(io::Error::from)?;
        Ok(guard::STOP_SIGNALS.iter().all(|&sig| mask.contains(sig)))
    };
    let stub = match plan(cmd, config, &mut blocked) {
        Ok(Plan::Direct { why, .. }) => return Route::Direct(why),
        Ok(Plan::Checked) => return Route::Direct(DirectReason::ProgramNotRunnable),
        Ok(Plan::InPlace { stub, .. }) | Ok(Plan::Stub { stub, .. }) => stub,
        // The spawn fails before any child exists (a stub-form command's
        // descriptor or target): its route is the configuration's.
        Err(_) => return route(config),
    };
    match stub {
        StubPath {
            path,
            embedded: true,
        } => Route::Embedded { path },
        StubPath { path, .. } => Route::CurrentExe { path },
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
    /// Set for a direct spawn under the guard (`Plan::Checked`).
    checked: bool,
    /// A direct spawn to report only if it succeeds (`Report::IfSpawned`,
    /// or the `E2BIG` fallback), with its detail.
    report_if_spawned: Option<(DirectReason, Option<String>)>,
}

/// What is reported when a command holding std's NUL placeholder text
/// spawns directly and succeeds.
const NUL_DETAIL: &str =
    "an argument, argv[0], the program or the directory is the text std shows for a NUL byte";

impl Prepared {
    fn direct() -> Prepared {
        Prepared {
            stub: None,
            guard: None,
            reset_arg0: None,
            embedded: false,
            checked: false,
            report_if_spawned: None,
        }
    }

    /// True when the caller's command is in stub form and is to be spawned
    /// as it is, under the guard.
    pub(crate) fn in_place(&self) -> bool {
        self.reset_arg0.is_some()
    }

    /// True when the caller's (plain) command is spawned directly under the
    /// guard, its program having failed the parent's check.
    pub(crate) fn checked(&self) -> bool {
        self.checked
    }

    /// Turns this spawn into a direct one after the stub's spawn failed
    /// (`spawn_via`'s `E2BIG` retry, `why`): releases the guard at once and
    /// reports `why` if the direct spawn succeeds, as for
    /// `Report::IfSpawned`; in strict mode that is an error instead.
    pub(crate) fn direct_instead(&mut self, why: DirectReason, strict: bool) -> io::Result<()> {
        self.guard = None;
        if strict {
            fallback::direct(why, None, true)?;
        }
        self.report_if_spawned = Some((why, None));
        Ok(())
    }

    /// Ends the spawn: resets a stub-form command's flags, releases the
    /// guard, and reports a direct spawn that had to wait for its outcome.
    pub(crate) fn finish(self, cmd: &mut Command, spawned: bool) {
        if let Some(flags) = self.reset_arg0 {
            cmd.arg0(flags.to_arg0().as_str());
        }
        drop(self.guard);
        if let (Some((reason, detail)), true) = (self.report_if_spawned, spawned) {
            let _ = fallback::direct(reason, detail.as_deref(), false);
        }
    }
}

/// Whether a spawn failed because its argument list is too long
/// (`E2BIG`): the stub's command line is longer than the caller's.
pub(crate) fn is_too_long(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::E2BIG)
}

/// Decides how to spawn `cmd` (see [`plan`]) and blocks SIGTSTP for the
/// spawn.
///
/// Falls back to a direct spawn, reported (or an error in strict mode),
/// where no stub is available or the command cannot be carried to one.
pub(crate) fn prepare(
    cmd: &mut Command,
    config: &DoubleSpawn,
    io: IoDefaults,
    spawner: Spawner,
) -> io::Result<Prepared> {
    let mut guard = None;
    let mut take_guard = || {
        let g = Guard::block_stop_signals()?;
        let blocked = g.previously_blocked() == [true; 3];
        guard = Some(g);
        Ok(blocked)
    };
    let plan = plan(cmd, config, &mut take_guard)?;
    let (stub, rewritten, in_place) = match plan {
        Plan::Direct {
            why,
            detail,
            report,
        } => {
            drop(guard);
            return match report {
                Report::Before => {
                    fallback::direct(why, detail.as_deref(), config.is_strict())?;
                    Ok(Prepared::direct())
                }
                Report::IfSpawned => {
                    if config.is_strict() {
                        fallback::direct(why, detail.as_deref(), true)?;
                    }
                    Ok(Prepared {
                        report_if_spawned: Some((why, detail)),
                        ..Prepared::direct()
                    })
                }
                Report::Never => Ok(Prepared::direct()),
            };
        }
        Plan::Checked => {
            return Ok(Prepared {
                guard,
                checked: true,
                ..Prepared::direct()
            })
        }
        Plan::InPlace { stub, hidden } => (stub, None, hidden),
        Plan::Stub {
            stub,
            hidden,
            exec_path,
        } => (stub, Some((hidden, exec_path)), None),
    };
    let was_blocked = guard.as_ref().map_or([false; 3], Guard::previously_blocked);
    let flags = Flags {
        unblock_stops: was_blocked.map(|blocked| !blocked),
        // Only a stub that runs after std's start-up (from `init()`, where
        // there is no glibc constructor) finds descriptors to close again;
        // the embedded stub and the constructor run before any runtime.
        close_std: if stub.embedded || cfg!(all(target_os = "linux", target_env = "gnu")) {
            [false; 3]
        } else {
            closed_std_fds()
        },
        exec_failed: config.get_exec_failure_code(),
        // The stub compares its own group with this one and, if it is in
        // another, discards a SIGTSTP that reached it while it was still in
        // this one (see `stubs::core`, step 4). Read here, at the spawn, for
        // a stub-form command too: its process group, or a `pre_exec` that
        // changes it, is the caller's to set after the command was built,
        // and only the stub sees where the child really ended up. A plain
        // command the crate spawns itself leaves the group only by a
        // `process_group` read back here (`stub_flags`, `g`).
        spawner_pgid: stub_flags::needs_spawner_group(rewritten.as_ref().map(|(h, _)| h), spawner)
            .then(|| nix::unistd::getpgrp().as_raw()),
        // `s`, `i` and `m` for a stub-form command (`stub_flags`); the
        // rewrite sets `s` and `i` for a plain one.
        ..stub_flags::in_place(cmd, in_place.as_ref())
    };
    let Some((hidden, exec_path)) = rewritten else {
        // In place.
        if io == IoDefaults::Output {
            rewrite::fill_unset_stdio(cmd, io, in_place.as_ref())?;
        }
        let after = build_flags(config);
        cmd.arg0(flags.to_arg0().as_str());
        return Ok(Prepared {
            guard,
            reset_arg0: Some(after),
            embedded: stub.embedded,
            ..Prepared::direct()
        });
    };
    let stub_cmd = rewrite::stub_command(stub.path, cmd, &hidden, &exec_path, io, flags)?;
    Ok(Prepared {
        stub: Some(stub_cmd),
        guard,
        embedded: stub.embedded,
        ..Prepared::direct()
    })
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
