//! The extension trait and the two thin spawners (std and tokio).

use std::future::Future;
use std::io;
use std::process::{ExitStatus, Output, Stdio};

use crate::config::DoubleSpawn;
use crate::imp::{self, IoDefaults};

type StdCommand = std::process::Command;
type TokioCommand = tokio::process::Command;

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::process::Command {}
    impl Sealed for tokio::process::Command {}
}

/// Adds [`double_spawn()`](DoubleSpawnExt::double_spawn) to
/// `std::process::Command` and `tokio::process::Command`.
///
/// `cmd.double_spawn().spawn()` is a drop-in replacement for `cmd.spawn()`:
/// same return type, same child, same errors, and the command is borrowed
/// and stays usable. Call [`init()`](crate::init) first in `main`.
///
/// ```no_run
/// use double_spawn::DoubleSpawnExt;
///
/// fn main() -> std::io::Result<()> {
///     double_spawn::init();
///     let mut cmd = std::process::Command::new("true");
///     let status = cmd.double_spawn().spawn()?.wait()?;
///     assert!(status.success());
///     Ok(())
/// }
/// ```
pub trait DoubleSpawnExt: sealed::Sealed + Sized {
    /// Spawns through the stub with [`DoubleSpawn::new()`] (on unless
    /// `DOUBLE_SPAWN=0`).
    fn double_spawn(&mut self) -> DoubleSpawnCommand<'_, Self> {
        self.double_spawn_with(DoubleSpawn::new())
    }

    /// Spawns through the stub with the given configuration.
    fn double_spawn_with(&mut self, config: DoubleSpawn) -> DoubleSpawnCommand<'_, Self>;
}

impl DoubleSpawnExt for StdCommand {
    fn double_spawn_with(&mut self, config: DoubleSpawn) -> DoubleSpawnCommand<'_, Self> {
        DoubleSpawnCommand { cmd: self, config }
    }
}

impl DoubleSpawnExt for TokioCommand {
    fn double_spawn_with(&mut self, config: DoubleSpawn) -> DoubleSpawnCommand<'_, Self> {
        DoubleSpawnCommand { cmd: self, config }
    }
}

/// A command about to be double-spawned; made by
/// [`DoubleSpawnExt::double_spawn`].
///
/// Its methods mirror the command's own `spawn`, `output` and `status`.
#[derive(Debug)]
#[must_use = "nothing is spawned until spawn(), output() or status() is called"]
pub struct DoubleSpawnCommand<'a, C> {
    cmd: &'a mut C,
    config: DoubleSpawn,
}

/// Runs one spawn: decides the route under the guard, spawns the caller's
/// command (`direct`) or the stub's (`stub`), then releases the guard.
fn spawn_via<C, T>(
    cmd: &mut C,
    std_of: fn(&mut C) -> &mut StdCommand,
    config: DoubleSpawn,
    io: IoDefaults,
    direct: impl FnOnce(&mut C) -> io::Result<T>,
    stub: impl FnOnce(StdCommand, &C) -> io::Result<T>,
) -> io::Result<T> {
    let mut prepared = imp::prepare(std_of(cmd), config.is_enabled(), io)?;
    let result = match prepared.stub.take() {
        Some(stub_cmd) => stub(stub_cmd, cmd),
        None => direct(cmd),
    };
    prepared.finish(std_of(cmd));
    result
}

fn std_self(cmd: &mut StdCommand) -> &mut StdCommand {
    cmd
}

impl DoubleSpawnCommand<'_, StdCommand> {
    /// Like [`std::process::Command::spawn`].
    ///
    /// # Errors
    /// The errors a direct spawn returns, with the same kinds and raw OS
    /// errors (`NotFound`, `PermissionDenied`, `InvalidInput` for NUL bytes),
    /// and `InvalidInput` naming a setting that cannot be carried to the
    /// stub (see the crate docs).
    pub fn spawn(&mut self) -> io::Result<std::process::Child> {
        spawn_via(
            self.cmd,
            std_self,
            self.config,
            IoDefaults::Spawn,
            |cmd| cmd.spawn(),
            |mut stub, _| stub.spawn(),
        )
    }

    /// Like [`std::process::Command::output`]: stdin from `/dev/null` and
    /// stdout/stderr captured unless the command sets them.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), and errors while waiting.
    pub fn output(&mut self) -> io::Result<Output> {
        spawn_via(
            self.cmd,
            std_self,
            self.config,
            IoDefaults::Output,
            |cmd| cmd.output().map(Ok),
            |mut stub, _| stub.spawn().map(|child| child.wait_with_output()),
        )?
    }

    /// Like [`std::process::Command::status`].
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), and errors while waiting.
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        drop(child.stdin.take());
        child.wait()
    }
}

impl DoubleSpawnCommand<'_, TokioCommand> {
    /// Like [`tokio::process::Command::spawn`]; `kill_on_drop` is kept.
    ///
    /// Must be called inside a tokio runtime, as tokio's own `spawn`.
    ///
    /// # Errors
    /// As [`DoubleSpawnCommand::<std::process::Command>::spawn`].
    pub fn spawn(&mut self) -> io::Result<tokio::process::Child> {
        spawn_via(
            self.cmd,
            TokioCommand::as_std_mut,
            self.config,
            IoDefaults::Spawn,
            |cmd| cmd.spawn(),
            |stub, cmd| {
                let mut stub = TokioCommand::from(stub);
                stub.kill_on_drop(cmd.get_kill_on_drop());
                stub.spawn()
            },
        )
    }

    /// Like [`tokio::process::Command::output`]: sets stdout and stderr to
    /// piped on the command (as tokio does), spawns at once, and resolves
    /// when the child has exited.
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> {
        self.cmd.stdout(Stdio::piped());
        self.cmd.stderr(Stdio::piped());
        let child = self.spawn();
        async { child?.wait_with_output().await }
    }

    /// Like [`tokio::process::Command::status`]: spawns at once, drops the
    /// child's stdio handles, and resolves when the child has exited.
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> {
        let child = self.spawn();
        async {
            let mut child = child?;
            child.stdin.take();
            child.stdout.take();
            child.stderr.take();
            child.wait().await
        }
    }
}
