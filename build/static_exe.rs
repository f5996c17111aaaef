//! Compiles a `no_std`, `no_main` Rust program into a small static
//! executable for the target being built, with the package's own `rustc`:
//! `panic=abort`, linked by the toolchain's `rust-lld` (else the C compiler
//! driver, with no start files and no libraries), never with the user's
//! `RUSTFLAGS`. Shared by the crate's `build.rs` (the embedded stub) and
//! `benches/build.rs` (the floor program), each of which includes it with
//! `#[path]`.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn var(name: &str) -> String {
    env::var(name).unwrap_or_default()
}

/// Builds `source` into `output` as crate `crate_name`; returns what the
/// compiler said, or every linker's failure.
pub fn compile(source: &Path, crate_name: &str, output: &Path) -> Result<String, String> {
    let target = var("TARGET");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
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
        cmd.arg(source)
            .args(["--edition", "2021", "--crate-type", "bin"])
            .args(["--crate-name", crate_name])
            .args(["--target", &target])
            .args(["--cap-lints", "allow"])
            .arg("-o")
            .arg(output);
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
            check(output)?;
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
