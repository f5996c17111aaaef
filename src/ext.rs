//! The extension trait and the two thin spawners (std and tokio).

#[cfg(feature = "tokio")]
use std::future::Future;
use std::io;
#[cfg(feature = "tokio")]
use std::process::Stdio;
use std::process::{ExitStatus, Output};

use crate::config::DoubleSpawn;
use crate::imp::{self, IoDefaults};
use crate::route::{DirectReason, Route};

type StdCommand = std::process::Command;
#[cfg(feature = "tokio")]
type TokioCommand = tokio::process::Command;

/// Who makes the spawn a double spawn prepares: the crate's own `spawn`,
/// or a caller's spawner (`spawn_with`), which may add what the parent
/// cannot see (a `pre_exec` that moves the child to another process group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spawner {
    Own,
    Caller,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::process::Command {}
    #[cfg(feature = "tokio")]
    impl Sealed for tokio::process::Command {}
}

/// Adds [`double_spawn()`](DoubleSpawnExt::double_spawn) to
/// `std::process::Command` and `tokio::process::Command`.
///
/// `cmd.double_spawn().spawn()` is a drop-in replacement for `cmd.spawn()`:
/// same return type, same child, same errors, and the command is borrowed
/// and stays usable. With glibc nothing else is needed; with other C
/// libraries (musl, the BSDs, illumos) call [`init()`](crate::init) first in
/// `main` (harmless with glibc, so portable binaries call it anyway).
///
/// **`pre_exec` closures** on a plain command are not carried: std hides
/// them, so the stub never runs them, and with `DOUBLE_SPAWN=0` (a direct
/// spawn) they run again. Build such a command in stub form with
/// [`DoubleSpawn::std_command`], configure it as usual (closures included)
/// and spawn it with `double_spawn()`: the closures then run in the stub's
/// process, before the target starts, on every route.
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

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
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
/// command (`direct`, told whether it is a stub-form command spawned in
/// place under the guard) or the stub's (`stub`), then releases the guard.
/// Neither closure may wait for the child: the guard is still held.
/// `pid_of` reads the pid from the result for the `tracing` event.
///
/// When the stub's command fails with `E2BIG` (its command line is longer
/// than the caller's), the guard is released and the caller's command is
/// spawned directly, exactly as `cmd.spawn()` would (issue 16, kind 7),
/// reported if it succeeds; in strict mode that is an error instead.
///
/// A spawn through the embedded stub before any has proved it may fail
/// because this system refuses to execute the stub; it is then made once
/// more, on the next route (`Prepared::outcome`), so that the caller sees
/// the spawn work as `cmd.spawn()` would have.
fn spawn_via<C, T>(
    cmd: &mut C,
    std_of: fn(&mut C) -> &mut StdCommand,
    config: DoubleSpawn,
    (io, spawner): (IoDefaults, Spawner),
    pid_of: fn(&T) -> Option<u32>,
    direct: impl Fn(&mut C, bool) -> io::Result<T>,
    stub: impl Fn(StdCommand, &C) -> io::Result<T>,
) -> io::Result<T> {
    let mut retry = None;
    let (route, result) = loop {
        let mut prepared = imp::prepare(std_of(cmd), &config, io, spawner)?;
        let in_place = prepared.in_place();
        let mut route = match (prepared.stub.is_some(), in_place) {
            (true, _) if prepared.embedded => Taken::Embedded,
            (true, _) => Taken::Stub,
            (false, true) => Taken::StubForm,
            (false, false) if prepared.checked() => Taken::Checked,
            (false, false) => Taken::Direct,
        };
        let result = match prepared.stub.take() {
            Some(stub_cmd) => match stub(stub_cmd, cmd) {
                Err(e) if imp::is_too_long(&e) => {
                    prepared.direct_instead(DirectReason::ArgumentsTooLong, config.is_strict())?;
                    route = Taken::Direct;
                    direct(cmd, false)
                }
                other => other,
            },
            None => direct(cmd, in_place),
        };
        // A spawn that fell back to a direct one (`E2BIG`) says nothing
        // about the embedded stub, which never ran.
        let again = match (&retry, route) {
            (None, Taken::Embedded) => prepared.outcome(result.as_ref().map(|_| ())),
            _ => None,
        };
        prepared.finish(std_of(cmd), result.is_ok());
        match again {
            Some(again) => retry = Some(again),
            None => break (route, result),
        }
    };
    if let (Some(retry), Ok(_)) = (retry, &result) {
        retry.succeeded();
    }
    // The guard is released and the child has executed (or is running the
    // stub): logging here cannot run between fork and exec.
    if let Ok(spawned) = &result {
        trace_spawn(std_of(cmd), route, pid_of(spawned));
    }
    result
}

/// How one spawn was made, for the `tracing` event (the public `Route` is
/// the route of a configuration; this is what one command took).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
enum Taken {
    /// The current-executable stub's command, rewritten from the caller's.
    Stub,
    /// The embedded stub's command, rewritten from the caller's.
    Embedded,
    /// The caller's stub-form command (`DoubleSpawn::std_command`), as it is.
    StubForm,
    /// The caller's command, directly.
    Direct,
    /// The caller's command, directly but under the guard: its program
    /// failed the parent's check, and the C library reports the error.
    Checked,
}

/// The `debug` event for one spawn: the target's program (for a stub-form
/// command, the one its arguments name), its pid (`None` for std's
/// `output()` on a direct route, which hides the child), and the route.
#[cfg(feature = "tracing")]
fn trace_spawn(cmd: &StdCommand, route: Taken, pid: Option<u32>) {
    let (program, route) = match route {
        Taken::Stub => (cmd.get_program(), "stub"),
        Taken::Embedded => (cmd.get_program(), "embedded stub"),
        Taken::StubForm => (cmd.get_args().nth(1).unwrap_or_default(), "stub form"),
        Taken::Direct => (cmd.get_program(), "direct"),
        Taken::Checked => (cmd.get_program(), "direct (program not runnable)"),
    };
    tracing::debug!(?program, pid, route, "double-spawn: spawned");
}

#[cfg(not(feature = "tracing"))]
fn trace_spawn(_cmd: &StdCommand, _route: Taken, _pid: Option<u32>) {}

fn std_self(cmd: &mut StdCommand) -> &mut StdCommand {
    cmd
}

impl DoubleSpawnCommand<'_, StdCommand> {
    /// Like [`std::process::Command::spawn`].
    ///
    /// # Errors
    /// The errors a direct spawn returns, with the same kinds and raw OS
    /// errors (`NotFound`, `PermissionDenied`, `InvalidInput` for NUL bytes),
    /// produced by the C library itself: a plain command whose program fails
    /// the parent's check is spawned directly, SIGTSTP still blocked. A
    /// stub-form command's target is checked in the parent, and a missing
    /// one fails here with a direct spawn's error.
    /// A command that cannot be protected (a setting the stub cannot be
    /// given, no stub host) is spawned directly, with one warning; in strict
    /// mode ([`DoubleSpawn::strict`]) that is an `Unsupported` error
    /// instead. A stub-form command whose embedded-stub descriptor was
    /// closed or replaced since it was built is refused with `InvalidInput`.
    pub fn spawn(&mut self) -> io::Result<std::process::Child> {
        spawn_via(
            self.cmd,
            std_self,
            self.config,
            (IoDefaults::Spawn, Spawner::Own),
            |child| Some(child.id()),
            |cmd, _| cmd.spawn(),
            |mut stub, _| stub.spawn(),
        )
    }

    /// Like [`spawn`](Self::spawn), but the spawn itself is made by
    /// `spawner` (a privileged helper, a process-wrap `spawn_with` hook, a
    /// test double) instead of `Command::spawn`, and stays protected.
    ///
    /// `spawner` is handed the command to spawn as it is: the stub's command
    /// for a plain command (its program is the stub and the target travels
    /// in its arguments; see [`DoubleSpawn::plain_command`] for reading the
    /// target back), the caller's command in stub form with the spawn-time
    /// flags set, or the caller's command itself where the spawn is direct.
    /// It runs on this thread with SIGTSTP blocked (the guard), so it must
    /// spawn there and then, and not wait for the child. It is called once;
    /// a second time only when the stub's command was over the kernel's
    /// limit (`E2BIG`), with the caller's command (as `spawn` falls back).
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), and whatever `spawner` returns.
    ///
    /// ```no_run
    /// use double_spawn::DoubleSpawnExt;
    ///
    /// let mut cmd = std::process::Command::new("make");
    /// let child = cmd.double_spawn().spawn_with(|cmd| {
    ///     // e.g. record what is started, then spawn it
    ///     cmd.spawn()
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_with<T>(
        &mut self,
        spawner: impl FnMut(&mut StdCommand) -> io::Result<T>,
    ) -> io::Result<T> {
        let spawner = std::cell::RefCell::new(spawner);
        spawn_via(
            self.cmd,
            std_self,
            self.config,
            (IoDefaults::Spawn, Spawner::Caller),
            |_| None,
            |cmd, _| (spawner.borrow_mut())(cmd),
            |mut stub, _| (spawner.borrow_mut())(&mut stub),
        )
    }

    /// The route this command would take if it were spawned now: a stub, or
    /// a direct spawn and why, including the reasons that belong to this
    /// command ([`DirectReason::UncarriedSetting`], [`DirectReason::NulByte`],
    /// [`DirectReason::LoaderVariables`], ...). It is decided by the very
    /// code `spawn()` runs, without spawning; only
    /// [`DirectReason::ArgumentsTooLong`] is found by the spawn itself.
    ///
    /// ```
    /// use double_spawn::{DirectReason, DoubleSpawn, DoubleSpawnExt, Route};
    ///
    /// let mut cmd = std::process::Command::new("true");
    /// let off = cmd.double_spawn_with(DoubleSpawn::disabled()).route();
    /// assert_eq!(off, Route::Direct(DirectReason::Disabled));
    ///
    /// // A NUL byte std will refuse: left to std, whatever the configuration.
    /// let mut cmd = std::process::Command::new("true");
    /// cmd.env("A", "x\0y");
    /// if DoubleSpawn::new().is_active() {
    ///     assert_eq!(
    ///         cmd.double_spawn().route(),
    ///         Route::Direct(DirectReason::NulByte)
    ///     );
    /// }
    /// ```
    pub fn route(&self) -> Route {
        imp::command_route(self.cmd, &self.config)
    }

    /// Like [`std::process::Command::output`]: stdin from `/dev/null` and
    /// stdout/stderr captured unless the command sets them.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), and errors while waiting.
    pub fn output(&mut self) -> io::Result<Output> {
        /// A direct route runs std's own `output()` to completion (nothing
        /// else applies its stdio defaults to an unchanged command); the
        /// others return the child, which is waited for after the guard.
        enum Spawned {
            Finished(Output),
            Running(std::process::Child),
        }
        let spawned = spawn_via(
            self.cmd,
            std_self,
            self.config,
            (IoDefaults::Output, Spawner::Own),
            |spawned| match spawned {
                Spawned::Running(child) => Some(child.id()),
                Spawned::Finished(_) => None,
            },
            // Not in place: a direct spawn, or one under the guard whose
            // program failed the parent's check (it fails at once; only if
            // the program appeared since does `output()` wait, SIGTSTP
            // blocked on this thread until it returns).
            |cmd, in_place| match in_place {
                true => cmd.spawn().map(Spawned::Running),
                false => cmd.output().map(Spawned::Finished),
            },
            |mut stub, _| stub.spawn().map(Spawned::Running),
        )?;
        match spawned {
            Spawned::Finished(output) => Ok(output),
            Spawned::Running(child) => child.wait_with_output(),
        }
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

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl DoubleSpawnCommand<'_, TokioCommand> {
    /// The route this command would take if it were spawned now: as
    /// [`DoubleSpawnCommand::<std::process::Command>::route`].
    pub fn route(&self) -> Route {
        imp::command_route(self.cmd.as_std(), &self.config)
    }

    /// Like [`tokio::process::Command::spawn`](https://docs.rs/tokio/1/tokio/process/struct.Command.html#method.spawn); `kill_on_drop` is kept.
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
            (IoDefaults::Spawn, Spawner::Own),
            tokio::process::Child::id,
            |cmd, _| cmd.spawn(),
            |stub, cmd| {
                let mut stub = TokioCommand::from(stub);
                stub.kill_on_drop(cmd.get_kill_on_drop());
                stub.spawn()
            },
        )
    }

    /// Like [`spawn`](Self::spawn), but the spawn is made by `spawner`; as
    /// [`DoubleSpawnCommand::<std::process::Command>::spawn_with`]. The
    /// stub's command is handed over as a tokio command with the caller's
    /// `kill_on_drop`.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), and whatever `spawner` returns.
    ///
    /// ```no_run
    /// use double_spawn::DoubleSpawnExt;
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let mut cmd = tokio::process::Command::new("make");
    /// let mut child = cmd.double_spawn().spawn_with(|cmd| cmd.spawn())?;
    /// child.wait().await?;
    /// # Ok(()) }
    /// ```
    pub fn spawn_with<T>(
        &mut self,
        spawner: impl FnMut(&mut TokioCommand) -> io::Result<T>,
    ) -> io::Result<T> {
        let spawner = std::cell::RefCell::new(spawner);
        spawn_via(
            self.cmd,
            TokioCommand::as_std_mut,
            self.config,
            (IoDefaults::Spawn, Spawner::Caller),
            |_| None,
            |cmd, _| (spawner.borrow_mut())(cmd),
            |stub, cmd| {
                let mut stub = TokioCommand::from(stub);
                stub.kill_on_drop(cmd.get_kill_on_drop());
                (spawner.borrow_mut())(&mut stub)
            },
        )
    }

    /// Like [`tokio::process::Command::output`](https://docs.rs/tokio/1/tokio/process/struct.Command.html#method.output): sets stdout and stderr to
    /// piped on the command (as tokio does), spawns at once, and resolves
    /// when the child has exited.
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> {
        self.cmd.stdout(Stdio::piped());
        self.cmd.stderr(Stdio::piped());
        let child = self.spawn();
        async { child?.wait_with_output().await }
    }

    /// Like [`tokio::process::Command::status`](https://docs.rs/tokio/1/tokio/process/struct.Command.html#method.status): spawns at once, drops the
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

#[cfg(all(test, unix, feature = "tracing"))]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;

    /// Records the fields of every event, as `name=value` strings.
    #[derive(Clone, Default)]
    struct Events(Arc<Mutex<Vec<Vec<String>>>>);

    struct Fields<'a>(&'a mut Vec<String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push(format!("{}={:?}", field.name(), value));
        }
    }

    impl Subscriber for Events {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = vec![format!("level={}", event.metadata().level())];
            event.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().push(fields);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn each_spawn_logs_program_pid_and_route() {
        let events = Events::default();
        let pid = tracing::subscriber::with_default(events.clone(), || {
            let mut child = StdCommand::new("true")
                .double_spawn_with(DoubleSpawn::disabled())
                .spawn()
                .unwrap();
            child.wait().unwrap();
            child.id()
        });
        let events = events.0.lock().unwrap();
        let spawned: Vec<_> = events
            .iter()
            .filter(|e| e.iter().any(|f| f.contains("double-spawn: spawned")))
            .collect();
        assert_eq!(spawned.len(), 1, "{events:?}");
        let fields = spawned[0];
        for expected in [
            "level=DEBUG".to_string(),
            "program=\"true\"".to_string(),
            format!("pid={pid}"),
            "route=\"direct\"".to_string(),
        ] {
            assert!(fields.contains(&expected), "{expected} not in {fields:?}");
        }
    }

    #[test]
    fn the_route_names_the_target_not_the_stub() {
        let events = Events::default();
        tracing::subscriber::with_default(events.clone(), || {
            let mut stub_form = StdCommand::new("/proc/self/exe");
            stub_form.args([crate::protocol::MARKER, "make", "make", "-j4"]);
            trace_spawn(&stub_form, Taken::StubForm, Some(7));
            trace_spawn(&StdCommand::new("make"), Taken::Stub, Some(8));
        });
        let events = events.0.lock().unwrap();
        let routes: Vec<_> = events
            .iter()
            .map(|e| (e[2].as_str(), e[3].as_str(), e[4].as_str()))
            .collect();
        assert_eq!(
            routes,
            [
                ("program=\"make\"", "pid=7", "route=\"stub form\""),
                ("program=\"make\"", "pid=8", "route=\"stub\""),
            ],
            "{events:?}"
        );
    }
}
