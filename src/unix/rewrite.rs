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
use std::os::unix::ffi::OsStrExt;
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

/// A NUL byte std will refuse, found before anything else is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nul {
    /// In an environment entry the child would get (`get_envs` shows the
    /// bytes): std's `spawn()` fails with `InvalidInput`, certainly.
    Env,
    /// The program, an argument, `argv[0]` or the working directory is the
    /// text std puts in place of a string with a NUL byte: std fails with
    /// `InvalidInput` if there was a NUL, and spawns if the text is literal.
    Placeholder,
}

/// Finds what std's own NUL check will see in `cmd`.
///
/// std replaces a program, argument, `argv[0]` or working directory that
/// holds a NUL by [`NUL_PLACEHOLDER`] and remembers it; it checks the
/// environment when it builds the child's, so only an entry that is set
/// (not one removed or cleared away) counts, and `=` in a key is no error
/// (the child gets `A=B=v`, on every route alike). `arg0` is read from the
/// `Debug` text (`Hidden::arg0`); `None` there is a program it equals.
///
/// Not seen: a NUL in an `arg0` or working directory that a later call
/// replaced. std still refuses the command (it keeps the flag), and the
/// getters show only the new value; such a command is double-spawned.
pub(crate) fn nul(cmd: &Command, arg0: Option<&OsStr>) -> Option<Nul> {
    let env = cmd
        .get_envs()
        .any(|(k, v)| v.is_some_and(|v| k.as_bytes().contains(&0) || v.as_bytes().contains(&0)));
    if env {
        return Some(Nul::Env);
    }
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .chain(arg0)
        .chain(cmd.get_current_dir().map(Path::as_os_str))
        .any(|s| s == NUL_PLACEHOLDER)
        .then_some(Nul::Placeholder)
}

/// Checks `program` as a direct spawn of `cmd` (its environment, working
/// directory and ids) would find it, and returns the path the stub is to
/// execute; fails with the error the parent's check found (see `resolve`).
pub(crate) fn resolve_target(
    cmd: &Command,
    program: &OsStr,
    hidden: &Hidden,
) -> io::Result<OsString> {
    let access = if hidden.uid.is_some() || hidden.gid.is_some() {
        Access::As {
            uid: hidden.uid,
            gid: hidden.gid,
        }
    } else {
        Access::CheckExecutable
    };
    // A name with a slash is not searched: its `PATH` need not be read.
    let path = if program.as_bytes().contains(&b'/') {
        None
    } else {
        child_path(cmd, hidden)
    };
    resolve::resolve(program, path.as_deref(), cmd.get_current_dir(), access)
}

/// Builds the stub's command for `cmd`, whose hidden settings are `hidden`
/// and whose program was resolved to `exec_path` (`resolve_target`).
pub(crate) fn stub_command(
    exe: &Path,
    cmd: &Command,
    hidden: &Hidden,
    exec_path: &OsStr,
    io: IoDefaults,
    mut flags: Flags,
) -> io::Result<Command> {
    let program = cmd.get_program();
    let path = super::stub_flags::fork_path(program, cmd, hidden);
    flags.sh_fallback = path.sh_fallback;
    flags.ignored_internal = path.ignored_internal;
    let mut stub = Command::new(exe);
    stub.arg(MARKER)
        .arg(exec_path)
        .arg(hidden.arg0.as_deref().unwrap_or(program))
        .args(cmd.get_args());

    let stdio = carry_settings(cmd, hidden, &mut stub, Some(io))?;
    for (slot, spec) in stdio.iter().enumerate() {
        // Only an inherited descriptor can be closed in the target.
        flags.close_std[slot] &= *spec == StdioSpec::Inherit;
    }
    stub.arg0(flags.to_arg0().as_str());
    Ok(stub)
}

/// Gives `to` every setting of `from` but its program and arguments: the
/// environment (cleared, set, removed), working directory, uid/gid, process
/// group and stdio (unset slots get the defaults of `io`, or stay unset for
/// `None`). Returns the stdio given, slot by slot.
fn carry_settings(
    from: &Command,
    hidden: &Hidden,
    to: &mut Command,
    io: Option<IoDefaults>,
) -> io::Result<[StdioSpec; 3]> {
    if hidden.env_clear {
        to.env_clear();
    }
    for (key, value) in from.get_envs() {
        match value {
            Some(value) => to.env(key, value),
            None => to.env_remove(key),
        };
    }
    if let Some(dir) = from.get_current_dir() {
        to.current_dir(dir);
    }
    if let Some(uid) = hidden.uid {
        to.uid(uid);
    }
    if let Some(gid) = hidden.gid {
        to.gid(gid);
    }
    if let Some(pgroup) = hidden.pgroup {
        to.process_group(pgroup);
    }
    let mut given = hidden.stdio;
    for (slot, spec) in given.iter_mut().enumerate() {
        if let (StdioSpec::Unset, Some(io)) = (*spec, io) {
            *spec = io.for_unset(slot);
        }
        if *spec != StdioSpec::Unset {
            set_stdio(to, slot, *spec)?;
        }
    }
    Ok(given)
}

/// The plain command a stub-form command stands for: the target's program,
/// `argv[0]` and arguments from the stub's arguments, every other setting
/// carried over (stdio the stub-form command leaves unset stays unset). A
/// command not in stub form (made when no stub was available) is copied.
/// `pre_exec` closures cannot be moved and stay behind.
pub(crate) fn plain_command(
    cmd: &Command,
    is_stub: impl Fn(&OsStr) -> bool,
) -> io::Result<Command> {
    let hidden = hidden_settings(cmd)?;
    let mut args = cmd.get_args();
    let (program, arg0) = if is_stub_form(cmd, is_stub) {
        args.next(); // the marker
        match (args.next(), args.next()) {
            (Some(program), Some(arg0)) => (program, Some(arg0)),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a stub-form command without its program and argv[0]",
                ))
            }
        }
    } else {
        (cmd.get_program(), hidden.arg0.as_deref())
    };
    let mut plain = Command::new(program);
    if let Some(arg0) = arg0.filter(|a| *a != program) {
        plain.arg0(arg0);
    }
    plain.args(args);
    carry_settings(cmd, &hidden, &mut plain, None)?;
    Ok(plain)
}

/// Reads the hidden settings of `cmd`, or names the one that cannot be
/// carried to the stub's command.
pub(crate) fn carried_settings(cmd: &Command) -> Result<Hidden, String> {
    inspect::hidden_settings(cmd).map_err(|unsupported| {
        format!(
            "{} (of the command for {:?})",
            unsupported.0,
            cmd.get_program()
        )
    })
}

/// Gives the stdio a stub-form command leaves unset the defaults of `io`,
/// so that it can be spawned as it is, `pre_exec` closures and all, with the
/// stdio `output()` promises. The command keeps these settings afterwards,
/// as a tokio command keeps the pipes its `output()` sets.
///
/// `hidden` is the command's settings when the caller has read them already
/// (`None`: read them here, and fail for one the crate cannot read).
pub(crate) fn fill_unset_stdio(
    cmd: &mut Command,
    io: IoDefaults,
    hidden: Option<&Hidden>,
) -> io::Result<()> {
    let stdio = match hidden {
        Some(hidden) => hidden.stdio,
        None => hidden_settings(cmd)?.stdio,
    };
    for (slot, spec) in stdio.iter().enumerate() {
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
        let hidden = carried_settings(cmd).unwrap();
        let exec_path = resolve_target(cmd, cmd.get_program(), &hidden).unwrap();
        stub_command(Path::new(EXE), cmd, &hidden, &exec_path, io, flags).unwrap()
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
        fill_unset_stdio(&mut cmd, IoDefaults::Output, None).unwrap();
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
        let check = |cmd: &Command| {
            let hidden = carried_settings(cmd).unwrap();
            resolve_target(cmd, cmd.get_program(), &hidden)
        };
        let kind = |cmd: &Command| check(cmd).unwrap_err().kind();
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
        assert!(
            check(Command::new("sh").env_clear()).is_ok(),
            "no PATH: the libc default finds sh"
        );
        assert!(check(Command::new("sh").env_remove("PATH")).is_ok());
    }

    #[test]
    fn nul_bytes_std_refuses_are_found() {
        let arg0 = |cmd: &Command| carried_settings(cmd).unwrap().arg0;
        let mut arg = Command::new("sh");
        arg.arg("a\0b");
        let mut program = Command::new("s\0h");
        program.arg("x");
        let mut dir = Command::new("sh");
        dir.current_dir("a\0");
        let mut literal = Command::new("echo");
        literal.arg(NUL_PLACEHOLDER);
        let mut zero = Command::new("echo");
        zero.arg0("a\0b");
        for cmd in [&arg, &program, &dir, &literal, &zero] {
            assert_eq!(
                nul(cmd, arg0(cmd).as_deref()),
                Some(Nul::Placeholder),
                "{cmd:?}"
            );
        }
        let mut value = Command::new("sh");
        value.env("A", "x\0y");
        let mut key = Command::new("sh");
        key.env("A\0", "x");
        for cmd in [&value, &key] {
            assert_eq!(nul(cmd, None), Some(Nul::Env), "{cmd:?}");
        }
        // Removed or cleared away, an entry is never checked by std; `=` in
        // a key is no error.
        let mut gone = Command::new("sh");
        gone.env("A", "x\0y").env_remove("A").env_remove("B\0");
        let mut cleared = Command::new("sh");
        cleared.env("A\0", "x").env_clear().env("A=B", "v");
        for cmd in [&gone, &cleared] {
            assert_eq!(nul(cmd, None), None, "{cmd:?}");
        }
    }
}
