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
    const SELF_STAT: &str = r#"read -r s < /proc/$$/stat; echo "$s""#;

    /// Pids of the processes the tests started, for the watchdog.
    static STARTED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

    /// What the target reported about itself.
    #[derive(Debug)]
    pub struct SelfStat {
        pub pid: i32,
        pub comm: String,
        pub ppid: i32,
        pub pgrp: i32,
        pub session: i32,
    }

    fn parse_self_stat(text: &str) -> SelfStat {
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

    /// The adapter: `DoubleSpawn::tokio_command_wrap` + `DoubleSpawnWrapExt`.
    #[cfg(feature = "process-wrap")]
    mod adapter {
        use std::io;

        use double_spawn::process_wrap::DoubleSpawnWrapExt;
        use double_spawn::DoubleSpawn;
        use process_wrap::tokio::{
            CommandWrap, KillOnDrop, ProcessGroup, ProcessSession, ResetSigmask,
        };

        use super::*;

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

        #[test]

        fn adapter_refuses_reset_sigmask() {
            if !assert_active("adapter_refuses_reset_sigmask") {
                return;
            }
            run(async {
                let mut wrap = DoubleSpawn::new().tokio_command_wrap("true");
                wrap.wrap(ResetSigmask);
                assert_refused(wrap.double_spawn(), "ResetSigmask");
            });
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
