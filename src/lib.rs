//! Spawn child processes so that a Ctrl-Z can never hang the spawner.
//!
//! On Linux, std and tokio start children with glibc's or musl's
//! `posix_spawn`, which runs the child with `clone(CLONE_VM | CLONE_VFORK)`:
//! the spawning thread is suspended until the child calls `exec`. If a
//! SIGTSTP (Ctrl-Z, or a supervisor's job control) reaches the child in that
//! window, the child has already reset its signal handlers to the default and
//! *stops before `exec`*. The spawning thread stays suspended inside
//! `spawn()`, and if the child was put in its own process group nobody will
//! ever send it SIGCONT: the runner hangs for good. Test runners, build tools
//! and job supervisors that spawn thousands of children hit this.
//!
//! `double-spawn` closes the window. Around the spawn it blocks SIGTSTP on the
//! spawning thread only; the child inherits the blocked signal, so nothing
//! can stop it before `exec`. The child it starts is not the program but the
//! current executable acting as a tiny stub; the stub restores the signal
//! mask and `exec`s the real program in place. A SIGTSTP that arrived in
//! between now stops a process that has already been `exec`ed: `spawn()` has
//! returned, the caller knows the pid, and a `SIGCONT` resumes it.
//!
//! ```no_run
//! use double_spawn::DoubleSpawnExt;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> std::io::Result<()> {
//!     // First thing in main: if this process was started as a stub, this
//!     // call becomes the target program and never returns.
//!     double_spawn::init();
//!
//!     let mut cmd = tokio::process::Command::new("echo");
//!     cmd.arg("hello").process_group(0);
//!     let status = cmd.double_spawn().spawn()?.wait().await?;
//!     assert!(status.success());
//!     Ok(())
//! }
//! ```
//!
//! (With `#[tokio::main]` the runtime is built before `init()` runs. With
//! glibc the stub never gets that far; elsewhere it works but costs every
//! stub a runtime start, so a plain `fn main` that calls `init()` and then
//! builds the runtime keeps the stub lean.)
//!
//! # How it works
//!
//! - A process started with the crate's private subcommand in `argv[1]` is a
//!   stub: it resets SIGPIPE to the default (as a direct spawn does),
//!   unblocks SIGTSTP if the guard blocked it, and `execv`s the target with
//!   the tail of its own `argv`, allocating nothing. With glibc this happens
//!   in an ELF constructor, before std's runtime and before `main`; with
//!   other C libraries [`init()`] does it, and also undoes std's start-up
//!   (which ignores SIGPIPE and fills closed standard descriptors with
//!   `/dev/null`). In any other process `init()` records that the hook is
//!   installed and returns.
//! - [`DoubleSpawnExt::double_spawn`] reads the command back (getters, and
//!   std's `{:#?}` text for the settings that have no getter), resolves the
//!   program exactly as a direct spawn would (so a missing program is a
//!   `NotFound` from `spawn()`), builds a command for `/proc/self/exe` that
//!   carries every setting, and spawns it while holding a [`SigtstpGuard`].
//!   The target's arguments travel as separate `argv` entries, never quoted.
//! - [`DoubleSpawn::std_command`] builds a command in stub form from the start,
//!   for runners that configure commands in one place and spawn them in
//!   another; `double_spawn()` spawns such a command as it is.
//!
//! The stub `exec`s in place, so the child's pid is the target's pid, and
//! tokio's reaping, `kill()`, `kill_on_drop` and process groups work as for a
//! direct spawn.
//!
//! # Runners and process-wrap
//!
//! **Runners** that build a command in one place and spawn it in another:
//! create it with [`DoubleSpawn::std_command`] (or `tokio_command`),
//! configure it as usual (`env`, `current_dir`, stdio, `process_group`,
//! `pre_exec`), convert it with `tokio::process::Command::from` if needed,
//! move it to the task that spawns, and call `double_spawn().spawn()` there.
//! `examples/runner.rs` is a complete parallel runner (one pipe for stdout
//! and stderr, timeouts, Ctrl-Z forwarded to the jobs' process groups).
//!
//! **[process-wrap]** wrappers act in `pre_spawn` hooks, some through
//! `pre_exec` closures (`ProcessSession`'s `setsid`). Build the command in
//! stub form, so the closures run in the stub's child and survive its
//! `exec`, and replace only the spawn call:
//!
//! ```no_run
//! use double_spawn::{DoubleSpawn, DoubleSpawnExt};
//! use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessSession};
//!
//! # async fn run() -> std::io::Result<()> {
//! let mut cmd = CommandWrap::from(DoubleSpawn::new().tokio_command("make"));
//! cmd.command_mut().arg("-j4");
//! cmd.wrap(ProcessSession).wrap(KillOnDrop);
//! let mut child = cmd.spawn_with(|cmd| cmd.double_spawn().spawn())?;
//! let status = child.wait().await?;
//! # Ok(()) }
//! ```
//!
//! Wrapping a plain `Command::new("make")` instead loses every `pre_exec`
//! closure without an error (std hides them); only the settings std shows,
//! such as `ProcessGroup`'s process group and `KillOnDrop`, are carried. The
//! `process-wrap` feature adds `DoubleSpawn::tokio_command_wrap` and
//! `DoubleSpawnWrapExt::double_spawn` (module `process_wrap`), which do both
//! steps and refuse with `InvalidInput` a command not in stub form and the
//! `ResetSigmask` wrapper, whose `pre_exec` unblocks SIGTSTP before `exec`
//! and so reopens the hang. `tests/process_wrap.rs` checks each wrapper's
//! effect on the target process.
//!
//! [process-wrap]: https://docs.rs/process-wrap
//!
//! # What differs from a direct spawn
//!
//! Nothing the target can observe: `argv` byte for byte (including
//! `argv[0]`), environment, working directory, stdio, process group,
//! uid/gid, signal mask and dispositions, open descriptors and pid are those
//! of a direct spawn; `tests/parity.rs` checks each. What differs, and why:
//!
//! - **Cost**: one more `exec`, of the current executable (see the
//!   README's Performance section).
//! - **`pre_exec` closures** attached to a command are invisible to
//!   `double_spawn()` and cannot be carried; build the command with
//!   [`DoubleSpawn::std_command`] instead, where they run in the stub's child
//!   and their effects survive the `exec`.
//! - **Settings std hides**: `groups`, `setsid`, `chroot` and pidfds (all
//!   unstable in std) make `double_spawn()` fail with `InvalidInput` naming
//!   the setting, as does any field a future std adds to its `Debug` output.
//!   Nothing is ever dropped silently.
//! - **A NUL byte**: std replaces an argument containing NUL with the text
//!   `<string-with-nul>` and fails at `spawn()`; the getters return that text,
//!   so an argument that *is* literally `<string-with-nul>` is rejected with
//!   `InvalidInput` too.
//! - **Failures only the child can see** (an `exec` that fails after the
//!   parent's checks passed: `ENOEXEC` for a script without `#!`, a file
//!   removed in between): the child exits with
//!   [`exit_code::EXEC_FAILED`] after one line on stderr, instead of
//!   `spawn()` returning the error. Waiting for the stub's `exec` to report
//!   back would block the spawning thread twice as long on every spawn.
//! - **A thread that already blocks SIGTSTP** is safe without the stub, so
//!   `double_spawn()` spawns directly.
//!
//! # Caveats
//!
//! - **Call [`init()`] first in `main`.** A binary that never calls it cannot
//!   act as a stub (starting it with the stub's arguments would run `main`
//!   again), so `double_spawn()` then spawns directly and logs one warning.
//! - **Privileged binaries** (setuid, setgid, file capabilities: the kernel's
//!   `AT_SECURE`) never act as a stub, or anyone could run
//!   `the-binary <stub arguments> /bin/sh` with its privileges; they spawn
//!   directly.
//! - **Job control in the parent**: installing a tokio SIGTSTP listener
//!   replaces the default stop action for the life of the process, so a
//!   supervisor that wants to stop itself must `raise(SIGSTOP)`. A process
//!   group whose parent is in another session is *orphaned*, and the kernel
//!   discards terminal stop signals (SIGTSTP, SIGTTIN, SIGTTOU) sent to it.
//! - **`DOUBLE_SPAWN=0`** in the environment turns the stub off at run time
//!   (see [`DoubleSpawn`]).
//!
//! # Platform support
//!
//! Linux (glibc and musl) is the target and what the tests run on. Other
//! Unix systems use the same code with `std::env::current_exe()` as the
//! stub's path. On non-Unix targets the crate compiles, [`init()`] does
//! nothing, and every spawn is a direct spawn (there is no SIGTSTP).
//!
//! # Features
//!
//! - `tracing` (default): one warning when double spawning falls back to a
//!   direct spawn for a reason the user should know about, and a `debug`
//!   event for every spawn (the target's program, its pid, and the route:
//!   `stub`, `stub form` or `direct`). Nothing is ever logged between
//!   `fork` and `exec`, nor by the stub.
//! - `process-wrap`: the process-wrap adapter (see above). Needs Rust 1.87,
//!   process-wrap's own minimum.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
pub mod exit_code;
mod ext;
mod fallback;
mod guard;
#[cfg(all(unix, feature = "job-control"))]
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "job-control"))))]
pub mod job_control;
#[cfg(feature = "process-wrap")]
#[cfg_attr(docsrs, doc(cfg(feature = "process-wrap")))]
pub mod process_wrap;
#[cfg_attr(not(unix), allow(dead_code))]
mod protocol;
mod route;
pub mod runners;

#[cfg(unix)]
#[path = "unix/mod.rs"]
mod imp;
#[cfg(not(unix))]
#[path = "other.rs"]
mod imp;

#[doc(inline)]
pub use config::{DoubleSpawn, Stub};
#[doc(inline)]
pub use route::{DirectReason, Route};
#[doc(inline)]
pub use ext::{DoubleSpawnCommand, DoubleSpawnExt};
#[doc(inline)]
pub use guard::SigtstpGuard;

/// The hook: call it first in `main`.
///
/// When this process was started by a double spawn as the stub, `init()`
/// restores what the target must inherit and `exec`s the target: it never
/// returns then (if the `exec` fails it prints one line to stderr and exits
/// with a code from [`exit_code`]). Otherwise it returns at once, having
/// recorded that this executable can serve as a stub; until it has been
/// called, [`double_spawn()`](DoubleSpawnExt::double_spawn) spawns directly.
///
/// Call it before anything else: before starting threads or a runtime, and
/// before parsing arguments (the stub's arguments are not the program's).
///
/// ```
/// fn main() {
///     double_spawn::init();
///     // ... the program ...
/// }
/// # main();
/// ```
pub fn init() {
    imp::init();
}
