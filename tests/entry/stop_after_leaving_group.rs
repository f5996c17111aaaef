//! The entry point of `tests/stop_after_leaving_group.rs`, which has a `main` of its own (see
//! Cargo.toml): that file on Linux, where these tests run; elsewhere one line
//! saying so (the crate docs' "Platform support" says what is checked where).

#[cfg(target_os = "linux")]
#[path = "../stop_after_leaving_group.rs"]
mod body;

fn main() {
    #[cfg(target_os = "linux")]
    body::main();
    #[cfg(not(target_os = "linux"))]
    println!("tests/stop_after_leaving_group.rs runs on Linux only: skipped");
}
