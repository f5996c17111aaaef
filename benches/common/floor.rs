//! The floor program (`floor/main.rs`, built by `build.rs`): a static stub
//! that only unblocks SIGTSTP and `exec`s its `argv[1]`. A route's overhead
//! over a direct spawn, divided by the floor's, says how far the route is
//! from the least a stub can cost.
//!
//! It is started as the crate starts its stubs: with SIGTSTP blocked on the
//! spawning thread around `spawn()` (`double_spawn::SigtstpGuard`), from a
//! sealed memfd (`/proc/self/fd/N`, as `Stub::Embedded`) or from the
//! regular file `build.rs` wrote.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use double_spawn::SigtstpGuard;
use nix::libc;

use super::TRUE;

/// The floor program's bytes and the file `build.rs` wrote them to, or why
/// there is none for this target.
#[cfg(floor_stub)]
fn built() -> Result<(&'static [u8], &'static Path), String> {
    Ok((
        include_bytes!(env!("FLOOR_STUB")),
        Path::new(env!("FLOOR_STUB")),
    ))
}

#[cfg(not(floor_stub))]
fn built() -> Result<(&'static [u8], &'static Path), String> {
    Err(env!("FLOOR_STUB_LOG").to_owned())
}

/// The floor in a sealed memfd, `/proc/self/fd/N`, loaded and tried once;
/// else prints once why not and returns `None`.
pub fn memfd() -> Option<&'static Path> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        report(
            "floor (memfd)",
            built().and_then(|(bytes, _)| load(bytes).map_err(|e| e.to_string())),
        )
    })
    .as_deref()
}

/// The floor as the regular file `build.rs` wrote, tried once; else prints
/// once why not and returns `None`.
pub fn file() -> Option<&'static Path> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| report("floor (file)", built().map(|(_, p)| p.to_owned())))
        .as_deref()
}

/// `path` if one spawn of it through the floor runs `/bin/true`; else
/// prints why not.
fn report(what: &str, path: Result<PathBuf, String>) -> Option<PathBuf> {
    let tried = path.and_then(|p| {
        let status = blocked_spawn(&mut command(&p))
            .and_then(|mut c| c.wait())
            .map_err(|e| format!("{}: {e}", p.display()))?;
        if status.success() {
            Ok(p)
        } else {
            Err(format!("{}: {status}", p.display()))
        }
    });
    tried
        .map_err(|why| println!("{what}: unavailable ({why})"))
        .ok()
}

/// A command that runs `/bin/true` through the floor at `path`.
pub fn command(path: &Path) -> Command {
    let mut cmd = Command::new(path);
    cmd.arg(TRUE);
    cmd
}

/// `cmd.spawn()` with SIGTSTP blocked on this thread, as a double spawn
/// makes it.
fn blocked_spawn(cmd: &mut Command) -> io::Result<std::process::Child> {
    let _guard = SigtstpGuard::new()?;
    cmd.spawn()
}

/// One spawn + wait through the floor, which must succeed.
pub fn std_once(cmd: &mut Command) {
    std_once_split(cmd);
}

/// As `std_once`; returns the time inside `spawn()` and after it, as
/// `common::std_once_split`.
pub fn std_once_split(cmd: &mut Command) -> (std::time::Duration, std::time::Duration) {
    let start = std::time::Instant::now();
    let child = blocked_spawn(cmd).expect("spawn");
    let spawned = std::time::Instant::now();
    let status = { child }.wait().expect("wait");
    let waited = spawned.elapsed();
    assert!(status.success(), "{cmd:?}: {status}");
    (spawned - start, waited)
}

/// One spawn + wait through the floor with tokio, which must succeed.
pub async fn tokio_once(cmd: &mut tokio::process::Command) {
    let child = {
        let _guard = SigtstpGuard::new().expect("block SIGTSTP");
        cmd.spawn()
    };
    let status = child.expect("spawn").wait().await.expect("wait");
    assert!(status.success(), "{cmd:?}: {status}");
}

/// Writes `bytes` into a new memfd, seals it and keeps it open for the life
/// of the process (close-on-exec: no child inherits it).
fn load(bytes: &[u8]) -> io::Result<PathBuf> {
    const MFD_CLOEXEC: libc::c_uint = 0x1;
    const MFD_ALLOW_SEALING: libc::c_uint = 0x2;
    const MFD_EXEC: libc::c_uint = 0x10;
    let name = b"double-spawn-floor\0";
    let create = |flags: libc::c_uint| {
        // SAFETY: memfd_create takes a NUL-terminated name and flags and
        // returns a new descriptor or -1.
        unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), flags) as libc::c_int }
    };
    let mut fd = create(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if fd == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // Before Linux 6.3.
        fd = create(MFD_CLOEXEC | MFD_ALLOW_SEALING);
    }
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(bytes)?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: F_ADD_SEALS on our memfd only restricts it.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } == -1 {
        return Err(io::Error::last_os_error());
    }
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    std::mem::forget(file); // kept for the life of the process
    Ok(path)
}
