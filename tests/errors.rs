//! Errors: bad input fails `double_spawn()` exactly as it fails a direct
//! spawn (same kind, same raw OS error), from `spawn()` itself, with nothing
//! left running; what only the child can see is reported by the stub with
//! one line and a documented exit code; a stub started by hand with a
//! malformed command line prints a usage line and exits with its own code.

mod common;

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Test;
use double_spawn::{exit_code, DoubleSpawn, DoubleSpawnExt};
use nix::libc;

const LIMIT: Duration = Duration::from_secs(30);
const MARKER: &str = "__double-spawn-stub-v1";

fn main() {
    double_spawn::init();
    if std::env::args().nth(1).as_deref() == Some("report-active") {
        print!("{}", DoubleSpawn::new().is_active());
        return;
    }
    common::run_tests(
        "errors",
        &[
            Test {
                name: "bad_input_errors_match_direct",
                run: bad_input_errors_match_direct,
            },
            Test {
                name: "script_without_shebang",
                run: script_without_shebang,
            },
            Test {
                name: "stub_form_missing_program",
                run: stub_form_missing_program,
            },
            Test {
                name: "stub_by_hand_usage",
                run: stub_by_hand_usage,
            },
            Test {
                name: "stub_by_hand_exec_failure",
                run: stub_by_hand_exec_failure,
            },
            Test {
                name: "disabled_is_direct",
                run: disabled_is_direct,
            },
        ],
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// (kind, raw OS error) of a spawn error.
type Shape = (io::ErrorKind, Option<i32>);

fn shape(e: io::Error) -> Shape {
    (e.kind(), e.raw_os_error())
}

/// What a direct spawn must fail with: an OS error (compared by its raw
/// code, which also fixes the kind), or an error std makes itself.
#[derive(Debug)]
enum Want {
    Os(i32),
    Kind(io::ErrorKind),
}

/// A named way to build a bad command, and the error it must give.
type Case = (&'static str, Box<dyn Fn() -> Command>, Want);

fn bad_input_errors_match_direct() {
    let dir = common::TempDir::new("errors");
    let plain = dir.0.join("plain");
    std::fs::write(&plain, b"data").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let a_file = plain.clone();
    let cases: Vec<Case> = vec![
        (
            "missing program (PATH lookup)",
            Box::new(|| Command::new("no-such-program-ds")),
            Want::Os(libc::ENOENT),
        ),
        (
            "missing program (path)",
            Box::new(|| Command::new("/no/such/program")),
            Want::Os(libc::ENOENT),
        ),
        (
            "not executable",
            Box::new(move || Command::new(&plain)),
            Want::Os(libc::EACCES),
        ),
        (
            "a directory",
            Box::new(|| Command::new("/tmp")),
            Want::Os(libc::EACCES),
        ),
        (
            "missing current_dir",
            Box::new(|| {
                let mut c = Command::new("/bin/true");
                c.current_dir("/no/such/dir");
                c
            }),
            Want::Os(libc::ENOENT),
        ),
        (
            "current_dir is a file",
            Box::new(move || {
                let mut c = Command::new("/bin/true");
                c.current_dir(&a_file);
                c
            }),
            Want::Os(libc::ENOTDIR),
        ),
        (
            "NUL in an argument",
            Box::new(|| {
                let mut c = Command::new("/bin/true");
                c.arg("a\0b");
                c
            }),
            Want::Kind(io::ErrorKind::InvalidInput),
        ),
        (
            "NUL in the program",
            Box::new(|| Command::new("tr\0ue")),
            Want::Kind(io::ErrorKind::InvalidInput),
        ),
        (
            "NUL in an environment value",
            Box::new(|| {
                let mut c = Command::new("/bin/true");
                c.env("DS", OsStr::from_bytes(b"a\0b"));
                c
            }),
            Want::Kind(io::ErrorKind::InvalidInput),
        ),
        (
            "PATH without the program",
            Box::new(|| {
                let mut c = Command::new("true");
                c.env("PATH", "/nonexistent-ds");
                c
            }),
            Want::Os(libc::ENOENT),
        ),
    ];
    let children_before = common::live_children();
    for (name, build, want) in &cases {
        let direct = shape(build().spawn().expect_err(name));
        match want {
            Want::Os(code) => assert_eq!(direct.1, Some(*code), "{name}: the direct spawn's error"),
            Want::Kind(kind) => assert_eq!(direct.0, *kind, "{name}: the direct spawn's kind"),
        }
        let std_double = shape(build().double_spawn().spawn().expect_err(name));
        assert_eq!(std_double, direct, "{name}: std double spawn");
        let tokio_double = runtime().block_on(async {
            let mut cmd = tokio::process::Command::from(build());
            shape(cmd.double_spawn().spawn().expect_err(name))
        });
        assert_eq!(tokio_double, direct, "{name}: tokio double spawn");
        let std_output = shape(build().double_spawn().output().expect_err(name));
        assert_eq!(std_output, direct, "{name}: std double output()");
    }
    assert_eq!(
        common::live_children(),
        children_before,
        "nothing is left running after failed spawns"
    );
}

/// `ENOEXEC` is seen only when `exec` runs: a direct spawn returns it from
/// `spawn()`, a double spawn from the child (documented in the crate docs).
fn script_without_shebang() {
    let dir = common::TempDir::new("enoexec");
    let script = dir.0.join("script");
    std::fs::write(&script, b"echo not a binary\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let direct = Command::new(&script).spawn().expect_err("ENOEXEC");
    assert_eq!(direct.raw_os_error(), Some(libc::ENOEXEC));
    let out = Command::new(&script)
        .stderr(Stdio::piped())
        .double_spawn()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit_code::EXEC_FAILED));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&*script.to_string_lossy()),
        "names the program: {err}"
    );
    assert!(err.contains("Exec format error"), "names the error: {err}");
    let cwd = std::env::current_dir().unwrap();
    assert!(
        err.contains(&*cwd.to_string_lossy()),
        "names the cwd: {err}"
    );
}

fn stub_form_missing_program() {
    let mut cmd = DoubleSpawn::new().std_command("no-such-program-ds");
    cmd.arg("x").current_dir("/tmp").stderr(Stdio::piped());
    let child = cmd.double_spawn().spawn().expect("the stub starts");
    let out = common::output_bounded(child, LIMIT, "stub form");
    assert_eq!(out.status.code(), Some(exit_code::EXEC_FAILED));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-program-ds") && err.contains("\"/tmp\""),
        "{err}"
    );
    assert!(err.contains("No such file or directory"), "{err}");
}

/// Starts this test binary as a stub by hand, from inside itself: only the
/// name `/proc/self/exe`, which this process can use, makes the stub obey.
fn stub_by_hand(args: &[&str]) -> std::process::Output {
    let child = Command::new("/proc/self/exe")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::output_bounded(child, LIMIT, "stub by hand")
}

fn stub_by_hand_usage() {
    for args in [
        &[MARKER][..],
        &[MARKER, "/bin/true"],
        &[MARKER, "", "argv0"],
    ] {
        let out = stub_by_hand(args);
        assert_eq!(out.status.code(), Some(exit_code::USAGE), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("double-spawn: usage:"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty(), "the test harness did not run");
    }
}

fn stub_by_hand_exec_failure() {
    let out = stub_by_hand(&[MARKER, "/no/such/program", "argv0", "x"]);
    assert_eq!(out.status.code(), Some(exit_code::EXEC_FAILED));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/program"), "{err}");
    // And a well-formed one runs the target with exactly the given argv
    // (sh -c SCRIPT takes $0 from the argument after the script).
    let script = "printf '%s|' \"$0\" \"$@\"";
    let out = stub_by_hand(&[MARKER, "/bin/sh", "sh", "-c", script, "first", "a b", ""]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first|a b||");
}

fn disabled_is_direct() {
    let off = DoubleSpawn::disabled();
    assert!(!off.is_active());
    let cmd = off.std_command("true");
    assert_eq!(cmd.get_program(), "true", "a plain command when disabled");
    let status = Command::new("true")
        .double_spawn_with(off)
        .status()
        .unwrap();
    assert!(status.success());
    // DOUBLE_SPAWN=0 in the environment of a process turns it off there.
    let active = |value: Option<&str>| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.arg("report-active");
        match value {
            Some(v) => cmd.env(DoubleSpawn::ENV_VAR, v),
            None => cmd.env_remove(DoubleSpawn::ENV_VAR),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(active(None), "true");
    assert_eq!(active(Some("1")), "true");
    assert_eq!(active(Some("0")), "false");
    assert_eq!(active(Some("off")), "false");
}
