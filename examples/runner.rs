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
//!    statements: arguments, environment, working directory, stdin, and one
//!    pipe for stdout and stderr together (so the output keeps its order).
//! 2. **Running** happens later, in one tokio task per job: the task
//!    converts the std command into a tokio one, sets `kill_on_drop`, and
//!    spawns it with `JobControl::spawn`, which puts it in a process group
//!    of its own (so that a timeout can kill the job's whole tree) and
//!    spawns the stub-form command as it is with `double_spawn()`, under the
//!    SIGTSTP guard. It then reads the output, enforces the timeout, and
//!    kills what the job left behind.
//!
//! Ctrl-Z, Ctrl-C and timeouts come from `double_spawn::job_control`. The
//! jobs are in process groups of their own, so the terminal's SIGTSTP
//! reaches only the runner; `JobControl::suspend` forwards it to every
//! job's group, stops the runner with SIGSTOP, and on being continued sends
//! SIGCONT to the jobs. Timeouts run on the job control's pausable clock,
//! so time spent stopped does not count against them. Ctrl-C, SIGTERM,
//! SIGHUP and SIGQUIT kill every job's group and end the runner. A SIGTSTP
//! that lands while a job is being spawned is exactly the case double
//! spawning exists for: the spawn returns, the job is registered, then it
//! is stopped.
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
//! arguments, 128 + the signal number when a signal ended the run). When
//! Ctrl-C (or SIGTERM, SIGHUP, SIGQUIT) ends the run, the report shows the
//! jobs that had finished, with their output, and the others as
//! interrupted.

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
    use std::io::{self, Write};
    use std::os::fd::OwnedFd;
    use std::os::unix::process::ExitStatusExt;
    use std::path::PathBuf;
    use std::process::{ExitCode, ExitStatus, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use double_spawn::job_control::Signal;
    use double_spawn::job_control::{JobControl, JobSignal, Signals};
    use double_spawn::DoubleSpawn;
    use nix::sys::signal::killpg;
    use nix::unistd::Pid;
    use tokio::io::AsyncReadExt;
    use tokio::net::unix::pipe;
    use tokio::sync::{oneshot, Semaphore};

    /// How long to wait for output after a job's process group was killed.
    const DRAIN_LIMIT: Duration = Duration::from_secs(2);

    const USAGE: &str = "usage: runner [--parallel N] [--timeout-ms MS] [--dir DIR] SCRIPT...";

    const HELP: &str = "\
Runs each SCRIPT with `sh -c`, N at a time, each job in a process group of
its own, and prints a report: one line per job and its combined output.

options:
  --parallel N      jobs in flight (default 4)
  --timeout-ms MS   kill a job (and its process group) after MS ms of
                    running time; time stopped by Ctrl-Z does not count
                    (default 60000)
  --dir DIR         run the jobs in DIR
  -h, --help        print this help

Ctrl-Z stops the jobs and the runner, `fg` continues them; Ctrl-C kills the
jobs and reports those that had finished. Exit code: 0 when every job exited
with 0, 1 otherwise, 2 for bad arguments, 128 + N when signal N ended the
run.";

    struct Options {
        parallel: usize,
        timeout: Duration,
        dir: Option<PathBuf>,
        scripts: Vec<String>,
    }

    pub fn main() -> ExitCode {
        let options = match parse_args() {
            Ok(Some(options)) => options,
            Ok(None) => {
                println!("{USAGE}\n\n{HELP}");
                return ExitCode::SUCCESS;
            }
            Err(msg) => {
                eprintln!("runner: {msg}");
                eprintln!("{USAGE}");
                eprintln!("(runner --help for more)");
                return ExitCode::from(2);
            }
        };
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        let code = match rt.block_on(run(options)) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("runner: {e}");
                1
            }
        };
        // Jobs still running after an interruption were killed; do not
        // wait for their tasks.
        rt.shutdown_background();
        ExitCode::from(code)
    }

    /// The options, or `None` for `--help`.
    fn parse_args() -> Result<Option<Options>, String> {
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
                "-h" | "--help" => return Ok(None),
                "--" => options.scripts.extend(args.by_ref()),
                _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
                _ => options.scripts.push(arg),
            }
        }
        if options.scripts.is_empty() {
            return Err("no jobs".into());
        }
        if let Some(dir) = &options.dir {
            // Checked here, so that the error names the directory rather
            // than every job failing to spawn with a bare "No such file".
            match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(format!("--dir {}: not a directory", dir.display())),
                Err(e) => return Err(format!("--dir {}: {e}", dir.display())),
            }
        }
        Ok(Some(options))
    }

    /// A job's command, configured and not yet spawned, and the read end of
    /// its output pipe.
    struct Planned {
        index: usize,
        command: std::process::Command,
        output: OwnedFd,
    }

    /// Step 1: build a job's command in stub form, one setting at a time.
    /// (`JobControl::spawn` adds the last one: a process group of its own.)
    // Examples build with the dev-dependencies, which need Rust 1.87 (see
    // Cargo.toml), so std::io::pipe (1.87) is fine here.
    #[clippy::msrv = "1.87"]
    fn plan(index: usize, script: &str, dir: Option<&PathBuf>) -> io::Result<Planned> {
        let mut command = DoubleSpawn::process_default().std_command("sh");
        command.arg("-c").arg(script);
        command.env("RUNNER_JOB", index.to_string());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command.stdin(Stdio::null());
        // One pipe for both streams: the job's writes arrive in the order
        // it made them. Both ends are close-on-exec (std::io::pipe makes
        // them so on every Unix, atomically where the system can); the
        // child gets dups.
        let (read, write) = std::io::pipe()?;
        let (read, write) = (OwnedFd::from(read), OwnedFd::from(write));
        command.stderr(write.try_clone()?);
        command.stdout(write);
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

    /// Runs every job; returns the exit code.
    async fn run(options: Options) -> io::Result<u8> {
        let jc = JobControl::new();
        // Listen before the first spawn, so no Ctrl-Z is lost in between.
        let ended = listen(Signals::new()?, jc.clone());
        let planned = (options.scripts.iter().enumerate())
            .map(|(index, script)| plan(index, script, options.dir.as_ref()))
            .collect::<io::Result<Vec<Planned>>>()?;
        // Each job's report, filled in as it finishes. An interruption
        // takes the vector, so that jobs ending after it (killed by it) are
        // not reported as finished.
        let finished: Arc<Mutex<Vec<Option<Report>>>> =
            Arc::new(Mutex::new(planned.iter().map(|_| None).collect()));
        let permits = Arc::new(Semaphore::new(options.parallel));
        let tasks: Vec<_> = planned
            .into_iter()
            .map(|job| {
                let jc = jc.clone();
                let permits = Arc::clone(&permits);
                let finished = Arc::clone(&finished);
                tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await.expect("open semaphore");
                    let report = run_job(job, &jc, options.timeout).await;
                    let mut finished = finished.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(slot) = finished.get_mut(report.index) {
                        *slot = Some(report);
                    }
                })
            })
            .collect();
        let all_done = async {
            for task in tasks {
                task.await.expect("job task");
            }
        };
        let interrupted = tokio::select! {
            () = all_done => None,
            Ok(sig) = ended => Some(sig),
        };
        let reports = std::mem::take(&mut *finished.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(sig) = interrupted {
            jc.kill_all();
            print_reports(&reports)?;
            eprintln!("runner: interrupted by {:?}", sig.signal());
            return Ok(u8::try_from(sig.exit_code()).unwrap_or(u8::MAX));
        }
        Ok(if print_reports(&reports)? { 0 } else { 1 })
    }

    /// Ctrl-Z suspends the jobs and the runner; Ctrl-C, SIGTERM, SIGHUP and
    /// SIGQUIT end the run: the returned receiver gets the signal, and the
    /// runner then kills the jobs, reports and exits with 128 + its number.
    fn listen(mut signals: Signals, jc: JobControl) -> oneshot::Receiver<JobSignal> {
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let sig = loop {
                match signals.recv().await {
                    JobSignal::Stop => match jc.suspend(|| {}) {
                        Ok(true) => {}
                        Ok(false) => eprintln!(
                            "runner: not stopping: this process group is orphaned, \
                             nobody could continue it"
                        ),
                        Err(e) => eprintln!("runner: cannot stop: {e}"),
                    },
                    sig => break sig,
                }
            };
            let _ = tx.send(sig);
        });
        rx
    }

    /// Step 2, in the job's own task: convert, spawn, read, time out.
    async fn run_job(job: Planned, jc: &JobControl, timeout: Duration) -> Report {
        let Planned {
            index,
            command,
            output,
        } = job;
        // The std command becomes a tokio one with every setting kept, the
        // stub form included; tokio-only settings are added afterwards.
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        // Timed on the job control's clock, which stands still while the
        // runner is stopped: a Ctrl-Z does not use up the timeout.
        let clock = jc.clock();
        let start = clock.elapsed();
        let ran = || clock.elapsed().saturating_sub(start);
        let deadline = clock.sleep(timeout);
        let spawned = jc.spawn(&mut command);
        drop(command); // our copies of the pipe's write end: EOF comes with the job
        let mut job = match spawned {
            Ok(job) => job,
            Err(e) => {
                return Report {
                    index,
                    outcome: Outcome::SpawnFailed(e),
                    elapsed: ran(),
                    output: Vec::new(),
                }
            }
        };
        let pgid = Pid::from_raw(job.id() as i32);
        let mut reader = tokio::spawn(read_all(output));
        let outcome = tokio::select! {
            status = job.wait() => match status {
                Ok(status) => Outcome::Exited(status),
                Err(e) => Outcome::SpawnFailed(e),
            },
            () = deadline => {
                job.kill();
                let _ = job.wait().await;
                Outcome::TimedOut
            }
        };
        let elapsed = ran();
        // Whatever the job left running in its group goes too; then the
        // pipe's last writer is gone and the reader sees EOF. The job
        // control stops tracking a group once its leader is reaped, so this
        // is the runner's own kill. The group's id cannot be reused while a
        // process of the group lives; if none does, the kill fails with
        // ESRCH, unless the kernel went through every other pid in the
        // meantime and gave this one to a new group.
        let _ = killpg(pgid, Signal::SIGKILL);
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

    /// Prints the report, `None` for a job that had not finished; true
    /// when every job exited with 0.
    fn print_reports(reports: &[Option<Report>]) -> io::Result<bool> {
        let (mut ok, mut failed, mut timed_out, mut interrupted) = (0, 0, 0, 0);
        let mut out = io::stdout().lock();
        for (index, report) in reports.iter().enumerate() {
            let Some(report) = report else {
                interrupted += 1;
                writeln!(out, "job {index}: interrupted")?;
                continue;
            };
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
        write!(
            out,
            "runner: {ok} ok, {failed} failed, {timed_out} timed out"
        )?;
        if interrupted > 0 {
            write!(out, ", {interrupted} interrupted")?;
        }
        writeln!(out)?;
        out.flush()?;
        Ok(ok == reports.len())
    }
}
