//! The signals a supervisor listens for.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use nix::libc;
use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};

/// A job-control signal the supervisor received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobSignal {
    /// SIGTSTP: Ctrl-Z, or `kill -TSTP`. Stop the jobs, then yourself:
    /// [`JobControl::suspend`](super::JobControl::suspend).
    Stop,
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: `kill`, a service manager, a parent shutting down.
    Terminate,
    /// SIGHUP: the terminal went away. The jobs, in process groups of their
    /// own, did not get it from the kernel.
    Hangup,
    /// SIGQUIT: `Ctrl-\`.
    Quit,
}

impl JobSignal {
    /// The signal itself.
    pub fn signal(self) -> Signal {
        match self {
            JobSignal::Stop => Signal::SIGTSTP,
            JobSignal::Interrupt => Signal::SIGINT,
            JobSignal::Terminate => Signal::SIGTERM,
            JobSignal::Hangup => Signal::SIGHUP,
            JobSignal::Quit => Signal::SIGQUIT,
        }
    }

    /// The exit code of a process that stops because of this signal, by the
    /// shell's convention: 128 plus the signal number (130 for SIGINT, 143
    /// for SIGTERM).
    ///
    /// ```
    /// use double_spawn::job_control::JobSignal;
    /// assert_eq!(JobSignal::Interrupt.exit_code(), 130);
    /// assert_eq!(JobSignal::Terminate.exit_code(), 143);
    /// ```
    pub fn exit_code(self) -> i32 {
        128 + self.signal() as i32
    }
}

/// Listens for SIGTSTP, SIGINT, SIGTERM, SIGHUP and SIGQUIT.
///
/// Creating it installs tokio's handlers for these signals, which replace
/// their default actions **for the rest of the life of the process**, even
/// after the `Signals` is dropped (tokio never uninstalls a handler): from
/// then on Ctrl-Z no longer stops the process and Ctrl-C no longer ends it.
/// The supervisor does both itself, on [`recv`](Signals::recv). Children
/// get the default actions back: `posix_spawn` and `exec` reset caught
/// signals.
///
/// Create it before spawning the first job, so that a signal that arrives in
/// between is not lost. Must be called inside a tokio runtime.
#[derive(Debug)]
pub struct Signals {
    /// In the order `recv` looks at them: a request to end wins over a stop.
    listeners: [(JobSignal, tokio::signal::unix::Signal); 5],
}

impl Signals {
    /// Installs the handlers and starts listening.
    ///
    /// # Errors
    /// Those of `tokio::signal::unix::signal` (no runtime, or the signal
    /// driver could not be set up).
    pub fn new() -> io::Result<Signals> {
        let listen = |sig: JobSignal| -> io::Result<_> {
            Ok((
                sig,
                signal(SignalKind::from_raw(sig.signal() as libc::c_int))?,
            ))
        };
        Ok(Signals {
            listeners: [
                listen(JobSignal::Interrupt)?,
                listen(JobSignal::Terminate)?,
                listen(JobSignal::Hangup)?,
                listen(JobSignal::Quit)?,
                listen(JobSignal::Stop)?,
            ],
        })
    }

    /// Waits for the next signal. Several deliveries of one signal since
    /// the last call come out as one. Cancel safe.
    pub async fn recv(&mut self) -> JobSignal {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next signal; see [`recv`](Signals::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<JobSignal> {
        for (sig, listener) in &mut self.listeners {
            // `None` only when the runtime is shutting down: then no signal
            // will come again, and pending is the truthful answer.
            if let Poll::Ready(Some(())) = listener.poll_recv(cx) {
                return Poll::Ready(*sig);
            }
        }
        Poll::Pending
    }
}
