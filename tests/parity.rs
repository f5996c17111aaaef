//! Parity: a double-spawned child observes exactly what a directly spawned
//! child observes.
//!
//! The probe is this test binary started with `probe`: it reports argv,
//! environment, working directory, signal mask, uid/gid, process group,
//! session, umask and open descriptors (see `common::probe_report`). Each case
//! builds the same command three times and runs it directly, through
//! `double_spawn()` on a std command, and through `double_spawn()` on a tokio
//! command; the three reports must be equal, the double-spawned child's pid
//! must be the one `spawn()` returned, and its parent must be this process.
//! Signal dispositions cannot be read by a Rust probe (std ignores SIGPIPE
//! before `main`), so the cases about them use `cat /proc/self/status`.

mod common;

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Test, PROBE_OUT};
use double_spawn::{DoubleSpawn, DoubleSpawnExt};
use nix::libc;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};

const LIMIT: Duration = Duration::from_secs(30);

pub(crate) fn main() {
    double_spawn::init();
    common::probe_if_requested();
    scenario_if_requested();
    assert!(
        DoubleSpawn::new().is_active(),
        "init() was called: the stub must be active"
    );
    common::run_tests(
        "parity",
        &[
            Test {
                name: "argv_bytes",
                run: argv_bytes,
            },
            Test {
                name: "arg0",
                run: arg0,
            },
            Test {
                name: "env_set_and_removed",
                run: env_set_and_removed,
            },
            Test {
                name: "env_cleared",
                run: env_cleared,
            },
            Test {
                name: "cwd",
                run: cwd,
            },
            Test {
                name: "relative_program_in_cwd",
                run: relative_program_in_cwd,
            },
            Test {
                name: "path_lookup_uses_child_path",
                run: path_lookup_uses_child_path,
            },
            Test {
                name: "stdio_null_and_piped",
                run: stdio_null_and_piped,
            },
            Test {
                name: "stdio_files_and_fds",
                run: stdio_files_and_fds,
            },
            Test {
                name: "process_group",
                run: process_group,
            },
            Test {
                name: "inherited_descriptor",
                run: inherited_descriptor,
            },
            Test {
                name: "blocked_sighup_and_sigtstp",
                run: blocked_sighup_and_sigtstp,
            },
            Test {
                name: "uid_and_gid",
                run: uid_and_gid,
            },
            Test {
                name: "output_defaults",
                run: output_defaults,
            },
            Test {
                name: "status_inherits",
                run: status_inherits,
            },
            Test {
                name: "signal_dispositions",
                run: signal_dispositions,
            },
            Test {
                name: "ignored_signals_in_own_process",
                run: ignored_signals_in_own_process,
            },
            Test {
                name: "internal_signals_match_a_direct_spawn",
                run: internal_signals_match_a_direct_spawn,
            },
            Test {
                name: "closed_stdin_in_own_process",
                run: closed_stdin_in_own_process,
            },
            Test {
                name: "stub_form_with_pre_exec",
                run: stub_form_with_pre_exec,
            },
            Test {
                name: "stub_form_output_keeps_pre_exec",
                run: stub_form_output_keeps_pre_exec,
            },
            Test {
                name: "stub_form_converted_to_tokio",
                run: stub_form_converted_to_tokio,
            },
            Test {
                name: "kill_on_drop",
                run: kill_on_drop,
            },
            Test {
                name: "command_stays_usable",
                run: command_stays_usable,
            },
            Test {
                name: "mask_restored_after_spawns",
                run: mask_restored_after_spawns,
            },
        ],
    )
}

// ---------------------------------------------------------------------------
// The comparison.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Variant {
    Direct,
    DoubleStd,
    DoubleTokio,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the probe built by `build` one way and returns its report with the
/// pid lines checked and removed.
fn probe(build: &dyn Fn() -> Command, variant: Variant, out: &Path) -> String {
    std::fs::write(out, b"").unwrap();
    let mut std_perms = std::fs::metadata(out).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std_perms, 0o666);
    std::fs::set_permissions(out, std_perms).unwrap();
    let mut cmd = build();
    cmd.env(PROBE_OUT, out);
    let what = format!("probe {variant:?}");
    let (pid, status) = match variant {
        Variant::Direct => {
            let mut child = cmd.spawn().unwrap();
            (child.id(), common::wait_bounded(&mut child, LIMIT, &what))
        }
        Variant::DoubleStd => {
            let mut child = cmd.double_spawn().spawn().unwrap();
            (child.id(), common::wait_bounded(&mut child, LIMIT, &what))
        }
        Variant::DoubleTokio => runtime().block_on(async {
            let mut cmd = tokio::process::Command::from(cmd);
            let mut child = cmd.double_spawn().spawn().unwrap();
            let pid = child.id().unwrap();
            let status = tokio::time::timeout(LIMIT, child.wait())
                .await
                .unwrap_or_else(|_| panic!("{what}: no exit within {LIMIT:?}"))
                .unwrap();
            (pid, status)
        }),
    };
    assert!(status.success(), "{what}: {status}");
    let report = std::fs::read_to_string(out).unwrap();
    let mut kept = String::new();
    for line in report.lines() {
        if let Some(p) = line.strip_prefix("pid ") {
            assert_eq!(
                p,
                pid.to_string(),
                "{what}: the child's pid is the target's"
            );
        } else if let Some(p) = line.strip_prefix("ppid ") {
            assert_eq!(
                p,
                std::process::id().to_string(),
                "{what}: the parent is us"
            );
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    assert!(kept.contains("argv "), "{what}: empty report");
    kept
}

/// Asserts the three variants report the same; returns the report.
fn compare(build: &dyn Fn() -> Command) -> String {
    let dir = common::TempDir::new("parity");
    let out = dir.0.join("report");
    let direct = probe(build, Variant::Direct, &out);
    for variant in [Variant::DoubleStd, Variant::DoubleTokio] {
        let double = probe(build, variant, &out);
        assert_eq!(
            double, direct,
            "{variant:?} differs from a direct spawn\n--- direct\n{direct}--- {variant:?}\n{double}"
        );
    }
    direct
}

/// Asserts the three variants of a non-probe command give the same output.
fn compare_output(build: &dyn Fn() -> Command) -> std::process::Output {
    let mut cmd = build();
    let direct = common::output_bounded(cmd.spawn().unwrap(), LIMIT, "direct");
    let mut cmd = build();
    let std_double = common::output_bounded(cmd.double_spawn().spawn().unwrap(), LIMIT, "std");
    let tokio_double = runtime().block_on(async {
        let mut cmd = tokio::process::Command::from(build());
        let child = cmd.double_spawn().spawn().unwrap();
        tokio::time::timeout(LIMIT, child.wait_with_output())
            .await
            .expect("tokio: no exit in time")
            .unwrap()
    });
    for (name, got) in [("std", &std_double), ("tokio", &tokio_double)] {
        assert_eq!(got.status, direct.status, "{name}: status");
        assert_eq!(
            common::show(&got.stdout),
            common::show(&direct.stdout),
            "{name}: stdout"
        );
        assert_eq!(
            common::show(&got.stderr),
            common::show(&direct.stderr),
            "{name}: stderr"
        );
    }
    direct
}

fn has_line(report: &str, line: &str) -> bool {
    report.lines().any(|l| l == line)
}

// ---------------------------------------------------------------------------
// Cases.
// ---------------------------------------------------------------------------

fn argv_bytes() {
    let report = compare(&|| {
        let mut cmd = common::probe_command();
        cmd.args([
            "",
            "--",
            "-h",
            "a b",
            "q\"u'o\\te",
            "new\nline",
            "tab\t",
            "--probe",
        ])
        .arg(OsStr::from_bytes(b"\xff\xfe not utf-8"))
        .arg("");
        cmd
    });
    assert!(has_line(&report, r#"argv "new\nline""#), "{report}");
    assert!(
        has_line(&report, r#"argv "\xFF\xFE not utf-8""#),
        "{report}"
    );
    assert_eq!(report.lines().filter(|l| *l == r#"argv """#).count(), 2);
}

fn arg0() {
    for arg0 in [
        OsStr::new("custom zero"),
        OsStr::from_bytes(b"\xffz"),
        OsStr::new(""),
    ] {
        let report = compare(&|| {
            let mut cmd = common::probe_command();
            cmd.arg0(arg0);
            cmd
        });
        let first = report.lines().find(|l| l.starts_with("argv ")).unwrap();
        assert_eq!(first, format!("argv {arg0:?}"));
    }
}

fn env_set_and_removed() {
    let report = compare(&|| {
        let mut cmd = common::probe_command();
        cmd.env("DS_SET", "1")
            .env("DS_BYTES", OsStr::from_bytes(b"\xff=\n"))
            .env("DS_EMPTY", "")
            .env_remove("HOME");
        cmd
    });
    assert!(has_line(&report, r#"env "DS_SET"="1""#));
    assert!(!report.contains(r#"env "HOME""#));
}

fn env_cleared() {
    let report = compare(&|| {
        let mut cmd = common::probe_command();
        cmd.env_clear().env("ONLY", "this");
        cmd
    });
    let env: Vec<&str> = report.lines().filter(|l| l.starts_with("env ")).collect();
    assert_eq!(env.len(), 2, "{env:?}"); // ONLY and the probe's output path
}

fn cwd() {
    let report = compare(&|| {
        let mut cmd = common::probe_command();
        cmd.current_dir("/tmp");
        cmd
    });
    assert!(has_line(&report, r#"cwd "/tmp""#));
}

fn relative_program_in_cwd() {
    let dir = common::TempDir::new("relative");
    std::os::unix::fs::symlink(std::env::current_exe().unwrap(), dir.0.join("probe-link")).unwrap();
    let report = compare(&|| {
        let mut cmd = Command::new("./probe-link");
        cmd.arg("probe").current_dir(&dir.0);
        cmd
    });
    assert!(has_line(&report, r#"argv "./probe-link""#));
}

fn path_lookup_uses_child_path() {
    let dir = common::TempDir::new("path");
    std::os::unix::fs::symlink(std::env::current_exe().unwrap(), dir.0.join("ds-probe")).unwrap();
    let report = compare(&|| {
        let mut cmd = Command::new("ds-probe");
        cmd.arg("probe").env("PATH", &dir.0);
        cmd
    });
    // argv[0] is the name as given, not the path found.
    assert!(has_line(&report, r#"argv "ds-probe""#));
}

fn stdio_null_and_piped() {
    let report = compare(&|| {
        let mut cmd = common::probe_command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    });
    assert!(has_line(&report, "fd 0 /dev/null r"), "{report}");
    assert!(has_line(&report, "fd 1 /dev/null w"), "{report}");
    assert!(has_line(&report, "fd 2 pipe w"), "{report}");
    let report = compare(&|| {
        let mut cmd = common::probe_command();
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        cmd
    });
    assert!(has_line(&report, "fd 0 pipe r"), "{report}");
}

fn stdio_files_and_fds() {
    let dir = common::TempDir::new("files");
    let log = dir.0.join("log");
    std::fs::write(&log, b"").unwrap();
    let report = compare(&|| {
        let input = std::fs::File::open("/etc/hostname").unwrap();
        let output = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let dup = output.try_clone().unwrap();
        let mut cmd = common::probe_command();
        cmd.stdin(input).stdout(output).stderr(OwnedFd::from(dup));
        cmd
    });
    let log_line = format!("fd 1 {} w+append", log.display());
    assert!(has_line(&report, &log_line), "{report}");
    assert!(has_line(&report, "fd 0 /etc/hostname r"), "{report}");
    let report = compare(&|| {
        let mut cmd = common::probe_command();
        cmd.stderr(std::io::stderr()).stdout(std::io::stderr());
        cmd
    });
    assert!(report.contains("fd 1 "));
}

fn process_group() {
    let report = compare(&|| {
        let mut cmd = common::probe_command();
        cmd.process_group(0);
        cmd
    });
    assert!(has_line(&report, "pgrp self"), "{report}");
    let report = compare(&common::probe_command);
    assert!(has_line(&report, "pgrp parent's"), "{report}");
}

fn inherited_descriptor() {
    let file = std::fs::File::open("/etc/hostname").unwrap();
    let fd = file.as_raw_fd();
    // SAFETY: clears FD_CLOEXEC on a descriptor this test owns.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    let report = compare(&common::probe_command);
    assert!(
        has_line(&report, &format!("fd {fd} /etc/hostname r")),
        "{report}"
    );
    drop(file);
    // No descriptor of the crate's own leaks into the child.
    let fds: Vec<&str> = report.lines().filter(|l| l.starts_with("fd ")).collect();
    assert!(fds.iter().all(|l| !l.contains("double-spawn")), "{fds:?}");
}

fn blocked_sighup_and_sigtstp() {
    for signals in [&[Signal::SIGHUP][..], &[Signal::SIGHUP, Signal::SIGTSTP]] {
        // On a thread of its own: only that thread's mask changes.
        let report = std::thread::spawn(move || {
            let mut set = SigSet::empty();
            for s in signals {
                set.add(*s);
            }
            pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).unwrap();
            compare(&common::probe_command)
        })
        .join()
        .unwrap();
        let blocked = report.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
        let mask = u64::from_str_radix(blocked.split_whitespace().nth(1).unwrap(), 16).unwrap();
        for s in signals {
            assert!(
                mask & (1 << (*s as i32 - 1)) != 0,
                "{s:?} blocked: {blocked}"
            );
        }
        assert_eq!(mask.count_ones() as usize, signals.len(), "{blocked}");
    }
}

fn uid_and_gid() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("    (uid_and_gid: not root; only the current ids are checked)");
        compare(&common::probe_command);
        return;
    }
    // The probe is this binary, run as 65534: a copy that 65534 can reach,
    // since the checkout may be under a directory it cannot enter.
    let (_dir, copy) = match common::copy_of_self_for_nobody("parity-uid") {
        Ok(copy) => copy,
        Err(e) => {
            println!("    (uid_and_gid: SKIPPED the switch to uid 65534, which could not run the probe: {e})");
            compare(&common::probe_command);
            return;
        }
    };
    let report = compare(&|| {
        let mut cmd = Command::new(&copy);
        cmd.arg("probe").uid(common::NOBODY).gid(common::NOBODY);
        cmd
    });
    assert!(
        report.lines().any(|l| l.starts_with("Uid:\t65534")),
        "{report}"
    );
    assert!(
        report.lines().any(|l| l.starts_with("Gid:\t65534")),
        "{report}"
    );
}

fn output_defaults() {
    let direct = common::probe_command().output().unwrap();
    let std_double = common::probe_command().double_spawn().output().unwrap();
    let tokio_direct = runtime().block_on(async {
        tokio::process::Command::from(common::probe_command())
            .output()
            .await
    });
    let tokio_double = runtime().block_on(async {
        tokio::process::Command::from(common::probe_command())
            .double_spawn()
            .output()
            .await
    });
    let strip = |o: &std::process::Output| {
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with("pid ") && !l.starts_with("ppid "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let direct = strip(&direct);
    assert!(
        has_line(&direct, "fd 0 /dev/null r"),
        "std output(): stdin is null\n{direct}"
    );
    assert!(has_line(&direct, "fd 1 pipe w"), "{direct}");
    assert_eq!(strip(&std_double), direct);
    let tokio_direct = strip(&tokio_direct.unwrap());
    assert_eq!(strip(&tokio_double.unwrap()), tokio_direct);
}

fn status_inherits() {
    let st = common::probe_command()
        .env(PROBE_OUT, "/dev/null")
        .double_spawn()
        .status()
        .unwrap();
    assert!(st.success());
    let st = runtime().block_on(async {
        tokio::process::Command::from(common::probe_command())
            .env(PROBE_OUT, "/dev/null")
            .double_spawn()
            .status()
            .await
    });
    assert!(st.unwrap().success());
}

/// grep blocks and ignores no signal of its own, so it shows what it
/// inherited (its SIGSEGV handler only shows in SigCgt, not printed).
fn signal_status() -> Command {
    let mut cmd = Command::new("grep");
    cmd.args(["-E", "^Sig(Blk|Ign)", "/proc/self/status"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn sig_line(out: &[u8], key: &str) -> u64 {
    let text = String::from_utf8_lossy(out);
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

fn signal_dispositions() {
    let out = compare_output(&signal_status);
    let ignored = sig_line(&out.stdout, "SigIgn:");
    assert_eq!(
        ignored & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE is back to the default in the target (std ignores it in the stub)"
    );
}

fn ignored_signals_in_own_process() {
    run_scenario("scenario-ignored");
}

/// Signals 32-34, the C library's internal signals: glibc's (musl's)
/// `posix_spawn` leaves them ignored in its child whatever the parent had,
/// while a fork/exec child inherits the parent's disposition. For each
/// pattern of parent dispositions, a double spawn (std and tokio) gives the
/// target exactly what the direct spawn of the same command gives, for a
/// command std spawns with `posix_spawn` and for one it forks for (a bare
/// name with `PATH` set). In a process of its own, since it changes
/// process-wide dispositions.
fn internal_signals_match_a_direct_spawn() {
    run_scenario("scenario-internal-signals");
}

fn closed_stdin_in_own_process() {
    run_scenario("scenario-closed-stdin");
}

/// Runs this binary in a scenario that changes process-wide state.
fn run_scenario(name: &str) {
    let child = Command::new(std::env::current_exe().unwrap())
        .arg(name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::output_bounded(child, LIMIT, name);
    assert!(
        out.status.success(),
        "{name} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scenario_if_requested() {
    let Some(name) = std::env::args().nth(1) else {
        return;
    };
    match name.as_str() {
        "scenario-ignored" => {
            // SAFETY: SIG_IGN runs no code; this process exists only for this.
            unsafe {
                libc::signal(libc::SIGUSR1, libc::SIG_IGN);
                libc::signal(libc::SIGINT, libc::SIG_IGN);
            }
            let out = compare_output(&signal_status);
            let ignored = sig_line(&out.stdout, "SigIgn:");
            assert_ne!(
                ignored & (1 << (libc::SIGUSR1 - 1)),
                0,
                "SIGUSR1 stays ignored"
            );
            assert_ne!(
                ignored & (1 << (libc::SIGINT - 1)),
                0,
                "SIGINT stays ignored"
            );
            assert_eq!(ignored & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE default");
        }
        "scenario-internal-signals" => internal_signals_scenario(),
        "scenario-closed-stdin" => {
            // SAFETY: closes this process's stdin; it exists only for this.
            unsafe { libc::close(0) };
            let out = compare_output(&|| {
                let mut cmd = Command::new("readlink");
                cmd.arg("/proc/self/fd/0")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null());
                cmd
            });
            assert!(!out.status.success(), "fd 0 stays closed in the target");
            // With stdin set explicitly, the descriptor is there in both.
            let out = compare_output(&|| {
                let mut cmd = Command::new("readlink");
                cmd.arg("/proc/self/fd/0")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped());
                cmd
            });
            assert_eq!(out.stdout, b"/dev/null\n");
        }
        _ => return,
    }
    std::process::exit(0);
}

fn stub_form_with_pre_exec() {
    let report = compare(&|| {
        let mut cmd = DoubleSpawn::new().std_command(std::env::current_exe().unwrap());
        cmd.arg("probe").env("DS_FORM", "stub");
        // SAFETY: umask is async-signal-safe and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o077);
                Ok(())
            });
        }
        cmd
    });
    // The closure ran in the stub's child and its effect survived the exec.
    assert!(has_line(&report, "umask 77"), "{report}");
    // The target's argv is the program's, not the stub's.
    let exe = std::env::current_exe().unwrap();
    let first = report.lines().find(|l| l.starts_with("argv ")).unwrap();
    assert_eq!(first, format!("argv {:?}", exe.as_os_str()));
}

/// std's `output()` on a stub-form command: output()'s stdio defaults, and
/// the `pre_exec` closure still runs (the command is spawned as it is).
fn stub_form_output_keeps_pre_exec() {
    let mut cmd = DoubleSpawn::new().std_command(std::env::current_exe().unwrap());
    cmd.arg("probe");
    // SAFETY: umask is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o027);
            Ok(())
        });
    }
    let out = cmd.double_spawn().output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(has_line(&text, "umask 27"), "{text}");
    assert!(has_line(&text, "fd 0 /dev/null r"), "{text}");
    assert!(has_line(&text, "fd 1 pipe w"), "{text}");
}

fn stub_form_converted_to_tokio() {
    // Built as std, configured, converted, spawned later from a task.
    let mut std_cmd = DoubleSpawn::new().std_command(std::env::current_exe().unwrap());
    std_cmd
        .arg("probe")
        .env("DS_FORM", "tokio")
        .stdin(Stdio::null());
    let mut cmd = tokio::process::Command::from(std_cmd);
    let out = runtime().block_on(async move {
        tokio::spawn(async move { cmd.double_spawn().output().await })
            .await
            .unwrap()
    });
    let out = out.unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(has_line(&text, r#"env "DS_FORM"="tokio""#), "{text}");
    assert!(has_line(&text, "argv \"probe\""), "{text}");
}

fn kill_on_drop() {
    runtime().block_on(async {
        let mut cmd = tokio::process::Command::new("sleep");
        cmd.arg("30").kill_on_drop(true);
        let child = cmd.double_spawn().spawn().unwrap();
        let pid = child.id().unwrap() as i32;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stat = common::proc_stat(pid).expect("the target is running");
        assert_ne!(stat.state, 'Z');
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert!(exe.ends_with("sleep"), "the pid is the target's: {exe:?}");
        drop(child);
        for _ in 0..200 {
            match common::proc_stat(pid) {
                None => return,
                Some(s) if s.state == 'Z' => return,
                Some(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        panic!("kill_on_drop did not kill the target {pid}");
    });
}

fn command_stays_usable() {
    let mut cmd = Command::new("true");
    for _ in 0..3 {
        assert!(cmd.double_spawn().status().unwrap().success());
    }
    assert!(cmd.status().unwrap().success());
    let mut stub = DoubleSpawn::new().std_command("true");
    for _ in 0..3 {
        assert!(stub.double_spawn().status().unwrap().success());
    }
}

fn mask_restored_after_spawns() {
    std::thread::spawn(|| {
        let before = SigSet::thread_get_mask().unwrap();
        assert!(Command::new("true")
            .double_spawn()
            .status()
            .unwrap()
            .success());
        assert!(Command::new("no-such-program-ds")
            .double_spawn()
            .spawn()
            .is_err());
        assert_eq!(SigSet::thread_get_mask().unwrap(), before);
        // A thread that blocked SIGTSTP itself keeps it blocked.
        let mut tstp = SigSet::empty();
        tstp.add(Signal::SIGTSTP);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&tstp), None).unwrap();
        let before = SigSet::thread_get_mask().unwrap();
        assert!(Command::new("true")
            .double_spawn()
            .status()
            .unwrap()
            .success());
        assert_eq!(SigSet::thread_get_mask().unwrap(), before);
    })
    .join()
    .unwrap();
}

// ---------------------------------------------------------------------------
// Signals 32-34.
// ---------------------------------------------------------------------------

/// Which of signals 32, 33, 34 a `SigIgn:` line in `status` shows ignored.
fn internal_ignored(status: &[u8]) -> [bool; 3] {
    let ignored = sig_line(status, "SigIgn:");
    [0, 1, 2].map(|i| ignored & (1 << (31 + i)) != 0)
}

fn internal_signals_scenario() {
    let patterns = [
        [false, false, false],
        [true, true, true],
        [true, false, true],
        [false, true, false],
    ];
    // `grep` found through the command's own `PATH`: std forks for it.
    let forked = || {
        let mut cmd = signal_status();
        cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        cmd
    };
    for parent in patterns {
        for (sig, ignore) in [32, 33, 34].into_iter().zip(parent) {
            common::set_disposition_raw(sig, ignore);
        }
        let own = std::fs::read("/proc/self/status").unwrap();
        assert_eq!(internal_ignored(&own), parent, "the parent's dispositions");
        for (how, build) in [
            ("posix_spawn", &signal_status as &dyn Fn() -> Command),
            ("fork/exec", &forked),
        ] {
            // The double spawns' `SigBlk`/`SigIgn` lines are the direct
            // spawn's, byte for byte (std and tokio).
            let direct = compare_output(build);
            assert!(direct.status.success(), "{how} direct: {}", direct.status);
            let got = internal_ignored(&direct.stdout);
            if how == "fork/exec" {
                assert_eq!(got, parent, "a forked child inherits them");
            }
            println!("parent {parent:?}: {how} child {got:?}");
        }
    }
}
