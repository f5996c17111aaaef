//! The floor: the least a stub can do. A static program without a C
//! library whose only work is to unblock SIGTSTP (`rt_sigprocmask`) and
//! `execve` its `argv[1]` with `argv[1..]` and the environment it was
//! given. No protocol, no origin check, no error report beyond an exit
//! code: what remains of a double spawn's cost with this stub is the cost
//! of one more `exec` of a tiny static program, which no stub can beat.
//!
//! Not a module of any crate: the bench package's `build.rs` compiles it
//! with the package's own `rustc` exactly as the crate's `build.rs` builds
//! the embedded stub (`panic=abort`, static, no start files), for x86_64
//! and aarch64 Linux. `benches/latency.rs` starts it from a sealed memfd and
//! from a regular file.

#![no_std]
#![no_main]

use core::arch::{asm, global_asm};

// Hand the initial stack pointer to `entry` with the stack aligned as the
// C ABI wants it at a call.
#[cfg(target_arch = "x86_64")]
global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym entry,
);

#[cfg(target_arch = "aarch64")]
global_asm!(
    ".globl _start",
    ".type _start, %function",
    "_start:",
    "mov x29, xzr",
    "mov x30, xzr",
    "mov x0, sp",
    "bl {entry}",
    "brk #0",
    entry = sym entry,
);

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const RT_SIGPROCMASK: usize = 14;
    pub const EXECVE: usize = 59;
    pub const EXIT_GROUP: usize = 231;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const RT_SIGPROCMASK: usize = 135;
    pub const EXECVE: usize = 221;
    pub const EXIT_GROUP: usize = 94;
}

/// SIGTSTP is 20 on both architectures.
const SIGTSTP: usize = 20;
const SIG_UNBLOCK: usize = 1;

/// A system call with up to four arguments; returns the raw result.
///
/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(target_arch = "x86_64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller's; the kernel clobbers rcx and r11 only.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// A system call with up to four arguments; returns the raw result.
///
/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(target_arch = "aarch64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller's.
    unsafe {
        asm!(
            "svc #0",
            in("x8") n,
            inlateout("x0") a as isize => ret,
            in("x1") b,
            in("x2") c,
            in("x3") d,
            options(nostack),
        );
    }
    ret
}

fn exit_group(code: usize) -> ! {
    // SAFETY: exit_group takes a status and does not return.
    unsafe { syscall4(nr::EXIT_GROUP, code, 0, 0, 0) };
    loop {}
}

/// # Safety
/// `sp` is the stack pointer the kernel started the process with: `argc`,
/// then `argc` pointers and a NULL, then the environment and a NULL.
unsafe extern "C" fn entry(sp: *const usize) -> ! {
    // SAFETY: the kernel's initial stack layout.
    unsafe {
        let argc = *sp;
        if argc < 2 {
            exit_group(125);
        }
        let argv = sp.add(1);
        let envp = argv.add(argc + 1);
        let set: u64 = 1 << (SIGTSTP - 1);
        // Unblock SIGTSTP, which the parent blocked around its spawn: the
        // kernel's sigset is 8 bytes on both architectures.
        syscall4(
            nr::RT_SIGPROCMASK,
            SIG_UNBLOCK,
            &set as *const u64 as usize,
            0,
            8,
        );
        syscall4(nr::EXECVE, *argv.add(1), argv.add(1) as usize, envp as usize, 0);
    }
    exit_group(127)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    exit_group(125)
}

/// The precompiled `core`'s unwind tables name this routine, which a
/// `panic=abort` program never calls (as in the embedded stub).
#[no_mangle]
extern "C" fn rust_eh_personality() {}
