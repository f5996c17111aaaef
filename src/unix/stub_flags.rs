//! The stub flags the parent derives from the command itself: `s`, the C
//! library's `execvp` fallback to `/bin/sh` (`Flags::sh_fallback`); `i`, the
//! parent's dispositions of signals 32-34 (`Flags::ignored_internal`); `m`,
//! an empty signal mask for the target (`Flags::reset_mask`); and whether
//! `g`, the spawner's process group (`Flags::spawner_pgid`), is needed.
//!
//! **`s`.** A direct spawn that std makes with its own `fork`/`exec` calls
//! `execvp`, and glibc's `execvp` runs a file that fails with `ENOEXEC` (a
//! script without `#!`, an empty file) as `/bin/sh FILE ARGS...`
//! (posix/execvpe.c, `maybe_script_execute`). musl's `execvp` does not
//! (src/process/execvp.c: `__execvpe` returns the error), nor does
//! `posix_spawnp` anywhere (glibc dropped its `SPAWN_XFLAGS_TRY_SHELL` but
//! for binaries linked against glibc before 2.15). So the stub falls back
//! exactly when the direct spawn would have gone through std's `fork`/`exec`
//! on glibc. std (library/std/src/sys/process/unix/unix.rs,
//! `posix_spawn`) gives up `posix_spawn` for:
//!
//! - a uid or gid (and `groups`, `chroot`, `setsid` without the C library's
//!   support, pidfds: settings the stub cannot be given, so such a command
//!   is spawned directly anyway);
//! - a program without `/` whose environment had `PATH` changed: std's
//!   `env_saw_path()`, true once `PATH` was set or removed, or the
//!   environment cleared (`CommandEnv::have_changed_path` is
//!   `saw_path || clear`);
//! - a glibc older than 2.24 (every spawn), and a working directory on a
//!   glibc older than 2.29 (no `posix_spawn_file_actions_addchdir_np`);
//! - `pre_exec` closures, which no code can see: a plain command's are not
//!   carried by a double spawn at all (crate docs), and a stub-form
//!   command's are taken to be absent here, so a stub-form command whose
//!   only reason for std's `fork` would be a closure gets `posix_spawnp`'s
//!   behaviour (the target exits with the exec-failure code, as for any
//!   `exec` failure only the child sees), unless the command's `argv[0]`
//!   asks for `s`: the process-wrap adapter does, for the wrappers it knows
//!   to add a closure.
//!
//! **`i`.** The same decision: a child of std's `fork`/`exec` inherits the
//! parent's dispositions of the C library's internal signals, a child of
//! `posix_spawn` gets them as the C library's `posix_spawn` sets them (32 and
//! 33 ignored on glibc whatever the parent had; see `unix::signals`). The
//! stub's own command always names the stub by a path, so std spawns it
//! with `posix_spawn` unless a uid, gid or old glibc makes it fork, and then
//! the direct spawn forks too. The two differ only where the direct spawn
//! forks and the stub's does not: there, and only there, the parent reads
//! its three dispositions and the stub sets them. Elsewhere the stub leaves
//! them as its own spawn made them, which is how the direct spawn's would
//! have made them (a stub-form command's `pre_exec` closures make std fork
//! the stub as they would the direct spawn). So the stub and the parent
//! make these system calls only where a difference would otherwise arise.
//!
//! **`g`.** The stub discards a SIGTSTP that its own spawn left pending when
//! it finds itself outside the spawner's process group. A plain command
//! spawned by the crate's own `spawn` leaves that group only through
//! `process_group`, which the parent reads; without it, the child stays in
//! the spawner's group and the flag (with the parent's `getpgrp` and the
//! stub's `getpgid`) is left out. A stub-form command, or one handed to a
//! caller's spawner (`spawn_with`), may be moved by code the parent cannot
//! see, and always carries it.
//!
//! **`m`.** Requested by the process-wrap adapter for a command wrapped in
//! `ResetSigmask`: it writes the letter into the stub-form command's
//! `argv[0]` (the protocol's place for what the stub must do) before the
//! spawn; this keeps it in the flags written at the spawn.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use super::inspect::Hidden;
use crate::ext::Spawner;
use crate::protocol::Flags;

/// Whether the C library's `execvp` falls back to `/bin/sh` on `ENOEXEC`
/// and std's `fork`/`exec` path is the one described above: glibc on
/// Linux. (The BSDs' and Apple's `execvp` fall back too, with an `argv` of
/// their own; there only commands std forks for take the stub at all, and
/// the stub does not imitate theirs: a script without `#!` exits with the
/// exec-failure code there.)
const EXECVP_FALLS_BACK: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// The two flags that follow from how std would spawn the direct command:
/// `s` and `i` (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ForkPath {
    /// `s`: the direct spawn is std's `fork`/`exec`, whose glibc `execvp`
    /// falls back to the shell.
    pub(crate) sh_fallback: bool,
    /// `i`: the parent's dispositions of signals 32-34 for the stub to set,
    /// where the direct spawn is std's `fork`/`exec`; `None` where it is
    /// `posix_spawn`, as the stub's own spawn is.
    pub(crate) ignored_internal: Option<[bool; 3]>,
}

/// `s` and `i` for a direct spawn of a command for `program` with these
/// settings; std's choice is worked out once for both.
pub(crate) fn fork_path(program: &OsStr, cmd: &Command, hidden: &Hidden) -> ForkPath {
    let forks = direct_forks(program, cmd, hidden);
    ForkPath {
        sh_fallback: EXECVP_FALLS_BACK && forks,
        ignored_internal: forks.then(super::signals::ignored_internal),
    }
}

/// Whether the stub must be told the spawner's process group (`g`): unless
/// the command is a plain one (`hidden`, its settings as the rewrite read
/// them; `None` for a stub-form command) without `process_group`, spawned
/// by the crate's own `spawn`, whose child cannot leave the spawner's group.
pub(crate) fn needs_spawner_group(hidden: Option<&Hidden>, spawner: Spawner) -> bool {
    !matches!((hidden, spawner), (Some(h), Spawner::Own) if h.pgroup.is_none())
}

/// Whether std would spawn a command for `program` with these settings by
/// its own `fork`/`exec` rather than `posix_spawn`, as far as the settings
/// show (not `pre_exec` closures; see the module docs).
pub(crate) fn direct_forks(program: &OsStr, cmd: &Command, hidden: &Hidden) -> bool {
    let path_changed = hidden.env_clear || cmd.get_envs().any(|(key, _)| key == "PATH");
    let lookup = !program.as_bytes().contains(&b'/');
    hidden.uid.is_some()
        || hidden.gid.is_some()
        || (lookup && path_changed)
        || glibc_before(24)
        || (cmd.get_current_dir().is_some() && glibc_before(29))
}

/// The flags a stub-form command spawned in place (`in_place`) takes from
/// the command: `s` for its target (its program is the command's second
/// argument), and `m` when the command's `argv[0]` asks for it. The other
/// fields are the defaults, to be overridden. `hidden` is the in-place
/// command's settings as `plan()` read them; `None` (a rewritten command,
/// for which the rewrite sets `s`, or settings the crate cannot read) gets
/// neither flag here.
///
/// Both need the settings only std's `Debug` text shows (uid, gid,
/// `env_clear`, `argv[0]`): one parse per in-place spawn, measured at
/// 13.5 µs in a release build (51 µs unoptimised) for a five-argument
/// command, about 1% of a spawn.
pub(crate) fn in_place(cmd: &Command, hidden: Option<&Hidden>) -> Flags {
    let none = Flags {
        reset_mask: false,
        sh_fallback: false,
        ..Flags::DEFAULT
    };
    let Some(hidden) = hidden else {
        return none;
    };
    let requested = hidden
        .arg0
        .as_deref()
        .map(|arg0| Flags::from_arg0(arg0.as_bytes()));
    let target = cmd.get_args().nth(1).unwrap_or_default();
    let path = fork_path(target, cmd, hidden);
    Flags {
        reset_mask: requested.is_some_and(|f| f.reset_mask),
        // The process-wrap adapter asks for `s` when process-wrap's own
        // wrappers add `pre_exec` closures (std's `fork` path for sure).
        sh_fallback: (EXECVP_FALLS_BACK && requested.is_some_and(|f| f.sh_fallback))
            || path.sh_fallback,
        // Closures make std fork this command as they would the direct
        // spawn, so only what the settings show counts here too.
        ignored_internal: path.ignored_internal,
        ..none
    }
}

/// Whether the running glibc is older than 2.`minor`.
fn glibc_before(minor: u32) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static MINOR: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
        let running = *MINOR.get_or_init(|| {
            // SAFETY: gnu_get_libc_version returns a static NUL-terminated
            // string such as "2.39".
            let version = unsafe { std::ffi::CStr::from_ptr(nix::libc::gnu_get_libc_version()) };
            let version = version.to_str().ok()?;
            let (major, rest) = version.split_once('.')?;
            let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
            (major == "2").then(|| minor.parse().ok()).flatten()
        });
        // std, too, takes a version it cannot read as too old.
        running.map_or(true, |running| running < minor)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = minor;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imp::inspect;
    use std::os::unix::process::CommandExt;

    fn path(cmd: &Command) -> ForkPath {
        fork_path(
            cmd.get_program(),
            cmd,
            &inspect::hidden_settings(cmd).unwrap(),
        )
    }

    fn s(cmd: &Command) -> bool {
        path(cmd).sh_fallback
    }

    #[test]
    fn only_std_fork_path_commands_fall_back() {
        let glibc = EXECVP_FALLS_BACK;
        assert!(!s(&Command::new("prog")), "posix_spawnp");
        assert!(!s(Command::new("/bin/prog").env("PATH", "/x")), "a path");
        assert!(!s(Command::new("prog").env("A", "b")));
        assert!(!s(Command::new("prog").current_dir("/")), "addchdir_np");
        assert_eq!(s(Command::new("prog").env("PATH", "/x")), glibc);
        assert_eq!(s(Command::new("prog").env_remove("PATH")), glibc);
        assert_eq!(
            s(Command::new("prog").env_clear()),
            glibc,
            "saw_path || clear"
        );
        assert_eq!(s(Command::new("/bin/prog").uid(0)), glibc);
        assert_eq!(s(Command::new("/bin/prog").gid(0)), glibc);
    }

    #[test]
    fn internal_signals_only_where_the_direct_spawn_forks() {
        let i = |cmd: &Command| path(cmd).ignored_internal;
        assert_eq!(i(&Command::new("prog")), None, "posix_spawnp");
        assert_eq!(i(Command::new("/bin/prog").env("PATH", "/x")), None);
        assert_eq!(i(Command::new("prog").current_dir("/")), None);
        assert!(i(Command::new("prog").env("PATH", "/x")).is_some());
        assert!(i(Command::new("prog").env_clear()).is_some());
        assert!(i(Command::new("/bin/prog").uid(0)).is_some());
    }

    #[test]
    fn the_spawners_group_is_left_out_only_where_the_child_stays_in_it() {
        let plain = inspect::hidden_settings(&Command::new("prog")).unwrap();
        let own_group = inspect::hidden_settings(Command::new("prog").process_group(0)).unwrap();
        assert!(!needs_spawner_group(Some(&plain), Spawner::Own));
        assert!(needs_spawner_group(Some(&own_group), Spawner::Own));
        assert!(
            needs_spawner_group(Some(&plain), Spawner::Caller),
            "spawn_with"
        );
        assert!(needs_spawner_group(None, Spawner::Own), "stub form");
    }

    #[test]
    fn in_place_reads_m_and_the_targets_program() {
        let stub = |arg0: &str, program: &str| {
            let mut cmd = Command::new("/proc/self/exe");
            cmd.arg0(arg0)
                .args([crate::protocol::MARKER, program, program]);
            cmd
        };
        // In place: `plan()` hands over the settings it read.
        let placed = |cmd: &Command| in_place(cmd, Some(&inspect::hidden_settings(cmd).unwrap()));
        let flags = placed(&stub("double-spawn:tm", "/bin/true"));
        assert!(flags.reset_mask && !flags.sh_fallback);
        let flags = placed(&stub("double-spawn:ts", "/bin/true"));
        assert!(!flags.reset_mask);
        assert_eq!(flags.sh_fallback, EXECVP_FALLS_BACK, "asked for, on glibc");
        assert!(!placed(&stub("double-spawn:t", "/bin/true")).reset_mask);
        // Not in place: the argv[0] is the target's own.
        assert!(!in_place(&stub("double-spawn:tm", "/bin/true"), None).reset_mask);
        let mut bare = stub("double-spawn:t", "prog");
        bare.env("PATH", "/x");
        assert_eq!(placed(&bare).sh_fallback, EXECVP_FALLS_BACK);
    }

    #[test]
    fn the_running_glibc_is_read() {
        // The test machines run a current glibc (or none).
        assert!(!glibc_before(24));
    }
}
