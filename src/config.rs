//! The configuration: whether spawns go through a stub, which one, and what
//! happens when they cannot.

use std::ffi::OsStr;
use std::sync::{Mutex, OnceLock};

use crate::imp;
use crate::protocol::EXEC_FAILED_DEFAULT;
use crate::route::{DirectReason, Route};

/// How spawns are made: through which stub, how strictly, and with which
/// exit code for a failed `exec`.
///
/// A configuration is a plain `Copy` value. Where one comes from:
///
/// - [`DoubleSpawn::process_default`] (also [`DoubleSpawn::new`], the
///   [`Default`], and what [`double_spawn()`](crate::DoubleSpawnExt::double_spawn)
///   uses) is the process-wide default: the configuration the binary gave to
///   [`set_default`](DoubleSpawn::set_default) if it did, else
///   [`from_env`](DoubleSpawn::from_env)`(`[`DoubleSpawn::ENV_VAR`]`)`.
/// - [`from_env`](DoubleSpawn::from_env), [`enabled`](DoubleSpawn::enabled)
///   and [`disabled`](DoubleSpawn::disabled) make a value of your own, which
///   you pass to [`double_spawn_with`](crate::DoubleSpawnExt::double_spawn_with)
///   or make the default.
///
/// A runner binary with its own opt-out variable and exit code sets them
/// once, and every spawn site keeps the one-liner `cmd.double_spawn().spawn()`:
///
/// ```
/// use double_spawn::DoubleSpawn;
///
/// DoubleSpawn::from_env("MY_RUNNER_DOUBLE_SPAWN")
///     .exec_failure_code(70)
///     .set_default()
///     .expect("set once, first thing in main");
/// assert_eq!(DoubleSpawn::process_default().get_exec_failure_code(), 70);
/// ```
///
/// A library cannot set the default (only its binary knows whether another
/// library or the binary itself wants one): it keeps its own configuration
/// and passes it to every spawn; see [the runners guide](crate::runners#in-a-library).
///
/// Even when enabled, a spawn is direct where no stub can work; see
/// [`route`](DoubleSpawn::route) and [`strict`](DoubleSpawn::strict).
///
/// Equality compares everything a configuration holds, including the
/// variable it was read from: `from_env("A")` and `from_env("B")` are
/// different configurations even when they spawn alike, because their
/// [`route`](DoubleSpawn::route)s say different things.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a configuration does nothing until it is used: pass it to `double_spawn_with`, or call `set_default`"]
pub struct DoubleSpawn {
    enabled: bool,
    stub: Stub,
    strict: bool,
    exec_failed: u8,
    /// The variable `from_env` read, and its value when that value turned
    /// double spawning off (for `route()`'s `Display`).
    source: Option<Source>,
}

/// Where a configuration came from: `from_env`'s variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Source {
    var: &'static str,
    /// The value, as read (trimmed), when it disabled double spawning.
    off_value: Option<&'static str>,
}

/// The error of [`DoubleSpawn::try_exec_failure_code`]: a number that is
/// not an exit code a failed `exec` can be told by.
///
/// ```
/// use double_spawn::DoubleSpawn;
///
/// let err = DoubleSpawn::enabled().try_exec_failure_code(256).unwrap_err();
/// assert_eq!(err.code(), 256);
/// assert_eq!(
///     err.to_string(),
///     "256 cannot be the exit code of a failed exec: it must be in 1..=255"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidExitCode {
    code: i32,
}

impl InvalidExitCode {
    /// The number that was refused.
    pub const fn code(&self) -> i32 {
        self.code
    }
}

impl std::fmt::Display for InvalidExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cannot be the exit code of a failed exec: it must be in 1..=255",
            self.code
        )
    }
}

impl std::error::Error for InvalidExitCode {}

/// Which stub a double spawn starts.
///
/// ```
/// use double_spawn::{DoubleSpawn, Stub};
///
/// let fast = DoubleSpawn::enabled().stub(Stub::Embedded);
/// assert_eq!(fast.get_stub(), Stub::Embedded);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stub {
    /// The current executable, started again with the stub's private
    /// arguments (the default). Costs one start of your binary per spawn.
    #[default]
    CurrentExe,
    /// A tiny static stub built into the crate, loaded once per process
    /// into a sealed memory file and started from there. Much cheaper,
    /// independent of your binary's size, and it also protects hosts that
    /// cannot be their own stub (a shared library, a setuid binary), but
    /// security tools flag executing from memory: opt-in. Falls back to
    /// [`Stub::CurrentExe`] (with one warning) where it is refused. See the
    /// crate docs, "Choosing a stub".
    Embedded,
}

impl DoubleSpawn {
    /// The environment variable the process default is read from when the
    /// binary set none: `0`, `false`, `no` or `off` (any case) turn double
    /// spawning off, `embedded` chooses [`Stub::Embedded`].
    pub const ENV_VAR: &'static str = "DOUBLE_SPAWN";

    /// The process-wide default, which
    /// [`double_spawn()`](crate::DoubleSpawnExt::double_spawn) uses: the
    /// configuration given to [`set_default`](DoubleSpawn::set_default) if
    /// there was one, else [`from_env`](DoubleSpawn::from_env)`(`[`ENV_VAR`](DoubleSpawn::ENV_VAR)`)`,
    /// read once per process.
    ///
    /// ```
    /// use double_spawn::DoubleSpawn;
    ///
    /// // What `cmd.double_spawn()` will do, for debug output:
    /// eprintln!("double spawn: {}", DoubleSpawn::process_default().route());
    /// ```
    pub fn process_default() -> DoubleSpawn {
        if let Some(config) = DEFAULT.get() {
            return *config;
        }
        static FROM_ENV: OnceLock<DoubleSpawn> = OnceLock::new();
        *FROM_ENV.get_or_init(|| DoubleSpawn::from_env(Self::ENV_VAR))
    }

    /// The same as [`process_default`](DoubleSpawn::process_default): the
    /// process-wide default, *not* a fresh configuration (for one, start
    /// from [`enabled`](DoubleSpawn::enabled) or
    /// [`from_env`](DoubleSpawn::from_env)). Kept under this name, which
    /// existing code uses, without a deprecation; new code reads better
    /// with `process_default()`.
    ///
    /// ```
    /// use double_spawn::DoubleSpawn;
    /// assert_eq!(DoubleSpawn::new(), DoubleSpawn::process_default());
    /// ```
    pub fn new() -> DoubleSpawn {
        DoubleSpawn::process_default()
    }

    /// The configuration the binary gave to
    /// [`set_default`](DoubleSpawn::set_default), if it did. For a library
    /// that keeps its own configuration but lets a binary that made a choice
    /// override it (see [the runners guide](crate::runners#in-a-library)).
    ///
    /// ```
    /// use double_spawn::DoubleSpawn;
    ///
    /// let mine = DoubleSpawn::get_default()
    ///     .unwrap_or_else(|| DoubleSpawn::from_env("MY_LIBRARY_DOUBLE_SPAWN"));
    /// # let _ = mine;
    /// ```
    pub fn get_default() -> Option<DoubleSpawn> {
        DEFAULT.get().copied()
    }

    /// Enabled unless the environment variable `var` says otherwise, read
    /// now (any case, surrounding blanks ignored): `0`, `false`, `no`,
    /// `off` disable; `embedded` enables with [`Stub::Embedded`];
    /// `current-exe`, `1`, `true`, `yes`, `on`, an empty value or no
    /// variable enable with the default stub. Any other value (a typo such
    /// as `embeded`) also enables with the default stub, and one warning
    /// per process names the variable and the value.
    ///
    /// The configuration remembers `var`
    /// ([`get_env_var`](DoubleSpawn::get_env_var)), so that a
    /// [`route`](DoubleSpawn::route) it disabled names it:
    ///
    /// ```
    /// use double_spawn::{DirectReason, DoubleSpawn, Route};
    ///
    /// // Unset: enabled.
    /// assert!(DoubleSpawn::from_env("DOUBLE_SPAWN_DOCTEST_UNSET").is_enabled());
    ///
    /// std::env::set_var("DOUBLE_SPAWN_DOCTEST_OFF", "0");
    /// let config = DoubleSpawn::from_env("DOUBLE_SPAWN_DOCTEST_OFF");
    /// assert_eq!(config.get_env_var(), Some("DOUBLE_SPAWN_DOCTEST_OFF"));
    /// assert_eq!(
    ///     config.route().to_string(),
    ///     "direct: double spawning is disabled by DOUBLE_SPAWN_DOCTEST_OFF=0"
    /// );
    /// assert!(matches!(
    ///     config.route(),
    ///     Route::Direct(DirectReason::DisabledByEnv { var: "DOUBLE_SPAWN_DOCTEST_OFF", .. })
    /// ));
    /// ```
    pub fn from_env(var: &str) -> DoubleSpawn {
        let config = match std::env::var_os(var) {
            Some(value) => match DoubleSpawn::from_value(&value) {
                Some(config) if !config.enabled => DoubleSpawn {
                    source: Some(Source {
                        var: intern(var),
                        off_value: Some(intern(value.to_string_lossy().trim())),
                    }),
                    ..config
                },
                Some(config) => config,
                None => {
                    crate::fallback::unknown_setting(var, &value);
                    DoubleSpawn::enabled()
                }
            },
            None => DoubleSpawn::enabled(),
        };
        DoubleSpawn {
            source: Some(config.source.unwrap_or(Source {
                var: intern(var),
                off_value: None,
            })),
            ..config
        }
    }

    /// The environment variable this configuration was read from by
    /// [`from_env`](DoubleSpawn::from_env) (`None` for one built in code).
    ///
    /// ```
    /// use double_spawn::DoubleSpawn;
    /// assert_eq!(DoubleSpawn::enabled().get_env_var(), None);
    /// assert_eq!(DoubleSpawn::from_env("MY_RUNNER_DOUBLE_SPAWN").get_env_var(), Some("MY_RUNNER_DOUBLE_SPAWN"));
    /// ```
    pub const fn get_env_var(&self) -> Option<&'static str> {
        match self.source {
            Some(source) => Some(source.var),
            None => None,
        }
    }

    /// Why a spawn with this configuration is direct when it is disabled:
    /// the variable that said so, or the code.
    pub(crate) fn disabled_reason(&self) -> DirectReason {
        match self.source {
            Some(Source {
                var,
                off_value: Some(value),
            }) if !self.enabled => DirectReason::DisabledByEnv { var, value },
            _ => DirectReason::Disabled,
        }
    }

    /// The configuration a variable's value asks for; `None` for a value
    /// that means nothing.
    fn from_value(value: &OsStr) -> Option<DoubleSpawn> {
        let v = value.to_string_lossy();
        let v = v.trim();
        let is = |words: &[&str]| words.iter().any(|w| v.eq_ignore_ascii_case(w));
        if is(&["0", "false", "no", "off"]) {
            Some(DoubleSpawn::disabled())
        } else if is(&["embedded"]) {
            Some(DoubleSpawn::enabled().stub(Stub::Embedded))
        } else if is(&["", "1", "true", "yes", "on", "current-exe"]) {
            Some(DoubleSpawn::enabled())
        } else {
            None
        }
    }

    /// Always enabled with the default stub, whatever the environment says.
    pub const fn enabled() -> DoubleSpawn {
        DoubleSpawn {
            enabled: true,
            stub: Stub::CurrentExe,
            strict: false,
            exec_failed: EXEC_FAILED_DEFAULT,
            source: None,
        }
    }

    /// Always disabled: every spawn is a plain direct spawn, and nothing is
    /// reported.
    ///
    /// ```
    /// use double_spawn::{DirectReason, DoubleSpawn, Route};
    /// assert_eq!(DoubleSpawn::disabled().route(), Route::Direct(DirectReason::Disabled));
    /// ```
    pub const fn disabled() -> DoubleSpawn {
        DoubleSpawn {
            enabled: false,
            ..DoubleSpawn::enabled()
        }
    }

    /// Makes this configuration the process-wide default, which
    /// [`DoubleSpawn::process_default`] and
    /// [`double_spawn()`](crate::DoubleSpawnExt::double_spawn) use from now
    /// on. Call it once, early in `main`, before any spawn.
    ///
    /// This is the binary's call, not a library's: the first call wins, so a
    /// library that made it would take the choice from the binary (and from
    /// any other library). A library keeps its own configuration and passes
    /// it with [`double_spawn_with`](crate::DoubleSpawnExt::double_spawn_with)
    /// (see [the runners guide](crate::runners#in-a-library)).
    ///
    /// # Errors
    /// A default was already set: returns that one and changes nothing.
    pub fn set_default(self) -> Result<(), DoubleSpawn> {
        let mut result = Err(self);
        DEFAULT.get_or_init(|| {
            result = Ok(());
            self
        });
        result.map_err(|_| *DEFAULT.get().unwrap_or(&self))
    }

    /// Chooses the stub (default [`Stub::CurrentExe`]).
    pub const fn stub(mut self, stub: Stub) -> DoubleSpawn {
        self.stub = stub;
        self
    }

    /// Strict mode: where no stub can protect a spawn, `spawn()` fails with
    /// an `io::ErrorKind::Unsupported` error naming the reason, instead of
    /// spawning directly with a warning. Off by default; a disabled
    /// configuration is never strict.
    ///
    /// ```
    /// use double_spawn::DoubleSpawn;
    /// assert!(DoubleSpawn::enabled().strict(true).is_strict());
    /// ```
    pub const fn strict(mut self, strict: bool) -> DoubleSpawn {
        self.strict = strict;
        self
    }

    /// The exit code of a stub whose `exec` of the target fails (default
    /// [`exit_code::EXEC_FAILED`](crate::exit_code::EXEC_FAILED), 127, as a
    /// shell). A runner picks a code its targets do not use, so that
    /// "could not run the program" and "the program exited with 127" can be
    /// told apart; `0` is not a failure code and means the default. See
    /// [`exit_code`](crate::exit_code).
    ///
    /// A `u8` holds exactly the codes a process can exit with. A runner
    /// whose codes are `i32` (as `ExitStatus::code()` and
    /// [`exit_code`](crate::exit_code)'s constants are) uses
    /// [`try_exec_failure_code`](DoubleSpawn::try_exec_failure_code), which
    /// refuses what does not fit instead of truncating it.
    ///
    /// ```
    /// use double_spawn::DoubleSpawn;
    /// assert_eq!(DoubleSpawn::enabled().exec_failure_code(70).get_exec_failure_code(), 70);
    /// assert_eq!(DoubleSpawn::enabled().exec_failure_code(0).get_exec_failure_code(), 127);
    /// ```
    pub const fn exec_failure_code(mut self, code: u8) -> DoubleSpawn {
        self.exec_failed = if code == 0 { EXEC_FAILED_DEFAULT } else { code };
        self
    }

    /// [`exec_failure_code`](DoubleSpawn::exec_failure_code) for an `i32`,
    /// the type of `ExitStatus::code()`, so that a runner keeps one constant
    /// for the setting and for matching the status.
    ///
    /// # Errors
    /// [`InvalidExitCode`] for a code outside `1..=255`: a process cannot
    /// exit with a negative code or one above 255 (the status would show it
    /// truncated), and `0` is success. Nothing is changed then.
    ///
    /// ```
    /// use double_spawn::DoubleSpawn;
    ///
    /// const EXEC_FAILED: i32 = 70;
    /// let config = DoubleSpawn::enabled().try_exec_failure_code(EXEC_FAILED)?;
    /// assert_eq!(i32::from(config.get_exec_failure_code()), EXEC_FAILED);
    /// // ... later: `Some(EXEC_FAILED) == status.code()` means "could not execute".
    ///
    /// assert!(DoubleSpawn::enabled().try_exec_failure_code(0).is_err());
    /// assert!(DoubleSpawn::enabled().try_exec_failure_code(-1).is_err());
    /// assert!(DoubleSpawn::enabled().try_exec_failure_code(256).is_err());
    /// # Ok::<(), double_spawn::InvalidExitCode>(())
    /// ```
    pub const fn try_exec_failure_code(self, code: i32) -> Result<DoubleSpawn, InvalidExitCode> {
        if code >= 1 && code <= 255 {
            // In range, so the cast keeps the value.
            Ok(self.exec_failure_code(code as u8))
        } else {
            Err(InvalidExitCode { code })
        }
    }

    /// Whether this configuration asks for double spawning.
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether this configuration is strict (see [`strict`](Self::strict)).
    pub const fn is_strict(&self) -> bool {
        self.strict && self.enabled
    }

    /// The stub asked for.
    pub const fn get_stub(&self) -> Stub {
        self.stub
    }

    /// The exit code of a stub whose `exec` fails (`i32::from` it to compare
    /// with `ExitStatus::code()`).
    pub const fn get_exec_failure_code(&self) -> u8 {
        self.exec_failed
    }

    /// The route spawns with this configuration take in this process: which
    /// stub and its path, or a direct spawn and why. For debug output and
    /// bug reports; `Display` gives one line. Asking loads the embedded stub
    /// if it is chosen (once per process).
    ///
    /// A single command can still be spawned directly when the route is a
    /// stub: when its thread already blocks SIGTSTP (safe as it is), or when
    /// it has a setting the stub cannot carry (reported).
    ///
    /// A configuration that [`from_env`](DoubleSpawn::from_env) disabled
    /// names the variable:
    /// `direct: double spawning is disabled by MY_RUNNER_DOUBLE_SPAWN=0`.
    ///
    /// ```
    /// let route = double_spawn::DoubleSpawn::disabled().route();
    /// assert_eq!(route.to_string(), "direct: double spawning is disabled");
    /// ```
    pub fn route(&self) -> Route {
        imp::route(self)
    }

    /// Whether spawns with this configuration go through a stub in this
    /// process (`route()` is not direct).
    ///
    /// ```
    /// assert!(!double_spawn::DoubleSpawn::disabled().is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        !matches!(self.route(), Route::Direct(_))
    }

    /// A `std::process::Command` for `program`, already in *stub form*: its
    /// program is the stub and the target travels in its arguments.
    ///
    /// For runners that build commands in one place and spawn them in
    /// another, and for commands with `pre_exec` closures (which std hides
    /// from [`double_spawn()`](crate::DoubleSpawnExt::double_spawn), so that
    /// it cannot carry them): configure the returned command as usual (`arg`,
    /// `env`, `current_dir`, stdio, `process_group`, `pre_exec`...), convert
    /// it to a `tokio::process::Command` if you like, and spawn it with
    /// `double_spawn()`, which recognises the form and spawns it as it is,
    /// under the guard. Nothing is read back from the command, so every
    /// setting, `pre_exec` closures included, takes effect: they act on the
    /// stub, which keeps them across its `exec` exactly as the target would
    /// have had them.
    ///
    /// Differences from a command built with `Command::new(program)`:
    /// - `get_program()` and `get_args()` show the stub's form;
    /// - `arg0()` would set the stub's `argv[0]`, which carries its flags:
    ///   the target's `argv[0]` is `program`;
    /// - `program` is checked in the parent when the command is spawned (in
    ///   the child's `PATH`, working directory and ids, as a direct spawn
    ///   would look it up), so a missing program fails `spawn()` with a
    ///   direct spawn's error; what only the `exec` can find (a script whose
    ///   interpreter is missing, changes a `pre_exec` closure makes to the
    ///   directory, ids or environment) is reported by the child exiting
    ///   with the [exit code for a failed exec](DoubleSpawn::exec_failure_code)
    ///   and a line on its stderr;
    /// - the flags are decided when it is spawned, from the configuration of
    ///   that spawn (`double_spawn()` uses the process default): give a
    ///   runner's settings to [`set_default`](DoubleSpawn::set_default), or
    ///   spawn with `double_spawn_with(config)` and the same `config`.
    ///
    /// When no stub is available this is exactly `Command::new(program)`
    /// (reported as for any spawn).
    ///
    /// ```no_run
    /// use double_spawn::{DoubleSpawn, DoubleSpawnExt};
    ///
    /// let mut cmd = DoubleSpawn::process_default().std_command("echo");
    /// cmd.arg("hello").env("GREETING", "1");
    /// let status = cmd.double_spawn().status()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn std_command(&self, program: impl AsRef<OsStr>) -> std::process::Command {
        imp::stub_form(program.as_ref(), self)
    }

    /// The plain command a stub-form command stands for: the way back from
    /// [`std_command`](DoubleSpawn::std_command), for a spawner other than
    /// `double_spawn()` (a privileged helper, a test double) that must see
    /// the real program. Its program, `argv[0]` and arguments are the
    /// target's; environment, working directory, uid/gid, process group and
    /// stdio are carried over (stdio left unset stays unset, so `output()`
    /// keeps its defaults). `pre_exec` closures cannot be moved and stay
    /// with the stub-form command. A command that is not in stub form is
    /// copied. For a tokio command: `plain_command(cmd.as_std())`, then
    /// `tokio::process::Command::from` (set `kill_on_drop` again).
    ///
    /// On systems other than Unix there is no stub form, and std shows only
    /// the program, arguments, environment and working directory of a
    /// command, which is what the copy has.
    ///
    /// To spawn a stub-form command with a spawner of your own and keep it
    /// protected, use
    /// [`DoubleSpawnCommand::spawn_with`](crate::DoubleSpawnCommand::spawn_with)
    /// instead.
    ///
    /// # Errors
    /// `InvalidInput` for a stub-form command without its target, or with a
    /// setting the crate cannot read back.
    ///
    /// ```
    /// use double_spawn::DoubleSpawn;
    ///
    /// let mut cmd = DoubleSpawn::process_default().std_command("echo");
    /// cmd.arg("hello").env("GREETING", "1").current_dir("/");
    /// let plain = DoubleSpawn::plain_command(&cmd)?;
    /// assert_eq!(plain.get_program(), "echo");
    /// assert_eq!(plain.get_args().collect::<Vec<_>>(), ["hello"]);
    /// assert_eq!(plain.get_current_dir(), Some(std::path::Path::new("/")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn plain_command(
        stub_form: &std::process::Command,
    ) -> std::io::Result<std::process::Command> {
        imp::plain_command(stub_form)
    }

    /// A `tokio::process::Command` for `program`, already in stub form; see
    /// [`std_command`](DoubleSpawn::std_command).
    ///
    /// ```no_run
    /// use double_spawn::{DoubleSpawn, DoubleSpawnExt};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let mut cmd = DoubleSpawn::process_default().tokio_command("echo");
    /// cmd.arg("hello").kill_on_drop(true);
    /// let output = cmd.double_spawn().output().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn tokio_command(&self, program: impl AsRef<OsStr>) -> tokio::process::Command {
        tokio::process::Command::from(self.std_command(program))
    }
}

/// Set by `DoubleSpawn::set_default`.
static DEFAULT: OnceLock<DoubleSpawn> = OnceLock::new();

/// `name` with a `'static` lifetime, so that a `Copy` configuration (and the
/// `Copy` [`DirectReason`] it reports) can hold a variable's name and value.
/// Each distinct string is leaked once per process: programs read a handful
/// of variables, whose disabling values are a few short words.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.iter().find(|known| **known == name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(leaked);
    leaked
}

/// The process default ([`DoubleSpawn::process_default`]), as `new()` is.
impl Default for DoubleSpawn {
    fn default() -> DoubleSpawn {
        DoubleSpawn::process_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_the_variable() {
        let of = |v: &str| DoubleSpawn::from_value(OsStr::new(v));
        for v in ["0", "false", "NO", " off "] {
            assert!(!of(v).unwrap().is_enabled(), "{v}");
        }
        for v in ["1", "", "yes", "on", "TRUE", "current-exe"] {
            assert_eq!(of(v), Some(DoubleSpawn::enabled()), "{v}");
        }
        for v in ["embedded", " EMBEDDED"] {
            assert_eq!(of(v).unwrap().get_stub(), Stub::Embedded, "{v}");
        }
        for v in ["embeded", "00", "exe", "2"] {
            assert_eq!(of(v), None, "{v} means nothing and is reported");
        }
    }

    #[test]
    fn exit_codes_that_do_not_fit_are_refused() {
        let c = DoubleSpawn::enabled();
        for code in [1, 70, 255] {
            assert_eq!(
                c.try_exec_failure_code(code)
                    .map(|c| c.get_exec_failure_code()),
                Ok(code as u8)
            );
        }
        for code in [0, -1, 256, i32::MIN, i32::MAX] {
            assert_eq!(
                c.try_exec_failure_code(code),
                Err(InvalidExitCode { code }),
                "{code}"
            );
        }
    }

    #[test]
    fn a_disabling_variable_is_named() {
        let off = DoubleSpawn {
            source: Some(Source {
                var: intern("MY_VAR"),
                off_value: Some(intern("off")),
            }),
            ..DoubleSpawn::disabled()
        };
        assert_eq!(
            off.disabled_reason(),
            DirectReason::DisabledByEnv {
                var: "MY_VAR",
                value: "off"
            }
        );
        assert_eq!(
            off.disabled_reason().to_string(),
            "double spawning is disabled by MY_VAR=off"
        );
        assert_eq!(
            DoubleSpawn::disabled().disabled_reason(),
            DirectReason::Disabled
        );
        // Builders keep where it came from.
        assert_eq!(off.strict(true).disabled_reason(), off.disabled_reason());
        assert!(std::ptr::eq(intern("MY_VAR"), intern("MY_VAR")));
    }

    #[test]
    fn builders_compose() {
        let c = DoubleSpawn::disabled().strict(true).exec_failure_code(70);
        assert!(!c.is_enabled());
        assert!(!c.is_strict(), "a disabled configuration is never strict");
        assert_eq!(c.get_exec_failure_code(), 70);
    }
}
