//! For runner authors: replacing a hand-rolled double spawn with this crate.
//!
//! A test runner, build tool or job supervisor that already double-spawns
//! has written its own version of what this crate does: a hidden
//! subcommand that acts as the stub, a guard that blocks SIGTSTP around each
//! spawn, a lookup of the current executable, an opt-out environment
//! variable, an exit code for "the stub could not `exec`", and a type that
//! says whether double spawning is on, for debug output. This page says how
//! each of them maps to this crate, keeping the runner's own variable, exit
//! code and debug output; [a table](#migrating-from-a-hand-rolled-double-spawn)
//! and a short before and after close it. A runner that is a library used by
//! binaries it does not control keeps its configuration itself:
//! [In a library](#in-a-library).
//!
//! # The one-time setup
//!
//! A runner *binary* gives the crate its variable and exit code once, at the
//! start of `main`, before the first spawn:
//!
//! ```
//! use double_spawn::DoubleSpawn;
//!
//! fn main() {
//!     double_spawn::init(); // see below: needed only where the C library is not glibc
//!     DoubleSpawn::from_env("MY_RUNNER_DOUBLE_SPAWN")
//!         .exec_failure_code(70)
//!         .set_default()
//!         .expect("the default is set once, here");
//!     // ... the runner ...
//! }
//! ```
//!
//! [`DoubleSpawn::from_env`] reads the variable then: `0`, `false`, `no` or
//! `off` (any case) turn double spawning off, `embedded` chooses
//! [`Stub::Embedded`](crate::Stub::Embedded), anything else or no variable
//! turns it on. [`set_default`](crate::DoubleSpawn::set_default) makes the
//! result what [`DoubleSpawn::process_default`] and every
//! [`double_spawn()`](crate::DoubleSpawnExt::double_spawn) use from then on,
//! in place of the crate's own `DOUBLE_SPAWN` variable. A second call changes
//! nothing and returns the default already set as its error.
//!
//! **Where [`init()`](crate::init) is still needed.** On Linux with glibc,
//! nowhere: an ELF constructor runs before `main` in every process of an
//! executable that spawns through this crate (the spawn path keeps it
//! linked). In a process started as the stub it executes the target before
//! `main` is reached; in any other it records that the executable can serve
//! as the stub. Calling `init()` there is harmless: it returns at once.
//!
//! Elsewhere (Linux with musl, and the other Unix systems) there is no such
//! constructor, and `init()` does that work. It must be the first call in
//! `main`, before threads, a runtime or argument parsing, because in a stub
//! process everything that runs before it runs once per spawn, and the
//! stub's arguments are not the runner's. Without it every spawn is direct
//! ([`DirectReason::NotInstalled`](crate::DirectReason::NotInstalled)), with
//! one warning line on stderr per process, or an error in strict mode. On
//! non-Unix targets `init()` does nothing and every spawn is direct.
//!
//! **Entry points that are library functions.** When several binaries call
//! one `my_runner::main()` (say `cargo-my-runner` and `my-runner`), each
//! binary is the stub of the children it spawns (`/proc/self/exe` names the
//! binary that is running), and each links this crate through the library.
//! On glibc each gets the constructor, and nothing else is needed: no
//! dependency of its own, no call. Elsewhere, put `init()` at the top of the
//! shared entry function and let every binary call that function before it
//! does anything else; whatever a binary does first, it also does in every
//! stub it starts.
//!
//! # In a library
//!
//! A runner that is a library (nextest's `nextest-runner`, used by
//! `cargo-nextest` and by other binaries) must not call
//! [`set_default`](crate::DoubleSpawn::set_default): the process default
//! belongs to the binary. The first call wins, so a library that made it
//! would take the choice from its binary, or fail when the binary had
//! chosen first, and every other crate in the binary spawning with
//! `double_spawn()` would follow the library's variable. Instead the library
//! keeps a configuration of its own, read once from its own variable, and
//! gives it to each of its spawns:
//!
//! - [`double_spawn_with`](crate::DoubleSpawnExt::double_spawn_with)`(config)`
//!   in place of `double_spawn()`, for plain and stub-form commands alike;
//! - the same `config` for [`std_command`](crate::DoubleSpawn::std_command)
//!   (the flags of a stub-form command are decided by the configuration it
//!   is spawned with);
//! - [`JobControl::with_config`](crate::job_control::JobControl::with_config)
//!   for job control, and `double_spawn_with` of the process-wrap adapter.
//!
//! Its binaries then need no call at all on glibc. Elsewhere (musl, the
//! BSDs) a binary that never calls [`init()`](crate::init) is no stub host,
//! and a library cannot make it one: only code at the very start of `main`
//! can act as the stub. A library that must be protected in such binaries
//! too chooses [`Stub::Embedded`](crate::Stub::Embedded) for its
//! configuration (the embedded stub needs no host), accepting what that row
//! of the README's "Choosing a stub" table says; otherwise its spawns there
//! are direct, with one warning naming `init()`. The library's messages name its variable
//! ([`route`](crate::DoubleSpawn::route) of a configuration from
//! [`from_env`](crate::DoubleSpawn::from_env) does). A library that lets a
//! binary which chose overrule it starts from
//! [`DoubleSpawn::get_default`] and keeps its own exit code, which its
//! mapping of exit statuses depends on:
//!
#![cfg_attr(feature = "tokio", doc = "```no_run")]
#![cfg_attr(not(feature = "tokio"), doc = "```ignore")]
//! use std::process::{Command, ExitStatus};
//! use std::sync::OnceLock;
//! use std::os::unix::process::CommandExt as _;
//! use double_spawn::{DoubleSpawn, DoubleSpawnExt};
//!
//! /// The library's code for "the stub could not execute the test".
//! const EXEC_FAILED: i32 = 70;
//!
//! /// The library's configuration, read once: the binary's choice if it
//! /// made one, else the library's own variable; the library's exit code.
//! fn double_spawn_config() -> DoubleSpawn {
//!     static CONFIG: OnceLock<DoubleSpawn> = OnceLock::new();
//!     *CONFIG.get_or_init(|| {
//!         DoubleSpawn::get_default()
//!             .unwrap_or_else(|| DoubleSpawn::from_env("NEXTEST_DOUBLE_SPAWN"))
//!             .try_exec_failure_code(EXEC_FAILED)
//!             .expect("70 is an exit code")
//!     })
//! }
//!
//! /// One spawn site of the library.
//! pub fn run_test(program: &str) -> std::io::Result<Option<ExitStatus>> {
//!     let mut cmd = Command::new(program);
//!     cmd.process_group(0);
//!     let status = cmd.double_spawn_with(double_spawn_config()).status()?;
//!     Ok((status.code() != Some(EXEC_FAILED)).then_some(status))
//! }
//!
//! /// The library's debug line:
//! ///   double spawn: direct: double spawning is disabled by NEXTEST_DOUBLE_SPAWN=0
//! pub fn debug_line() -> String {
//!     format!("double spawn: {}", double_spawn_config().route())
//! }
//! ```
//!
//! The library's warnings need nothing either: by default each goes to the
//! host's `tracing` subscriber when it has one that records it, and to
//! stderr when not, once ([`Warnings`](crate::Warnings)). The channel is the
//! binary's to change.
//!
//! # Spawning
//!
//! At each site, `cmd.spawn()` becomes `cmd.double_spawn().spawn()`
//! (likewise `output()` and `status()`), for `std::process::Command` and
//! `tokio::process::Command`. It uses the process default, so no
//! configuration has to travel through the runner's types to the spawn
//! sites; [`double_spawn_with`](crate::DoubleSpawnExt::double_spawn_with)
//! takes another configuration for one spawn (a library's, see
//! [In a library](#in-a-library)). The spawned child is the
//! target itself (same pid), with the settings a direct spawn would give it.
//!
//! `double_spawn()` reads a plain command back when it is spawned and
//! rewrites it into the stub's command. Build the command in *stub form*
//! instead, with [`DoubleSpawn::std_command`] (or `tokio_command`), when:
//!
//! - it carries `pre_exec` closures (std hides them, so the rewrite cannot
//!   carry them; in stub form they run in the stub's child and their effects
//!   survive its `exec`);
//! - it is built in one place and spawned in another, for instance listed
//!   first and spawned later by a scheduler: it is spawned as it is, with
//!   nothing to read back.
//!
#![cfg_attr(feature = "tokio", doc = "```no_run")]
#![cfg_attr(not(feature = "tokio"), doc = "```ignore")]
//! use std::process::Stdio;
//! use std::os::unix::process::CommandExt as _;
//! use double_spawn::{DoubleSpawn, DoubleSpawnExt};
//!
//! # fn run() -> std::io::Result<()> {
//! // Where the test list is built:
//! let mut cmd = DoubleSpawn::process_default().std_command("target/debug/deps/my_tests-0123");
//! cmd.args(["--exact", "tests::it_works"])
//!     .env("MY_RUNNER", "1")
//!     .stdout(Stdio::piped())
//!     .process_group(0);
//! let mut cmd = tokio::process::Command::from(cmd);
//! // Where the test is run, inside the runtime:
//! let _child = cmd.double_spawn().spawn()?;
//! # Ok(()) }
//! ```
//!
//! A stub-form command differs from `Command::new(program)` in what it
//! shows and in how a missing program is reported (see
//! [`DoubleSpawn::std_command`]): `get_program()` and `get_args()` show the
//! stub's form, so a runner that prints the command it runs keeps its own
//! copy of the program and arguments; `arg0()` must not be used; and the
//! stub looks the program up itself, so a missing program is reported by the
//! exit code described below, not by an error from `spawn()`. Spawn it with
//! `double_spawn()` only: a plain `spawn()` starts the stub without blocking
//! SIGTSTP and without the flags that `double_spawn()` computes at spawn
//! time.
//!
//! What the read-back costs: std has no getters for a command's stdio,
//! uid/gid, process group, `argv[0]` or cleared environment, so the crate
//! reads them from the command's `{:#?}` text, whose cost grows with the
//! command's strings (program, arguments, environment, working directory),
//! in either form: for a test's command with some twenty environment
//! variables (about 1.5 KB) it measured 64–70 µs a spawn, against 7 µs for
//! a bare `/bin/true`; the README's "Performance" has the measurements.
//!
//! # Debug output and bug reports
//!
//! [`DoubleSpawn::route`] says which way spawns go in this process, and its
//! `Display` is one line:
//!
//! ```
//! use double_spawn::{DoubleSpawn, Route};
//!
//! eprintln!("double spawn: {}", DoubleSpawn::process_default().route());
//! // For instance:
//! //   stub: the current executable (/proc/self/exe)
//! //   direct: double spawning is disabled by MY_RUNNER_DOUBLE_SPAWN=0
//! std::env::set_var("MY_RUNNER_DOUBLE_SPAWN", "0");
//! assert_eq!(
//!     DoubleSpawn::from_env("MY_RUNNER_DOUBLE_SPAWN").route().to_string(),
//!     "direct: double spawning is disabled by MY_RUNNER_DOUBLE_SPAWN=0"
//! );
//! // Structured: the stub's path, or the reason for a direct spawn.
//! match DoubleSpawn::process_default().route() {
//!     Route::CurrentExe { path } | Route::Embedded { path } => {
//!         eprintln!("stub started as {}", path.display())
//!     }
//!     Route::Direct(reason) => eprintln!("unprotected: {reason}"),
//!     _ => {}
//! }
//! ```
//!
//! On Linux the current executable's path is `/proc/self/exe`, the name the
//! stub is started by; `std::env::current_exe()` gives the file behind it.
//! [`is_active`](crate::DoubleSpawn::is_active) is the yes/no. The route is
//! that of the process: one command can still be spawned directly, when its
//! thread already blocks the stop signals (safe as it is) or when it has a
//! setting the stub cannot be given (reported). With the `tracing` feature every
//! spawn also emits a `debug` event with the program, the pid and the route
//! it took.
//!
//! # "Could not execute" versus "exited with 127"
//!
//! A direct spawn reports a failed `exec` as an error from `spawn()`. With a
//! stub, some failures happen after `spawn()` has returned, in the stub, and
//! become the child's exit status instead. The stub then writes exactly one
//! line to the child's stderr (wherever the command sent it), of the form
//!
//! ```text
//! double-spawn: cannot execute "PROGRAM" in "WORKING DIRECTORY": OS ERROR
//! ```
//!
//! and exits with the code chosen by
//! [`exec_failure_code`](crate::DoubleSpawn::exec_failure_code): by default
//! 127, as a shell, which a runner cannot tell from a test that exits with
//! 127. Choose a code the targets do not use (a Rust test binary exits with
//! 0, or 101 when a test fails) and map it to the runner's own error. An
//! `i32` constant serves both ends, through
//! [`try_exec_failure_code`](crate::DoubleSpawn::try_exec_failure_code)
//! (which refuses a number no process can exit with) and
//! `ExitStatus::code()`:
//!
//! ```
//! use std::process::ExitStatus;
//!
//! /// Passed to `DoubleSpawn::try_exec_failure_code` at start-up.
//! const EXEC_FAILED: i32 = 70;
//!
//! #[derive(Debug, PartialEq)]
//! enum Outcome {
//!     Passed,
//!     Failed(ExitStatus),
//!     CouldNotExecute,
//! }
//!
//! fn outcome(status: ExitStatus) -> Outcome {
//!     match status.code() {
//!         Some(0) => Outcome::Passed,
//!         Some(EXEC_FAILED) => Outcome::CouldNotExecute,
//!         _ => Outcome::Failed(status),
//!     }
//! }
//!
//! let config = double_spawn::DoubleSpawn::enabled().try_exec_failure_code(EXEC_FAILED);
//! assert_eq!(config.map(|c| c.get_exec_failure_code()), Ok(70));
//!
//! # #[cfg(unix)] {
//! use std::os::unix::process::ExitStatusExt;
//! assert_eq!(outcome(ExitStatus::from_raw(70 << 8)), Outcome::CouldNotExecute);
//! assert!(matches!(outcome(ExitStatus::from_raw(127 << 8)), Outcome::Failed(_)));
//! # }
//! ```
//!
//! The captured stderr's line, which starts with `double-spawn: cannot
//! execute`, gives the reason for the runner's message.
//!
//! Which failures come back which way:
//!
//! - **`double_spawn()` on a plain command**: the parent checks what it can
//!   before starting the stub, so a missing program, a program without
//!   execute permission, a directory or a missing working directory come back
//!   as errors from `spawn()`, with the same kind and raw OS error as from a
//!   direct spawn. Only what the parent cannot see becomes the exit code: an
//!   `exec` that fails after the checks passed (`ENOEXEC` for a script
//!   without `#!`, `ETXTBSY`, a file removed in between), and, for a command
//!   that changes uid or gid, execute permission, which the parent cannot
//!   check for the child's ids.
//! - **A stub-form command**: the stub looks the program up itself, so a
//!   missing program is the exit code and the line too.
//!
//! The stub's other exit codes, in [`exit_code`](crate::exit_code), are
//! fixed:
//!
//! - [`REFUSED_PRIVILEGED`](crate::exit_code::REFUSED_PRIVILEGED) (126): the
//!   binary was started with the stub's arguments by anything but a double
//!   spawn, or runs with elevated privileges. A runner's own spawns never
//!   get it: a privileged binary spawns directly instead of starting the
//!   current-executable stub.
//! - [`USAGE`](crate::exit_code::USAGE) (125): a malformed stub command
//!   line. A runner's own spawns get it only from a stub-form command for an
//!   empty program name (a direct spawn of `""` fails with `NotFound`).
//!
//! # Strict mode
//!
//! By default, where no stub can protect a spawn, the spawn is made directly,
//! exactly as `cmd.spawn()` would, with one warning per reason and process
//! (a `tracing` event when a subscriber records it, else a line on stderr;
//! [`Warnings`](crate::Warnings) chooses). A runner that would rather fail
//! than run unprotected sets [`strict`](crate::DoubleSpawn::strict):
//!
//! ```
//! use double_spawn::DoubleSpawn;
//!
//! DoubleSpawn::from_env("MY_RUNNER_DOUBLE_SPAWN")
//!     .strict(true)
//!     .exec_failure_code(70)
//!     .set_default()
//!     .expect("the default is set once, here");
//! ```
//!
//! Then such a spawn fails with an [`io::ErrorKind::Unsupported`] error whose
//! message starts with `double-spawn (strict): cannot protect this spawn:`
//! and names the reason ([`DirectReason`](crate::DirectReason)). What stays
//! direct without an error: an opt-out through the variable (a disabled
//! configuration is never strict), a non-Unix target, and a thread that
//! already blocks SIGTSTP, SIGTTIN and SIGTTOU. To fail at start-up rather
//! than at the first spawn, check [`is_active`](crate::DoubleSpawn::is_active) or match the
//! [`route`](crate::DoubleSpawn::route) after `set_default`.
//!
//! [`io::ErrorKind::Unsupported`]: std::io::ErrorKind::Unsupported
//!
//! # Migrating from a hand-rolled double spawn
//!
//! | Hand-rolled piece | With this crate |
//! |---|---|
//! | A private subcommand in the runner's CLI that unblocks SIGTSTP and `exec`s the program, its arguments often joined into one quoted string | Delete it. The stub is built in: the ELF constructor on glibc, [`init()`](crate::init) elsewhere. Arguments travel one `argv` entry each, unquoted, and the stub also restores SIGPIPE, closed standard descriptors and the C library's internal signals as a direct spawn leaves them. |
//! | A context guard that blocks SIGTSTP before the spawn and unblocks it after | Inside `double_spawn().spawn()`. [`SigtstpGuard`](crate::SigtstpGuard) if other code makes the spawn; it restores the previous mask instead of always unblocking. |
//! | The `current_exe` lookup (`/proc/self/exe`, else `std::env::current_exe()`) | Done once per process: [`Route::CurrentExe`](crate::Route::CurrentExe)'s `path`. |
//! | The opt-out variable, checked where the runner builds its configuration | [`DoubleSpawn::from_env`]`("MY_RUNNER_DOUBLE_SPAWN")` given to [`set_default`](crate::DoubleSpawn::set_default) (a binary) or kept by the library ([In a library](#in-a-library)). |
//! | The stub's exit code for a failed `exec` | [`try_exec_failure_code`](crate::DoubleSpawn::try_exec_failure_code); the same `i32` in the runner's mapping. |
//! | An info type passed to every spawn site, holding the stub's path, and building either the stub's command or the plain one | The process default (a library: its own configuration and `double_spawn_with`); [`DoubleSpawn::std_command`] where a command must be in stub form; otherwise plain commands. |
//! | That info type's getter in debug output | [`DoubleSpawn::route`], its `Display`, [`is_active`](crate::DoubleSpawn::is_active). |
//!
//! # Before and after
//!
//! Before, in outline (the pattern, not any one runner's code):
//!
//! ```text
//! // main: the CLI has a hidden subcommand
//! //   my-runner __stub PROGRAM 'QUOTED ARGS'
//! // whose handler unblocks SIGTSTP, splits ARGS, execs PROGRAM,
//! // and on failure prints the error and exits with 70.
//!
//! struct StubInfo { exe: Option<PathBuf> }   // shown by --debug
//! fn stub_info() -> StubInfo {
//!     if env MY_RUNNER_DOUBLE_SPAWN == "0" { return StubInfo { exe: None } }
//!     StubInfo { exe: "/proc/self/exe" if it exists, else current_exe() }
//! }
//!
//! fn test_command(info: &StubInfo, program, args) -> Command {
//!     match info.exe {
//!         Some(exe) => Command::new(exe).arg("__stub").arg(program).arg(quote(args)),
//!         None => Command::new(program).args(args),
//!     }
//! }
//!
//! // at each spawn site, with the StubInfo passed down to it:
//! let blocked = info.exe.is_some().then(block_sigtstp_on_this_thread);
//! let child = cmd.spawn();
//! drop(blocked);                              // unblocks SIGTSTP
//! match exit code { 70 => could not execute, 0 => passed, _ => failed }
//! ```
//!
//! After:
//!
//! ```no_run
//! use std::process::Stdio;
//! use std::os::unix::process::CommandExt as _;
//! use double_spawn::{DoubleSpawn, DoubleSpawnExt};
//!
//! const EXEC_FAILED: i32 = 70;
//!
//! fn main() -> std::io::Result<()> {
//!     double_spawn::init(); // needed only where the C library is not glibc
//!     DoubleSpawn::from_env("MY_RUNNER_DOUBLE_SPAWN")
//!         .try_exec_failure_code(EXEC_FAILED)
//!         .expect("70 is an exit code")
//!         .set_default()
//!         .expect("the default is set once, here");
//!     if std::env::var_os("MY_RUNNER_DEBUG").is_some() {
//!         // e.g. "direct: double spawning is disabled by MY_RUNNER_DOUBLE_SPAWN=0"
//!         eprintln!("double spawn: {}", DoubleSpawn::process_default().route());
//!     }
//!
//!     let program = "target/debug/deps/my_tests-0123";
//!     let mut cmd = std::process::Command::new(program);
//!     cmd.args(["--exact", "tests::it_works"])
//!         .stdout(Stdio::piped())
//!         .stderr(Stdio::piped())
//!         .process_group(0);
//!     let output = cmd.double_spawn().output()?; // was: cmd.output()?
//!     match output.status.code() {
//!         Some(0) => println!("ok"),
//!         Some(EXEC_FAILED) => {
//!             eprintln!("could not execute {program}");
//!         }
//!         _ => println!("FAILED: {}", output.status),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! [`DoubleSpawn::from_env`]: crate::DoubleSpawn::from_env
//! [`DoubleSpawn::process_default`]: crate::DoubleSpawn::process_default
//! [`DoubleSpawn::get_default`]: crate::DoubleSpawn::get_default
//! [`DoubleSpawn::route`]: crate::DoubleSpawn::route
//! [`DoubleSpawn::std_command`]: crate::DoubleSpawn::std_command
