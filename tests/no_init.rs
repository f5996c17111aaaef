//! A binary that never calls `init()`: double spawns fall back to direct
//! spawns with one warning, and the binary is never started as a stub, so its
//! `main` runs exactly once per process the test starts.
//!
//! Its `main` appends a line to the file named by `DS_MAIN_LOG` each time it
//! runs; had `double_spawn()` started it with the stub's arguments, the stub
//! would be this `main` again (it is not a stub without `init()`), which the
//! log and the exit code below would show.

mod common;

use std::io::Write;
use std::process::Command;
#[cfg(feature = "tracing")]
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Test;
use double_spawn::{DoubleSpawn, DoubleSpawnExt};

const LOG: &str = "DS_MAIN_LOG";
const MARKER: &str = "__double-spawn-stub-v1";

fn main() {
    // Deliberately no double_spawn::init().
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(log) = std::env::var_os(LOG) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
            .unwrap();
        writeln!(f, "main {args:?}").unwrap();
    }
    if args.first().map(String::as_str) == Some(MARKER) {
        std::process::exit(3); // started as a stub: the bug this test catches
    }
    if args.first().map(String::as_str) == Some("child") {
        return;
    }
    common::run_tests(
        "no_init",
        &[
            Test {
                name: "falls_back_to_direct_spawns",
                run: falls_back_to_direct_spawns,
            },
            Test {
                name: "main_runs_once",
                run: main_runs_once,
            },
        ],
    )
}

/// Counts WARN events.
#[cfg(feature = "tracing")]
struct CountWarnings(&'static AtomicUsize);

#[cfg(feature = "tracing")]
impl tracing::Subscriber for CountWarnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(feature = "tracing")]
static WARNINGS: AtomicUsize = AtomicUsize::new(0);

fn falls_back_to_direct_spawns() {
    #[cfg(feature = "tracing")]
    let _sub = tracing::subscriber::set_default(CountWarnings(&WARNINGS));
    assert!(!DoubleSpawn::new().is_active());
    assert_eq!(DoubleSpawn::new().std_command("true").get_program(), "true");
    for _ in 0..3 {
        assert!(Command::new("true")
            .double_spawn()
            .status()
            .unwrap()
            .success());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(async {
        tokio::process::Command::new("echo")
            .arg("hi")
            .double_spawn()
            .output()
            .await
    });
    assert_eq!(out.unwrap().stdout, b"hi\n");
    #[cfg(feature = "tracing")]
    assert_eq!(
        WARNINGS.load(Ordering::SeqCst),
        1,
        "exactly one warning per process"
    );
}

fn main_runs_once() {
    let dir = common::TempDir::new("no-init");
    let log = dir.0.join("log");
    let status = Command::new(std::env::current_exe().unwrap())
        .arg("child")
        .env(LOG, &log)
        .double_spawn()
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text, "main [\"child\"]\n",
        "main ran once, as the child, never as a stub"
    );
}
