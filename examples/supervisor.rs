//! A job supervisor that behaves in a terminal: runs a command N times, K at
//! a time, each run in its own process group, with Ctrl-Z, `fg`, `bg` and
//! Ctrl-C working as they do for any Unix tool.
//!
//! ```text
//! supervisor [--jobs N] [--parallel K] [--timeout SECS] [--grace SECS] -- PROGRAM [ARGS...]
//! supervisor                      # a built-in demo
//! ```
//!
//! - Every job runs `PROGRAM ARGS...` with stdin from `/dev/null`, stdout
//!   and stderr inherited, and `SUPERVISOR_JOB` set to its number (1..=N).
//! - **Ctrl-Z** stops every job and the supervisor; `fg` (or `bg`) continues
//!   them all. Time spent stopped counts neither against `--timeout` nor in
//!   the elapsed time shown.
//! - **Ctrl-C**, SIGTERM, SIGHUP, SIGQUIT: no new jobs; SIGTERM to every
//!   job, SIGKILL to what is left after `--grace` seconds (default 2), or at
//!   once on a second Ctrl-C. Exit code 128 + the signal (130 for Ctrl-C).
//! - **`--timeout SECS`**: a job running longer gets SIGTERM, then SIGKILL
//!   after the grace period; it counts as failed.
//! - On a terminal, a status line shows jobs done, running and failed and
//!   the elapsed time; otherwise a plain status line is printed every
//!   second. Failed jobs are reported as they end; a summary line ends the
//!   run.
//! - Exit code: 0 when every job succeeded, 1 when some failed, 2 for bad
//!   arguments, 127 (126) when PROGRAM does not exist (cannot be executed),
//!   reported once.
//!
//! All the job control comes from `double_spawn::job_control`; what is here
//! is policy and presentation. `main` calls `double_spawn::init()` first, so
//! that a Ctrl-Z in the middle of a spawn cannot hang the supervisor, and
//! runs a current-thread runtime: spawning and signal handling then happen
//! on one thread, in order.

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    // First: if this process is a double-spawn stub, this becomes the job.
    double_spawn::init();
    unix::main()
}

#[cfg(not(unix))]
fn main() {
    eprintln!("supervisor: job control needs Unix");
}

#[cfg(unix)]
mod unix {
    use std::ffi::OsString;
    use std::fmt::Write as _;
    use std::future::Future;
    use std::io::{self, IsTerminal, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::pin::Pin;
    use std::process::{ExitCode, ExitStatus, Stdio};
    use std::time::Duration;

    use double_spawn::job_control::{Job, JobControl, JobSignal, PausableClock, Signal, Signals};
    use nix::unistd::{getpgrp, tcgetpgrp};
    use tokio::task::JoinSet;
    use tokio::time::MissedTickBehavior;

    const USAGE: &str = "\
usage: supervisor [--jobs N] [--parallel K] [--timeout SECS] [--grace SECS] -- PROGRAM [ARGS...]
       supervisor                 (runs a built-in demo)

  --jobs N          run PROGRAM N times (default 1)
  --parallel K      at most K jobs at once (default: the number of CPUs)
  --timeout SECS    kill a job that runs longer (time stopped does not count)
  --grace SECS      time between SIGTERM and SIGKILL (default 2)";

    struct Options {
        jobs: u64,
        parallel: usize,
        timeout: Option<Duration>,
        grace: Duration,
        program: OsString,
        args: Vec<OsString>,
    }

    pub fn main() -> ExitCode {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        let options = if args.is_empty() {
            let demo = demo();
            say(format_args!(
                "supervisor: no command given; demo: {} jobs of `sh -c 'sleep 0.N'`, {} at a time \
                 (try Ctrl-Z, fg, Ctrl-C)",
                demo.jobs, demo.parallel
            ));
            demo
        } else {
            match parse(args) {
                Ok(Some(options)) => options,
                Ok(None) => {
                    println!("{USAGE}");
                    return ExitCode::SUCCESS;
                }
                Err(msg) => {
                    say(format_args!("supervisor: {msg}\n{USAGE}"));
                    return ExitCode::from(2);
                }
            }
        };
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                say(format_args!("supervisor: cannot start the runtime: {e}"));
                return ExitCode::FAILURE;
            }
        };
        ExitCode::from(rt.block_on(run(options)))
    }

    fn demo() -> Options {
        Options {
            jobs: 24,
            parallel: 4,
            timeout: None,
            grace: Duration::from_secs(2),
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "sleep 0.$(( SUPERVISOR_JOB * 37 % 9 + 1 ))".into(),
            ],
        }
    }

    /// `Ok(None)` for `--help`.
    fn parse(args: Vec<OsString>) -> Result<Option<Options>, String> {
        let mut options = Options {
            jobs: 1,
            parallel: std::thread::available_parallelism().map_or(1, |n| n.get()),
            timeout: None,
            grace: Duration::from_secs(2),
            program: OsString::new(),
            args: Vec::new(),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(text) = arg.to_str() else {
                // Not UTF-8, so not an option: the command starts here.
                options.program = arg;
                break;
            };
            let (name, inline) = match text.split_once('=') {
                Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
                _ => (text, None),
            };
            let mut value = || match &inline {
                Some(v) => Ok(v.clone()),
                None => args
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| format!("{name} needs a value")),
            };
            match name {
                "-h" | "--help" => return Ok(None),
                "--jobs" => options.jobs = positive(name, &value()?)?,
                "--parallel" => options.parallel = positive(name, &value()?)?,
                "--timeout" => options.timeout = Some(seconds(name, &value()?, false)?),
                "--grace" => options.grace = seconds(name, &value()?, true)?,
                "--" => {
                    options.program = args.next().ok_or("no PROGRAM after --")?;
                    break;
                }
                _ if name.starts_with('-') => return Err(format!("unknown option {name}")),
                _ => {
                    options.program = arg;
                    break;
                }
            }
        }
        if options.program.is_empty() {
            return Err("no PROGRAM given".into());
        }
        options.args = args.collect();
        Ok(Some(options))
    }

    fn positive<T: std::str::FromStr + Default + PartialOrd>(
        name: &str,
        value: &str,
    ) -> Result<T, String> {
        value
            .parse()
            .ok()
            .filter(|n| *n > T::default())
            .ok_or_else(|| format!("{name} takes a positive whole number, not {value:?}"))
    }

    fn seconds(name: &str, value: &str, zero_ok: bool) -> Result<Duration, String> {
        value
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0 || (zero_ok && *s == 0.0))
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| format!("{name} takes a number of seconds, not {value:?}"))
    }

    /// One line on stderr. A terminal that went away must not make the
    /// supervisor panic on its way out, so write errors are ignored.
    fn say(line: std::fmt::Arguments<'_>) {
        let _ = writeln!(io::stderr(), "{line}");
    }

    #[derive(Default)]
    struct Counts {
        succeeded: u64,
        failed: u64,
        timed_out: u64,
        /// Ended by our SIGTERM or SIGKILL during shutdown.
        stopped_by_us: u64,
    }

    struct Finished {
        index: u64,
        status: io::Result<ExitStatus>,
        timed_out: bool,
        took: Duration,
    }

    async fn run(options: Options) -> u8 {
        // Listen before the first spawn, so no signal is lost in between.
        let mut signals = match Signals::new() {
            Ok(signals) => signals,
            Err(e) => {
                say(format_args!("supervisor: cannot listen for signals: {e}"));
                return 1;
            }
        };
        let jc = JobControl::new();
        let mut display = Display::new();
        let mut counts = Counts::default();
        let mut running = JoinSet::new();
        let mut launched = 0u64;
        let mut shutdown: Option<JobSignal> = None;
        let mut grace: Option<Pin<Box<dyn Future<Output = ()> + Send>>> = None;
        let mut cannot_run: Option<io::Error> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);

        loop {
            while shutdown.is_none()
                && cannot_run.is_none()
                && launched < options.jobs
                && running.len() < options.parallel
            {
                let index = launched + 1;
                match launch(&jc, &options, index) {
                    Ok(job) => {
                        launched = index;
                        running.spawn(supervise(job, index, jc.clock().clone(), &options));
                    }
                    // The program is missing or not executable: every
                    // other job would fail the same way. Say it once.
                    Err(e) if is_fatal(&e) => {
                        display.line(format_args!(
                            "supervisor: cannot run {:?}: {e}",
                            options.program
                        ));
                        cannot_run = Some(e);
                    }
                    Err(e) => {
                        launched = index;
                        counts.failed += 1;
                        display.line(format_args!("job {index}: cannot start: {e}"));
                    }
                }
            }
            let launching_done =
                shutdown.is_some() || cannot_run.is_some() || launched == options.jobs;
            if launching_done && running.is_empty() {
                break;
            }

            tokio::select! {
                biased;
                sig = signals.recv() => match sig {
                    JobSignal::Stop => {
                        match jc.suspend(|| display.clear()) {
                            Ok(true) => {}
                            Ok(false) => display.line(format_args!(
                                "supervisor: not stopping: this process group is orphaned, \
                                 nobody could continue it"
                            )),
                            Err(e) => display.line(format_args!("supervisor: cannot stop: {e}")),
                        }
                        display.status(&counts, running.len(), launched, &options, &jc);
                    }
                    _ if shutdown.is_some() => {
                        // Asked twice: no more grace.
                        jc.kill_all();
                    }
                    _ => {
                        shutdown = Some(sig);
                        jc.terminate_all();
                        grace = Some(Box::pin(jc.clock().sleep(options.grace)));
                        display.line(format_args!(
                            "supervisor: {}: stopping {} running job(s) (again to kill them now)",
                            sig.signal(),
                            running.len()
                        ));
                    }
                },
                Some(joined) = running.join_next() => {
                    let finished = joined.expect("a job task panicked");
                    record(finished, shutdown.is_some(), &mut counts, &mut display);
                }
                () = async { grace.as_mut().expect("guarded by the condition").await },
                    if grace.is_some() =>
                {
                    grace = None;
                    jc.kill_all();
                }
                _ = tick.tick() => {
                    display.status(&counts, running.len(), launched, &options, &jc);
                }
            }
        }

        display.clear();
        let elapsed = jc.clock().elapsed();
        let mut summary = format!(
            "supervisor: {} jobs: {} succeeded, {} failed",
            options.jobs, counts.succeeded, counts.failed
        );
        if counts.timed_out > 0 {
            let _ = write!(summary, " ({} timed out)", counts.timed_out);
        }
        if counts.stopped_by_us > 0 {
            let _ = write!(summary, ", {} interrupted", counts.stopped_by_us);
        }
        let not_started = options.jobs - launched;
        if not_started > 0 {
            let _ = write!(summary, ", {not_started} not started");
        }
        let _ = write!(summary, ", in {:.1}s", elapsed.as_secs_f64());
        say(format_args!("{summary}"));

        if let Some(sig) = shutdown {
            (sig.exit_code() & 0xff) as u8
        } else if let Some(e) = cannot_run {
            if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            }
        } else if counts.failed > 0 {
            1
        } else {
            0
        }
    }

    fn launch(jc: &JobControl, options: &Options, index: u64) -> io::Result<Job> {
        let mut cmd = tokio::process::Command::new(&options.program);
        cmd.args(&options.args)
            .env("SUPERVISOR_JOB", index.to_string())
            // Not in the foreground group: reading the terminal would stop
            // the job with SIGTTIN.
            .stdin(Stdio::null());
        jc.spawn(&mut cmd)
    }

    fn is_fatal(e: &io::Error) -> bool {
        matches!(
            e.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
        )
    }

    /// Waits for one job, enforcing the timeout on the pausable clock.
    fn supervise(
        mut job: Job,
        index: u64,
        clock: PausableClock,
        options: &Options,
    ) -> impl Future<Output = Finished> + Send + 'static {
        let (timeout, grace) = (options.timeout, options.grace);
        async move {
            let started = clock.elapsed();
            let mut timed_out = false;
            let status = match timeout {
                None => job.wait().await,
                Some(limit) => match wait_at_most(&mut job, &clock, limit).await {
                    Some(status) => status,
                    None => {
                        timed_out = true;
                        job.terminate();
                        match wait_at_most(&mut job, &clock, grace).await {
                            Some(status) => status,
                            None => {
                                job.kill();
                                job.wait().await
                            }
                        }
                    }
                },
            };
            Finished {
                index,
                status,
                timed_out,
                took: clock.elapsed().saturating_sub(started),
            }
        }
    }

    async fn wait_at_most(
        job: &mut Job,
        clock: &PausableClock,
        limit: Duration,
    ) -> Option<io::Result<ExitStatus>> {
        tokio::select! {
            status = job.wait() => Some(status),
            () = clock.sleep(limit) => None,
        }
    }

    fn record(done: Finished, shutting_down: bool, counts: &mut Counts, display: &mut Display) {
        let Finished {
            index,
            status,
            timed_out,
            took,
        } = done;
        let took = took.as_secs_f64();
        match status {
            Ok(status) if status.success() => counts.succeeded += 1,
            Ok(status) if shutting_down && !timed_out && status.signal().is_some() => {
                counts.stopped_by_us += 1;
            }
            Ok(status) => {
                counts.failed += 1;
                if timed_out {
                    counts.timed_out += 1;
                    display.line(format_args!("job {index}: timed out after {took:.1}s"));
                } else {
                    display.line(format_args!(
                        "job {index}: {} after {took:.1}s",
                        describe(status)
                    ));
                }
            }
            Err(e) => {
                counts.failed += 1;
                display.line(format_args!("job {index}: cannot wait: {e}"));
            }
        }
    }

    fn describe(status: ExitStatus) -> String {
        match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with {code}"),
            (None, Some(n)) => match Signal::try_from(n) {
                Ok(sig) => format!("killed by {sig}"),
                Err(_) => format!("killed by signal {n}"),
            },
            _ => format!("{status}"),
        }
    }

    /// The status line on a terminal, or plain lines elsewhere.
    struct Display {
        tty: bool,
        /// A status line is on the screen and must be erased before other
        /// output.
        shown: bool,
        /// Plain mode: when the next status line is due.
        next_plain: Duration,
    }

    impl Display {
        fn new() -> Display {
            Display {
                tty: io::stderr().is_terminal(),
                shown: false,
                next_plain: Duration::from_secs(1),
            }
        }

        fn status(
            &mut self,
            counts: &Counts,
            running: usize,
            launched: u64,
            options: &Options,
            jc: &JobControl,
        ) {
            let elapsed = jc.clock().elapsed();
            let done = launched - running as u64;
            let line = format!(
                "[{:6.1}s] {done}/{} done, {running} running, {} failed",
                elapsed.as_secs_f64(),
                options.jobs,
                counts.failed
            );
            if self.tty {
                // In the background (after `bg`) the terminal is the
                // shell's: stay quiet there.
                if in_foreground() {
                    let _ = write!(io::stderr(), "\r\x1b[K{line}");
                    self.shown = true;
                }
            } else if elapsed >= self.next_plain {
                self.next_plain = elapsed + Duration::from_secs(1);
                say(format_args!("{line}"));
            }
        }

        /// Erases the status line: before other output, before stopping,
        /// and at the end. The line is drawn again at the next tick.
        fn clear(&mut self) {
            if self.shown {
                let _ = write!(io::stderr(), "\r\x1b[K");
                self.shown = false;
            }
        }

        fn line(&mut self, line: std::fmt::Arguments<'_>) {
            self.clear();
            say(line);
        }
    }

    fn in_foreground() -> bool {
        tcgetpgrp(io::stderr()).is_ok_and(|fg| fg == getpgrp())
    }
}
