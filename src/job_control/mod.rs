//! Job control for supervisors: Ctrl-Z, `fg` and Ctrl-C done right for
//! children that run in process groups of their own.
//!
//! A supervisor puts each job in its own process group (so that a timeout
//! can kill the job's whole tree, and so that the terminal's signals do not
//! hit the jobs behind its back). The price is that the terminal no longer
//! stops or interrupts the jobs: Ctrl-Z and Ctrl-C reach the supervisor's
//! group only, and the supervisor must pass them on. Doing that correctly
//! takes more than a few lines:
//!
//! - on SIGTSTP, send SIGTSTP to every job's group (SIGSTOP to a job still
//!   starting, whose stub would discard a SIGTSTP), pause every timer, put
//!   the terminal back as it was, then stop the supervisor itself with
//!   SIGSTOP, because the SIGTSTP handler replaced the default stop action;
//!   when continued, send SIGCONT to every group and resume the timers;
//! - a job spawned while the supervisor is handling a stop must end up
//!   stopped or continued like the others, and a Ctrl-Z that arrives while
//!   a job is being spawned must not hang the spawn (the rest of this crate);
//! - do not stop when the supervisor's group is orphaned: the kernel would
//!   have discarded the SIGTSTP, and nobody would ever continue it;
//! - never signal a group after its leader has been reaped: the process
//!   group id can then belong to someone else;
//! - on SIGINT or SIGTERM, send SIGTERM *and* SIGCONT (a stopped process
//!   does not act on SIGTERM), then SIGKILL what is left after a grace
//!   period.
//!
//! This module does those things and leaves policy (what to run, how many
//! at once, what to print, how long the grace period is) to the supervisor:
//!
//! - [`JobControl`] spawns jobs (tokio or std commands: [`JobCommand`]) in
//!   their own process groups through
//!   [`double_spawn()`](crate::DoubleSpawnExt::double_spawn) (or a
//!   configuration of your own, [`JobControl::with_config`]), keeps the
//!   list of live groups, and stops, continues, terminates or kills them
//!   all; [`JobControl::suspend`] is the whole Ctrl-Z sequence.
//! - [`Signal`] is nix's signal type, re-exported so that
//!   [`Job::signal`] and [`JobControl::signal_all`] need no `nix`
//!   dependency of your own.
//! - [`Job`] is one spawned job: wait for it, signal its group.
//! - [`Signals`] delivers SIGTSTP, SIGINT, SIGTERM, SIGHUP and SIGQUIT as
//!   [`JobSignal`]s.
//! - [`PausableClock`] measures time without the stretches the supervisor
//!   spent stopped, and its timers stand still meanwhile.
//!
//! `examples/supervisor.rs` is a complete supervisor built on it.
//!
//! ```no_run
//! use std::time::Duration;
//! use double_spawn::job_control::{JobControl, JobSignal, Signals};
//!
//! fn main() -> std::io::Result<()> {
//!     double_spawn::init();
//!     let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//!     rt.block_on(async {
//!         let mut signals = Signals::new()?;
//!         let jc = JobControl::new();
//!         let mut cmd = tokio::process::Command::new("sleep");
//!         cmd.arg("10");
//!         let mut job = jc.spawn(&mut cmd)?;
//!         let mut timeout = Box::pin(jc.clock().sleep(Duration::from_secs(5)));
//!         loop {
//!             tokio::select! {
//!                 status = job.wait() => return status.map(|_| ()),
//!                 _ = &mut timeout => job.kill(),
//!                 sig = signals.recv() => match sig {
//!                     // Ctrl-Z: stop the job and this process until `fg`.
//!                     JobSignal::Stop => {
//!                         jc.suspend(|| {})?;
//!                     }
//!                     _ => job.terminate(),
//!                 },
//!             }
//!         }
//!     })
//! }
//! ```
//!
//! # Caveats
//!
//! - **Creating [`Signals`] replaces the default actions** of SIGTSTP,
//!   SIGINT, SIGTERM, SIGHUP and SIGQUIT for the life of the process; the
//!   supervisor must act on every [`JobSignal`] itself.
//! - **Run the supervisor in a group its parent is not in.** A shell does
//!   that for every job. If the supervisor's group is orphaned,
//!   [`suspend`](JobControl::suspend) does not stop (as the kernel would
//!   have discarded the SIGTSTP).
//! - **Jobs must not read from the terminal**: they are not in the
//!   foreground group, so the kernel stops them with SIGTTIN, and nobody
//!   continues them until the supervisor's next Ctrl-Z cycle. Give them
//!   `Stdio::null()` as stdin. Writing is fine unless the terminal has
//!   `tostop` set.
//! - **A job is tracked while its leader lives.** Processes the job leaves
//!   behind in its group after its first process exits are not stopped,
//!   continued or killed any more: the group id could be reused once the
//!   leader has been reaped.
//! - **If the supervisor is killed with SIGKILL**, its jobs keep running:
//!   nothing runs in the supervisor any more to pass that on.
//!
//! # Features
//!
//! Needs the `job-control` cargo feature (on by default), which turns on
//! tokio's `signal`, `time` and `sync` features. Unix only.

mod clock;
mod orphan;
mod signals;

use std::collections::BTreeSet;
use std::io;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard};

use nix::sys::signal::{killpg, raise};
use nix::unistd::Pid;

use crate::{DoubleSpawn, DoubleSpawnExt};

pub use clock::PausableClock;
pub use signals::{JobSignal, Signals};

/// A signal, as [`Job::signal`], [`JobControl::signal_all`] and
/// [`JobSignal::signal`] take and give it: nix's `Signal`, re-exported so
/// that a supervisor needs no `nix` dependency of its own (and no matching
/// version).
///
/// ```
/// use double_spawn::job_control::{JobSignal, Signal};
/// assert_eq!(JobSignal::Stop.signal(), Signal::SIGTSTP);
/// ```
pub use nix::sys::signal::Signal;

mod sealed {
    pub trait Sealed {}
    impl Sealed for &mut tokio::process::Command {}
    impl Sealed for tokio::process::Command {}
    impl Sealed for std::process::Command {}
}

/// A command [`JobControl::spawn`] takes: a `&mut tokio::process::Command`,
/// or a `tokio::process::Command` or `std::process::Command` by value.
///
/// A job is waited for asynchronously ([`Job::wait`]), so its child is a
/// tokio child: a std command is converted with
/// `tokio::process::Command::from`, which takes it by value (as tokio's own
/// conversion does) and keeps every setting, `pre_exec` closures included.
/// That is how a command built in stub form with
/// [`DoubleSpawn::std_command`] (or by code that only knows std) becomes a
/// job. Spawning needs a tokio runtime either way, as
/// `tokio::process::Command::spawn` does.
///
/// ```no_run
/// use double_spawn::job_control::JobControl;
///
/// # async fn run() -> std::io::Result<()> {
/// let jc = JobControl::new();
/// let mut tokio_cmd = tokio::process::Command::new("sleep");
/// tokio_cmd.arg("1");
/// let mut a = jc.spawn(&mut tokio_cmd)?;
/// let mut std_cmd = std::process::Command::new("sleep");
/// std_cmd.arg("1");
/// let mut b = jc.spawn(std_cmd)?;
/// a.wait().await?;
/// b.wait().await?;
/// # Ok(()) }
/// ```
pub trait JobCommand: sealed::Sealed {
    /// Runs `f` on the command as a tokio command.
    #[doc(hidden)]
    fn with_tokio<R>(self, f: impl FnOnce(&mut tokio::process::Command) -> R) -> R;
}

impl JobCommand for &mut tokio::process::Command {
    fn with_tokio<R>(self, f: impl FnOnce(&mut tokio::process::Command) -> R) -> R {
        f(self)
    }
}

impl JobCommand for tokio::process::Command {
    fn with_tokio<R>(mut self, f: impl FnOnce(&mut tokio::process::Command) -> R) -> R {
        f(&mut self)
    }
}

impl JobCommand for std::process::Command {
    fn with_tokio<R>(self, f: impl FnOnce(&mut tokio::process::Command) -> R) -> R {
        f(&mut tokio::process::Command::from(self))
    }
}

/// The jobs of one supervisor: spawns them, each in its own process group,
/// and passes stop, continue, terminate and kill on to all of them.
///
/// Cloning gives another handle to the same set of jobs and the same
/// [clock](JobControl::clock). Every method that signals groups holds one
/// lock while it does, and [`spawn`](JobControl::spawn) holds it across the
/// spawn, so a job is never missed by a stop or continue that happens while
/// it is being spawned on another thread; a job spawned while the jobs are
/// stopped is stopped at once.
#[derive(Clone, Debug, Default)]
pub struct JobControl {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    groups: Mutex<Groups>,
    clock: PausableClock,
    /// The configuration jobs are spawned with; `None`: the process default.
    config: Option<DoubleSpawn>,
}

#[derive(Debug, Default)]
struct Groups {
    /// Between `stop` and `resume`.
    stopped: bool,
    /// The process group ids of the live jobs (each is its leader's pid).
    live: BTreeSet<i32>,
}

impl Groups {
    fn signal_all(&self, sig: Signal) {
        for &pgid in &self.live {
            // ESRCH only: the whole group exited since; nothing to do.
            let _ = killpg(Pid::from_raw(pgid), sig);
        }
    }

    /// SIGTSTP to every group, or SIGSTOP to a group whose leader is still
    /// its double-spawn stub (see [`stop_signal`]).
    fn stop_all(&self) {
        for &pgid in &self.live {
            let _ = killpg(Pid::from_raw(pgid), stop_signal(pgid));
        }
    }
}

/// The signal that stops the job whose leader is `pid`: SIGTSTP, so that a
/// job with a handler can act on it, or SIGSTOP while the leader is still
/// the double-spawn stub (its `argv[0]` is the stub's, Linux `/proc`). A
/// stub in a group of its own discards a pending SIGTSTP when it starts,
/// as one aimed at the supervisor's group before the job left it, and
/// cannot tell a SIGTSTP sent to its new group from that one; SIGSTOP cannot
/// be discarded, and a stub has no handler to miss. If the stub executes its
/// target in between, the SIGSTOP stops the target all the same.
fn stop_signal(pid: i32) -> Signal {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.starts_with(crate::protocol::ARG0_PREFIX) {
            return Signal::SIGSTOP;
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = pid;
    Signal::SIGTSTP
}

impl Shared {
    fn groups(&self) -> MutexGuard<'_, Groups> {
        // Nothing that can panic runs under the lock; if something did, the
        // set of groups is still consistent.
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl JobControl {
    /// No jobs yet; the clock starts now. Jobs are spawned with the
    /// process default ([`DoubleSpawn::process_default`], at each spawn).
    pub fn new() -> JobControl {
        JobControl::default()
    }

    /// As [`new`](JobControl::new), but every job is spawned with `config`
    /// (`double_spawn_with(config)`): for a library, which keeps its own
    /// configuration rather than setting the process default (see
    /// [the runners guide](crate::runners#in-a-library)).
    ///
    /// ```
    /// use double_spawn::{job_control::JobControl, DoubleSpawn};
    ///
    /// let jc = JobControl::with_config(DoubleSpawn::from_env("MY_LIBRARY_DOUBLE_SPAWN"));
    /// assert_eq!(jc.config().get_env_var(), Some("MY_LIBRARY_DOUBLE_SPAWN"));
    /// ```
    pub fn with_config(config: DoubleSpawn) -> JobControl {
        JobControl {
            shared: Arc::new(Shared {
                config: Some(config),
                ..Shared::default()
            }),
        }
    }

    /// The configuration the next job will be spawned with.
    pub fn config(&self) -> DoubleSpawn {
        self.shared
            .config
            .unwrap_or_else(DoubleSpawn::process_default)
    }

    /// The clock that [`stop`](JobControl::stop) pauses and
    /// [`resume`](JobControl::resume) resumes. Time job durations and
    /// timeouts with it, so that time spent stopped does not count.
    pub fn clock(&self) -> &PausableClock {
        &self.shared.clock
    }

    /// Spawns `cmd` (a tokio or std command, see [`JobCommand`]) as a new
    /// job, in a process group of its own (`process_group(0)` is set on
    /// `cmd`), with
    /// [`double_spawn_with`](crate::DoubleSpawnExt::double_spawn_with)`(`[`self.config()`](JobControl::config)`)`
    /// so that a Ctrl-Z during the spawn cannot hang it.
    ///
    /// If the jobs are stopped at the moment (another thread is in
    /// [`suspend`](JobControl::suspend)), the new job is stopped too.
    ///
    /// # Errors
    /// Those of [`DoubleSpawnCommand::spawn`](crate::DoubleSpawnCommand):
    /// `NotFound` when the program does not exist, and so on.
    pub fn spawn(&self, cmd: impl JobCommand) -> io::Result<Job> {
        cmd.with_tokio(|cmd| self.spawn_tokio(cmd))
    }

    fn spawn_tokio(&self, cmd: &mut tokio::process::Command) -> io::Result<Job> {
        cmd.process_group(0);
        let config = self.config();
        let mut groups = self.shared.groups();
        let child = cmd.double_spawn_with(config).spawn()?;
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .ok_or_else(|| io::Error::other("the spawned child has no process id"))?;
        groups.live.insert(pid);
        if groups.stopped {
            // SIGSTOP, not SIGTSTP: the job's stub may still be starting,
            // and a stub in a group of its own discards a pending SIGTSTP
            // (it cannot tell this one from one aimed at this process's
            // group before the job left it). SIGSTOP cannot be discarded,
            // and a job this fresh has not executed its program yet, so it
            // has no SIGTSTP handler to miss.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGSTOP);
        }
        drop(groups);
        Ok(Job {
            child,
            pgid: pid,
            shared: Arc::clone(&self.shared),
        })
    }

    /// The number of jobs whose leader has not been reaped yet.
    pub fn len(&self) -> usize {
        self.shared.groups().live.len()
    }

    /// True when no job is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every job (SIGTSTP to each group; SIGSTOP to a job whose
    /// double-spawn stub has not executed its program yet, as the stub would
    /// discard a SIGTSTP) and pauses the clock.
    /// Jobs spawned from now until [`resume`](JobControl::resume) are
    /// stopped as soon as they are spawned.
    pub fn stop(&self) {
        let mut groups = self.shared.groups();
        groups.stopped = true;
        groups.stop_all();
        self.shared.clock.pause();
    }

    /// Continues every job (SIGCONT to each group) and resumes the clock,
    /// after a [`stop`](JobControl::stop); does nothing otherwise.
    pub fn resume(&self) {
        let mut groups = self.shared.groups();
        if groups.stopped {
            groups.stopped = false;
            groups.signal_all(Signal::SIGCONT);
            self.shared.clock.resume();
        }
    }

    /// The whole Ctrl-Z sequence: [`stop`](JobControl::stop) the jobs, call
    /// `before_stop` (put the terminal back as you found it: clear a
    /// progress line, show the cursor, restore its modes), stop this process
    /// with SIGSTOP, and once it is continued (`fg`, `bg`, SIGCONT)
    /// [`resume`](JobControl::resume) the jobs. Returns when the process
    /// runs again; redraw the terminal then.
    ///
    /// Returns `Ok(false)` without doing anything when this process's group
    /// is orphaned (no member has a parent in another group of the same
    /// session: the supervisor runs under a parent that does no job
    /// control, or its shell has exited). The kernel discards a SIGTSTP sent
    /// to such a group, because nobody would ever continue it; `suspend`
    /// does the same.
    ///
    /// SIGSTOP rather than SIGTSTP because a SIGTSTP handler is installed
    /// ([`Signals`]): raising SIGTSTP would just call it again.
    ///
    /// # Errors
    /// Those of `raise(SIGSTOP)`, which has none on Linux; the jobs are
    /// resumed before the error is returned.
    pub fn suspend(&self, before_stop: impl FnOnce()) -> io::Result<bool> {
        if orphan::own_group_is_orphaned() {
            return Ok(false);
        }
        self.stop();
        before_stop();
        // Returns once a SIGCONT has continued the whole process.
        let stopped = raise(Signal::SIGSTOP).map_err(io::Error::from);
        self.resume();
        stopped.map(|()| true)
    }

    /// Asks every job to end: SIGTERM to each group, then SIGCONT so that
    /// stopped jobs act on it. Follow up with [`kill_all`](JobControl::kill_all)
    /// after a grace period.
    pub fn terminate_all(&self) {
        let groups = self.shared.groups();
        groups.signal_all(Signal::SIGTERM);
        groups.signal_all(Signal::SIGCONT);
    }

    /// Kills every job: SIGKILL to each group (it ends stopped processes
    /// too).
    pub fn kill_all(&self) {
        self.shared.groups().signal_all(Signal::SIGKILL);
    }

    /// Sends `sig` to every job's group.
    pub fn signal_all(&self, sig: Signal) {
        self.shared.groups().signal_all(sig);
    }
}

/// One job spawned by [`JobControl::spawn`]: a child that leads its own
/// process group.
///
/// The group is tracked (signalled by [`JobControl`]'s broadcasts and by
/// [`signal`](Job::signal)) until [`wait`](Job::wait) has reaped the child,
/// or the `Job` is dropped. Wait with [`Job::wait`], not with the inner
/// child's `wait`, which would reap it without telling the [`JobControl`].
#[derive(Debug)]
pub struct Job {
    child: tokio::process::Child,
    pgid: i32,
    shared: Arc<Shared>,
}

impl Job {
    /// The job's process id, which is also its process group id.
    pub fn id(&self) -> u32 {
        self.pgid.unsigned_abs()
    }

    /// The child, for its stdio handles (`stdout.take()` and so on).
    pub fn child_mut(&mut self) -> &mut tokio::process::Child {
        &mut self.child
    }

    /// Waits for the job's leader to exit, reaps it and stops tracking its
    /// group. Cancel safe.
    ///
    /// # Errors
    /// Those of `tokio::process::Child::wait`.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        let status = self.child.wait().await;
        // Reaped in the poll that just completed, and forgotten before this
        // task yields: on a current-thread runtime nothing can signal the
        // group id in between. On a multi-threaded one another thread can,
        // for the length of this statement, which is harmless unless the
        // kernel hands out the same id to a new group in that instant (it
        // allocates pids cyclically, so it would have to go through all of
        // them first).
        self.forget();
        status
    }

    /// Sends `sig` to the job's group; does nothing once the job has been
    /// reaped.
    ///
    /// # Errors
    /// Those of `killpg`.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        let groups = self.shared.groups();
        if groups.live.contains(&self.pgid) {
            killpg(Pid::from_raw(self.pgid), sig)?;
        }
        Ok(())
    }

    /// Asks the job to end: SIGTERM, then SIGCONT in case it is stopped.
    pub fn terminate(&self) {
        let _ = self.signal(Signal::SIGTERM);
        let _ = self.signal(Signal::SIGCONT);
    }

    /// Kills the job's whole group with SIGKILL.
    pub fn kill(&self) {
        let _ = self.signal(Signal::SIGKILL);
    }

    fn forget(&self) {
        self.shared.groups().live.remove(&self.pgid);
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.forget();
    }
}
