//! A binary running with elevated privileges never acts as a stub.
//!
//! Otherwise anyone could run `the-binary <stub arguments> /bin/sh` and get a
//! shell with its privileges. The test makes a setuid copy of this binary
//! owned by `nobody` (so root running it gets euid != ruid, and the kernel
//! sets `AT_SECURE`), then checks that the copy refuses the stub's arguments
//! and that its own double spawns are direct spawns. Making a setuid file
//! needs root; elsewhere the test says so and checks only the unprivileged
//! side. Standard harness: each copy runs the ignored entry point
//! `report` (see [`common::entry_command`]).

// What these tests observe (/proc, Linux system calls) is Linux; the crate
// docs' "Platform support" says what is checked on other targets.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use double_spawn::{exit_code, DoubleSpawn, DoubleSpawnExt};
use nix::libc;

const MARKER: &str = "__double-spawn-stub-v1";
const NOBODY: u32 = 65534;

/// Not a test: what the original and the setuid copy run, one
/// `REPORT ...` line on stdout.
#[test]
#[ignore = "entry point started by setuid_binary_is_never_a_stub"]
fn report() {
    let spawned = Command::new("/bin/true")
        .double_spawn()
        .status()
        .map(|s| s.success());
    println!(
        "REPORT active={} spawned={:?}",
        DoubleSpawn::new().is_active(),
        spawned.ok()
    );
}

/// The `REPORT` line of `out`, without its prefix.
fn report_of(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| Some(l.split_once("REPORT ")?.1))
        .unwrap_or_else(|| {
            panic!(
                "no REPORT line: {}\n{text}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_string()
}

fn run(exe: &std::path::Path, args: &[&str]) -> std::process::Output {
    let child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::output_bounded(child, Duration::from_secs(30), "setuid copy")
}

#[test]
fn setuid_binary_is_never_a_stub() {
    if !common::stub_host_without_init("setuid_binary_is_never_a_stub") {
        return;
    }
    let me = std::env::current_exe().unwrap();
    // The unprivileged original is a stub and spawns through it.
    let out = run(&me, &common::entry_args("report"));
    assert_eq!(report_of(&out), "active=true spawned=Some(true)");

    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("    (not root: cannot make a setuid copy; privileged side not checked)");
        return;
    }
    let dir = common::TempDir::new("setuid");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.0.join("privileged-copy");
    std::fs::copy(&me, &copy).unwrap();
    std::os::unix::fs::chown(&copy, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();

    let out = run(&copy, &[MARKER, "/bin/sh", "sh", "-c", "echo escalated"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(exit_code::REFUSED_PRIVILEGED),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "the target never ran");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("elevated privileges"), "{err}");

    let out = run(&copy, &common::entry_args("report"));
    assert_eq!(
        report_of(&out),
        "active=false spawned=Some(true)",
        "the privileged copy spawns directly; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
