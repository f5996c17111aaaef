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
//! spawning thread only (and SIGTTIN and SIGTTOU, the stops a terminal sends
//! a whole background group when one of its members reads from it or writes
//! to it); the child inherits the blocked signals, so nothing can stop it
//! before `exec`. The child it starts is not the program but a
//! *stub*: by default the current executable started again with private
//! arguments. The stub restores the signal mask and `exec`s the real program
//! in place. A SIGTSTP that arrived in between now stops a process that has
//! already been `exec`ed: `spawn()` has returned, the caller knows the pid,
//! and a `SIGCONT` resumes it; a child in a process group of its own
//! discards it instead (see [Caveats](#caveats)).
//!
#![cfg_attr(feature = "tokio", doc = "```no_run")]
#![cfg_attr(not(feature = "tokio"), doc = "```ignore")]
//! use double_spawn::DoubleSpawnExt;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> std::io::Result<()> {
//!     let mut cmd = tokio::process::Command::new("echo");
//!     cmd.arg("hello");
//!     // was: cmd.spawn()
//!     let status = cmd.double_spawn().spawn()?.wait().await?;
//!     assert!(status.success());
//!     Ok(())
//! }
//! ```
//!
//! That is all on glibc (most Linux distributions): no other change, in a
//! binary, a library or a `#[test]`. Where the C library is not glibc (musl,
//! other Unix), also call [`init()`] first in `main`; it is harmless on
//! glibc, so portable binaries call it anyway. A double spawn that cannot be
//! protected is made as a plain `spawn()` and says so once, on stderr or to
//! your `tracing` subscriber (see [Fallbacks](#fallbacks-and-strict-mode)).
//!
//! **`pre_exec` closures are not carried.** std hides them from everything
//! but its own `spawn()`, so `double_spawn()` cannot see them on a plain
//! command, and they would not run. Build such commands in *stub form* with
//! [`DoubleSpawn::std_command`], where they run in the stub's process and
//! their effects survive its `exec`.
//!
//! # How it works
//!
//! - **The stub.** A process of this executable whose `argv[1]` is the
//!   crate's private subcommand sets signals 32-34 as a direct child would
//!   have them (where the direct spawn would have been std's `fork`/`exec`),
//!   unblocks SIGTSTP, SIGTTIN and SIGTTOU where the guard blocked them
//!   (first discarding a pending one if the child is no longer in the
//!   spawner's process group), and
//!   `execve`s the target with the tail of its own `argv`, allocating
//!   nothing. With glibc this happens in an ELF constructor, before std's
//!   runtime and before any `main`; with other C libraries [`init()`] does
//!   it, and also undoes std's start-up (which ignores SIGPIPE and fills
//!   closed standard descriptors with `/dev/null`). The same constructor
//!   marks every other process of the binary as a *stub host*, which is why
//!   glibc binaries need no `init()`. In a shared library loaded by another
//!   program (a Python extension, a plugin) neither happens: that program is
//!   not ours to run as a stub.
//! - **The rewrite.** [`DoubleSpawnExt::double_spawn`] reads the command back
//!   (getters, and std's `{:#?}` text for the settings that have no getter),
//!   checks the program exactly as a direct spawn would find it (a program
//!   that fails the check is spawned directly with SIGTSTP still blocked, so
//!   a missing program is the C library's own `NotFound` from `spawn()`;
//!   the guard's SIGTTIN and SIGTTOU stay blocked with it),
//!   builds a command for the stub
//!   that carries every setting, and spawns it while holding a
//!   [`SigtstpGuard`]. The target's arguments travel as separate `argv`
//!   entries, never quoted. The stub `exec`s in place, so the child's pid is
//!   the target's pid, and tokio's reaping, `kill()`, `kill_on_drop` and
//!   process groups work as for a direct spawn.
//! - **Stub form.** [`DoubleSpawn::std_command`] builds a command whose
//!   program is already the stub, for runners that configure commands in one
//!   place and spawn them in another, and for `pre_exec` closures;
//!   `double_spawn()` spawns such a command as it is, under the guard.
//!
//! # Choosing a stub
//!
//! | | current executable (default) | embedded ([`Stub::Embedded`], `DOUBLE_SPAWN=embedded`) |
//! | --- | --- | --- |
//! | cost per spawn | one start of your binary: grows with its size and libraries | one start of a static stub of a few KB, loaded once per process into a sealed memory file |
//! | hosts covered | main executables linking the crate (glibc, or `init()` called) | also shared libraries, setuid binaries, binaries without `init()` |
//! | what security tools see | an ordinary `execve` of your own binary | `execve` of a memory file (`/proc/self/fd/N`), which rules for *fileless execution* flag (Falco, GuardDuty) |
//! | refused by | nothing beyond `/proc` being mounted | `vm.memfd_noexec=2`, seccomp profiles denying `memfd_create`, confined SELinux domains, qemu-user emulation, no `/proc` |
//!
//! The embedded stub is opt-in because of the third row. Where it is
//! refused, the first spawn through it meets the refusal and is made again
//! at once on the next route (the caller sees it work), one line says so,
//! and the process uses the current executable, then a direct spawn. No
//! extra spawn finds this out, except one probe spawn per process where the
//! process may run emulated (qemu-user) or builds a stub-form command
//! before any spawn proved the stub; [`DoubleSpawn::route`] tells which
//! route spawns take, and spawns nothing.
//!
//! # Fallbacks and strict mode
//!
//! Whenever no stub can protect a spawn exactly, it is spawned exactly as
//! `cmd.spawn()` would spawn it, and one warning says so, once per reason in
//! a process: no stub host, a privileged binary, no `/proc`,
//! or a command with a setting the stub's command cannot be given (an
//! unstable std setting such as `groups` or pidfds, or a field a future std
//! adds to its `Debug` output; `setsid` and `chroot` std does not show at
//! all, see "What differs"), or that a stub would see differently (a
//! loader variable, `/proc/self`, `E2BIG`).
//! [`DoubleSpawnCommand::route`] tells the route of one command. No std upgrade can turn a
//! working spawn into an error. [`DirectReason`] lists the reasons.
//! The warning is a `tracing` event when a subscriber will record it, and
//! one line on stderr (`double-spawn: warning: ...`) when none will, so it
//! is printed exactly once either way; [`Warnings`] chooses another channel
//! for the process (stderr, tracing, both, none).
//! `DOUBLE_SPAWN=0` (or [`DoubleSpawn::disabled`]) turns double spawning off
//! silently; [`DoubleSpawn::strict`] turns every fallback into an
//! `io::ErrorKind::Unsupported` error from `spawn()` instead, which carries
//! the reason ([`Unprotected::of`]). A thread that
//! already blocks SIGTSTP, SIGTTIN and SIGTTOU is safe without a stub and
//! spawns directly, silently.
//!
//! # What differs from a direct spawn
//!
//! What the target can observe is that of a direct spawn: `argv` byte for
//! byte (including `argv[0]`), environment, working directory, stdio,
//! process group, uid/gid, signal mask and dispositions, open descriptors,
//! pid; `tests/parity.rs` checks each, however the test binary was started.
//! What differs, and why:
//!
//! - **Cost**: one more `exec`, of the stub (README, "Performance").
//! - **`pre_exec` closures** on a plain command do not run (above).
//! - **Failures only the child can see** (an `exec` that fails after the
//!   parent's checks passed: `ENOEXEC` for a script without `#!`, a file
//!   removed in between, a script whose interpreter is missing): the child
//!   exits with [`exit_code::EXEC_FAILED`] (or the code given to
//!   [`DoubleSpawn::exec_failure_code`]) after one line on stderr, instead of
//!   `spawn()` returning the error. A stub that reported its `exec` error
//!   back to `spawn()` (through a close-on-exec pipe) would give these too,
//!   but `spawn()` would then have to wait for the stub to run and `exec`
//!   the target. Measured on 2026-12-02 (2 cores, load 1.7, std, 1,000
//!   interleaved rounds of a static target that writes its first
//!   instruction's time): a direct target starts 39 µs after `spawn()`
//!   returns; through the embedded stub 129 µs, through the current
//!   executable (a 1 MB release binary) 668 µs, while `spawn()` itself takes
//!   131, 173 and 171 µs. Waiting would make the embedded route's `spawn()`
//!   about 1.5 times as long and the default route's about 4.7 times, on
//!   the thread that spawns, for errors that only a file without `#!` or
//!   one removed mid-spawn can cause; and the only way to hand the stub a
//!   pipe without leaking it into other threads' children is a second open
//!   through `/proc/<parent>/fd`, with a handshake. So the crate does not
//!   wait, and checks in the parent everything the parent can check
//!   (below).
//! - **A program that fails the parent's check** (missing, not executable,
//!   a directory, a symlink loop) is not reported by the parent: the
//!   caller's own command is spawned directly *with SIGTSTP still blocked*,
//!   so the C library and the kernel produce the error in their own order
//!   (a `process_group` it may not join, a bad working directory, then the
//!   program) and no child exists to be stopped.
//!   [`DirectReason::ProgramNotRunnable`] names this route. The one race:
//!   a program that appears between the check and the spawn starts with
//!   SIGTSTP, SIGTTIN and SIGTTOU blocked (unblocked by nothing until the
//!   program does it).
//! - **Stub-form commands** ([`DoubleSpawn::std_command`]) have their
//!   target checked in the parent too, with the command's environment,
//!   working directory and ids, so a missing program fails `spawn()` with a
//!   direct spawn's error (`NotFound`, the same raw OS error) instead of
//!   exiting 127. The check cannot see what `pre_exec` closures will change
//!   (a `chdir`, the ids, the environment): a target they alone make
//!   runnable or unrunnable is judged as the command stands; and a stub-form
//!   command that fails both on its process group and its program reports
//!   the program.
//! - **NUL bytes** are left to std, before any lookup: a NUL in an
//!   environment entry, the program, an argument, `argv[0]` or the working
//!   directory makes `double_spawn()` spawn the command directly, and std
//!   fails it with `InvalidInput` before any child exists. std shows such a
//!   string as the text `<string-with-nul>`, so a command whose argument
//!   *is* that text is spawned directly too (and reported, once it has
//!   spawned; refused in strict mode, which cannot tell the two apart).
//!   Not seen: a NUL in an `arg0` or working directory that a later call
//!   replaced. std still refuses that command, and the double spawn runs
//!   it.
//! - **Names of the spawner itself**: `/proc/self/exe` (or
//!   `/proc/thread-self/exe`) would name the embedded stub inside it, so
//!   such a command takes the current-executable stub, where it names this
//!   very binary, or is spawned directly ([`DirectReason::ProcSelf`]).
//!   `/proc/self/fd/N` and `/dev/fd/N` naming a descriptor that is
//!   close-on-exec here are spawned directly for the same reason (the
//!   direct child still has it at `exec`, the stub does not).
//!   `/proc/<pid>/...` with this process's pid names the spawner in both.
//! - **Loader variables**: a target environment that changes `LD_*` or
//!   `GLIBC_TUNABLES` (`DYLD_*` on Apple systems) from this process's own
//!   would act on the current-executable stub, a dynamic program, before
//!   the target; such a command takes the embedded stub (static, no loader)
//!   even when the current executable is configured, or is spawned directly
//!   ([`DirectReason::LoaderVariables`]). Equal values (cargo's
//!   `LD_LIBRARY_PATH` for test binaries) act on the stub exactly as on this
//!   process, the same binary, and change nothing. `MALLOC_*` are not
//!   among them: they configure `malloc`, which the stub never calls.
//! - **Arguments that just fit**: the stub's command line is a few
//!   arguments longer than the target's. When its spawn fails with `E2BIG`,
//!   the command is spawned directly instead, exactly as `cmd.spawn()`
//!   would, and reported if that succeeds
//!   ([`DirectReason::ArgumentsTooLong`]; an error in strict mode).
//! - **A closed descriptor 0 or 2 on std's `fork`/`exec` path** (taken for a
//!   bare program name with `PATH` changed in the command, uid/gid, and
//!   `pre_exec`): with `Stdio::null()` or `Stdio::piped()` on that slot,
//!   std opens the file or pipe close-on-exec into the free slot itself,
//!   and its `dup2(fd, fd)` onto the same number does nothing, so the
//!   close-on-exec flag stays: the direct child starts with the slot closed
//!   (the pipe lost). Through the stub the child gets what the command asked
//!   for, as std's `posix_spawn` path gives it. This is std's bug; copying
//!   it would reproduce it in every double spawn, so it is not copied.
//! - **Settings std's `Debug` text does not show**: `setsid(true)` and
//!   `chroot` (nightly std) appear in std 1.95's `{:#?}` output not at all,
//!   so `double_spawn()` cannot see them on a plain command: they are
//!   dropped, in strict mode too, like `pre_exec` closures. Should a std
//!   print them, the command is spawned directly and reported (the parser
//!   fails closed on any field it does not know). Use stub form for them.
//! - **A file without `#!` on std's `fork`/`exec` path** (issue 16 kind 5:
//!   a bare name with `PATH` changed in the command or the environment
//!   cleared, a uid or gid): glibc's `execvp` runs it as `/bin/sh FILE
//!   ARGS...`, and so does the stub, told by the parent exactly when the
//!   direct spawn would have taken that path (protocol flag `s`): the same
//!   `argv`, the shell's error if it cannot run. On `posix_spawn`'s path,
//!   and on musl, whose `execvp` does not fall back, neither does the stub
//!   (the file fails as above). A stub-form command's `pre_exec` closures
//!   are invisible, so only its visible settings count there; the
//!   process-wrap adapter declares those of process-wrap's own wrappers.
//! - **SIGPIPE after [`init()`]** (musl and other C libraries without the
//!   constructor stub): std's start-up ran in the stub and ignored SIGPIPE,
//!   so the stub sets it back to the default, which is what std's own spawn
//!   gives a direct child. A binary built with `-Zon-broken-pipe` (whose
//!   direct children keep the spawner's disposition) gets the default in
//!   the target instead. The glibc constructor and the embedded
//!   stub run before any runtime and leave SIGPIPE as their own spawn set
//!   it, exactly as the direct child has it.
//!
//! **Known differences.** `tests/differential.rs` generates commands across
//! the whole `Command` surface and compares direct and double spawns on
//! everything either side sees; it accepts only the documented differences
//! above (kinds 8 and 8b, `ENOEXEC` seen by the child), each listed there,
//! and checks a case of every fixed kind of issue 16 (1 to 7) for equality.
//!
//! Two edges of the parent's program lookup (`src/unix/resolve.rs`): a
//! program found through an empty `PATH` entry is executed as `./name`
//! (glibc executes `name`; the stub must be given a name with a slash, or
//! it would search again), which only a script's interpreter can see, in
//! its arguments; and a `PATH` of one entry longer than `PATH_MAX` makes the
//! parent's check fail, so the command is spawned directly (with SIGTSTP
//! blocked) and glibc gives whatever it gives.
//!
//! # Security
//!
//! Every binary that links the crate understands the stub's private command
//! line, so the stub must not obey whoever replays it: a tool that may be run
//! with any arguments through `sudo`, a root-owned wrapper, or a service
//! passing user-chosen arguments would otherwise run any program with its
//! privileges.
//!
//! - **What the stub accepts**: only an `execve` whose file name was exactly
//!   `/proc/self/exe`. The kernel records that name for the new process
//!   (`AT_EXECFN`), and `/proc/self/exe` names the executable of the process
//!   that calls `execve`, so only code already running in this very
//!   executable can start a stub. The name is fixed at the moment of the
//!   `execve`: a spawner that exits, or `exec`s another program, right after
//!   `spawn()` returns does not affect it.
//! - **What it refuses**: any other start (a shell, `sudo`, a wrapper or
//!   another program naming the binary by its path) and any binary running
//!   with elevated privileges (setuid, setgid, file capabilities:
//!   `AT_SECURE`). It prints one line on stderr (`double-spawn: refusing to
//!   act as a stub: ...`) and exits with [`exit_code::REFUSED_PRIVILEGED`]
//!   (126); the target is never executed. Both checks come before the
//!   command line is read, and the message names neither the binary nor the
//!   target. A crate compiled into a shared library never acts as a stub
//!   for the program that loaded it.
//! - **The embedded stub** lives in a sealed memory file held by the spawning
//!   process and is started as `/proc/self/fd/N`; it has no path outside that
//!   process, so nobody else can start it, and it obeys only that kind of
//!   start.
//! - **Residual risk**: a program of yours that itself re-executes
//!   `/proc/self/exe` with arguments it takes from an untrusted user would
//!   start the stub on that user's behalf: do not re-execute yourself with
//!   untrusted arguments. On Unix systems other than Linux there is no
//!   `AT_EXECFN`: the origin check is not made, and only the privilege check
//!   applies (`issetugid()` on the BSDs, Apple systems and illumos; real
//!   and effective ids differ elsewhere).
//!
//! # Runners and process-wrap
//!
//! Runner authors: see [`runners`] for the one-time setup (own opt-out
//! variable, exit code), debug output, and a migration from a hand-rolled
//! double spawn. `examples/runner.rs` is a complete parallel runner.
//!
//! **[process-wrap]** wrappers act in `pre_spawn` hooks, some through
//! `pre_exec` closures (`ProcessSession`'s `setsid`). Build the command in
//! stub form, so the closures run in the stub's process and survive its
//! `exec`, and replace only the spawn call:
//!
#![cfg_attr(feature = "tokio", doc = "```no_run")]
#![cfg_attr(not(feature = "tokio"), doc = "```ignore")]
//! use double_spawn::{DoubleSpawn, DoubleSpawnExt};
//! use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessSession};
//!
//! # async fn run() -> std::io::Result<()> {
//! let mut cmd = CommandWrap::from(DoubleSpawn::process_default().tokio_command("make"));
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
//! steps and refuse with `InvalidInput` a command not in stub form
//! (`process-wrap9`: the same trait for process-wrap 9.1+). The adapter
//! gives `ResetSigmask`'s empty signal mask through the stub and keeps the
//! wrapper's own `pre_exec` from unblocking SIGTSTP before the stub's
//! `exec`, which would reopen the hang. `tests/process_wrap.rs` checks each
//! wrapper's effect on the target process.
//!
//! [process-wrap]: https://docs.rs/process-wrap
//!
//! # Caveats
//!
//! - **Ctrl-Z and process groups.** What a Ctrl-Z (a SIGTSTP to the
//!   spawner's process group) does to a double-spawned child depends on
//!   the group the child ends up in:
//!   - *The child stays in the spawner's group* (no `process_group`, or
//!     `process_group` of the spawner's own group): it stops like its
//!     spawner. A stop that arrives during the spawn is held until the
//!     stub's `exec` and lands then, when `spawn()` has returned; the
//!     shell's `fg` continues the whole group, the child included.
//!   - *The child is in a group of its own* (`process_group(0)`, another
//!     group, or `setsid`/`setpgid` in a stub-form command's `pre_exec`):
//!     a stop aimed at the spawner's group that reached the child while it
//!     was still in it (between `clone` and `setpgid`) is discarded when
//!     the stub starts, and later stops to the spawner's group never reach
//!     it. The child runs on, and nothing hangs; but it does not stop with
//!     the terminal, so the supervisor has to pass stop, continue and
//!     terminate on to it. [`job_control`] does that.
//!
//!   The stub knows which case it is in by comparing its own process group
//!   with the spawner's at the moment of the spawn, so the rule holds
//!   however the child changed groups. The cost: a stop sent to the
//!   child's *own* group in the first moments after `spawn()` returns,
//!   before the stub has started, is discarded too (measured: up to about
//!   0.1 ms for the embedded stub, a few milliseconds for a large
//!   current-executable stub), and so is one sent to an existing group
//!   while the child is joining it. A supervisor that forwards a stop to a
//!   job it has just spawned should send SIGSTOP, which cannot be
//!   discarded; [`job_control`] does, to a job whose leader is still the
//!   stub. `tests/stop_after_leaving_group.rs` checks both cases.
//! - **Job control in the parent**: installing a tokio SIGTSTP listener
//!   replaces the default stop action for the life of the process, so a
//!   supervisor that wants to stop itself must `raise(SIGSTOP)`. A process
//!   group whose parent is in another session is *orphaned*, and the kernel
//!   discards terminal stop signals (SIGTSTP, SIGTTIN, SIGTTOU) sent to it.
//!
//! # Platform support
//!
//! Whether a system is exposed was read from its C library's and kernel's
//! sources (`src/unix/exposure.rs` names the functions). Two ways of
//! spawning matter: the C library's `posix_spawn`, which std uses where it
//! can, and std's own `fork`/`exec`, which it uses for `uid`/`gid`,
//! `pre_exec` closures, a bare program with `PATH` changed in the command,
//! and a working directory the C library cannot set in `posix_spawn`.
//! std's `fork`/`exec` is exposed everywhere: its parent reads a pipe until
//! the child's `exec`, and a stop before `exec` leaves it reading.
//!
//! | system | exposed? | route | run here | only compiled and linted |
//! | --- | --- | --- | --- | --- |
//! | Linux, glibc | yes: the `posix_spawn` child is a `CLONE_VFORK` clone that runs library code before `exec`, and nothing holds a stop | current executable via an ELF constructor (no set-up); embedded stub opt-in | everything: `cargo test --all-features`, also started by a shell (x86_64) | aarch64 |
//! | Linux, musl | yes, the same (`posix_spawn.c`) | current executable after [`init()`]; embedded stub opt-in | `cargo test --all-features --target x86_64-unknown-linux-musl` | aarch64 |
//! | macOS, iOS | `posix_spawn`: no, it is one system call, and the child runs no user code before its image; std's `fork`/`exec`: yes | direct and silent ([`DirectReason::KernelSpawn`]); commands std may `fork` for go through the current executable after [`init()`] | nothing | x86_64, aarch64 |
//! | FreeBSD | `posix_spawn`: no, the kernel holds stops while the vfork child shares its parent's memory (`P_PPWAIT`) and delivers them after `exec`; std's `fork`/`exec`: yes | as macOS; the privilege check is `issetugid()` | nothing | x86_64 |
//! | illumos | `posix_spawn`: no for SIGTSTP, SIGTTIN, SIGTTOU, held for a `vforkx` child until `exec`; std's `fork`/`exec`: yes | as FreeBSD | nothing | x86_64 |
//! | other Unix (NetBSD, OpenBSD, ...) | yes: std uses `fork`/`exec` only | current executable after [`init()`], every spawn | nothing | nothing |
//! | Windows and other non-Unix | no: there is no SIGTSTP | direct ([`DirectReason::Unsupported`]); [`init()`] does nothing | nothing | x86_64 (gnu) |
//!
//! The embedded stub is built for x86_64 and aarch64 Linux. Outside Linux
//! there is no `AT_EXECFN`, so the stub's origin check is not made and only
//! the privilege check applies (see [Security](#security)).
//! [`DoubleSpawn::route`] answers for most commands of a configuration; on
//! macOS, FreeBSD and illumos that is `direct`, while the commands std may
//! `fork` for (a working directory, uid/gid, `PATH` changed for a bare
//! program name) take the stub. On those systems a `pre_exec` closure on a
//! plain command is as exposed as with `spawn()`; build it in stub form.
//!
//! # Features
//!
//! - `tokio` (default): `double_spawn()` on `tokio::process::Command` and
//!   [`DoubleSpawn::tokio_command`]. Without it the crate needs only std and
//!   nix.
//! - `tracing` (default): the warnings as `tracing` events when a subscriber
//!   records them (see [`Warnings`]), and a `debug` event for every spawn
//!   (the target's program, its pid, and the route: `stub`, `embedded
//!   stub`, `stub form`, `direct`, or `direct (program not runnable)`).
//!   Nothing is ever logged between `fork` and `exec`, nor by a stub.
//! - `job-control` (default, Unix, implies `tokio`): the [`job_control`]
//!   module for supervisors: process groups, forwarding Ctrl-Z, `fg` and
//!   Ctrl-C to jobs, timers that do not count stopped time.
//! - `process-wrap` (implies `tokio`): the process-wrap adapter (see above),
//!   for process-wrap 10. Needs Rust 1.87, process-wrap's own minimum.
//! - `process-wrap9` (implies `tokio`): the same adapter for process-wrap
//!   9.1 and later 9.x (both features may be on at once).

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
#[cfg(any(feature = "process-wrap", feature = "process-wrap9"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "process-wrap", feature = "process-wrap9")))
)]
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
pub use config::{DoubleSpawn, InvalidExitCode, Stub};
#[doc(inline)]
pub use ext::{DoubleSpawnCommand, DoubleSpawnExt};
#[doc(inline)]
pub use fallback::{Unprotected, Warnings};
#[doc(inline)]
pub use guard::SigtstpGuard;
#[doc(inline)]
pub use route::{DirectReason, Route};

/// The hook for C libraries other than glibc: call it first in `main`.
///
/// With glibc an ELF constructor does this job before `main` in every
/// process of a binary that links the crate, and `init()` only confirms it.
/// Elsewhere (musl, other Unix) `init()` is what makes the binary a stub
/// host: when this process was started by a double spawn as the stub,
/// `init()` restores what the target must inherit and `exec`s the target, so
/// it never returns (if the `exec` fails it prints one line to stderr and
/// exits with a code from [`exit_code`]); otherwise it returns at once,
/// having recorded that this executable can serve as a stub. Until then,
/// [`double_spawn()`](DoubleSpawnExt::double_spawn) spawns directly and says
/// so once. In a shared library it does nothing.
///
/// Call it before anything else: before starting threads or a runtime, and
/// before parsing arguments (the stub's arguments are not the program's).
/// A binary whose entry point is a library function shared by several
/// binaries calls it in each binary's `main`.
///
/// ```
/// // First thing in `main`:
/// double_spawn::init();
/// // ... the program ...
/// ```
pub fn init() {
    imp::init();
}
