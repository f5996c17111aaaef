//! `spawn_with`: a spawner of the caller's own makes the spawn, and it stays
//! protected; `DoubleSpawn::plain_command` is the way back from stub form.

// What these tests observe (/proc, the thread's signal mask) is Linux.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsStr;
use std::process::{Command, Stdio};

use double_spawn::{DoubleSpawn, DoubleSpawnExt, Stub};
use nix::sys::signal::{SigSet, Signal};

fn sigtstp_blocked() -> bool {
    SigSet::thread_get_mask().unwrap().contains(Signal::SIGTSTP)
}

fn current_exe() -> DoubleSpawn {
    DoubleSpawn::enabled().stub(Stub::CurrentExe)
}

/// A plain command reaches the spawner as the stub's command (program the
/// stub, marker first), with SIGTSTP blocked on this thread; the target runs
/// with the caller's stdio, and the mask is back after the spawn.
#[test]
fn a_plain_command_reaches_the_spawner_as_the_stub_command_under_the_guard() {
    if !common::stub_host_without_init("spawn_with plain command") {
        return;
    }
    assert!(!sigtstp_blocked(), "the test thread must start unblocked");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo target ran"]).stdout(Stdio::piped());
    let mut seen = Vec::new();
    let child = cmd
        .double_spawn_with(current_exe())
        .spawn_with(|stub| {
            seen.push((
                stub.get_program().to_owned(),
                stub.get_args().next().map(OsStr::to_owned),
                sigtstp_blocked(),
            ));
            stub.spawn()
        })
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "target ran\n");
    assert_eq!(seen.len(), 1, "the spawner runs once: {seen:?}");
    let (program, first, blocked) = &seen[0];
    assert_eq!(program, "/proc/self/exe", "{seen:?}");
    assert_eq!(
        first.as_deref(),
        Some(OsStr::new("__double-spawn-stub-v1")),
        "{seen:?}"
    );
    assert!(blocked, "the spawner runs under the guard");
    assert!(!sigtstp_blocked(), "the guard restores the mask");
}

/// A stub-form command is handed over as it is, with the spawn's flags in
/// its `argv[0]` (SIGTSTP to unblock, `t`), and gets its built flags back.
#[test]
fn a_stub_form_command_is_handed_over_with_the_spawn_time_flags() {
    if !common::stub_host_without_init("spawn_with stub form") {
        return;
    }
    let config = current_exe();
    let mut cmd = config.std_command("sh");
    cmd.args(["-c", "exit 3"]);
    let mut flags = String::new();
    let status = cmd
        .double_spawn_with(config)
        .spawn_with(|c| {
            flags = format!("{c:?}");
            c.spawn()
        })
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    // The spawn-time flags name the spawner's process group (`g`), which
    // the flags a stub-form command is built with never do.
    let arg0 = |debug: &str| {
        debug
            .split('"')
            .find(|w| w.starts_with("double-spawn:"))
            .map(str::to_owned)
    };
    let at_spawn = arg0(&flags).expect("the flags at the spawn");
    assert!(
        at_spawn.starts_with("double-spawn:t") && at_spawn.contains('g'),
        "{flags}"
    );
    let after = arg0(&format!("{cmd:?}")).expect("the flags after the spawn");
    assert!(!after.contains('g'), "the built flags are back: {cmd:?}");
}

/// A direct spawn hands the spawner the caller's command itself.
#[test]
fn a_direct_spawn_hands_over_the_callers_command() {
    let mut cmd = Command::new("true");
    let mut program = None;
    let status = cmd
        .double_spawn_with(DoubleSpawn::disabled())
        .spawn_with(|c| {
            program = Some(c.get_program().to_owned());
            c.status()
        })
        .unwrap();
    assert!(status.success());
    assert_eq!(program.as_deref(), Some(OsStr::new("true")));
}

/// The spawner's error is the spawn's error, and the guard is released.
#[test]
fn the_spawners_error_is_returned() {
    if !common::stub_host_without_init("spawn_with error") {
        return;
    }
    let mut cmd = Command::new("true");
    let err = cmd
        .double_spawn_with(current_exe())
        .spawn_with(|_| Err::<(), _>(std::io::Error::other("helper refused")))
        .unwrap_err();
    assert_eq!(err.to_string(), "helper refused");
    assert!(!sigtstp_blocked());
}

/// `plain_command` gives back the target with its settings: program,
/// argv[0], arguments, environment, directory, stdio; a direct spawn of it
/// prints what the stub-form command's target would.
#[test]
fn plain_command_is_the_way_back_from_stub_form() {
    if !common::stub_host_without_init("plain_command") {
        return;
    }
    use std::os::unix::process::CommandExt;
    let config = current_exe();
    let mut stub_form = config.std_command("sh");
    stub_form
        .args(["-c", "echo \"$0 $1 $DS_A $(pwd)\"", "zero", "one"])
        .env("DS_A", "x")
        .env_remove("DS_GONE")
        .current_dir("/")
        .process_group(0)
        .stderr(Stdio::null());
    assert_eq!(stub_form.get_program(), "/proc/self/exe");
    let mut plain = DoubleSpawn::plain_command(&stub_form).unwrap();
    assert_eq!(plain.get_program(), "sh");
    assert_eq!(
        plain.get_args().collect::<Vec<_>>(),
        ["-c", "echo \"$0 $1 $DS_A $(pwd)\"", "zero", "one"]
    );
    let debug = format!("{plain:#?}");
    assert!(debug.contains("pgroup: Some(\n        0,"), "{debug}");
    // stdout was left unset: output() captures it.
    let out = plain.output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "zero one x /\n");
    // The same through the stub-form command itself.
    let out = stub_form.double_spawn_with(config).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "zero one x /\n");
    // A plain command is copied.
    let again = DoubleSpawn::plain_command(&plain).unwrap();
    assert_eq!(format!("{again:?}"), format!("{plain:?}"));
}
