//! A shared library that double-spawns, as a Python extension or a plugin
//! would: `tests/embedded.rs` loads it with `dlopen` into a small C program.
//!
//! The host program is not this crate's, so its executable cannot be the
//! stub (it would run the host's `main` with the stub's arguments); the
//! embedded stub can. `ds_embedded_cdylib_run` prints the routes and the
//! results of two spawns as `key=value` lines and returns 0.

use std::process::Command;

use double_spawn::{DoubleSpawn, DoubleSpawnExt, Stub};

/// Called by the C host after `dlopen`.
#[no_mangle]
pub extern "C" fn ds_embedded_cdylib_run() -> i32 {
    println!("current_exe_route={}", DoubleSpawn::enabled().route());
    let config = DoubleSpawn::enabled().stub(Stub::Embedded);
    println!("embedded_route={}", config.route());
    let status = Command::new("/bin/true")
        .double_spawn_with(config)
        .status()
        .map_or(-2, |s| s.code().unwrap_or(-1));
    println!("embedded_status={status}");
    let echo = Command::new("/bin/echo")
        .arg("from the library")
        .double_spawn_with(config)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| e.to_string());
    println!("echo={echo}");
    0
}
