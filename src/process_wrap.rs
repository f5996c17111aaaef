//! The process-wrap adapter (feature `process-wrap`).
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
//!   start a `CommandWrap` around a stub-form command;
//! - [`DoubleSpawnWrapExt::double_spawn`] replaces `CommandWrap::spawn`: the
//!   wrappers' hooks run as usual, and the spawn itself is a double spawn.
//!   It refuses, with `InvalidInput`, the two combinations that would
//!   silently lose a wrapper's effect or reopen the hang.
//!
//! [process-wrap]: https://docs.rs/process-wrap

use std::io;

use process_wrap::std as pw_std;
use process_wrap::tokio as pw_tokio;

use crate::config::DoubleSpawn;
use crate::ext::DoubleSpawnExt;
use crate::protocol::MARKER;

impl DoubleSpawn {
    /// A process-wrap `tokio::CommandWrap` around
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
    ) -> pw_tokio::CommandWrap {
        pw_tokio::CommandWrap::from(self.tokio_command(program))
    }

    /// A process-wrap `std::CommandWrap` around
    /// [`std_command(program)`](DoubleSpawn::std_command); see
    /// [`tokio_command_wrap`](DoubleSpawn::tokio_command_wrap).
    #[cfg_attr(docsrs, doc(cfg(feature = "process-wrap")))]
    pub fn std_command_wrap(&self, program: impl AsRef<std::ffi::OsStr>) -> pw_std::CommandWrap {
        pw_std::CommandWrap::from(self.std_command(program))
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for process_wrap::std::CommandWrap {}
    impl Sealed for process_wrap::tokio::CommandWrap {}
}

/// Adds [`double_spawn()`](DoubleSpawnWrapExt::double_spawn) to
/// process-wrap's `CommandWrap` (std and tokio).
///
/// It runs every wrapper's hooks exactly as `CommandWrap::spawn` does and
/// replaces only the spawn call, with
/// [`DoubleSpawnExt::double_spawn`].
/// When double spawning is [active](DoubleSpawn::is_active) it fails with
/// `InvalidInput`, before any hook runs, when
///
/// - the command is not in stub form (it was not built with
///   [`DoubleSpawn::tokio_command_wrap`], `std_command_wrap`,
///   `tokio_command` or `std_command`): a wrapper's `pre_exec` closure
///   would be left behind on a command that is never spawned;
/// - the `ResetSigmask` wrapper is present: it unblocks SIGTSTP in a
///   `pre_exec` closure, before the stub is executed, which reopens the
///   very window double spawning closes. The stub already gives the target
///   the spawning thread's signal mask.
///
/// When it is not active the command is spawned as `CommandWrap::spawn`
/// would.
#[cfg_attr(docsrs, doc(cfg(feature = "process-wrap")))]
pub trait DoubleSpawnWrapExt: sealed::Sealed {
    /// The child process-wrap returns (`Box<dyn ChildWrapper>`).
    type Child;

    /// Spawns now, like `CommandWrap::spawn`, through the stub with
    /// [`DoubleSpawn::new()`].
    ///
    /// # Errors
    /// Those of `CommandWrap::spawn` and of
    /// [`DoubleSpawnCommand::spawn`](crate::DoubleSpawnCommand), and
    /// `InvalidInput` for the combinations listed on the trait.
    fn double_spawn(&mut self) -> io::Result<Self::Child> {
        self.double_spawn_with(DoubleSpawn::new())
    }

    /// Spawns now through the stub with the given configuration.
    ///
    /// # Errors
    /// As [`double_spawn`](DoubleSpawnWrapExt::double_spawn).
    fn double_spawn_with(&mut self, config: DoubleSpawn) -> io::Result<Self::Child>;
}

impl DoubleSpawnWrapExt for pw_tokio::CommandWrap {
    type Child = Box<dyn pw_tokio::ChildWrapper>;

    fn double_spawn_with(&mut self, config: DoubleSpawn) -> io::Result<Self::Child> {
        if config.is_active() {
            check_stub_form(self.command().as_std())?;
            #[cfg(unix)]
            check_no_reset_sigmask(self.has_wrap::<pw_tokio::ResetSigmask>())?;
        }
        self.spawn_with(|cmd| cmd.double_spawn_with(config).spawn())
    }
}

impl DoubleSpawnWrapExt for pw_std::CommandWrap {
    type Child = Box<dyn pw_std::ChildWrapper>;

    fn double_spawn_with(&mut self, config: DoubleSpawn) -> io::Result<Self::Child> {
        if config.is_active() {
            check_stub_form(self.command())?;
            #[cfg(unix)]
            check_no_reset_sigmask(self.has_wrap::<pw_std::ResetSigmask>())?;
        }
        self.spawn_with(|cmd| cmd.double_spawn_with(config).spawn())
    }
}

fn check_stub_form(cmd: &std::process::Command) -> io::Result<()> {
    if cmd.get_args().next() == Some(std::ffi::OsStr::new(MARKER)) {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "double-spawn: the CommandWrap for {:?} is not in stub form, so the \
             pre_exec closures of its wrappers (ProcessSession's setsid) would be \
             lost; build it with DoubleSpawn::tokio_command_wrap or std_command_wrap",
            cmd.get_program()
        ),
    ))
}

#[cfg(unix)]
fn check_no_reset_sigmask(present: bool) -> io::Result<()> {
    if !present {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "double-spawn: the ResetSigmask wrapper unblocks SIGTSTP before exec and \
         would reopen the hang double spawning prevents; remove it (the target \
         gets the spawning thread's signal mask)",
    ))
}
