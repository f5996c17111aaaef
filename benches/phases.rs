//! A driver for profilers: `N` spawn + wait of `/bin/true` on one route,
//! and nothing else, so that a profiler's count for the whole process,
//! divided by `N` and compared between routes, is one route's cost.
//!
//! ```text
//! cargo bench -p double-spawn-benches --bench phases --no-run
//! B=$(ls -t target/release/deps/phases-* | grep -v '\.d$' | head -1)
//! for r in direct floor_memfd floor_file embedded current_exe; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$r $B $r 200
//! done       # the parent's user-space instructions (children not traced)
//! strace -f -ttt -T -o /tmp/trace.embedded $B embedded 20   # per phase
//! ```
//!
//! `$B <route> <N> runner` gives the command a test's arguments and
//! environment (`common::runner_shaped`) instead of a bare `/bin/true`.
//!
//! Routes: `direct`, `embedded`, `current_exe` (`DoubleSpawn`),
//! `embedded_form` (a stub-form command for the embedded stub, built once
//! and spawned in place: no rewrite), and
//! `floor_memfd`, `floor_file` (the floor program, `common::floor`). It
//! prints the route and the mean wall time per spawn (meaningless under a
//! profiler, but a quick look without one). Started with no route, as
//! `cargo bench` does, it does 200 of each once.

#[cfg(unix)]
mod common;

#[cfg(unix)]
fn main() {
    double_spawn::init();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n: usize = args.get(1).map_or(200, |n| n.parse().expect("N"));
    let shape = args.get(2).map(String::as_str);
    match args.first() {
        Some(route) => run(route, n, shape),
        None => {
            for route in [
                "direct",
                "floor_memfd",
                "floor_file",
                "embedded",
                "embedded_form",
                "current_exe",
            ] {
                run(route, n, None);
            }
        }
    }
}

#[cfg(unix)]
fn run(route: &str, n: usize, shape: Option<&str>) {
    use std::process::Command;
    use std::time::Instant;

    use common::{floor, How, TRUE};

    let mut cmd;
    let mut once: Box<dyn FnMut(&mut Command)> = match route {
        "direct" => Box::new(|cmd| common::std_once(cmd, How::Direct)),
        "embedded" | "embedded_form" => {
            let how = common::embedded().expect("embedded stub");
            Box::new(move |cmd| common::std_once(cmd, how))
        }
        "current_exe" => {
            let how = common::current_exe();
            Box::new(move |cmd| common::std_once(cmd, how))
        }
        "floor_memfd" | "floor_file" => Box::new(floor::std_once),
        other => panic!("unknown route {other}"),
    };
    cmd = match route {
        "floor_memfd" => floor::command(floor::memfd().expect("floor (memfd)")),
        "floor_file" => floor::command(floor::file().expect("floor (file)")),
        "embedded_form" => match common::embedded() {
            Some(How::Via(config)) => config.std_command(TRUE),
            _ => panic!("embedded stub"),
        },
        _ => Command::new(TRUE),
    };
    if shape == Some("runner") {
        // A test's arguments and environment (`common::runner_shaped`),
        // where the parent's read-back costs the most.
        common::runner_shaped(&mut cmd);
    }
    // One spawn first, so that loading a stub is not in the count's mean.
    once(&mut cmd);
    let start = Instant::now();
    for _ in 0..n {
        once(&mut cmd);
    }
    let per = start.elapsed().as_secs_f64() / n as f64;
    println!("{route}: {n} spawns, {:.0} µs each", per * 1e6);
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the spawn benchmarks need a Unix system");
}
