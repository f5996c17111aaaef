//! Never worse than `spawn()`, and never silent about it.
//!
//! When a spawn cannot be protected it is made exactly as `cmd.spawn()`
//! would make it, and one warning says so, once per reason and process, on
//! the channel `Warnings` chooses (by default a `tracing` event when a
//! subscriber records it, else one line on stderr); `DOUBLE_SPAWN=0` is
//! silent; strict mode turns the fallback into an error.
//! The once-per-process state and the environment are per process, so each
//! case runs in a process of its own: this test binary, started with
//! `DS_FALLBACK_CASE` naming the case, runs only `case_entry_point`.

// What these tests observe (/proc, Linux system calls) is Linux; the crate
// docs' "Platform support" says what is checked on other targets.
#![cfg(target_os = "linux")]

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use double_spawn::{DirectReason, DoubleSpawn, DoubleSpawnExt, Route, Warnings};

const CASE: &str = "DS_FALLBACK_CASE";
/// The channel case's `Warnings`, by name.
const CHANNEL: &str = "DS_FALLBACK_WARNINGS";
/// The channel case's subscriber: `none`, `warn` (records warnings) or
/// `error` (installed, but filters warnings out).
const SUBSCRIBER: &str = "DS_FALLBACK_SUBSCRIBER";
/// std shows an argument that contains a NUL byte as this text, so the
/// crate cannot tell the two apart and leaves both to a direct spawn.
const NUL_PLACEHOLDER: &str = "<string-with-nul>";

/// Runs `case` in a process of its own; returns its stdout and stderr.
fn run_case(case: &str, env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(common::entry_args("case_entry_point"))
        .env(CASE, case)
        .env_remove(DoubleSpawn::ENV_VAR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = common::output_bounded(cmd.spawn().unwrap(), Duration::from_secs(60), case);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "case {case}: {stdout}\n{stderr}");
    (stdout, stderr)
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("double-spawn: warning:"))
        .collect()
}

/// Echoes the placeholder text: a direct spawn runs it, so must we.
fn echo_placeholder(config: DoubleSpawn) -> std::io::Result<Output> {
    Command::new("echo")
        .arg(NUL_PLACEHOLDER)
        .double_spawn_with(config)
        .output()
}

fn case(name: &str) {
    match name {
        "literal-placeholder" => {
            for _ in 0..3 {
                let out = echo_placeholder(DoubleSpawn::process_default()).unwrap();
                assert_eq!(String::from_utf8_lossy(&out.stdout), "<string-with-nul>\n");
            }
            // A real NUL byte fails exactly as a direct spawn fails.
            let err = Command::new("echo")
                .arg("a\0b")
                .double_spawn()
                .spawn()
                .unwrap_err();
            let direct = Command::new("echo").arg("a\0b").spawn().unwrap_err();
            assert_eq!(err.kind(), direct.kind());
            assert_eq!(err.to_string(), direct.to_string());
        }
        "strict" => {
            let err = echo_placeholder(DoubleSpawn::process_default().strict(true)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
            assert!(err.to_string().contains("strict"), "{err}");
            assert_eq!(
                double_spawn::Unprotected::of(&err).map(|u| u.reason()),
                Some(DirectReason::NulByte),
                "{err}"
            );
            // Strict mode changes nothing for a spawn that can be protected.
            let status = Command::new("true")
                .double_spawn_with(DoubleSpawn::process_default().strict(true))
                .status()
                .unwrap();
            assert!(status.success());
        }
        "no-proc" => {
            // SAFETY: unshare and mount only change this process's view of
            // the file system; nothing else runs in it.
            let isolated = unsafe {
                nix::libc::unshare(nix::libc::CLONE_NEWNS) == 0
                    && nix::libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        nix::libc::MS_REC | nix::libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) == 0
                    && nix::libc::mount(
                        c"none".as_ptr(),
                        c"/proc".as_ptr(),
                        c"tmpfs".as_ptr(),
                        0,
                        std::ptr::null(),
                    ) == 0
            };
            if !isolated {
                println!("SKIPPED: cannot hide /proc in a mount namespace here");
                return;
            }
            assert_eq!(
                DoubleSpawn::enabled().route(),
                Route::Direct(DirectReason::NoExecutable)
            );
            for _ in 0..2 {
                assert!(Command::new("true")
                    .double_spawn()
                    .status()
                    .unwrap()
                    .success());
            }
        }
        "channel" => {
            let events = subscribe(&std::env::var(SUBSCRIBER).unwrap());
            match &*std::env::var(CHANNEL).unwrap() {
                "auto" => {}
                "stderr" => Warnings::Stderr.set(),
                "tracing" => Warnings::Tracing.set(),
                "both" => Warnings::Both.set(),
                "off" => Warnings::Off.set(),
                other => panic!("unknown channel {other}"),
            }
            // Two uncarried spawns: one warning, once per reason.
            for _ in 0..2 {
                let out = echo_placeholder(DoubleSpawn::enabled()).unwrap();
                assert!(out.status.success());
            }
            println!("EVENTS {}", events());
        }
        "route-by-env" => {
            let config = DoubleSpawn::from_env("MY_RUNNER_DOUBLE_SPAWN");
            assert!(matches!(
                config.route(),
                Route::Direct(DirectReason::DisabledByEnv {
                    var: "MY_RUNNER_DOUBLE_SPAWN",
                    value: "Off",
                    ..
                })
            ));
            println!("ROUTE {}", config.route());
            println!("ROUTE {}", DoubleSpawn::process_default().route());
        }
        "spawn-twice" => {
            for _ in 0..2 {
                assert!(Command::new("true")
                    .double_spawn()
                    .status()
                    .unwrap()
                    .success());
            }
        }
        other => panic!("unknown case {other}"),
    }
}

/// Installs the subscriber `kind` names (`none`: nothing); returns how many
/// of the crate's warning events it has recorded.
#[cfg(feature = "tracing")]
fn subscribe(kind: &str) -> fn() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing::{span, Event, Level, Metadata};

    static WARNINGS: AtomicUsize = AtomicUsize::new(0);

    /// The least a subscriber is: a level filter and a counter.
    struct Counter {
        most_verbose: Level,
    }

    impl tracing::Subscriber for Counter {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            *metadata.level() <= self.most_verbose
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, event: &Event<'_>) {
            let m = event.metadata();
            if *m.level() == Level::WARN && m.target().starts_with("double_spawn") {
                WARNINGS.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    let most_verbose = match kind {
        "none" => return || WARNINGS.load(Ordering::SeqCst),
        "warn" => Level::WARN,
        "error" => Level::ERROR,
        other => panic!("unknown subscriber {other}"),
    };
    tracing::subscriber::set_global_default(Counter { most_verbose }).unwrap();
    || WARNINGS.load(Ordering::SeqCst)
}

#[cfg(not(feature = "tracing"))]
fn subscribe(kind: &str) -> fn() -> usize {
    assert_eq!(kind, "none", "a subscriber needs the tracing feature");
    || 0
}

/// Runs the channel case: the number of warning lines on stderr and of
/// warning events the subscriber recorded.
fn channel(warnings_: &str, subscriber: &str) -> (usize, usize) {
    let (stdout, stderr) = run_case("channel", &[(CHANNEL, warnings_), (SUBSCRIBER, subscriber)]);
    // libtest prints the test's name on the same line, before the output.
    let events = marked(&stdout, "EVENTS ")[..]
        .first()
        .unwrap_or_else(|| panic!("no count: {stdout}"))
        .parse()
        .unwrap();
    (warnings(&stderr).len(), events)
}

/// What follows `marker` on each line of `stdout` that has it.
fn marked<'a>(stdout: &'a str, marker: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .filter_map(|l| Some(&l[l.find(marker)? + marker.len()..]))
        .collect()
}

/// The default channel prints each warning exactly once, subscriber or not.
#[test]
fn by_default_without_a_subscriber_one_line() {
    if !common::stub_host_without_init("by_default_without_a_subscriber_one_line") {
        return;
    }
    assert_eq!(channel("auto", "none"), (1, 0));
}

#[cfg(feature = "tracing")]
#[test]
fn by_default_with_a_subscriber_nothing_on_stderr() {
    if !common::stub_host_without_init("by_default_with_a_subscriber_nothing_on_stderr") {
        return;
    }
    assert_eq!(channel("auto", "warn"), (0, 1));
}

/// A subscriber that filters the warning out does not silence it.
#[cfg(feature = "tracing")]
#[test]
fn by_default_a_subscriber_that_filters_warnings_out_leaves_them_on_stderr() {
    if !common::stub_host_without_init(
        "by_default_a_subscriber_that_filters_warnings_out_leaves_them_on_stderr",
    ) {
        return;
    }
    assert_eq!(channel("auto", "error"), (1, 0));
}

#[test]
fn the_stderr_channel() {
    if !common::stub_host_without_init("the_stderr_channel") {
        return;
    }
    assert_eq!(channel("stderr", "none"), (1, 0));
    #[cfg(feature = "tracing")]
    assert_eq!(channel("stderr", "warn"), (1, 0));
}

#[cfg(feature = "tracing")]
#[test]
fn the_tracing_channel() {
    if !common::stub_host_without_init("the_tracing_channel") {
        return;
    }
    assert_eq!(channel("tracing", "warn"), (0, 1));
    // Chosen, so nothing on stderr even with no subscriber to see it.
    assert_eq!(channel("tracing", "none"), (0, 0));
}

#[cfg(feature = "tracing")]
#[test]
fn the_both_channel() {
    if !common::stub_host_without_init("the_both_channel") {
        return;
    }
    assert_eq!(channel("both", "warn"), (1, 1));
}

#[test]
fn the_off_channel() {
    if !common::stub_host_without_init("the_off_channel") {
        return;
    }
    assert_eq!(channel("off", "none"), (0, 0));
    #[cfg(feature = "tracing")]
    assert_eq!(channel("off", "warn"), (0, 0));
}

/// Not a test: a process started with `CASE` runs only that case (ignored,
/// so that a normal run does not count it as a test that cannot fail).
#[test]
#[ignore = "entry point started by run_case"]
fn case_entry_point() {
    if let Ok(name) = std::env::var(CASE) {
        case(&name);
    }
}

#[test]
fn an_uncarried_command_spawns_directly_and_says_so_once() {
    let (_, stderr) = run_case("literal-placeholder", &[]);
    let lines = warnings(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("spawning directly, without protection"),
        "{stderr}"
    );
}

#[test]
fn the_opt_out_is_silent() {
    let (_, stderr) = run_case("literal-placeholder", &[(DoubleSpawn::ENV_VAR, "0")]);
    assert!(warnings(&stderr).is_empty(), "{stderr}");
}

#[test]
fn strict_mode_fails_instead_and_prints_nothing() {
    if !common::stub_host_without_init("strict_mode_fails_instead_and_prints_nothing") {
        return;
    }
    let (_, stderr) = run_case("strict", &[]);
    assert!(warnings(&stderr).is_empty(), "{stderr}");
}

#[test]
fn a_value_that_means_nothing_is_reported_once() {
    let (_, stderr) = run_case("spawn-twice", &[(DoubleSpawn::ENV_VAR, "embeded")]);
    // Only this warning: a binary that is no stub host (musl, no init())
    // also says so, for its own reason.
    let lines: Vec<&str> = warnings(&stderr)
        .into_iter()
        .filter(|l| l.contains("DOUBLE_SPAWN="))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("DOUBLE_SPAWN=\"embeded\" is not a value"),
        "{stderr}"
    );
}

#[test]
fn a_protected_spawn_prints_nothing() {
    if !common::stub_host_without_init("a_protected_spawn_prints_nothing") {
        return;
    }
    let (_, stderr) = run_case("spawn-twice", &[]);
    assert!(!stderr.contains("double-spawn"), "{stderr}");
}

#[test]
fn without_proc_it_spawns_directly_and_says_why() {
    if !common::stub_host_without_init("without_proc_it_spawns_directly_and_says_why") {
        return;
    }
    let (stdout, stderr) = run_case("no-proc", &[]);
    if stdout.contains("SKIPPED") {
        println!("skipped: no mount namespace here");
        return;
    }
    let lines = warnings(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("is /proc mounted?"), "{stderr}");
}

#[test]
fn the_route_is_reported() {
    if !common::stub_host_without_init("the_route_is_reported") {
        return;
    }
    assert_eq!(
        DoubleSpawn::enabled().route().to_string(),
        "stub: the current executable (/proc/self/exe)"
    );
    assert_eq!(
        DoubleSpawn::disabled().route(),
        Route::Direct(DirectReason::Disabled)
    );
    assert!(DoubleSpawn::enabled().is_active());
}

/// A configuration read from a variable names it when the variable turned
/// double spawning off; the process default names `DOUBLE_SPAWN`.
#[test]
fn a_disabling_variable_is_named_in_the_route() {
    let (stdout, _) = run_case(
        "route-by-env",
        &[
            ("MY_RUNNER_DOUBLE_SPAWN", " Off "),
            (DoubleSpawn::ENV_VAR, "0"),
        ],
    );
    assert_eq!(
        marked(&stdout, "ROUTE "),
        [
            "direct: double spawning is disabled by MY_RUNNER_DOUBLE_SPAWN=Off",
            "direct: double spawning is disabled by DOUBLE_SPAWN=0",
        ],
        "{stdout}"
    );
}

#[test]
fn a_chosen_exit_code_marks_a_failed_exec() {
    if !common::stub_host_without_init("a_chosen_exit_code_marks_a_failed_exec") {
        return;
    }
    // A file without `#!` passes every check the parent can make; only the
    // stub's exec fails (ENOEXEC), and it exits with the chosen code.
    let dir = std::env::temp_dir().join(format!("ds-fallback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("no-shebang");
    std::fs::write(&script, "echo hi\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for (config, code) in [
        (DoubleSpawn::enabled(), 127),
        (DoubleSpawn::enabled().exec_failure_code(70), 70),
    ] {
        let out = Command::new(&script)
            .double_spawn_with(config)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("double-spawn: cannot execute"), "{err}");
        // Stub form carries the code the same way.
        let out = config
            .std_command(&script)
            .double_spawn_with(config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
