//! process-wrap's wrappers keep their effect on the *target* of a double
//! spawn.
//!
//! The recipe under test: build the command in stub form
//! (`DoubleSpawn::tokio_command`), wrap it, and replace only the spawn call:
//! `wrap.spawn_with(|cmd| cmd.double_spawn().spawn())`. Each test asks the
//! target itself (a shell that reads its own `/proc/$$/stat` after the stub
//! has executed it) for its pid, parent, process group and session, so what
//! is checked is the program that runs, not the stub. With the `process-wrap`
//! feature the adapter (`DoubleSpawnWrapExt`) is tested the same way, and its
//! refusals of the combinations that would lose an effect.
//!
//! No test sends a signal except kill-on-drop's SIGKILL to its own child.
//! Every test is bounded; a watchdog kills what the tests started (whole
//! sessions for session leaders) and fails the binary if one hangs.

// What these tests observe (/proc, Linux system calls) is Linux; the crate
// docs' "Platform support" says what is checked on other targets.
#![cfg(target_os = "linux")]

#[cfg(unix)]
mod common;

#[cfg(unix)]
mod unix {
    use std::future::Future;
    use std::process::Stdio;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use double_spawn::{DoubleSpawn, DoubleSpawnExt};
    use nix::libc;
    use process_wrap::tokio::{
        ChildWrapper, CommandWrap, KillOnDrop, ProcessGroup, ProcessSession,
    };
    use tokio::io::AsyncReadExt;

    use crate::common::{kill_session, proc_stat};

    /// Each test's bound; the watchdog's is the sum with some slack.
    const LIMIT: Duration = Duration::from_secs(15);

    /// A target that prints its own `/proc/PID/stat` line (read by the shell
    /// itself, with a builtin, so it is the target's and not a child's).
    pub const SELF_STAT: &str = r#"read -r s < /proc/$$/stat; echo "$s""#;

    /// Pids of the processes the tests started, for the watchdog.
    pub static STARTED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

    /// What the target reported about itself.
    #[derive(Debug)]
    pub struct SelfStat {
        pub pid: i32,
        pub comm: String,
        pub ppid: i32,
        pub pgrp: i32,
        pub session: i32,
    }

    pub fn parse_self_stat(text: &str) -> SelfStat {
        let line = text.trim_end();
        let open = line.find(" (").expect("stat line: comm");
        let close = line.rfind(") ").expect("stat line: comm end");
        let f: Vec<&str> = line[close + 2..].split(' ').collect();
        let num = |i: usize| f[i].parse::<i32>().expect("stat field");
        SelfStat {
            pid: line[..open].parse().expect("stat line: pid"),
            comm: line[open + 2..close].to_string(),
            ppid: num(1),
            pgrp: num(2),
            session: num(3),
        }
    }

    /// Runs `fut` on a fresh runtime, bounded by `LIMIT`.
    pub fn run<F: Future<Output = ()>>(fut: F) {
        static WATCHDOG: std::sync::Once = std::sync::Once::new();
        WATCHDOG.call_once(|| start_watchdog(LIMIT * 8));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(LIMIT, fut)
                .await
                .expect("test did not finish in time");
        });
    }

    /// Asserts double spawning is really on here: otherwise every test would
    /// pass on direct spawns and prove nothing. False (the test skips,
    /// saying why) where this binary is no stub host (musl).
    pub fn assert_active(test: &str) -> bool {
        if !crate::common::stub_host_without_init(test) {
            return false;
        }
        assert!(
            DoubleSpawn::new().is_active(),
            "double spawning is not active in the test binary (DOUBLE_SPAWN=0?)"
        );
        true
    }

    /// A stub-form command for `sh -c SELF_STAT`, its stdout piped.
    pub fn self_stat_command() -> tokio::process::Command {
        let mut cmd = DoubleSpawn::new().tokio_command("sh");
        cmd.arg("-c").arg(SELF_STAT).stdout(Stdio::piped());
        assert_eq!(
            cmd.as_std().get_program(),
            "/proc/self/exe",
            "not in stub form"
        );
        cmd
    }

    /// Records the child for the watchdog and reads the target's report.
    pub async fn report(mut child: Box<dyn ChildWrapper>) -> SelfStat {
        let pid = child.id().expect("pid") as i32;
        STARTED.lock().unwrap().push(pid);
        let mut text = String::new();
        child
            .stdout()
            .take()
            .expect("stdout")
            .read_to_string(&mut text)
            .await
            .unwrap();
        let status = child.wait().await.unwrap();
        assert!(status.success(), "target failed: {status}, said {text:?}");
        let stat = parse_self_stat(&text);
        assert_eq!(stat.pid, pid, "the child's pid is the target's");
        assert_eq!(stat.comm, "sh", "the report comes from the target");
        assert_eq!(
            stat.ppid,
            std::process::id() as i32,
            "the target is our child"
        );
        stat
    }

    fn our_ids() -> (i32, i32) {
        // SAFETY: getpgrp and getsid(0) cannot fail and touch no memory.
        unsafe { (libc::getpgrp(), libc::getsid(0)) }
    }

    #[test]

    fn process_group_leader_is_the_target() {
        if !assert_active("process_group_leader_is_the_target") {
            return;
        }
        run(async {
            let mut wrap = CommandWrap::from(self_stat_command());
            wrap.wrap(ProcessGroup::leader());
            let child = wrap.spawn_with(|cmd| cmd.double_spawn().spawn()).unwrap();
            let stat = report(child).await;
            assert_eq!(stat.pgrp, stat.pid, "target leads its own process group");
            assert_eq!(stat.session, our_ids().1, "and stays in our session");
        });
    }

    #[test]

    fn process_session_is_the_target() {
        if !assert_active("process_session_is_the_target") {
            return;
        }
        run(async {
            let mut wrap = CommandWrap::from(self_stat_command());
            wrap.wrap(ProcessSession);
            let child = wrap.spawn_with(|cmd| cmd.double_spawn().spawn()).unwrap();
            let stat = report(child).await;
            assert_eq!(stat.session, stat.pid, "setsid() reached the target");
            assert_eq!(stat.pgrp, stat.pid, "which leads its own group");
        });
    }

    #[test]

    fn kill_on_drop_kills_the_target() {
        if !assert_active("kill_on_drop_kills_the_target") {
            return;
        }
        run(async {
            let mut wrap = CommandWrap::from(DoubleSpawn::new().tokio_command("sleep"));
            wrap.command_mut().arg("30");
            wrap.wrap(KillOnDrop);
            let child = wrap.spawn_with(|cmd| cmd.double_spawn().spawn()).unwrap();
            dropped_target_dies(child, "sleep").await;
        });
    }

    #[test]

    fn session_and_kill_on_drop_together() {
        if !assert_active("session_and_kill_on_drop_together") {
            return;
        }
        run(async {
            let mut wrap = CommandWrap::from(DoubleSpawn::new().tokio_command("sleep"));
            wrap.command_mut().arg("30");
            wrap.wrap(ProcessSession).wrap(KillOnDrop);
            let child = wrap.spawn_with(|cmd| cmd.double_spawn().spawn()).unwrap();
            let pid = child.id().unwrap() as i32;
            wait_for_exec(pid, "sleep").await;
            let stat = proc_stat(pid).expect("target alive");
            assert_eq!(
                (stat.session, stat.pgrp),
                (pid, pid),
                "own session and group"
            );
            dropped_target_dies(child, "sleep").await;
        });
    }

    /// The wrong combination without the adapter: a plain command's
    /// `pre_exec` closures (ProcessSession's setsid) are invisible to
    /// `double_spawn()` and stay behind, while the process group, which std
    /// shows, is carried. This is why the recipe builds in stub form.
    #[test]
    fn a_plain_command_loses_pre_exec_but_keeps_process_group() {
        if !assert_active("a_plain_command_loses_pre_exec_but_keeps_process_group") {
            return;
        }
        run(async {
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c").arg(SELF_STAT).stdout(Stdio::piped());
            let mut wrap = CommandWrap::from(cmd);
            wrap.wrap(ProcessSession);
            let child = wrap.spawn_with(|cmd| cmd.double_spawn().spawn()).unwrap();
            let stat = report(child).await;
            assert_eq!(
                stat.session,
                our_ids().1,
                "setsid() was lost, as documented"
            );

            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c").arg(SELF_STAT).stdout(Stdio::piped());
            let mut wrap = CommandWrap::from(cmd);
            wrap.wrap(ProcessGroup::leader());
            let child = wrap.spawn_with(|cmd| cmd.double_spawn().spawn()).unwrap();
            let stat = report(child).await;
            assert_eq!(
                stat.pgrp, stat.pid,
                "process_group(0) is visible and carried"
            );
        });
    }

    /// Waits until `pid` runs `comm` (the stub has executed the target).
    pub async fn wait_for_exec(pid: i32, comm: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if now.trim_end() == comm {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pid {pid} never ran {comm}: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Drops `child` once its target runs, and checks that the target pid is
    /// killed: gone, or a zombie killed by SIGKILL waiting to be reaped.
    pub async fn dropped_target_dies(child: Box<dyn ChildWrapper>, comm: &str) {
        let pid = child.id().unwrap() as i32;
        STARTED.lock().unwrap().push(pid);
        wait_for_exec(pid, comm).await;
        drop(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match proc_stat(pid) {
                None => return,
                Some(stat) if stat.state == 'Z' => return,
                Some(stat) => assert!(
                    Instant::now() < deadline,
                    "target {pid} still alive after drop: {stat:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// After `limit`, kills every process the tests started that is still
    /// our child (its whole session when it leads one) and fails.
    fn start_watchdog(limit: Duration) {
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            let me = std::process::id() as i32;
            for &pid in STARTED.lock().unwrap().iter() {
                let Some(stat) = proc_stat(pid) else { continue };
                if stat.ppid != me {
                    continue;
                }
                if stat.session == pid {
                    kill_session(pid);
                } else {
                    // SAFETY: kill only sends a signal, to our own child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            eprintln!("process_wrap: watchdog: tests did not finish within {limit:?}");
            std::process::exit(101);
        });
    }

    /// What the ResetSigmask tests of both adapters share.
    #[cfg(any(feature = "process-wrap", feature = "process-wrap9"))]
    pub mod mask {
        use std::io;

        use super::*;

        /// A target that prints its own `SigBlk` (a builtin loop, so it is the
        /// target's own mask and not a child's).
        pub const SIG_BLK: &str =
            r#"while read -r k v; do case $k in SigBlk:) echo "$v";; esac; done < /proc/$$/status"#;

        /// Both stubs.
        pub fn configs() -> [DoubleSpawn; 2] {
            [
                DoubleSpawn::new(),
                DoubleSpawn::new().stub(double_spawn::Stub::Embedded),
            ]
        }

        /// The `SigBlk` the target printed.
        pub fn sig_blk(out: &std::process::Output) -> u64 {
            let text = String::from_utf8_lossy(&out.stdout);
            u64::from_str_radix(text.trim(), 16).unwrap_or_else(|_| panic!("SigBlk: {out:?}"))
        }

        /// Runs `f` with `signals` blocked on this thread (the spawning one),
        /// then puts the mask back.
        fn with_blocked<T>(signals: &[i32], f: impl FnOnce() -> T) -> T {
            // SAFETY: plain signal-set operations on local sets; the mask is
            // this thread's, restored below.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                let mut old: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                for &sig in signals {
                    libc::sigaddset(&mut set, sig);
                }
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
                let result = f();
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
                result
            }
        }

        /// A spawned child to wait for, with its output.
        pub type Waiting =
            std::pin::Pin<Box<dyn Future<Output = io::Result<std::process::Output>>>>;

        /// Waits for a tokio child of either process-wrap version, given its
        /// pid, its stdout and the future of its `wait()`.
        pub fn waiting(
            pid: Option<u32>,
            stdout: Option<tokio::process::ChildStdout>,
            wait: impl Future<Output = io::Result<std::process::ExitStatus>> + 'static,
        ) -> Waiting {
            STARTED.lock().unwrap().push(pid.expect("pid") as i32);
            Box::pin(async move {
                let mut text = Vec::new();
                stdout.expect("stdout").read_to_end(&mut text).await?;
                Ok(std::process::Output {
                    status: wait.await?,
                    stdout: text,
                    stderr: Vec::new(),
                })
            })
        }

        /// The ResetSigmask check for one adapter: `spawn(config, reset, group)`
        /// double-spawns `sh -c SIG_BLK` with `config`, wrapped in ResetSigmask
        /// when `reset` and in a group or session of its own when `group`. Under
        /// a spawning thread that blocks SIGUSR2 (and SIGTSTP too, in the second
        /// round), through both stubs: the target's mask is empty with the
        /// wrapper, and the spawner's without it (which shows the check can
        /// fail).
        pub fn check_reset_sigmask(spawn: &dyn Fn(DoubleSpawn, bool, bool) -> io::Result<Waiting>) {
            let bit = |sig: i32| 1u64 << (sig - 1);
            run(async {
                for blocked in [&[libc::SIGUSR2][..], &[libc::SIGUSR2, libc::SIGTSTP]] {
                    let mask = blocked.iter().fold(0, |m, &s| m | bit(s));
                    for config in configs() {
                        for (reset, group) in
                            [(false, false), (true, false), (true, true), (false, true)]
                        {
                            let child =
                                with_blocked(blocked, || spawn(config, reset, group)).unwrap();
                            let out = child.await.unwrap();
                            assert!(out.status.success(), "{config:?}: {out:?}");
                            let expected = if reset { 0 } else { mask };
                            assert_eq!(
                                sig_blk(&out),
                                expected,
                                "{config:?}, blocked {blocked:?}, ResetSigmask {reset}, group {group}"
                            );
                        }
                    }
                }
            });
        }
    }

    /// The adapter: `DoubleSpawn::tokio_command_wrap` + `DoubleSpawnWrapExt`.
    #[cfg(feature = "process-wrap")]
    mod adapter {
        use std::io;

        use double_spawn::process_wrap::DoubleSpawnWrapExt;
        use double_spawn::DoubleSpawn;
        use process_wrap::tokio::{
            CommandWrap, KillOnDrop, ProcessGroup, ProcessSession, ResetSigmask,
        };

        use super::mask::*;
        use super::*;

        /// [`waiting`](mask::waiting) for a process-wrap 10 child.
        pub fn tokio_waiting(mut child: Box<dyn ChildWrapper>) -> mask::Waiting {
            let (pid, stdout) = (child.id(), child.stdout().take());
            mask::waiting(pid, stdout, async move { child.wait().await })
        }

        fn self_stat_wrap() -> CommandWrap {
            let mut wrap = DoubleSpawn::new().tokio_command_wrap("sh");
            wrap.command_mut()
                .arg("-c")
                .arg(SELF_STAT)
                .stdout(Stdio::piped());
            wrap
        }

        #[test]

        fn adapter_tokio_session_group_and_kill_on_drop() {
            if !assert_active("adapter_tokio_session_group_and_kill_on_drop") {
                return;
            }
            run(async {
                let mut wrap = self_stat_wrap();
                wrap.wrap(ProcessSession);
                let stat = report(wrap.double_spawn().unwrap()).await;
                assert_eq!((stat.session, stat.pgrp), (stat.pid, stat.pid));

                let mut wrap = self_stat_wrap();
                wrap.wrap(ProcessGroup::leader());
                let stat = report(wrap.double_spawn().unwrap()).await;
                assert_eq!(stat.pgrp, stat.pid);

                let mut wrap = DoubleSpawn::new().tokio_command_wrap("sleep");
                wrap.command_mut().arg("30");
                wrap.wrap(KillOnDrop);
                dropped_target_dies(wrap.double_spawn().unwrap(), "sleep").await;
            });
        }

        #[test]

        fn adapter_std_session() {
            use process_wrap::std::ProcessSession;
            if !assert_active("adapter_std_session") {
                return;
            }
            let mut wrap = DoubleSpawn::new().std_command_wrap("sh");
            wrap.command_mut()
                .arg("-c")
                .arg(SELF_STAT)
                .stdout(Stdio::piped());
            wrap.wrap(ProcessSession);
            let child = wrap.double_spawn().unwrap();
            let pid = child.id() as i32;
            STARTED.lock().unwrap().push(pid);
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success());
            let stat = parse_self_stat(&String::from_utf8(output.stdout).unwrap());
            assert_eq!((stat.pid, stat.comm.as_str()), (pid, "sh"));
            assert_eq!((stat.session, stat.pgrp), (pid, pid));
        }

        fn assert_refused(result: io::Result<Box<dyn ChildWrapper>>, needle: &str) {
            match result {
                Ok(child) => panic!("spawned {:?} instead of refusing", child.id()),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
                    assert!(e.to_string().contains(needle), "{e}");
                }
            }
        }

        #[test]

        fn adapter_refuses_a_plain_command() {
            if !assert_active("adapter_refuses_a_plain_command") {
                return;
            }
            run(async {
                let mut wrap = CommandWrap::with_new("sh", |cmd| {
                    cmd.arg("-c").arg("exit 0");
                });
                wrap.wrap(ProcessSession);
                assert_refused(wrap.double_spawn(), "stub form");
            });
        }

        /// ResetSigmask through the adapter, process-wrap 10, std and tokio.
        #[test]
        fn adapter_reset_sigmask_gives_an_empty_mask() {
            if !assert_active("adapter_reset_sigmask_gives_an_empty_mask") {
                return;
            }
            check_reset_sigmask(&|config, reset, group| {
                let mut wrap = config.std_command_wrap("sh");
                wrap.command_mut()
                    .arg("-c")
                    .arg(SIG_BLK)
                    .stdout(Stdio::piped());
                if group {
                    wrap.wrap(process_wrap::std::ProcessGroup::leader());
                }
                if reset {
                    wrap.wrap(process_wrap::std::ResetSigmask);
                }
                let child = wrap.double_spawn_with(config)?;
                STARTED.lock().unwrap().push(child.id() as i32);
                let output = child.wait_with_output();
                Ok(Box::pin(std::future::ready(output)) as Waiting)
            });
            check_reset_sigmask(&|config, reset, group| {
                let mut wrap = config.tokio_command_wrap("sh");
                wrap.command_mut()
                    .arg("-c")
                    .arg(SIG_BLK)
                    .stdout(Stdio::piped());
                if reset {
                    wrap.wrap(ResetSigmask);
                }
                if group {
                    wrap.wrap(ProcessSession);
                }
                Ok(tokio_waiting(wrap.double_spawn_with(config)?))
            });
        }

        /// A SIGTSTP that reaches the child after ResetSigmask's closure
        /// unblocked it, before the stub's exec (raised here by a wrapper of
        /// the test's own, at itself, in a child in a process group of its
        /// own): without the adapter's two closures it stops the child
        /// before exec and `spawn()` never returns (the watchdog fails the
        /// binary); with them it is pending when the stub starts, which
        /// discards it (the child left the spawner's group), and the target
        /// runs.
        #[test]
        fn adapter_reset_sigmask_keeps_a_stop_off_the_window() {
            if !assert_active("adapter_reset_sigmask_keeps_a_stop_off_the_window") {
                return;
            }
            run(async {
                for config in configs() {
                    let mut wrap = config.tokio_command_wrap("sh");
                    wrap.command_mut()
                        .arg("-c")
                        .arg(SIG_BLK)
                        .stdout(Stdio::piped());
                    wrap.wrap(ProcessGroup::leader())
                        .wrap(ResetSigmask)
                        .wrap(RaiseSigtstp);
                    let child = wrap.double_spawn_with(config).unwrap();
                    let out = tokio_waiting(child).await.unwrap();
                    assert!(out.status.success(), "{config:?}: {out:?}");
                    assert_eq!(sig_blk(&out), 0, "{config:?}");
                }
            });
        }

        /// Raises SIGTSTP at itself in the child, in a `pre_exec` closure.
        #[derive(Debug)]
        struct RaiseSigtstp;

        impl process_wrap::tokio::CommandWrapper for RaiseSigtstp {
            fn pre_spawn(
                &mut self,
                command: &mut tokio::process::Command,
                _core: &CommandWrap,
            ) -> io::Result<()> {
                // SAFETY: raise is async-signal-safe and allocates nothing.
                unsafe {
                    command.pre_exec(|| {
                        nix::sys::signal::raise(nix::sys::signal::Signal::SIGTSTP)?;
                        Ok(())
                    })
                };
                Ok(())
            }
        }

        /// process-wrap's `ProcessSession` adds a `pre_exec` closure, so a
        /// direct spawn is std's `fork`/`exec`, whose glibc `execvp` runs a
        /// file without `#!` with `/bin/sh`; the adapter tells the stub to
        /// do the same (flag `s`), on both stubs. (musl's `execvp` does not
        /// fall back; this binary is no stub host there.)
        #[test]
        fn adapter_runs_a_script_without_shebang_as_execvp_does() {
            if !assert_active("adapter_runs_a_script_without_shebang_as_execvp_does") {
                return;
            }
            let dir = crate::common::TempDir::new("pw-noshebang");
            let script = dir.0.join("noshebang");
            std::fs::write(&script, "printf '[%s]' \"$0\" \"$@\"; echo\n").unwrap();
            std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            let wrap = |config: Option<DoubleSpawn>| {
                let mut wrap = match config {
                    Some(config) => config.std_command_wrap(&script),
                    None => {
                        process_wrap::std::CommandWrap::from(std::process::Command::new(&script))
                    }
                };
                wrap.command_mut()
                    .arg("a b")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                wrap.wrap(process_wrap::std::ProcessSession);
                wrap
            };
            // Spawns again while another test's fork briefly holds the
            // script's write descriptor (ETXTBSY).
            let retrying = |config: Option<DoubleSpawn>| {
                for _ in 0..100 {
                    let mut wrap = wrap(config);
                    let spawned = match config {
                        Some(config) => wrap.double_spawn_with(config),
                        None => wrap.spawn(),
                    };
                    let out = match spawned {
                        Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => None,
                        Err(e) => panic!("{config:?}: {e}"),
                        Ok(child) => {
                            STARTED.lock().unwrap().push(child.id() as i32);
                            Some(child.wait_with_output().unwrap())
                        }
                    };
                    match out {
                        Some(out) if !String::from_utf8_lossy(&out.stderr).contains("busy") => {
                            return out
                        }
                        _ => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                panic!("{config:?}: the script stayed busy");
            };
            let direct = retrying(None);
            assert!(direct.status.success(), "direct: {direct:?}");
            assert_eq!(
                String::from_utf8_lossy(&direct.stdout).trim_end(),
                format!("[{}][a b]", script.display())
            );
            for config in configs() {
                let double = retrying(Some(config));
                assert!(double.status.success(), "{config:?}: {double:?}");
                assert_eq!(double.stdout, direct.stdout, "{config:?}");
            }
        }

        #[test]

        fn adapter_spawns_plainly_when_disabled() {
            run(async {
                // Disabled: a plain command is fine, and setsid still applies
                // because the spawn is an ordinary one.
                let mut cmd = tokio::process::Command::new("sh");
                cmd.arg("-c").arg(SELF_STAT).stdout(Stdio::piped());
                let mut wrap = CommandWrap::from(cmd);
                wrap.wrap(ProcessSession);
                let stat = report(wrap.double_spawn_with(DoubleSpawn::disabled()).unwrap()).await;
                assert_eq!(stat.session, stat.pid);
            });
        }
    }
}

/// The adapter for process-wrap 9 (feature `process-wrap9`): the same trait
/// on its `CommandWrap`s, built from stub-form commands with `From`.
#[cfg(all(unix, feature = "process-wrap9"))]
mod adapter9 {
    use std::process::Stdio;

    use double_spawn::process_wrap::DoubleSpawnWrapExt;
    use double_spawn::DoubleSpawn;
    use process_wrap9::{std as pw_std, tokio as pw_tokio};

    use crate::unix::mask::{check_reset_sigmask, waiting, Waiting, SIG_BLK};
    use crate::unix::{assert_active, parse_self_stat, SELF_STAT, STARTED};

    #[test]
    fn adapter9_session_and_reset_sigmask() {
        if !assert_active("adapter9_session_and_reset_sigmask") {
            return;
        }
        // ProcessSession's setsid reaches the target.
        let mut wrap = pw_std::CommandWrap::from(DoubleSpawn::new().std_command("sh"));
        wrap.command_mut()
            .arg("-c")
            .arg(SELF_STAT)
            .stdout(Stdio::piped());
        wrap.wrap(pw_std::ProcessSession);
        let child = wrap.double_spawn().unwrap();
        let pid = child.id() as i32;
        STARTED.lock().unwrap().push(pid);
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        let stat = parse_self_stat(&String::from_utf8(output.stdout).unwrap());
        assert_eq!((stat.pid, stat.session, stat.pgrp), (pid, pid, pid));

        check_reset_sigmask(&|config, reset, group| {
            let mut wrap = pw_tokio::CommandWrap::from(config.tokio_command("sh"));
            wrap.command_mut()
                .arg("-c")
                .arg(SIG_BLK)
                .stdout(Stdio::piped());
            if group {
                wrap.wrap(pw_tokio::ProcessGroup::leader());
            }
            if reset {
                wrap.wrap(pw_tokio::ResetSigmask);
            }
            let mut child = wrap.double_spawn_with(config)?;
            let (pid, stdout) = (child.id(), child.stdout().take());
            Ok(waiting(pid, stdout, async move { child.wait().await }) as Waiting)
        });
    }

    #[test]
    fn adapter9_refuses_a_plain_command() {
        if !assert_active("adapter9_refuses_a_plain_command") {
            return;
        }
        let mut wrap = pw_std::CommandWrap::with_new("sh", |cmd| {
            cmd.arg("-c").arg("exit 0");
        });
        wrap.wrap(pw_std::ProcessSession);
        let err = wrap.double_spawn().map(|c| c.id()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    }
}
