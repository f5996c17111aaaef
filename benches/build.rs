//! Builds the floor program (`floor/main.rs`) for the bench's target with
//! the package's own `rustc`, with the code the crate's `build.rs` builds
//! the embedded stub with (`../build/static_exe.rs`).
//!
//! Only x86_64 and aarch64 Linux get one. If it cannot be built the benches
//! skip the floor variants and say why (`cfg(floor_stub)` is unset and
//! `FLOOR_STUB_LOG` holds the reason).

use std::env;
use std::path::{Path, PathBuf};

#[path = "../build/static_exe.rs"]
mod static_exe;

fn var(name: &str) -> String {
    env::var(name).unwrap_or_default()
}

fn main() {
    println!("cargo:rustc-check-cfg=cfg(floor_stub)");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build/static_exe.rs");
    println!("cargo:rerun-if-changed=floor/main.rs");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let output = out_dir.join("double-spawn-floor");
    match build(&output) {
        Ok(()) => {
            println!("cargo:rustc-cfg=floor_stub");
            println!("cargo:rustc-env=FLOOR_STUB={}", output.display());
            println!("cargo:rustc-env=FLOOR_STUB_LOG=built");
        }
        Err(why) => {
            let why = why.replace(['\n', '\r'], " ");
            println!("cargo:rustc-env=FLOOR_STUB_LOG={why}");
        }
    }
}

fn build(output: &Path) -> Result<(), String> {
    let arch = var("CARGO_CFG_TARGET_ARCH");
    if var("CARGO_CFG_TARGET_OS") != "linux" || !matches!(arch.as_str(), "x86_64" | "aarch64") {
        return Err(format!("no floor program for target {}", var("TARGET")));
    }
    let source = PathBuf::from(var("CARGO_MANIFEST_DIR")).join("floor/main.rs");
    static_exe::compile(&source, "double_spawn_floor", output).map(|_| ())
}
