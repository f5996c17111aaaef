//! The stub's command line: what the parent writes and what the stub reads.
//!
//! A stub command line looks like this (`argv` of the current executable):
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
//! opened) is only known at the moment of the spawn.
//!
//! Everything here is pure: it encodes and decodes bytes and spawns nothing.

use std::ffi::OsStr;

/// The private subcommand that turns `init()` into the stub.
pub(crate) const MARKER: &str = "__double-spawn-stub-v1";

/// Prefix of the stub's `argv[0]`; the flags follow the colon.
const ARG0_PREFIX: &[u8] = b"double-spawn:";

/// What the stub undoes before it executes the target.
///
/// Parsed from the stub's `argv[0]`. A stub started without a recognisable
/// `argv[0]` (someone spawned a stub-form command by hand) gets the default,
/// which is what a guarded spawn from a thread that did not block SIGTSTP
/// needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    /// SIGTSTP was blocked by the guard only: unblock it in the stub.
    pub(crate) unblock_tstp: bool,
    /// Standard descriptor `i` was closed in the parent and inherited, so the
    /// target of a direct spawn would find it closed. The stub's runtime puts
    /// `/dev/null` there at start-up; the stub closes it again.
    pub(crate) close_std: [bool; 3],
}

impl Flags {
    /// The flags a stub-form command carries from the moment it is built.
    pub(crate) const DEFAULT: Flags = Flags {
        unblock_tstp: true,
        close_std: [false; 3],
    };

    /// Encodes the flags as the stub's `argv[0]`.
    pub(crate) fn to_arg0(self) -> String {
        let mut s = String::from_utf8(ARG0_PREFIX.to_vec()).expect("ASCII prefix");
        if self.unblock_tstp {
            s.push('t');
        }
        for (i, close) in self.close_std.iter().enumerate() {
            if *close {
                s.push(char::from(b'0' + i as u8));
            }
        }
        s
    }

    /// Decodes the stub's `argv[0]`.
    ///
    /// Anything that is not exactly a prefix followed by known flag letters
    /// yields `Flags::DEFAULT`: `argv[0]` is the one entry a caller may have
    /// set to anything, and an unknown value must not make the stub close
    /// descriptors it was not told to close.
    pub(crate) fn from_arg0(arg0: &[u8]) -> Flags {
        let Some(rest) = arg0.strip_prefix(ARG0_PREFIX) else {
            return Flags::DEFAULT;
        };
        let mut flags = Flags {
            unblock_tstp: false,
            close_std: [false; 3],
        };
        for &b in rest {
            match b {
                b't' => flags.unblock_tstp = true,
                b'0'..=b'2' => flags.close_std[usize::from(b - b'0')] = true,
                _ => return Flags::DEFAULT,
            }
        }
        flags
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

/// Returns true when `argv` asks this process to act as the stub.
pub(crate) fn is_stub_invocation<T: AsRef<OsStr>>(argv: &[T]) -> bool {
    argv.get(1)
        .is_some_and(|a| a.as_ref() == OsStr::new(MARKER))
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
    fn marker_must_be_the_first_argument() {
        assert!(is_stub_invocation(&["x", MARKER]));
        assert!(!is_stub_invocation(&["x"]));
        assert!(!is_stub_invocation(&["x", "y", MARKER]));
        assert!(!is_stub_invocation(&[MARKER]));
    }
}
