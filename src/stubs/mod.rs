//! The stubs: the programs a double spawn starts in place of the target,
//! which restore the child's state and `exec` the target.
//!
//! There is one protocol (`crate::protocol`) and one algorithm (`core`),
//! run by two stubs:
//!
//! - `current_exe`: this executable, started as `/proc/self/exe`. Always
//!   available where the crate is linked into the main executable and the
//!   binary is not privileged; it costs one `exec` of this binary, which
//!   grows with its size (dynamic loading, relocations).
//! - the embedded stub (`embedded/main.rs`): a static executable of a few
//!   KB without a C library, compiled by `build.rs` from the same two files
//!   and loaded into a sealed memfd by `unix::loader`. Opt-in; see there
//!   for why.
//!
//! `embedded/main.rs` is not a module of this crate: `build.rs` compiles it
//! into its own binary, whose bytes are [`EMBEDDED`].

pub(crate) mod core;
pub(crate) mod current_exe;

/// The embedded stub's executable, built by `build.rs` for this target
/// (x86_64 and aarch64 Linux; never on docs.rs, never when its build
/// failed: then `cfg(double_spawn_embedded)` is not set).
#[cfg(double_spawn_embedded)]
pub(crate) const EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/double-spawn-stub"));
