//! Whether this process's group is orphaned.
//!
//! POSIX: a process group is *orphaned* when no member has a parent in a
//! different process group of the same session. Nobody is left to resume
//! such a group (a shell resumes its jobs, which are groups whose parent is
//! the shell), so the kernel discards SIGTSTP, SIGTTIN and SIGTTOU sent to
//! it when their action is the default. A supervisor that catches SIGTSTP
//! and stops itself with SIGSTOP, which is never discarded, must make the
//! same check or it can stop for good.

use nix::unistd::{getpgid, getpgrp, getpid, getppid, getsid, Pid};

/// True when this process's group is orphaned.
///
/// On Linux the members of the group are found in `/proc`; elsewhere only
/// this process's own parent is looked at, and a group it does not keep
/// alive is assumed not orphaned (stopping, as the caller asked).
pub(crate) fn own_group_is_orphaned() -> bool {
    let pgrp = getpgrp();
    let Ok(sid) = getsid(None) else {
        return false;
    };
    if keeps_group_alive(getppid(), pgrp, sid) {
        // The common case, a job started by a shell: decided without /proc.
        return false;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        match other_members_parents(pgrp, getpid()) {
            Some(parents) => !parents.into_iter().any(|p| keeps_group_alive(p, pgrp, sid)),
            None => false,
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = getpid;
        false
    }
}

/// Whether `parent` is in another group of this session.
fn keeps_group_alive(parent: Pid, pgrp: Pid, sid: Pid) -> bool {
    // A parent in another session may not be inspectable (EPERM); either
    // way it does not count.
    getpgid(Some(parent)).is_ok_and(|g| g != pgrp) && getsid(Some(parent)).is_ok_and(|s| s == sid)
}

/// The parents of the other members of process group `pgrp`, from
/// `/proc/<pid>/stat`; `None` when `/proc` cannot be read.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn other_members_parents(pgrp: Pid, me: Pid) -> Option<Vec<Pid>> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me.as_raw() {
            continue;
        }
        // A process may exit while we look: skip what cannot be read.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((ppid, member_pgrp)) = parse_stat(&stat) {
            if member_pgrp == pgrp.as_raw() {
                parents.push(Pid::from_raw(ppid));
            }
        }
    }
    Some(parents)
}

/// `(ppid, pgrp)` from the text of `/proc/<pid>/stat`:
/// `pid (comm) state ppid pgrp session ...`, where `comm` may contain
/// spaces and parentheses, so the fields are counted from the last `)`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn parse_stat(stat: &str) -> Option<(i32, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(1);
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((ppid, pgrp))
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        assert_eq!(
            parse_stat("42 (a) b) (c) S 7 9 9 34816 9 4194304"),
            Some((7, 9))
        );
        assert_eq!(parse_stat("1 (init) S 0 1 1 0"), Some((0, 1)));
        assert_eq!(parse_stat("1 (init) S"), None);
        assert_eq!(parse_stat("garbage"), None);
    }
}
