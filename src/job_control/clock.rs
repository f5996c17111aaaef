//! A clock that stands still while the supervisor is stopped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// A monotonic clock that can be paused: the time it reports is the time
/// spent running since it was created, without the stretches it was paused.
///
/// A supervisor pauses it before stopping itself and resumes it once it is
/// continued ([`JobControl::suspend`](super::JobControl::suspend) does both),
/// so that elapsed times and timeouts measured with it ignore the time the
/// user kept the job stopped. Cloning gives another handle to the same clock.
///
/// [`sleep`](PausableClock::sleep) is a timer on this clock: it does not
/// expire while the clock is paused, and a pause in the middle extends it by
/// exactly the length of the pause. Any number of timers follow one clock;
/// pausing the clock pauses them all at once.
///
/// ```
/// use std::time::Duration;
/// use double_spawn::job_control::PausableClock;
///
/// let clock = PausableClock::new();
/// clock.pause();
/// let frozen = clock.elapsed();
/// std::thread::sleep(Duration::from_millis(5));
/// assert_eq!(clock.elapsed(), frozen);
/// clock.resume();
/// ```
#[derive(Clone, Debug)]
pub struct PausableClock {
    state: Arc<watch::Sender<State>>,
}

#[derive(Clone, Copy, Debug)]
struct State {
    origin: Instant,
    /// The total length of the pauses that have ended.
    paused_for: Duration,
    /// Set while paused: when the current pause began.
    paused_at: Option<Instant>,
}

impl State {
    fn elapsed_at(&self, now: Instant) -> Duration {
        let end = self.paused_at.unwrap_or(now);
        end.saturating_duration_since(self.origin)
            .saturating_sub(self.paused_for)
    }
}

impl PausableClock {
    /// A running clock that reads zero now.
    pub fn new() -> PausableClock {
        let (state, _) = watch::channel(State {
            origin: Instant::now(),
            paused_for: Duration::ZERO,
            paused_at: None,
        });
        PausableClock {
            state: Arc::new(state),
        }
    }

    /// The running time since the clock was created.
    pub fn elapsed(&self) -> Duration {
        self.state.borrow().elapsed_at(Instant::now())
    }

    /// Whether the clock is paused.
    pub fn is_paused(&self) -> bool {
        self.state.borrow().paused_at.is_some()
    }

    /// Pauses the clock and every timer on it. Returns false (and does
    /// nothing) if it was already paused.
    pub fn pause(&self) -> bool {
        self.state.send_if_modified(|s| {
            if s.paused_at.is_some() {
                return false;
            }
            s.paused_at = Some(Instant::now());
            true
        })
    }

    /// Resumes the clock and every timer on it. Returns false (and does
    /// nothing) if it was running.
    pub fn resume(&self) -> bool {
        self.state.send_if_modified(|s| match s.paused_at.take() {
            Some(at) => {
                s.paused_for += Instant::now().saturating_duration_since(at);
                true
            }
            None => false,
        })
    }

    /// A timer that completes once the clock has run for `duration` more.
    ///
    /// The deadline is fixed when `sleep` is called, not when the future is
    /// first polled. The future owns a handle to the clock (it is `'static`)
    /// and can be polled again after being interrupted in a `select!`: keep
    /// it pinned (`std::pin::pin!` or `Box::pin`) to use it as a timeout.
    pub fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        self.sleep_until(self.elapsed().saturating_add(duration))
    }

    /// A timer that completes once [`elapsed`](PausableClock::elapsed)
    /// reaches `deadline`.
    pub fn sleep_until(&self, deadline: Duration) -> impl Future<Output = ()> + Send + 'static {
        let mut changes = self.state.subscribe();
        async move {
            loop {
                let state = *changes.borrow_and_update();
                if state.paused_at.is_none() {
                    let now = Instant::now();
                    let left = deadline.saturating_sub(state.elapsed_at(now));
                    if left.is_zero() {
                        return;
                    }
                    // Wake at the deadline, or earlier if the clock is paused
                    // (or resumed): then work the deadline out again.
                    let _ = tokio::time::timeout(left, changes.changed()).await;
                } else if changes.changed().await.is_err() {
                    // Unreachable: the sender lives as long as any handle,
                    // and `changes` keeps it alive through the Arc'd clock
                    // the caller holds. Never completing is still right for
                    // a clock that can no longer resume.
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

impl Default for PausableClock {
    fn default() -> PausableClock {
        PausableClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn paused_time_is_not_counted() {
        let clock = PausableClock::new();
        assert!(clock.pause());
        assert!(!clock.pause(), "a second pause is a no-op");
        let frozen = clock.elapsed();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(clock.elapsed(), frozen);
        assert!(clock.is_paused());
        let before_resume = Instant::now();
        assert!(clock.resume());
        assert!(!clock.resume(), "a second resume is a no-op");
        // Everything since the resume is counted, nothing of the pause.
        let after_resume = clock.elapsed();
        assert!(after_resume >= frozen);
        assert!(after_resume - frozen <= before_resume.elapsed());
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.elapsed() >= frozen + Duration::from_millis(5));
    }

    #[test]
    fn a_timer_does_not_expire_while_paused() {
        rt().block_on(async {
            let clock = PausableClock::new();
            let mut timer = Box::pin(clock.sleep(Duration::from_millis(20)));
            clock.pause();
            // Three times the timer's length passes on the wall clock.
            let waited = tokio::time::timeout(Duration::from_millis(60), &mut timer).await;
            assert!(
                waited.is_err(),
                "the timer expired while its clock was paused"
            );
            assert!(clock.elapsed() < Duration::from_millis(20));
            clock.resume();
            timer.await;
            assert!(clock.elapsed() >= Duration::from_millis(20));
        });
    }

    #[test]
    fn a_pause_extends_a_running_timer_by_its_length() {
        rt().block_on(async {
            let clock = PausableClock::new();
            let mut timer = Box::pin(clock.sleep(Duration::from_millis(40)));
            let first = tokio::time::timeout(Duration::from_millis(10), &mut timer).await;
            assert!(first.is_err());
            clock.pause();
            tokio::time::sleep(Duration::from_millis(50)).await;
            clock.resume();
            timer.await;
            // The clock, not the wall, decides: 40ms of running time.
            assert!(clock.elapsed() >= Duration::from_millis(40));
        });
    }

    #[test]
    fn sleeping_until_a_past_deadline_completes_at_once() {
        rt().block_on(async {
            let clock = PausableClock::new();
            clock.sleep_until(Duration::ZERO).await;
            clock.sleep(Duration::ZERO).await;
        });
    }
}
