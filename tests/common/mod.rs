//! Shared pieces of the integration tests.
//!
//! On glibc every binary that links the crate is a stub host (the crate's
//! ELF constructor), so most test files use the standard harness. The few
//! with a `main` of their own (see Cargo.toml for why each) run their tests
//! with [`run_tests`], on libtest-mimic.

#![allow(dead_code)] // each test binary uses a different part of this module

/// The supervisor tests' pieces: roles in sessions of their own, a
/// pseudo-terminal, a toy job-control shell's waits.
pub mod supervisor;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::RawFd;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use nix::libc;

/// A named test of a binary with its own `main` (`harness = false`).
pub struct Test {
    pub name: &'static str,
    pub run: fn(),
}

/// Runs `tests` with libtest-mimic, which reads the command line as libtest
/// does (name filters, `--exact`, `--list`, `--ignored`, `--nocapture`,
/// `--format`), prints libtest's lines and summary, and exits 101 on any
/// failure (a panicking test fails). `_binary`, the binary's name, is
/// libtest's business now (kept so that callers need not change).
///
/// One at a time unless `--test-threads` says otherwise, on the main thread:
/// these binaries keep their own `main` because their tests change or
/// depend on process-wide state (signal dispositions, descriptors without
/// close-on-exec, sessions), which concurrent tests would disturb.
pub fn run_tests(_binary: &str, tests: &[Test]) -> ! {
    let mut args = libtest_mimic::Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    let trials = tests
        .iter()
        .map(|t| {
            let run = t.run;
            libtest_mimic::Trial::test(t.name, move || {
                run();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

/// Whether this standard-harness test binary is a stub host, as the tests
/// that call this assume: with glibc the crate's ELF constructor makes it
/// one without `init()`. With other C libraries (musl) there is no such
/// constructor and libtest's `main` never calls `init()`, so its double
/// spawns would be direct and the test would prove nothing: this says so
/// on stdout and returns false, and the caller skips. (The binaries with a
/// `main` of their own call `init()` and run everywhere.)
pub fn stub_host_without_init(test: &str) -> bool {
    if cfg!(target_env = "gnu") {
        return true;
    }
    println!(
        "{test}: skipped: musl: this binary has no ELF constructor, so it is not a stub \
         host without init()"
    );
    false
}

// ---------------------------------------------------------------------------
// The probe: what a child inherited.
// ---------------------------------------------------------------------------

/// Environment variable naming the file the probe writes its report to
/// (stdout when unset).
pub const PROBE_OUT: &str = "DS_PROBE_OUT";

/// When `argv[1]` is `probe`, writes the report and exits.
pub fn probe_if_requested() {
    if std::env::args_os().nth(1).as_deref() != Some(OsStr::new("probe")) {
        return;
    }
    let report = probe_report();
    match std::env::var_os(PROBE_OUT) {
        Some(path) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)
                .expect("open probe output");
            io::Write::write_all(&mut f, report.as_bytes()).expect("write probe output");
        }
        None => print!("{report}"),
    }
    std::process::exit(0);
}

/// Everything a child can observe about how it was started, one fact a line.
/// Lines starting with `pid ` and `ppid ` carry raw numbers for the caller to
/// check and strip; everything else must be equal between a direct and a
/// double spawn.
pub fn probe_report() -> String {
    let mut out = String::new();
    // SAFETY: these getters cannot fail and touch no memory.
    let (pid, ppid, pgrp) = unsafe { (libc::getpid(), libc::getppid(), libc::getpgrp()) };
    // SAFETY: as above; an invalid pid yields -1.
    let (sid, parent_pgrp, parent_sid) =
        unsafe { (libc::getsid(0), libc::getpgid(ppid), libc::getsid(ppid)) };
    writeln!(out, "pid {pid}").unwrap();
    writeln!(out, "ppid {ppid}").unwrap();
    for arg in std::env::args_os() {
        writeln!(out, "argv {arg:?}").unwrap();
    }
    let mut env: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("env {k:?}={v:?}"))
        .collect();
    env.sort();
    for line in env {
        writeln!(out, "{line}").unwrap();
    }
    writeln!(out, "cwd {:?}", std::env::current_dir().unwrap()).unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    for line in status.lines() {
        // SigIgn always shows SIGPIPE here: std ignores it before main. The
        // `cat /proc/self/status` cases check the inherited SIGPIPE.
        for key in [
            "SigBlk:",
            "SigIgn:",
            "Uid:",
            "Gid:",
            "Groups:",
            "NoNewPrivs:",
        ] {
            if line.starts_with(key) {
                writeln!(out, "{line}").unwrap();
            }
        }
    }
    let relation = |id: i32| {
        if id == pid {
            "self".to_string()
        } else if id == parent_pgrp || id == parent_sid {
            "parent's".to_string()
        } else {
            format!("other {id}")
        }
    };
    writeln!(out, "pgrp {}", relation(pgrp)).unwrap();
    writeln!(out, "session {}", relation(sid)).unwrap();
    // SAFETY: umask is always successful; it is set back at once.
    let mask = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    };
    writeln!(out, "umask {mask:o}").unwrap();
    for line in open_fds() {
        writeln!(out, "{line}").unwrap();
    }
    out
}

/// The open descriptors, with what they point at (pipes and sockets without
/// their inode numbers) and their access mode.
fn open_fds() -> Vec<String> {
    let mut fds: Vec<(RawFd, String)> = Vec::new();
    let dir = std::fs::read_dir("/proc/self/fd").unwrap();
    for entry in dir {
        let entry = entry.unwrap();
        let fd: RawFd = entry.file_name().to_str().unwrap().parse().unwrap();
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue; // the directory handle itself, already closed
        };
        let target = target.to_string_lossy().into_owned();
        if target.starts_with("/proc/") && target.ends_with("/fd") {
            continue; // the read_dir handle
        }
        let target = match target.split_once(":[") {
            Some((kind, _)) if kind == "pipe" || kind == "socket" => kind.to_string(),
            _ => target,
        };
        // SAFETY: F_GETFL on an open descriptor only reads kernel state.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        let mode = match fl & libc::O_ACCMODE {
            libc::O_RDONLY => "r",
            libc::O_WRONLY => "w",
            _ => "rw",
        };
        let append = if fl & libc::O_APPEND != 0 {
            "+append"
        } else {
            ""
        };
        fds.push((fd, format!("fd {fd} {target} {mode}{append}")));
    }
    fds.sort();
    fds.into_iter().map(|(_, l)| l).collect()
}

// ---------------------------------------------------------------------------
// Bounded waiting and cleaning up.
// ---------------------------------------------------------------------------

/// Waits for `child` at most `limit`; on time-out kills it and panics.
pub fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: no exit within {limit:?}; killed it");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Collects the output of `child` at most `limit`.
pub fn output_bounded(mut child: Child, limit: Duration, what: &str) -> Output {
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_bounded(&mut child, limit, what);
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Reads a child's pipe to its end on a thread of its own.
fn drain<R: io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

// ---------------------------------------------------------------------------
// /proc: processes, sessions, and killing what a test started.
// ---------------------------------------------------------------------------

/// One process as `/proc` shows it.
#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    /// `argv[0]`, to recognise a double-spawn stub that has not executed
    /// its target yet (`double-spawn:...`).
    pub argv0: String,
    /// Where the kernel has it waiting, for the diagnostics.
    pub wchan: String,
    /// Its pending signals (`SigPnd`, `ShdPnd` of `/proc/PID/status`), for
    /// the diagnostics: bit 8 (0x100) is SIGKILL, which a process that was
    /// killed but has not finished exiting still shows.
    pub pending: String,
}

impl Proc {
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }

    pub fn is_stopped(&self) -> bool {
        self.state == 'T'
    }

    pub fn is_stub(&self) -> bool {
        self.argv0.starts_with("double-spawn:")
    }
}

/// Process `pid`, if it exists.
pub fn proc_stat(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let mut fields = stat[close + 1..].split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    let pending = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(" ");
    Some(Proc {
        pid,
        comm,
        state,
        ppid,
        pgrp,
        session,
        argv0: String::from_utf8_lossy(argv0).into_owned(),
        wchan,
        pending,
    })
}

/// Every process in `/proc`, zombies included: the one scan the helpers
/// below filter.
pub fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_stat)
        .collect()
}

/// Every process of session `sid`, zombies included.
pub fn session_members(sid: i32) -> Vec<Proc> {
    processes()
        .into_iter()
        .filter(|p| p.session == sid)
        .collect()
}

/// The living processes of session `sid` other than `except`. Zombies are
/// dead: a job's grandchild that lost its parent is reparented to PID 1,
/// which in a container may never reap it.
pub fn alive_in_session(sid: i32, except: &[i32]) -> Vec<Proc> {
    session_members(sid)
        .into_iter()
        .filter(|p| !p.is_zombie() && !except.contains(&p.pid))
        .collect()
}

/// Waits (up to `limit`) until no living process of session `sid` but
/// `except` is left; returns what is still alive at the deadline (empty when
/// everything is gone).
///
/// Why a check of "nothing left" must wait: a process that was sent SIGKILL
/// (or a fatal SIGTERM) is still in `/proc`, in state R with the signal
/// pending, until the scheduler runs it and it exits; a job's leader can be
/// reaped, and its supervisor exit, before the leader's child has run
/// again. What outlives the deadline really escaped.
pub fn wait_until_gone(sid: i32, except: &[i32], limit: Duration) -> Vec<Proc> {
    let mut left = Vec::new();
    eventually(limit, || {
        left = alive_in_session(sid, except);
        left.is_empty()
    });
    left
}

/// SIGKILLs every living process of session `sid` until none is left (at
/// most 10 s); returns those it found alive the first time. Only for
/// sessions the test created.
pub fn kill_session(sid: i32) -> Vec<Proc> {
    let first = alive_in_session(sid, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive = alive_in_session(sid, &[]);
        if alive.is_empty() || Instant::now() >= deadline {
            break;
        }
        for p in &alive {
            // SAFETY: kill only sends a signal, to a process of a session
            // this test created.
            unsafe { libc::kill(p.pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    first
}

/// Children of this process that are still around (zombies excluded).
pub fn live_children() -> Vec<i32> {
    let me = std::process::id() as i32;
    processes()
        .into_iter()
        .filter(|p| p.ppid == me && !p.is_zombie())
        .map(|p| p.pid)
        .collect()
}

/// One line a process, for assertion messages.
pub fn describe(procs: &[Proc]) -> String {
    procs
        .iter()
        .map(|p| {
            format!(
                "  pid {} ppid {} pgrp {} {} {:?} ({}) wchan {} {}\n",
                p.pid, p.ppid, p.pgrp, p.state, p.comm, p.argv0, p.wchan, p.pending
            )
        })
        .collect()
}

/// Polls `cond` every millisecond until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A scratch directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("ds-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The uid (and gid) of `nobody`, which tests that need another user use.
pub const NOBODY: u32 = 65534;

/// Whether uid [`NOBODY`] (not in the directory's group) can search `dir`
/// and every directory above it.
fn others_can_reach(dir: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().all(|d| {
        std::fs::metadata(d)
            .is_ok_and(|m| m.is_dir() && (m.mode() & 0o001 != 0 || m.uid() == NOBODY))
    })
}

/// Whether files on the filesystem of `dir` may be executed (not `noexec`).
fn allows_exec(dir: &std::path::Path) -> bool {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a valid C string and `st` a writable statvfs.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    rc == 0 && st.f_flag & libc::ST_NOEXEC == 0
}

/// A copy of this test binary that uid [`NOBODY`] can execute, in a fresh
/// directory (mode 0755) that it can reach, removed when the `TempDir` is
/// dropped; the directory can hold the fixtures such a user must reach too.
///
/// A test that runs this binary again as another user cannot run it where
/// it is: the checkout may be anywhere, under a directory that user cannot
/// enter (`mktemp -d` makes them 0700, and so is `/root`). The copy needs
/// nothing beside it: it is its own stub (`/proc/self/exe`) and reads no
/// file relative to itself. `Err` says why no place was found (every
/// candidate, `TMPDIR` first, is unreachable or `noexec`).
pub fn copy_of_self_for_nobody(tag: &str) -> Result<(TempDir, std::path::PathBuf), String> {
    let candidates = [
        std::env::temp_dir(),
        "/tmp".into(),
        "/var/tmp".into(),
        "/dev/shm".into(),
    ];
    let base = candidates
        .iter()
        .find(|d| others_can_reach(d) && allows_exec(d))
        .ok_or_else(|| {
            format!("none of {candidates:?} is reachable by uid {NOBODY} and allows exec")
        })?;
    let dir = base.join(format!("ds-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = TempDir(dir);
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", dir.0.display()))?;
    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let copy = dir.0.join(me.file_name().unwrap_or(OsStr::new("test")));
    // std opens both files close-on-exec and closes them before returning,
    // so no child spawned meanwhile keeps the copy open for writing
    // (ETXTBSY) once its exec has happened.
    std::fs::copy(&me, &copy).map_err(|e| format!("copy to {}: {e}", copy.display()))?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", copy.display()))?;
    Ok((dir, copy))
}

/// Shows a byte string readably in assertion messages.
pub fn show(bytes: &[u8]) -> String {
    format!("{:?}", OsStr::from_bytes(bytes))
}

/// The path of this crate's example `name`, built by `cargo test` beside
/// the test binaries.
pub fn example_path(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    profile_dir.join("examples").join(name)
}

/// A command that runs this test binary as the probe.
pub fn probe_command() -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("probe");
    cmd
}

/// The arguments that make a standard-harness test binary run nothing but
/// its ignored entry point `name` (a function marked `#[ignore]`, started
/// only this way), with its output uncaptured: how a test of such a binary
/// runs the binary again in a role.
pub fn entry_args(name: &str) -> Vec<&str> {
    vec![
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]
}

// ---------------------------------------------------------------------------
// Signals 32-34, which the C library refuses to touch.
// ---------------------------------------------------------------------------

/// The kernel's `struct sigaction` on x86_64 and aarch64 Linux.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Sets `sig` to `SIG_IGN` or `SIG_DFL` through the raw system call: glibc's
/// `sigaction` refuses 32 and 33 (EINVAL), its own internal signals.
pub fn set_disposition_raw(sig: i32, ignore: bool) {
    let action = KernelSigaction {
        handler: if ignore { libc::SIG_IGN } else { libc::SIG_DFL },
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: `action` is a valid kernel sigaction holding SIG_IGN or
    // SIG_DFL (no code runs on delivery); 8 is the kernel's sigset size on
    // these targets; the old action is not asked for.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &action as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        )
    };
    assert_eq!(
        rc,
        0,
        "rt_sigaction({sig}): {}",
        std::io::Error::last_os_error()
    );
}
