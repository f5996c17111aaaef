//! Ctrl-Z and `fg`, many times, on a real terminal, while the supervisor
//! example is spawning jobs as fast as it can.
//!
//! A toy job-control shell (this binary, in a role) leads a session whose
//! controlling terminal is a pseudo-terminal, and starts the supervisor as
//! its foreground job, in a process group of its own, as bash does. Then,
//! over and over: let it run a few milliseconds, type Ctrl-Z (0x1a) on the
//! terminal, wait for the supervisor to report itself stopped, check that
//! every process of the session except the shell is stopped, take the
//! terminal back, give it again and send SIGCONT to the supervisor's group
//! (`fg`). At the end every job must have succeeded, the supervisor must
//! exit with 0, its elapsed time must leave out the time it spent stopped,
//! and nothing may be left running.
//!
//! Without double spawning (`DOUBLE_SPAWN=0`) this fails: sooner or later
//! the Ctrl-Z lands while a job is between fork and exec, the job stops
//! there, and the supervisor hangs inside `spawn()` instead of stopping.

mod common;

use std::time::{Duration, Instant};

use common::supervisor::*;
use common::*;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::getpid;

/// Ctrl-Z / `fg` cycles per run, if the supervisor is still running...
const CYCLES: usize = 25;
/// ...and at least this many, or the test fails (raise `JOBS`).
const MIN_CYCLES: usize = 10;
/// Enough jobs to outlast the cycles (2 to 3 seconds of them).
const JOBS: u32 = 2500;
/// Whole-test limit: the controller kills the session after it.
const LIMIT: Duration = Duration::from_secs(240);
/// How long each step may take before the test calls it a hang.
const STEP: Duration = Duration::from_secs(20);

/// A mix of jobs: most exit at once (`sh` runs only builtins), every fourth
/// starts a `sleep`, so stopped groups hold more than one process.
const JOB_SCRIPT: &str = "case $((SUPERVISOR_JOB % 4)) in 0) sleep 0.02;; esac";

pub(crate) fn main() {
    double_spawn::init();
    if let Some(role) = role() {
        match role.first().map(String::as_str) {
            Some("shell") => shell(),
            other => panic!("unknown role {other:?}"),
        }
        return;
    }
    run_tests(
        "supervisor_pty",
        &[Test {
            name: "ctrl_z_and_fg_while_spawning_stop_and_resume_everything",
            run: || run_role(&["shell"], LIMIT),
        }],
    );
}

fn shell() {
    become_session_leader(LIMIT);
    let me = getpid().as_raw();
    let term = Terminal::open();
    let mut rng = Rng::from_time();

    let started = Instant::now();
    let sup = term.spawn_foreground(&mut supervisor([
        "--jobs",
        &JOBS.to_string(),
        "--parallel",
        "8",
        "--",
        "sh",
        "-c",
        JOB_SCRIPT,
    ]));
    let dump = |what: &str| -> String {
        let tail: String = {
            let out = term.output();
            out[out.len().saturating_sub(1500)..].to_owned()
        };
        format!(
            "{what}\nsession:\n{}terminal (tail):\n{tail}",
            describe(&alive_in_session(me, &[me]))
        )
    };

    let mut stopped_for = Duration::ZERO;
    let mut stubs_caught = 0;
    let mut cycles_with_stub = 0;
    let mut jobs_seen_stopped = 0;
    let mut held_by_vfork = 0;
    let mut cycles = 0;
    let mut end = None;
    for cycle in 1..=CYCLES {
        std::thread::sleep(Duration::from_millis(2 + rng.below(30)));
        term.type_bytes(b"\x1a");
        match wait_job(sup, STEP) {
            Some(JobState::Stopped) => cycles = cycle,
            // Finished before this Ctrl-Z reached it: fine after enough
            // cycles.
            Some(exited @ JobState::Exited(_)) if cycle > MIN_CYCLES => {
                end = Some(exited);
                break;
            }
            None => panic!(
                "{}",
                dump(&format!(
                    "cycle {cycle}: the supervisor did not stop after Ctrl-Z"
                ))
            ),
            Some(other) => panic!(
                "{}",
                dump(&format!(
                    "cycle {cycle}: the supervisor ended early: {other:?}"
                ))
            ),
        }
        let stop_seen = Instant::now();
        // Every job's group got SIGTSTP before the supervisor stopped; the
        // jobs stop as soon as they are scheduled.
        let stopped = eventually(STEP, || all_stopped(&alive_in_session(me, &[me])));
        assert!(
            stopped,
            "{}",
            dump(&format!("cycle {cycle}: not everything stopped"))
        );
        let procs = alive_in_session(me, &[me, sup.as_raw()]);
        let stubs = procs.iter().filter(|p| p.is_stub()).count();
        stubs_caught += stubs;
        cycles_with_stub += usize::from(stubs > 0);
        jobs_seen_stopped += procs.len();
        held_by_vfork += procs.iter().filter(|p| p.state == 'D').count();

        // As a shell does: the terminal is the shell's while the job is
        // stopped. Nothing may wake up meanwhile.
        term.take_back();
        std::thread::sleep(Duration::from_millis(5 + rng.below(20)));
        let procs = alive_in_session(me, &[me]);
        assert!(
            all_stopped(&procs),
            "cycle {cycle}: woke up while stopped:\n{}",
            describe(&procs)
        );

        // fg
        term.give_to(sup);
        stopped_for += stop_seen.elapsed();
        killpg(sup, Signal::SIGCONT).expect("SIGCONT to the supervisor's group");
    }

    let end = end.or_else(|| wait_job(sup, LIMIT));
    let wall = started.elapsed();
    assert_eq!(
        end,
        Some(JobState::Exited(0)),
        "{}",
        dump("the supervisor did not exit with 0")
    );
    let summary = format!("supervisor: {JOBS} jobs: {JOBS} succeeded, 0 failed, in ");
    assert!(
        term.wait_for_output(&summary, STEP),
        "{}",
        dump("no summary line with every job succeeded")
    );

    // The supervisor's clock left out its stopped time: what it reports is
    // at most the wall time minus the stretches the shell saw it stopped
    // (its clock was paused before it stopped and resumed after SIGCONT),
    // give or take the 0.05s of rounding to one decimal.
    let out = term.output();
    let reported: f64 = out[out.find(&summary).unwrap() + summary.len()..]
        .split('s')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .expect("elapsed seconds in the summary");
    let running = wall.saturating_sub(stopped_for).as_secs_f64();
    assert!(
        reported <= running + 0.05,
        "the supervisor reports {reported}s; it ran at most {running:.3}s of {:.3}s (stopped {:.3}s)",
        wall.as_secs_f64(),
        stopped_for.as_secs_f64()
    );

    // Killed or ended job processes may still be on their way out (see
    // `wait_until_gone`); what outlives STEP escaped.
    let left = wait_until_gone(me, &[me], STEP);
    assert!(
        left.is_empty(),
        "left behind {STEP:?} after the supervisor exited:\n{}",
        describe(&left)
    );
    println!(
        "supervisor_pty: {cycles} Ctrl-Z/fg cycles, {JOBS} jobs, {jobs_seen_stopped} job processes \
         seen stopped, of which {stubs_caught} in the stub before exec ({cycles_with_stub} cycles) \
         and {held_by_vfork} sh waiting for a stopped vfork child; wall {:.2}s, stopped {:.2}s, \
         supervisor reported {reported:.1}s",
        wall.as_secs_f64(),
        stopped_for.as_secs_f64()
    );
}
