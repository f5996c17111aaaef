//! The non-Unix implementation: every spawn is a direct spawn.
//!
//! Only Unix has SIGTSTP and a `posix_spawn` that can be stopped before it
//! returns, so there is nothing to protect against; the crate compiles and
//! behaves exactly like the plain `spawn()` it replaces.

use std::ffi::OsStr;
use std::io;
use std::marker::PhantomData;
use std::process::Command;

use crate::config::DoubleSpawn;
use crate::route::{DirectReason, Route};

pub(crate) fn init() {}

pub(crate) fn route(config: &DoubleSpawn) -> Route {
    Route::Direct(if config.is_enabled() {
        DirectReason::Unsupported
    } else {
        config.disabled_reason()
    })
}

pub(crate) fn command_route(_cmd: &Command, config: &DoubleSpawn) -> Route {
    route(config)
}

pub(crate) fn is_too_long(_err: &io::Error) -> bool {
    false
}

/// A copy of `cmd`: its program, arguments, environment and working
/// directory (std shows nothing else of a command here).
pub(crate) fn plain_command(cmd: &Command) -> io::Result<Command> {
    let mut plain = Command::new(cmd.get_program());
    plain.args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => plain.env(key, value),
            None => plain.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        plain.current_dir(dir);
    }
    Ok(plain)
}

pub(crate) fn stub_form(program: &OsStr, _config: &DoubleSpawn) -> Command {
    Command::new(program)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoDefaults {
    Spawn,
    Output,
}

#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) stub: Option<Command>,
    pub(crate) embedded: bool,
}

impl Prepared {
    pub(crate) fn in_place(&self) -> bool {
        false
    }

    pub(crate) fn checked(&self) -> bool {
        false
    }

    pub(crate) fn direct_instead(
        &mut self,
        _why: crate::route::DirectReason,
        _strict: bool,
    ) -> io::Result<()> {
        Ok(())
    }

    pub(crate) fn finish(self, _cmd: &mut Command, _spawned: bool) {}

    pub(crate) fn outcome(&self, _result: Result<(), &io::Error>) -> Option<Retry> {
        None
    }
}

/// Never made: there is no stub to retry away from.
#[derive(Debug)]
pub(crate) enum Retry {}

impl Retry {
    pub(crate) fn succeeded(self) {
        match self {}
    }
}

pub(crate) fn prepare(
    _cmd: &mut Command,
    _config: &DoubleSpawn,
    _io: IoDefaults,
    _spawner: crate::ext::Spawner,
) -> io::Result<Prepared> {
    Ok(Prepared {
        stub: None,
        embedded: false,
    })
}

#[derive(Debug)]
pub(crate) struct Guard {
    _not_send: PhantomData<*const ()>,
}

impl Guard {
    pub(crate) fn block_sigtstp() -> io::Result<Guard> {
        Ok(Guard {
            _not_send: PhantomData,
        })
    }

    pub(crate) fn was_blocked(&self) -> bool {
        false
    }
}
