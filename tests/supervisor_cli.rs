//! The supervisor example's command line and reports, off a terminal:
//! usage errors, a missing program reported once, every job run once,
//! failures and timeouts counted, exit codes, plain status lines.
//!
//! The supervisor runs in a session of its own (`setsid` before `exec`),
//! with a time limit after which everything in that session is killed. This
//! test process sends no signal; the supervisor signals its own jobs.

// What these tests observe (/proc, Linux system calls) is Linux; the crate
// docs' "Platform support" says what is checked on other targets.
#![cfg(target_os = "linux")]

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use common::supervisor::*;
use common::*;
use nix::unistd::setsid;

const LIMIT: Duration = Duration::from_secs(60);

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Ran {
    let mut cmd = supervisor(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            setsid()?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("start the supervisor");
    let sid = child.id() as i32;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_with_limit(&mut child, LIMIT);
    // A job process killed by the supervisor may still be on its way out
    // (see `wait_until_gone`): give it GONE; what is alive then escaped, and
    // is killed.
    let left = if status.is_some() {
        wait_until_gone(sid, &[], GONE)
    } else {
        Vec::new()
    };
    kill_session(sid);
    let ran = Ran {
        code: status.and_then(|s| s.code()),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    assert!(
        status.is_some(),
        "{args:?} still running after {LIMIT:?}: {}",
        ran.stderr
    );
    assert!(
        left.is_empty(),
        "{args:?} left behind:\n{}",
        describe(&left)
    );
    ran
}

#[test]
fn bad_arguments_print_the_usage_and_exit_2() {
    for args in [
        &["--bogus"][..],
        &["--jobs"],
        &["--jobs", "3"],
        &["--jobs", "0", "--", "true"],
        &["--jobs", "-1", "--", "true"],
        &["--parallel", "many", "--", "true"],
        &["--timeout", "0", "--", "true"],
        &["--grace=soon", "--", "true"],
        &["--jobs", "2", "--"],
    ] {
        let ran = run(args);
        assert_eq!(ran.code, Some(2), "{args:?}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("usage: supervisor"),
            "{args:?}: {}",
            ran.stderr
        );
        assert_eq!(
            ran.stderr
                .lines()
                .next()
                .map(|l| l.starts_with("supervisor: ")),
            Some(true)
        );
    }
}

#[test]
fn help_prints_the_usage_and_exits_0() {
    let ran = run(&["--help"]);
    assert_eq!(ran.code, Some(0));
    assert!(
        ran.stdout.starts_with("usage: supervisor"),
        "{}",
        ran.stdout
    );
}

#[test]
fn a_missing_program_is_reported_once_and_nothing_else_starts() {
    let ran = run(&[
        "--jobs",
        "50",
        "--parallel",
        "8",
        "--",
        "/nonexistent/program",
    ]);
    assert_eq!(ran.code, Some(127), "{}", ran.stderr);
    let errors: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains("cannot run"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", ran.stderr);
    assert!(errors[0].contains("/nonexistent/program"), "{}", errors[0]);
    assert!(!ran.stderr.contains("job "), "{}", ran.stderr);
    assert!(ran.stderr.contains("50 not started"), "{}", ran.stderr);
}

#[test]
fn a_program_that_cannot_be_executed_exits_126() {
    let path = std::env::temp_dir().join(format!("supervisor-cli-{}.txt", std::process::id()));
    std::fs::write(&path, "not a program\n").unwrap();
    let ran = run(&["--jobs", "5", "--", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(ran.code, Some(126), "{}", ran.stderr);
    assert_eq!(
        ran.stderr.matches("cannot run").count(),
        1,
        "{}",
        ran.stderr
    );
}

#[test]
fn every_job_runs_once_with_its_number() {
    let ran = run(&[
        "--jobs",
        "30",
        "--parallel",
        "4",
        "--",
        "sh",
        "-c",
        "echo \"ran $SUPERVISOR_JOB\"",
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let mut seen: Vec<u32> = ran
        .stdout
        .lines()
        .map(|l| l.strip_prefix("ran ").unwrap().parse().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=30).collect::<Vec<_>>());
    assert!(
        ran.stderr
            .contains("supervisor: 30 jobs: 30 succeeded, 0 failed, in "),
        "{}",
        ran.stderr
    );
}

#[test]
fn failed_jobs_are_reported_and_the_exit_code_is_1() {
    let ran = run(&[
        "--jobs",
        "10",
        "--",
        "sh",
        "-c",
        "exit $((SUPERVISOR_JOB % 2 * 3))",
    ]);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    for odd in [1, 3, 5, 7, 9] {
        assert!(
            ran.stderr
                .contains(&format!("job {odd}: exited with 3 after ")),
            "{}",
            ran.stderr
        );
    }
    assert!(
        ran.stderr.contains("10 jobs: 5 succeeded, 5 failed, in "),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_job_over_its_timeout_is_killed_with_its_group() {
    // The job and its sleep ignore SIGTERM: SIGKILL after the grace period
    // ends them, and nothing is left of the group (checked by `run`).
    let ran = run(&[
        "--jobs",
        "2",
        "--timeout",
        "0.3",
        "--grace",
        "0.2",
        "--",
        "sh",
        "-c",
        "trap '' TERM; sleep 30; :",
    ]);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("job 1: timed out after "),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("job 2: timed out after "),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("2 jobs: 0 succeeded, 2 failed (2 timed out), in "),
        "{}",
        ran.stderr
    );
}

#[test]
fn off_a_terminal_status_lines_are_plain() {
    let ran = run(&["--jobs", "2", "--", "sleep", "1.5"]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains('\x1b') && !ran.stderr.contains('\r'),
        "{:?}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(" running, 0 failed\n"),
        "{}",
        ran.stderr
    );
}
