//! Loading the embedded stub: once per process, into a sealed memfd, proved
//! by one probe spawn.
//!
//! The embedded stub (`stubs/embedded/main.rs`, a static executable of a
//! few KB) is written into an anonymous memory file, sealed, and started as
//! `/proc/self/fd/N`. It costs a double spawn almost nothing (no dynamic
//! loading, no C library or std start-up, whatever the size of the host
//! binary), and it serves hosts that cannot be their own stub: a crate
//! inside a shared library loaded by another program, a setuid binary, a
//! binary that never calls `init()`.
//!
//! # Why it is opt-in
//!
//! Executing a program from a memfd is what fileless malware does, and host
//! security tools look for it: Falco's rule "Fileless execution via
//! memfd_create" is rated CRITICAL, AWS GuardDuty and other runtime monitors
//! match it too (runc shipped a memfd stub and withdrew it after one
//! release). A program that double spawns through the embedded stub raises
//! such an alert on every spawn, so only its user can choose it
//! (`Stub::Embedded`, `DOUBLE_SPAWN=embedded`).
//!
//! Some environments refuse it outright: `vm.memfd_noexec=2` (memfds cannot
//! be executable), seccomp profiles that deny `memfd_create` (EPERM) or
//! `execve` of it, confined SELinux domains (EACCES), qemu-user through
//! binfmt_misc (the emulator is handed a path that names a close-on-exec
//! descriptor the `exec` already closed), no `/proc` (ENOENT). The first use
//! therefore probes the route with one real spawn, and any refusal makes
//! the stub unavailable for the life of the process, with the reason
//! ([`Unavailable`]), which the caller reports once before it takes the
//! next route.
//!
//! # Why it is safe to obey
//!
//! The stub has no path outside the spawning process: the memfd lives in
//! this process's descriptor table only (close-on-exec, so no child or
//! target inherits it), `/proc/self/fd/N` names it only for this process and
//! its children before their `exec`, and the stub acts only when started by
//! exactly such a name (`protocol::trusted_exec_name`). Another user cannot
//! reach it, nor can a shell or `sudo` replaying its arguments.
//!
//! # The descriptor
//!
//! `memfd_create` with close-on-exec, sealing allowed and `MFD_EXEC` (asked
//! for explicitly where the kernel knows it, so that `vm.memfd_noexec=1`
//! does not make it non-executable and newer kernels do not warn), retried
//! without `MFD_EXEC` on older kernels (EINVAL). The stub is written, then
//! sealed against writes, shrinking, growing and further seals, so nothing
//! can change what the path runs. The descriptor is moved out of 0-2 (a
//! process with closed standard descriptors would otherwise get one of
//! them, and a spawn's stdio set-up would overwrite it) and is never
//! reopened writable (an open writer makes `execve` fail with ETXTBSY).
//! Before every use the loader checks that descriptor N is still this memfd
//! (device and inode, one `fstat`): a caller that closed or replaced that
//! number gets a new memfd loaded, never a spawn of whatever now sits at N.
//! (A thread that replaces it in the microseconds between that check and the
//! spawn's `exec` is closing a descriptor it does not own, which Rust's I/O
//! safety rules already forbid.)

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use nix::libc;

use super::stubs;
use super::Guard;
use crate::protocol::{Flags, MARKER};

/// Why the embedded stub cannot be used in this process. `Display` gives a
/// short reason for the warning and for `Route`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// `memfd_create` failed with this `errno` (EPERM from seccomp, ENOSYS
    /// before Linux 3.17, EACCES with `vm.memfd_noexec=2`).
    Create(i32),
    /// Writing or sealing the memfd failed with this `errno`.
    Load(i32),
    /// The probe spawn's `exec` of `/proc/self/fd/N` failed with this
    /// `errno` (ENOENT without `/proc`, EACCES from a security module,
    /// EPERM from seccomp).
    Exec(i32),
    /// The probe ran but did not end as the stub would have: the exit code
    /// it ended with, or the negated signal that killed it (qemu-user
    /// emulation, a security tool killing it).
    Probe(i32),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = |e: i32| io::Error::from_raw_os_error(e);
        match *self {
            Unavailable::Create(e) => write!(f, "memfd_create failed: {}", os(e)),
            Unavailable::Load(e) => write!(f, "loading the memfd failed: {}", os(e)),
            Unavailable::Exec(e) => write!(f, "executing the memfd failed: {}", os(e)),
            Unavailable::Probe(code) if code < 0 => {
                write!(f, "the probe spawn was killed by signal {}", -code)
            }
            Unavailable::Probe(code) => write!(
                f,
                "the probe spawn exited with {code}, not {PROBE_EXIT_CODE}"
            ),
        }
    }
}

/// The exit code the probe's stub must end with: its target cannot be
/// executed (`/` is a directory: EACCES), and the flags ask for this code.
const PROBE_EXIT_CODE: u8 = 86;

const MFD_CLOEXEC: libc::c_uint = 0x1;
const MFD_ALLOW_SEALING: libc::c_uint = 0x2;
/// Linux 6.3: ask for an executable memfd explicitly.
const MFD_EXEC: libc::c_uint = 0x10;

/// The loaded stub: descriptor, identity and path.
#[derive(Clone, Copy, Debug)]
struct Loaded {
    fd: RawFd,
    dev: u64,
    ino: u64,
    path: &'static Path,
}

/// `None` until the first use; then the loaded stub, or why there is none
/// for the life of the process.
static STATE: Mutex<Option<Result<Loaded, Unavailable>>> = Mutex::new(None);

/// The path the embedded stub is started by, `/proc/self/fd/N`; the first
/// call loads and probes it (one spawn), later calls check that descriptor
/// N is still the stub (one `fstat`) and load it again if a caller closed or
/// replaced it.
pub(crate) fn embedded_stub() -> Result<&'static Path, Unavailable> {
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    match *state {
        Some(Ok(loaded)) if loaded.is_intact() => return Ok(loaded.path),
        Some(Err(why)) => return Err(why),
        // Proven in this process; only the descriptor is gone.
        Some(Ok(_)) => *state = Some(load()),
        None => *state = Some(load().and_then(probe)),
    }
    match *state {
        Some(Ok(loaded)) => {
            #[cfg(feature = "tracing")]
            tracing::debug!(path = %loaded.path.display(), "embedded stub loaded");
            Ok(loaded.path)
        }
        Some(Err(why)) => Err(why),
        None => unreachable!("just set"),
    }
}

impl Loaded {
    /// Whether descriptor `fd` is still this memfd, close-on-exec.
    fn is_intact(&self) -> bool {
        let Some((dev, ino)) = identity(self.fd) else {
            return false;
        };
        if (dev, ino) != (self.dev, self.ino) {
            return false;
        }
        // SAFETY: F_GETFD/F_SETFD on a descriptor this module owns only
        // read and set its close-on-exec flag.
        unsafe {
            let flags = libc::fcntl(self.fd, libc::F_GETFD);
            if flags == -1 {
                return false;
            }
            if flags & libc::FD_CLOEXEC == 0 {
                // Someone cleared it: targets must never inherit the stub.
                return libc::fcntl(self.fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) == 0;
            }
        }
        true
    }
}

/// The device and inode behind `fd`.
fn identity(fd: RawFd) -> Option<(u64, u64)> {
    // SAFETY: fstat only fills `st`, a properly sized out-parameter.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some((st.st_dev, st.st_ino))
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Creates, fills and seals the memfd.
fn load() -> Result<Loaded, Unavailable> {
    let name = b"double-spawn-stub\0";
    let create = |flags: libc::c_uint| {
        // SAFETY: memfd_create takes a NUL-terminated name and flags and
        // returns a new descriptor or -1. (The raw call, not glibc's
        // wrapper, which glibc before 2.27 lacks.)
        unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), flags) as RawFd }
    };
    let mut fd = create(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if fd == -1 && errno() == libc::EINVAL {
        fd = create(MFD_CLOEXEC | MFD_ALLOW_SEALING);
    }
    if fd == -1 {
        return Err(Unavailable::Create(errno()));
    }
    if fd <= 2 {
        // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor >= 3; the low one
        // was created above and is owned by nobody else.
        let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        let e = errno();
        // SAFETY: as above.
        unsafe { libc::close(fd) };
        if high == -1 {
            return Err(Unavailable::Create(e));
        }
        fd = high;
    }
    // SAFETY: `fd` was just created and is owned by nobody else; the File
    // closes it if loading fails.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(stubs::EMBEDDED)
        .map_err(|e| Unavailable::Load(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: F_ADD_SEALS on our memfd only restricts it.
    if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } == -1 {
        return Err(Unavailable::Load(errno()));
    }
    let (dev, ino) = identity(fd).ok_or_else(|| Unavailable::Load(errno()))?;
    let fd = file.into_raw_fd(); // kept for the life of the process
    let path = PathBuf::from(format!("/proc/self/fd/{fd}"));
    Ok(Loaded {
        fd,
        dev,
        ino,
        path: Box::leak(path.into_boxed_path()),
    })
}

/// Proves the route with one spawn of the stub whose target cannot be
/// executed: only the stub itself, run to its end, exits with
/// `PROBE_EXIT_CODE`. On failure the memfd is closed again.
fn probe(loaded: Loaded) -> Result<Loaded, Unavailable> {
    let result = probe_spawn(loaded.path);
    if result.is_err() {
        // SAFETY: the descriptor is ours and no spawn uses it any more.
        unsafe { libc::close(loaded.fd) };
    }
    result.map(|()| loaded)
}

fn probe_spawn(path: &Path) -> Result<(), Unavailable> {
    let flags = Flags {
        // The probe keeps SIGTSTP blocked (the guard's): it cannot stop.
        unblock_tstp: false,
        exec_failed: PROBE_EXIT_CODE,
        ..Flags::DEFAULT
    };
    let mut cmd = Command::new(path);
    cmd.arg0(flags.to_arg0().as_str())
        .args([MARKER, "/", "/"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let spawned = {
        // The probe is itself a spawn: a SIGTSTP during it must not hang
        // this process either.
        let _guard = Guard::block_sigtstp().map_err(|e| Unavailable::Exec(os_code(&e)))?;
        cmd.spawn()
    };
    let mut child = spawned.map_err(|e| Unavailable::Exec(os_code(&e)))?;
    let status = child.wait().map_err(|e| Unavailable::Exec(os_code(&e)))?;
    match (status.code(), status.signal()) {
        (Some(code), _) if code == i32::from(PROBE_EXIT_CODE) => Ok(()),
        (Some(code), _) => Err(Unavailable::Probe(code)),
        (None, Some(sig)) => Err(Unavailable::Probe(-sig)),
        (None, None) => Err(Unavailable::Probe(-1)),
    }
}

fn os_code(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_well() {
        assert_eq!(
            Unavailable::Create(libc::EPERM).to_string(),
            "memfd_create failed: Operation not permitted (os error 1)"
        );
        assert_eq!(
            Unavailable::Probe(-9).to_string(),
            "the probe spawn was killed by signal 9"
        );
        assert_eq!(
            Unavailable::Probe(1).to_string(),
            "the probe spawn exited with 1, not 86"
        );
    }
}
