//! What a double spawn costs, next to a direct spawn and the alternatives.
//!
//! `cargo bench --bench spawn` runs four groups:
//!
//! - `latency`: spawn + wait of `/bin/true`, direct and double, with std and
//!   with tokio; and the *floor*: this very binary started with nothing to
//!   do but return from `init()` and exit, the least that one more `exec` of
//!   the current executable can cost.
//! - `parent_size`: the same spawn from a parent with 0, 1 and 4 GiB of
//!   touched memory: direct, double, and a fork-based reset (a `pre_exec`
//!   hook that unblocks SIGTSTP, which makes std fork instead of using
//!   `posix_spawn`).
//! - `throughput`: a tokio multi-thread runtime spawning 2,000 `/bin/true`
//!   with 16 in flight, direct and double.
//! - `nextest_stub`: nextest's stub, `cargo-nextest __double-spawn -- /bin/true
//!   ''`, against ours (skipped when `cargo-nextest` is not on `PATH`).
//!
//! Shared machines are noisy: the load changes within seconds, so times of
//! benchmarks run one after the other are not comparable. Each benchmark
//! therefore runs *rounds*: one spawn of every variant it compares, in an
//! order that rotates from round to round. Criterion reports the time of a
//! round; after its report the bench prints each variant's median over the
//! rounds and the ratios between them, all from this run.
//!
//! Started with `--double-spawn-floor`, the binary is the floor program.

#[cfg(unix)]
fn main() {
    // First in main: started as the stub, this becomes the target.
    double_spawn::init();
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new(bench::FLOOR_ARG)) {
        return;
    }
    bench::main();
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the spawn benchmarks need a Unix system");
}

#[cfg(unix)]
mod bench {
    use std::collections::BTreeMap;
    use std::hint::black_box;
    use std::io;
    use std::os::unix::process::CommandExt;
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use criterion::{Criterion, SamplingMode};
    use double_spawn::{DoubleSpawn, DoubleSpawnExt};
    use nix::libc;
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};

    /// The argument that makes this binary the floor program.
    pub(crate) const FLOOR_ARG: &str = "--double-spawn-floor";

    const TRUE: &str = "/bin/true";
    const GIB: usize = 1 << 30;

    /// Every timed spawn of every variant, in seconds, keyed "bench/variant".
    static TIMES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

    /// One thing a benchmark compares: a name, one timed run of it, and how
    /// many runs a round has.
    struct Variant<'a> {
        name: &'static str,
        per_round: usize,
        run: Box<dyn FnMut() + 'a>,
    }

    fn variant<'a>(name: &'static str, run: impl FnMut() + 'a) -> Variant<'a> {
        Variant {
            name,
            per_round: 1,
            run: Box::new(run),
        }
    }

    impl Variant<'_> {
        /// Runs it `n` times a round: for a cheap variant compared with a
        /// costly one, so that its median rests on more samples.
        fn per_round(mut self, n: usize) -> Self {
            self.per_round = n;
            self
        }
    }

    /// A criterion benchmark that times rounds of `variants`, rotating
    /// their order, and records each variant's time for the ratio table.
    /// `setup` runs once, before the first round, and only if the benchmark
    /// is not filtered out; what it returns lives until the last round.
    fn rounds<T>(
        c: &mut Criterion,
        id: &str,
        measurement: Duration,
        setup: impl FnOnce() -> T,
        mut variants: Vec<Variant<'_>>,
    ) {
        let mut group = c.benchmark_group(id);
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(measurement);
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
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    for j in 0..k {
                        let i = (round + j) % k;
                        for _ in 0..variants[i].per_round {
                            let start = Instant::now();
                            (variants[i].run)();
                            let t = start.elapsed();
                            total += t;
                            spent[i].push(t.as_secs_f64());
                        }
                    }
                    round += 1;
                }
                let mut times = TIMES.lock().unwrap();
                for (v, s) in variants.iter().zip(spent) {
                    times
                        .entry(format!("{id}/{}", v.name))
                        .or_default()
                        .extend(s);
                }
                total
            })
        });
        group.finish();
        drop(black_box(kept));
    }

    /// Records one value of a series that is not a timed variant.
    fn note(key: &str, value: f64) {
        TIMES
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_default()
            .push(value);
    }

    /// Median time of one run of `bench/variant`, if it ran.
    fn median(key: &str) -> Option<f64> {
        let times = TIMES.lock().unwrap();
        let mut t = times.get(key)?.clone();
        t.sort_by(f64::total_cmp);
        Some(t[t.len() / 2])
    }

    /// One spawn + wait of `cmd`.
    fn std_once(cmd: &mut Command, via_stub: bool) {
        let child = if via_stub {
            cmd.double_spawn().spawn()
        } else {
            cmd.spawn()
        };
        let status = child.expect("spawn").wait().expect("wait");
        assert!(status.success(), "{cmd:?}: {status}");
    }

    /// One spawn + wait of `cmd`; returns the time spent inside `spawn()`,
    /// during which a tokio worker can run nothing else.
    async fn tokio_once(cmd: &mut tokio::process::Command, via_stub: bool) -> Duration {
        let start = Instant::now();
        let child = if via_stub {
            cmd.double_spawn().spawn()
        } else {
            cmd.spawn()
        };
        let blocked = start.elapsed();
        let status = child.expect("spawn").wait().await.expect("wait");
        assert!(status.success(), "{cmd:?}: {status}");
        blocked
    }

    /// `/bin/true` with the hook a sigmask-reset wrapper adds: any `pre_exec`
    /// closure makes std fork instead of using `posix_spawn`.
    fn fork_reset() -> Command {
        let mut cmd = Command::new(TRUE);
        // SAFETY: between fork and exec the closure only fills a set on the
        // stack and calls sigprocmask: async-signal-safe, no allocation, no
        // logging.
        unsafe {
            cmd.pre_exec(|| {
                let mut tstp = SigSet::empty();
                tstp.add(Signal::SIGTSTP);
                sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&tstp), None).map_err(io::Error::from)
            });
        }
        cmd
    }

    /// This binary as the floor program, from the path the stub uses.
    fn floor() -> Command {
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg(FLOOR_ARG);
        cmd
    }

    fn latency(c: &mut Criterion) {
        let (mut direct, mut double, mut bare) = (Command::new(TRUE), Command::new(TRUE), floor());
        rounds(
            c,
            "latency/std",
            Duration::from_secs(4),
            || (),
            vec![
                variant("direct", || std_once(&mut direct, false)),
                variant("double", || std_once(&mut double, true)),
                variant("floor", || std_once(&mut bare, false)),
            ],
        );

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut direct = tokio::process::Command::new(TRUE);
        let mut double = tokio::process::Command::new(TRUE);
        let mut bare = tokio::process::Command::from(floor());
        rounds(
            c,
            "latency/tokio",
            Duration::from_secs(4),
            || (),
            vec![
                variant("direct", || {
                    let blocked = rt.block_on(tokio_once(&mut direct, false));
                    note("latency/tokio/direct.spawn", blocked.as_secs_f64());
                }),
                variant("double", || {
                    let blocked = rt.block_on(tokio_once(&mut double, true));
                    note("latency/tokio/double.spawn", blocked.as_secs_f64());
                }),
                variant("floor", || {
                    rt.block_on(tokio_once(&mut bare, false));
                }),
            ],
        );
    }

    /// Memory the parent has written to, one byte a page, so that every page
    /// is mapped and a fork has to copy its page-table entries.
    fn touched(bytes: usize) -> Vec<u8> {
        let mut v = vec![0u8; bytes];
        for i in (0..bytes).step_by(4096) {
            v[i] = 1;
        }
        black_box(v)
    }

    fn parent_size(c: &mut Criterion) {
        for gib in [0usize, 1, 4] {
            let (mut direct, mut double, mut fork) =
                (Command::new(TRUE), Command::new(TRUE), fork_reset());
            // A fork of a big parent costs as much as dozens of spawns.
            let cheap_per_round = 1 + 8 * gib;
            rounds(
                c,
                &format!("parent_size/{gib}GiB"),
                Duration::from_secs(3),
                || touched(gib * GIB),
                vec![
                    variant("direct", || std_once(&mut direct, false)).per_round(cheap_per_round),
                    variant("double", || std_once(&mut double, true)).per_round(cheap_per_round),
                    variant("fork_reset", || std_once(&mut fork, false)),
                ],
            );
        }
    }

    const STORM_SPAWNS: usize = 2_000;
    const STORM_IN_FLIGHT: usize = 16;

    /// `STORM_SPAWNS` spawn + wait of `/bin/true`, `STORM_IN_FLIGHT` at a
    /// time; returns the total time tokio workers spent inside `spawn()`.
    async fn storm(via_stub: bool) -> Duration {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..STORM_IN_FLIGHT {
            let next = Arc::clone(&next);
            tasks.spawn(async move {
                let mut cmd = tokio::process::Command::new(TRUE);
                let mut blocked = Duration::ZERO;
                while next.fetch_add(1, Ordering::Relaxed) < STORM_SPAWNS {
                    blocked += tokio_once(&mut cmd, via_stub).await;
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

    /// CPU time used by this process and its waited-for children so far.
    fn cpu_time() -> Duration {
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

    fn throughput(c: &mut Criterion) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // Besides the wall time: CPU time per spawn (this process and its
        // children), which other load on the machine disturbs less, and the
        // time a worker spends blocked inside spawn().
        let storm_noting = |via_stub: bool| {
            let name = if via_stub { "double" } else { "direct" };
            let cpu = cpu_time();
            let blocked = rt.block_on(storm(via_stub));
            let per_spawn = |d: Duration| d.as_secs_f64() / STORM_SPAWNS as f64;
            note(
                &format!("throughput/{name}.cpu"),
                per_spawn(cpu_time() - cpu),
            );
            note(&format!("throughput/{name}.blocked"), per_spawn(blocked));
        };
        rounds(
            c,
            "throughput",
            Duration::from_secs(1),
            || (),
            vec![
                variant("direct", || storm_noting(false)),
                variant("double", || storm_noting(true)),
            ],
        );
    }

    /// `cargo-nextest` on `PATH`, if any.
    fn find_nextest() -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("cargo-nextest"))
            .find(|p| p.is_file())
    }

    fn nextest_stub(c: &mut Criterion) {
        let Some(nextest) = find_nextest() else {
            println!("nextest_stub: cargo-nextest is not on PATH; group skipped");
            return;
        };
        // nextest's stub takes the program, then its arguments as one
        // shell-quoted string: '' is "no arguments".
        let mut theirs = Command::new(nextest);
        theirs.args(["__double-spawn", "--", TRUE, ""]);
        let (mut direct, mut double) = (Command::new(TRUE), Command::new(TRUE));
        rounds(
            c,
            "nextest_stub",
            Duration::from_secs(4),
            || (),
            vec![
                variant("direct", || std_once(&mut direct, false)),
                variant("double", || std_once(&mut double, true)),
                variant("nextest", || std_once(&mut theirs, false)),
            ],
        );
    }

    /// Prints each variant's median and the ratios the README quotes.
    fn summary() {
        let m = median;
        let us = |t: f64| format!("{:.0} µs", t * 1e6);
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |what: String, value: Option<String>| {
            if let Some(v) = value {
                rows.push((what, v));
            }
        };

        for flavour in ["std", "tokio"] {
            let id = |v: &str| format!("latency/{flavour}/{v}");
            let (d, s, f) = (m(&id("direct")), m(&id("double")), m(&id("floor")));
            row(
                format!("latency {flavour}: direct / double / floor"),
                d.zip(s)
                    .zip(f)
                    .map(|((d, s), f)| format!("{} / {} / {}", us(d), us(s), us(f))),
            );
            row(
                format!("latency {flavour}: (double - direct) / floor"),
                d.zip(s)
                    .zip(f)
                    .map(|((d, s), f)| format!("{:.2}", (s - d) / f)),
            );
        }
        let (bd, bs) = (
            m("latency/tokio/direct.spawn"),
            m("latency/tokio/double.spawn"),
        );
        row(
            "latency tokio: time inside spawn(), direct / double".into(),
            bd.zip(bs).map(|(d, s)| format!("{} / {}", us(d), us(s))),
        );
        for gib in [0, 1, 4] {
            let id = |v: &str| format!("parent_size/{gib}GiB/{v}");
            let (d, s, f) = (m(&id("direct")), m(&id("double")), m(&id("fork_reset")));
            row(
                format!("parent {gib} GiB: direct / double / fork_reset"),
                d.zip(s)
                    .zip(f)
                    .map(|((d, s), f)| format!("{} / {} / {}", us(d), us(s), us(f))),
            );
            row(
                format!("parent {gib} GiB: fork_reset / double"),
                s.zip(f).map(|(s, f)| format!("{:.1}", f / s)),
            );
            row(
                format!("parent {gib} GiB: double / direct"),
                s.zip(d).map(|(s, d)| format!("{:.2}", s / d)),
            );
        }
        let (td, ts) = (m("throughput/direct"), m("throughput/double"));
        let rate = |t: f64| STORM_SPAWNS as f64 / t;
        row(
            "throughput: direct / double (spawns/s)".into(),
            td.zip(ts)
                .map(|(d, s)| format!("{:.0} / {:.0}", rate(d), rate(s))),
        );
        row(
            "throughput: direct rate / double rate".into(),
            td.zip(ts).map(|(d, s)| format!("{:.2}", s / d)),
        );
        let (cd, cs) = (m("throughput/direct.cpu"), m("throughput/double.cpu"));
        row(
            "throughput: CPU per spawn, direct / double".into(),
            cd.zip(cs).map(|(d, s)| format!("{} / {}", us(d), us(s))),
        );
        row(
            "throughput: CPU per spawn, double / direct".into(),
            cd.zip(cs).map(|(d, s)| format!("{:.2}", s / d)),
        );
        let (bd, bs) = (
            m("throughput/direct.blocked"),
            m("throughput/double.blocked"),
        );
        row(
            "throughput: worker blocked in spawn(), direct / double".into(),
            bd.zip(bs).map(|(d, s)| format!("{} / {}", us(d), us(s))),
        );
        let id = |v: &str| format!("nextest_stub/{v}");
        let (d, s, n) = (m(&id("direct")), m(&id("double")), m(&id("nextest")));
        row(
            "nextest: direct / double / nextest stub".into(),
            d.zip(s)
                .zip(n)
                .map(|((d, s), n)| format!("{} / {} / {}", us(d), us(s), us(n))),
        );
        row(
            "nextest: its overhead / our overhead".into(),
            d.zip(s)
                .zip(n)
                .map(|((d, s), n)| format!("{:.1}", (n - d) / (s - d))),
        );

        if rows.is_empty() {
            return;
        }
        println!("\nmedians and ratios from this run, on {}", machine());
        let counts: Vec<String> = TIMES
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.ends_with("/double"))
            .map(|(k, t)| format!("{} {}", k.trim_end_matches("/double"), t.len()))
            .collect();
        println!("(double spawns timed: {})", counts.join(", "));
        let width = rows
            .iter()
            .map(|(w, _)| w.chars().count())
            .max()
            .unwrap_or(0);
        for (what, value) in rows {
            println!("  {what:<width$}  {value}");
        }
    }

    /// Cores, CPU model, kernel and load, for the README's table.
    fn machine() -> String {
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

    criterion::criterion_group! {
        name = groups;
        config = Criterion::default().without_plots().nresamples(10_000);
        targets = latency, parent_size, throughput, nextest_stub
    }

    pub(crate) fn main() {
        assert!(
            DoubleSpawn::enabled().is_active(),
            "double spawning is not active in the bench binary"
        );
        groups();
        Criterion::default().configure_from_args().final_summary();
        summary();
    }
}
