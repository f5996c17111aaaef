//! Builds the embedded stub (`src/stubs/embedded/main.rs`) for the crate's
//! target, from source, with the crate's own `rustc`.
//!
//! The stub is a `no_std`, `no_main` program with no C library, linked
//! statically; the crate embeds its bytes behind `cfg(double_spawn_embedded)`.
//! Only x86_64 and aarch64 Linux get one. Whatever goes wrong (another
//! target, no `core` for the target, no linker that can do it, a docs.rs
//! build) the crate is built without it, silently: the embedded stub is an
//! opt-in that falls back at run time anyway, and a build error or a cargo
//! warning in every dependent's build would be worse. What happened is in
//! `$OUT_DIR/embedded-stub.log`.
//!
//! The stub is compiled with exactly the flags below: never the user's
//! `RUSTFLAGS` (coverage, sanitizer or target-cpu flags meant for their
//! code break or bloat a program without a runtime).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// The file name of the built stub in `OUT_DIR`, which `src/stubs/mod.rs`
/// includes.
const STUB: &str = "double-spawn-stub";

fn main() {
    println!("cargo:rustc-check-cfg=cfg(double_spawn_embedded)");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/static_exe.rs");
    println!("cargo:rerun-if-changed=src/stubs/embedded/main.rs");
    println!("cargo:rerun-if-changed=src/stubs/core.rs");
    println!("cargo:rerun-if-changed=src/protocol.rs");
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    println!("cargo:rerun-if-env-changed=DOUBLE_SPAWN_BUILD_NO_EMBEDDED");

    let Some(out_dir) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let log = out_dir.join("embedded-stub.log");
    match build(&out_dir) {
        Ok(report) => {
            let _ = fs::write(&log, report);
            println!("cargo:rustc-cfg=double_spawn_embedded");
        }
        Err(why) => {
            let _ = fs::remove_file(out_dir.join(STUB));
            let _ = fs::write(&log, format!("no embedded stub: {why}\n"));
        }
    }
}

#[path = "build/static_exe.rs"]
mod static_exe;

fn var(name: &str) -> String {
    env::var(name).unwrap_or_default()
}

/// Builds the stub into `out_dir`; returns a report, or why not.
fn build(out_dir: &Path) -> Result<String, String> {
    if env::var_os("DOCS_RS").is_some() {
        return Err("docs.rs build".into());
    }
    if env::var_os("DOUBLE_SPAWN_BUILD_NO_EMBEDDED").is_some() {
        return Err("DOUBLE_SPAWN_BUILD_NO_EMBEDDED is set".into());
    }
    let target = var("TARGET");
    let arch = var("CARGO_CFG_TARGET_ARCH");
    let supported = var("CARGO_CFG_TARGET_OS") == "linux"
        && matches!(arch.as_str(), "x86_64" | "aarch64")
        && var("CARGO_CFG_TARGET_POINTER_WIDTH") == "64"
        && var("CARGO_CFG_TARGET_ENDIAN") == "little";
    if !supported {
        return Err(format!("no embedded stub for target {target}"));
    }
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("no manifest dir")?);
    let source = manifest_dir.join("src/stubs/embedded/main.rs");
    let output = out_dir.join(STUB);
    static_exe::compile(&source, "double_spawn_stub", &output)
}
