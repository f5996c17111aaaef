//! What the spawn benchmarks share: the routes they compare, interleaved
//! rounds, medians, CPU time, a description of the machine, and the floor
//! program (`floor`).
//!
//! Shared machines are noisy: the load changes within seconds, so times of
//! benchmarks run one after the other are not comparable. Each benchmark
//! therefore runs *rounds*: one run of every variant it compares, in an
//! order that rotates from round to round and is reversed every other
//! round. Criterion reports the time of a
//! round; after its report the bench prints each variant's median over the
//! rounds and the ratios between them, all from this run.
//!
//! Not every bench uses every helper.
#![allow(dead_code)]

pub mod floor;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use double_spawn::{DoubleSpawn, DoubleSpawnExt, Route, Stub};
use nix::libc;

/// The trivial target every bench spawns.
pub const TRUE: &str = "/bin/true";

/// The arguments a test runner gives each test it starts (the test's name
/// and harness flags), for `runner_shaped`.
pub const RUNNER_ARGS: [&str; 4] = [
    "--exact",
    "tests::integration::spawns_under_a_sigtstp_storm",
    "--nocapture",
    "--test-threads=1",
];

/// `RUNNER_ARGS` as one shell-quoted string (nextest's stub takes a
/// target's arguments so).
pub const RUNNER_ARGS_QUOTED: &str =
    "--exact tests::integration::spawns_under_a_sigtstp_storm --nocapture --test-threads=1";

/// Gives `cmd` the arguments and environment a test runner gives each test
/// it starts (shaped after nextest's: `RUNNER_ARGS` and `runner_env`),
/// about 1.5 KB of strings in all. The crate reads a command's hidden
/// settings from std's `Debug` text, whose cost grows with these strings;
/// `/bin/true` alone hides that.
pub fn runner_shaped(cmd: &mut Command) -> &mut Command {
    cmd.args(RUNNER_ARGS);
    runner_env(cmd)
}

/// The environment of `runner_shaped`: some twenty variables naming the
/// run, the package and its paths (about 1.3 KB).
pub fn runner_env(cmd: &mut Command) -> &mut Command {
    let dir = "/home/runner/work/project/project";
    for (key, value) in [
        ("NEXTEST", "1".to_owned()),
        (
            "NEXTEST_RUN_ID",
            "6f1c2b9e-3d4a-4f5b-9c8d-7e6f5a4b3c2d".to_owned(),
        ),
        ("NEXTEST_EXECUTION_MODE", "process-per-test".to_owned()),
        ("NEXTEST_PROFILE", "ci".to_owned()),
        ("NEXTEST_TEST_THREADS", "8".to_owned()),
        ("NEXTEST_ATTEMPT", "1".to_owned()),
        ("NEXTEST_TOTAL_ATTEMPTS", "1".to_owned()),
        (
            "NEXTEST_BIN_EXE_double_spawn",
            format!("{dir}/target/debug/double-spawn"),
        ),
        // No LD_LIBRARY_PATH, which runners often set too: the loader would
        // apply it to the current-executable stub, so the crate takes the
        // embedded stub for such a command, and the current-executable
        // route would not be measured.
        ("NEXTEST_TEST_GLOBAL_SLOT", "3".to_owned()),
        (
            "CARGO_PKG_REPOSITORY",
            "https://github.com/example/double-spawn".to_owned(),
        ),
        (
            "CARGO_PKG_DESCRIPTION",
            "Spawn child processes that a Ctrl-Z cannot hang".to_owned(),
        ),
        ("RUST_TEST_THREADS", "1".to_owned()),
        ("RUST_BACKTRACE", "1".to_owned()),
        ("CARGO", "/home/runner/.cargo/bin/cargo".to_owned()),
        ("CARGO_MANIFEST_DIR", dir.to_owned()),
        ("CARGO_MANIFEST_PATH", format!("{dir}/Cargo.toml")),
        ("CARGO_PKG_NAME", "double-spawn".to_owned()),
        ("CARGO_PKG_VERSION", "0.1.0".to_owned()),
        ("CARGO_CRATE_NAME", "integration".to_owned()),
        ("CARGO_TARGET_TMPDIR", format!("{dir}/target/tmp")),
        (
            "__NEXTEST_ORIGINAL_CARGO",
            "/home/runner/.cargo/bin/cargo".to_owned(),
        ),
    ] {
        cmd.env(key, value);
    }
    cmd
}

/// How a variant spawns: directly, or through a stub with a configuration.
#[derive(Clone, Copy, Debug)]
pub enum How {
    Direct,
    Via(DoubleSpawn),
}

/// The current-executable stub, asserted to be the route taken.
pub fn current_exe() -> How {
    let config = DoubleSpawn::enabled();
    let route = config.route();
    assert!(
        matches!(route, Route::CurrentExe { .. }),
        "the current-executable stub is not available in the bench binary: {route}"
    );
    How::Via(config)
}

/// The embedded stub, if its route really is the embedded one here; else
/// prints once "embedded: unavailable (<route>)" and returns `None`, and
/// the bench skips that variant.
pub fn embedded() -> Option<How> {
    static ROUTE: OnceLock<Option<DoubleSpawn>> = OnceLock::new();
    let config = ROUTE.get_or_init(|| {
        let config = DoubleSpawn::enabled().stub(Stub::Embedded);
        match config.route() {
            Route::Embedded { .. } => Some(config),
            route => {
                println!("embedded: unavailable ({route})");
                None
            }
        }
    });
    config.map(How::Via)
}

/// One spawn + wait of `cmd`, which must succeed.
pub fn std_once(cmd: &mut Command, how: How) {
    std_once_split(cmd, how);
}

/// One spawn + wait of `cmd`, which must succeed; returns the time inside
/// `spawn()` (the parent's preparation and the first `exec`: std's spawn
/// returns once the child has executed, vfork semantics) and the time from
/// its return to the end of the wait (the rest of the child's life: the
/// stub's run, the target's `exec`, run and exit).
pub fn std_once_split(cmd: &mut Command, how: How) -> (Duration, Duration) {
    let start = Instant::now();
    let child = match how {
        How::Direct => cmd.spawn(),
        How::Via(config) => cmd.double_spawn_with(config).spawn(),
    };
    let spawned = Instant::now();
    let status = child.expect("spawn").wait().expect("wait");
    let waited = spawned.elapsed();
    assert!(status.success(), "{cmd:?}: {status}");
    (spawned - start, waited)
}

/// One spawn + wait of `cmd`; returns the time spent inside `spawn()`,
/// during which a tokio worker can run nothing else.
pub async fn tokio_once(cmd: &mut tokio::process::Command, how: How) -> Duration {
    let start = Instant::now();
    let child = match how {
        How::Direct => cmd.spawn(),
        How::Via(config) => cmd.double_spawn_with(config).spawn(),
    };
    let blocked = start.elapsed();
    let status = child.expect("spawn").wait().await.expect("wait");
    assert!(status.success(), "{cmd:?}: {status}");
    blocked
}

/// `spawns` spawn + wait of `/bin/true`, `in_flight` at a time; returns the
/// total time tokio workers spent inside `spawn()`.
pub async fn storm(how: How, spawns: usize, in_flight: usize) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut cmd = tokio::process::Command::new(TRUE);
            let mut blocked = Duration::ZERO;
            while next.fetch_add(1, Ordering::Relaxed) < spawns {
                blocked += tokio_once(&mut cmd, how).await;
            }
            blocked
        });
    }
    let mut blocked = Duration::ZERO;
    while let Some(done) = tasks.join_next().await {
        blocked += done.expect("storm task");
    }
    blocked
}

/// Every timed run of every variant, in seconds, keyed "bench/variant".
static TIMES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

/// One thing a benchmark compares: a name, one timed run of it, and how
/// many runs a round has.
pub struct Variant<'a> {
    name: &'static str,
    per_round: usize,
    run: Box<dyn FnMut() -> Parts + 'a>,
}

/// What one run of a variant measured of itself besides its whole time:
/// the time inside `spawn()` and the time after it. `rounds` records them
/// as "bench/variant.spawn" and "bench/variant.after", after the run's
/// clock stopped, so that no variant's time includes the bookkeeping
/// (which would count in the routes' overhead but not in the floor's).
#[derive(Clone, Copy, Default)]
pub struct Parts {
    pub spawn: Option<Duration>,
    pub after: Option<Duration>,
}

impl Parts {
    /// A run split at the return of `spawn()` (`std_once_split`).
    pub fn split((spawn, after): (Duration, Duration)) -> Parts {
        Parts {
            spawn: Some(spawn),
            after: Some(after),
        }
    }
}

pub fn variant<'a>(name: &'static str, mut run: impl FnMut() + 'a) -> Variant<'a> {
    parts_variant(name, move || {
        run();
        Parts::default()
    })
}

/// A variant whose runs report their `Parts`.
pub fn parts_variant<'a>(name: &'static str, run: impl FnMut() -> Parts + 'a) -> Variant<'a> {
    Variant {
        name,
        per_round: 1,
        run: Box::new(run),
    }
}

impl Variant<'_> {
    /// Runs it `n` times a round: for a cheap variant compared with a
    /// costly one, so that its median rests on more samples.
    pub fn per_round(mut self, n: usize) -> Self {
        self.per_round = n;
        self
    }
}

/// The measurement time: `--measurement-time SECS` from the command line
/// if given (criterion's own flag, which a group's setting would
/// otherwise override), else `default`.
pub fn measurement(default: Duration) -> Duration {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == "--measurement-time")
        .and_then(|w| w[1].parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(default, Duration::from_secs_f64)
}

/// A criterion benchmark that times rounds of `variants`, rotating
/// their order, and records each variant's time for the ratio table.
/// `setup` runs once, before the first round, and only if the benchmark
/// is not filtered out; what it returns lives until the last round.
pub fn rounds<T>(
    c: &mut Criterion,
    id: &str,
    default_measurement: Duration,
    setup: impl FnOnce() -> T,
    mut variants: Vec<Variant<'_>>,
) {
    let mut group = c.benchmark_group(id);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(measurement(default_measurement));
    let mut round = 0usize;
    let k = variants.len();
    let mut setup = Some(setup);
    let mut kept = None;
    group.bench_function("round", |b| {
        if let Some(setup) = setup.take() {
            kept = Some(setup());
        }
        b.iter_custom(|iters| {
            let mut spent = vec![Vec::new(); k];
            let mut parts = vec![Vec::new(); k];
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for j in 0..k {
                    // Rotated, and reversed every other round, so that no
                    // variant always runs right after the same other one
                    // (a costly spawn can slow the next).
                    let j = if round.is_multiple_of(2) {
                        j
                    } else {
                        k - 1 - j
                    };
                    let i = (round / 2 + j) % k;
                    for _ in 0..variants[i].per_round {
                        let start = Instant::now();
                        let p = (variants[i].run)();
                        let t = start.elapsed();
                        total += t;
                        spent[i].push(t.as_secs_f64());
                        parts[i].push(p);
                    }
                }
                round += 1;
            }
            let mut times = TIMES.lock().unwrap();
            for ((v, s), p) in variants.iter().zip(spent).zip(parts) {
                times
                    .entry(format!("{id}/{}", v.name))
                    .or_default()
                    .extend(s);
                for (suffix, part) in [
                    (
                        "spawn",
                        p.iter().filter_map(|p| p.spawn).collect::<Vec<_>>(),
                    ),
                    ("after", p.iter().filter_map(|p| p.after).collect()),
                ] {
                    if !part.is_empty() {
                        times
                            .entry(format!("{id}/{}.{suffix}", v.name))
                            .or_default()
                            .extend(part.iter().map(Duration::as_secs_f64));
                    }
                }
            }
            total
        })
    });
    group.finish();
    drop(black_box(kept));
}

/// Records one value of a series that is not a timed variant.
pub fn note(key: &str, value: f64) {
    TIMES
        .lock()
        .unwrap()
        .entry(key.to_owned())
        .or_default()
        .push(value);
}

/// Median of the series `key` (a time in seconds), if it ran.
pub fn median(key: &str) -> Option<f64> {
    TIMES.lock().unwrap().get(key).map(|t| median_of(t))
}

/// How many values the series `key` has.
pub fn count(key: &str) -> usize {
    TIMES.lock().unwrap().get(key).map_or(0, Vec::len)
}

/// The median of `values` (the upper one of an even count); NaN if empty.
pub fn median_of(values: &[f64]) -> f64 {
    let mut t = values.to_vec();
    t.sort_by(f64::total_cmp);
    t.get(t.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The median of `a[i] - b[i]`: what `a` costs over `b` from runs made side
/// by side (the same round, one after the other), which load that changes
/// from round to round disturbs less than a difference of medians. Falls
/// back to the difference of medians when the series are not paired.
pub fn paired_excess(a: &[f64], b: &[f64]) -> f64 {
    if a.len() == b.len() && !a.is_empty() {
        let d: Vec<f64> = a.iter().zip(b).map(|(a, b)| a - b).collect();
        median_of(&d)
    } else {
        median_of(a) - median_of(b)
    }
}

/// `paired_excess` of the recorded series `a` over `b`, if both ran.
pub fn excess(a: &str, b: &str) -> Option<f64> {
    let times = TIMES.lock().unwrap();
    Some(paired_excess(times.get(a)?, times.get(b)?))
}

/// A time in µs.
pub fn us(t: f64) -> String {
    format!("{:.0} µs", t * 1e6)
}

/// CPU time used by this process and its waited-for children so far.
pub fn cpu_time() -> Duration {
    let used = |who| {
        // SAFETY: getrusage fills the zeroed struct it is given and
        // touches no other memory.
        let ru = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut ru);
            ru
        };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    used(libc::RUSAGE_SELF) + used(libc::RUSAGE_CHILDREN)
}

/// Cores, CPU model, kernel and load, for the README's table.
pub fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = read("/proc/sys/kernel/osrelease");
    let load = read("/proc/loadavg");
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{cores} cores, {model}, Linux {}, load average {}",
        kernel.trim(),
        load.join(" ")
    )
}

/// This binary's size in MB, for the tables.
pub fn exe_size_mb() -> f64 {
    std::env::current_exe()
        .and_then(std::fs::metadata)
        .map_or(f64::NAN, |m| m.len() as f64 / 1e6)
}

/// Rows of "what: value", printed aligned after criterion's report.
#[derive(Default)]
pub struct Summary {
    rows: Vec<(String, String)>,
}

impl Summary {
    /// Adds a row if `value` is known.
    pub fn row(&mut self, what: impl Into<String>, value: Option<String>) {
        if let Some(v) = value {
            self.rows.push((what.into(), v));
        }
    }

    /// A row "`what`: name / name...  value / value..." of the parts that
    /// ran; none if none did.
    pub fn list(&mut self, what: &str, parts: &[(&str, Option<f64>)], f: impl Fn(f64) -> String) {
        let present: Vec<(&str, f64)> = parts
            .iter()
            .filter_map(|&(name, v)| Some((name, v?)))
            .collect();
        if present.is_empty() {
            return;
        }
        let names: Vec<&str> = present.iter().map(|p| p.0).collect();
        let values: Vec<String> = present.iter().map(|p| f(p.1)).collect();
        self.rows
            .push((format!("{what}: {}", names.join(" / ")), values.join(" / ")));
    }

    /// One issue-9 target: `value` against `limit`, met when `value` is on
    /// the right side (`at_most`: value <= limit, else value >= limit).
    pub fn target(&mut self, what: &str, value: Option<f64>, limit: f64, at_most: bool) {
        let (op, met) = match value {
            Some(v) if at_most => ("<=", v <= limit),
            Some(v) => (">=", v >= limit),
            None => {
                let op = if at_most { "<=" } else { ">=" };
                let reason = if embedded().is_none() {
                    "embedded stub unavailable"
                } else {
                    "not measured"
                };
                self.rows.push((
                    format!("target {what}"),
                    format!("n/a ({reason}; {op} {limit})"),
                ));
                return;
            }
        };
        let verdict = if met { "met" } else { "MISSED" };
        self.rows.push((
            format!("target {what}"),
            format!("{:.3} ({op} {limit}: {verdict})", value.unwrap_or(f64::NAN)),
        ));
    }

    /// Prints the rows under a heading naming the machine.
    pub fn print(&self, heading: &str) {
        if self.rows.is_empty() {
            return;
        }
        println!(
            "\n{heading}, medians and ratios from this run, on {}",
            machine()
        );
        let width = self
            .rows
            .iter()
            .map(|(w, _)| w.chars().count())
            .max()
            .unwrap_or(0);
        for (what, value) in &self.rows {
            println!("  {what:<width$}  {value}");
        }
    }
}
