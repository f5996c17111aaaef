//! How many spawns a second a busy tokio program gets, by route.
//!
//! `cargo bench -p double-spawn-benches --bench throughput` runs a tokio multi-thread runtime that
//! spawns + waits `/bin/true` 2,000 times with 16 in flight, in interleaved
//! rounds (see `common`): directly, through the current-executable stub and
//! through the embedded stub (skipped with "embedded: unavailable
//! (<route>)" where that route is not taken). Besides the wall time it
//! records the CPU time per spawn (this process and its children, which
//! other load on the machine disturbs less) and the time a worker spends
//! blocked inside `spawn()`. After criterion's report it prints the medians,
//! the ratios and the issue-9 target: direct rate / embedded rate <= 1.25.

#[cfg(unix)]
mod common;

#[cfg(unix)]
fn main() {
    // First in main: started as the stub on a C library without the
    // constructor stub (musl), this becomes the target.
    double_spawn::init();
    bench::main();
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the spawn benchmarks need a Unix system");
}

#[cfg(unix)]
mod bench {
    use std::time::Duration;

    use criterion::Criterion;

    use crate::common::{
        cpu_time, current_exe, embedded, median, note, rounds, storm, us, variant, How, Summary,
    };

    pub(crate) const STORM_SPAWNS: usize = 2_000;
    pub(crate) const STORM_IN_FLIGHT: usize = 16;

    fn throughput(c: &mut Criterion) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let storm_noting = |name: &str, how: How| {
            let cpu = cpu_time();
            let blocked = rt.block_on(storm(how, STORM_SPAWNS, STORM_IN_FLIGHT));
            let per_spawn = |d: Duration| d.as_secs_f64() / STORM_SPAWNS as f64;
            note(
                &format!("throughput/{name}.cpu"),
                per_spawn(cpu_time() - cpu),
            );
            note(&format!("throughput/{name}.blocked"), per_spawn(blocked));
        };
        let storm_noting = &storm_noting;
        let ce = current_exe();
        let mut variants = vec![
            variant("direct", move || storm_noting("direct", How::Direct)),
            variant("current_exe", move || storm_noting("current_exe", ce)),
        ];
        if let Some(em) = embedded() {
            variants.push(variant("embedded", move || storm_noting("embedded", em)));
        }
        rounds(c, "throughput", Duration::from_secs(1), || (), variants);
    }

    /// Prints each variant's median, the ratios and the target.
    fn summary() {
        let mut s = Summary::default();
        let m = |v: &str| median(&format!("throughput/{v}"));
        let rate = |t: f64| STORM_SPAWNS as f64 / t;
        let (d, ce, em) = (m("direct"), m("current_exe"), m("embedded"));
        let of = |f: &dyn Fn(&str) -> Option<f64>| {
            [
                ("direct", f("direct")),
                ("current_exe", f("current_exe")),
                ("embedded", f("embedded")),
            ]
        };
        s.list("spawns/s", &of(&m), |t| format!("{:.0}", rate(t)));
        s.row(
            "direct rate / current_exe rate",
            d.zip(ce).map(|(d, ce)| format!("{:.2}", ce / d)),
        );
        s.row(
            "direct rate / embedded rate",
            d.zip(em).map(|(d, em)| format!("{:.2}", em / d)),
        );
        let cpu = |v: &str| m(&format!("{v}.cpu"));
        let (cd, cce, cem) = (cpu("direct"), cpu("current_exe"), cpu("embedded"));
        s.list("CPU per spawn", &of(&cpu), us);
        s.row(
            "CPU per spawn, current_exe / direct",
            cd.zip(cce).map(|(d, ce)| format!("{:.2}", ce / d)),
        );
        s.row(
            "CPU per spawn, embedded / direct",
            cd.zip(cem).map(|(d, em)| format!("{:.2}", em / d)),
        );
        let blocked = |v: &str| m(&format!("{v}.blocked"));
        s.list("worker blocked in spawn()", &of(&blocked), us);
        s.target(
            "throughput direct rate / embedded rate (2,000 spawns, 16 in flight)",
            d.zip(em).map(|(d, em)| em / d),
            1.25,
            true,
        );
        s.print(&format!(
            "throughput ({STORM_SPAWNS} spawns, {STORM_IN_FLIGHT} in flight, {} rounds)",
            crate::common::count("throughput/direct")
        ));
    }

    criterion::criterion_group! {
        name = groups;
        config = Criterion::default().without_plots().nresamples(10_000);
        targets = throughput
    }

    pub(crate) fn main() {
        groups();
        Criterion::default().configure_from_args().final_summary();
        summary();
    }
}
