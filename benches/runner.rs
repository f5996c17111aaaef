//! What double spawning costs a test runner, with a small and a large host.
//!
//! ```text
//! cargo bench -p double-spawn-benches --bench runner --bench runner_large
//! ```
//!
//! A test runner spawns many short-lived processes, each in its own process
//! group with its output piped, several in flight. This bench does that
//! with `/bin/true` (see `common/runner_shape.rs`): N jobs (500; env
//! `RUNNER_BENCH_N`), `-j` 8 in flight (`RUNNER_BENCH_JOBS`), on tokio's
//! multi-thread runtime, and records wall time and CPU time (`getrusage`
//! of the process and of its waited-for children, before and after) for a
//! direct spawn, the current-executable stub, the embedded stub (where its
//! route is taken; else "embedded: unavailable (<route>)") and, when
//! `cargo-nextest` is on `PATH`, nextest's own stub.
//!
//! **The host.** The current-executable stub is the spawning binary itself,
//! started once more per spawn, so its cost depends on that binary; the
//! embedded stub and a direct spawn should not. Every route is measured in
//! two hosts built from the same code: this binary (small, about 1.6 MB),
//! and `runner_large` (`benches/runner_large.rs`), padded with 62 MiB of
//! initialized data, about 70 MB on disk: a 2 MiB table of 262,144
//! pointers and 60 MiB of plain data. The size alone costs little, since
//! the kernel maps a file lazily; what a large program makes every start
//! pay is the dynamic loader's work, chiefly applying relocations to data
//! that holds addresses (vtables, panic locations, string tables). Each of
//! the 262,144 pointers is an `R_*_RELATIVE` relocation (6 MiB of
//! `.rela.dyn`) that `ld.so` reads and applies before any code of the
//! program runs, dirtying the table's 512 pages. The count is chosen from
//! real binaries (`readelf -d`, `RELACOUNT`): a 50 MB debug build of a
//! bench here carries 24,579, the 23 MB release `cargo-nextest` 41,177, so
//! a 300 MB debug build of a large runner (issue 10's case) some 150,000 or
//! more; 262,144 puts the large host at the heavy end of real programs,
//! not beyond it (the data-only 60 MiB adds size without work, as debug
//! sections do). The padding is assembled (`global_asm!`), which keeps
//! compiling it quick. `runner` finds `runner_large` beside itself (cargo
//! builds benches only when asked, hence the two `--bench`), runs it in a
//! host mode for its half of each round, and refuses one built from other
//! sources.
//!
//! Rounds (5; `RUNNER_BENCH_ROUNDS`) interleave everything: each round runs
//! every route in both hosts (alternating which host goes first, rotating
//! the routes), then in each host a sequential spawn + wait latency of each
//! route side by side with direct spawns (100 pairs per route;
//! `RUNNER_BENCH_LATENCY`), then the throughput storm of 2,000 spawns with
//! 16 in flight. The table and the issue-9 targets use
//! medians over the rounds, after one untimed warm-up round. Without
//! `--bench` on the command line (as `cargo test --benches` runs it) it
//! makes one small round as a smoke test.

#[cfg(unix)]
mod common;
#[cfg(unix)]
#[path = "common/runner_shape.rs"]
mod shape;

#[cfg(unix)]
fn main() {
    // First in main: started as the stub on a C library without the
    // constructor stub (musl), this becomes the target.
    double_spawn::init();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(shape::HOST_ARG) {
        shape::host_main(&args[1..], "small host, no padding");
    }
    bench::main(&args);
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the spawn benchmarks need a Unix system");
}

#[cfg(unix)]
mod bench {
    use crate::common::{
        cpu_time, embedded, median_of, paired_excess, storm, us, How, Summary, RUNNER_ARGS_QUOTED,
        TRUE,
    };
    use crate::shape::{self, host_round, parse_host, routes, Params, Series, Spawner};
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    const STORM_SPAWNS: usize = 2_000;
    const STORM_IN_FLIGHT: usize = 16;

    fn env_number(name: &str, default: usize) -> usize {
        match std::env::var(name) {
            Ok(v) => v
                .trim()
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or_else(|| panic!("{name}={v:?}: not a positive number")),
            Err(_) => default,
        }
    }

    /// `runner_large` beside this binary (cargo puts benches in
    /// `target/<profile>/deps/<name>-<hash>`): the newest one.
    fn find_large() -> Option<PathBuf> {
        let exe = std::env::current_exe().ok()?;
        let dir = exe.parent()?;
        let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                (name == "runner_large" || name.starts_with("runner_large-")) && !name.contains('.')
            })
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        found.sort();
        found.pop().map(|(_, p)| p)
    }

    /// `cargo-nextest` on `PATH`, if any.
    fn find_nextest() -> Option<&'static str> {
        let path = std::env::var_os("PATH")?;
        let found = std::env::split_paths(&path)
            .map(|dir| dir.join("cargo-nextest"))
            .find(|p| p.is_file())?;
        Some(Box::leak(
            found.to_string_lossy().into_owned().into_boxed_str(),
        ))
    }

    fn size_mb(path: &Path) -> f64 {
        std::fs::metadata(path).map_or(f64::NAN, |m| m.len() as f64 / 1e6)
    }

    /// One round of the large host, in its own process.
    fn large_round(exe: &Path, p: Params) -> Result<(String, Series), String> {
        let output = Command::new(exe)
            .arg(shape::HOST_ARG)
            .arg(shape::fingerprint().to_string())
            .args([p.n, p.jobs, p.latency, p.round].map(|n| n.to_string()))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{} {}: rebuild both with `cargo bench -p double-spawn-benches --bench runner --bench runner_large`",
                exe.display(),
                output.status
            ));
        }
        Ok(parse_host(&String::from_utf8_lossy(&output.stdout)))
    }

    pub(crate) fn main(args: &[String]) {
        let quick = !args.iter().any(|a| a == "--bench");
        let rounds = if quick {
            1
        } else {
            env_number("RUNNER_BENCH_ROUNDS", 5)
        };
        let n = if quick {
            20
        } else {
            env_number("RUNNER_BENCH_N", 500)
        };
        let jobs = env_number("RUNNER_BENCH_JOBS", 8);
        let latency = if quick {
            5
        } else {
            env_number("RUNNER_BENCH_LATENCY", 100)
        };
        let storm_spawns = if quick { 50 } else { STORM_SPAWNS };
        if quick {
            println!("runner: smoke test (run `cargo bench -p double-spawn-benches --bench runner --bench runner_large` for figures)");
        }

        let rt = shape::runtime();
        let small_routes = routes();
        let mut others = Vec::new();
        let nextest = find_nextest();
        if let Some(nextest) = nextest {
            others.push(Spawner {
                name: "nextest",
                how: How::Direct,
                program: nextest,
                args: &["__double-spawn", "--", TRUE, RUNNER_ARGS_QUOTED],
            });
        } else {
            println!("runner: cargo-nextest is not on PATH; its stub is not measured");
        }
        let large = find_large();
        if large.is_none() {
            println!(
                "runner: runner_large is not built; run `cargo bench -p double-spawn-benches --bench runner --bench runner_large`"
            );
        }

        let mut all: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut large_describe = String::new();
        let mut large_error = None;
        let mut storm_routes: Vec<(&str, How)> =
            routes().into_iter().map(|s| (s.name, s.how)).collect();
        // Untimed: the first start of a freshly built 70 MB binary, and
        // each host's first spawns, are not what a round measures.
        let warm = Params {
            n: jobs,
            jobs,
            latency: 1,
            round: 0,
        };
        host_round(&rt, small_routes.clone(), &others, warm);
        if let Some(exe) = &large {
            if let Err(e) = large_round(exe, warm) {
                println!("runner: large host failed: {e}");
                large_error = Some(e);
            }
        }
        for round in 0..rounds {
            let p = Params {
                n,
                jobs,
                latency,
                round,
            };
            let mut hosts: Vec<bool> = vec![false, true];
            if round % 2 == 1 {
                hosts.reverse();
            }
            for is_large in hosts {
                if !is_large {
                    for (key, v) in host_round(&rt, small_routes.clone(), &others, p) {
                        all.entry(format!("small/{key}")).or_default().extend(v);
                    }
                    continue;
                }
                let (Some(exe), None) = (&large, &large_error) else {
                    continue;
                };
                match large_round(exe, p) {
                    Ok((describe, series)) => {
                        large_describe = describe;
                        for (key, v) in series {
                            all.entry(format!("large/{key}")).or_default().extend(v);
                        }
                    }
                    Err(e) => {
                        println!("runner: large host failed: {e}");
                        large_error = Some(e);
                    }
                }
            }
            storm_routes.rotate_left(1);
            for &(name, how) in &storm_routes {
                let cpu = cpu_time();
                let start = std::time::Instant::now();
                rt.block_on(storm(how, storm_spawns, STORM_IN_FLIGHT));
                let wall = start.elapsed().as_secs_f64();
                all.entry(format!("storm/{name}/wall"))
                    .or_default()
                    .push(wall);
                all.entry(format!("storm/{name}/cpu"))
                    .or_default()
                    .push((cpu_time() - cpu).as_secs_f64());
            }
            eprintln!("runner: round {} of {rounds} done", round + 1);
        }

        let m = |key: &str| all.get(key).map(|v| median_of(v));
        let small_exe = std::env::current_exe().unwrap_or_default();
        let hosts = [
            ("small", format!("small ({:.1} MB)", size_mb(&small_exe))),
            (
                "large",
                match &large {
                    Some(p) => format!("large ({:.1} MB)", size_mb(p)),
                    None => "large (not built)".into(),
                },
            ),
        ];

        println!(
            "\nrunner-shaped: {n} x /bin/true, own process group, stdout+stderr piped and read, \
             -j {jobs}, tokio multi-thread; medians of {rounds} rounds"
        );
        println!("host: small = this bench binary; large = runner_large, {large_describe}");
        println!(
            "  {:<20} {:<12} {:>9} {:>9} {:>12} {:>11} {:>12}",
            "host", "route", "wall", "CPU", "wall/direct", "CPU/direct", "per job CPU"
        );
        for (host, label) in &hosts {
            let d_wall = m(&format!("{host}/runner/direct/wall"));
            let d_cpu = m(&format!("{host}/runner/direct/cpu"));
            for route in ["direct", "current_exe", "embedded", "nextest"] {
                let (Some(wall), Some(cpu)) = (
                    m(&format!("{host}/runner/{route}/wall")),
                    m(&format!("{host}/runner/{route}/cpu")),
                ) else {
                    if route == "embedded" && embedded().is_none() {
                        println!("  {label:<20} {route:<12} unavailable");
                    }
                    continue;
                };
                let ratio =
                    |v: f64, d: Option<f64>| d.map_or("-".into(), |d| format!("{:.2}", v / d));
                println!(
                    "  {label:<20} {route:<12} {:>7.3} s {:>7.3} s {:>12} {:>11} {:>12}",
                    wall,
                    cpu,
                    ratio(wall, d_wall),
                    ratio(cpu, d_cpu),
                    us(cpu / n as f64)
                );
            }
        }

        let mut s = Summary::default();
        // Latency: each route was timed side by side with direct spawns
        // (see `latency_pair`); overheads are medians of the differences
        // (see `paired_excess`).
        let lat = |host: &str, route: &str| m(&format!("{host}/pair/{route}/route"));
        let over = |host: &str, route: &str| {
            Some(paired_excess(
                all.get(&format!("{host}/pair/{route}/route"))?,
                all.get(&format!("{host}/pair/{route}/direct"))?,
            ))
        };
        for (host, label) in &hosts {
            let parts: Vec<String> = ["current_exe", "embedded", "nextest"]
                .iter()
                .filter_map(|r| {
                    let direct = m(&format!("{host}/pair/{r}/direct"))?;
                    Some(format!("{r} {} (direct {})", us(lat(host, r)?), us(direct)))
                })
                .collect();
            if !parts.is_empty() {
                s.row(format!("spawn + wait, {label}"), Some(parts.join(", ")));
            }
            let parts: Vec<String> = ["current_exe", "embedded", "nextest"]
                .iter()
                .filter_map(|r| Some(format!("{r} {}", us(over(host, r)?))))
                .collect();
            if !parts.is_empty() {
                s.row(
                    format!("overhead over direct, {label}"),
                    Some(parts.join(", ")),
                );
            }
        }
        let growth = |route: &str| Some(over("large", route)? / over("small", route)?);
        s.row(
            "current_exe overhead, large host / small host",
            growth("current_exe").map(|g| format!("{g:.2}")),
        );
        let cpu_growth = |route: &str| {
            let over = |host| {
                Some(
                    m(&format!("{host}/runner/{route}/cpu"))?
                        - m(&format!("{host}/runner/direct/cpu"))?,
                )
            };
            Some(over("large")? / over("small")?)
        };
        s.row(
            "runner CPU overhead, large host / small host: current_exe",
            cpu_growth("current_exe").map(|g| format!("{g:.2}")),
        );
        s.row(
            "runner CPU overhead, large host / small host: embedded",
            cpu_growth("embedded").map(|g| format!("{g:.2}")),
        );
        let storm = |route: &str| m(&format!("storm/{route}/wall"));
        let parts: Vec<String> = ["direct", "current_exe", "embedded"]
            .iter()
            .filter_map(|r| Some(format!("{r} {:.0}/s", storm_spawns as f64 / storm(r)?)))
            .collect();
        s.row(
            format!("throughput, {storm_spawns} spawns, {STORM_IN_FLIGHT} in flight"),
            Some(parts.join(", ")),
        );

        let d = m("small/pair/embedded/direct");
        let o_em = over("small", "embedded");
        s.target(
            "(embedded - direct) / direct, spawn + wait of /bin/true",
            o_em.zip(d).map(|(o, d)| o / d),
            0.15,
            true,
        );
        s.target(
            "embedded overhead, large host / small host",
            growth("embedded"),
            1.2,
            true,
        );
        if nextest.is_some() {
            s.target(
                "nextest stub overhead / embedded overhead",
                over("small", "nextest").zip(o_em).map(|(n, em)| n / em),
                15.0,
                false,
            );
        }
        s.target(
            "throughput direct rate / embedded rate",
            storm("direct").zip(storm("embedded")).map(|(d, em)| em / d),
            1.25,
            true,
        );
        s.print(&format!(
            "runner (latency: {latency} pairs with direct a route a round; storm: {storm_spawns} spawns)"
        ));
    }
}
