//! Finding the target's executable the way a direct spawn would.
//!
//! The parent resolves the program before it starts the stub, for two
//! reasons: `spawn()` must fail with the same error kind a direct spawn
//! returns (`NotFound`, `PermissionDenied`) instead of starting a stub that
//! then exits, and the stub must do no searching of its own (it receives a
//! path it can `execv` at once).
//!
//! The rules are those of glibc's `posix_spawnp`/`execvp`, which std uses:
//! - a program containing `/` is a path, relative to the child's working
//!   directory (std and glibc change directory before `exec`);
//! - otherwise every entry of the child's `PATH` is tried in order, an empty
//!   entry meaning the working directory; a candidate that exists but cannot
//!   be executed is remembered and the search goes on; the search fails with
//!   `EACCES` if such a candidate was seen, else with `ENOENT`;
//! - without a `PATH` the default search path of the C library is used.
//!
//! Errors are `io::Error::from_raw_os_error`, so they compare equal in kind
//! *and* raw OS error with what a direct spawn returns.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::libc;

/// The search path `execvp` uses when the environment has no `PATH`.
#[cfg(target_env = "musl")]
pub(crate) const DEFAULT_PATH: &str = "/usr/local/bin:/bin:/usr/bin";
/// The search path `execvp` uses when the environment has no `PATH`.
#[cfg(not(target_env = "musl"))]
pub(crate) const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Whether to check execute permission for the parent's effective ids.
/// When the command switches uid or gid the child's permissions differ, so
/// only existence and file type are checked; `exec` in the stub decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    CheckExecutable,
    ExistenceOnly,
}

/// Resolves `program` to a path the stub can execute without searching.
///
/// `path_var` is the child's `PATH` (`None`: the child has none), `cwd` the
/// child's working directory (`None`: the parent's). The returned path is
/// interpreted relative to the child's working directory, exactly as the
/// stub (which runs there) will interpret it.
pub(crate) fn resolve(
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: Option<&Path>,
    access: Access,
) -> io::Result<OsString> {
    if program.as_bytes().contains(&b'/') {
        check(&in_cwd(cwd, Path::new(program)), access)?;
        return Ok(program.to_owned());
    }
    let search = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut saw_eacces = false;
    for dir in search.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() { b"." } else { dir };
        let candidate = Path::new(OsStr::from_bytes(dir)).join(program);
        match check(&in_cwd(cwd, &candidate), access) {
            Ok(()) => return Ok(candidate.into_os_string()),
            Err(e) => match e.raw_os_error() {
                Some(libc::EACCES) => saw_eacces = true,
                Some(
                    libc::ENOENT | libc::ESTALE | libc::ENOTDIR | libc::ENODEV | libc::ETIMEDOUT,
                ) => {}
                _ => return Err(e),
            },
        }
    }
    Err(io::Error::from_raw_os_error(if saw_eacces {
        libc::EACCES
    } else {
        libc::ENOENT
    }))
}

fn in_cwd(cwd: Option<&Path>, path: &Path) -> PathBuf {
    match cwd {
        Some(dir) => dir.join(path),
        None => path.to_owned(),
    }
}

/// Fails as `execve(path)` would for a missing, non-regular or
/// non-executable file.
fn check(path: &Path, access: Access) -> io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(io::Error::from_raw_os_error(libc::EACCES));
    }
    if access == Access::CheckExecutable {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call;
        // faccessat only reads it.
        let rc =
            unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::X_OK, libc::AT_EACCESS) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
            .split(':')
            .any(|d| Path::new(d).join("sh") == Path::new(&got)));
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
}
