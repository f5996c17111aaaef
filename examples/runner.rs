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
//! arguments, 128 + the signal number when a signal ended the run).

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
    use std::sync::Arc;
    use std::time::Duration;

    use double_spawn::job_control::{JobControl, JobSignal, Signals};
    use double_spawn::DoubleSpawn;
    use nix::fcntl::OFlag;
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::{pipe2, Pid};
    use tokio::io::AsyncReadExt;
    use tokio::net::unix::pipe;
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
    /// (`JobControl::spawn` adds the last one: a process group of its own.)
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

    async fn run(options: Options) -> io::Result<bool> {
        let jc = JobControl::new();
        // Listen before the first spawn, so no Ctrl-Z is lost in between.
        listen(Signals::new()?, jc.clone());
        let planned = (options.scripts.iter().enumerate())
            .map(|(index, script)| plan(index, script, options.dir.as_ref()))
            .collect::<io::Result<Vec<Planned>>>()?;
        let permits = Arc::new(Semaphore::new(options.parallel));
        let tasks: Vec<_> = planned
            .into_iter()
            .map(|job| {
                let jc = jc.clone();
                let permits = Arc::clone(&permits);
                tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await.expect("open semaphore");
                    run_job(job, &jc, options.timeout).await
                })
            })
            .collect();
        let mut reports = Vec::with_capacity(tasks.len());
        for task in tasks {
            reports.push(task.await.expect("job task"));
        }
        print_reports(&reports)
    }

    /// Ctrl-Z suspends the jobs and the runner; Ctrl-C, SIGTERM, SIGHUP and
    /// SIGQUIT kill the jobs and end the runner with 128 + the signal number.
    fn listen(mut signals: Signals, jc: JobControl) {
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
            jc.kill_all();
            std::process::exit(sig.exit_code());
        });
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
