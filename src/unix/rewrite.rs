//! Building the stub's command from a configured command.
//!
//! The stub's command is a fresh `std::process::Command` for the current
//! executable that carries every setting of the original: the environment
//! (cleared, set, removed), working directory, uid/gid, process group and the
//! three stdio settings; the target's program, `argv[0]` and arguments travel
//! as separate `argv` entries (see `protocol`). The original command is only
//! read, never changed; the one exception is `fill_unset_stdio`, for commands
//! already in stub form.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::io::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::libc;

use super::inspect::{self, Hidden, StdioSpec};
use super::resolve::{self, Access};
use crate::protocol::{Flags, MARKER};

/// Which defaults apply to stdio the command leaves unset; they differ
/// between std's `spawn`/`status` (inherit) and `output` (stdin from
/// `/dev/null`, stdout and stderr piped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoDefaults {
    Spawn,
    Output,
}

impl IoDefaults {
    fn for_unset(self, slot: usize) -> StdioSpec {
        match (self, slot) {
            (IoDefaults::Spawn, _) => StdioSpec::Inherit,
            (IoDefaults::Output, 0) => StdioSpec::Null,
            (IoDefaults::Output, _) => StdioSpec::Piped,
        }
    }
}

/// What std puts in place of a string that contained a NUL byte; `spawn()`
/// then fails with `InvalidInput`. The getters return the placeholder, so an
/// argument that really is this text cannot be told from one with a NUL.
const NUL_PLACEHOLDER: &str = "<string-with-nul>";

/// True when `cmd` is already in stub form (built by
/// `DoubleSpawn::std_command`): its first argument is the marker and its
/// program one of the stubs, `is_stub` says which paths are.
pub(crate) fn is_stub_form(cmd: &Command, is_stub: impl Fn(&OsStr) -> bool) -> bool {
    cmd.get_args().next() == Some(OsStr::new(MARKER)) && is_stub(cmd.get_program())
}

/// The outcome of the rewrite.
#[derive(Debug)]
pub(crate) enum Rewritten {
    /// The stub's command, carrying every setting.
    Stub(Command),
    /// The command cannot be carried exactly: spawn it directly (exactly as
    /// `cmd.spawn()` would, so the result is never worse), for this reason.
    Direct(Uncarried),
}

/// Why a command cannot be carried to the stub.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Uncarried {
    /// A setting the `Debug` text shows that the stub's command cannot be
    /// given (unstable std settings, or one a newer std added); it is named.
    Setting(String),
    /// A NUL byte, or the literal text std puts in its place: a direct spawn
    /// fails with `InvalidInput` for the first and runs the second.
    NulPlaceholder,
}

/// Builds the stub's command for `cmd`.
///
/// Fails as a direct spawn of `cmd` would for a program that cannot be found
/// or executed (`NotFound`, `PermissionDenied`, same raw OS error). What it
/// cannot carry exactly it leaves to a direct spawn (`Rewritten::Direct`).
pub(crate) fn stub_command(
    exe: &Path,
    cmd: &Command,
    io: IoDefaults,
    mut flags: Flags,
) -> io::Result<Rewritten> {
    let has_nul = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .chain(cmd.get_current_dir().map(Path::as_os_str))
        .any(|s| s == NUL_PLACEHOLDER);
    if has_nul {
        return Ok(Rewritten::Direct(Uncarried::NulPlaceholder));
    }
    let hidden = match inspect::hidden_settings(cmd) {
        Ok(hidden) => hidden,
        Err(unsupported) => {
            return Ok(Rewritten::Direct(Uncarried::Setting(format!(
                "{} (of the command for {:?})",
                unsupported.0,
                cmd.get_program()
            ))))
        }
    };
    let program = cmd.get_program();
    flags.sh_fallback = super::stub_flags::sh_fallback(program, cmd, &hidden);
    let access = if hidden.uid.is_some() || hidden.gid.is_some() {
        Access::As {
            uid: hidden.uid,
            gid: hidden.gid,
        }
    } else {
        Access::CheckExecutable
    };
    let exec_path = resolve::resolve(
        program,
        child_path(cmd, &hidden).as_deref(),
        cmd.get_current_dir(),
        access,
    )?;

    let mut stub = Command::new(exe);
    stub.arg(MARKER)
        .arg(exec_path)
        .arg(hidden.arg0.as_deref().unwrap_or(program))
        .args(cmd.get_args());

    if hidden.env_clear {
        stub.env_clear();
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => stub.env(key, value),
            None => stub.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        stub.current_dir(dir);
    }
    if let Some(uid) = hidden.uid {
        stub.uid(uid);
    }
    if let Some(gid) = hidden.gid {
        stub.gid(gid);
    }
    if let Some(pgroup) = hidden.pgroup {
        stub.process_group(pgroup);
    }
    for (slot, spec) in hidden.stdio.iter().enumerate() {
        let spec = match spec {
            StdioSpec::Unset => io.for_unset(slot),
            other => *other,
        };
        // Only an inherited descriptor can be closed in the target.
        flags.close_std[slot] &= spec == StdioSpec::Inherit;
        set_stdio(&mut stub, slot, spec)?;
    }
    stub.arg0(flags.to_arg0().as_str());
    Ok(Rewritten::Stub(stub))
}

/// Gives the stdio a stub-form command leaves unset the defaults of `io`,
/// so that it can be spawned as it is, `pre_exec` closures and all, with the
/// stdio `output()` promises. The command keeps these settings afterwards,
/// as a tokio command keeps the pipes its `output()` sets.
pub(crate) fn fill_unset_stdio(cmd: &mut Command, io: IoDefaults) -> io::Result<()> {
    let hidden = hidden_settings(cmd)?;
    for (slot, spec) in hidden.stdio.iter().enumerate() {
        if *spec == StdioSpec::Unset {
            set_stdio(cmd, slot, io.for_unset(slot))?;
        }
    }
    Ok(())
}

fn hidden_settings(cmd: &Command) -> io::Result<Hidden> {
    inspect::hidden_settings(cmd).map_err(|u| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "double-spawn cannot carry the setting {} of the command for {:?}; \
                 spawn it directly, or build it with DoubleSpawn::std_command",
                u.0,
                cmd.get_program()
            ),
        )
    })
}

fn set_stdio(cmd: &mut Command, slot: usize, spec: StdioSpec) -> io::Result<()> {
    let stdio = match spec {
        StdioSpec::Unset | StdioSpec::Inherit => Stdio::inherit(),
        StdioSpec::Null => Stdio::null(),
        StdioSpec::Piped => Stdio::piped(),
        StdioSpec::Fd(fd) => Stdio::from(dup(fd)?),
    };
    match slot {
        0 => cmd.stdin(stdio),
        1 => cmd.stdout(stdio),
        _ => cmd.stderr(stdio),
    };
    Ok(())
}

/// The `PATH` the child will have: set or removed on the command, gone with
/// `env_clear`, or else the parent's.
fn child_path(cmd: &Command, hidden: &Hidden) -> Option<OsString> {
    match cmd.get_envs().find(|(k, _)| *k == "PATH") {
        Some((_, value)) => value.map(OsStr::to_owned),
        None if hidden.env_clear => None,
        None => std::env::var_os("PATH"),
    }
}

/// A close-on-exec duplicate of a descriptor the command holds, so the
/// stub's command owns its own copy and the original stays usable.
fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC creates a new descriptor and touches no memory;
    // an invalid `fd` yields EBADF.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: &str = "/proc/self/exe";

    fn args(cmd: &Command) -> Vec<&OsStr> {
        cmd.get_args().collect()
    }

    fn rewrite(cmd: &Command, io: IoDefaults, flags: Flags) -> Command {
        match stub_command(Path::new(EXE), cmd, io, flags).unwrap() {
            Rewritten::Stub(stub) => stub,
            Rewritten::Direct(why) => panic!("not carried: {why:?}"),
        }
    }

    #[test]
    fn a_plain_command_becomes_marker_path_argv0_args() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "", "--", "-h"]);
        let stub = rewrite(&cmd, IoDefaults::Spawn, Flags::DEFAULT);
        assert_eq!(stub.get_program(), EXE);
        let a = args(&stub);
        assert_eq!(a[0], MARKER);
        assert!(Path::new(a[1]).is_absolute() && a[1].to_string_lossy().ends_with("/sh"));
        assert_eq!(&a[2..], ["sh", "-c", "", "--", "-h"]);
        assert!(format!("{stub:#?}").contains("\"double-spawn:t\""));
    }

    #[test]
    fn unset_stdio_of_a_stub_form_command_gets_output_defaults() {
        let mut cmd = Command::new(EXE);
        cmd.args([MARKER, "prog", "prog"]).stderr(Stdio::null());
        fill_unset_stdio(&mut cmd, IoDefaults::Output).unwrap();
        let h = inspect::hidden_settings(&cmd).unwrap();
        assert_eq!(
            h.stdio,
            [StdioSpec::Null, StdioSpec::Piped, StdioSpec::Null]
        );
    }

    #[test]
    fn settings_are_carried() {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg0("zero")
            .env_clear()
            .env("A", "1")
            .current_dir("/")
            .process_group(0)
            .stdin(Stdio::null());
        let stub = rewrite(&cmd, IoDefaults::Output, Flags::DEFAULT);
        assert_eq!(&args(&stub)[1..3], ["/bin/sh", "zero"]);
        let h = inspect::hidden_settings(&stub).unwrap();
        assert!(h.env_clear);
        assert_eq!(h.pgroup, Some(0));
        assert_eq!(
            h.stdio,
            [StdioSpec::Null, StdioSpec::Piped, StdioSpec::Piped]
        );
        assert_eq!(stub.get_current_dir(), Some(Path::new("/")));
        assert_eq!(
            stub.get_envs().collect::<Vec<_>>(),
            [(OsStr::new("A"), Some(OsStr::new("1")))]
        );
    }

    #[test]
    fn close_flags_survive_only_for_inherited_descriptors() {
        let mut cmd = Command::new("/bin/sh");
        cmd.stdout(Stdio::null());
        let flags = Flags {
            close_std: [true; 3],
            ..Flags::DEFAULT
        };
        let stub = rewrite(&cmd, IoDefaults::Spawn, flags);
        assert!(format!("{stub:#?}").contains("\"double-spawn:t02\""));
    }

    #[test]
    fn errors_match_a_direct_spawn() {
        let exe = Path::new(EXE);
        let kind = |cmd: &Command| {
            stub_command(exe, cmd, IoDefaults::Spawn, Flags::DEFAULT)
                .unwrap_err()
                .kind()
        };
        assert_eq!(
            kind(&Command::new("no-such-program-ds")),
            io::ErrorKind::NotFound
        );
        assert_eq!(kind(&Command::new("/")), io::ErrorKind::PermissionDenied);
        // The child's PATH decides, not the parent's.
        assert_eq!(
            kind(Command::new("sh").env("PATH", "/nonexistent-ds")),
            io::ErrorKind::NotFound
        );
        let ok = |cmd: &Command| {
            matches!(
                stub_command(exe, cmd, IoDefaults::Spawn, Flags::DEFAULT),
                Ok(Rewritten::Stub(_))
            )
        };
        assert!(
            ok(Command::new("sh").env_clear()),
            "no PATH: the libc default finds sh"
        );
        assert!(ok(Command::new("sh").env_remove("PATH")));
    }

    #[test]
    fn nul_bytes_are_left_to_a_direct_spawn() {
        let exe = Path::new(EXE);
        let mut arg = Command::new("sh");
        arg.arg("a\0b");
        let mut program = Command::new("s\0h");
        program.arg("x");
        let mut dir = Command::new("sh");
        dir.current_dir("a\0");
        let mut literal = Command::new("echo");
        literal.arg(NUL_PLACEHOLDER);
        for cmd in [&arg, &program, &dir, &literal] {
            assert!(
                matches!(
                    stub_command(exe, cmd, IoDefaults::Spawn, Flags::DEFAULT),
                    Ok(Rewritten::Direct(Uncarried::NulPlaceholder))
                ),
                "{cmd:?}"
            );
        }
    }
}
