//! The race, and the fix, on your machine.
//!
//! ```text
//! cargo run --release --example race [-- --spawns N --workers K]
//! ```
//!
//! For each variant (plain `spawn()` and `double_spawn()`, with std threads
//! and with a tokio multi-thread runtime) this program starts a copy of
//! itself that:
//! - calls `setsid()`, so it is alone in a new session and process group,
//!   and checks that it leads that group;
//! - installs a no-op SIGTSTP handler for itself, and sends SIGTSTP to its
//!   own process group every 50 µs from one thread;
//! - spawns `/bin/true` N times from K workers, each child in its own process
//!   group (`process_group(0)`), and sends SIGCONT to any child it sees
//!   stopped, as a supervisor would;
//! - declares a hang when one spawn call has not returned for 2 s: the child
//!   stopped between `clone` and `exec`, so `spawn()` never returns and the
//!   child's pid is never known to anyone who could continue it.
//!
//! The table's columns: `spawned` counts spawn calls that returned, `stuck`
//! counts *workers* whose spawn call had not returned after 2 s (each one a
//! hang; the first ends the copy's run, so `stuck` can exceed `spawned`),
//! `continued` counts children seen stopped and sent SIGCONT. The program
//! prints this legend above the table.
//!
//! The parent waits for each copy with a time limit and then kills whatever is
//! left in the copy's session, so nothing stopped or orphaned stays behind.
//! The only signals sent go to process groups this program created.
//!
//! On Apple systems `posix_spawn` is a system call, so plain `spawn()` shows
//! no hang there and `double_spawn()` spawns directly (see the crate docs'
//! "Platform support"); on non-Unix targets there is no SIGTSTP at all.

#[cfg(unix)]
#[path = "race/unix.rs"]
mod unix;

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    double_spawn::init();
    std::process::ExitCode::from(unix::race_main(std::env::args().skip(1).collect()))
}

#[cfg(not(unix))]
fn main() {
    eprintln!("race: SIGTSTP is a Unix signal; there is no race to show on this system");
}
