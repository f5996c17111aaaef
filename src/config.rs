//! The configuration: whether spawns go through a stub, which one, and what
//! happens when they cannot.

use std::ffi::OsStr;
use std::sync::OnceLock;

use crate::imp;
use crate::protocol::EXEC_FAILED_DEFAULT;
use crate::route::Route;

/// How spawns are made: through which stub, how strictly, and with which
/// exit code for a failed `exec`.
///
/// [`DoubleSpawn::new`] (also the [`Default`], and what
/// [`double_spawn()`](crate::DoubleSpawnExt::double_spawn) uses) is the
/// process-wide default: the configuration given to
/// [`set_default`](DoubleSpawn::set_default) if there was one, else
/// [`from_env`](DoubleSpawn::from_env)`(`[`DoubleSpawn::ENV_VAR`]`)`.
///
/// A runner with its own opt-out variable and exit code sets them once, and
/// every spawn site keeps the one-liner `cmd.double_spawn().spawn()`:
///
/// ```
/// use double_spawn::DoubleSpawn;
///
/// DoubleSpawn::from_env("MY_RUNNER_DOUBLE_SPAWN")
///     .exec_failure_code(70)
///     .set_default()
///     .expect("set once, first thing in main");
/// assert_eq!(DoubleSpawn::new().get_exec_failure_code(), 70);
/// ```
///
/// Even when enabled, a spawn is direct where no stub can work; see
/// [`route`](DoubleSpawn::route) and [`strict`](DoubleSpawn::strict).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a configuration does nothing until it is used: pass it to `double_spawn_with`, or call `set_default`"]
pub struct DoubleSpawn {
    enabled: bool,
    stub: Stub,
    strict: bool,
    exec_failed: u8,
}

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
    /// The environment variable [`DoubleSpawn::new`] reads when no default
    /// was set: `0`, `false`, `no` or `off` (any case) turn double spawning
    /// off, `embedded` chooses [`Stub::Embedded`].
    pub const ENV_VAR: &'static str = "DOUBLE_SPAWN";

    /// The process-wide default (see the type's docs).
    ///
    /// ```
    /// let config = double_spawn::DoubleSpawn::new();
    /// # let _ = config;
    /// ```
    pub fn new() -> DoubleSpawn {
        if let Some(config) = DEFAULT.get() {
            return *config;
        }
        static FROM_ENV: OnceLock<DoubleSpawn> = OnceLock::new();
        *FROM_ENV.get_or_init(|| DoubleSpawn::from_env(Self::ENV_VAR))
    }

    /// Enabled unless the environment variable `var` says otherwise, read
    /// now (any case, surrounding blanks ignored): `0`, `false`, `no`,
    /// `off` disable; `embedded` enables with [`Stub::Embedded`];
    /// `current-exe`, `1`, `true`, `yes`, `on`, an empty value or no
    /// variable enable with the default stub. Any other value (a typo such
    /// as `embeded`) also enables with the default stub, and one warning
    /// per process names the variable and the value.
    ///
    /// ```
    /// use double_spawn::DoubleSpawn;
    ///
    /// // Unset: enabled.
    /// assert!(DoubleSpawn::from_env("DOUBLE_SPAWN_DOCTEST_UNSET").is_enabled());
    /// ```
    pub fn from_env(var: &str) -> DoubleSpawn {
        match std::env::var_os(var) {
            Some(value) => DoubleSpawn::from_value(&value).unwrap_or_else(|| {
                crate::fallback::unknown_setting(var, &value);
                DoubleSpawn::enabled()
            }),
            None => DoubleSpawn::enabled(),
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
        }
    }

    /// Always disabled: every spawn is a plain direct spawn, and nothing is
    /// reported.
    pub const fn disabled() -> DoubleSpawn {
        DoubleSpawn {
            enabled: false,
            ..DoubleSpawn::enabled()
        }
    }

    /// Makes this configuration the process-wide default, which
    /// [`DoubleSpawn::new`] and
    /// [`double_spawn()`](crate::DoubleSpawnExt::double_spawn) use from now
    /// on. Call it once, early in `main`, before any spawn.
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
    /// ```
    /// use double_spawn::DoubleSpawn;
    /// assert_eq!(DoubleSpawn::enabled().exec_failure_code(70).get_exec_failure_code(), 70);
    /// assert_eq!(DoubleSpawn::enabled().exec_failure_code(0).get_exec_failure_code(), 127);
    /// ```
    pub const fn exec_failure_code(mut self, code: u8) -> DoubleSpawn {
        self.exec_failed = if code == 0 { EXEC_FAILED_DEFAULT } else { code };
        self
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

    /// The exit code of a stub whose `exec` fails.
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
    /// - the stub looks `program` up in the child's `PATH` itself, so a
    ///   missing program is reported by the child exiting with the
    ///   [exit code for a failed exec](DoubleSpawn::exec_failure_code) and a
    ///   line on its stderr, not by an error from `spawn()`;
    /// - the flags are decided when it is spawned, from the configuration of
    ///   that spawn (`double_spawn()` uses the process default): give a
    ///   runner's settings to [`set_default`](DoubleSpawn::set_default).
    ///
    /// When no stub is available this is exactly `Command::new(program)`
    /// (reported as for any spawn).
    ///
    /// ```no_run
    /// use double_spawn::{DoubleSpawn, DoubleSpawnExt};
    ///
    /// let mut cmd = DoubleSpawn::new().std_command("echo");
    /// cmd.arg("hello").env("GREETING", "1");
    /// let status = cmd.double_spawn().status()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn std_command(&self, program: impl AsRef<OsStr>) -> std::process::Command {
        imp::stub_form(program.as_ref(), self)
    }

    /// A `tokio::process::Command` for `program`, already in stub form; see
    /// [`std_command`](DoubleSpawn::std_command).
    ///
    /// ```no_run
    /// use double_spawn::{DoubleSpawn, DoubleSpawnExt};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let mut cmd = DoubleSpawn::new().tokio_command("echo");
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

impl Default for DoubleSpawn {
    fn default() -> DoubleSpawn {
        DoubleSpawn::new()
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
    fn builders_compose() {
        let c = DoubleSpawn::disabled().strict(true).exec_failure_code(70);
        assert!(!c.is_enabled());
        assert!(!c.is_strict(), "a disabled configuration is never strict");
        assert_eq!(c.get_exec_failure_code(), 70);
    }
}
