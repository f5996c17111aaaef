//! A Ctrl-Z aimed at the spawner's process group does not follow a child
//! into a group of its own (issue 16).
//!
//! The runner's shape: every child in its own process group
//! (`process_group(0)`), nobody forwarding stops or continuing children. A
//! SIGTSTP that hits the spawner's group while a child is still in it (after
//! `clone`, before `setpgid`) is held pending by the guard; if the stub then
//! unblocked it, the child would stop in a group no shell continues and the
//! runner would hang in `wait()` instead of `spawn()`.
//!
//! Each case runs a copy of this binary as a toy *shell*: it calls
//! `setsid()`, checks it leads its own process group, and runs the
//! *spawner* as its job, in a process group of its own in that session (a
//! session leader's own group is orphaned, and the kernel discards stop
//! signals sent to an orphaned group: children that stay in the spawner's
//! group would never stop). The spawner checks it leads its own group,
//! installs a no-op handler for the storm's signal (its children get the default action),
//! sends that signal (SIGTSTP unless said) to its own group (and nothing else) every 50 µs from one
//! thread, and double-spawns `/bin/true` one at a time from the main thread,
//! for at most `SPAWNS` spawns or `BUDGET`. Each child is watched through
//! `/proc/PID/stat` until it exits or shows state `T`, with a deadline; a
//! stopped child is counted and killed, so the run goes on. It prints one
//! `RESULT` line. The test waits for the shell with a time limit, then
//! SIGKILLs every process left in the shell's session (its pid is the
//! session id), so nothing outlives the test.
//!
//! - Children in their own groups, plain commands and stub-form commands
//!   (`DoubleSpawn::std_command`, process group set after it was built),
//!   through the current executable and the embedded stub: none may be left
//!   stopped.
//! - Children that stay in the spawner's group: the stops still reach them
//!   after `exec` (they are seen stopped) and a SIGCONT to the spawner's
//!   group, what the shell's `fg` sends, continues them: none hangs.
//! - The same storm of SIGTTIN and of SIGTTOU, which a terminal sends to a
//!   whole background group when a member reads from it (or writes, with
//!   `tostop`): through the current executable with SIGTTIN, the embedded
//!   stub with SIGTTOU, children in their own groups. Before the guard
//!   blocked them, a child stopped by one between `clone` and `exec` hung
//!   the spawner in `spawn()`, or was left stopped after it.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Test;
use double_spawn::{DoubleSpawn, DoubleSpawnExt, Route, Stub};
use nix::sys::signal::{self, killpg, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::{getpgrp, getpid, getppid, setsid};

/// The most spawns a run makes, and the longest it spawns for.
const SPAWNS: usize = 1500;
const BUDGET: Duration = Duration::from_secs(3);
/// How long one child may take to exit (or stop) before it counts as stuck.
const CHILD_DEADLINE: Duration = Duration::from_secs(2);
/// The test's watchdog over one spawner run.
const LIMIT: Duration = Duration::from_secs(15);
const STORM_PERIOD: Duration = Duration::from_micros(50);

const SHELL: &str = "--shell";
const SPAWNER: &str = "--spawner";

pub(crate) fn main() {
    double_spawn::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(SHELL) => std::process::exit(shell(&args[1..])),
        Some(SPAWNER) => std::process::exit(spawner(&args[1..])),
        _ => {}
    }
    common::run_tests(
        "stop_after_leaving_group",
        &[
            Test {
                name: "own_group_children_are_never_left_stopped_current_exe",
                run: own_group_current_exe,
            },
            Test {
                name: "own_group_children_are_never_left_stopped_embedded",
                run: own_group_embedded,
            },
            Test {
                name: "children_in_the_spawners_group_still_stop_after_exec",
                run: same_group,
            },
            Test {
                name: "own_group_children_are_never_left_stopped_by_sigttin_or_sigttou",
                run: own_group_tty_signals,
            },
        ],
    )
}

// ---------------------------------------------------------------------------
// The test side.
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Outcome {
    route: String,
    spawns: usize,
    stub_form: usize,
    stopped: usize,
    stopped_stub_form: usize,
    stuck: usize,
    storm: usize,
}

/// Runs one shell and its spawner in a session of their own and reads the
/// spawner's `RESULT` line;
/// `None` when the stub asked for is not available here.
fn run(stub: &str, mode: &str, signal: &str) -> Option<Outcome> {
    let what = format!("{stub} {mode} {signal}");
    let child = Command::new(std::env::current_exe().unwrap())
        .args([SHELL, stub, mode, signal])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let session = child.id() as i32; // its setsid() makes its pid the session id
    let out = std::panic::catch_unwind(|| common::output_bounded(child, LIMIT, &what));
    // Everything the spawner started is in its session, stopped or not:
    // SIGKILL ends stopped processes too.
    let leftovers = common::kill_session(session);
    let out = out.unwrap_or_else(|_| {
        panic!(
            "{what}: the shell did not end within {LIMIT:?}; killed its session:\n{}",
            common::describe(&leftovers)
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what}: {}\n{stdout}\n{stderr}",
        out.status
    );
    if stdout.lines().any(|l| l.starts_with("UNAVAILABLE ")) {
        println!("NOTE: {what}: {}", stdout.trim());
        return None;
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("{what}: no RESULT line\n{stdout}\n{stderr}"));
    let field = |name: &str| -> String {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{what}: no {name} in {line:?}"))
            .to_owned()
    };
    let number = |name: &str| -> usize {
        field(name)
            .parse()
            .unwrap_or_else(|_| panic!("{what}: {name} in {line:?}"))
    };
    let outcome = Outcome {
        route: field("route"),
        spawns: number("spawns"),
        stub_form: number("stub_form"),
        stopped: number("stopped"),
        stopped_stub_form: number("stopped_stub_form"),
        stuck: number("stuck"),
        storm: number("storm"),
    };
    println!(
        "{what}: {outcome:?}; {} processes were left in its session",
        leftovers.len()
    );
    Some(outcome)
}

fn check_own_group(stub: &str, signal: &str) {
    let Some(o) = run(stub, "leave", signal) else {
        return;
    };
    assert_eq!(o.route, stub, "{o:?}");
    assert!(
        o.storm > 0,
        "{stub}: the storm never reached the spawner: {o:?}"
    );
    assert!(
        o.spawns >= 100,
        "{stub}: too few spawns to mean anything: {o:?}"
    );
    assert_eq!(
        o.stuck, 0,
        "{stub}: children neither exited nor stopped: {o:?}"
    );
    assert_eq!(
        o.stopped, 0,
        "{stub}: {} of {} children in their own groups ({} of {} in stub form) were left \
         stopped by a SIG{signal} aimed at the spawner's group: {o:?}",
        o.stopped, o.spawns, o.stopped_stub_form, o.stub_form
    );
}

fn own_group_current_exe() {
    check_own_group("current-exe", "TSTP");
}

fn own_group_embedded() {
    check_own_group("embedded", "TSTP");
}

fn own_group_tty_signals() {
    check_own_group("current-exe", "TTIN");
    check_own_group("embedded", "TTOU");
}

/// The other half of the behaviour: a child that stays in the spawner's
/// group keeps getting the group's stops after its `exec`, and the
/// group's SIGCONT continues it.
fn same_group() {
    for stub in ["current-exe", "embedded"] {
        let Some(o) = run(stub, "stay", "TSTP") else {
            continue;
        };
        assert_eq!(o.route, stub, "{o:?}");
        assert_eq!(
            o.stuck, 0,
            "{stub}: a child in the spawner's group hung: {o:?}"
        );
        assert!(
            o.stopped > 0,
            "{stub}: no child in the spawner's group was ever seen stopped, although \
             its group's stops should reach it after exec: {o:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// The spawner.
// ---------------------------------------------------------------------------

/// Storm signals the spawner received (the storm reaching its group).
static STORM_HITS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_storm(_: nix::libc::c_int) {
    // An atomic increment is async-signal-safe.
    STORM_HITS.fetch_add(1, Ordering::Relaxed);
}

/// Dies with the parent, whose watchdog owns this run.
fn die_with_parent() {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a process attribute.
    unsafe { nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL) };
}

/// The toy shell: a new session, and the spawner as its job in a process
/// group of its own (not orphaned: its parent, the shell, is in another
/// group of the same session). Returns the job's exit code.
fn shell(args: &[String]) -> i32 {
    if let Err(e) = setsid() {
        eprintln!("setsid failed: {e}");
        return 1;
    }
    if getpgrp() != getpid() {
        eprintln!("not the leader of its own process group");
        return 1;
    }
    die_with_parent();
    let job = Command::new(std::env::current_exe().unwrap())
        .arg(SPAWNER)
        .args(args)
        .process_group(0)
        .stdin(Stdio::null())
        .status();
    match job {
        Ok(status) => status.code().unwrap_or(1),
        Err(e) => {
            eprintln!("cannot start the spawner: {e}");
            1
        }
    }
}

/// `stub`: `current-exe` or `embedded`; `mode`: `leave` (children in their
/// own groups) or `stay` (in the spawner's); the storm's signal: `TSTP`,
/// `TTIN` or `TTOU`. Returns the exit code.
fn spawner(args: &[String]) -> i32 {
    let usage = || {
        eprintln!("usage: {SPAWNER} current-exe|embedded leave|stay TSTP|TTIN|TTOU");
        2
    };
    let (Some(stub), Some(mode), Some(signal)) = (args.first(), args.get(1), args.get(2)) else {
        return usage();
    };
    let storm_signal = match signal.as_str() {
        "TSTP" => Signal::SIGTSTP,
        "TTIN" => Signal::SIGTTIN,
        "TTOU" => Signal::SIGTTOU,
        _ => return usage(),
    };
    let leave = mode == "leave";
    die_with_parent();
    // The leader of its own process group, in the shell's session: the
    // storm reaches this process and the children it starts, nothing else.
    // SAFETY: getsid(0) cannot fail and touches no memory.
    let sid = unsafe { nix::libc::getsid(0) };
    if getpgrp() != getpid() || sid != getppid().as_raw() {
        eprintln!(
            "not the leader of its own process group in the shell's session; \
             refusing to send signals"
        );
        return 1;
    }
    let handler = SigAction::new(
        SigHandler::Handler(count_storm),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only increments an atomic: async-signal-safe.
    if let Err(e) = unsafe { signal::sigaction(storm_signal, &handler) } {
        eprintln!("sigaction failed: {e}");
        return 1;
    }

    let config = match stub.as_str() {
        "embedded" => DoubleSpawn::enabled().stub(Stub::Embedded),
        _ => DoubleSpawn::enabled(),
    };
    let route = config.route();
    match (stub.as_str(), route) {
        ("embedded", Route::Embedded { .. }) | ("current-exe", Route::CurrentExe { .. }) => {}
        ("embedded", other) => {
            println!("UNAVAILABLE the embedded stub is not used here: {other}");
            return 0;
        }
        (_, other) => {
            eprintln!("the current executable is not the route: {other}");
            return 1;
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let storm = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let group = getpgrp();
            while !stop.load(Ordering::Relaxed) {
                let _ = killpg(group, storm_signal);
                std::thread::sleep(STORM_PERIOD);
            }
        })
    };

    let start = Instant::now();
    let (mut spawns, mut stub_form, mut stuck) = (0, 0, 0);
    // Children seen stopped (in `stay` mode: stops seen, several a child).
    let (mut stopped, mut stopped_stub_form) = (0, 0);
    let mut failure = None;
    while spawns < SPAWNS && start.elapsed() < BUDGET {
        // Every other child in stub form, its group set after it was built.
        let in_stub_form = leave && spawns % 2 == 1;
        let mut cmd = if in_stub_form {
            config.std_command("/bin/true")
        } else {
            Command::new("/bin/true")
        };
        if leave {
            cmd.process_group(0);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = match cmd.double_spawn_with(config).spawn() {
            Ok(child) => child,
            Err(e) => {
                failure = Some(format!("spawn: {e}"));
                break;
            }
        };
        spawns += 1;
        stub_form += usize::from(in_stub_form);
        let pid = child.id() as i32;
        let deadline = Instant::now() + CHILD_DEADLINE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) => {}
                Err(e) => {
                    failure = Some(format!("wait: {e}"));
                    break;
                }
            }
            if common::proc_stat(pid).is_some_and(|p| p.is_stopped()) {
                stopped += 1;
                stopped_stub_form += usize::from(in_stub_form);
                if leave {
                    // Nobody would ever continue it: the runner's hang.
                    // Count it and end it, so that the run goes on.
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                // What the shell's `fg` does: continue the spawner's group.
                let _ = killpg(getpgrp(), Signal::SIGCONT);
            }
            if Instant::now() >= deadline {
                stuck += 1;
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        if failure.is_some() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = storm.join();
    println!(
        "RESULT route={} spawns={spawns} stub_form={stub_form} stopped={stopped} \
         stopped_stub_form={stopped_stub_form} stuck={stuck} storm={} elapsed_ms={}",
        match route {
            Route::Embedded { .. } => "embedded",
            _ => "current-exe",
        },
        STORM_HITS.load(Ordering::Relaxed),
        start.elapsed().as_millis()
    );
    if let Some(failure) = failure {
        eprintln!("{failure}");
        return 1;
    }
    0
}
