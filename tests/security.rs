//! The stub acts only for a double spawn of its own executable.
//!
//! - A real stub command line, replayed by someone else (a shell, a process
//!   naming the binary by its path or through another process's
//!   `/proc/PID/exe`), is refused: one line on stderr, exit 126, and the
//!   target never runs, even as root.
//! - The check cannot refuse a legitimate spawn: a spawner that exits, or
//!   `exec`s another program, the moment `spawn()` returns still gets every
//!   target run, round after round.
//!
//! Each spawner is a separate process (this test binary in a role, chosen by
//! an environment variable), so its exit does not end the test.

// What these tests observe (/proc, Linux system calls) is Linux; the crate
// docs' "Platform support" says what is checked on other targets.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use double_spawn::{exit_code, DoubleSpawn, DoubleSpawnExt};

/// Names the role this binary plays when started by a test.
const ROLE: &str = "DS_SECURITY_ROLE";
const LIMIT: Duration = Duration::from_secs(60);

fn run(cmd: &mut Command, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::output_bounded(child, LIMIT, what)
}

/// A genuine stub command line, as the crate builds it: the stub-form
/// command for a target that would print `escalated`.
fn real_stub_command_line() -> (std::ffi::OsString, Vec<std::ffi::OsString>) {
    let config = DoubleSpawn::enabled();
    assert_eq!(
        config.route().to_string(),
        "stub: the current executable (/proc/self/exe)",
        "this test binary is a stub host without init()"
    );
    let mut cmd = config.std_command("/bin/sh");
    cmd.args(["-c", "echo escalated"]);
    // The stub reads its flags from argv[0]; `Debug` shows them.
    let shown = format!("{cmd:?}");
    let arg0 = shown
        .split('"')
        .find(|s| s.starts_with("double-spawn:"))
        .expect("the stub's argv[0] carries its flags")
        .into();
    (arg0, cmd.get_args().map(ToOwned::to_owned).collect())
}

fn assert_refused(out: &Output, how: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(exit_code::REFUSED_PRIVILEGED),
        "{how}: {err}"
    );
    assert!(
        out.stdout.is_empty(),
        "{how}: the target ran: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(err.lines().count(), 1, "{how}: {err}");
    assert!(
        err.starts_with("double-spawn: refusing to act as a stub"),
        "{how}: {err}"
    );
}

#[test]
fn a_replayed_stub_command_line_is_refused() {
    if !common::stub_host_without_init("a_replayed_stub_command_line_is_refused") {
        return;
    }
    let me = std::env::current_exe().unwrap();
    let (arg0, args) = real_stub_command_line();
    // SAFETY: geteuid cannot fail.
    let root = unsafe { nix::libc::geteuid() } == 0;
    println!("replaying as {}", if root { "root" } else { "non-root" });

    // By the binary's path, from this process (as a service would).
    let out = run(Command::new(&me).arg0(&arg0).args(&args), "replay by path");
    assert_refused(&out, "replay by path");

    // From a shell, as a user at a prompt or a sudo rule would.
    let out = run(
        Command::new("/bin/sh")
            .arg("-c")
            .arg("exec \"$0\" \"$@\"")
            .arg(&me)
            .args(&args),
        "replay from a shell",
    );
    assert_refused(&out, "replay from a shell");

    // Through another process's /proc/PID/exe (the name is not
    // /proc/self/exe, although it resolves to this binary).
    let by_pid = format!("/proc/{}/exe", std::process::id());
    let out = run(
        Command::new(&by_pid).arg0(&arg0).args(&args),
        "replay through /proc/PID/exe",
    );
    assert_refused(&out, "replay through /proc/PID/exe");

    // The same command line started the way the crate starts it runs.
    let mut genuine = DoubleSpawn::enabled().std_command("/bin/sh");
    genuine.args(["-c", "echo escalated"]);
    let out = run(&mut genuine, "a genuine start");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "escalated\n");
}

/// The spawner role: double-spawn a target that creates `file`, then end
/// this process at once, by `_exit` or by `exec`ing another program.
fn spawner_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let file = std::env::var_os("DS_SECURITY_FILE").unwrap();
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", ": > \"$1\"", "sh"])
        .arg(file)
        .stdin(Stdio::null());
    let spawned = cmd.double_spawn_with(DoubleSpawn::enabled()).spawn();
    match (role.as_str(), spawned) {
        // SAFETY: _exit ends the process at once, as the test intends.
        ("exit", Ok(_)) => unsafe { nix::libc::_exit(0) },
        ("exec", Ok(_)) => {
            let err = Command::new("/bin/true").exec();
            panic!("exec /bin/true: {err}");
        }
        (_, spawned) => panic!("role {role}: {spawned:?}"),
    }
}

/// Not a test: a process started with `ROLE` runs only the role (ignored,
/// so that a normal run does not count it as a test that cannot fail).
#[test]
#[ignore = "entry point started by the spawner tests"]
fn role_entry_point() {
    spawner_role();
}

fn spawners_that_end_at_once(role: &str, rounds: usize) {
    let me = std::env::current_exe().unwrap();
    let dir = common::TempDir::new(&format!("security-{role}"));
    for round in 0..rounds {
        let out = run(
            Command::new(&me)
                .args(common::entry_args("role_entry_point"))
                .env(ROLE, role)
                .env("DS_SECURITY_FILE", dir.0.join(round.to_string())),
            "spawner",
        );
        assert!(
            out.status.success(),
            "spawner round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The targets are orphans now: wait for their files, bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    let count = |dir: &Path| std::fs::read_dir(dir).unwrap().count();
    while count(&dir.0) < rounds && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let ran = count(&dir.0);
    println!("spawner ends by {role}: {ran} of {rounds} targets ran");
    assert_eq!(
        ran, rounds,
        "targets refused or lost when the spawner ends by {role}"
    );
}

#[test]
fn every_target_runs_when_the_spawner_exits_at_once() {
    if !common::stub_host_without_init("every_target_runs_when_the_spawner_exits_at_once") {
        return;
    }
    spawners_that_end_at_once("exit", 300);
}

#[test]
fn every_target_runs_when_the_spawner_execs_at_once() {
    if !common::stub_host_without_init("every_target_runs_when_the_spawner_execs_at_once") {
        return;
    }
    spawners_that_end_at_once("exec", 100);
}
