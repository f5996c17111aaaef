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
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The file name of the built stub in `OUT_DIR`, which `src/stubs/mod.rs`
/// includes.
const STUB: &str = "double-spawn-stub";

fn main() {
    println!("cargo:rustc-check-cfg=cfg(double_spawn_embedded)");
    println!("cargo:rerun-if-changed=build.rs");
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
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("no manifest dir")?);
    let source = manifest_dir.join("src/stubs/embedded/main.rs");
    let output = out_dir.join(STUB);

    let mut report = String::new();
    let mut last_error = String::new();
    for linker in linkers(&rustc) {
        let mut cmd = Command::new(&rustc);
        // The user's flags are for their code, not for this program.
        for flags in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
        ] {
            cmd.env_remove(flags);
        }
        cmd.arg(&source)
            .args(["--edition", "2021", "--crate-type", "bin"])
            .args(["--crate-name", "double_spawn_stub"])
            .args(["--target", &target])
            .args(["--cap-lints", "allow"])
            .arg("-o")
            .arg(&output);
        for flag in [
            "panic=abort",
            "opt-level=s",
            // Fat LTO with `core` drops the panic machinery's formatting,
            // which the stub's panic handler never uses: half the size.
            "lto=fat",
            "codegen-units=1",
            "debuginfo=0",
            "strip=symbols",
            "force-unwind-tables=no",
            "relocation-model=static",
            "target-feature=+crt-static",
            // No start files of the C library (musl targets bring their own).
            "link-self-contained=no",
        ] {
            cmd.arg("-C").arg(flag);
        }
        linker.configure(&mut cmd);
        let result = cmd
            .output()
            .map_err(|e| format!("cannot run {rustc:?}: {e}"))?;
        let stderr = String::from_utf8_lossy(&result.stderr);
        if result.status.success() {
            check(&output)?;
            report.push_str(&format!(
                "built {} with {}\n{stderr}",
                output.display(),
                linker.name()
            ));
            return Ok(report);
        }
        last_error = format!("{} failed with {}:\n{stderr}", linker.name(), result.status);
        report.push_str(&last_error);
    }
    Err(if last_error.is_empty() {
        "no linker".into()
    } else {
        report
    })
}

/// The built file must be a small ELF executable.
fn check(path: &Path) -> Result<(), String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !bytes.starts_with(b"\x7fELF") || bytes.len() > 256 * 1024 {
        return Err(format!(
            "{} is not a small ELF file ({} bytes)",
            path.display(),
            bytes.len()
        ));
    }
    Ok(())
}

/// A way to link the stub.
enum Linker {
    /// The toolchain's own `rust-lld`, as `ld.lld`: no C toolchain needed,
    /// cross targets included.
    RustLld(PathBuf),
    /// The linker cargo uses for the target (`RUSTC_LINKER`), else `cc`,
    /// driven as a C compiler with no start files and no libraries.
    Cc(OsString),
}

impl Linker {
    fn name(&self) -> String {
        match self {
            Linker::RustLld(path) => format!("rust-lld ({})", path.display()),
            Linker::Cc(cc) => format!("the C compiler driver {cc:?}"),
        }
    }

    fn configure(&self, cmd: &mut Command) {
        match self {
            Linker::RustLld(path) => {
                cmd.arg("-C")
                    .arg(format!("linker={}", path.display()))
                    .args(["-C", "linker-flavor=ld.lld"]);
                for arg in [
                    "-static",
                    "--gc-sections",
                    "--build-id=none",
                    "--no-eh-frame-hdr",
                    // One read-only+executable segment and no RELRO: two
                    // page-aligned segments instead of four.
                    "--no-rosegment",
                    "-znorelro",
                ] {
                    cmd.arg("-C").arg(format!("link-arg={arg}"));
                }
            }
            Linker::Cc(cc) => {
                let mut linker = OsString::from("linker=");
                linker.push(cc);
                cmd.arg("-C").arg(linker);
                for arg in [
                    "-nostartfiles",
                    "-nostdlib",
                    "-static",
                    "-Wl,--gc-sections",
                    "-Wl,--build-id=none",
                ] {
                    cmd.arg("-C").arg(format!("link-arg={arg}"));
                }
            }
        }
    }
}

/// The linkers to try, best first.
fn linkers(rustc: &OsString) -> Vec<Linker> {
    let mut linkers = Vec::new();
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .env_remove("RUSTFLAGS")
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
    let cc = env::var_os("RUSTC_LINKER").unwrap_or_else(|| "cc".into());
    linkers.push(Linker::Cc(cc));
    linkers
}
