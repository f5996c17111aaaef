//! The configuration: whether spawns go through the stub.

use std::ffi::OsStr;
use std::sync::OnceLock;

use crate::imp;

/// Whether double spawning is on, and the builder for stub-form commands.
///
/// [`DoubleSpawn::new`] (also the [`Default`], and what
/// [`double_spawn()`](crate::DoubleSpawnExt::double_spawn) uses) is enabled
/// unless the environment variable `DOUBLE_SPAWN` is `0`, `false`, `no` or
/// `off` (any case): a runtime opt-out for users who hit a problem with the
/// stub. The variable is read once per process, at first use. Even when
/// enabled, spawns are direct where the stub cannot work (see
/// [`is_active`](DoubleSpawn::is_active)).
///
/// ```
/// use double_spawn::DoubleSpawn;
///
/// assert!(DoubleSpawn::enabled().is_enabled());
/// assert!(!DoubleSpawn::disabled().is_active());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DoubleSpawn {
    enabled: bool,
}

impl DoubleSpawn {
    /// The environment variable that turns double spawning off.
    pub const ENV_VAR: &'static str = "DOUBLE_SPAWN";

    /// Enabled unless `DOUBLE_SPAWN` says otherwise.
    pub fn new() -> DoubleSpawn {
        static FROM_ENV: OnceLock<bool> = OnceLock::new();
        let enabled = *FROM_ENV.get_or_init(|| {
            let value = std::env::var_os(Self::ENV_VAR);
            !value.is_some_and(|v| is_off(&v))
        });
        DoubleSpawn { enabled }
    }

    /// Always enabled, whatever the environment says.
    pub const fn enabled() -> DoubleSpawn {
        DoubleSpawn { enabled: true }
    }

    /// Always disabled: every spawn is a plain direct spawn.
    pub const fn disabled() -> DoubleSpawn {
        DoubleSpawn { enabled: false }
    }

    /// Whether this configuration asks for double spawning.
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether spawns with this configuration really go through the stub in
    /// this process: enabled, [`init()`](crate::init) was called, the current
    /// executable can be found, it does not run with elevated privileges,
    /// and the target is Unix. When this is false every spawn is direct.
    ///
    /// ```
    /// // This doctest's main never calls `init()`:
    /// assert!(!double_spawn::DoubleSpawn::enabled().is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        imp::unavailable(self.enabled).is_none()
    }

    /// A `std::process::Command` for `program`, already in stub form.
    ///
    /// For runners that build commands in one place and spawn them in
    /// another: configure the returned command as usual (`arg`, `env`,
    /// `current_dir`, stdio, `process_group`, `pre_exec`...), convert it to a
    /// `tokio::process::Command` if you like, and spawn it with
    /// [`double_spawn()`](crate::DoubleSpawnExt::double_spawn), which
    /// recognises the form and spawns it as it is, under the guard. Nothing
    /// is read back from the command, so every setting, `pre_exec` closures
    /// included, takes effect: they act on the stub, which keeps them across
    /// its `exec` exactly as the target would have had them.
    ///
    /// Differences from a command built with `Command::new(program)`:
    /// - `get_program()` and `get_args()` show the stub's form;
    /// - `arg0()` would set the stub's `argv[0]`, which carries its flags:
    ///   the target's `argv[0]` is `program`;
    /// - the stub looks `program` up in the child's `PATH` itself, so a
    ///   missing program is reported by the child exiting with
    ///   [`exit_code::EXEC_FAILED`](crate::exit_code::EXEC_FAILED) and a
    ///   line on its stderr, not by an error from `spawn()`.
    ///
    /// When double spawning is not [active](DoubleSpawn::is_active) this is
    /// exactly `Command::new(program)`.
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
        imp::stub_form(program.as_ref(), self.enabled)
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
    pub fn tokio_command(&self, program: impl AsRef<OsStr>) -> tokio::process::Command {
        tokio::process::Command::from(self.std_command(program))
    }
}

impl Default for DoubleSpawn {
    fn default() -> DoubleSpawn {
        DoubleSpawn::new()
    }
}

fn is_off(value: &OsStr) -> bool {
    let v = value.to_string_lossy();
    ["0", "false", "no", "off"]
        .iter()
        .any(|off| v.trim().eq_ignore_ascii_case(off))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_values() {
        for v in ["0", "false", "NO", " off "] {
            assert!(is_off(OsStr::new(v)), "{v}");
        }
        for v in ["1", "", "yes", "on", "00"] {
            assert!(!is_off(OsStr::new(v)), "{v}");
        }
    }

    #[test]
    fn inactive_without_init_so_commands_are_plain() {
        let ds = DoubleSpawn::enabled();
        assert!(!ds.is_active());
        let cmd = ds.std_command("prog");
        assert_eq!(cmd.get_program(), "prog");
        assert_eq!(cmd.get_args().count(), 0);
    }
}
