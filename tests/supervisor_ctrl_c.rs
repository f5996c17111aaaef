//! Ctrl-C and SIGTERM end the supervisor example with 128 + the signal and
//! leave no job behind: SIGTERM to every job's group, SIGCONT for the
//! stopped ones, SIGKILL after the grace period or on a second Ctrl-C.
//!
//! Each test runs a toy job-control shell (this binary, in a role) that
//! leads a session on a pseudo-terminal and starts the supervisor as its
//! foreground job; Ctrl-C is typed on the terminal (0x03). The grace period
//! is set far beyond the test's limits, so a test only passes if the jobs
//! ended for the reason under test, not because the grace period ran out.

mod common;

use std::time::Duration;

use common::supervisor::*;
use common::*;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{getpid, Pid};

const LIMIT: Duration = Duration::from_secs(120);
/// How long each step may take before the test calls it a hang; well under
/// the grace period.
const STEP: Duration = Duration::from_secs(20);
const GRACE: &str = "600";
const PARALLEL: usize = 4;

pub(crate) fn main() {
    double_spawn::init();
    if let Some(role) = role() {
        match role.first().map(String::as_str) {
            Some("ctrl-c") => ctrl_c(),
            Some("ctrl-c-twice") => ctrl_c_twice(),
            Some("ctrl-c-stopped-jobs") => ctrl_c_stopped_jobs(),
            Some("sigterm") => sigterm(),
            other => panic!("unknown role {other:?}"),
        }
        return;
    }
    run_tests(
        "supervisor_ctrl_c",
        &[
            Test {
                name: "ctrl_c_terminates_every_job_and_exits_130",
                run: || run_role(&["ctrl-c"], LIMIT),
            },
            Test {
                name: "a_second_ctrl_c_kills_jobs_that_ignore_sigterm",
                run: || run_role(&["ctrl-c-twice"], LIMIT),
            },
            Test {
                name: "ctrl_c_ends_jobs_that_are_stopped",
                run: || run_role(&["ctrl-c-stopped-jobs"], LIMIT),
            },
            Test {
                name: "sigterm_terminates_every_job_and_exits_143",
                run: || run_role(&["sigterm"], LIMIT),
            },
        ],
    );
}

/// The shell's side of one test: the terminal, the supervisor's pid, and
/// this session's id.
struct Run {
    term: Terminal,
    sup: Pid,
    me: i32,
}

impl Run {
    /// Starts `supervisor --jobs 40 --parallel 4 --grace GRACE -- sh -c
    /// SCRIPT` in the foreground and waits until `PARALLEL` processes named
    /// `comm` are alive (in state `state` if given).
    fn start(script: &str, comm: &str, state: Option<char>) -> Run {
        become_session_leader(LIMIT);
        let term = Terminal::open();
        let parallel = PARALLEL.to_string();
        let sup = term.spawn_foreground(&mut supervisor([
            "--jobs",
            "40",
            "--parallel",
            &parallel,
            "--grace",
            GRACE,
            "--",
            "sh",
            "-c",
            script,
        ]));
        let run = Run {
            term,
            sup,
            me: getpid().as_raw(),
        };
        let ready = eventually(STEP, || {
            run.jobs(comm)
                .iter()
                .filter(|p| state.map_or(true, |s| p.state == s))
                .count()
                == PARALLEL
        });
        assert!(
            ready,
            "{}",
            run.dump(&format!("{PARALLEL} {comm} never ran"))
        );
        run
    }

    fn jobs(&self, comm: &str) -> Vec<Proc> {
        alive_in_session(self.me, &[self.me, self.sup.as_raw()])
            .into_iter()
            .filter(|p| p.comm == comm)
            .collect()
    }

    fn dump(&self, what: &str) -> String {
        let out = self.term.output();
        format!(
            "{what}\nsession:\n{}terminal (tail):\n{}",
            describe(&alive_in_session(self.me, &[self.me])),
            &out[out.len().saturating_sub(1500)..]
        )
    }

    /// Waits for the supervisor to exit with `code`, then checks that it
    /// said why and that nothing but this shell is left in the session.
    fn expect_exit(&self, code: i32, announcement: &str) {
        let end = wait_job(self.sup, STEP);
        assert_eq!(
            end,
            Some(JobState::Exited(code)),
            "{}",
            self.dump(&format!("expected exit code {code}"))
        );
        assert!(
            self.term.wait_for_output(announcement, STEP),
            "{}",
            self.dump(&format!("no {announcement:?} on the terminal"))
        );
        let summary = format!(
            "supervisor: 40 jobs: 0 succeeded, 0 failed, {PARALLEL} interrupted, {} not started",
            40 - PARALLEL
        );
        assert!(
            self.term.wait_for_output(&summary, STEP),
            "{}",
            self.dump(&format!("no summary {summary:?}"))
        );
        // Every job's leader ended before the supervisor did (it waits for
        // them); their children were in their groups and got the same
        // signals, but may not have run since to act on them: a killed
        // process stays in /proc (state R, SIGKILL pending) until it has
        // exited. Wait for that; what outlives STEP escaped.
        let left = wait_until_gone(self.me, &[self.me], STEP);
        assert!(
            left.is_empty(),
            "left behind {STEP:?} after the supervisor exited:\n{}",
            describe(&left)
        );
    }
}

fn ctrl_c() {
    let run = Run::start("sleep 30", "sleep", None);
    run.term.type_bytes(b"\x03");
    run.expect_exit(130, "supervisor: SIGINT: stopping 4 running job(s)");
}

fn ctrl_c_twice() {
    // The jobs, and the sleeps they start, ignore SIGTERM.
    let run = Run::start("trap '' TERM; sleep 30", "sleep", None);
    run.term.type_bytes(b"\x03");
    assert!(
        run.term
            .wait_for_output("supervisor: SIGINT: stopping 4 running job(s)", STEP),
        "{}",
        run.dump("the first Ctrl-C was not announced")
    );
    // The grace period is running: nothing ends on its own.
    assert_eq!(
        wait_job(run.sup, Duration::from_millis(300)),
        None,
        "{}",
        run.dump("the supervisor ended before the second Ctrl-C")
    );
    assert_eq!(
        run.jobs("sleep").len(),
        PARALLEL,
        "{}",
        run.dump("a job ended on SIGTERM")
    );
    run.term.type_bytes(b"\x03");
    run.expect_exit(130, "supervisor: SIGINT: stopping");
}

fn ctrl_c_stopped_jobs() {
    // Each job stops itself; SIGTERM alone would stay pending until the
    // grace period's SIGKILL.
    let run = Run::start("kill -STOP $$; sleep 30", "sh", Some('T'));
    run.term.type_bytes(b"\x03");
    run.expect_exit(130, "supervisor: SIGINT: stopping 4 running job(s)");
}

fn sigterm() {
    let run = Run::start("sleep 30", "sleep", None);
    // As `kill -TERM %1` would, to the group this shell created.
    killpg(run.sup, Signal::SIGTERM).expect("SIGTERM to the supervisor's group");
    run.expect_exit(143, "supervisor: SIGTERM: stopping 4 running job(s)");
}
