//! `double_spawn::job_control` on its own, without the supervisor example:
//! the signal listener, stopping and continuing every job's group (jobs
//! spawned while stopped included), terminating and killing, the whole
//! Ctrl-Z sequence with its paused clock, and the refusal to stop an
//! orphaned process group.
//!
//! Every test runs in a role: this binary started again, in a session of
//! its own (see `supervisor_support`), so that the signals it sends and
//! the handlers it installs touch nothing else.

mod common;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::time::{Duration, Instant};

use common::supervisor::*;
use common::*;
use double_spawn::job_control::{Job, JobControl, JobSignal, Signals};
use nix::sys::signal::{killpg, raise, Signal};
use nix::unistd::{getpgrp, getpid, getsid, Pid};

const LIMIT: Duration = Duration::from_secs(60);
const STEP: Duration = Duration::from_secs(20);
/// How long the shell keeps the suspended process stopped.
const STOPPED_FOR: Duration = Duration::from_millis(300);

pub(crate) fn main() {
    double_spawn::init();
    if let Some(role) = role() {
        match role.first().map(String::as_str) {
            Some("signals") => signals(),
            Some("orphaned") => orphaned(),
            Some("broadcast") => broadcast(),
            Some("kill") => kill(),
            Some("suspend") => suspend(),
            Some("suspender") => suspender(),
            other => panic!("unknown role {other:?}"),
        }
        return;
    }
    run_tests(
        "supervisor_job_control",
        &[
            Test {
                name: "signals_arrive_as_job_signals_and_do_not_stop_or_end_the_process",
                run: || run_role(&["signals"], LIMIT),
            },
            Test {
                name: "suspend_refuses_in_an_orphaned_process_group",
                run: || run_role(&["orphaned"], LIMIT),
            },
            Test {
                name: "stop_and_resume_reach_every_group_including_jobs_spawned_while_stopped",
                run: || run_role(&["broadcast"], LIMIT),
            },
            Test {
                name: "terminate_continues_stopped_jobs_and_kill_ends_the_rest",
                run: || run_role(&["kill"], LIMIT),
            },
            Test {
                name: "suspend_stops_jobs_and_self_and_pauses_the_clock_until_sigcont",
                run: || run_role(&["suspend"], LIMIT),
            },
        ],
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `sh -c script` as a job.
fn sh(jc: &JobControl, script: &str) -> Job {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args(["-c", script]).stdin(std::process::Stdio::null());
    jc.spawn(&mut cmd).expect("spawn a job")
}

/// `sleep 30` as a job: one process, no shell.
fn sleeper(jc: &JobControl) -> Job {
    let mut cmd = tokio::process::Command::new("sleep");
    cmd.arg("30").stdin(std::process::Stdio::null());
    jc.spawn(&mut cmd).expect("spawn a job")
}

/// Waits until the job's group runs a `sleep` (a shell job is past the
/// commands before it).
fn wait_for_sleep(job: &Job) {
    let sleeping = eventually(STEP, || group(job).iter().any(|p| p.comm == "sleep"));
    assert!(
        sleeping,
        "the job never started its sleep:\n{}",
        describe(&group(job))
    );
}

/// The living processes of the job's group.
fn group(job: &Job) -> Vec<Proc> {
    let pgid = job.id() as i32;
    let sid = getsid(None).expect("getsid").as_raw();
    alive_in_session(sid, &[])
        .into_iter()
        .filter(|p| p.pgrp == pgid)
        .collect()
}

/// Waits until every process of the jobs' groups is stopped (`all_stopped`:
/// or held by a stopped vfork child), or none is.
fn all_in_state(jobs: &[&Job], stopped: bool) -> bool {
    eventually(STEP, || {
        jobs.iter().all(|j| {
            let procs = group(j);
            if stopped {
                all_stopped(&procs)
            } else {
                procs.iter().all(|p| !p.is_stopped())
            }
        })
    })
}

fn signals() {
    become_session_leader(LIMIT);
    runtime().block_on(async {
        let mut signals = Signals::new().expect("listen");
        for (sig, expected) in [
            (Signal::SIGTSTP, JobSignal::Stop),
            (Signal::SIGINT, JobSignal::Interrupt),
            (Signal::SIGTERM, JobSignal::Terminate),
            (Signal::SIGHUP, JobSignal::Hangup),
            (Signal::SIGQUIT, JobSignal::Quit),
        ] {
            // Any of these would stop or end this process with its default
            // action; it is still here to check what arrived.
            raise(sig).expect("raise");
            let got = tokio::time::timeout(STEP, signals.recv()).await;
            assert_eq!(got, Ok(expected), "after raising {sig}");
            assert_eq!(expected.signal(), sig);
            assert_eq!(expected.exit_code(), 128 + sig as i32);
        }
    });
}

fn orphaned() {
    // A session leader's group has no parent in this session: orphaned.
    become_session_leader(LIMIT);
    runtime().block_on(async {
        let jc = JobControl::new();
        let job = sleeper(&jc);
        let mut called = false;
        let suspended = jc.suspend(|| called = true).expect("suspend");
        assert!(!suspended, "suspend stopped an orphaned process group");
        assert!(!called, "before_stop ran although nothing stopped");
        assert!(!jc.clock().is_paused());
        assert!(all_in_state(&[&job], false));
        jc.kill_all();
    });
}

fn broadcast() {
    become_session_leader(LIMIT);
    runtime().block_on(async {
        let jc = JobControl::new();
        let mut jobs: Vec<Job> = (0..3).map(|_| sleeper(&jc)).collect();
        for job in &jobs {
            let leader = proc_stat(job.id() as i32).expect("the job runs");
            assert_eq!(leader.pgrp, leader.pid, "a job leads its own group");
            assert_ne!(leader.pgrp, getpgrp().as_raw());
        }
        assert_eq!(jc.len(), 3);

        jc.stop();
        assert!(jc.clock().is_paused());
        assert!(all_in_state(&jobs.iter().collect::<Vec<_>>(), true));
        // Spawned while the others are stopped: stopped at once.
        jobs.push(sleeper(&jc));
        assert!(all_in_state(&[jobs.last().unwrap()], true));

        jc.resume();
        assert!(!jc.clock().is_paused());
        assert!(all_in_state(&jobs.iter().collect::<Vec<_>>(), false));

        jc.terminate_all();
        for job in &mut jobs {
            let status = tokio::time::timeout(STEP, job.wait()).await;
            let status = status.expect("the job ended").expect("wait");
            assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
        }
        assert!(jc.is_empty(), "reaped jobs are forgotten");
    });
}

fn kill() {
    become_session_leader(LIMIT);
    runtime().block_on(async {
        let jc = JobControl::new();
        // A job that stopped itself, and one that ignores SIGTERM.
        let mut stopped = sh(&jc, "kill -STOP $$; sleep 30");
        let mut stubborn = sh(&jc, "trap '' TERM; sleep 30");
        assert!(all_in_state(&[&stopped], true));
        wait_for_sleep(&stubborn);

        jc.terminate_all();
        let status = tokio::time::timeout(STEP, stopped.wait()).await;
        let status = status.expect("the stopped job ended").expect("wait");
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
        let still = tokio::time::timeout(Duration::from_millis(200), stubborn.wait()).await;
        assert!(still.is_err(), "a job that ignores SIGTERM ended on it");

        jc.kill_all();
        let status = tokio::time::timeout(STEP, stubborn.wait()).await;
        let status = status.expect("the job ended").expect("wait");
        assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
        // Its group is forgotten: signalling it now is a no-op, not an
        // error and not a signal to whoever reuses the id.
        stubborn.signal(Signal::SIGKILL).expect("a no-op");
        assert!(jc.is_empty());
    });
}

/// The shell: runs `suspender` as a job in a process group of its own (so
/// that its group is not orphaned), waits for it to stop, checks that its
/// jobs stopped too, keeps it stopped for `STOPPED_FOR`, continues it.
fn suspend() {
    become_session_leader(LIMIT);
    let me = getpid().as_raw();
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([ROLE, "suspender"]).process_group(0);
    let child = cmd.spawn().expect("start the suspender");
    let pid = Pid::from_raw(child.id() as i32);
    drop(child); // waited for with waitpid below

    assert_eq!(
        wait_job(pid, STEP),
        Some(JobState::Stopped),
        "the suspender did not stop"
    );
    // It and its two jobs are stopped.
    let stopped = eventually(STEP, || {
        let procs = alive_in_session(me, &[me]);
        procs.len() == 3 && procs.iter().all(Proc::is_stopped)
    });
    assert!(
        stopped,
        "not everything stopped:\n{}",
        describe(&alive_in_session(me, &[me]))
    );
    std::thread::sleep(STOPPED_FOR);
    // `fg`
    killpg(pid, Signal::SIGCONT).expect("SIGCONT");
    assert_eq!(wait_job(pid, STEP), Some(JobState::Exited(0)));
}

fn suspender() {
    runtime().block_on(async {
        let jc = JobControl::new();
        let mut jobs = [sleeper(&jc), sleeper(&jc)];
        // Both executed `sleep` (past the stub), so that the shell finds
        // them all when it checks that they stopped.
        jobs.iter().for_each(wait_for_sleep);
        let mut timer = Box::pin(jc.clock().sleep(STOPPED_FOR / 3));
        let wall = Instant::now();
        let before = jc.clock().elapsed();
        let mut before_stop_ran = false;
        let suspended = jc.suspend(|| before_stop_ran = true).expect("suspend");
        let real = wall.elapsed();
        let counted = jc.clock().elapsed() - before;

        assert!(suspended, "suspend did not stop");
        assert!(before_stop_ran);
        assert!(
            real >= STOPPED_FOR,
            "continued after {real:?}, before the shell did"
        );
        assert!(
            counted < real / 2,
            "the clock counted {counted:?} of {real:?} spent stopped"
        );
        // The timer was a third of the stopped time long, but its clock
        // was paused all that time.
        let fired = tokio::time::timeout(Duration::ZERO, &mut timer).await;
        assert!(fired.is_err(), "a timer expired while its clock was paused");
        assert!(all_in_state(&jobs.iter().collect::<Vec<_>>(), false));

        jc.kill_all();
        for job in &mut jobs {
            job.wait().await.expect("wait");
        }
    });
}
