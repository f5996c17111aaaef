//! The Unix side of `examples/race.rs`: everything but `main`.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use double_spawn::DoubleSpawnExt;
use nix::libc;
use nix::sys::signal::{self, killpg, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::{getpgrp, getpid, setsid, Pid};

/// A spawn call that has not returned after this long is a hang.
const HANG_AFTER: Duration = Duration::from_secs(2);
/// A copy that has not finished after this long is killed.
const VARIANT_LIMIT: Duration = Duration::from_secs(60);
/// The storm's period.
const STORM_PERIOD: Duration = Duration::from_micros(50);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    DirectStd,
    DirectTokio,
    DoubleStd,
    DoubleTokio,
}

impl Variant {
    const ALL: [Variant; 4] = [
        Variant::DirectStd,
        Variant::DirectTokio,
        Variant::DoubleStd,
        Variant::DoubleTokio,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::DirectStd => "direct-std",
            Variant::DirectTokio => "direct-tokio",
            Variant::DoubleStd => "double-std",
            Variant::DoubleTokio => "double-tokio",
        }
    }

    fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    fn double(self) -> bool {
        matches!(self, Variant::DoubleStd | Variant::DoubleTokio)
    }
}

struct Options {
    spawns: usize,
    workers: usize,
    /// `--child VARIANT`: be the storm process for one variant.
    child: Option<Variant>,
    variants: Vec<Variant>,
}

const USAGE: &str = "usage: race [--spawns N] [--workers K] [--variant NAME]... \
(variants: direct-std direct-tokio double-std double-tokio)";

fn parse_args(args: Vec<String>) -> Result<Options, String> {
    let mut opts = Options {
        spawns: 2000,
        workers: 4,
        child: None,
        variants: Vec::new(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--spawns" => opts.spawns = number(&value("--spawns")?)?,
            "--workers" => opts.workers = number(&value("--workers")?)?.max(1),
            "--variant" | "--child" => {
                let name = value(&arg)?;
                let v = Variant::from_name(&name).ok_or(format!("unknown variant {name}"))?;
                if arg == "--child" {
                    opts.child = Some(v);
                } else {
                    opts.variants.push(v);
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if opts.variants.is_empty() {
        opts.variants = Variant::ALL.to_vec();
    }
    Ok(opts)
}

fn number(s: &str) -> Result<usize, String> {
    s.parse().map_err(|_| format!("not a number: {s:?}"))
}

/// The whole program after `init()`; `tests/race.rs` runs it too.
pub fn race_main(args: Vec<String>) -> u8 {
    let opts = match parse_args(args) {
        Ok(opts) => opts,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("race: {msg}");
            }
            eprintln!("{USAGE}");
            return 2;
        }
    };
    match opts.child {
        Some(variant) => storm_child(variant, &opts),
        None => run_all(&opts),
    }
}

// ---------------------------------------------------------------------------
// The parent: one isolated copy per variant, and the table.
// ---------------------------------------------------------------------------

/// What one copy reported.
#[derive(Debug, Default)]
struct Outcome {
    spawns: usize,
    hangs: usize,
    continued: usize,
    elapsed: Duration,
    note: String,
}

fn run_all(opts: &Options) -> u8 {
    println!(
        "Spawning /bin/true {} times per variant from {} workers, each child in its own \
         process group, while SIGTSTP hits the spawner's group every {} µs.",
        opts.spawns,
        opts.workers,
        STORM_PERIOD.as_micros()
    );
    // The configuration double_spawn() uses: DOUBLE_SPAWN=embedded chooses
    // the embedded stub, DOUBLE_SPAWN=0 turns double spawning off.
    let route = double_spawn::DoubleSpawn::process_default().route();
    println!("double_spawn() route: {route}\n");
    // The columns count different things: "stuck" is workers, not spawns,
    // and a run ends at its first stuck spawn, so it can exceed "spawned".
    println!("  spawned    spawn calls that returned");
    println!(
        "  stuck      workers whose spawn call had not returned after {} s: each is a hang; \
         the first ends the run, so this can exceed \"spawned\"",
        HANG_AFTER.as_secs()
    );
    println!("  continued  children seen stopped and sent SIGCONT\n");
    println!(
        "{:<14} {:>7} {:>6} {:>10} {:>8}",
        "variant", "spawned", "stuck", "continued", "time"
    );
    let mut double_hung = false;
    let mut direct_hung = false;
    for &variant in &opts.variants {
        let outcome = match run_variant(variant, opts) {
            Ok(o) => o,
            Err(e) => Outcome {
                note: format!("could not run: {e}"),
                ..Outcome::default()
            },
        };
        println!(
            "{:<14} {:>7} {:>6} {:>10} {:>7.1}s {}",
            variant.name(),
            outcome.spawns,
            outcome.hangs,
            outcome.continued,
            outcome.elapsed.as_secs_f64(),
            outcome.note
        );
        let failed = outcome.hangs > 0 || outcome.spawns < opts.spawns;
        if variant.double() {
            double_hung |= failed;
        } else {
            direct_hung |= outcome.hangs > 0;
        }
    }
    println!();
    if direct_hung {
        println!(
            "Plain spawn() hung: a child was stopped by SIGTSTP after clone and before exec, \
             so spawn() never returned and nobody knew the pid to continue it."
        );
    } else if opts.variants.iter().any(|v| !v.double()) {
        println!("Plain spawn() did not hang this time; the window is narrow, try more --spawns.");
    }
    if double_hung {
        if let double_spawn::Route::Direct(reason) = route {
            println!(
                "double_spawn() did NOT complete every spawn: it spawned directly ({reason}), \
                 so it can hang like spawn()."
            );
        } else {
            println!(
                "double_spawn() did NOT complete every spawn: this is a bug, please report it."
            );
        }
        return 1;
    }
    println!(
        "double_spawn() completed every spawn: a stop that reached a child during its \
         spawn was held until the stub, which discarded it, as the child is in a process \
         group of its own (\"continued\" counts children seen stopped anyway)."
    );
    0
}

/// Runs one variant in a copy of this program and cleans up after it.
fn run_variant(variant: Variant, opts: &Options) -> io::Result<Outcome> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["--child", variant.name()])
        .args(["--spawns", &opts.spawns.to_string()])
        .args(["--workers", &opts.workers.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let session = child.id() as i32; // the copy's setsid() makes its pid the session id
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || io::read_to_string(stdout).unwrap_or_default());
    let deadline = Instant::now() + VARIANT_LIMIT;
    let mut timed_out = false;
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_session(session);
    let _ = child.kill();
    let _ = child.wait();
    let text = reader.join().unwrap_or_default();
    let mut outcome = parse_result(&text).unwrap_or_default();
    if timed_out {
        outcome.note = format!("(killed after {VARIANT_LIMIT:?})");
    }
    Ok(outcome)
}

fn parse_result(text: &str) -> Option<Outcome> {
    let line = text.lines().find(|l| l.starts_with("RESULT "))?;
    let mut o = Outcome::default();
    for field in line.split_whitespace().skip(1) {
        let (k, v) = field.split_once('=')?;
        match k {
            "spawns" => o.spawns = v.parse().ok()?,
            "hangs" => o.hangs = v.parse().ok()?,
            "continued" => o.continued = v.parse().ok()?,
            "elapsed_ms" => o.elapsed = Duration::from_millis(v.parse().ok()?),
            _ => {}
        }
    }
    Some(o)
}

/// SIGKILLs every process of session `sid` (a session this program created)
/// until none is left, for at most five seconds.
fn kill_session(sid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let members = session_members(sid);
        if members.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in members {
            let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `(pid, state, ppid)` from `/proc/PID/stat`, plus the session id.
fn proc_stat(pid: i32) -> Option<(char, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let _pgrp = f.next()?;
    let session = f.next()?.parse().ok()?;
    Some((state, ppid, session))
}

fn session_members(sid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| proc_stat(pid).is_some_and(|(_, _, s)| s == sid))
        .collect()
}

// ---------------------------------------------------------------------------
// The copy: storm, spawn, watch.
// ---------------------------------------------------------------------------

/// Shared counters of one storm run.
struct Shared {
    spawned: AtomicUsize,
    continued: AtomicUsize,
    stop: AtomicBool,
    /// Per worker: when its current spawn call started (ms since `start`,
    /// plus one), or 0 when it is not inside a spawn call.
    in_spawn: Vec<AtomicU64>,
    start: Instant,
}

impl Shared {
    /// Runs `spawn` as worker `worker`'s spawn call, visible to the watchdog.
    fn tracked<T>(&self, worker: usize, spawn: impl FnOnce() -> T) -> T {
        let now = self.start.elapsed().as_millis() as u64 + 1;
        self.in_spawn[worker].store(now, Ordering::SeqCst);
        let result = spawn();
        self.in_spawn[worker].store(0, Ordering::SeqCst);
        result
    }

    fn stuck_workers(&self) -> usize {
        let now = self.start.elapsed().as_millis() as u64 + 1;
        let limit = HANG_AFTER.as_millis() as u64;
        self.in_spawn
            .iter()
            .map(|t| t.load(Ordering::SeqCst))
            .filter(|&t| t != 0 && now - t > limit)
            .count()
    }
}

extern "C" fn ignore_tstp(_: libc::c_int) {}

fn storm_child(variant: Variant, opts: &Options) -> u8 {
    // Alone in a new session and process group, so the storm can only reach
    // this process and the children it starts.
    if let Err(e) = setsid() {
        eprintln!("race: setsid failed: {e}");
        return 1;
    }
    if getpgrp() != getpid() {
        eprintln!("race: not the leader of its own process group; refusing to send signals");
        return 1;
    }
    // Die with the parent, whose watchdog owns this run. (Stopped children
    // left behind then sit in orphaned groups, and the kernel sends those
    // SIGHUP and SIGCONT.)
    // Elsewhere the parent's watchdog alone bounds the run.
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a process attribute.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL)
    };
    let handler = SigAction::new(
        SigHandler::Handler(ignore_tstp),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    if let Err(e) = unsafe { signal::sigaction(Signal::SIGTSTP, &handler) } {
        eprintln!("race: sigaction failed: {e}");
        return 1;
    }

    let shared = Arc::new(Shared {
        spawned: AtomicUsize::new(0),
        continued: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        in_spawn: (0..opts.workers).map(|_| AtomicU64::new(0)).collect(),
        start: Instant::now(),
    });
    let storm = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            let group = getpgrp();
            while !shared.stop.load(Ordering::Relaxed) {
                let _ = killpg(group, Signal::SIGTSTP);
                std::thread::sleep(STORM_PERIOD);
            }
        })
    };
    let watchdog = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || loop {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            let stuck = shared.stuck_workers();
            if stuck > 0 {
                report(variant, &shared, stuck);
                // The stuck spawn calls never return: end the run here. The
                // parent kills this session, including the stopped children.
                std::process::exit(0);
            }
            std::thread::sleep(Duration::from_millis(50));
        })
    };

    let per_worker = opts.spawns.div_ceil(opts.workers);
    let result = match variant {
        Variant::DirectStd | Variant::DoubleStd => {
            run_std_workers(variant, &shared, per_worker, opts)
        }
        Variant::DirectTokio | Variant::DoubleTokio => {
            run_tokio_workers(variant, &shared, per_worker, opts)
        }
    };
    shared.stop.store(true, Ordering::Relaxed);
    let _ = storm.join();
    let _ = watchdog.join();
    if let Err(e) = result {
        eprintln!("race: {}: {e}", variant.name());
        return 1;
    }
    report(variant, &shared, 0);
    0
}

fn report(variant: Variant, shared: &Shared, hangs: usize) {
    println!(
        "RESULT variant={} spawns={} hangs={} continued={} elapsed_ms={}",
        variant.name(),
        shared.spawned.load(Ordering::SeqCst),
        hangs,
        shared.continued.load(Ordering::SeqCst),
        shared.start.elapsed().as_millis()
    );
}

fn true_command() -> Command {
    let mut cmd = Command::new("/bin/true");
    cmd.process_group(0);
    cmd
}

/// Sends SIGCONT to `pid` if it is stopped; true if it was.
fn continue_if_stopped(pid: u32) -> bool {
    if proc_stat(pid as i32).is_some_and(|(state, _, _)| state == 'T') {
        let _ = signal::kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
        return true;
    }
    false
}

fn run_std_workers(
    variant: Variant,
    shared: &Arc<Shared>,
    per_worker: usize,
    opts: &Options,
) -> io::Result<()> {
    let workers: Vec<_> = (0..opts.workers)
        .map(|w| {
            let shared = Arc::clone(shared);
            std::thread::spawn(move || -> io::Result<()> {
                for _ in 0..per_worker {
                    let mut cmd = true_command();
                    let mut child = shared.tracked(w, || match variant.double() {
                        true => cmd.double_spawn().spawn(),
                        false => cmd.spawn(),
                    })?;
                    loop {
                        if continue_if_stopped(child.id()) {
                            shared.continued.fetch_add(1, Ordering::Relaxed);
                        }
                        if child.try_wait()?.is_some() {
                            break;
                        }
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    shared.spawned.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| io::Error::other("a worker panicked"))??;
    }
    Ok(())
}

fn run_tokio_workers(
    variant: Variant,
    shared: &Arc<Shared>,
    per_worker: usize,
    opts: &Options,
) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let tasks: Vec<_> = (0..opts.workers)
            .map(|w| {
                let shared = Arc::clone(shared);
                tokio::spawn(async move {
                    for _ in 0..per_worker {
                        let mut cmd = tokio::process::Command::from(true_command());
                        let mut child = shared.tracked(w, || match variant.double() {
                            true => cmd.double_spawn().spawn(),
                            false => cmd.spawn(),
                        })?;
                        let pid = child.id().unwrap_or(0);
                        loop {
                            if continue_if_stopped(pid) {
                                shared.continued.fetch_add(1, Ordering::Relaxed);
                            }
                            match tokio::time::timeout(Duration::from_millis(1), child.wait()).await
                            {
                                Ok(status) => {
                                    status?;
                                    break;
                                }
                                Err(_) => continue,
                            }
                        }
                        shared.spawned.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok::<(), io::Error>(())
                })
            })
            .collect();
        for t in tasks {
            t.await.map_err(io::Error::other)??;
        }
        Ok(())
    })
}
