//! The entry point of `tests/differential.rs`, which has a `main` of its own
//! (see Cargo.toml): that file on Linux, where these tests run; elsewhere one
//! line saying so.

#[cfg(target_os = "linux")]
#[path = "../differential.rs"]
mod body;

fn main() {
    #[cfg(target_os = "linux")]
    body::main();
    #[cfg(not(target_os = "linux"))]
    println!("tests/differential.rs runs on Linux only: skipped");
}
