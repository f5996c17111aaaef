//! Loading the embedded stub: once per process, into a sealed memfd; the
//! first real spawn through it is its proof.
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
//! # Refusals, and how each is found
//!
//! Some environments refuse it. Each refusal is found by the kernel itself,
//! at the step where it happens, and none needs a spawn of its own:
//!
//! - `vm.memfd_noexec=2` (EACCES) and seccomp profiles that deny
//!   `memfd_create` (EPERM): `memfd_create` fails while loading
//!   ([`Unavailable::Create`]).
//! - No `/proc` (ENOENT), confined SELinux domains (EACCES), seccomp
//!   profiles that deny `execve` of it (EPERM), a kernel that cannot run the
//!   stub's machine code (ENOEXEC): the `exec` of `/proc/self/fd/N` fails,
//!   and that is the error of the first real spawn through the stub. Until
//!   one such spawn has succeeded the route is *unproven*: a spawn that
//!   fails with one of these errors ([`refusal`]) is made again at once on
//!   the next route (the current executable, or direct); if that succeeds,
//!   the exec of the memfd was what failed, the stub is unavailable for the
//!   life of the process ([`Unavailable::Exec`]) and the caller, who sees
//!   only the working spawn, is told once. If the next route fails too, the
//!   error was the command's own (a working directory that does not exist
//!   fails in the stub's process as in a direct spawn's) and is returned;
//!   the stub stays unproven. The first successful spawn proves the route:
//!   later errors are the command's and are never retried.
//! - qemu-user through binfmt_misc: the kernel hands the emulator the path
//!   `/proc/self/fd/N`, which names a close-on-exec descriptor the `exec`
//!   has already closed, so the `exec` succeeds and the emulator then fails
//!   to open the path: an exit status, not a spawn error, which no real
//!   spawn can tell from its target's. That can happen only in a process
//!   that is itself emulated (the stub is built for the process's own
//!   machine, and no binfmt_misc entry takes over the kernel's native
//!   executables), so the loader reads the kernel's machine
//!   (`/proc/sys/kernel/arch`, Linux 6.1; one read, which an emulator does
//!   not rewrite as it rewrites `uname`) and compares it with the machines
//!   this build runs natively on. Only where they differ, or the file
//!   cannot be read, does the first use prove the stub with one probe spawn
//!   as before: a spawn of the stub whose target cannot be executed, which
//!   only the stub itself, run to its end, answers with `PROBE_EXIT_CODE`
//!   ([`Unavailable::Probe`]).
//! - A stub-form command (`DoubleSpawn::std_command`) names the stub as its
//!   program and is spawned as it is: it cannot be made again on another
//!   route (std shows neither its `pre_exec` closures nor its stdio), so it
//!   is only built for a proven stub, and building one on an unproven stub
//!   runs the probe (`embedded_stub_proven`).
//!
//! `DoubleSpawn::route()` spawns nothing: it names the embedded route while
//! the stub is loaded and not refused.
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
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

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
    /// Executing `/proc/self/fd/N` failed with this `errno` (ENOENT without
    /// `/proc`, EACCES from a security module, EPERM from seccomp, ENOEXEC
    /// from a kernel of another machine), in a real spawn that then worked
    /// on the next route, or in the probe.
    Exec(i32),
    /// The probe ran but did not end as the stub would have: the exit code
    /// it ended with, or the negated signal that killed it (qemu-user
    /// emulation, a security tool killing it).
    Probe(i32),
    /// Not refused: a spawn through the unproven stub failed as a refusal
    /// would, and is being made again on the next route, which says whose
    /// error it was. Other spawns meanwhile take the next route too, and
    /// nothing is reported.
    Suspected,
}

impl Unavailable {
    /// Whether the caller reports it (all but [`Unavailable::Suspected`]).
    pub(crate) fn is_reported(self) -> bool {
        self != Unavailable::Suspected
    }
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
            Unavailable::Suspected => f.write_str("a spawn through it is being retried"),
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

/// The loader's state for the life of the process.
#[derive(Clone, Copy, Debug)]
enum State {
    /// Nothing tried yet.
    Empty,
    /// Loaded; `proven` once a spawn through it succeeded (or the probe).
    Ready { loaded: Loaded, proven: bool },
    /// A spawn through the unproven stub failed with `errno`, and is being
    /// made again on the next route (see `Suspicion`).
    Suspect { loaded: Loaded, errno: i32 },
    /// Unavailable for the life of the process.
    Refused(Unavailable),
}

static STATE: Mutex<State> = Mutex::new(State::Empty);

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The path the embedded stub is started by, `/proc/self/fd/N`. The first
/// call loads it (no spawn, except the probe where the process may be
/// emulated: see the module docs); later calls check that descriptor N is
/// still the stub (one `fstat`) and load it again if a caller closed or
/// replaced it.
pub(crate) fn embedded_stub() -> Result<&'static Path, Unavailable> {
    stub(false)
}

/// As [`embedded_stub`], for a command that names the stub and cannot be
/// made again on another route (stub form): an unproven stub is proved by
/// the probe first.
pub(crate) fn embedded_stub_proven() -> Result<&'static Path, Unavailable> {
    stub(true)
}

fn stub(need_proof: bool) -> Result<&'static Path, Unavailable> {
    let mut state = state();
    let next = match *state {
        State::Ready { loaded, proven } if loaded.is_intact() && (proven || !need_proof) => {
            return Ok(loaded.path)
        }
        State::Ready { loaded, proven } if loaded.is_intact() => {
            debug_assert!(!proven);
            prove(loaded)
        }
        // Only the descriptor is gone: load it again, keeping what is known.
        State::Ready { proven, .. } => match load() {
            Ok(loaded) if proven || !need_proof => State::Ready { loaded, proven },
            Ok(loaded) => prove(loaded),
            Err(why) => State::Refused(why),
        },
        State::Suspect { .. } => return Err(Unavailable::Suspected),
        State::Refused(why) => return Err(why),
        State::Empty => match load() {
            Ok(loaded) if need_proof || !runs_natively() => prove(loaded),
            Ok(loaded) => State::Ready {
                loaded,
                proven: false,
            },
            Err(why) => State::Refused(why),
        },
    };
    *state = next;
    match next {
        State::Ready { loaded, .. } => {
            #[cfg(feature = "tracing")]
            tracing::debug!(path = %loaded.path.display(), "embedded stub loaded");
            Ok(loaded.path)
        }
        State::Refused(why) => Err(why),
        State::Empty | State::Suspect { .. } => unreachable!("just set"),
    }
}

/// The probe's verdict on `loaded`, as the next state.
fn prove(loaded: Loaded) -> State {
    match probe(loaded) {
        Ok(loaded) => State::Ready {
            loaded,
            proven: true,
        },
        Err(why) => State::Refused(why),
    }
}

/// The `errno` values with which the kernel refuses to execute the memfd
/// (see the module docs); other spawn errors (EAGAIN, ENOMEM, EMFILE) are
/// not about the stub and are returned as they are.
pub(crate) fn refusal(err: &io::Error) -> Option<i32> {
    err.raw_os_error()
        .filter(|e| [libc::EACCES, libc::EPERM, libc::ENOENT, libc::ENOEXEC].contains(e))
}

/// Records that a spawn through the stub succeeded: the route is proven
/// (and, if another thread's failed spawn had made it a suspect, cleared:
/// that error was the command's).
pub(crate) fn spawned() {
    let mut state = state();
    if let State::Ready {
        loaded,
        proven: false,
    }
    | State::Suspect { loaded, .. } = *state
    {
        *state = State::Ready {
            loaded,
            proven: true,
        };
    }
}

/// A spawn through the stub failed with `err`. Unless the stub is proven,
/// an error a refusal gives makes the spawn one to make again on the next
/// route (the stub a suspect meanwhile): the returned [`Suspicion`] settles
/// it. A spawn another thread prepared before the stub became a suspect, or
/// was refused, is made again too.
pub(crate) fn failed(err: &io::Error) -> Option<Suspicion> {
    let errno = refusal(err)?;
    let mut state = state();
    match *state {
        State::Ready { proven: true, .. } | State::Empty => None,
        State::Ready { loaded, .. } => {
            *state = State::Suspect { loaded, errno };
            Some(Suspicion {
                owner: true,
                settled: false,
            })
        }
        State::Suspect { .. } | State::Refused(_) => Some(Suspicion {
            owner: false,
            settled: false,
        }),
    }
}

/// A failed spawn through the unproven stub, being made again on the next
/// route. [`Suspicion::confirm`] after that spawn succeeded makes the stub
/// unavailable and returns the reason to report once; dropped without it
/// (the next route failed too, or could not be prepared), the stub is
/// clear again, still unproven. Only the suspicion that made the stub a
/// suspect (its `owner`) settles it.
#[derive(Debug)]
pub(crate) struct Suspicion {
    owner: bool,
    settled: bool,
}

impl Suspicion {
    /// The spawn on the next route worked: the exec of the memfd was what
    /// failed. Returns the reason, unless another spawn proved the stub in
    /// the meantime (or this is not the suspicion that made it a suspect).
    pub(crate) fn confirm(mut self) -> Option<Unavailable> {
        self.settled = true;
        if !self.owner {
            return None;
        }
        let mut state = state();
        match *state {
            State::Suspect { errno, .. } => {
                // The descriptor stays open: a spawn another thread prepared
                // before the suspicion may still name it, and must fail as
                // this one did rather than run whatever a reused number
                // would hold.
                let why = Unavailable::Exec(errno);
                *state = State::Refused(why);
                Some(why)
            }
            _ => None,
        }
    }
}

impl Drop for Suspicion {
    fn drop(&mut self) {
        if self.settled || !self.owner {
            return;
        }
        let mut state = state();
        if let State::Suspect { loaded, .. } = *state {
            *state = State::Ready {
                loaded,
                proven: false,
            };
        }
    }
}

/// Whether this process runs natively on the kernel, so that no binfmt_misc
/// emulator can be handed the stub (see the module docs): the kernel's
/// machine, `/proc/sys/kernel/arch`, is one this build's code runs on
/// natively. Unknown (no such file before Linux 6.1, no `/proc`) is `false`.
fn runs_natively() -> bool {
    let mut arch = [0u8; 32];
    let Ok(n) = File::open("/proc/sys/kernel/arch").and_then(|mut f| f.read(&mut arch)) else {
        return false;
    };
    let kernel = arch[..n].strip_suffix(b"\n").unwrap_or(&arch[..n]);
    native_on(kernel)
}

/// Whether code built for this target runs natively on a kernel whose
/// machine is `kernel` (as `uname -m` spells it).
fn native_on(kernel: &[u8]) -> bool {
    let ours: &[&[u8]] = if cfg!(target_arch = "x86_64") {
        &[b"x86_64"]
    } else if cfg!(target_arch = "x86") {
        // On an x86_64 kernel only with IA32 emulation: probe there.
        &[b"i386", b"i486", b"i586", b"i686"]
    } else if cfg!(target_arch = "aarch64") {
        &[b"aarch64", b"aarch64_be", b"arm64"]
    } else if cfg!(target_arch = "arm") {
        // An aarch64 kernel runs 32-bit Arm code only with COMPAT, which
        // not every one has: probe there.
        &[b"armv6l", b"armv7l", b"armv8l", b"arm"]
    } else if cfg!(target_arch = "riscv64") {
        &[b"riscv64"]
    } else if cfg!(target_arch = "powerpc64") {
        &[b"ppc64", b"ppc64le"]
    } else if cfg!(target_arch = "s390x") {
        &[b"s390x"]
    } else if cfg!(target_arch = "loongarch64") {
        &[b"loongarch64"]
    } else {
        &[]
    };
    ours.contains(&kernel)
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
/// `PROBE_EXIT_CODE`. On failure the memfd stays open (another thread may
/// hold its path from before the probe; its spawn then fails as the probe's
/// did, instead of running whatever a reused number would hold).
fn probe(loaded: Loaded) -> Result<Loaded, Unavailable> {
    probe_spawn(loaded.path).map(|()| loaded)
}

fn probe_spawn(path: &Path) -> Result<(), Unavailable> {
    let flags = Flags {
        // The probe keeps the stop signals blocked (the guard's): it cannot
        // stop.
        unblock_stops: [false; 3],
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
        let _guard = Guard::block_stop_signals().map_err(|e| Unavailable::Exec(os_code(&e)))?;
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

    #[test]
    fn only_refusals_are_retried() {
        for e in [libc::EACCES, libc::EPERM, libc::ENOENT, libc::ENOEXEC] {
            assert_eq!(refusal(&io::Error::from_raw_os_error(e)), Some(e));
        }
        for e in [libc::EAGAIN, libc::ENOMEM, libc::EMFILE, libc::E2BIG] {
            assert_eq!(refusal(&io::Error::from_raw_os_error(e)), None);
        }
        assert_eq!(refusal(&io::Error::other("no errno")), None);
    }

    #[test]
    fn the_kernels_machine_decides_whether_to_probe() {
        #[cfg(target_arch = "x86_64")]
        let (native, foreign): (&[u8], &[u8]) = (b"x86_64", b"aarch64");
        #[cfg(target_arch = "aarch64")]
        let (native, foreign): (&[u8], &[u8]) = (b"aarch64", b"x86_64");
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            assert!(native_on(native));
            assert!(!native_on(foreign));
        }
        assert!(!native_on(b""));
        // This machine: the file exists from Linux 6.1 and is not emulated
        // where the tests run natively; either way it is read without error.
        let _ = runs_natively();
    }
}
