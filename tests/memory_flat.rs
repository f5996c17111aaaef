//! A double spawn leaves nothing behind in the parent: over 10,000 double
//! spawns (5,000 with std, 5,000 with tokio) the parent's live heap, its
//! resident memory, its open descriptors and its children do not grow.
//!
//! The live heap is counted exactly by a counting global allocator, so even
//! a few bytes kept per spawn show up as tens of KiB; the resident set is
//! what a user watching the process would see, with a bound loose enough for
//! the allocator's own bookkeeping. Both are compared after a warm-up, once
//! the crate's and tokio's one-time state exists.

// What these tests observe (/proc, Linux system calls) is Linux; the crate
// docs' "Platform support" says what is checked on other targets.
#![cfg(target_os = "linux")]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicI32, AtomicIsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use double_spawn::{DoubleSpawn, DoubleSpawnExt};
use nix::libc;

/// Live heap bytes of this process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const WARM_UP: usize = 200;
const SPAWNS: usize = 5_000;
/// Live heap growth allowed over `SPAWNS`: under 4 bytes a spawn.
const HEAP_SLACK: isize = 16 << 10;
/// Resident-set growth allowed over `SPAWNS`: under 200 bytes a spawn.
const RSS_SLACK: i64 = 1 << 20;
const TRUE: &str = "/bin/true";

/// The child being waited for, for the watchdog to kill.
static CURRENT_CHILD: AtomicI32 = AtomicI32::new(0);

/// The two tests run one after the other (libtest would run them side by
/// side): the heap counter sees every thread's allocations.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the turn and makes sure the watchdog runs.
fn serial() -> MutexGuard<'static, ()> {
    static WATCHDOG: Once = Once::new();
    WATCHDOG.call_once(|| watchdog(Duration::from_secs(300)));
    assert!(
        DoubleSpawn::enabled().is_active(),
        "double spawning is not active in the test binary"
    );
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Ends the test binary if it runs far longer than it should: kills the
/// child it is waiting for (each test has at most one) and exits failing.
fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let pid = CURRENT_CHILD.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill only sends a signal, to a child this test spawned
            // and has not reaped (it is waiting for it).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        eprintln!("memory_flat: still running after {limit:?}; a spawn or wait hangs");
        std::process::exit(101);
    });
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    heap: isize,
    rss: i64,
    fds: usize,
}

fn usage() -> Usage {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("resident pages");
    // SAFETY: sysconf only reads a system constant.
    let page = i64::from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as i32);
    let fds = std::fs::read_dir("/proc/self/fd").expect("fd dir").count();
    Usage {
        heap: LIVE.load(Ordering::SeqCst),
        rss: pages * page,
        fds,
    }
}

/// Runs `spawn_n(WARM_UP)`, then `spawn_n(SPAWNS)`, and checks that the
/// second left the parent as it found it.
fn assert_flat(label: &str, mut spawn_n: impl FnMut(usize)) {
    spawn_n(WARM_UP);
    let before = usage();
    spawn_n(SPAWNS);
    let after = usage();
    let heap = after.heap - before.heap;
    let rss = after.rss - before.rss;
    println!(
        "{label}: over {SPAWNS} double spawns: live heap {heap:+} bytes, \
         resident {:+} KiB, descriptors {} -> {}",
        rss / 1024,
        before.fds,
        after.fds
    );
    assert!(
        heap <= HEAP_SLACK,
        "{label}: live heap grew by {heap} bytes over {SPAWNS} spawns"
    );
    assert!(
        rss <= RSS_SLACK,
        "{label}: resident memory grew by {rss} bytes over {SPAWNS} spawns"
    );
    assert_eq!(after.fds, before.fds, "{label}: descriptors leaked");
    assert!(
        common::live_children().is_empty(),
        "{label}: children left behind"
    );
}

#[test]
fn std_double_spawns_leave_nothing_behind() {
    if !common::stub_host_without_init("std_double_spawns_leave_nothing_behind") {
        return;
    }
    let _turn = serial();
    let mut cmd = Command::new(TRUE);
    assert_flat("std", |n| {
        for _ in 0..n {
            let mut child = cmd.double_spawn().spawn().expect("double spawn");
            CURRENT_CHILD.store(child.id() as i32, Ordering::SeqCst);
            let status = child.wait().expect("wait");
            CURRENT_CHILD.store(0, Ordering::SeqCst);
            assert!(status.success(), "{status}");
        }
    });
}

#[test]
fn tokio_double_spawns_leave_nothing_behind() {
    if !common::stub_host_without_init("tokio_double_spawns_leave_nothing_behind") {
        return;
    }
    let _turn = serial();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut cmd = tokio::process::Command::new(TRUE);
    assert_flat("tokio", |n| {
        rt.block_on(async {
            for _ in 0..n {
                let mut child = cmd.double_spawn().spawn().expect("double spawn");
                CURRENT_CHILD.store(child.id().map_or(0, |p| p as i32), Ordering::SeqCst);
                let status = child.wait().await.expect("wait");
                CURRENT_CHILD.store(0, Ordering::SeqCst);
                assert!(status.success(), "{status}");
            }
        })
    });
}
