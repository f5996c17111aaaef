//! The `supervisor_*` tests' pieces: roles started in sessions of their
//! own with a watchdog that kills the whole session, and a toy job-control
//! shell that runs the supervisor example on a pseudo-terminal. The look at
//! `/proc` is the parent module's.
//!
//! The shape of every signal test: the test binary (the *controller*)
//! starts itself again in a role; that process calls `setsid()` first,
//! checks that it leads its own session and group, and only then sends
//! signals, to groups it created. The controller never signals anything but
//! what is left of that session when the time limit is hit.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpgrp, getpid, setpgid, setsid, tcsetpgrp, Pid};

use super::{describe, eventually, kill_session, wait_until_gone, Proc};

/// How long a test waits for processes that were killed (or ended) to be
/// gone before it calls them left behind.
pub const GONE: Duration = Duration::from_secs(10);

/// The supervisor example next to this test binary
/// (`target/<profile>/examples/supervisor`; `cargo test` builds examples
/// before it runs tests).
pub fn supervisor_exe() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile.join("examples").join("supervisor");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --example supervisor`",
        path.display()
    );
    path
}

/// True when every process of `procs` is stopped, or is held by a stopped
/// child: `sh` (dash) starts commands with `vfork`, and when the job's
/// SIGTSTP stops the vfork child before its `exec`, the parent waits in
/// the kernel (state D) until SIGCONT lets the child go on. That is the
/// race this crate closes for the supervisor, met inside a job; the job is
/// as stopped as it can be, and continues with the others.
pub fn all_stopped(procs: &[Proc]) -> bool {
    procs.iter().all(|p| {
        p.is_stopped()
            || (p.state == 'D'
                && procs
                    .iter()
                    .any(|c| c.ppid == p.pid && c.pgrp == p.pgrp && c.is_stopped()))
    })
}

// ---------------------------------------------------------------------------
// The controller side: a role in a session of its own, with a watchdog.
// ---------------------------------------------------------------------------

/// The argument that starts a test binary in a role.
pub const ROLE: &str = "--role";

/// The role this process was started in, if any (`argv[1] == --role`).
pub fn role() -> Option<Vec<String>> {
    let args: Vec<String> = std::env::args().collect();
    (args.get(1).map(String::as_str) == Some(ROLE)).then(|| args[2..].to_vec())
}

/// Starts this test binary in `role` (it calls [`become_session_leader`]
/// first), waits up to `limit`, and kills every process left in its
/// session: on success, on failure and on timeout. Panics unless the role
/// exited with status 0, printing `what` and why.
pub fn run_role(role: &[&str], limit: Duration) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .arg(ROLE)
        .args(role)
        .spawn()
        .expect("start the role");
    let sid = child.id() as i32;
    let status = wait_with_limit(&mut child, limit);
    // The role leads session `sid` (it checked): whatever it left behind is
    // in that session. A process that escaped into a new session would be
    // missed, but the supervisor and its jobs never call setsid. What was
    // killed may still be on its way out (see `wait_until_gone`).
    let leftovers = match status {
        Some(_) => wait_until_gone(sid, &[], GONE),
        None => Vec::new(),
    };
    let killed = kill_session(sid);
    let status = match status {
        Some(status) => status,
        None => panic!(
            "role {role:?} still running after {limit:?}; killed its session:\n{}",
            describe(&killed)
        ),
    };
    assert!(status.success(), "role {role:?} failed: {status}");
    assert!(
        leftovers.is_empty(),
        "role {role:?} left processes behind (killed now):\n{}",
        describe(&leftovers)
    );
}

/// Waits up to `limit` for `child`; kills it (only it) when the time is up.
pub fn wait_with_limit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// The role side.
// ---------------------------------------------------------------------------

/// First thing a role does: a session of its own, checked, and an alarm
/// that ends it if the controller's limit is not enough.
pub fn become_session_leader(limit: Duration) {
    setsid().expect("setsid");
    assert_eq!(
        getpgrp(),
        getpid(),
        "not the leader of its own process group"
    );
    // SAFETY: alarm only arms a timer; SIGALRM's default action ends this
    // process, and the controller then kills the rest of the session.
    unsafe { libc::alarm(limit.as_secs().max(1) as libc::c_uint) };
}

/// A pseudo-terminal that is this session's controlling terminal, with a
/// thread that keeps reading what is written to it (so that writers never
/// block on a full buffer) and keeps it for the test to look at.
pub struct Terminal {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    /// Must be called by a session leader without a controlling terminal.
    pub fn open() -> Terminal {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        for fd in [&pty.master, &pty.slave] {
            nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )
            .expect("FD_CLOEXEC");
        }
        // SAFETY: TIOCSCTTY with argument 0 on a valid descriptor; the
        // caller leads a session that has no controlling terminal.
        let r = unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCSCTTY as _, 0) };
        assert_eq!(r, 0, "TIOCSCTTY: {}", io::Error::last_os_error());
        // A job-control shell ignores SIGTTOU, so that it can take the
        // terminal back (tcsetpgrp) while it is in the background, and this
        // one ignores SIGHUP: when it drops the terminal at the end, the
        // reader thread sees EIO and closes the last master descriptor,
        // which hangs the terminal up and would send SIGHUP to the session
        // leader, racing with its exit.
        for sig in [Signal::SIGTTOU, Signal::SIGHUP] {
            // SAFETY: SIG_IGN runs no code.
            unsafe { signal(sig, SigHandler::SigIgn) }.expect("ignore the signal");
        }

        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = fs::File::from(pty.master.try_clone().expect("dup master"));
        let sink = Arc::clone(&output);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once every slave descriptor is closed.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            master: pty.master,
            slave: pty.slave,
            output,
        }
    }

    /// Types `bytes` as if on the keyboard (0x1a is Ctrl-Z, 0x03 Ctrl-C).
    pub fn type_bytes(&self, bytes: &[u8]) {
        let n = nix::unistd::write(&self.master, bytes).expect("write to the pty master");
        assert_eq!(n, bytes.len());
    }

    /// Everything written to the terminal so far, as text.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits (up to `limit`) for the reader to have seen `needle`.
    pub fn wait_for_output(&self, needle: &str, limit: Duration) -> bool {
        eventually(limit, || self.output().contains(needle))
    }

    /// Gives the terminal to process group `pgrp`.
    pub fn give_to(&self, pgrp: Pid) {
        tcsetpgrp(self.slave.as_fd(), pgrp).expect("tcsetpgrp");
    }

    /// Takes the terminal back for this (the shell's) group.
    pub fn take_back(&self) {
        self.give_to(getpgrp());
    }

    /// Starts `cmd` as a foreground job, as a shell does: in a new process
    /// group that owns the terminal, with the terminal as its stdio.
    pub fn spawn_foreground(&self, cmd: &mut Command) -> Pid {
        cmd.stdin(self.slave.try_clone().expect("dup slave"))
            .stdout(self.slave.try_clone().expect("dup slave"))
            .stderr(self.slave.try_clone().expect("dup slave"));
        let tty = self.slave.as_raw_fd();
        // SAFETY: between fork and exec the closure only makes
        // async-signal-safe system calls (setpgid, tcsetpgrp, sigaction)
        // and allocates nothing; resetting to SIG_DFL runs no code.
        unsafe {
            cmd.pre_exec(move || {
                let tty = BorrowedFd::borrow_raw(tty);
                setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                // Allowed from the background because SIGTTOU is ignored,
                // inherited from the shell; then back to the defaults.
                tcsetpgrp(tty, getpgrp())?;
                signal(Signal::SIGTTOU, SigHandler::SigDfl)?;
                signal(Signal::SIGHUP, SigHandler::SigDfl)?;
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn the foreground job");
        let pid = Pid::from_raw(child.id() as i32);
        // The shell does the same on its side, so that neither order of
        // events leaves a window (both fail harmlessly once the child has
        // done it or executed).
        let _ = setpgid(pid, pid);
        let _ = tcsetpgrp(self.slave.as_fd(), pid);
        // The pid is waited for with waitpid (stopped states included),
        // which std's Child cannot do; dropping it does not wait.
        drop(child);
        pid
    }
}

/// What became of a job the shell waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Stopped,
    Exited(i32),
    Signaled(Signal),
}

/// Waits (up to `limit`) for `pid` to stop or end, as a shell does with
/// `waitpid(WUNTRACED)`. `None` when it did neither in time.
pub fn wait_job(pid: Pid, limit: Duration) -> Option<JobState> {
    let deadline = Instant::now() + limit;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WUNTRACED | WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Stopped(..)) => return Some(JobState::Stopped),
            Ok(WaitStatus::Exited(_, code)) => return Some(JobState::Exited(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Some(JobState::Signaled(sig)),
            Ok(_) => {}
            Err(e) => panic!("waitpid({pid}): {e}"),
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_micros(500));
    }
}

/// The command for the supervisor example with these arguments.
pub fn supervisor<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(supervisor_exe());
    cmd.args(args);
    cmd
}

/// A small xorshift generator: varied delays without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn from_time() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng(nanos | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
