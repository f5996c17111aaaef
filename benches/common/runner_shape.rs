//! The runner-shaped workload, shared by the `runner` bench (the small host)
//! and `runner_large` (the same code in a host padded large): what one host
//! measures in one round, and the line protocol between the two binaries.
//!
//! A round in one host runs, for each route in an order that rotates from
//! round to round:
//! - the *runner* workload: N spawns of `/bin/true` made the way a test
//!   runner makes them (a `tokio::process::Command` built per job with a
//!   test's arguments and environment, `common::runner_shaped`, its own
//!   process group, stdin null, stdout and stderr piped and read to the end,
//!   `-j` jobs in flight on a multi-thread runtime), timed in wall time and
//!   in CPU time (`getrusage` of this process and of its waited-for
//!   children, before and after);
//! - *latency*: sequential spawn + wait of `/bin/true` with std, each route
//!   paired with a direct spawn (see `latency_pair`); nextest's stub too, in
//!   the small host only.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use double_spawn::DoubleSpawnExt;

use crate::common::{
    cpu_time, current_exe, embedded, runner_env, std_once, How, RUNNER_ARGS, TRUE,
};

/// The first argument that makes a runner bench binary a host measuring
/// one round for the `runner` bench.
pub const HOST_ARG: &str = "--runner-bench-host";

/// What a round measures in one host.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Spawns per runner workload.
    pub n: usize,
    /// Jobs in flight.
    pub jobs: usize,
    /// Sequential spawns per route for the latency.
    pub latency: usize,
    /// The round, which rotates the order of the routes.
    pub round: usize,
}

/// A fingerprint of the shared sources, so that `runner` refuses a
/// `runner_large` built from other sources (cargo builds only the benches
/// it is asked for).
pub fn fingerprint() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in include_str!("runner_shape.rs")
        .bytes()
        .chain(include_str!("mod.rs").bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One way of spawning `/bin/true` that a host compares.
#[derive(Clone, Copy, Debug)]
pub struct Spawner {
    pub name: &'static str,
    pub how: How,
    pub program: &'static str,
    pub args: &'static [&'static str],
}

/// The routes of this crate a host compares: direct, the current-executable
/// stub and, where its route is taken, the embedded stub.
pub fn routes() -> Vec<Spawner> {
    let spawner = |name, how| Spawner {
        name,
        how,
        program: TRUE,
        args: &RUNNER_ARGS,
    };
    let mut routes = vec![
        spawner("direct", How::Direct),
        spawner("current_exe", current_exe()),
    ];
    if let Some(how) = embedded() {
        routes.push(spawner("embedded", how));
    }
    routes
}

/// Measured series of one round, keyed "runner/<route>/wall",
/// "runner/<route>/cpu" (seconds for the whole workload) and
/// "latency/<route>" (seconds per spawn).
pub type Series = BTreeMap<String, Vec<f64>>;

/// One job as a runner spawns it: its own process group, output piped
/// and read to the end.
async fn job(s: Spawner) {
    let mut cmd = tokio::process::Command::new(s.program);
    runner_env(cmd.as_std_mut());
    cmd.args(s.args)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = match s.how {
        How::Direct => cmd.spawn(),
        How::Via(config) => cmd.double_spawn_with(config).spawn(),
    };
    let output = child
        .expect("spawn")
        .wait_with_output()
        .await
        .expect("wait");
    assert!(output.status.success(), "{}: {}", s.name, output.status);
}

/// The runner workload: `n` jobs, `jobs` in flight; returns (wall, CPU)
/// in seconds.
pub fn workload(rt: &tokio::runtime::Runtime, s: Spawner, n: usize, jobs: usize) -> (f64, f64) {
    let cpu = cpu_time();
    let start = Instant::now();
    rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..jobs {
            let next = Arc::clone(&next);
            tasks.spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    job(s).await;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("job task");
        }
    });
    let wall = start.elapsed().as_secs_f64();
    (wall, (cpu_time() - cpu).as_secs_f64())
}

/// Runs one round of both measures in this host: the runner workload for
/// `routes` and `others` (spawners only the small host has), then the
/// latency of each against direct.
pub fn host_round(
    rt: &tokio::runtime::Runtime,
    mut routes: Vec<Spawner>,
    others: &[Spawner],
    p: Params,
) -> Series {
    let k = routes.len();
    routes.rotate_left(p.round % k);
    let mut series = Series::new();
    for &s in routes.iter().chain(others) {
        let (wall, cpu) = workload(rt, s, p.n, p.jobs);
        let mut push = |key: String, v: f64| series.entry(key).or_default().push(v);
        push(format!("runner/{}/wall", s.name), wall);
        push(format!("runner/{}/cpu", s.name), cpu);
    }
    let direct = routes
        .iter()
        .find(|s| matches!(s.how, How::Direct) && s.name == "direct")
        .copied()
        .expect("a direct route");
    for &s in routes.iter().chain(others).filter(|s| s.name != "direct") {
        latency_pair(direct, s, p.latency, &mut series);
    }
    series
}

/// `spawns` sequential spawn + wait of `direct` and of `s`, side by side,
/// the order alternating, so that each of `s`'s times has a direct one
/// taken under the same conditions and after the same neighbour. (Timing
/// all routes in one loop would put each route always after the same
/// other one: the embedded stub's spawn after the current executable's,
/// whose cost, and aftermath, grows with the host.) Seconds each, keyed
/// "pair/<name>/direct" and "pair/<name>/route".
fn latency_pair(direct: Spawner, s: Spawner, spawns: usize, series: &mut Series) {
    let command = |s: Spawner| {
        let mut cmd = Command::new(s.program);
        runner_env(&mut cmd).args(s.args);
        cmd
    };
    let (mut d_cmd, mut s_cmd) = (command(direct), command(s));
    let (mut d_times, mut s_times) = (Vec::new(), Vec::new());
    for i in 0..spawns {
        for second in [false, true] {
            let (cmd, how, times) = if second == (i % 2 == 0) {
                (&mut s_cmd, s.how, &mut s_times)
            } else {
                (&mut d_cmd, direct.how, &mut d_times)
            };
            let start = Instant::now();
            std_once(cmd, how);
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let name = s.name;
    series
        .entry(format!("pair/{name}/direct"))
        .or_default()
        .extend(d_times);
    series
        .entry(format!("pair/{name}/route"))
        .or_default()
        .extend(s_times);
}

/// Host mode: `HOST_ARG fingerprint n jobs latency round`; prints the
/// round's series as "R key value..." lines and exits.
pub fn host_main(args: &[String], describe: &str) -> ! {
    let number = |i: usize| -> usize {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("runner bench host: bad argument {i} in {args:?}"))
    };
    if args.get(1).map(String::as_str) != Some(&fingerprint().to_string()) {
        eprintln!("runner bench host: built from other sources than the runner bench");
        std::process::exit(3);
    }
    let p = Params {
        n: number(2),
        jobs: number(3),
        latency: number(4),
        round: number(5),
    };
    let rt = runtime();
    println!("R describe {describe}");
    for (key, values) in host_round(&rt, routes(), &[], p) {
        let values: Vec<String> = values.iter().map(f64::to_string).collect();
        println!("R {key} {}", values.join(" "));
    }
    std::process::exit(0)
}

/// Parses a host's output into its description and series.
#[allow(dead_code)] // runner_large is only ever the host
pub fn parse_host(output: &str) -> (String, Series) {
    let mut describe = String::new();
    let mut series = Series::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix("R ") else {
            continue;
        };
        let (key, values) = rest.split_once(' ').unwrap_or((rest, ""));
        if key == "describe" {
            describe = values.to_owned();
            continue;
        }
        let values = values.split(' ').filter_map(|v| v.parse::<f64>().ok());
        series.entry(key.to_owned()).or_default().extend(values);
    }
    (describe, series)
}

/// The runtime the workload runs on: tokio's multi-thread default, as a
/// runner's.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
