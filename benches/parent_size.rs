//! Does the cost of a spawn grow with the parent's memory?
//!
//! `cargo bench -p double-spawn-benches --bench parent_size` spawns + waits `/bin/true` from a
//! parent holding 0, 1 and 4 GiB of touched memory, in interleaved rounds
//! (see `common`): directly, through the current-executable stub, through
//! the embedded stub (skipped with "embedded: unavailable (<route>)" where
//! that route is not taken), and with a *fork-based reset*: a `pre_exec`
//! hook that unblocks SIGTSTP, the way a sigmask-reset wrapper fixes the
//! race, which makes std `fork` instead of using `posix_spawn`. A fork
//! copies the parent's page tables, so its cost grows with the parent; the
//! stubs are started by `posix_spawn` and should stay flat.

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
    use std::hint::black_box;
    use std::io;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::time::Duration;

    use criterion::Criterion;
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};

    use crate::common::{
        current_exe, embedded, median, rounds, std_once, us, variant, How, Summary, TRUE,
    };

    const GIB: usize = 1 << 30;
    const SIZES_GIB: [usize; 3] = [0, 1, 4];

    /// `/bin/true` with the hook a sigmask-reset wrapper adds: any
    /// `pre_exec` closure makes std fork instead of using `posix_spawn`.
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

    /// Memory the parent has written to, one byte a page, so that every
    /// page is mapped and a fork has to copy its page-table entries.
    fn touched(bytes: usize) -> Vec<u8> {
        let mut v = vec![0u8; bytes];
        for i in (0..bytes).step_by(4096) {
            v[i] = 1;
        }
        black_box(v)
    }

    fn parent_size(c: &mut Criterion) {
        let (ce, em) = (current_exe(), embedded());
        for gib in SIZES_GIB {
            let (mut direct, mut via_ce, mut via_em, mut fork) = (
                Command::new(TRUE),
                Command::new(TRUE),
                Command::new(TRUE),
                fork_reset(),
            );
            // A fork of a big parent costs as much as dozens of spawns.
            let cheap_per_round = 1 + 8 * gib;
            let mut variants = vec![
                variant("direct", || std_once(&mut direct, How::Direct)).per_round(cheap_per_round),
                variant("current_exe", || std_once(&mut via_ce, ce)).per_round(cheap_per_round),
            ];
            if let Some(em) = em {
                variants.push(
                    variant("embedded", move || std_once(&mut via_em, em))
                        .per_round(cheap_per_round),
                );
            }
            variants.push(variant("fork_reset", || std_once(&mut fork, How::Direct)));
            rounds(
                c,
                &format!("parent_size/{gib}GiB"),
                Duration::from_secs(3),
                || touched(gib * GIB),
                variants,
            );
        }
    }

    /// Prints each variant's median and the ratios the README quotes.
    fn summary() {
        let mut s = Summary::default();
        for gib in SIZES_GIB {
            let id = |v: &str| median(&format!("parent_size/{gib}GiB/{v}"));
            let (d, ce, em, f) = (
                id("direct"),
                id("current_exe"),
                id("embedded"),
                id("fork_reset"),
            );
            s.list(
                &format!("{gib} GiB"),
                &[
                    ("direct", d),
                    ("current_exe", ce),
                    ("embedded", em),
                    ("fork_reset", f),
                ],
                us,
            );
            s.row(
                format!("{gib} GiB: fork_reset / current_exe"),
                ce.zip(f).map(|(ce, f)| format!("{:.1}", f / ce)),
            );
            s.row(
                format!("{gib} GiB: current_exe / direct"),
                ce.zip(d).map(|(ce, d)| format!("{:.2}", ce / d)),
            );
            s.row(
                format!("{gib} GiB: fork_reset / embedded"),
                em.zip(f).map(|(em, f)| format!("{:.1}", f / em)),
            );
            s.row(
                format!("{gib} GiB: embedded / direct"),
                em.zip(d).map(|(em, d)| format!("{:.2}", em / d)),
            );
        }
        s.print("parent_size");
    }

    criterion::criterion_group! {
        name = groups;
        config = Criterion::default().without_plots().nresamples(10_000);
        targets = parent_size
    }

    pub(crate) fn main() {
        groups();
        Criterion::default().configure_from_args().final_summary();
        summary();
    }
}
