//! A small parallel job runner: the pattern of test runners and build tools.
//!
//! ```text
//! cargo run --example runner -- [--parallel N] [--timeout-ms MS] [--dir DIR] 'SCRIPT' ...
//! ```
//!
//! Each `SCRIPT` is a job run by `sh -c`. The runner works the way real
//! runners do, in two places:
//!
//! 1. **Planning** builds every command up front, in *stub form*
//!    (`DoubleSpawn::std_command`), and configures it over several
//!    statements: arguments, environment, working directory, stdin, one pipe
//!    for stdout and stderr together (so the output keeps its order), and a
//!    process group of its own, so that a timeout can kill the job's whole
//!    tree.
//! 2. **Running** happens later, in one tokio task per job: the task
//!    converts the std command into a tokio one, sets `kill_on_drop`, and
//!    spawns it with `double_spawn()`, which spawns a stub-form command as
//!    it is, under the SIGTSTP guard. It then reads the output, enforces the
//!    timeout, and kills what the job left behind.
//!
//! Ctrl-Z: the jobs are in process groups of their own, so the terminal's
//! SIGTSTP reaches only the runner. The runner forwards it to every job's
//! group, stops itself with SIGSTOP (its SIGTSTP listener replaced the
//! default stop action), and on being continued sends SIGCONT to the jobs.
//! Time spent stopped does not count against a job's timeout. Ctrl-C and
//! SIGTERM kill every job's group and end the runner. A SIGTSTP that lands
//! while a job is being spawned is exactly the case double spawning exists
//! for: the spawn returns, the job is registered, then it is stopped.
//!
//! The report, in job order, one header line per job followed by its output:
//!
//! ```text
//! job 0: exit 0 in 3 ms
//!   | hello
//! job 1: timeout in 1000 ms
//! runner: 1 ok, 0 failed, 1 timed out
//! ```
//!
//! The exit code is 0 when every job exited with 0, else 1 (2 for bad
//! arguments).

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    // First: if this process is a stub, this becomes the job's program.
    double_spawn::init();
    unix::main()
}

#[cfg(not(unix))]
fn main() {
    eprintln!("runner: this example uses process groups and runs on Unix only");
}

#[cfg(unix)]
mod unix {
    use std::collections::HashSet;
    use std::io::{self, Write};
    use std::os::fd::OwnedFd;
    use std::os::unix::process::ExitStatusExt;
    use std::path::PathBuf;
    use std::process::{ExitCode, ExitStatus, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use double_spawn::{DoubleSpawn, DoubleSpawnExt};
    use nix::fcntl::OFlag;
    use nix::sys::signal::{killpg, raise, Signal};
    use nix::unistd::{pipe2, Pid};
    use tokio::io::AsyncReadExt;
    use tokio::net::unix::pipe;
    use tokio::signal::unix::{signal, SignalKind};
    use tokio::sync::Semaphore;

    /// How long to wait for output after a job's process group was killed.
    const DRAIN_LIMIT: Duration = Duration::from_secs(2);

    struct Options {
        parallel: usize,
        timeout: Duration,
        dir: Option<PathBuf>,
        scripts: Vec<String>,
    }

    pub fn main() -> ExitCode {
        let options = match parse_args() {
            Ok(options) => options,
            Err(msg) => {
                eprintln!("runner: {msg}");
                eprintln!("usage: runner [--parallel N] [--timeout-ms MS] [--dir DIR] SCRIPT...");
                return ExitCode::from(2);
            }
        };
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        match rt.block_on(run(options)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("runner: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn parse_args() -> Result<Options, String> {
        let mut options = Options {
            parallel: 4,
            timeout: Duration::from_secs(60),
            dir: None,
            scripts: Vec::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--parallel" => {
                    options.parallel = value("--parallel")?
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or("--parallel takes a positive number")?;
                }
                "--timeout-ms" => {
                    let ms = value("--timeout-ms")?
                        .parse()
                        .map_err(|_| "--timeout-ms takes a number")?;
                    options.timeout = Duration::from_millis(ms);
                }
                "--dir" => options.dir = Some(value("--dir")?.into()),
                "--" => options.scripts.extend(args.by_ref()),
                _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
                _ => options.scripts.push(arg),
            }
        }
        if options.scripts.is_empty() {
            return Err("no jobs".into());
        }
        Ok(options)
    }

    /// A job's command, configured and not yet spawned, and the read end of
    /// its output pipe.
    struct Planned {
        index: usize,
        command: std::process::Command,
        output: OwnedFd,
    }

    /// Step 1: build a job's command in stub form, one setting at a time.
    fn plan(index: usize, script: &str, dir: Option<&PathBuf>) -> io::Result<Planned> {
        let mut command = DoubleSpawn::new().std_command("sh");
        command.arg("-c").arg(script);
        command.env("RUNNER_JOB", index.to_string());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command.stdin(Stdio::null());
        // One pipe for both streams: the job's writes arrive in the order
        // it made them. Both ends are close-on-exec; the child gets dups.
        let (read, write) = pipe2(OFlag::O_CLOEXEC)?;
        command.stderr(write.try_clone()?);
        command.stdout(write);
        // A group of its own: a timeout or Ctrl-C reaches the whole tree.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        Ok(Planned {
            index,
            command,
            output: read,
        })
    }

    /// How a job ended.
    enum Outcome {
        Exited(ExitStatus),
        TimedOut,
        SpawnFailed(io::Error),
    }

    struct Report {
        index: usize,
        outcome: Outcome,
        elapsed: Duration,
        output: Vec<u8>,
    }

    /// The jobs' process groups, and the time the runner spent stopped.
    #[derive(Default)]
    struct Jobs {
        state: Mutex<JobsState>,
    }

    #[derive(Default)]
    struct JobsState {
        groups: HashSet<i32>,
        /// Set while the runner stops itself.
        stopped: bool,
        /// The total time spent stopped so far.
        paused: Duration,
    }

    impl Jobs {
        /// Spawns `command` and records its group, under the lock that the
        /// signal handling takes, so a job is either spawned and known, or
        /// not spawned yet, when the runner forwards a signal.
        fn spawn(
            &self,
            command: &mut tokio::process::Command,
        ) -> io::Result<tokio::process::Child> {
            let mut state = self.state.lock().unwrap();
            let child = command.double_spawn().spawn()?;
            if let Some(pid) = child.id() {
                state.groups.insert(pid as i32);
            }
            Ok(child)
        }

        /// Kills what is left of a finished job's group and forgets it.
        fn finish(&self, pgid: i32) {
            let mut state = self.state.lock().unwrap();
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            state.groups.remove(&pgid);
        }

        fn signal_all(state: &JobsState, signal: Signal) {
            for &pgid in &state.groups {
                let _ = killpg(Pid::from_raw(pgid), signal);
            }
        }

        /// Ctrl-Z: stop the jobs, then the runner; continue them on resume.
        fn suspend(&self) {
            let mut state = self.state.lock().unwrap();
            Self::signal_all(&state, Signal::SIGTSTP);
            state.stopped = true;
            let since = Instant::now();
            // The lock is held while stopped: no job can be spawned (and
            // miss the SIGTSTP) between the forwarding and the stop.
            let _ = raise(Signal::SIGSTOP);
            state.paused += since.elapsed();
            state.stopped = false;
            Self::signal_all(&state, Signal::SIGCONT);
        }

        /// The time a job that started at `start`, when the runner had been
        /// stopped for `paused_then`, has really run; `None` while the
        /// runner is stopping or stopped.
        fn running_time(&self, start: Instant, paused_then: Duration) -> Option<Duration> {
            let state = self.state.lock().unwrap();
            if state.stopped {
                return None;
            }
            Some(start.elapsed().saturating_sub(state.paused - paused_then))
        }

        fn paused(&self) -> Duration {
            self.state.lock().unwrap().paused
        }

        fn kill_all(&self) {
            Self::signal_all(&self.state.lock().unwrap(), Signal::SIGKILL);
        }
    }

    async fn run(options: Options) -> io::Result<bool> {
        let jobs = Arc::new(Jobs::default());
        // Listen before the first spawn, so no Ctrl-Z is lost in between.
        listen(Arc::clone(&jobs))?;
        let planned = (options.scripts.iter().enumerate())
            .map(|(index, script)| plan(index, script, options.dir.as_ref()))
            .collect::<io::Result<Vec<Planned>>>()?;
        let permits = Arc::new(Semaphore::new(options.parallel));
        let tasks: Vec<_> = planned
            .into_iter()
            .map(|job| {
                let jobs = Arc::clone(&jobs);
                let permits = Arc::clone(&permits);
                tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await.expect("open semaphore");
                    run_job(job, &jobs, options.timeout).await
                })
            })
            .collect();
        let mut reports = Vec::with_capacity(tasks.len());
        for task in tasks {
            reports.push(task.await.expect("job task"));
        }
        print_reports(&reports)
    }

    /// Ctrl-Z suspends the jobs and the runner; Ctrl-C and SIGTERM kill the
    /// jobs and end the runner with 128 + the signal number.
    fn listen(jobs: Arc<Jobs>) -> io::Result<()> {
        let mut tstp = signal(SignalKind::from_raw(Signal::SIGTSTP as i32))?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            let code = loop {
                tokio::select! {
                    _ = tstp.recv() => jobs.suspend(),
                    _ = int.recv() => break 130,
                    _ = term.recv() => break 143,
                }
            };
            jobs.kill_all();
            std::process::exit(code);
        });
        Ok(())
    }

    /// Step 2, in the job's own task: convert, spawn, read, time out.
    async fn run_job(job: Planned, jobs: &Jobs, timeout: Duration) -> Report {
        let Planned {
            index,
            command,
            output,
        } = job;
        // The std command becomes a tokio one with every setting kept, the
        // stub form included; tokio-only settings are added afterwards.
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        let start = Instant::now();
        let paused_then = jobs.paused();
        let spawned = jobs.spawn(&mut command);
        drop(command); // our copies of the pipe's write end: EOF comes with the job
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                return Report {
                    index,
                    outcome: Outcome::SpawnFailed(e),
                    elapsed: start.elapsed(),
                    output: Vec::new(),
                }
            }
        };
        let pgid = child.id().expect("a running child has a pid") as i32;
        let mut reader = tokio::spawn(read_all(output));
        let outcome = loop {
            let left = match jobs.running_time(start, paused_then) {
                Some(ran) if ran >= timeout => {
                    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
                    let _ = child.wait().await;
                    break Outcome::TimedOut;
                }
                Some(ran) => timeout - ran,
                None => Duration::from_millis(20), // stopped: look again later
            };
            tokio::select! {
                status = child.wait() => break match status {
                    Ok(status) => Outcome::Exited(status),
                    Err(e) => Outcome::SpawnFailed(e),
                },
                _ = tokio::time::sleep(left) => {}
            }
        };
        let elapsed = (jobs.running_time(start, paused_then)).unwrap_or_else(|| start.elapsed());
        // Whatever the job left running in its group goes too; then the
        // pipe's last writer is gone and the reader sees EOF.
        jobs.finish(pgid);
        let output = match tokio::time::timeout(DRAIN_LIMIT, &mut reader).await {
            Ok(Ok(Ok(bytes))) => bytes,
            _ => {
                reader.abort();
                b"<runner: the output could not be read to its end>".to_vec()
            }
        };
        Report {
            index,
            outcome,
            elapsed,
            output,
        }
    }

    async fn read_all(fd: OwnedFd) -> io::Result<Vec<u8>> {
        let mut pipe = pipe::Receiver::from_owned_fd(fd)?;
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).await?;
        Ok(bytes)
    }

    /// Prints the report; true when every job exited with 0.
    fn print_reports(reports: &[Report]) -> io::Result<bool> {
        let (mut ok, mut failed, mut timed_out) = (0, 0, 0);
        let mut out = io::stdout().lock();
        for report in reports {
            let what = match &report.outcome {
                Outcome::Exited(status) if status.success() => {
                    ok += 1;
                    "exit 0".to_string()
                }
                Outcome::Exited(status) => {
                    failed += 1;
                    match (status.code(), status.signal()) {
                        (Some(code), _) => format!("exit {code}"),
                        (None, Some(signal)) => format!("signal {signal}"),
                        (None, None) => format!("{status}"),
                    }
                }
                Outcome::TimedOut => {
                    timed_out += 1;
                    "timeout".to_string()
                }
                Outcome::SpawnFailed(e) => {
                    failed += 1;
                    format!("error: {e}")
                }
            };
            let ms = report.elapsed.as_millis();
            writeln!(out, "job {}: {what} in {ms} ms", report.index)?;
            for line in String::from_utf8_lossy(&report.output).lines() {
                writeln!(out, "  | {line}")?;
            }
        }
        writeln!(
            out,
            "runner: {ok} ok, {failed} failed, {timed_out} timed out"
        )?;
        Ok(ok == reports.len())
    }
}
