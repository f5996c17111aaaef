//! The route a spawn takes, and why a spawn is direct.

use std::fmt;
use std::path::Path;

/// The route spawns take in this process, from
/// [`DoubleSpawn::route`](crate::DoubleSpawn::route).
///
/// `Display` gives one line for debug output and bug reports.
///
/// ```
/// use double_spawn::{DirectReason, DoubleSpawn, Route};
///
/// match DoubleSpawn::process_default().route() {
///     Route::CurrentExe { path } => println!("stub: current executable via {}", path.display()),
///     Route::Embedded { path } => println!("stub: embedded, {}", path.display()),
///     Route::Direct(reason) => println!("unprotected: {reason}"),
///     _ => {}
/// }
/// assert_eq!(
///     DoubleSpawn::disabled().route(),
///     Route::Direct(DirectReason::Disabled)
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// Through the current executable, started by `path` (on Linux
    /// `/proc/self/exe`).
    CurrentExe {
        /// What the stub is started by.
        path: &'static Path,
    },
    /// Through the embedded stub, started by `path` (`/proc/self/fd/N`).
    Embedded {
        /// What the stub is started by.
        path: &'static Path,
    },
    /// Directly, as `cmd.spawn()` would, for this reason.
    Direct(DirectReason),
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::CurrentExe { path } => {
                write!(f, "stub: the current executable ({})", path.display())
            }
            Route::Embedded { path } => write!(f, "stub: embedded ({})", path.display()),
            Route::Direct(reason) => write!(f, "direct: {reason}"),
        }
    }
}

/// Why a spawn is made directly, without a stub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DirectReason {
    /// Disabled in code: [`DoubleSpawn::disabled`](crate::DoubleSpawn::disabled)
    /// (a configuration the environment turned off is
    /// [`DisabledByEnv`](DirectReason::DisabledByEnv)). Never reported.
    Disabled,
    /// No stub host: the crate runs in a main executable without an ELF
    /// constructor stub (not glibc) and `init()` was not called.
    NotInstalled,
    /// The crate runs inside a shared library loaded by another program, so
    /// that program's executable cannot serve as the stub (the embedded stub
    /// can).
    SharedLibrary,
    /// The executable runs with elevated privileges (setuid, setgid, file
    /// capabilities) and never acts as a stub (the embedded stub can).
    Privileged,
    /// The current executable cannot be found (`/proc` is not mounted).
    NoExecutable,
    /// The command has a setting the stub's command cannot be given (an
    /// unstable std setting, or one a newer std added).
    UncarriedSetting,
    /// Not a Unix target: there is no SIGTSTP race to avoid. Never
    /// reported.
    Unsupported,
    /// No stop signal can catch this system's `posix_spawn` child before
    /// `exec` (Apple systems: `posix_spawn` is a system call; FreeBSD and
    /// illumos: the kernel holds stops for a vfork child until its `exec`),
    /// so a double spawn would only cost. Commands that std starts with
    /// `fork`/`exec` instead (uid/gid, a working directory, `PATH` changed
    /// for a bare program name) still go through the stub. Never reported.
    /// See the crate docs' "Platform support".
    KernelSpawn,
    /// Disabled by the environment variable `var`, whose value was `value`
    /// (`0`, `off`, ... as written, without surrounding blanks): a
    /// configuration from [`DoubleSpawn::from_env`](crate::DoubleSpawn::from_env)
    /// (the process default reads `DOUBLE_SPAWN`). Never reported. Its
    /// `Display` names the variable, so a runner's debug line needs no text
    /// of its own: `double spawning is disabled by MY_RUNNER_DOUBLE_SPAWN=0`.
    ///
    /// The names are part of the value, so two reasons from different
    /// variables are not equal, and neither equals
    /// [`Disabled`](DirectReason::Disabled); match with
    /// `DirectReason::Disabled | DirectReason::DisabledByEnv { .. }` for
    /// "turned off, whoever did it".
    #[non_exhaustive]
    DisabledByEnv {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: &'static str,
    },
    /// The spawning thread blocks SIGTSTP, SIGTTIN and SIGTTOU itself: the
    /// child inherits that, no stop can reach it before `exec`, and a
    /// direct spawn is exact. (A thread that blocks only some of them is
    /// protected from the others by the stub.) Never reported.
    SigtstpBlocked,
    /// The command holds a NUL byte that std refuses (`InvalidInput`, before
    /// any child exists): an environment entry, or the program, an argument,
    /// `argv[0]` or the working directory, which std shows as the text
    /// `<string-with-nul>`. Reported only if the spawn succeeds (the text
    /// was literal); in strict mode a command holding that text is refused.
    NulByte,
    /// The parent's check found that the program cannot be run (missing, not
    /// executable, a loop): the command is spawned directly *with SIGTSTP
    /// still blocked* (and SIGTTIN and SIGTTOU), so that the C library reports its own error in its
    /// own order (a process group or working directory first). Protected;
    /// never reported.
    ProgramNotRunnable,
    /// The program names the spawner itself through `/proc/self` (or
    /// `/dev/fd`), which in a stub names the stub: `/proc/self/exe` where
    /// only the embedded stub is available, or a descriptor that is
    /// close-on-exec here (the direct child still has it at `exec`).
    ProcSelf,
    /// The target's environment changes a variable the dynamic loader reads
    /// (`LD_*`, `GLIBC_TUNABLES`; `DYLD_*` on Apple systems), which would
    /// act on the current-executable stub too, and the embedded stub (static,
    /// no loader) is not available.
    LoaderVariables,
    /// The stub's command line (a few more arguments than the target's) is
    /// over the kernel's limit (`E2BIG`) where the target's may not be: the
    /// command was spawned directly instead. Known only once the stub's
    /// spawn failed, so [`DoubleSpawnCommand::route`](crate::DoubleSpawnCommand::route)
    /// never returns it; reported only if the direct spawn succeeds.
    ArgumentsTooLong,
}

impl DirectReason {
    /// Whether a user should hear about it: everything but an explicit
    /// opt-out and a platform with nothing to protect.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn is_reported(self) -> bool {
        !matches!(
            self,
            DirectReason::Disabled
                | DirectReason::DisabledByEnv { .. }
                | DirectReason::Unsupported
                | DirectReason::KernelSpawn
                | DirectReason::SigtstpBlocked
                | DirectReason::ProgramNotRunnable
        )
    }
}

impl fmt::Display for DirectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match *self {
            DirectReason::DisabledByEnv { var, value } => {
                return write!(f, "double spawning is disabled by {var}={value}");
            }
            DirectReason::Disabled => "double spawning is disabled",
            DirectReason::NotInstalled => {
                "double_spawn::init() was not called at the start of main \
                 (needed where the C library is not glibc)"
            }
            DirectReason::SharedLibrary => {
                "the crate is in a shared library, whose host program cannot be the stub \
                 (the embedded stub can: DoubleSpawn::stub(Stub::Embedded))"
            }
            DirectReason::Privileged => {
                "this executable runs with elevated privileges and never acts as a stub \
                 (the embedded stub can: DoubleSpawn::stub(Stub::Embedded))"
            }
            DirectReason::NoExecutable => {
                "the current executable cannot be found (is /proc mounted?)"
            }
            DirectReason::UncarriedSetting => "the command has a setting the stub cannot be given",
            DirectReason::Unsupported => "not a Unix target",
            DirectReason::KernelSpawn => {
                "no stop can catch a posix_spawn child before exec on this system"
            }
            DirectReason::SigtstpBlocked => {
                "the spawning thread blocks SIGTSTP, SIGTTIN and SIGTTOU, which the child inherits"
            }
            DirectReason::NulByte => "the command holds a NUL byte, which std refuses",
            DirectReason::ProgramNotRunnable => {
                "the program cannot be run; spawned with SIGTSTP blocked, for the C library's error"
            }
            DirectReason::ProcSelf => {
                "the program names this process through /proc/self or /dev/fd, \
                 which in the stub would name the stub"
            }
            DirectReason::LoaderVariables => {
                "the target's environment changes a dynamic loader variable, which would act \
                 on the current-executable stub (the embedded stub has no loader)"
            }
            DirectReason::ArgumentsTooLong => {
                "the stub's command line is over the kernel's limit (E2BIG)"
            }
        })
    }
}
