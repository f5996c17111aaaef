//! The runner pattern: commands built in stub form in one place, converted
//! from std to tokio, and spawned later from another task.
//!
//! - `runner_reports_each_job` runs `examples/runner.rs` and checks its
//!   report: combined output in order, exit codes, a signal, a missing
//!   program, the timeout, and that nothing a job started outlives it.
//! - `runner_ctrl_z_stops_and_continues_the_jobs` sends the runner SIGTSTP
//!   from a conductor process in a session of its own, checks that the
//!   runner and every job stop, continues them, and checks that the stopped
//!   time did not count against the jobs' timeout.
//! - `std_stub_form_converts_to_tokio` is the conversion itself, with a
//!   `pre_exec` closure, spawned from a task on another thread.
//!
//! Everything runs bounded; the runner and the conductor run in sessions
//! the test creates, killed whole on failure.

// What these tests observe (/proc, Linux system calls) is Linux; the crate
// docs' "Platform support" says what is checked on other targets.
#![cfg(target_os = "linux")]

#[cfg(unix)]
mod common;

#[cfg(unix)]
mod unix {
    use std::io;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use double_spawn::{DoubleSpawn, DoubleSpawnExt};
    use nix::libc;
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::{setsid, Pid};

    use crate::common::{self, example_path, kill_session, proc_stat, session_members};

    /// Not a test: the conductor, started by
    /// `runner_ctrl_z_stops_and_continues_the_jobs` in a session of its own.
    #[test]
    #[ignore = "entry point started by runner_ctrl_z_stops_and_continues_the_jobs"]
    fn conductor_entry() {
        conductor();
    }

    /// The runner example's binary. `cargo test` builds examples, but
    /// `cargo test --test runner` does not: refuse a binary older than its
    /// source rather than test stale code.
    fn runner_example() -> std::path::PathBuf {
        let exe = example_path("runner");
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/runner.rs");
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified());
        match (modified(&exe), modified(source.as_ref())) {
            (Ok(built), Ok(written)) if built >= written => exe,
            _ => panic!(
                "{} is missing or older than {source}: run `cargo build --example runner`",
                exe.display()
            ),
        }
    }

    /// Processes of session `sid` that are not zombies (killed processes
    /// reparented to an init that does not reap stay zombies).
    fn live_members(sid: i32) -> Vec<i32> {
        session_members(sid)
            .into_iter()
            .filter(|p| !p.is_zombie())
            .map(|p| p.pid)
            .collect()
    }

    /// Runs `cmd` in a new session, at most `limit`; on time-out kills the
    /// whole session and panics. Checks that nothing of the session is left.
    fn run_in_session(mut cmd: Command, limit: Duration, what: &str) -> Output {
        // SAFETY: setsid is async-signal-safe and allocates nothing.
        unsafe {
            cmd.pre_exec(|| setsid().map(drop).map_err(io::Error::from));
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("spawn");
        let sid = child.id() as i32;
        let guard = SessionGuard(sid);
        let output = common::output_bounded(child, limit, what);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !live_members(sid).is_empty() {
            assert!(
                Instant::now() < deadline,
                "{what} left processes behind: {:?}",
                live_members(sid)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(guard);
        output
    }

    /// Kills session `.0` on drop (a panic included).
    struct SessionGuard(i32);

    impl Drop for SessionGuard {
        fn drop(&mut self) {
            if !live_members(self.0).is_empty() {
                kill_session(self.0);
            }
        }
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// The header line of job `index` and its output lines.
    fn job(report: &str, index: usize) -> (&str, Vec<&str>) {
        let mut lines = report
            .lines()
            .skip_while(|l| !l.starts_with(&format!("job {index}: ")));
        let header = lines
            .next()
            .unwrap_or_else(|| panic!("no job {index} in {report}"));
        let body = lines
            .take_while(|l| l.starts_with("  | "))
            .map(|l| &l[4..])
            .collect();
        (header, body)
    }

    #[test]

    fn runner_reports_each_job() {
        let dir = common::TempDir::new("runner");
        let mut cmd = Command::new(runner_example());
        cmd.args(["--parallel", "3", "--timeout-ms", "1000", "--dir"])
            .arg(&dir.0)
            .args([
                r#"echo out; echo err >&2; echo out2; echo "job=$RUNNER_JOB"; pwd"#,
                "exit 3",
                "kill -9 $$",
                "no-such-program-ds-runner",
                // Its background child must not outlive the timeout.
                "sleep 30 & echo started; wait",
                "printf 'no newline'",
            ]);
        let start = Instant::now();
        let output = run_in_session(cmd, Duration::from_secs(20), "runner");
        let took = start.elapsed();
        let report = text(&output.stdout);
        let context = format!("{report}\nstderr: {}", text(&output.stderr));
        assert_eq!(output.status.code(), Some(1), "{context}");

        let (header, body) = job(&report, 0);
        assert!(header.starts_with("job 0: exit 0 in "), "{context}");
        let dir = dir.0.canonicalize().unwrap();
        let dir = dir.to_str().unwrap();
        assert_eq!(body, ["out", "err", "out2", "job=0", dir], "{context}");
        assert!(
            job(&report, 1).0.starts_with("job 1: exit 3 in "),
            "{context}"
        );
        assert!(
            job(&report, 2).0.starts_with("job 2: signal 9 in "),
            "{context}"
        );
        let (header, body) = job(&report, 3);
        assert!(header.starts_with("job 3: exit 127 in "), "{context}");
        assert!(
            body.concat().contains("no-such-program-ds-runner"),
            "{context}"
        );
        let (header, body) = job(&report, 4);
        assert!(header.starts_with("job 4: timeout in "), "{context}");
        assert_eq!(body, ["started"], "{context}");
        assert_eq!(job(&report, 5).1, ["no newline"], "{context}");
        assert!(
            report.ends_with("runner: 2 ok, 3 failed, 1 timed out\n"),
            "{context}"
        );
        assert!(
            took < Duration::from_secs(10),
            "the timeout did not end the run: {took:?}"
        );
    }

    #[test]

    fn runner_ctrl_z_stops_and_continues_the_jobs() {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(common::entry_args("unix::conductor_entry"));
        let output = run_in_session(cmd, Duration::from_secs(40), "conductor");
        let context = format!(
            "stdout: {}\nstderr: {}",
            text(&output.stdout),
            text(&output.stderr)
        );
        assert!(output.status.success(), "{context}");
        assert!(text(&output.stdout).contains("conductor: ok"), "{context}");
    }

    /// Runs in a session of its own (see `run_in_session`): starts the
    /// runner in a process group it creates, stops that group with SIGTSTP
    /// while two jobs run, and continues it.
    fn conductor() -> ! {
        // SAFETY: getpid, getpgrp and getsid(0) cannot fail.
        let (me, pgrp, sid) = unsafe { (libc::getpid(), libc::getpgrp(), libc::getsid(0)) };
        assert!(
            me == pgrp && me == sid,
            "the conductor must lead its own session and group"
        );
        let timeout_ms = 1500;
        let mut cmd = Command::new(runner_example());
        cmd.args(["--parallel", "2", "--timeout-ms", &timeout_ms.to_string()])
            .args(["sleep 1; echo done-a", "sleep 1; echo done-b"])
            .process_group(0)
            .stdout(Stdio::piped());
        let child = cmd.spawn().expect("spawn runner");
        let runner = child.id() as i32;

        // Two job groups with their `sleep` running: the runner listens.
        let jobs = wait_for("two running jobs", || {
            let groups = job_groups(sid, runner, me);
            (groups.len() == 2 && groups.iter().all(|&g| has_comm(sid, g, "sleep")))
                .then_some(groups)
        });
        killpg(Pid::from_raw(runner), Signal::SIGTSTP).expect("SIGTSTP the runner's group");
        let stopped = || {
            let runner_stopped = proc_stat(runner).is_some_and(|s| s.state == 'T');
            let jobs_stopped = session_members(sid)
                .into_iter()
                .all(|p| !(jobs.contains(&p.pgrp) && p.state != 'T'));
            runner_stopped && jobs_stopped
        };
        wait_for("the runner and its jobs to stop", || {
            stopped().then_some(())
        });
        // Longer than the jobs' sleep and their timeout together.
        std::thread::sleep(Duration::from_millis(2500));
        assert!(stopped(), "something resumed on its own while stopped");
        killpg(Pid::from_raw(runner), Signal::SIGCONT).expect("SIGCONT the runner's group");

        let output = common::output_bounded(child, Duration::from_secs(20), "runner");
        let report = text(&output.stdout);
        assert!(output.status.success(), "runner failed:\n{report}");
        for (index, line) in [(0, "done-a"), (1, "done-b")] {
            let (header, body) = job(&report, index);
            let ms: u64 = header
                .strip_prefix(&format!("job {index}: exit 0 in "))
                .and_then(|rest| rest.strip_suffix(" ms"))
                .and_then(|ms| ms.parse().ok())
                .unwrap_or_else(|| panic!("job {index} did not succeed:\n{report}"));
            assert!(
                ms < timeout_ms,
                "job {index}: {ms} ms counts the stopped time:\n{report}"
            );
            assert_eq!(body, [line], "{report}");
        }
        println!("conductor: ok");
        std::process::exit(0)
    }

    /// The process groups of session `sid` other than the runner's and the
    /// conductor's: the jobs'.
    fn job_groups(sid: i32, runner: i32, conductor: i32) -> Vec<i32> {
        let mut groups: Vec<i32> = session_members(sid)
            .into_iter()
            .map(|p| p.pgrp)
            .filter(|&g| g != runner && g != conductor)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    fn has_comm(sid: i32, pgrp: i32, comm: &str) -> bool {
        session_members(sid)
            .into_iter()
            .any(|p| p.pgrp == pgrp && p.comm == comm)
    }

    fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(value) = check() {
                return value;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A stub-form std command, configured with env, cwd, stdio and a
    /// `pre_exec` closure, converted to tokio and spawned from a task on
    /// another thread, reaches the target with every setting.
    #[test]
    fn std_stub_form_converts_to_tokio() {
        if !crate::common::stub_host_without_init("std_stub_form_converts_to_tokio") {
            return;
        }
        assert!(
            DoubleSpawn::process_default().is_active(),
            "double spawning is off"
        );
        let mut std_cmd = DoubleSpawn::process_default().std_command("sh");
        std_cmd
            .arg("-c")
            .arg(r#"read -r s < /proc/$$/stat; echo "$s"; echo "env=$CONVERTED"; pwd; echo "argv0=$0""#)
            .env("CONVERTED", "yes")
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        // SAFETY: setsid is async-signal-safe and allocates nothing.
        unsafe {
            std_cmd.pre_exec(|| setsid().map(drop).map_err(io::Error::from));
        }
        let mut cmd = tokio::process::Command::from(std_cmd);
        cmd.kill_on_drop(true);

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (pid, output) = rt.block_on(async {
            let task = tokio::spawn(async move {
                let child = cmd.double_spawn().spawn()?;
                let pid = child.id().expect("pid") as i32;
                io::Result::Ok((pid, child.wait_with_output().await?))
            });
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("target did not finish")
                .expect("task")
                .expect("spawn")
        });
        let out = text(&output.stdout);
        assert!(output.status.success(), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        let stat: Vec<&str> = lines[0].split(' ').collect();
        let me = std::process::id().to_string();
        let pid = pid.to_string();
        // pid (comm) state ppid pgrp session
        assert_eq!(
            &stat[..6],
            [&*pid, "(sh)", stat[2], &*me, &*pid, &*pid],
            "{out}"
        );
        assert_eq!(&lines[1..], ["env=yes", "/", "argv0=sh"], "{out}");
    }

    /// `JobControl::spawn` takes a std command by value, and a job control
    /// made with a library's configuration spawns with it: the stub-form
    /// command whose program fails to `exec` exits with that configuration's code, not
    /// the process default's 127.
    #[test]
    fn job_control_spawns_std_commands_with_its_own_configuration() {
        if !crate::common::stub_host_without_init(
            "job_control_spawns_std_commands_with_its_own_configuration",
        ) {
            return;
        }
        use double_spawn::job_control::JobControl;
        use std::os::unix::fs::PermissionsExt;
        // A script whose interpreter is missing: the parent's check of a
        // stub-form command's program passes (an executable file), and only
        // the stub's `exec` fails (a missing program fails `spawn()` itself).
        let dir = common::TempDir::new("runner-exit-code");
        let script = dir.0.join("no-interpreter-ds");
        std::fs::write(&script, "#!/nonexistent-ds/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = DoubleSpawn::enabled().try_exec_failure_code(93).unwrap();
        let jc = JobControl::with_config(config);
        assert_eq!(jc.config(), config);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (missing, plain) = rt.block_on(async {
            let mut cmd = config.std_command(&script);
            cmd.stdin(Stdio::null()).stderr(Stdio::null());
            let mut missing = jc.spawn(cmd).expect("spawn the stub-form command");
            let mut cmd = Command::new("sh");
            cmd.args([
                "-c",
                "[ \"$(ps -o pgid= -p $$ | tr -d ' ')\" = $$ ] && exit 7",
            ]);
            let mut plain = jc.spawn(cmd).expect("spawn the plain command");
            let wait = async { (missing.wait().await, plain.wait().await) };
            tokio::time::timeout(Duration::from_secs(20), wait)
                .await
                .expect("the jobs did not finish")
        });
        assert_eq!(missing.unwrap().code(), Some(93));
        // 7: the shell leads its own process group (JobControl's process_group(0)).
        assert_eq!(plain.unwrap().code(), Some(7));
        assert!(jc.is_empty());
    }
}
