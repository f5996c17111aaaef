//! The embedded stub: the route is really taken, the target gets what a
//! direct spawn gives it, and every refusal ends in a working spawn on the
//! next route with one warning.
//!
//! The loader's state is per process, so every case runs in a process of
//! its own: this test binary, started with `DS_EMBEDDED_CASE` naming the
//! case, runs only `case_entry_point`, which prints `key=value` lines for
//! the test to check. Fault injection happens in that process before it
//! starts (a seccomp filter, a mount namespace), set up between `fork` and
//! `exec` with system calls only.

// What these tests observe (/proc, Linux system calls) is Linux; the crate
// docs' "Platform support" says what is checked on other targets.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use double_spawn::{DirectReason, DoubleSpawn, DoubleSpawnExt, Route, Stub};
use nix::libc;

const CASE: &str = "DS_EMBEDDED_CASE";
const MARKER: &str = "__double-spawn-stub-v1";
const LIMIT: Duration = Duration::from_secs(60);

fn embedded() -> DoubleSpawn {
    DoubleSpawn::enabled().stub(Stub::Embedded)
}

// ---------------------------------------------------------------------------
// Running a case in a process of its own.
// ---------------------------------------------------------------------------

/// This test binary, set up to run `case` and nothing else.
fn case_command(case: &str) -> Command {
    case_command_of(&std::env::current_exe().unwrap(), case)
}

/// `binary` (this test binary or a copy) set up to run `case`.
fn case_command_of(binary: &Path, case: &str) -> Command {
    let mut cmd = Command::new(binary);
    cmd.args(common::entry_args("case_entry_point"))
        .env(CASE, case)
        .env_remove(DoubleSpawn::ENV_VAR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `case` run by this test binary under strace, which writes every
/// `execve` of the process tree to `log` (set up as `case_command` does).
fn strace_case(log: &Path, case: &str) -> Command {
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-s", "200", "-e", "trace=execve", "-o"])
        .arg(log)
        .arg(std::env::current_exe().unwrap())
        .args(common::entry_args("case_entry_point"))
        .env(CASE, case)
        .env_remove(DoubleSpawn::ENV_VAR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` (made by `case_command`) within the time limit; the case must
/// succeed. Returns its stdout and stderr.
fn run(mut cmd: Command, what: &str) -> (String, String) {
    let child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
    let out = common::output_bounded(child, LIMIT, what);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{what}: {}\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn value<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in:\n{stdout}"))
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("double-spawn: warning:"))
        .collect()
}

/// The cases, run in their own process (ignored, so that a normal run does
/// not count it as a test that cannot fail).
#[test]
#[ignore = "entry point started by case_command"]
fn case_entry_point() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    println!(); // after libtest's "test case_entry_point ... "
    match case.as_str() {
        "spawn" => case_spawn(embedded()),
        "env" => case_spawn(DoubleSpawn::new()),
        "exit_code" => case_exit_code(),
        "parity" => case_parity(),
        "probe" => {
            let report = common::probe_report();
            std::fs::write(std::env::var_os(common::PROBE_OUT).unwrap(), report).unwrap();
        }
        "replaced_fd" => case_replaced_fd(),
        "route_only" => case_route_only(),
        "bad_cwd" => case_bad_cwd(),
        "noexec_inner" => {
            match std::fs::write("/proc/sys/vm/memfd_noexec", "2") {
                Ok(()) => println!("sysctl=ok"),
                Err(e) => return println!("sysctl={e}"),
            }
            case_spawn(embedded());
        }
        other => panic!("unknown case {other}"),
    }
}

/// Prints the route of `config` and of the default stub, then spawns
/// `/bin/true` through `config`, std and tokio.
fn case_spawn(config: DoubleSpawn) {
    println!("route={}", config.route());
    println!(
        "current_exe_route={}",
        DoubleSpawn::enabled().stub(Stub::CurrentExe).route()
    );
    let status = Command::new("/bin/true")
        .double_spawn_with(config)
        .status()
        .unwrap();
    println!("std={}", status.success());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(async {
        tokio::process::Command::new("echo")
            .arg("tokio")
            .double_spawn_with(config)
            .output()
            .await
    });
    println!(
        "tokio={}",
        String::from_utf8_lossy(&out.unwrap().stdout).trim()
    );
    // After the first spawn, which proves the embedded stub or finds it
    // refused (route() before it spawns nothing and cannot know).
    println!("route_after={}", config.route());
}

// ---------------------------------------------------------------------------
// The route is taken.
// ---------------------------------------------------------------------------

fn assert_embedded(stdout: &str) {
    let route = value(stdout, "route");
    let n = route
        .strip_prefix("stub: embedded (/proc/self/fd/")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not the embedded route: {route}"));
    assert!(n.parse::<u32>().unwrap() >= 3, "{route}");
    assert_eq!(value(stdout, "std"), "true");
    assert_eq!(value(stdout, "tokio"), "tokio");
}

#[test]
fn embedded_route_is_taken() {
    let (stdout, stderr) = run(case_command("spawn"), "spawn");
    assert_embedded(&stdout);
    assert!(warnings(&stderr).is_empty(), "{stderr}");
}

#[test]
fn environment_value_chooses_it() {
    let mut cmd = case_command("env");
    cmd.env(DoubleSpawn::ENV_VAR, "embedded");
    let (stdout, stderr) = run(cmd, "DOUBLE_SPAWN=embedded");
    assert_embedded(&stdout);
    assert!(warnings(&stderr).is_empty(), "{stderr}");
}

/// A failed `exec` inside the stub exits with the configured code, and the
/// stub-form command names the memfd: only the embedded stub was there. The
/// target is a script whose interpreter is missing: the parent's check of a
/// stub-form command's program passes (it is an executable file), and only
/// its `exec`, in the stub, fails (a missing program fails `spawn()`).
fn case_exit_code() {
    let dir = common::TempDir::new("embedded-exit-code");
    let script = dir.0.join("no-interpreter-ds");
    std::fs::write(&script, "#!/nonexistent-ds/sh\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = embedded().exec_failure_code(77);
    let mut cmd = config.std_command(&script);
    println!("program={}", cmd.get_program().to_string_lossy());
    let out = cmd
        .double_spawn_with(config)
        .output()
        .expect("a stub-form command spawns; the stub reports the failure");
    println!("code={:?}", out.status.code());
    print!("stub_stderr={}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn exit_code_proves_the_memfd_stub_ran() {
    let (stdout, _) = run(case_command("exit_code"), "exit code");
    assert!(
        value(&stdout, "program").starts_with("/proc/self/fd/"),
        "{stdout}"
    );
    assert_eq!(value(&stdout, "code"), "Some(77)");
    let line = value(&stdout, "stub_stderr");
    assert!(
        line.starts_with("double-spawn: cannot execute \"")
            && line.contains("no-interpreter-ds\" in \"")
            && line.ends_with("\": No such file or directory (os error 2)"),
        "{line}"
    );
}

/// The exec chain, seen by strace: the spawn executes `/proc/self/fd/N`
/// with the protocol's arguments, and that process executes the target.
#[test]
fn exec_chain_under_strace() {
    let dir = common::TempDir::new("embedded-strace");
    let log = dir.0.join("trace");
    let mut cmd = strace_case(&log, "spawn");
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            println!("strace is not installed: exec chain not shown (exit-code proof still runs)");
            return;
        }
        Err(e) => panic!("strace: {e}"),
    };
    let out = common::output_bounded(child, LIMIT, "strace");
    let trace = std::fs::read_to_string(&log).unwrap_or_default();
    if !out.status.success() && trace.is_empty() {
        println!(
            "strace cannot trace here ({}): exec chain not shown",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    assert!(out.status.success(), "{trace}");
    assert_embedded(&String::from_utf8_lossy(&out.stdout));
    // `<pid> execve("/proc/self/fd/N", ["double-spawn:t", MARKER, "/bin/true", ...`
    let stub_pids: Vec<&str> = trace
        .lines()
        .filter(|l| {
            l.contains("execve(\"/proc/self/fd/")
                && l.contains(MARKER)
                && l.contains("\"/bin/true\"")
                && l.contains("= 0")
        })
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(stub_pids.len(), 1, "one stub exec for /bin/true:\n{trace}");
    let pid = stub_pids[0];
    assert!(
        trace.lines().any(|l| l.starts_with(&format!("{pid} "))
            && l.contains("execve(\"/bin/true\", [\"/bin/true\"]")
            && l.contains("= 0")),
        "the stub's process executes the target:\n{trace}"
    );
    // No probe (the stub with the target "/" and its own exit code): the
    // first real spawn is the stub's proof where the process runs natively.
    assert!(
        !trace.contains("\"double-spawn:e86\""),
        "a probe spawn ran:\n{trace}"
    );
    assert_eq!(
        trace.matches("execve(\"/proc/self/fd/").count(),
        2,
        "one stub exec per spawn (std and tokio), nothing else:\n{trace}"
    );
    println!("exec chain:\n{trace}");
}

// ---------------------------------------------------------------------------
// Parity with a direct spawn.
// ---------------------------------------------------------------------------

/// Runs `build()` directly and through the embedded stub; returns both
/// outputs (stdout, and what the probe wrote to `DS_PROBE_OUT`) without the
/// pid lines.
fn probe_both(build: &dyn Fn() -> Command, tag: &str) -> (String, String) {
    let dir = common::TempDir::new(&format!("embedded-parity-{tag}"));
    let out = dir.0.join("report");
    let mut reports = Vec::new();
    for double in [false, true] {
        std::fs::write(&out, "").unwrap();
        let mut cmd = build();
        cmd.env(common::PROBE_OUT, &out).stdout(Stdio::piped());
        let child = if double {
            cmd.double_spawn_with(embedded()).spawn().unwrap()
        } else {
            cmd.spawn().unwrap()
        };
        let output = common::output_bounded(child, LIMIT, "probe");
        assert!(
            output.status.success(),
            "{tag}: probe failed: {}",
            output.status
        );
        // The probe writes its report to the file; its stdout is libtest's
        // own lines, which carry timings and are never compared. Other
        // programs (`signal_cmd`) report on stdout.
        // The probe is a libtest binary whose main thread's mask changes
        // while it starts threads: `signal_cmd` checks the mask instead.
        let report: String = if is_probe(&cmd) {
            let report = std::fs::read_to_string(&out).unwrap();
            assert!(
                report.contains("argv "),
                "{tag}: the probe wrote no report; its stdout:\n{}",
                String::from_utf8_lossy(&output.stdout)
            );
            report
                .lines()
                .filter(|l| !l.starts_with("SigBlk:"))
                .map(|l| format!("{l}\n"))
                .collect()
        } else {
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        let report: Vec<&str> = report
            .lines()
            .filter(|l| !l.starts_with("pid ") && !l.starts_with("ppid "))
            .collect();
        reports.push(report.join("\n"));
    }
    let double = reports.pop().unwrap();
    let direct = reports.pop().unwrap();
    (direct, double)
}

/// Whether `cmd` runs this binary as the probe (which reports to a file).
fn is_probe(cmd: &Command) -> bool {
    cmd.get_program() == std::env::current_exe().unwrap().as_os_str()
}

fn sig_ign(report: &str) -> u64 {
    let line = report
        .lines()
        .find(|l| l.starts_with("SigIgn:"))
        .unwrap_or_else(|| panic!("no SigIgn in {report}"));
    u64::from_str_radix(line["SigIgn:".len()..].trim(), 16).unwrap()
}

/// This binary as the probe (`common::probe_report`, written to the file
/// `DS_PROBE_OUT` names).
fn probe_cmd() -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "case_entry_point",
        "--exact",
        "--ignored",
        "--test-threads=1",
        "--quiet",
    ])
    .env(CASE, "probe")
    .stdin(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

/// The signal state a target starts with, without anything of ours
/// running in it first (the probe is a libtest binary, which changes its
/// main thread's mask).
fn signal_cmd() -> Command {
    let mut cmd = Command::new("grep");
    cmd.args(["-E", "^Sig(Blk|Ign):", "/proc/self/status"])
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Builds a command to compare.
type Build = Box<dyn Fn() -> Command>;

/// Everything `common::probe_report` sees, with several settings, in one
/// process of its own (it changes signal state).
fn case_parity() {
    let dir = common::TempDir::new("embedded-parity-cwd");
    let settings: Vec<(&str, Build)> = vec![
        ("plain", Box::new(probe_cmd)),
        (
            "args",
            Box::new(|| {
                let mut c = probe_cmd();
                // Extra filters for libtest (which needs UTF-8; other bytes
                // are covered by tests/parity.rs and the stub's unit tests).
                c.args(["", "a b\tc \"q\" \\", "ünï"]);
                c
            }),
        ),
        (
            "env",
            Box::new(|| {
                let mut c = probe_cmd();
                c.env("DS_SET", "value=with=equals")
                    .env_remove("HOME")
                    .env("PATH", "/nonexistent-ds:/usr/bin:/bin");
                c
            }),
        ),
        (
            "env_clear",
            Box::new(|| {
                let mut c = probe_cmd();
                // The case variable too: without it the probe binary runs
                // no case and writes no report.
                c.env_clear().env("ONLY", "1").env(CASE, "probe");
                c
            }),
        ),
        (
            "cwd",
            Box::new({
                let d = dir.0.clone();
                move || {
                    let mut c = probe_cmd();
                    c.current_dir(&d);
                    c
                }
            }),
        ),
        (
            "stdio",
            Box::new(|| {
                let mut c = probe_cmd();
                c.stdin(Stdio::piped()).stderr(Stdio::piped());
                c
            }),
        ),
        (
            "process_group",
            Box::new(|| {
                let mut c = probe_cmd();
                c.process_group(0);
                c
            }),
        ),
    ];
    let mut checked = 0;
    for (tag, build) in &settings {
        let (direct, double) = probe_both(&**build, tag);
        assert_eq!(direct, double, "{tag}");
        assert!(!double.contains("memfd:"), "{tag}: memfd leaked:\n{double}");
        checked += 1;
    }

    // An inherited descriptor (not close-on-exec) stays, the memfd never
    // appears.
    let (r, w) = nix::unistd::pipe().unwrap();
    nix::fcntl::fcntl(
        &w,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .unwrap();
    let (direct, double) = probe_both(&probe_cmd, "inherited");
    assert_eq!(direct, double);
    assert!(double.contains(" pipe w"), "{double}");
    drop((r, w));

    // The signal mask: SIGHUP, blocked by the spawning thread, stays
    // blocked; SIGTSTP, blocked by the guard during the spawn only, does not.
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut hup = nix::sys::signal::SigSet::empty();
            hup.add(nix::sys::signal::Signal::SIGHUP);
            hup.thread_block().unwrap();
            let (direct, double) = probe_both(&signal_cmd, "mask");
            assert_eq!(direct, double);
            assert!(double.contains("SigBlk:\t0000000000000001"), "{double}");
        });
    });

    // Dispositions: SIGINT ignored and SIGUSR1 handled here; the target
    // ignores SIGINT, has SIGUSR1 at the default, and has signals 32-34 as
    // the direct spawn's child has them (`posix_spawn` ignores 32 and 33 in
    // its child on glibc, whatever this process has).
    // SAFETY: SIG_IGN runs no code; the handler below does nothing.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGINT,
            nix::sys::signal::SigHandler::SigIgn,
        )
        .unwrap();
        extern "C" fn nothing(_: libc::c_int) {}
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGUSR1,
            nix::sys::signal::SigHandler::Handler(nothing),
        )
        .unwrap();
    }
    for ignored in [[false, false, true], [true, false, false], [false; 3]] {
        for (sig, ignored) in (32..=34).zip(ignored) {
            common::set_disposition_raw(sig, ignored);
        }
        let (direct, double) = probe_both(&signal_cmd, "dispositions");
        assert_eq!(direct, double, "{ignored:?}");
        assert!(sig_ign(&double) & (1 << (libc::SIGINT - 1)) != 0);
        assert!(sig_ign(&double) & (1 << (libc::SIGUSR1 - 1)) == 0);
    }
    println!("parity_cases={}", checked + 3);
}

#[test]
fn targets_get_what_a_direct_spawn_gives() {
    let (stdout, _) = run(case_command("parity"), "parity");
    assert_eq!(value(&stdout, "parity_cases"), "10");
}

// ---------------------------------------------------------------------------
// The descriptor.
// ---------------------------------------------------------------------------

/// Closes the memfd behind the loader's back and puts another file at its
/// number: the next spawn must not run that file, but a new memfd.
fn case_replaced_fd() {
    let Route::Embedded { path } = embedded().route() else {
        panic!("not embedded: {}", embedded().route());
    };
    let fd: i32 = path
        .to_str()
        .unwrap()
        .strip_prefix("/proc/self/fd/")
        .unwrap()
        .parse()
        .unwrap();
    // An executable script at the same number: running it would print
    // "impostor".
    let dir = common::TempDir::new("embedded-impostor");
    let script = dir.0.join("impostor");
    std::fs::write(&script, "#!/bin/sh\necho impostor\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A stub-form command built now names the stub by this descriptor.
    let mut stale = embedded().std_command("/bin/echo");
    stale.arg("stale");
    let file = std::fs::File::open(&script).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: dup2 onto the loader's descriptor is exactly the misuse under
    // test (and it clears close-on-exec: without the loader's check the stub
    // path would run this script); `file` stays open until after the spawn.
    let replaced = unsafe { libc::dup2(raw, fd) };
    assert_eq!(replaced, fd);
    let out = Command::new("/bin/echo")
        .arg("target")
        .double_spawn_with(embedded())
        .output()
        .unwrap();
    println!("output={}", String::from_utf8_lossy(&out.stdout).trim());
    println!("route={}", embedded().route());
    println!("old={fd}");
    // The stale stub-form command is refused, never run.
    let stale = stale
        .double_spawn_with(embedded())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .map_err(|err| err.kind());
    println!("stale={stale:?}");
}

#[test]
fn a_replaced_descriptor_is_never_executed() {
    let (stdout, stderr) = run(case_command("replaced_fd"), "replaced fd");
    assert_eq!(value(&stdout, "output"), "target");
    let route = value(&stdout, "route");
    assert!(
        route.starts_with("stub: embedded (/proc/self/fd/"),
        "{route}"
    );
    assert_ne!(
        route,
        format!("stub: embedded (/proc/self/fd/{})", value(&stdout, "old")),
        "a new memfd at another number"
    );
    assert_eq!(value(&stdout, "stale"), "Err(InvalidInput)", "{stdout}");
    assert!(warnings(&stderr).is_empty(), "{stderr}");
}

// ---------------------------------------------------------------------------
// Refusals: each ends in a working spawn on the next route, one warning.
// ---------------------------------------------------------------------------

/// Checks a case that fell back: the spawns worked on `next`, and stderr
/// has exactly one warning about the embedded stub, containing `reason`.
fn assert_fell_back(stdout: &str, stderr: &str, reason: &str) {
    assert_eq!(value(stdout, "std"), "true", "{stdout}\n{stderr}");
    assert_eq!(value(stdout, "tokio"), "tokio");
    let embedded: Vec<&str> = warnings(stderr)
        .into_iter()
        .filter(|l| l.contains("the embedded stub cannot be used"))
        .collect();
    assert_eq!(embedded.len(), 1, "one embedded warning:\n{stderr}");
    assert!(embedded[0].contains(reason), "{}", embedded[0]);
}

#[test]
fn seccomp_denying_memfd_create_falls_back() {
    // seccomp_data: nr at offset 0, arch at 4.
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xC000_003E;
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xC000_00B7;
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const ALLOW: u32 = 0x7fff_0000;
    const ERRNO: u32 = 0x0005_0000;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k, jt, jf| libc::sock_filter {
        code: JEQ_K,
        jt,
        jf,
        k,
    };
    let filter = [
        stmt(LD_W_ABS, 4),
        jump(AUDIT_ARCH, 1, 0),
        stmt(RET_K, ALLOW),
        stmt(LD_W_ABS, 0),
        jump(libc::SYS_memfd_create as u32, 0, 1),
        stmt(RET_K, ERRNO | libc::EPERM as u32),
        stmt(RET_K, ALLOW),
    ];
    let mut cmd = case_command("spawn");
    // SAFETY: prctl is async-signal-safe and allocates nothing; the filter
    // is a copy owned by the closure.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, 2, &prog as *const libc::sock_fprog) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (stdout, stderr) = run(cmd, "seccomp");
    assert_next_route_is_current_exe(&stdout);
    assert_fell_back(
        &stdout,
        &stderr,
        "memfd_create failed: Operation not permitted",
    );
    if cfg!(target_env = "gnu") {
        assert_eq!(warnings(&stderr).len(), 1, "{stderr}");
    }
}

/// After the embedded stub was refused (by the first spawn, or on loading),
/// spawns take the route of the
/// default stub: the current executable (this test binary has no `init()`,
/// which only glibc's constructor makes unnecessary).
fn assert_next_route_is_current_exe(stdout: &str) {
    let route = value(stdout, "route_after");
    assert_eq!(route, value(stdout, "current_exe_route"), "{stdout}");
    if cfg!(target_env = "gnu") {
        assert!(
            route.starts_with("stub: the current executable"),
            "{stdout}"
        );
    }
}

/// `vm.memfd_noexec=2` (Linux 6.3, per PID namespace) refuses executable
/// memfds: memfd_create with MFD_EXEC fails with EACCES.
#[test]
fn memfd_noexec_2_falls_back() {
    let mut cmd = case_command("noexec_inner");
    // The case must run inside a new PID namespace, which only the children
    // of the process that makes it enter (and that process can no longer
    // start threads): fork once more, let the grandchild (the namespace's
    // init) go on to exec the case, and have the child wait for it and exit
    // with its status.
    // SAFETY: system calls only between fork and exec; nothing allocates.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWPID) != 0 {
                return Err(io::Error::last_os_error());
            }
            match libc::fork() {
                -1 => Err(io::Error::last_os_error()),
                0 => {
                    // The case dies with the child the test watches.
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                }
                pid => {
                    let mut status = 0;
                    while libc::waitpid(pid, &mut status, 0) == -1 {
                        if *libc::__errno_location() != libc::EINTR {
                            libc::_exit(125);
                        }
                    }
                    libc::_exit(if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128 + libc::WTERMSIG(status)
                    })
                }
            }
        });
    }
    let (stdout, stderr) = match output_within(cmd, LIMIT, "memfd_noexec") {
        Err(e) => return println!("cannot make a PID namespace ({e}): case skipped"),
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{stdout}\n{stderr}");
            (stdout, stderr)
        }
    };
    let sysctl = value(&stdout, "sysctl");
    if sysctl != "ok" {
        return println!("cannot set vm.memfd_noexec ({sysctl}): case skipped");
    }
    assert_next_route_is_current_exe(&stdout);
    assert_fell_back(&stdout, &stderr, "memfd_create failed: Permission denied");
}

/// Whether this process may make a mount namespace (root, or a user
/// namespace would be needed).
fn can_unshare_mounts() -> bool {
    let mut cmd = Command::new("/bin/true");
    // SAFETY: unshare is a system call; nothing allocates.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    match output_within(cmd, LIMIT, "unshare") {
        Ok(out) => out.status.success(),
        Err(e) => {
            println!("cannot make a mount namespace ({e}): case skipped");
            false
        }
    }
}

fn cstring(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// Puts an empty tmpfs over `/proc` in a new mount namespace of the case
/// process; with `keep_exe`, `/proc/self/exe` still works (a symbolic link
/// into the real proc, mounted at `real`, as is `/proc/sys`) while
/// `/proc/self/fd/N` does not exist: the embedded stub's `exec` fails, the
/// current executable's works.
fn without_proc(cmd: &mut Command, real: &Path, keep_exe: bool) {
    let real = cstring(real);
    let real_exe = CString::new([real.as_bytes(), b"/self/exe"].concat()).unwrap();
    let real_sys = CString::new([real.as_bytes(), b"/sys"].concat()).unwrap();
    // SAFETY: system calls only, on strings prepared above; nothing
    // allocates between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let null = std::ptr::null::<libc::c_char>();
            let check = |rc: libc::c_int| {
                if rc != 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            };
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                null,
                c"/".as_ptr(),
                null,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                c"/proc".as_ptr(),
                real.as_ptr(),
                null,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                c"tmpfs".as_ptr(),
                c"/proc".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ))?;
            if keep_exe {
                check(libc::mkdir(c"/proc/self".as_ptr(), 0o755))?;
                check(libc::mkdir(c"/proc/self/fd".as_ptr(), 0o755))?;
                check(libc::symlink(real_exe.as_ptr(), c"/proc/self/exe".as_ptr()))?;
                // The kernel's machine stays readable, so the loader knows
                // the process runs natively and needs no probe.
                check(libc::symlink(real_sys.as_ptr(), c"/proc/sys".as_ptr()))?;
            }
            Ok(())
        });
    }
}

#[test]
fn failing_exec_of_the_memfd_falls_back_to_the_current_executable() {
    if !can_unshare_mounts() {
        return;
    }
    let dir = common::TempDir::new("embedded-realproc");
    let mut cmd = case_command("spawn");
    without_proc(&mut cmd, &dir.0, true);
    let (stdout, stderr) = run(cmd, "no /proc/self/fd");
    assert_next_route_is_current_exe(&stdout);
    assert_fell_back(
        &stdout,
        &stderr,
        "executing the memfd failed: No such file or directory",
    );
    if cfg!(target_env = "gnu") {
        assert_eq!(warnings(&stderr).len(), 1, "{stderr}");
    }
}

#[test]
fn no_proc_falls_back_to_a_direct_spawn() {
    if !can_unshare_mounts() {
        return;
    }
    let dir = common::TempDir::new("embedded-noproc");
    let mut cmd = case_command("spawn");
    without_proc(&mut cmd, &dir.0, false);
    let (stdout, stderr) = run(cmd, "no /proc");
    let route = value(&stdout, "route");
    assert!(route.starts_with("direct: "), "{route}");
    if cfg!(target_env = "gnu") {
        assert_eq!(route, Route::Direct(DirectReason::NoExecutable).to_string());
    }
    assert_fell_back(&stdout, &stderr, "No such file or directory");
    // The next route is direct, which says so too.
    let direct: Vec<&str> = warnings(&stderr)
        .into_iter()
        .filter(|l| l.contains("spawning directly"))
        .collect();
    assert_eq!(direct.len(), 1, "{stderr}");
}

/// Runs `cmd` to its end within `limit` (killed and failed after that).
fn output_within(mut cmd: Command, limit: Duration, what: &str) -> io::Result<Output> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    Ok(common::output_bounded(cmd.spawn()?, limit, what))
}

fn output_of(cmd: Command, what: &str) -> Output {
    output_within(cmd, LIMIT, what).unwrap_or_else(|e| panic!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// Hosts that cannot be their own stub.
// ---------------------------------------------------------------------------

/// A setuid copy of this binary (owned by `nobody`, run by root: the kernel
/// sets `AT_SECURE`) never acts as a stub, but spawns through the embedded
/// stub.
#[test]
fn setuid_binary_uses_the_embedded_stub() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("not root: cannot make a setuid copy; case skipped");
        return;
    }
    let dir = common::TempDir::new("embedded-setuid");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.0.join("setuid-copy");
    std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
    std::os::unix::fs::chown(&copy, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();

    let setuid = case_command_of(&copy, "spawn");
    let (stdout, stderr) = run(setuid, "setuid copy");
    assert_embedded(&stdout);
    let current_exe = value(&stdout, "current_exe_route");
    assert!(current_exe.starts_with("direct: "), "{current_exe}");
    if cfg!(target_env = "gnu") {
        // Elsewhere the missing `init()` is the first reason.
        assert_eq!(
            current_exe,
            Route::Direct(DirectReason::Privileged).to_string()
        );
    }
    assert!(warnings(&stderr).is_empty(), "{stderr}");

    // And the copy refuses to be a stub when started by hand. Only with
    // glibc is this libtest binary a stub at all: elsewhere libtest would
    // read the stub's words as test filters and run tests again.
    if !cfg!(target_env = "gnu") {
        println!("not glibc: this binary is no stub without init(); by-hand case skipped");
        return;
    }
    let mut by_hand = Command::new(&copy);
    by_hand.args([MARKER, "/bin/echo", "echo", "escalated"]);
    let out = output_of(by_hand, "setuid stub by hand");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("escalated"),
        "the target never runs"
    );
    assert_eq!(out.status.code(), Some(126));
}

/// A cdylib (`examples/embedded_cdylib.rs`) loaded with `dlopen` by a small
/// C program: the host is not ours, so the current-executable stub must not
/// be used, and the embedded stub works.
#[test]
fn shared_library_uses_the_embedded_stub() {
    if !cfg!(target_env = "gnu") {
        // The host below is a C program of the machine's C library (glibc
        // here); a shared library built for another C library cannot be
        // loaded into it, and musl's static default makes none at all.
        println!("the shared-library host is tested with glibc only: case skipped");
        return;
    }
    let lib = common::example_path("libembedded_cdylib.so");
    build_cdylib_example();
    if !lib.exists() {
        println!(
            "{} is missing (`cargo rustc --example embedded_cdylib --crate-type cdylib` \
             builds it; it could not be built, see above): case skipped",
            lib.display()
        );
        return;
    }
    let dir = common::TempDir::new("embedded-cdylib");
    let source = dir.0.join("host.c");
    std::fs::write(&source, C_HOST).unwrap();
    let host = dir.0.join("host");
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let mut compile = Command::new(&cc);
    compile.arg(&source).arg("-o").arg(&host).arg("-ldl");
    let built = output_within(compile, LIMIT, "cc");
    match built {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            println!("no C compiler ({cc:?}): case skipped");
            return;
        }
        Err(e) => panic!("{cc:?}: {e}"),
        Ok(out) => assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
    let mut cmd = Command::new(&host);
    cmd.arg(&lib)
        .env_remove(DoubleSpawn::ENV_VAR)
        .stdin(Stdio::null());
    let out = output_of(cmd, "C host");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        value(&stdout, "current_exe_route"),
        Route::Direct(DirectReason::SharedLibrary).to_string()
    );
    let route = value(&stdout, "embedded_route");
    assert!(
        route.starts_with("stub: embedded (/proc/self/fd/"),
        "{route}"
    );
    assert_eq!(value(&stdout, "embedded_status"), "0", "{stderr}");
    assert_eq!(value(&stdout, "echo"), "from the library");
    assert!(warnings(&stderr).is_empty(), "{stderr}");
}

/// Builds the example as a shared library with the cargo that runs this
/// test (Cargo.toml lists it as an rlib, so that every target can build it);
/// an up-to-date build costs cargo's check of the sources.
fn build_cdylib_example() {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let mut target_dir = profile_dir.parent().unwrap();
    let mut cmd = Command::new(cargo);
    cmd.args([
        "rustc",
        "--example",
        "embedded_cdylib",
        "--crate-type",
        "cdylib",
    ]);
    // `<target dir>/<triple>/<profile>` when built with `--target`.
    let triple = target_dir.file_name().unwrap().to_string_lossy();
    if triple.contains("-linux-") {
        cmd.args(["--target", &triple]);
        target_dir = target_dir.parent().unwrap();
    }
    cmd.env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    if profile_dir.file_name() == Some(std::ffi::OsStr::new("release")) {
        cmd.arg("--release");
    }
    let out = output_within(
        cmd,
        Duration::from_secs(600),
        "cargo rustc --example embedded_cdylib --crate-type cdylib",
    )
    .unwrap();
    if !out.status.success() {
        println!(
            "cannot build the example: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const C_HOST: &str = r#"
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 3; }
    int (*run)(void) = (int (*)(void))dlsym(lib, "ds_embedded_cdylib_run");
    if (!run) { fprintf(stderr, "dlsym: %s\n", dlerror()); return 4; }
    fflush(stdout);
    return run();
}
"#;

// ---------------------------------------------------------------------------
// No probe: the first real spawn proves the stub.
// ---------------------------------------------------------------------------

/// The largest resident size of any child this process has waited for, in
/// KiB: 0 until one was.
fn reaped_children_maxrss() -> libc::c_long {
    // SAFETY: getrusage only fills `usage`, a properly sized out-parameter.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage.ru_maxrss
    }
}

/// Asks for the route (which loads the stub) and reports whether any child
/// was started and waited for meanwhile, as the probe was; then one spawn,
/// to show that the measure sees a child.
fn case_route_only() {
    println!("before={}", reaped_children_maxrss());
    println!("route={}", embedded().route());
    println!("after_route={}", reaped_children_maxrss());
    let status = Command::new("/bin/true")
        .double_spawn_with(embedded())
        .status()
        .unwrap();
    println!("std={}", status.success());
    println!("after_spawn={}", reaped_children_maxrss());
}

#[test]
fn route_alone_spawns_nothing() {
    let (stdout, stderr) = run(case_command("route_only"), "route only");
    assert!(
        value(&stdout, "route").starts_with("stub: embedded (/proc/self/fd/"),
        "{stdout}"
    );
    assert_eq!(value(&stdout, "before"), "0", "{stdout}");
    assert_eq!(
        value(&stdout, "after_route"),
        "0",
        "route() spawned:\n{stdout}"
    );
    assert_eq!(value(&stdout, "std"), "true");
    assert_ne!(
        value(&stdout, "after_spawn"),
        "0",
        "the measure sees a child"
    );
    assert!(warnings(&stderr).is_empty(), "{stderr}");
}

/// A command whose own setting fails (a working directory that does not
/// exist), as the first spawn through the unproven stub: the error is the
/// one a direct spawn gives, and the stub is not refused for it.
fn case_bad_cwd() {
    let missing = "/nonexistent-ds-cwd";
    let direct = Command::new("/bin/true")
        .current_dir(missing)
        .spawn()
        .map(|_| ())
        .map_err(|e| (e.kind(), e.raw_os_error()));
    let double = Command::new("/bin/true")
        .current_dir(missing)
        .double_spawn_with(embedded())
        .spawn()
        .map(|_| ())
        .map_err(|e| (e.kind(), e.raw_os_error()));
    println!("direct={direct:?}");
    println!("double={double:?}");
    case_spawn(embedded());
}

#[test]
fn a_commands_own_error_does_not_refuse_the_stub() {
    let (stdout, stderr) = run(case_command("bad_cwd"), "bad cwd");
    assert!(value(&stdout, "direct").starts_with("Err("), "{stdout}");
    assert_eq!(
        value(&stdout, "direct"),
        value(&stdout, "double"),
        "{stdout}"
    );
    assert!(
        value(&stdout, "route").starts_with("stub: embedded (/proc/self/fd/"),
        "{stdout}"
    );
    assert_eq!(value(&stdout, "std"), "true");
    assert_eq!(value(&stdout, "tokio"), "tokio");
    assert!(warnings(&stderr).is_empty(), "{stderr}");
}

/// The exec of the memfd refused (no `/proc/self/fd` in a mount namespace,
/// `/proc/self/exe` kept): the first real spawn fails on it, is made again
/// on the current executable at once (its target runs), one warning says
/// so, and no probe ran. Seen by strace.
#[test]
fn a_refused_exec_is_retried_on_the_next_route_without_a_probe() {
    if !can_unshare_mounts() {
        return;
    }
    let dir = common::TempDir::new("embedded-refused-strace");
    let real = dir.0.join("realproc");
    std::fs::create_dir(&real).unwrap();
    let log = dir.0.join("trace");
    let mut cmd = strace_case(&log, "spawn");
    // The namespace is made in strace's process, before it starts tracing.
    without_proc(&mut cmd, &real, true);
    let out = match output_within(cmd, LIMIT, "strace") {
        Ok(out) => out,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return println!("strace is not installed: case skipped");
        }
        Err(e) => panic!("strace: {e}"),
    };
    let trace = std::fs::read_to_string(&log).unwrap_or_default();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && trace.is_empty() {
        return println!("strace cannot trace here ({}): case skipped", stderr.trim());
    }
    assert!(out.status.success(), "{stdout}\n{stderr}\n{trace}");
    assert_next_route_is_current_exe(&stdout);
    assert_fell_back(
        &stdout,
        &stderr,
        "executing the memfd failed: No such file or directory",
    );
    let lines: Vec<&str> = trace.lines().collect();
    let refused = lines
        .iter()
        .position(|l| {
            l.contains("execve(\"/proc/self/fd/")
                && l.contains("\"/bin/true\"")
                && l.contains("= -1 ENOENT")
        })
        .unwrap_or_else(|| panic!("the real spawn tried the memfd first:\n{trace}"));
    // The next route: the current executable where this binary is a stub
    // host without init() (glibc); elsewhere (musl) a direct spawn, whose
    // exec of the target the next assertion sees.
    assert!(
        !cfg!(target_env = "gnu")
            || lines[refused..]
                .iter()
                .any(|l| l.contains("execve(\"/proc/self/exe\"")
                    && l.contains("\"/bin/true\"")
                    && l.contains("= 0")),
        "then the current executable:\n{trace}"
    );
    assert!(
        lines[refused..]
            .iter()
            .any(|l| l.contains("execve(\"/bin/true\"") && l.contains("= 0")),
        "and the target:\n{trace}"
    );
    assert_eq!(
        trace.matches("execve(\"/proc/self/fd/").count(),
        1,
        "once refused, the memfd is not tried again, and no probe ran:\n{trace}"
    );
}
