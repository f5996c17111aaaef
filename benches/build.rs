//! Builds the floor program (`floor/main.rs`) for the bench's target with
//! the package's own `rustc`, the way the crate's `build.rs` builds the
//! embedded stub: `no_std`, `no_main`, `panic=abort`, linked statically
//! with the toolchain's `rust-lld` (else the C compiler driver, with no
//! start files and no libraries), never with the user's `RUSTFLAGS`.
//!
//! Only x86_64 and aarch64 Linux get one. If it cannot be built the benches
//! skip the floor variants and say why (`cfg(floor_stub)` is unset and
//! `FLOOR_STUB_LOG` holds the reason).

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

fn var(name: &str) -> String {
    env::var(name).unwrap_or_default()
}

fn main() {
    println!("cargo:rustc-check-cfg=cfg(floor_stub)");
    println!("cargo:rerun-if-changed=build.rs");
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
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let source = PathBuf::from(var("CARGO_MANIFEST_DIR")).join("floor/main.rs");
    let mut last = String::from("no linker");
    for linker in linkers(&rustc) {
        let mut cmd = Command::new(&rustc);
        for flags in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
        ] {
            cmd.env_remove(flags);
        }
        cmd.arg(&source)
            .args(["--edition", "2021", "--crate-type", "bin"])
            .args(["--crate-name", "double_spawn_floor"])
            .args(["--target", &var("TARGET")])
            .arg("-o")
            .arg(output);
        for flag in [
            "panic=abort",
            "opt-level=s",
            "lto=fat",
            "codegen-units=1",
            "debuginfo=0",
            "strip=symbols",
            "force-unwind-tables=no",
            "relocation-model=static",
            "target-feature=+crt-static",
            "link-self-contained=no",
        ] {
            cmd.arg("-C").arg(flag);
        }
        let name = match &linker {
            Linker::RustLld(lld) => {
                cmd.arg("-C")
                    .arg(format!("linker={}", lld.display()))
                    .args(["-C", "linker-flavor=ld.lld"]);
                for arg in [
                    "-static",
                    "--gc-sections",
                    "--build-id=none",
                    "--no-eh-frame-hdr",
                    "--no-rosegment",
                    "-znorelro",
                ] {
                    cmd.arg("-C").arg(format!("link-arg={arg}"));
                }
                format!("rust-lld ({})", lld.display())
            }
            Linker::Cc(cc) => {
                let mut l = OsString::from("linker=");
                l.push(cc);
                cmd.arg("-C").arg(l);
                for arg in [
                    "-nostartfiles",
                    "-nostdlib",
                    "-static",
                    "-Wl,--gc-sections",
                    "-Wl,--build-id=none",
                ] {
                    cmd.arg("-C").arg(format!("link-arg={arg}"));
                }
                format!("{cc:?}")
            }
        };
        let result = cmd
            .output()
            .map_err(|e| format!("cannot run {rustc:?}: {e}"))?;
        if result.status.success() {
            return Ok(());
        }
        last = format!(
            "{name} failed: {}",
            String::from_utf8_lossy(&result.stderr).trim()
        );
    }
    Err(last)
}

enum Linker {
    RustLld(PathBuf),
    Cc(OsString),
}

/// The toolchain's `rust-lld` if it has one, then the target's linker.
fn linkers(rustc: &OsString) -> Vec<Linker> {
    let mut linkers = Vec::new();
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(sysroot) = sysroot {
        let lld = sysroot
            .join("lib/rustlib")
            .join(var("HOST"))
            .join("bin/rust-lld");
        if lld.is_file() {
            linkers.push(Linker::RustLld(lld));
        }
    }
    linkers.push(Linker::Cc(
        env::var_os("RUSTC_LINKER").unwrap_or_else(|| "cc".into()),
    ));
    linkers
}
