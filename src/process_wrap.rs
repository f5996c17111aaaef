//! The process-wrap adapter (features `process-wrap` for process-wrap 10,
//! `process-wrap9` for 9.1 and later 9.x).
//!
//! [process-wrap] wrappers change a command in `pre_spawn` hooks. Some do it
//! with settings `double_spawn()` can read back (`ProcessGroup` sets the
//! process group, `KillOnDrop` sets tokio's flag); others attach `pre_exec`
//! closures (`ProcessSession` calls `setsid()` in one), which no code can
//! see or move to another command. A command built in *stub form*
//! ([`DoubleSpawn::tokio_command`]) is spawned as it is, so its closures run
//! in the stub's child and their effects survive the stub's `exec`. This
//! module makes that the easy path:
//!
//! - [`DoubleSpawn::tokio_command_wrap`] and [`DoubleSpawn::std_command_wrap`]
//!   start a process-wrap 10 `CommandWrap` around a stub-form command (with
//!   9, or either version, `CommandWrap::from(DoubleSpawn::new().tokio_command(..))`
//!   does the same);
//! - [`DoubleSpawnWrapExt::double_spawn`] replaces `CommandWrap::spawn`, for
//!   the std and tokio `CommandWrap` of both versions: the wrappers' hooks
//!   run as usual, and the spawn itself is a double spawn. It refuses, with
//!   `InvalidInput`, a command that is not in stub form, whose wrappers'
//!   closures would be silently lost.
//!
//! # `ResetSigmask`
//!
//! process-wrap's `ResetSigmask` gives the target an empty signal mask with
//! a `pre_exec` closure that unblocks every signal. Run as it is, that
//! closure would unblock SIGTSTP in the stub's child before the stub is
//! executed, while `spawn()` waits: the very window double spawning closes.
//! The adapter keeps the effect and removes the exposure:
//!
//! - the *effect* is given by the stub: the adapter asks it (protocol flag
//!   `m`) to set an empty signal mask for the target after its own SIGTSTP
//!   handling, so the target of a double spawn starts with the empty mask
//!   the wrapper promises, whatever mask the spawning thread had;
//! - the wrapper's own closure still runs (process-wrap has no way to leave
//!   one wrapper's hook out), but *harmlessly*: the adapter adds a closure
//!   before every hook's (in the child, it replaces a default or handled
//!   SIGTSTP action with a handler that only notes the signal) and one
//!   after them (it blocks SIGTSTP again and, if a SIGTSTP arrived in
//!   between, raises it again, blocked, so that it is pending when the stub
//!   starts, exactly as it would have been without the wrapper). A stop in
//!   that window so never stops the child before the stub's `exec`; the
//!   stub then discards or delivers it as for any double spawn, and the
//!   `exec` puts the SIGTSTP action back to the default (a handled signal
//!   is reset by `exec`; an ignored one was left alone). Both closures call
//!   only `sigaction`, `pthread_sigmask` and `raise`, which are
//!   async-signal-safe, and allocate nothing.
//!
//! This applies to a command in stub form. Without double spawning (a plain
//! command, `DOUBLE_SPAWN=0`) the wrapper acts as it always does.
//!
//! # Scripts without `#!`
//!
//! A wrapper that adds a `pre_exec` closure makes std spawn the command
//! with its own `fork`/`exec`, whose glibc `execvp` runs a file without
//! `#!` with `/bin/sh`. std hides closures, but the adapter knows
//! process-wrap's own wrappers that add one (`ProcessSession`,
//! `ResetSigmask`) and tells the stub to do the same (protocol flag `s`).
//! A wrapper of your own that adds a closure is not seen: with it, such a
//! file makes the target exit with the exec-failure code instead.
//!
//! # Versions
//!
//! process-wrap's types are in the public API of the tools that use it
//! (watchexec is on 9.1), so both major versions in use are supported, each
//! behind its feature: the same trait, implemented for each version's two
//! `CommandWrap`s by one implementation (the API the adapter uses is the
//! same in both). 9.0 lacks `CommandWrap::spawn_with`, which the adapter
//! needs, hence 9.1. The `tokio_command_wrap` and `std_command_wrap`
//! constructors return process-wrap 10 types (a method cannot return
//! either version); with 9, convert a stub-form command with
//! `CommandWrap::from`.
//!
//! [process-wrap]: https://docs.rs/process-wrap

use std::io;
use std::process::Command;

#[cfg(feature = "process-wrap")]
use process_wrap as pw10;
#[cfg(feature = "process-wrap9")]
use process_wrap9 as pw9;

use crate::config::DoubleSpawn;
use crate::ext::DoubleSpawnExt;
use crate::protocol::{Flags, MARKER};

#[cfg(unix)]
mod reset_sigmask;

#[cfg(feature = "process-wrap")]
impl DoubleSpawn {
    /// A process-wrap 10 `tokio::CommandWrap` around
    /// [`tokio_command(program)`](DoubleSpawn::tokio_command): configure it
    /// with `command_mut()`, add wrappers with `wrap()`, and spawn it with
    /// [`DoubleSpawnWrapExt::double_spawn`].
    ///
    /// ```no_run
    /// use double_spawn::process_wrap::DoubleSpawnWrapExt;
    /// use double_spawn::DoubleSpawn;
    /// use process_wrap::tokio::{KillOnDrop, ProcessSession};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let mut cmd = DoubleSpawn::new().tokio_command_wrap("make");
    /// cmd.command_mut().arg("-j4");
    /// cmd.wrap(ProcessSession).wrap(KillOnDrop);
    /// let status = cmd.double_spawn()?.wait().await?;
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "process-wrap")))]
    pub fn tokio_command_wrap(
        &self,
        program: impl AsRef<std::ffi::OsStr>,
    ) -> pw10::tokio::CommandWrap {
        pw10::tokio::CommandWrap::from(self.tokio_command(program))
    }

    /// A process-wrap 10 `std::CommandWrap` around
    /// [`std_command(program)`](DoubleSpawn::std_command); see
    /// [`tokio_command_wrap`](DoubleSpawn::tokio_command_wrap).
    #[cfg_attr(docsrs, doc(cfg(feature = "process-wrap")))]
    pub fn std_command_wrap(&self, program: impl AsRef<std::ffi::OsStr>) -> pw10::std::CommandWrap {
        pw10::std::CommandWrap::from(self.std_command(program))
    }
}

mod sealed {
    pub trait Sealed {}
    #[cfg(feature = "process-wrap")]
    impl Sealed for process_wrap::std::CommandWrap {}
    #[cfg(feature = "process-wrap")]
    impl Sealed for process_wrap::tokio::CommandWrap {}
    #[cfg(feature = "process-wrap9")]
    impl Sealed for process_wrap9::std::CommandWrap {}
    #[cfg(feature = "process-wrap9")]
    impl Sealed for process_wrap9::tokio::CommandWrap {}
}

/// Adds [`double_spawn()`](DoubleSpawnWrapExt::double_spawn) to
/// process-wrap's `CommandWrap` (std and tokio; process-wrap 10 with the
/// `process-wrap` feature, 9.1+ with `process-wrap9`).
///
/// It runs every wrapper's hooks exactly as `CommandWrap::spawn` does and
/// replaces only the spawn call, with
/// [`DoubleSpawnExt::double_spawn`]. When double spawning is
/// [active](DoubleSpawn::is_active) it fails with `InvalidInput`, before any
/// hook runs, when the command is not in stub form (it was not built with
/// [`DoubleSpawn::tokio_command`], `std_command` or the `*_command_wrap`
/// constructors): a wrapper's `pre_exec` closure would be left behind on a
/// command that is never spawned. When it is not active the command is
/// spawned as `CommandWrap::spawn` would.
///
/// The `ResetSigmask` wrapper is given its effect by the stub, and its own
/// closure is kept from unblocking SIGTSTP before the stub runs (see the
/// [module docs](self#resetsigmask)): the target starts with an empty
/// signal mask.
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "process-wrap", feature = "process-wrap9")))
)]
pub trait DoubleSpawnWrapExt: sealed::Sealed {
    /// The child process-wrap returns (`Box<dyn ChildWrapper>`).
    type Child;

    /// Spawns now, like `CommandWrap::spawn`, through the stub with
    /// [`DoubleSpawn::new()`].
    ///
    /// # Errors
    /// Those of `CommandWrap::spawn` and of
    /// [`DoubleSpawnCommand::spawn`](crate::DoubleSpawnCommand), and
    /// `InvalidInput` for a command not in stub form (see the trait).
    fn double_spawn(&mut self) -> io::Result<Self::Child> {
        self.double_spawn_with(DoubleSpawn::new())
    }

    /// Spawns now through the stub with the given configuration.
    ///
    /// # Errors
    /// As [`double_spawn`](DoubleSpawnWrapExt::double_spawn).
    fn double_spawn_with(&mut self, config: DoubleSpawn) -> io::Result<Self::Child>;
}

/// What the adapter does around one spawn, the same for every
/// `CommandWrap`: decided from the command before the hooks run, applied
/// to it before the hooks (`before_hooks`) and after them, right before the
/// spawn (`after_hooks`).
struct Plan {
    config: DoubleSpawn,
    /// The command is in stub form and wrapped in `ResetSigmask`.
    reset_sigmask: bool,
    /// The command is in stub form and one of process-wrap's own wrappers
    /// adds a `pre_exec` closure to it (`ResetSigmask`, `ProcessSession`),
    /// so that its direct spawn, `CommandWrap::spawn`, would be std's
    /// `fork`/`exec`: the stub is to run a file without `#!` as that
    /// path's `execvp` would (flag `s`, `unix::stub_flags`).
    closures: bool,
}

impl Plan {
    /// Refuses a command that is not in stub form when double spawning is
    /// active; `reset_sigmask`: the `ResetSigmask` wrapper is present,
    /// `session`: `ProcessSession` is.
    fn new(
        config: DoubleSpawn,
        cmd: &Command,
        reset_sigmask: bool,
        session: bool,
    ) -> io::Result<Plan> {
        let stub_form = cmd.get_args().next() == Some(std::ffi::OsStr::new(MARKER));
        if config.is_active() && !stub_form {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "double-spawn: the CommandWrap for {:?} is not in stub form, so the \
                     pre_exec closures of its wrappers (ProcessSession's setsid) would be \
                     lost; build it with DoubleSpawn::tokio_command_wrap or std_command_wrap \
                     (or CommandWrap::from(DoubleSpawn::new().tokio_command(..)))",
                    cmd.get_program()
                ),
            ));
        }
        Ok(Plan {
            config,
            // A stub-form command always runs the stub, which gives the
            // effect: also where double spawning is not active for plain
            // commands (the stub-form command is spawned as it is, and its
            // `argv[0]` carries the flag set below).
            reset_sigmask: stub_form && reset_sigmask,
            closures: stub_form && (reset_sigmask || session),
        })
    }

    /// Before the hooks: the first of the two closures around
    /// `ResetSigmask`'s.
    fn before_hooks(&self, cmd: &mut Command) {
        #[cfg(unix)]
        if self.reset_sigmask {
            reset_sigmask::before_hooks(cmd);
        }
        #[cfg(not(unix))]
        let _ = (cmd, self.reset_sigmask);
    }

    /// After the hooks: the second closure, and the stub's `m` and `s`
    /// flags in the command's `argv[0]`, which the spawn keeps
    /// (`unix::stub_flags`; `s` only where the C library's `execvp` falls
    /// back to the shell).
    fn after_hooks(&self, cmd: &mut Command) {
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            if self.reset_sigmask {
                reset_sigmask::after_hooks(cmd);
            }
            if self.closures {
                let flags = Flags {
                    reset_mask: self.reset_sigmask,
                    sh_fallback: true,
                    exec_failed: self.config.get_exec_failure_code(),
                    ..Flags::DEFAULT
                };
                cmd.arg0(flags.to_arg0().as_str());
            }
        }
        #[cfg(not(unix))]
        let _ = (cmd, self.closures, Flags::DEFAULT);
    }
}

/// `DoubleSpawnWrapExt` for one `CommandWrap` type: `$pw` is the
/// process-wrap crate, `$flavour` its `std` or `tokio` module, `$std` and
/// `$std_mut` reach the `std::process::Command` inside that flavour's
/// command. A macro only because the four types come from two crates that
/// share no trait; what it expands to is these few lines, and every
/// decision is in `Plan`.
macro_rules! wrap_ext {
    ($pw:ident, $flavour:ident, $std:expr, $std_mut:expr) => {
        impl DoubleSpawnWrapExt for $pw::$flavour::CommandWrap {
            type Child = Box<dyn $pw::$flavour::ChildWrapper>;

            fn double_spawn_with(&mut self, config: DoubleSpawn) -> io::Result<Self::Child> {
                #[cfg(unix)]
                let (reset, session) = (
                    self.has_wrap::<$pw::$flavour::ResetSigmask>(),
                    self.has_wrap::<$pw::$flavour::ProcessSession>(),
                );
                #[cfg(not(unix))]
                let (reset, session) = (false, false);
                let plan = Plan::new(config, $std(self.command()), reset, session)?;
                plan.before_hooks($std_mut(self.command_mut()));
                self.spawn_with(|cmd| {
                    plan.after_hooks($std_mut(cmd));
                    cmd.double_spawn_with(plan.config).spawn()
                })
            }
        }
    };
}

fn same(cmd: &Command) -> &Command {
    cmd
}

fn same_mut(cmd: &mut Command) -> &mut Command {
    cmd
}

#[cfg(feature = "process-wrap")]
wrap_ext!(pw10, std, same, same_mut);
#[cfg(feature = "process-wrap")]
wrap_ext!(
    pw10,
    tokio,
    tokio::process::Command::as_std,
    tokio::process::Command::as_std_mut
);
#[cfg(feature = "process-wrap9")]
wrap_ext!(pw9, std, same, same_mut);
#[cfg(feature = "process-wrap9")]
wrap_ext!(
    pw9,
    tokio,
    tokio::process::Command::as_std,
    tokio::process::Command::as_std_mut
);
