//! The stub protocol: what the parent writes and what every stub reads.
//!
//! There is one protocol, whichever stub runs it (the current executable,
//! or the embedded static stub): this file uses nothing but `core`, so it is
//! compiled into the crate and, unchanged, into the embedded stub.
//!
//! A stub command line looks like this:
//!
//! ```text
//! argv[0]  "double-spawn:<flags>"   spawn-time flags, see `Flags`
//! argv[1]  "__double-spawn-stub-v1" the private subcommand
//! argv[2]  program                  the path (or bare name) to execute
//! argv[3]  argv0                    the target's argv[0]
//! argv[4..]                         the target's arguments, one entry each
//! ```
//!
//! Every target argument travels as its own `argv` entry, so no quoting or
//! escaping is involved and any byte string without NUL survives exactly.
//! Flags live in `argv[0]` because it is the one entry of a command that can
//! be replaced after the command was built (`CommandExt::arg0`): a runner may
//! build a stub-form command long before it is spawned, and what the stub has
//! to undo (the guard's SIGTSTP block, file descriptors the stub's runtime
//! opened, the parent's dispositions of the C library's internal signals) is
//! only known at the moment of the spawn.
//!
//! # The flags
//!
//! `argv[0]` is `double-spawn:` followed by, in this order:
//!
//! - `t`: SIGTSTP was blocked by the guard only; unblock it.
//! - `m`: give the target an empty signal mask, after the SIGTSTP handling
//!   of `t` and `g` (process-wrap's `ResetSigmask`, see `process_wrap`).
//!   Absent: the target keeps the mask the stub was started with (the
//!   spawning thread's, less the guard's SIGTSTP).
//! - `s`: an `exec` that fails with `ENOEXEC` (a script without `#!`, an
//!   empty file) is retried as `/bin/sh FILE ARGS...`, as glibc's `execvp`
//!   does. Set exactly when a direct spawn of the command would have gone
//!   through std's `fork`/`exec` path, whose `execvp` falls back so, on a C
//!   library that does (glibc; not musl, and never `posix_spawnp`): see
//!   `unix::stub_flags`. Absent: no fallback, as `posix_spawn` does.
//! - `0`, `1`, `2`: standard descriptor *n* was closed in the parent (or
//!   close-on-exec), so a direct spawn's target would find it closed; a stub
//!   whose runtime start-up put `/dev/null` there closes it again.
//! - `i` and one octal digit: which of signals 32, 33, 34 (bits 0, 1, 2) the
//!   parent ignores. The stub sets each of the three to ignored or default
//!   accordingly, as a `fork`/`exec` child of the parent would inherit them.
//!   Written only when the direct spawn would have been std's `fork`/`exec`
//!   while the stub is started by `posix_spawn`, whose child has these three
//!   as the C library's `posix_spawn` leaves them, not as the parent has
//!   them (see `unix::stub_flags`). No other disposition is touched.
//!   Absent: the stub leaves the three as it found them, which is what the
//!   direct spawn's child would have had, as both were started the same way.
//! - `e` and a decimal number 1 to 255: the exit code for an `exec` that
//!   fails inside the stub. Absent: [`EXEC_FAILED_DEFAULT`].
//! - `g` and a decimal number 1 to 2147483647: the process group the
//!   spawner was in at the moment of the spawn. A stub that finds itself in
//!   another group (and unblocks SIGTSTP, `t`) discards a pending SIGTSTP
//!   before unblocking it: that stop was sent to the spawner's group while
//!   the child was still in it, and must not follow the child into its own
//!   group (see `stubs::core`, step 4). Absent: nothing is discarded; the
//!   parent leaves it out where the child cannot leave its group (a plain
//!   command without `process_group`, see `unix::stub_flags`).
//!
//! Anything that does not parse yields [`Flags::DEFAULT`]: `argv[0]` is the
//! one entry a caller may have set to anything, and an unknown value must not
//! make the stub close descriptors it was not told to close.
//!
//! # Who the stub obeys
//!
//! A stub acts only when the `exec` that started it was made by a process
//! that already ran the stub's own code: the file name handed to `execve`
//! (the kernel's `AT_EXECFN`) must be the path only such a process can use,
//! see [`trusted_exec_name`]. A shell, `sudo`, a wrapper or any other program
//! replaying the stub's arguments names the binary by its real path and is
//! refused (see `exit_code::REFUSED`).
//!
//! Everything here is pure: it encodes and decodes bytes and spawns nothing.

/// The private subcommand, `argv[1]` of every stub command line.
pub(crate) const MARKER: &str = "__double-spawn-stub-v1";

/// Prefix of the stub's `argv[0]`; the flags follow the colon.
pub(crate) const ARG0_PREFIX: &[u8] = b"double-spawn:";

/// The exit code for a failed `exec` when the parent names none
/// (`exit_code::EXEC_FAILED`).
pub(crate) const EXEC_FAILED_DEFAULT: u8 = 127;

/// The exit code of a stub that refuses to act (`exit_code::REFUSED_PRIVILEGED`).
pub(crate) const REFUSED: u8 = 126;

/// The exit code of a stub whose command line is malformed
/// (`exit_code::USAGE`).
pub(crate) const USAGE: u8 = 125;

/// The path a current-executable stub is executed by (Linux).
pub(crate) const SELF_EXE: &[u8] = b"/proc/self/exe";

/// The prefix of the path an embedded stub is executed by: its memfd in the
/// spawning process, `/proc/self/fd/N`.
pub(crate) const SELF_FD_PREFIX: &[u8] = b"/proc/self/fd/";

/// The C library's internal signals whose dispositions the stub sets.
pub(crate) const INTERNAL_SIGNALS: [i32; 3] = [32, 33, 34];

/// What the stub undoes and restores before it executes the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flags {
    /// SIGTSTP, SIGTTIN and SIGTTOU (`t`, `u`, `o`; the order of
    /// `Sys::STOP_SIGNALS`), each where the guard alone blocked it: unblock
    /// it in the stub. A terminal sends all three to a whole background
    /// process group, so any can reach a child between `clone` and `exec`
    /// (see `stubs::core`, step 4).
    pub(crate) unblock_stops: [bool; 3],
    /// Give the target an empty signal mask (after the SIGTSTP handling).
    pub(crate) reset_mask: bool,
    /// On `ENOEXEC`, run the file with `/bin/sh` as glibc's `execvp` does.
    pub(crate) sh_fallback: bool,
    /// Standard descriptor `i` was closed in the parent and inherited, so the
    /// target of a direct spawn would find it closed. The stub's runtime puts
    /// `/dev/null` there at start-up; the stub closes it again.
    pub(crate) close_std: [bool; 3],
    /// Signal `INTERNAL_SIGNALS[i]` is ignored in the parent; `None`: leave
    /// the three as the stub found them.
    pub(crate) ignored_internal: Option<[bool; 3]>,
    /// The stub's exit code when the target's `exec` fails.
    pub(crate) exec_failed: u8,
    /// The spawner's process group at the moment of the spawn (`getpgrp()`
    /// under the guard); `None` when unknown (a stub-form command spawned
    /// by a plain `spawn()`), and then nothing is discarded.
    pub(crate) spawner_pgid: Option<i32>,
}

/// The letters of `Flags::unblock_stops`, in its order (`Flags::parse`
/// matches the same three).
const STOP_LETTERS: [u8; 3] = [b't', b'u', b'o'];

/// The longest `argv[0]` `Flags::to_arg0` writes:
/// `double-spawn:` `tuo` `m` `s` `012` `i7` `e255` `g2147483647`.
const ARG0_MAX: usize = ARG0_PREFIX.len() + 5 + 3 + 2 + 4 + 11;

/// An encoded `argv[0]`, built without allocating.
#[derive(Clone, Copy)]
pub(crate) struct Arg0 {
    buf: [u8; ARG0_MAX],
    len: usize,
}

impl Arg0 {
    /// The encoded flags.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is ever written, so this cannot fail.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }
}

impl core::fmt::Debug for Arg0 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Flags {
    /// The flags a stub-form command carries from the moment it is built,
    /// and what a stub assumes for an `argv[0]` it cannot read.
    pub(crate) const DEFAULT: Flags = Flags {
        unblock_stops: [true, false, false],
        reset_mask: false,
        sh_fallback: false,
        close_std: [false; 3],
        ignored_internal: None,
        exec_failed: EXEC_FAILED_DEFAULT,
        spawner_pgid: None,
    };

    /// Encodes the flags as the stub's `argv[0]`.
    pub(crate) fn to_arg0(self) -> Arg0 {
        let mut out = Arg0 {
            buf: [0; ARG0_MAX],
            len: 0,
        };
        for &b in ARG0_PREFIX {
            out.push(b);
        }
        for (letter, unblock) in STOP_LETTERS.into_iter().zip(self.unblock_stops) {
            if unblock {
                out.push(letter);
            }
        }
        if self.reset_mask {
            out.push(b'm');
        }
        if self.sh_fallback {
            out.push(b's');
        }
        for (i, close) in (0u8..).zip(self.close_std) {
            if close {
                out.push(b'0' + i);
            }
        }
        if let Some(ignored) = self.ignored_internal {
            let mask = (0u8..)
                .zip(ignored)
                .fold(0u8, |m, (i, ignored)| m | (u8::from(ignored) << i));
            out.push(b'i');
            out.push(b'0' + mask);
        }
        let code = if self.exec_failed == 0 {
            EXEC_FAILED_DEFAULT
        } else {
            self.exec_failed
        };
        if code != EXEC_FAILED_DEFAULT {
            out.push(b'e');
            for &d in decimal(u32::from(code), &mut [0; 10]) {
                out.push(d);
            }
        }
        if let Some(pgid) = self.spawner_pgid.filter(|&p| p > 0) {
            out.push(b'g');
            for &d in decimal(pgid.unsigned_abs(), &mut [0; 10]) {
                out.push(d);
            }
        }
        out
    }

    /// Decodes the stub's `argv[0]`; anything unexpected yields
    /// [`Flags::DEFAULT`].
    pub(crate) fn from_arg0(arg0: &[u8]) -> Flags {
        Flags::parse(arg0).unwrap_or(Flags::DEFAULT)
    }

    fn parse(arg0: &[u8]) -> Option<Flags> {
        let mut rest = arg0.strip_prefix(ARG0_PREFIX)?;
        let mut flags = Flags {
            unblock_stops: [false; 3],
            reset_mask: false,
            sh_fallback: false,
            close_std: [false; 3],
            ignored_internal: None,
            exec_failed: EXEC_FAILED_DEFAULT,
            spawner_pgid: None,
        };
        while let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            match b {
                b't' => flags.unblock_stops[0] = true,
                b'u' => flags.unblock_stops[1] = true,
                b'o' => flags.unblock_stops[2] = true,
                b'm' => flags.reset_mask = true,
                b's' => flags.sh_fallback = true,
                b'0'..=b'2' => flags.close_std[usize::from(b - b'0')] = true,
                b'i' => {
                    let (&m, tail) = rest.split_first()?;
                    rest = tail;
                    if !(b'0'..=b'7').contains(&m) {
                        return None;
                    }
                    let mut ignored = [false; 3];
                    for (i, ignored) in ignored.iter_mut().enumerate() {
                        *ignored = (m - b'0') & (1 << i) != 0;
                    }
                    flags.ignored_internal = Some(ignored);
                }
                b'e' => {
                    let digits = rest.iter().take_while(|d| d.is_ascii_digit()).count();
                    if digits == 0 || digits > 3 {
                        return None;
                    }
                    let code = rest[..digits]
                        .iter()
                        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                    rest = &rest[digits..];
                    flags.exec_failed = u8::try_from(code).ok().filter(|&c| c != 0)?;
                }
                b'g' => {
                    let digits = rest.iter().take_while(|d| d.is_ascii_digit()).count();
                    if digits == 0 || digits > 10 {
                        return None;
                    }
                    let pgid = rest[..digits]
                        .iter()
                        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
                    rest = &rest[digits..];
                    flags.spawner_pgid = Some(i32::try_from(pgid).ok().filter(|&p| p > 0)?);
                }
                _ => return None,
            }
        }
        Some(flags)
    }
}

/// Which stub is running the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StubKind {
    /// The current executable, started by the path `/proc/self/exe`.
    CurrentExe,
    /// The embedded static stub, started from its memfd by
    /// `/proc/self/fd/N`.
    #[allow(dead_code)] // read by the embedded stub's own build
    Embedded,
}

/// Whether the file name the stub's `execve` was given (`AT_EXECFN`) proves
/// that the process which made that `execve` already ran the stub's code.
///
/// `/proc/self/exe` names the executable of the process that opens it, so a
/// process that `execve`s it starts *its own* executable again: only code
/// inside this binary can start a current-executable stub by that name, and
/// the kernel resolves it at the moment of the `execve`, so nothing the
/// spawner does afterwards (exit, `exec` another program) matters. Anyone
/// else (a shell, `sudo`, a wrapper) names the binary by its real path. The
/// embedded stub has no path outside the spawning process at all: it lives
/// in a memfd and is started as `/proc/self/fd/N`.
pub(crate) fn trusted_exec_name(kind: StubKind, exec_name: &[u8]) -> bool {
    match kind {
        StubKind::CurrentExe => exec_name == SELF_EXE,
        StubKind::Embedded => exec_name
            .strip_prefix(SELF_FD_PREFIX)
            .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit)),
    }
}

/// Why a command line that names the stub cannot be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Fewer than the four fixed entries.
    TooFewArguments,
    /// The program entry is empty: there is nothing to execute.
    EmptyProgram,
}

/// Returns true when `arg1` (the process's `argv[1]`) asks it to act as a
/// stub.
pub(crate) fn is_marker(arg1: &[u8]) -> bool {
    arg1 == MARKER.as_bytes()
}

/// Checks the shape of a stub command line of `argc` entries whose
/// `argv[1]` is the marker and whose `argv[2]` (empty when absent) is
/// `program`: the four fixed entries are there and there is a program.
pub(crate) fn check_shape(argc: usize, program: &[u8]) -> Result<(), Malformed> {
    if argc < 4 {
        return Err(Malformed::TooFewArguments);
    }
    if program.is_empty() {
        return Err(Malformed::EmptyProgram);
    }
    Ok(())
}

/// `n` in decimal, written into the end of `buf`; returns the digits. It
/// allocates nothing, so the stubs use it too (an errno in a message).
pub(crate) fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_needs_four_entries_and_a_program() {
        assert_eq!(check_shape(4, b"/bin/prog"), Ok(()));
        assert_eq!(check_shape(9, b"prog"), Ok(()));
        assert_eq!(
            check_shape(3, b"/bin/true"),
            Err(Malformed::TooFewArguments)
        );
        assert_eq!(check_shape(2, b""), Err(Malformed::TooFewArguments));
        assert_eq!(check_shape(4, b""), Err(Malformed::EmptyProgram));
    }

    #[test]
    fn marker_is_exact() {
        assert!(is_marker(MARKER.as_bytes()));
        assert!(!is_marker(b"__double-spawn-stub-v"));
        assert!(!is_marker(b""));
    }

    fn all_flags() -> impl Iterator<Item = Flags> {
        (0u32..1 << 12).flat_map(|bits| {
            [1u8, 9, 10, 70, 99, 100, 127, 255]
                .into_iter()
                .flat_map(move |code| {
                    [
                        None,
                        Some(1),
                        Some(9),
                        Some(10),
                        Some(4_194_304),
                        Some(i32::MAX),
                    ]
                    .map(move |pgid| Flags {
                        unblock_stops: [bits & 1 != 0, bits & 1024 != 0, bits & 2048 != 0],
                        close_std: [bits & 2 != 0, bits & 4 != 0, bits & 8 != 0],
                        ignored_internal: (bits & 512 != 0).then_some([
                            bits & 16 != 0,
                            bits & 32 != 0,
                            bits & 64 != 0,
                        ]),
                        reset_mask: bits & 128 != 0,
                        sh_fallback: bits & 256 != 0,
                        exec_failed: code,
                        spawner_pgid: pgid,
                    })
                })
        })
    }

    #[test]
    fn every_flag_combination_round_trips() {
        for flags in all_flags() {
            let arg0 = flags.to_arg0();
            assert_eq!(
                Flags::from_arg0(arg0.as_str().as_bytes()),
                flags,
                "{arg0:?}"
            );
        }
    }

    #[test]
    fn encoding_is_short_and_stable() {
        assert_eq!(Flags::DEFAULT.to_arg0().as_str(), "double-spawn:t");
        let flags = Flags {
            unblock_stops: [true; 3],
            reset_mask: false,
            sh_fallback: true,
            close_std: [true, false, true],
            ignored_internal: Some([true, true, false]),
            exec_failed: 70,
            spawner_pgid: Some(4321),
        };
        assert_eq!(flags.to_arg0().as_str(), "double-spawn:tuos02i3e70g4321");
        let longest = Flags {
            unblock_stops: [true; 3],
            reset_mask: true,
            sh_fallback: true,
            close_std: [true; 3],
            ignored_internal: Some([true; 3]),
            exec_failed: 255,
            spawner_pgid: Some(i32::MAX),
        };
        assert_eq!(
            longest.to_arg0().as_str(),
            "double-spawn:tuoms012i7e255g2147483647"
        );
        assert_eq!(longest.to_arg0().as_str().len(), ARG0_MAX);
        // No group is known, or none that getpgrp can return: nothing written.
        for pgid in [None, Some(0), Some(-5)] {
            let flags = Flags {
                spawner_pgid: pgid,
                ..Flags::DEFAULT
            };
            assert_eq!(flags.to_arg0().as_str(), "double-spawn:t");
        }
        // The three internal signals: absent (left alone) and all default
        // are two different things.
        let default_internal = Flags {
            ignored_internal: Some([false; 3]),
            ..Flags::DEFAULT
        };
        assert_eq!(default_internal.to_arg0().as_str(), "double-spawn:ti0");
        assert_eq!(Flags::from_arg0(b"double-spawn:t").ignored_internal, None);
        // Zero is no failure code: it is written as the default.
        let zero = Flags {
            exec_failed: 0,
            ..Flags::DEFAULT
        };
        assert_eq!(zero.to_arg0().as_str(), "double-spawn:t");
    }

    #[test]
    fn anything_unexpected_is_the_default() {
        for bad in [
            &b""[..],
            b"make",
            b"double-spawn",
            b"double-spawn:x",
            b"double-spawn:t3",
            b"double-spawn:i",
            b"double-spawn:i8",
            b"double-spawn:e",
            b"double-spawn:e0",
            b"double-spawn:e256",
            b"double-spawn:e1000",
            b"double-spawn:tex",
            b"double-spawn:g",
            b"double-spawn:g0",
            b"double-spawn:g2147483648",
            b"double-spawn:g12345678901",
            b"double-spawn:tgx",
            b"double-spawn:S",
            b"double-spawn:M",
            b"double-spawn:tm3",
        ] {
            assert_eq!(Flags::from_arg0(bad), Flags::DEFAULT, "{bad:?}");
        }
        let none = Flags::from_arg0(b"double-spawn:");
        assert_eq!(none.unblock_stops, [false; 3]);
        assert_eq!(none.exec_failed, EXEC_FAILED_DEFAULT);
        assert_eq!(none.spawner_pgid, None);
        assert!(!none.reset_mask && !none.sh_fallback);
        // Each letter alone, and in any order.
        let ms = Flags::from_arg0(b"double-spawn:sm");
        assert!(ms.reset_mask && ms.sh_fallback && ms.unblock_stops == [false; 3]);
        assert_eq!(
            Flags::from_arg0(b"double-spawn:m").to_arg0().as_str(),
            "double-spawn:m"
        );
        assert_eq!(
            Flags::from_arg0(b"double-spawn:s").to_arg0().as_str(),
            "double-spawn:s"
        );
    }

    #[test]
    fn only_the_in_process_names_are_trusted() {
        use StubKind::*;
        assert!(trusted_exec_name(CurrentExe, b"/proc/self/exe"));
        for other in [
            &b"/usr/bin/tool"[..],
            b"./tool",
            b"tool",
            b"/proc/1/exe",
            b"/proc/self/exe/",
            b"/proc/self/fd/3",
            b"",
        ] {
            assert!(!trusted_exec_name(CurrentExe, other), "{other:?}");
        }
        assert!(trusted_exec_name(Embedded, b"/proc/self/fd/3"));
        assert!(trusted_exec_name(Embedded, b"/proc/self/fd/1023"));
        for other in [
            &b"/proc/self/fd/"[..],
            b"/proc/self/fd/3/x",
            b"/proc/self/exe",
            b"/proc/42/fd/3",
            b"/dev/fd/3",
        ] {
            assert!(!trusted_exec_name(Embedded, other), "{other:?}");
        }
    }
}
