//! Exit codes of the stub.
//!
//! The stub is the current executable acting on the private command line
//! `double-spawn` gives it. It normally replaces itself with the target and
//! never exits on its own; when it cannot, it prints one line to stderr
//! (the target's stderr) and exits with one of these codes. A direct spawn
//! would have returned an error from `spawn()` instead; the parent checks
//! everything it can check before it starts the stub (missing, non-executable
//! or directory programs, a missing working directory, NUL bytes), so these
//! codes only appear for failures that exist nowhere but inside the child:
//! an `exec` that fails after the checks passed (`ENOEXEC` for a script
//! without `#!`, `ETXTBSY`, a file removed in between), and stub-form
//! commands, whose program the stub looks up itself.
//!
//! The values follow the shell's conventions so that tools which already
//! read 126/127 as "could not run the program" keep doing so. A runner that
//! must tell "the stub could not execute the program" from "the program
//! exited with 127" chooses its own code for the first with
//! [`DoubleSpawn::exec_failure_code`](crate::DoubleSpawn::exec_failure_code);
//! the code travels to the stub in its command line.
//!
//! ```
//! use double_spawn::exit_code;
//! assert_eq!(
//!     (exit_code::EXEC_FAILED, exit_code::REFUSED_PRIVILEGED, exit_code::USAGE),
//!     (127, 126, 125)
//! );
//! ```

/// 127: `exec` of the target failed inside the stub; stderr names the program,
/// the working directory and the OS error. The default of
/// [`DoubleSpawn::exec_failure_code`](crate::DoubleSpawn::exec_failure_code).
pub const EXEC_FAILED: i32 = crate::protocol::EXEC_FAILED_DEFAULT as i32;

/// 126: the stub refused to act: it was not started by a double spawn of this
/// very executable (someone replayed its arguments: a shell, `sudo`, a
/// wrapper), or the executable runs with elevated privileges (setuid, setgid
/// or file capabilities; `AT_SECURE`). The target is never executed. See the
/// crate docs, "Security".
pub const REFUSED_PRIVILEGED: i32 = crate::protocol::REFUSED as i32;

/// 125: the stub's private command line was malformed (too few arguments, or no
/// program). Only a process of the same executable can get this far (see
/// [`REFUSED_PRIVILEGED`]).
pub const USAGE: i32 = crate::protocol::USAGE as i32;
