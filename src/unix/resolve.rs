//! Finding the target's executable the way a direct spawn would.
//!
//! The parent resolves the program before it starts the stub, for two
//! reasons: a program that cannot be run must fail `spawn()` instead of
//! starting a stub that then exits, and the stub must do no searching of
//! its own (it receives a path it can `execv` at once). For a plain
//! command the error found here is not returned: the command is then
//! spawned directly with SIGTSTP still blocked, so that the C library
//! produces its own error in its own order (`plan` in `unix/mod.rs`). For a
//! stub-form command, whose target only the stub can execute, this error is
//! returned; it has the kind and raw OS error a direct spawn returns.
//!
//! The rules are those of glibc's `posix_spawnp` and `execvp`, which std
//! uses (the first normally, the second when the command changes `PATH` or
//! switches uid), measured against both by `tests/errors.rs`:
//! - the child's working directory is entered first: a `current_dir` that
//!   is missing, not a directory or not searchable fails the spawn with the
//!   error of `chdir`, whatever the program;
//! - an empty program is `ENOENT`;
//! - a program containing `/` is a path, relative to the child's working
//!   directory, and is executed as it is (a trailing slash included);
//! - otherwise every entry of the child's `PATH` is tried in order, the
//!   candidate being `entry/program` byte for byte, an empty entry meaning
//!   the working directory. A candidate that is missing (`ENOENT`, `ENOTDIR`,
//!   `ESTALE`, `ENODEV`, `ETIMEDOUT`) or cannot be executed (`EACCES`) is
//!   skipped; any other error (`ELOOP`, `ENAMETOOLONG`) ends the search with
//!   that error. When nothing is found the search fails with `EACCES` if a
//!   candidate gave it, else with the error of the *last* candidate (a
//!   `PATH` whose last entry is a file gives `ENOTDIR`);
//! - without a `PATH` the default search path of the C library is used;
//! - glibc sizes its candidate buffer from the length of `PATH` capped at
//!   `PATH_MAX - 1`: in a longer `PATH`, an entry at least that long is not
//!   tried and stands for an empty entry (the working directory), or ends
//!   the search when it is the last one.
//!
//! With musl (`__execvpe` in `src/process/execvp.c`, behind both
//! `posix_spawnp` and `execvp`) three rules differ: only `ENOENT` and
//! `ENOTDIR` (and `EACCES`) let the search go on, so `ESTALE`, `ENODEV` and
//! `ETIMEDOUT` end it; an overlong entry is skipped rather than tried as an
//! empty one; and a name longer than `NAME_MAX` is `ENAMETOOLONG` before any
//! entry is tried. musl's default search path is
//! `/usr/local/bin:/bin:/usr/bin`.
//!
//! These are glibc 2.36's rules (measured on Linux 6.18). Two edges depend
//! on the C library's version: glibc's fix for its bug 33626 skips a `PATH`
//! entry that fails with `ENAMETOOLONG` instead of ending the search, and a
//! `PATH` of nothing but one overlong entry makes glibc fail with whatever
//! `errno` the spawning thread last had, which no parent can predict (this
//! resolver says `ENOENT`).
//!
//! The checks are made relative to a descriptor of the child's working
//! directory, so a relative program is looked up exactly as the child will
//! look it up, however long the directory's own path is. Errors are
//! `io::Error::from_raw_os_error`, so they compare equal in kind *and* raw
//! OS error with what a direct spawn returns.
//!
//! When the command switches uid or gid, the child's permissions are not
//! the parent's: the checks are then made on a thread of their own that
//! takes the child's ids as its file-system ids (`Access::As`). Where even
//! that is impossible (`Access::ExistenceOnly`: no thread), only existence
//! and file type are checked and a bare name found by name is handed to the
//! stub unresolved, so that the stub searches `PATH` as the child and runs
//! the program a direct spawn would run; a failure that depends on the
//! child's permissions then comes from the stub (exit code 127) instead of
//! from `spawn()`.
//!
//! One thing differs from a direct spawn by construction: a program found
//! through an empty `PATH` entry is executed as `./program` (glibc executes
//! `program`; the stub must be given a name with a slash, or it would search
//! again), which only a script's interpreter can see in its arguments.

use std::ffi::{CStr, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::libc;
use nix::NixPath;

/// The search path `execvp` uses when the environment has no `PATH`: the
/// one the stubs search too.
use super::stubs::core::DEFAULT_PATH;

/// Whose permissions the checks are made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// The parent's effective ids: the child keeps them.
    CheckExecutable,
    /// Nobody's: only existence and file type are checked, and `exec` in
    /// the stub decides the rest (see the module docs).
    ExistenceOnly,
    /// The child switches to these ids before its `exec` (std: `setgid`,
    /// then `setgroups(0, NULL)` and `setuid` when a uid is given). The
    /// checks run on a thread of their own that takes them as its
    /// file-system ids, so that they see what the child will see; where the
    /// ids cannot be taken the child's own switch fails too, and the
    /// program is left for the stub's spawn to fail on in the same way.
    As { uid: Option<u32>, gid: Option<u32> },
}

/// Resolves `program` to a path the stub can execute without searching.
///
/// `path_var` is the child's `PATH` (`None`: the child has none), `cwd` the
/// child's working directory (`None`: the parent's). The returned path is
/// interpreted relative to the child's working directory, exactly as the
/// stub (which runs there) will interpret it. With `Access::ExistenceOnly` a
/// bare name that exists somewhere in `PATH` is returned as it is, for the
/// stub to search with the child's permissions.
pub(crate) fn resolve(
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: Option<&Path>,
    access: Access,
) -> io::Result<OsString> {
    match access {
        Access::As { uid, gid } => match as_ids(uid, gid, || {
            resolve_here(program, path_var, cwd, Access::CheckExecutable)
        }) {
            Some(Ok(result)) => result,
            // The child cannot take these ids either: its spawn fails
            // before `exec`, and so will the stub's, with the same error.
            Some(Err(IdsRefused)) => Ok(program.to_owned()),
            None => resolve_here(program, path_var, cwd, Access::ExistenceOnly),
        },
        _ => resolve_here(program, path_var, cwd, access),
    }
}

fn resolve_here(
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: Option<&Path>,
    access: Access,
) -> io::Result<OsString> {
    let base = Base::enter(cwd, access)?;
    let name = program.as_bytes();
    if name.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    if name.contains(&b'/') {
        base.check(name, access)?;
        return Ok(program.to_owned());
    }
    let path = path_var.map_or(DEFAULT_PATH, OsStrExt::as_bytes);
    let found = search(name, path, |candidate| base.check(candidate, access))?;
    Ok(match access {
        Access::ExistenceOnly => program.to_owned(),
        _ => OsString::from_vec(found),
    })
}

/// The ids could not be taken (no `CAP_SETUID`/`CAP_SETGID`).
struct IdsRefused;

/// Runs `f` on a new thread whose file-system uid/gid are `uid`/`gid` and,
/// when a uid is given, whose supplementary groups are cleared, as the
/// child's will be. `None`: no such thread could be made here.
///
/// Only the new thread's credentials change: `setfsuid`/`setfsgid` and the
/// raw `setgroups` system call act on the calling thread alone (glibc's
/// `setgroups` wrapper would apply it to every thread, so it is not used),
/// and the thread ends when `f` returns. Taking a non-zero file-system uid
/// drops the capabilities that override file permissions, as the child's
/// `setuid` does.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn as_ids<T: Send>(
    uid: Option<u32>,
    gid: Option<u32>,
    f: impl FnOnce() -> T + Send,
) -> Option<Result<T, IdsRefused>> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("double-spawn-resolve".into())
            .spawn_scoped(scope, move || {
                // SAFETY: these system calls change only this thread's
                // credentials (see above) and touch no memory of ours;
                // setgroups with a count of 0 reads no list.
                let taken = unsafe {
                    let gid_taken = gid.map_or(true, |gid| {
                        libc::setfsgid(gid);
                        libc::setfsgid(u32::MAX) as u32 == gid
                    });
                    let uid_taken = uid.map_or(true, |uid| {
                        // std ignores EPERM here, and so does this.
                        libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>());
                        libc::setfsuid(uid);
                        libc::setfsuid(u32::MAX) as u32 == uid
                    });
                    gid_taken && uid_taken
                };
                if taken {
                    Ok(f())
                } else {
                    Err(IdsRefused)
                }
            })
            .ok()?;
        worker.join().ok()
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn as_ids<T: Send>(
    _uid: Option<u32>,
    _gid: Option<u32>,
    _f: impl FnOnce() -> T + Send,
) -> Option<Result<T, IdsRefused>> {
    None
}

/// Whether the C library is musl, whose `__execvpe` (behind `execvp` and
/// `posix_spawnp`) searches by slightly different rules (module docs).
const MUSL: bool = cfg!(target_env = "musl");

/// musl's `NAME_MAX` (`limits.h`: 255). Spelled out because the `libc`
/// crate defines it only for some systems, and only musl's rule uses it.
const NAME_MAX: usize = 255;

/// The errors after which the search goes on with the next entry (besides
/// `EACCES`, which is remembered): glibc's list, or musl's shorter one.
const SEARCH_ON: &[libc::c_int] = if MUSL {
    &[libc::ENOENT, libc::ENOTDIR]
} else {
    &[
        libc::ENOENT,
        libc::ESTALE,
        libc::ENOTDIR,
        libc::ENODEV,
        libc::ETIMEDOUT,
    ]
};

/// Searches `path` for `name` as the C library's `execvpe` does, with
/// `check` in place of `execve`; returns the first candidate `check`
/// accepts.
fn search(
    name: &[u8],
    path: &[u8],
    mut check: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<Vec<u8>> {
    // musl refuses a name longer than `NAME_MAX` before searching.
    if MUSL && name.len() > NAME_MAX {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    // Both: `path_len = strnlen (path, PATH_MAX - 1) + 1`. An entry with
    // `subp - p >= path_len` ends the search when it is the last entry;
    // otherwise glibc skips it in a way that makes the loop try an empty
    // entry in its place, and musl skips it.
    let limit = path.len().min(libc::PATH_MAX as usize - 1) + 1;
    let entries: Vec<&[u8]> = path.split(|&b| b == b':').collect();
    let mut saw_eacces = false;
    let mut last = libc::ENOENT;
    for (i, &entry) in entries.iter().enumerate() {
        let entry = if entry.len() >= limit {
            if i + 1 == entries.len() {
                break;
            }
            if MUSL {
                continue;
            }
            &b""[..]
        } else {
            entry
        };
        let mut candidate = Vec::with_capacity(entry.len() + 2 + name.len());
        if entry.is_empty() {
            candidate.extend_from_slice(b"./");
        } else {
            candidate.extend_from_slice(entry);
            candidate.push(b'/');
        }
        candidate.extend_from_slice(name);
        match check(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) => match e.raw_os_error() {
                Some(libc::EACCES) => saw_eacces = true,
                Some(code) if SEARCH_ON.contains(&code) => last = code,
                _ => return Err(e),
            },
        }
    }
    Err(io::Error::from_raw_os_error(if saw_eacces {
        libc::EACCES
    } else {
        last
    }))
}

/// How a working directory is opened to look up names in it, asking for no
/// more than `chdir` does. `O_PATH` (Linux, FreeBSD) needs no permission on
/// the directory itself; search permission is checked separately. Systems
/// without it have POSIX's `O_SEARCH`, which checks search permission as
/// `chdir` does. Neither asks for read permission, which `chdir` does not
/// need either.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
const DIR_ONLY: libc::c_int = libc::O_PATH;
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
const DIR_ONLY: libc::c_int = libc::O_SEARCH;

/// The child's working directory, as a descriptor relative to which the
/// candidates are checked (`None`: the parent's, `AT_FDCWD`).
struct Base(Option<OwnedFd>);

impl Base {
    /// Fails as the child's `chdir(cwd)` would: missing, not a directory,
    /// or (checked only for the parent's own ids) not searchable.
    fn enter(cwd: Option<&Path>, access: Access) -> io::Result<Base> {
        let Some(dir) = cwd else {
            return Ok(Base(None));
        };
        let fd = with_c_string(dir.as_os_str().as_bytes(), |c| {
            // SAFETY: `c` is a valid NUL-terminated path that outlives the
            // call; open only reads it.
            let fd =
                unsafe { libc::open(c.as_ptr(), DIR_ONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
            if fd == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(fd)
        })?;
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let base = Base(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
        if access == Access::CheckExecutable {
            base.access(b".", libc::X_OK)?;
        }
        Ok(base)
    }

    fn dir_fd(&self) -> libc::c_int {
        self.0.as_ref().map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd)
    }

    /// Fails as `execve(path)` would for a missing, non-regular or
    /// non-executable file.
    fn check(&self, path: &[u8], access: Access) -> io::Result<()> {
        with_c_string(path, |c| {
            // SAFETY: an all-zero `stat` is a valid out-parameter.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: `c` is a valid NUL-terminated path and `st` a properly
            // sized out-parameter, both alive for the call; the descriptor
            // is open (or AT_FDCWD).
            if unsafe { libc::fstatat(self.dir_fd(), c.as_ptr(), &mut st, 0) } != 0 {
                return Err(io::Error::last_os_error());
            }
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(io::Error::from_raw_os_error(libc::EACCES));
            }
            if access == Access::CheckExecutable {
                self.access_c(c, libc::X_OK)?;
            }
            Ok(())
        })
    }

    /// `faccessat` with the effective ids, as `execve` and `chdir` check.
    fn access(&self, path: &[u8], mode: libc::c_int) -> io::Result<()> {
        with_c_string(path, |c| self.access_c(c, mode))
    }

    fn access_c(&self, c: &CStr, mode: libc::c_int) -> io::Result<()> {
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call;
        // faccessat only reads it.
        let rc = unsafe { libc::faccessat(self.dir_fd(), c.as_ptr(), mode, libc::AT_EACCESS) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Calls `f` with `bytes` as a C string (nix builds it on the stack when it
/// is short, as std does for its own path arguments: this check runs on
/// every spawn); a NUL byte is what std reports for it.
fn with_c_string<T>(bytes: &[u8], f: impl FnOnce(&CStr) -> io::Result<T>) -> io::Result<T> {
    // `f`'s own result is nested, so nix's error can only be the NUL byte.
    bytes.with_nix_path(f).unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!("ds-resolve-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn file(&self, name: &str, mode: u32) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, b"#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn kind(r: io::Result<OsString>) -> Option<i32> {
        r.err().and_then(|e| e.raw_os_error())
    }

    #[test]
    fn a_nul_byte_is_std_s_error() {
        use std::os::unix::ffi::OsStrExt;
        for (program, cwd) in [(&b"/bin/t\0rue"[..], None), (b"/bin/true", Some("/t\0mp"))] {
            let err = resolve(
                OsStr::from_bytes(program),
                None,
                cwd.map(Path::new),
                Access::CheckExecutable,
            )
            .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert_eq!(err.to_string(), "nul byte found in provided data");
        }
    }

    #[test]
    fn path_lookup_takes_the_first_executable_and_skips_the_rest() {
        let a = TempDir::new("a");
        let b = TempDir::new("b");
        a.file("tool", 0o644); // not executable: remembered, skipped
        let good = b.file("tool", 0o755);
        let path = std::env::join_paths([&a.0, &b.0]).unwrap();
        let got = resolve(
            OsStr::new("tool"),
            Some(&path),
            None,
            Access::CheckExecutable,
        )
        .unwrap();
        assert_eq!(Path::new(&got), good);
    }

    #[test]
    fn eacces_wins_over_enoent_at_the_end_of_the_search() {
        let a = TempDir::new("c");
        a.file("tool", 0o644);
        std::fs::create_dir(a.0.join("dir")).unwrap();
        let path = std::env::join_paths([Path::new("/nonexistent-ds"), &a.0]).unwrap();
        let r = resolve(
            OsStr::new("tool"),
            Some(&path),
            None,
            Access::CheckExecutable,
        );
        assert_eq!(kind(r), Some(libc::EACCES));
        let r = resolve(OsStr::new("dir"), Some(&path), None, Access::ExistenceOnly);
        assert_eq!(kind(r), Some(libc::EACCES));
        let r = resolve(
            OsStr::new("missing"),
            Some(&path),
            None,
            Access::CheckExecutable,
        );
        assert_eq!(kind(r), Some(libc::ENOENT));
    }

    #[test]
    fn paths_are_relative_to_the_child_cwd() {
        let a = TempDir::new("d");
        a.file("tool", 0o755);
        let got = resolve(
            OsStr::new("./tool"),
            None,
            Some(&a.0),
            Access::CheckExecutable,
        );
        assert_eq!(got.unwrap(), "./tool");
        let r = resolve(
            OsStr::new("./tool"),
            None,
            Some(Path::new("/")),
            Access::CheckExecutable,
        );
        assert_eq!(kind(r), Some(libc::ENOENT));
        // An empty PATH entry and "." both mean the child's cwd.
        let got = resolve(
            OsStr::new("tool"),
            Some(OsStr::new(":/x")),
            Some(&a.0),
            Access::CheckExecutable,
        );
        assert_eq!(got.unwrap(), "./tool");
    }

    #[test]
    fn no_path_means_the_libc_default() {
        let got = resolve(OsStr::new("sh"), None, None, Access::CheckExecutable).unwrap();
        assert!(DEFAULT_PATH
            .split(|&b| b == b':')
            .any(|d| Path::new(OsStr::from_bytes(d)).join("sh") == Path::new(&got)));
    }

    #[test]
    fn directories_and_non_executables_are_permission_errors() {
        let a = TempDir::new("e");
        let f = a.file("plain", 0o644);
        let r = resolve(f.as_os_str(), None, None, Access::CheckExecutable);
        assert_eq!(kind(r), Some(libc::EACCES));
        assert!(resolve(f.as_os_str(), None, None, Access::ExistenceOnly).is_ok());
        let r = resolve(a.0.as_os_str(), None, None, Access::ExistenceOnly);
        assert_eq!(kind(r), Some(libc::EACCES));
        let r = resolve(OsStr::new("/dev/null"), None, None, Access::ExistenceOnly);
        assert_eq!(kind(r), Some(libc::EACCES));
    }

    #[test]
    fn an_empty_program_is_enoent_after_the_cwd() {
        let r = resolve(OsStr::new(""), None, None, Access::CheckExecutable);
        assert_eq!(kind(r), Some(libc::ENOENT));
        let a = TempDir::new("f");
        let f = a.file("plain", 0o644);
        // The child enters its cwd before anything else.
        let r = resolve(OsStr::new(""), None, Some(&f), Access::CheckExecutable);
        assert_eq!(kind(r), Some(libc::ENOTDIR));
        let r = resolve(
            OsStr::new("no-such-program-ds"),
            None,
            Some(&a.0.join("missing")),
            Access::ExistenceOnly,
        );
        assert_eq!(kind(r), Some(libc::ENOENT));
    }

    #[test]
    fn a_fruitless_search_ends_with_the_last_error() {
        let a = TempDir::new("g");
        let f = a.file("plain", 0o644);
        let missing = a.0.join("missing");
        let search = |dirs: &[&Path]| {
            let path = std::env::join_paths(dirs).unwrap();
            kind(resolve(
                OsStr::new("tool"),
                Some(&path),
                None,
                Access::CheckExecutable,
            ))
        };
        assert_eq!(search(&[&f]), Some(libc::ENOTDIR));
        assert_eq!(search(&[&missing, &f]), Some(libc::ENOTDIR));
        assert_eq!(search(&[&f, &missing]), Some(libc::ENOENT));
    }

    #[test]
    fn candidates_are_built_as_glibc_builds_them() {
        let a = TempDir::new("h");
        a.file("tool", 0o755);
        a.file("plain", 0o644);
        let mut entry = a.0.clone().into_os_string();
        entry.push("/");
        let got = resolve(
            OsStr::new("tool"),
            Some(&entry),
            None,
            Access::CheckExecutable,
        )
        .unwrap();
        assert_eq!(got.as_bytes(), [entry.as_bytes(), b"/tool"].concat());
        // An entry longer than the capped PATH is tried as an empty entry
        // (glibc) or skipped (musl), and ends the search when it is the last.
        let long = format!("/{}", "x".repeat(4200));
        let path = format!("{long}:/nonexistent-ds");
        let got = resolve(
            OsStr::new("tool"),
            Some(OsStr::new(&path)),
            Some(&a.0),
            Access::CheckExecutable,
        );
        if MUSL {
            assert_eq!(kind(got), Some(libc::ENOENT));
        } else {
            assert_eq!(got.unwrap(), "./tool");
        }
        let path = format!("{}:{long}", a.0.join("plain").display());
        let r = resolve(
            OsStr::new("tool"),
            Some(OsStr::new(&path)),
            Some(&a.0),
            Access::CheckExecutable,
        );
        assert_eq!(kind(r), Some(libc::ENOTDIR));
    }

    #[test]
    fn a_name_longer_than_name_max_is_refused_by_musl_only() {
        // glibc tries each entry (a missing directory is ENOENT); musl
        // refuses the name before searching.
        let name = "n".repeat(NAME_MAX + 1);
        let r = resolve(
            OsStr::new(&name),
            Some(OsStr::new("/nonexistent-ds")),
            None,
            Access::CheckExecutable,
        );
        let expected = if MUSL {
            libc::ENAMETOOLONG
        } else {
            libc::ENOENT
        };
        assert_eq!(kind(r), Some(expected));
    }

    #[test]
    fn relative_programs_are_checked_from_the_cwd_itself() {
        // A cwd and a relative program whose joined length exceeds PATH_MAX.
        let a = TempDir::new("i");
        let mut deep = a.0.clone();
        for _ in 0..10 {
            deep.push("d".repeat(240));
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("tool"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(deep.join("tool"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let program = format!("{}tool", "./".repeat(1100));
        let got = resolve(
            OsStr::new(&program),
            None,
            Some(&deep),
            Access::CheckExecutable,
        );
        assert_eq!(got.unwrap(), OsStr::new(&program));
    }

    #[test]
    fn with_another_uid_a_found_bare_name_is_left_to_the_stub() {
        let a = TempDir::new("j");
        a.file("tool", 0o700);
        let path = a.0.as_os_str();
        let got = resolve(OsStr::new("tool"), Some(path), None, Access::ExistenceOnly);
        assert_eq!(got.unwrap(), "tool");
        let r = resolve(OsStr::new("gone"), Some(path), None, Access::ExistenceOnly);
        assert_eq!(kind(r), Some(libc::ENOENT));
    }

    #[test]
    fn with_another_uid_the_checks_are_made_as_that_uid() {
        // SAFETY: geteuid cannot fail and touches no memory.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: switching ids needs root");
            return;
        }
        let a = TempDir::new("k");
        let closed = a.0.join("closed");
        let open = a.0.join("open");
        for dir in [&closed, &open] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("tool"), b"#!/bin/sh\n").unwrap();
            std::fs::set_permissions(dir.join("tool"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let nobody = Access::As {
            uid: Some(65534),
            gid: Some(65534),
        };
        let both = std::env::join_paths([&closed, &open]).unwrap();
        let got = resolve(OsStr::new("tool"), Some(&both), None, nobody).unwrap();
        assert_eq!(Path::new(&got), open.join("tool"));
        let only_closed = closed.as_os_str();
        let r = resolve(OsStr::new("tool"), Some(only_closed), None, nobody);
        assert_eq!(kind(r), Some(libc::EACCES));
        let r = resolve(closed.join("tool").as_os_str(), None, None, nobody);
        assert_eq!(kind(r), Some(libc::EACCES));
        let r = resolve(OsStr::new("./tool"), None, Some(&closed), nobody);
        assert_eq!(kind(r), Some(libc::EACCES), "the child's chdir");
        // A gid alone leaves root root; and this thread was never changed.
        let root_gid = Access::As {
            uid: None,
            gid: Some(65534),
        };
        let got = resolve(OsStr::new("tool"), Some(only_closed), None, root_gid).unwrap();
        assert_eq!(Path::new(&got), closed.join("tool"));
        let got = resolve(
            OsStr::new("tool"),
            Some(only_closed),
            None,
            Access::CheckExecutable,
        )
        .unwrap();
        assert_eq!(Path::new(&got), closed.join("tool"));
    }
}
