//! How long one spawn + wait of `/bin/true` takes, by route.
//!
//! `cargo bench -p double-spawn-benches --bench latency` compares, in
//! interleaved rounds (see `common`):
//!
//! - `latency/std` and `latency/tokio`: a direct spawn, the
//!   current-executable stub (`DoubleSpawn::enabled()`), the embedded stub
//!   (`DoubleSpawn::enabled().stub(Stub::Embedded)`, skipped with
//!   "embedded: unavailable (<route>)" where that route is not taken), the
//!   *floor* (`common::floor`: a static program that only unblocks SIGTSTP
//!   and `exec`s its argument, the least any stub can cost, started with
//!   SIGTSTP blocked from a sealed memfd and from a regular file), and
//!   `bare_exe`: this very binary started with nothing to do but exit, the
//!   least that one more `exec` of the current executable can cost. With
//!   tokio it also records the time a worker spends inside `spawn()`; with
//!   std, every variant's time inside `spawn()` (the parent's preparation
//!   and the first `exec`) and after it (the rest), and `embedded_form`: a
//!   stub-form command for the embedded stub built once and spawned in
//!   place, which skips the parent's rewrite (inspect, resolve), and
//!   `embedded_raw`: the embedded stub's memfd spawned as the floor is
//!   (SIGTSTP blocked, nothing else of the crate).
//! - `latency/runner_command`: direct, the floor and the embedded stub
//!   spawning `/bin/true` with a runner-shaped command
//!   (`common::runner_shaped`: the arguments and some twenty variables a
//!   test runner gives a test), for the cost that grows with a command's
//!   strings (the parent reads its settings from std's `Debug` text).
//! - `nextest_stub`: nextest's own stub, `cargo-nextest __double-spawn --
//!   /bin/true ''` (a subcommand of the runner's binary, started after its
//!   runtime and argument parsing), against ours; skipped when
//!   `cargo-nextest` is not on `PATH`.
//!
//! After criterion's report it prints the medians, each route's overhead
//! over direct and that overhead divided by the floor's, and the issue-9
//! targets this bench measures: (embedded − direct) / direct <= 0.15, and
//! nextest's stub overhead / the embedded stub's >= 15.
//!
//! Started with `--double-spawn-floor`, the binary is the `bare_exe`
//! program.

#[cfg(unix)]
mod common;

#[cfg(unix)]
fn main() {
    // First in main: started as the stub on a C library without the
    // constructor stub (musl), this becomes the target.
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
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Duration;

    use criterion::Criterion;

    use crate::common::floor;
    use crate::common::{
        current_exe, embedded, excess, median, parts_variant, rounds, runner_shaped, std_once,
        std_once_split, tokio_once, us, variant, How, Parts, Summary, Variant, TRUE,
    };

    /// The argument that makes this binary the floor program.
    pub(crate) const FLOOR_ARG: &str = "--double-spawn-floor";

    /// This binary as the `bare_exe` program, from the path the stub uses.
    fn bare_exe() -> Command {
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg(FLOOR_ARG);
        cmd
    }

    /// The embedded stub's memfd started with the stub protocol's arguments
    /// for `/bin/true` and only the flag to unblock SIGTSTP, as the floor is
    /// started; `None` where the embedded route is not taken.
    fn embedded_raw() -> Option<Command> {
        use std::os::unix::process::CommandExt;
        let How::Via(config) = embedded()? else {
            return None;
        };
        let double_spawn::Route::Embedded { path } = config.route() else {
            return None;
        };
        let mut cmd = Command::new(path);
        cmd.arg0("double-spawn:t")
            .args(["__double-spawn-stub-v1", TRUE, TRUE]);
        Some(cmd)
    }

    /// The routes every group compares: name and how.
    fn routes() -> Vec<(&'static str, How)> {
        let mut routes = vec![("direct", How::Direct), ("current_exe", current_exe())];
        if let Some(how) = embedded() {
            routes.push(("embedded", how));
        }
        routes
    }

    /// One variant per command: a std spawn + wait of it, on its route.
    fn spawn_variants<'a>(cmds: &'a mut [(&'static str, How, Command)]) -> Vec<Variant<'a>> {
        cmds.iter_mut()
            .map(|(name, how, cmd)| {
                let how = *how;
                variant(name, move || std_once(cmd, how))
            })
            .collect()
    }

    /// The floor program, from a memfd and from a file, where it runs.
    fn floors() -> Vec<(&'static str, &'static std::path::Path)> {
        let mut floors = Vec::new();
        if let Some(path) = floor::memfd() {
            floors.push(("floor_memfd", path));
        }
        if let Some(path) = floor::file() {
            floors.push(("floor_file", path));
        }
        floors
    }

    fn latency_std(c: &mut Criterion) {
        let mut cmds: Vec<(&'static str, How, Command)> = routes()
            .into_iter()
            .map(|(name, how)| (name, how, Command::new(TRUE)))
            .collect();
        // The embedded stub's own cost without the rewrite: a stub-form
        // command, built once and spawned in place (no inspect, no resolve).
        if let Some(How::Via(config)) = embedded() {
            cmds.push(("embedded_form", How::Via(config), config.std_command(TRUE)));
        }
        let mut bare = bare_exe();
        let mut floors: Vec<(&'static str, Command)> = floors()
            .into_iter()
            .map(|(name, path)| (name, floor::command(path)))
            .collect();
        // Each run also reports its time inside `spawn()` and after it (see
        // `std_once_split`), which the summary splits the overheads by.
        let mut variants: Vec<Variant<'_>> = cmds
            .iter_mut()
            .map(|(name, how, cmd)| {
                let how = *how;
                parts_variant(name, move || Parts::split(std_once_split(cmd, how)))
            })
            .collect();
        for (name, cmd) in &mut floors {
            variants.push(parts_variant(name, move || {
                Parts::split(floor::std_once_split(cmd))
            }));
        }
        // The embedded stub spawned as the floor is (its memfd, SIGTSTP
        // blocked, nothing else of the crate): the stub's own exec and run.
        if let Some(mut raw) = embedded_raw() {
            variants.push(parts_variant("embedded_raw", move || {
                Parts::split(floor::std_once_split(&mut raw))
            }));
        }
        variants.push(variant("bare_exe", || std_once(&mut bare, How::Direct)));
        rounds(c, "latency/std", Duration::from_secs(4), || (), variants);
    }

    fn latency_tokio(c: &mut Criterion) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let rt = &rt;
        let mut cmds: Vec<(&'static str, How, tokio::process::Command)> = routes()
            .into_iter()
            .map(|(name, how)| (name, how, tokio::process::Command::new(TRUE)))
            .collect();
        let mut bare = tokio::process::Command::from(bare_exe());
        let mut floors: Vec<(&'static str, tokio::process::Command)> = floors()
            .into_iter()
            .map(|(name, path)| (name, floor::command(path).into()))
            .collect();
        let mut variants: Vec<Variant<'_>> = cmds
            .iter_mut()
            .map(|(name, how, cmd)| {
                let how = *how;
                parts_variant(name, move || Parts {
                    spawn: Some(rt.block_on(tokio_once(cmd, how))),
                    after: None,
                })
            })
            .collect();
        for (name, cmd) in &mut floors {
            variants.push(variant(name, move || rt.block_on(floor::tokio_once(cmd))));
        }
        variants.push(variant("bare_exe", move || {
            rt.block_on(tokio_once(&mut bare, How::Direct));
        }));
        rounds(c, "latency/tokio", Duration::from_secs(4), || (), variants);
    }

    /// `cargo-nextest` on `PATH`, if any.
    fn find_nextest() -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("cargo-nextest"))
            .find(|p| p.is_file())
    }

    /// Direct, the floor and the embedded stub with a runner-shaped
    /// command (`common::runner_shaped`) instead of a bare `/bin/true`.
    fn latency_runner_command(c: &mut Criterion) {
        let Some(floor) = floor::memfd() else {
            println!("latency/runner_command: no floor program; group skipped");
            return;
        };
        let mut cmds: Vec<(&'static str, How, Command)> = vec![("direct", How::Direct)]
            .into_iter()
            .chain(embedded().map(|how| ("embedded", how)))
            .map(|(name, how)| {
                let mut cmd = Command::new(TRUE);
                runner_shaped(&mut cmd);
                (name, how, cmd)
            })
            .collect();
        let mut floor = floor::command(floor);
        runner_shaped(&mut floor);
        let mut variants = spawn_variants(&mut cmds);
        variants.push(variant("floor_memfd", move || floor::std_once(&mut floor)));
        rounds(
            c,
            "latency/runner_command",
            Duration::from_secs(4),
            || (),
            variants,
        );
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
        let mut cmds: Vec<(&'static str, How, Command)> = routes()
            .into_iter()
            .map(|(name, how)| (name, how, Command::new(TRUE)))
            .collect();
        let mut variants = spawn_variants(&mut cmds);
        variants.push(variant("nextest", || std_once(&mut theirs, How::Direct)));
        rounds(c, "nextest_stub", Duration::from_secs(4), || (), variants);
    }

    /// Prints each variant's median, the ratios and the targets.
    fn summary() {
        let m = median;
        let mut s = Summary::default();
        // Issue 15's target, per flavour: embedded overhead / floor_memfd's.
        let mut floor_ratios = Vec::new();
        for flavour in ["std", "tokio"] {
            let id = |v: &str| m(&format!("latency/{flavour}/{v}"));
            let (d, ce, b) = (id("direct"), id("current_exe"), id("bare_exe"));
            s.list(
                flavour,
                &[
                    ("direct", d),
                    ("floor_memfd", id("floor_memfd")),
                    ("floor_file", id("floor_file")),
                    ("embedded", id("embedded")),
                    ("current_exe", ce),
                    ("bare_exe", b),
                ],
                us,
            );
            // Overheads over direct: medians of differences within a round.
            let over = |v: &str| {
                excess(
                    &format!("latency/{flavour}/{v}"),
                    &format!("latency/{flavour}/direct"),
                )
            };
            let (o_fm, o_ff) = (over("floor_memfd"), over("floor_file"));
            let (o_em, o_ce) = (over("embedded"), over("current_exe"));
            // A floor that costs nothing over direct gives no ratio (below).
            floor_ratios.push((
                flavour,
                o_em.zip(o_fm.filter(|&f| f > 0.0)).map(|(e, f)| e / f),
            ));
            s.list(
                &format!("{flavour}, overhead over direct"),
                &[
                    ("floor_memfd", o_fm),
                    ("floor_file", o_ff),
                    ("embedded", o_em),
                    ("current_exe", o_ce),
                ],
                us,
            );
            for (floor, o_f) in [("floor_memfd", o_fm), ("floor_file", o_ff)] {
                let what = format!("{flavour}, route overhead / {floor} overhead");
                match o_f {
                    // The floor costs too little to tell from a direct
                    // spawn in this run: a ratio would only show noise.
                    Some(f) if f <= 0.0 => {
                        s.row(what, Some(format!("n/a ({floor} overhead {} <= 0)", us(f))))
                    }
                    _ => {
                        let ratio = |o: Option<f64>| o.zip(o_f).map(|(o, f)| o / f);
                        s.list(
                            &what,
                            &[("embedded", ratio(o_em)), ("current_exe", ratio(o_ce))],
                            |r| format!("{r:.2}"),
                        );
                    }
                }
            }
            s.row(
                format!("{flavour}: current_exe / direct"),
                d.zip(ce).map(|(d, ce)| format!("{:.2}", ce / d)),
            );
            s.row(
                format!("{flavour}: (current_exe - direct) / bare_exe"),
                d.zip(ce)
                    .zip(b)
                    .map(|((d, ce), b)| format!("{:.2}", (ce - d) / b)),
            );
            s.row(
                format!("{flavour}: (embedded - direct) / direct"),
                o_em.zip(d).map(|(o, d)| format!("{:.3}", o / d)),
            );
        }
        // Where the std overheads go: inside `spawn()` (the parent's
        // preparation and the first exec) and after it (the stub's run, the
        // target's exec and run), each over direct's, paired within rounds.
        for part in ["spawn", "after"] {
            let over = |v: &str| {
                excess(
                    &format!("latency/std/{v}.{part}"),
                    &format!("latency/std/direct.{part}"),
                )
            };
            let (o_fm, o_ff, o_em) = (over("floor_memfd"), over("floor_file"), over("embedded"));
            let (o_form, o_raw) = (over("embedded_form"), over("embedded_raw"));
            let what = match part {
                "spawn" => "std, inside spawn(), over direct",
                _ => "std, after spawn() to the end of wait, over direct",
            };
            s.list(
                what,
                &[
                    ("floor_memfd", o_fm),
                    ("floor_file", o_ff),
                    ("embedded", o_em),
                    ("embedded_form", o_form),
                    ("embedded_raw", o_raw),
                    ("current_exe", over("current_exe")),
                ],
                us,
            );
            s.list(
                &format!("{what}, embedded minus"),
                &[
                    ("floor_memfd", o_em.zip(o_fm).map(|(e, f)| e - f)),
                    ("embedded_form", o_em.zip(o_form).map(|(e, f)| e - f)),
                    ("embedded_raw", o_em.zip(o_raw).map(|(e, f)| e - f)),
                ],
                us,
            );
        }
        let spawn = |v: &str| m(&format!("latency/tokio/{v}.spawn"));
        s.list(
            "tokio, time inside spawn()",
            &[
                ("direct", spawn("direct")),
                ("current_exe", spawn("current_exe")),
                ("embedded", spawn("embedded")),
            ],
            us,
        );
        let id = |v: &str| m(&format!("nextest_stub/{v}"));
        let (d, ce, em, n) = (
            id("direct"),
            id("current_exe"),
            id("embedded"),
            id("nextest"),
        );
        s.list(
            "nextest group",
            &[
                ("direct", d),
                ("current_exe", ce),
                ("embedded", em),
                ("nextest stub", n),
            ],
            us,
        );
        // Overheads over direct: medians of differences within a round.
        let over = |v: &str| excess(&format!("nextest_stub/{v}"), "nextest_stub/direct");
        let (o_ce, o_em, o_n) = (over("current_exe"), over("embedded"), over("nextest"));
        s.list(
            "nextest group, overhead over direct",
            &[
                ("current_exe", o_ce),
                ("embedded", o_em),
                ("nextest stub", o_n),
            ],
            us,
        );
        s.row(
            "nextest stub overhead / current_exe's",
            o_n.zip(o_ce).map(|(n, ce)| format!("{:.1}", n / ce)),
        );
        s.row(
            "nextest stub overhead / embedded's",
            o_n.zip(o_em).map(|(n, em)| format!("{:.1}", n / em)),
        );

        // The same with a runner-shaped command: std's `Debug` text, which
        // the parent reads every setting from, grows with its strings.
        let over = |v: &str| {
            excess(
                &format!("latency/runner_command/{v}"),
                "latency/runner_command/direct",
            )
        };
        let (r_fm, r_em) = (over("floor_memfd"), over("embedded"));
        s.list(
            "runner-shaped command, std, overhead over direct",
            &[("floor_memfd", r_fm), ("embedded", r_em)],
            us,
        );
        s.row(
            "runner-shaped command, std, embedded overhead / floor_memfd overhead",
            r_em.zip(r_fm.filter(|&f| f > 0.0))
                .map(|(e, f)| format!("{:.2}", e / f)),
        );

        // Issue 15: the embedded route within 1.25 times the floor's
        // overhead (the floor from a memfd, as the embedded stub is).
        for (flavour, ratio) in floor_ratios {
            s.target(
                &format!("embedded overhead / floor_memfd overhead, {flavour}"),
                ratio,
                1.25,
                true,
            );
        }
        let d = m("latency/std/direct");
        let o = excess("latency/std/embedded", "latency/std/direct");
        s.target(
            "(embedded - direct) / direct, std",
            o.zip(d).map(|(o, d)| o / d),
            0.15,
            true,
        );
        if n.is_some() {
            s.target(
                "nextest stub overhead / embedded overhead",
                o_n.zip(o_em).map(|(n, em)| n / em),
                15.0,
                false,
            );
        }
        s.print(&format!(
            "latency (bench binary {:.1} MB)",
            crate::common::exe_size_mb()
        ));
    }

    criterion::criterion_group! {
        name = groups;
        config = Criterion::default().without_plots().nresamples(10_000);
        targets = latency_std, latency_tokio, latency_runner_command, nextest_stub
    }

    pub(crate) fn main() {
        groups();
        Criterion::default().configure_from_args().final_summary();
        summary();
    }
}
