//! A binary whose `main` never calls `init()`.
//!
//! On glibc it is protected all the same: the crate's ELF constructor makes
//! every process of the binary a stub host before `main`, so double spawns
//! go through the stub (proved by the stub's exit code for a failed `exec`,
//! which nothing else produces), with no warning. Elsewhere (musl) there is
//! no constructor stub: double spawns fall back to direct spawns with one
//! warning.
//!
//! Either way `main` itself never runs as a stub: it appends a line to the
//! file named by `DS_MAIN_LOG` each time it runs, and exits 3 if it is ever
//! given the stub's arguments; `main_runs_once` double-spawns this binary
//! and checks that `main` ran once, as the child.

mod common;

use std::io::Write;
use std::process::Command;
#[cfg(feature = "tracing")]
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Test;
use double_spawn::{DoubleSpawn, DoubleSpawnExt};

const LOG: &str = "DS_MAIN_LOG";
const MARKER: &str = "__double-spawn-stub-v1";

pub(crate) fn main() {
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
            #[cfg(target_env = "gnu")]
            Test {
                name: "protected_without_init",
                run: protected_without_init,
            },
            #[cfg(not(target_env = "gnu"))]
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

/// glibc: active without `init()`, through the stub, silently.
#[cfg(target_env = "gnu")]
fn protected_without_init() {
    use std::os::unix::fs::PermissionsExt;

    #[cfg(feature = "tracing")]
    let _sub = tracing::subscriber::set_default(CountWarnings(&WARNINGS));
    let config = DoubleSpawn::enabled().exec_failure_code(93);
    assert!(
        matches!(config.route(), double_spawn::Route::CurrentExe { .. }),
        "the constructor made this binary a stub host: {}",
        config.route()
    );
    for _ in 0..3 {
        assert!(Command::new("true")
            .double_spawn_with(config)
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
            .double_spawn_with(config)
            .output()
            .await
    });
    assert_eq!(out.unwrap().stdout, b"hi\n");
    // Through the stub: a script without `#!` fails in the stub's exec
    // (exit 93, the configured code) where a direct spawn fails in spawn().
    let dir = common::TempDir::new("no-init-enoexec");
    let script = dir.0.join("no-shebang");
    std::fs::write(&script, b"echo not a binary\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(&script)
        .stderr(std::process::Stdio::piped())
        .double_spawn_with(config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(93), "{err}");
    assert!(err.starts_with("double-spawn:"), "{err}");
    #[cfg(feature = "tracing")]
    assert_eq!(WARNINGS.load(Ordering::SeqCst), 0, "nothing to warn about");
}

/// Without a constructor stub: direct spawns and one warning.
#[cfg(not(target_env = "gnu"))]
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
        .double_spawn_with(DoubleSpawn::enabled())
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text, "main [\"child\"]\n",
        "main ran once, as the child, never as a stub"
    );
}
