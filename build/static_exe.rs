//! Compiles a `no_std`, `no_main` Rust program into a small static
//! executable for the target being built, with the package's own `rustc`:
//! `panic=abort`, linked by the toolchain's `rust-lld` (else the C compiler
//! driver, with no start files and no libraries), never with the user's
//! `RUSTFLAGS`. Shared by the crate's `build.rs` (the embedded stub) and
//! `benches/build.rs` (the floor program), each of which includes it with
//! `#[path]`.
//!
//! Each linker is tried first with a linker script ([`ONE_SEGMENT`]) that
//! maps the whole program as one read-and-execute segment, the least an
//! `execve` has to map; the result is checked ([`one_segment`]) and, where
//! the script failed or the program needs more than it gives, linked again
//! without it (one read-and-execute segment and a writable one).

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
    let script = output.with_extension("ld");
    fs::write(&script, ONE_SEGMENT)
        .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    let layouts = [Some(script.as_path()), None];
    for (linker, script) in linkers(&rustc).iter().flat_map(|l| layouts.map(|s| (l, s))) {
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
        linker.configure(&mut cmd, script);
        let result = cmd
            .output()
            .map_err(|e| format!("cannot run {rustc:?}: {e}"))?;
        let stderr = String::from_utf8_lossy(&result.stderr);
        let layout = if script.is_some() {
            "one segment"
        } else {
            "two segments"
        };
        if result.status.success() {
            let bytes = check(output)?;
            if script.is_some() {
                if let Err(why) = one_segment(&bytes) {
                    report.push_str(&format!(
                        "{} with the one-segment script: {why}; linked again without it\n",
                        linker.name()
                    ));
                    continue;
                }
            }
            report.push_str(&format!(
                "built {} with {}, {layout}\n{stderr}",
                output.display(),
                linker.name()
            ));
            return Ok(report);
        }
        last_error = format!(
            "{} ({layout}) failed with {}:\n{stderr}",
            linker.name(),
            result.status
        );
        report.push_str(&last_error);
    }
    Err(if last_error.is_empty() {
        "no linker".into()
    } else {
        report
    })
}

/// The built file must be a small ELF executable; returns its bytes.
fn check(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !bytes.starts_with(b"\x7fELF") || bytes.len() > 256 * 1024 {
        return Err(format!(
            "{} is not a small ELF file ({} bytes)",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// The linker script for one segment: headers, code, read-only data and
/// the GOT in one read-and-execute `PT_LOAD`, and a non-executable stack.
///
/// Why it pays: `execve` maps every `PT_LOAD` of the program, and a
/// writable one is one more private mapping for it to set up and for the
/// next `exec` to tear down. The embedded stub's only writable section is
/// the GOT that rustc's calls to `memcpy` and `memset` go through (`-Z
/// plt=no` is rustc's default on x86_64); in a static program without a
/// dynamic section nothing writes it after the link, so it can be
/// read-only. The exception handling frames are dropped (`panic=abort`:
/// nothing unwinds). Measured on x86_64 (Linux 6.18, 3,000 interleaved
/// spawns + waits of `/bin/true` through each program's memfd): the stub
/// came 2.8 µs closer to the floor program (the other 2.8 µs of the gap
/// were a stack page, see `search` in `src/stubs/core.rs`).
const ONE_SEGMENT: &str = "\
ENTRY(_start)
PHDRS
{
  text PT_LOAD FILEHDR PHDRS FLAGS(5);
  stack PT_GNU_STACK FLAGS(6);
}
SECTIONS
{
  . = 0x200000 + SIZEOF_HEADERS;
  .text : { *(.text .text.*) } :text
  .rodata : { *(.rodata .rodata.*) } :text
  .got : { *(.got) *(.got.plt) } :text
  /DISCARD/ : { *(.eh_frame .eh_frame_hdr .comment .note .note.*) }
}
";

/// Checks that `elf` (a 64-bit little-endian ELF file) is what
/// [`ONE_SEGMENT`] promises: one `PT_LOAD`, readable and executable, a
/// non-executable stack, no dynamic linking or TLS, and no section that is
/// written at run time (the GOT aside, which nothing writes in a program
/// with no dynamic section). An orphan section the script does not name
/// (data, bss) ends up in the read-only segment, and this refuses it.
fn one_segment(elf: &[u8]) -> Result<(), String> {
    const PT_LOAD: u32 = 1;
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const PT_TLS: u32 = 7;
    const PT_GNU_STACK: u32 = 0x6474_e551;
    const PF_X: u32 = 1;
    const PF_R_X: u32 = 5;
    const SHF_WRITE: u64 = 1;
    const SHF_ALLOC: u64 = 2;
    const SHF_TLS: u64 = 0x400;
    const SHT_NOBITS: u32 = 8;
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |at: usize| {
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let short = || "the ELF file is cut short".to_string();
    if elf.get(4..6) != Some(&[2, 1]) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let phoff = u64_at(0x20).ok_or_else(short)? as usize;
    let shoff = u64_at(0x28).ok_or_else(short)? as usize;
    let (phentsize, phnum) = (
        u16_at(0x36).ok_or_else(short)?,
        u16_at(0x38).ok_or_else(short)?,
    );
    let (shentsize, shnum) = (
        u16_at(0x3a).ok_or_else(short)?,
        u16_at(0x3c).ok_or_else(short)?,
    );
    let shstrndx = u16_at(0x3e).ok_or_else(short)?;
    let mut loads = Vec::new();
    let mut stack = None;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let (kind, flags) = (
            u32_at(at).ok_or_else(short)?,
            u32_at(at + 4).ok_or_else(short)?,
        );
        match kind {
            PT_LOAD => loads.push(flags),
            PT_GNU_STACK => stack = Some(flags),
            PT_DYNAMIC | PT_INTERP | PT_TLS => {
                return Err(format!("it has a program header of type {kind}"))
            }
            _ => {}
        }
    }
    if loads != [PF_R_X] {
        return Err(format!("its PT_LOAD flags are {loads:?}, not [5] (R+X)"));
    }
    if !matches!(stack, Some(flags) if flags & PF_X == 0) {
        return Err("its stack is not marked non-executable".into());
    }
    let names = u64_at(shoff + shstrndx * shentsize + 0x18).ok_or_else(short)? as usize;
    for i in 0..shnum {
        let at = shoff + i * shentsize;
        let kind = u32_at(at + 4).ok_or_else(short)?;
        let flags = u64_at(at + 8).ok_or_else(short)?;
        if flags & SHF_ALLOC == 0 {
            continue;
        }
        let name_at = names + u32_at(at).ok_or_else(short)? as usize;
        let name = elf
            .get(name_at..)
            .and_then(|rest| rest.split(|&b| b == 0).next())
            .ok_or_else(short)?;
        let got = name == b".got" || name == b".got.plt";
        if (flags & SHF_WRITE != 0 && !got) || flags & SHF_TLS != 0 || kind == SHT_NOBITS {
            return Err(format!(
                "section {} is written at run time",
                String::from_utf8_lossy(name)
            ));
        }
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

    /// Sets the linker and its flags on `cmd`, and links with `script`
    /// where given.
    fn configure(&self, cmd: &mut Command, script: Option<&Path>) {
        if let Some(script) = script {
            let mut arg = OsString::from(match self {
                Linker::RustLld(_) => "link-arg=-T",
                Linker::Cc(_) => "link-arg=-Wl,-T,",
            });
            arg.push(script);
            cmd.arg("-C").arg(arg);
        }
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
