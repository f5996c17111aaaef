//! The embedded stub: a static Linux executable of a few KB, without a C
//! library, that runs the one stub algorithm (`../core.rs`) on the one
//! protocol (`../../protocol.rs`).
//!
//! This file is not a module of the `double-spawn` crate: `build.rs`
//! compiles it with the crate's own `rustc` for the crate's target (x86_64
//! or aarch64 Linux), `panic=abort`, optimised for size, linked statically
//! with no start files and no libraries, and the crate embeds the result
//! (`stubs::EMBEDDED`). `unix::loader` puts it in a sealed memfd once per
//! process and spawns it as `/proc/self/fd/N`.
//!
//! Why so small a program: a double spawn pays for one more `exec`, and the
//! cost of an `exec` is mostly the executable's own start-up (mapping and
//! relocating a dynamically linked binary, the C library's and std's
//! initialisation). This one has a `_start` written in assembly that hands
//! the initial stack to Rust, a few raw system calls, and nothing else: the
//! kernel maps two or three pages and jumps in.
//!
//! The process starts with the stack the kernel built: `argc`, the `argv`
//! pointers and a NULL, the `envp` pointers and a NULL, then the auxiliary
//! vector (pairs of key and value, ending with `AT_NULL`), where the kernel
//! records the name `execve` was given (`AT_EXECFN`), which the origin check
//! reads.

#![no_std]
#![no_main]
// The memory functions below are written as loops; without this LLVM would
// recognise the loops and compile them into calls to themselves.
#![no_builtins]

#[allow(dead_code)] // the parent's half of the protocol is not used here
#[path = "../../protocol.rs"]
mod protocol;

#[allow(dead_code)] // the tables and impls for other platforms
#[path = "../core.rs"]
mod algorithm;

use core::arch::{asm, global_asm};
use core::ffi::c_char;

use algorithm::{Errno, KernelSigaction, Startup, Sys, KERNEL_SIGSET_SIZE};
use protocol::StubKind;

// The entry point: pass the initial stack pointer to `entry` with a zeroed
// frame pointer and return address (the end of the frame chain) and the
// stack aligned as the C ABI wants it at a call.
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

/// Reads `argc`, `argv`, `envp` and the auxiliary vector from the initial
/// stack and runs the stub.
///
/// # Safety
/// `sp` is the stack pointer the kernel started the process with.
unsafe extern "C" fn entry(sp: *const usize) -> ! {
    // SAFETY: the kernel's initial stack layout (see the module docs): every
    // read below stays within the arrays it wrote, each ending with a zero.
    unsafe {
        let argc = *sp;
        let argv = sp.add(1).cast::<*const c_char>();
        let envp = argv.add(argc + 1);
        let mut end = envp;
        while !(*end).is_null() {
            end = end.add(1);
        }
        let mut sys = Raw {
            auxv: end.add(1).cast::<usize>(),
        };
        algorithm::run(
            &mut sys,
            StubKind::Embedded,
            Startup::BeforeRuntime,
            argc,
            // The kernel's initial stack is writable.
            argv.cast_mut(),
            envp,
        )
    }
}

/// A panic (an out-of-bounds index the optimiser could not rule out) ends
/// the stub as a malformed command line would.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    exit_group(125)
}

// What the C library would provide: the compiler emits calls to these for
// copies, fills and comparisons (`copy_from_slice`, zeroed buffers, slice
// equality, `strlen`-shaped loops), and the precompiled `core` refers to the
// personality routine from its unwind tables, which a `panic=abort` program
// never uses.

/// # Safety
/// As C's `memcpy`.
#[no_mangle]
unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller passes `n` readable and `n` writable bytes.
    unsafe {
        for i in 0..n {
            *dest.add(i) = *src.add(i);
        }
    }
    dest
}

/// # Safety
/// As C's `memmove`.
#[no_mangle]
unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: as memcpy; the copy runs in the direction that reads every
    // byte before it is overwritten.
    unsafe {
        if (dest as usize) <= (src as usize) {
            for i in 0..n {
                *dest.add(i) = *src.add(i);
            }
        } else {
            for i in (0..n).rev() {
                *dest.add(i) = *src.add(i);
            }
        }
    }
    dest
}

/// # Safety
/// As C's `memset`.
#[no_mangle]
unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller passes `n` writable bytes.
    unsafe {
        for i in 0..n {
            *dest.add(i) = c as u8;
        }
    }
    dest
}

/// # Safety
/// As C's `memcmp`.
#[no_mangle]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller passes `n` readable bytes at each.
    unsafe {
        for i in 0..n {
            let (x, y) = (*a.add(i), *b.add(i));
            if x != y {
                return i32::from(x) - i32::from(y);
            }
        }
    }
    0
}

/// # Safety
/// As C's `bcmp`.
#[no_mangle]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// # Safety
/// As C's `strlen`.
#[no_mangle]
unsafe extern "C" fn strlen(s: *const c_char) -> usize {
    let mut n = 0;
    // SAFETY: the caller passes a NUL-terminated string.
    unsafe {
        while *s.add(n) != 0 {
            n += 1;
        }
    }
    n
}

/// Never called: `panic=abort`.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

/// System call numbers.
#[cfg(target_arch = "x86_64")]
mod nr {
    pub(crate) const WRITE: usize = 1;
    pub(crate) const CLOSE: usize = 3;
    pub(crate) const FSTAT: usize = 5;
    pub(crate) const RT_SIGACTION: usize = 13;
    pub(crate) const RT_SIGPROCMASK: usize = 14;
    pub(crate) const RT_SIGPENDING: usize = 127;
    pub(crate) const EXECVE: usize = 59;
    pub(crate) const FCNTL: usize = 72;
    pub(crate) const GETPGID: usize = 121;
    pub(crate) const GETCWD: usize = 79;
    pub(crate) const EXIT_GROUP: usize = 231;
}

/// System call numbers (the generic table).
#[cfg(target_arch = "aarch64")]
mod nr {
    pub(crate) const GETCWD: usize = 17;
    pub(crate) const FCNTL: usize = 25;
    pub(crate) const CLOSE: usize = 57;
    pub(crate) const WRITE: usize = 64;
    pub(crate) const FSTAT: usize = 80;
    pub(crate) const EXIT_GROUP: usize = 94;
    pub(crate) const RT_SIGACTION: usize = 134;
    pub(crate) const RT_SIGPROCMASK: usize = 135;
    pub(crate) const RT_SIGPENDING: usize = 136;
    pub(crate) const GETPGID: usize = 155;
    pub(crate) const EXECVE: usize = 221;
}

/// A system call with up to four arguments; returns the kernel's result,
/// `-errno` on failure.
///
/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(target_arch = "x86_64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the x86_64 Linux system call convention; the kernel clobbers
    // rcx and r11 and touches no stack of ours. Memory effects are the
    // caller's to justify.
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

/// A system call with up to four arguments; returns the kernel's result,
/// `-errno` on failure.
///
/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(target_arch = "aarch64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the aarch64 Linux system call convention; the kernel preserves
    // every register but x0. Memory effects are the caller's to justify.
    unsafe {
        asm!(
            "svc 0",
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

fn exit_group(code: i32) -> ! {
    loop {
        // SAFETY: exit_group takes a number and does not return.
        unsafe { syscall4(nr::EXIT_GROUP, code as usize, 0, 0, 0) };
    }
}


/// `fstat`'s `struct stat`: the offsets of `st_mode` and `st_rdev` differ
/// between x86_64 (144 bytes) and the generic layout of aarch64 (128).
#[cfg(target_arch = "x86_64")]
const STAT_MODE_RDEV: (usize, usize) = (24, 40);
#[cfg(target_arch = "aarch64")]
const STAT_MODE_RDEV: (usize, usize) = (16, 32);

const AT_NULL: usize = 0;
const AT_SECURE: usize = 23;
const AT_EXECFN: usize = 31;

/// The stub's raw operations: system calls, and the auxiliary vector.
struct Raw {
    auxv: *const usize,
}

impl Raw {
    /// The value of `key` in the auxiliary vector.
    fn aux(&self, key: usize) -> Option<usize> {
        let mut p = self.auxv;
        // SAFETY: the vector is a sequence of (key, value) pairs ending with
        // AT_NULL, written by the kernel on the initial stack.
        unsafe {
            loop {
                match *p {
                    AT_NULL => return None,
                    k if k == key => return Some(*p.add(1)),
                    _ => p = p.add(2),
                }
            }
        }
    }
}

/// The kernel signal set of those of `Sys::STOP_SIGNALS` that `which`
/// marks.
fn stop_set(which: [bool; 3]) -> u64 {
    <Raw as Sys>::STOP_SIGNALS
        .into_iter()
        .zip(which)
        .filter(|&(_, on)| on)
        .fold(0, |set, (sig, _)| set | 1 << (sig - 1))
}

impl Sys for Raw {
    const SIGPIPE: i32 = 13;
    // SIGTSTP, SIGTTIN, SIGTTOU (the same on x86_64 and aarch64).
    const STOP_SIGNALS: [i32; 3] = [20, 21, 22];
    const INTERNAL_SIGNALS: bool = true;
    const ERRNO: Errno = Errno::LINUX;

    fn exec_name(&self) -> Option<&[u8]> {
        let name = self.aux(AT_EXECFN).unwrap_or(0) as *const u8;
        if name.is_null() {
            return Some(&[]);
        }
        let mut len = 0;
        // SAFETY: AT_EXECFN is the address of a NUL-terminated string on the
        // initial stack, alive for the life of the process.
        unsafe {
            while *name.add(len) != 0 {
                len += 1;
            }
            Some(core::slice::from_raw_parts(name, len))
        }
    }

    fn secure(&self) -> bool {
        self.aux(AT_SECURE).is_some_and(|v| v != 0)
    }

    fn write_stderr(&mut self, mut bytes: &[u8]) {
        const EINTR: isize = -4;
        while !bytes.is_empty() {
            // SAFETY: writes from a valid buffer of `bytes.len()` bytes.
            let n = unsafe { syscall4(nr::WRITE, 2, bytes.as_ptr() as usize, bytes.len(), 0) };
            match n {
                EINTR => {}
                n if n > 0 => bytes = &bytes[(n as usize).min(bytes.len())..],
                _ => return,
            }
        }
    }

    fn exit(&mut self, code: i32) -> ! {
        exit_group(code)
    }

    fn set_disposition(&mut self, sig: i32, ignore: bool) {
        let action = KernelSigaction::new(ignore);
        // SAFETY: `action` is a valid kernel sigaction installing SIG_IGN or
        // SIG_DFL (no code runs on delivery).
        unsafe {
            syscall4(
                nr::RT_SIGACTION,
                sig as usize,
                &action as *const KernelSigaction as usize,
                0,
                KERNEL_SIGSET_SIZE,
            )
        };
    }

    fn unblock(&mut self, which: [bool; 3]) {
        const SIG_UNBLOCK: usize = 1;
        let set = stop_set(which);
        // SAFETY: reads one 64-bit signal set; no old set is returned.
        unsafe {
            syscall4(
                nr::RT_SIGPROCMASK,
                SIG_UNBLOCK,
                &set as *const u64 as usize,
                0,
                KERNEL_SIGSET_SIZE,
            )
        };
    }

    fn clear_signal_mask(&mut self) {
        const SIG_SETMASK: usize = 2;
        let set: u64 = 0;
        // SAFETY: reads one 64-bit signal set; no old set is returned.
        unsafe {
            syscall4(
                nr::RT_SIGPROCMASK,
                SIG_SETMASK,
                &set as *const u64 as usize,
                0,
                KERNEL_SIGSET_SIZE,
            )
        };
    }

    fn process_group(&mut self) -> i32 {
        // getpgid(0): aarch64 has no getpgrp system call.
        // SAFETY: takes a number and touches no memory.
        unsafe { syscall4(nr::GETPGID, 0, 0, 0, 0) as i32 }
    }

    fn pending_stops(&mut self) -> [bool; 3] {
        let mut set: u64 = 0;
        // SAFETY: writes one 64-bit signal set into `set`.
        let rc = unsafe {
            syscall4(
                nr::RT_SIGPENDING,
                &mut set as *mut u64 as usize,
                KERNEL_SIGSET_SIZE,
                0,
                0,
            )
        };
        if rc != 0 {
            return [false; 3];
        }
        Self::STOP_SIGNALS.map(|sig| set & (1 << (sig - 1)) != 0)
    }

    fn discard_pending(&mut self, sig: i32) {
        let ignore = KernelSigaction::new(true);
        let mut old = KernelSigaction::new(false);
        // SAFETY: `ignore` is a valid kernel sigaction holding SIG_IGN (no
        // code runs on delivery); `old` is a properly sized out-parameter.
        let rc = unsafe {
            syscall4(
                nr::RT_SIGACTION,
                sig as usize,
                &ignore as *const KernelSigaction as usize,
                &mut old as *mut KernelSigaction as usize,
                KERNEL_SIGSET_SIZE,
            )
        };
        if rc == 0 {
            // SAFETY: `old` is the action the kernel just returned; putting
            // it back installs no new code.
            unsafe {
                syscall4(
                    nr::RT_SIGACTION,
                    sig as usize,
                    &old as *const KernelSigaction as usize,
                    0,
                    KERNEL_SIGSET_SIZE,
                )
            };
        }
    }

    fn status_flags(&mut self, fd: i32) -> Option<i32> {
        const F_GETFL: usize = 3;
        // SAFETY: F_GETFL on a descriptor number only reads kernel state.
        let fl = unsafe { syscall4(nr::FCNTL, fd as usize, F_GETFL, 0, 0) };
        (fl >= 0).then_some(fl as i32)
    }

    fn is_null_device(&mut self, fd: i32) -> bool {
        const S_IFMT: u32 = 0o170000;
        const S_IFCHR: u32 = 0o020000;
        let mut st = [0u64; 18];
        // SAFETY: fstat fills at most 144 bytes, the size of `st`.
        let rc = unsafe { syscall4(nr::FSTAT, fd as usize, st.as_mut_ptr() as usize, 0, 0) };
        let (mode_at, rdev_at) = STAT_MODE_RDEV;
        let mode = (st[mode_at / 8] >> (mode_at % 8 * 8)) as u32;
        let rdev = st[rdev_at / 8];
        rc == 0 && mode & S_IFMT == S_IFCHR && rdev == 0x103 // makedev(1, 3)
    }

    fn close(&mut self, fd: i32) {
        // SAFETY: the algorithm closes only a descriptor it was told to.
        unsafe { syscall4(nr::CLOSE, fd as usize, 0, 0, 0) };
    }

    unsafe fn execve(
        &mut self,
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> i32 {
        // SAFETY: the caller passes NUL-terminated `path` and NULL-terminated
        // `argv`/`envp`; execve returns only on failure.
        let rc =
            unsafe { syscall4(nr::EXECVE, path as usize, argv as usize, envp as usize, 0) };
        -(rc as i32)
    }

    fn getcwd(&mut self, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: getcwd writes at most `buf.len()` bytes; it returns the
        // length including the NUL.
        let n = unsafe { syscall4(nr::GETCWD, buf.as_mut_ptr() as usize, buf.len(), 0, 0) };
        (n > 0).then(|| n as usize - 1)
    }

    fn error_message(&self, errno: i32) -> Option<&[u8]> {
        algorithm::linux_error_message(errno)
    }
}
