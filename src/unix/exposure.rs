//! Which spawns a stop signal can catch before `exec` while `spawn()`
//! waits, on this system: the spawns that need a stub.
//!
//! Read from the C libraries' and kernels' own sources (the crate docs'
//! "Platform support" has the table):
//!
//! - **glibc and musl** run the `posix_spawn` child with
//!   `clone(CLONE_VM | CLONE_VFORK)`; it resets handlers to the default,
//!   sets the process group, applies file actions and only then calls
//!   `execve`, while the parent waits. Nothing in Linux holds a stop for
//!   such a child: every spawn is exposed.
//! - **Apple systems**: `posix_spawn` is one system call. The kernel builds
//!   the process, loads the image and applies the signal defaults before
//!   the child may run a single user instruction, and the call never waits
//!   for the child to run.
//! - **FreeBSD** (`rfork(RFSPAWN)`, a vfork) and **illumos** (`vforkx`) do
//!   run library code in the child while the parent waits, but their
//!   kernels hold stop signals for a child that still shares its parent's
//!   memory (FreeBSD: `P_PPWAIT`; illumos: SIGTSTP, SIGTTIN and SIGTTOU for
//!   an `SVFORK` child) and deliver them after `exec`, so the parent
//!   returns.
//! - **std's own `fork`/`exec` path**, on every system: the parent reads a
//!   close-on-exec pipe until the child's `exec`, and the child runs std's
//!   code (`setpgid` among it) with the parent's dispositions. A default
//!   SIGTSTP stops it there and the parent waits for good. std takes this
//!   path for `uid`/`gid`/`groups`, `chroot`, `pre_exec` closures, a bare
//!   program name with `PATH` changed in the command (or the environment
//!   cleared), and a working
//!   directory where the C library cannot `chdir` in `posix_spawn`; on
//!   systems other than these it uses no `posix_spawn` at all.
//!
//! So on Apple systems, FreeBSD and illumos only the commands std may
//! `fork` for need the stub; `may_fork` over-approximates std's choice (a
//! needless stub costs an `exec`, a missed one is exactly `spawn()`).

use std::process::Command;

use super::{inspect, stub_flags};

/// Whether every spawn on this system is exposed (else only those std may
/// start with `fork`/`exec`).
pub(crate) const EVERY_SPAWN: bool = !cfg!(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "illumos"
));

/// Whether std may start `cmd` with `fork`/`exec` instead of `posix_spawn`.
///
/// True for a working directory (std needs `posix_spawn_file_actions_addchdir`,
/// which older FreeBSD and illumos lack, and Apple's misreports with a
/// relative program), for what std's own rule forks for
/// (`stub_flags::direct_forks`: a bare program name with `PATH` set or
/// removed in the command or the environment cleared, uid/gid), and for any
/// setting this crate cannot read
/// (`groups`, `chroot`, `setsid` and the like, which the stub route then
/// reports as uncarried). `pre_exec` closures cannot be seen; a command that
/// has them is protected in stub form (`DoubleSpawn::std_command`).
pub(crate) fn may_fork(cmd: &Command) -> bool {
    // Any working directory, beyond std's own rule: see above.
    if cmd.get_current_dir().is_some() {
        return true;
    }
    match inspect::hidden_settings(cmd) {
        Ok(hidden) => stub_flags::direct_forks(cmd.get_program(), cmd, &hidden),
        Err(_) => true,
    }
}

/// Whether `cmd` needs the stub here.
pub(crate) fn needs_stub(cmd: &Command) -> bool {
    EVERY_SPAWN || may_fork(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn plain_commands_may_use_posix_spawn() {
        let mut cmd = Command::new("echo");
        cmd.arg("x").env("A", "b").process_group(0);
        assert!(!may_fork(&cmd));
        let mut cmd = Command::new("/bin/echo");
        cmd.env("PATH", "/x");
        assert!(!may_fork(&cmd), "a path is not searched");
    }

    #[test]
    fn fork_path_settings_are_seen() {
        let mut cmd = Command::new("echo");
        cmd.env("PATH", "/x");
        assert!(may_fork(&cmd));
        let mut cmd = Command::new("echo");
        cmd.env_remove("PATH");
        assert!(may_fork(&cmd));
        let mut cmd = Command::new("echo");
        cmd.env_clear();
        assert!(may_fork(&cmd), "a cleared environment is a changed PATH");
        let mut cmd = Command::new("/bin/echo");
        cmd.env_clear();
        assert!(!may_fork(&cmd), "a path is not searched");
        let mut cmd = Command::new("echo");
        cmd.current_dir("/");
        assert!(may_fork(&cmd));
        let mut cmd = Command::new("echo");
        cmd.uid(0);
        assert!(may_fork(&cmd));
        let mut cmd = Command::new("echo");
        cmd.gid(0);
        assert!(may_fork(&cmd));
    }
}
