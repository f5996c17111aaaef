//! The large host of the `runner` bench: the same code as `runner`, padded
//! with data the dynamic loader must map and relocate at every start.
//!
//! The padding (Linux on x86_64 and aarch64; elsewhere this host is not
//! padded and says so) is one writable data section, assembled:
//! - a table of `PAD_POINTERS` (262,144) pointers, 2 MiB: in a
//!   position-independent executable each is an `R_*_RELATIVE` relocation,
//!   6 MiB of `.rela.dyn` that `ld.so` reads and applies at every start,
//!   before any of the program's code (the ELF-constructor stub included)
//!   runs, writing to each of the table's 512 pages;
//! - `PAD_DATA` (60 MiB) of initialized, non-zero data, which the kernel
//!   maps (lazily) and nobody touches: size without work.
//!
//! `runner` explains the choice of numbers and runs this binary (with
//! `--runner-bench-host`) for the large half of each round. Run by
//! `cargo bench` itself, it only says so: the table is `runner`'s.

#[cfg(unix)]
mod common;
#[cfg(unix)]
#[path = "common/runner_shape.rs"]
mod shape;

#[cfg(unix)]
fn main() {
    // First in main: started as the stub on a C library without the
    // constructor stub (musl), this becomes the target.
    double_spawn::init();
    let describe = padding::describe();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(shape::HOST_ARG) {
        shape::host_main(&args[1..], &describe);
    }
    println!(
        "runner_large: the large host of the `runner` bench ({describe}); \
         its figures are in `runner`'s table"
    );
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the spawn benchmarks need a Unix system");
}

#[cfg(all(
    unix,
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod padding {
    /// Pointers in the relocated table.
    pub const PAD_POINTERS: usize = 1 << 18;
    /// Bytes of initialized data after it.
    pub const PAD_DATA: usize = 60 << 20;

    // One section, so that referencing its first symbol keeps all of it
    // through the linker's garbage collection. Every `.8byte` holds the
    // section's own address: a relocation the dynamic loader applies.
    // `%progbits`, not `@progbits`: `@` starts a comment in some ARM
    // assemblers.
    std::arch::global_asm!(
        ".pushsection .data.double_spawn_bench_pad,\"aw\",%progbits",
        ".p2align 3",
        ".globl double_spawn_bench_pad",
        ".hidden double_spawn_bench_pad",
        "double_spawn_bench_pad:",
        ".rept {pointers}",
        ".8byte double_spawn_bench_pad",
        ".endr",
        ".fill {data}, 1, 0x5a",
        ".popsection",
        pointers = const PAD_POINTERS,
        data = const PAD_DATA,
    );

    extern "C" {
        static double_spawn_bench_pad: [usize; PAD_POINTERS];
    }

    /// Reads one relocated pointer (keeping the padding in the binary) and
    /// describes the padding.
    pub fn describe() -> String {
        let i = std::hint::black_box(PAD_POINTERS - 1);
        // SAFETY: the symbol is the start of `PAD_POINTERS` initialized
        // 8-byte words (the table above), never written after the loader
        // relocated it; reading one is a plain load.
        let (word, start) = unsafe {
            let table = std::ptr::addr_of!(double_spawn_bench_pad);
            ((*table)[i], table as usize)
        };
        assert_eq!(word, start, "the padding's pointers were not relocated");
        format!(
            "padded with {} relocated pointers ({} MiB) and {} MiB of data",
            PAD_POINTERS,
            (PAD_POINTERS * 8) >> 20,
            PAD_DATA >> 20
        )
    }
}

#[cfg(all(
    unix,
    not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))
))]
mod padding {
    pub fn describe() -> String {
        "NOT padded on this target: no larger than the small host".into()
    }
}
