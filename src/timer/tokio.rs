//! [`TokioTimer`]: timeouts from tokio's time driver.

use core::time::Duration;

use tokio::time::Instant;

use super::Timer;

/// A [`Timer`] backed by [`tokio::time`], for managers used on a tokio runtime.
///
/// [`now`](Timer::now) is the time since the timer was created, read from [`tokio::time::Instant`]
/// (so it follows a paused test clock); sleeps are [`tokio::time::sleep`]. Copies share the same
/// starting point. Enabled by the `tokio` feature.
///
/// # Panics
///
/// Like every tokio timer, the sleep future must be created inside a runtime whose time driver is
/// enabled (`enable_time`/`enable_all`, or `#[tokio::main]`). An acquire creates it at its first
/// busy lock, while it is being polled: poll acquires that have a timeout on such a runtime.
///
/// `tokio::time::Sleep` is not `Unpin`, so neither is an [`Acquire`](crate::futures::Acquire) of
/// this timer; `.await` pins it for you, elsewhere use `Box::pin` or `core::pin::pin!`.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lockorder::{Error, LockManager, TokioTimer};
///
/// // Inside `#[tokio::main]` or any task of a runtime with its time driver enabled.
/// async fn run() -> Result<(), Error> {
///     let m = Arc::new(
///         LockManager::builder()
///             .timer(TokioTimer::new())
///             .default_timeout(Duration::from_secs(10))
///             .with_lock("db", 10)?
///             .build(),
///     );
///     // An owned guard, as a spawned task would hold it.
///     let held = m.acquire_owned(["db"]).await?;
///     let err = m.acquire(["db"]).timeout(Duration::from_millis(5)).await.unwrap_err();
///     assert!(matches!(err, Error::Timeout { lock } if lock == "db"));
///     drop(held);
///     Ok(())
/// }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy)]
pub struct TokioTimer {
    base: Instant,
}

impl TokioTimer {
    /// A timer whose clock starts now.
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
        }
    }
}

impl Default for TokioTimer {
    /// Same as [`TokioTimer::new`]: the clock starts now.
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for TokioTimer {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.base)
    }

    /// [`tokio::time::sleep`]; a duration too long to represent sleeps for ever.
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }
}

/// Refuses a blocking wait on a thread that drives a tokio runtime (inside `block_on`, or in a
/// task), as tokio's own `blocking_lock` does: such a wait blocks a worker, and on a
/// current-thread runtime the holder can never run, so the wait ends only by its timeout.
///
/// Tokio's check is private; the public sign used here is the task budget: tokio polls tasks
/// and `block_on`'s future with a limited budget (cooperative scheduling), and runs
/// `spawn_blocking` closures, `block_in_place` bodies and every thread outside a runtime
/// without one. Those wait as usual. The budget is read by spending it, one unit at a time
/// until tokio refuses (a limited budget) or a bound far beyond tokio's budget is reached (none),
/// then given back. A future run under `tokio::task::unconstrained` has no budget either, so
/// it is not caught (tokio offers no public sign that tells it from a `spawn_blocking` thread).
#[cold]
#[track_caller]
pub(crate) fn refuse_blocking_on_a_runtime_thread() {
    use core::task::{Context, Poll, Waker};
    use tokio::task::coop::poll_proceed;

    /// Tokio's budget is 128 units per poll; any limited budget runs out before this.
    const BEYOND_ANY_BUDGET: usize = 1024;

    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let mut cx = Context::from_waker(Waker::noop());
    let mut spent = alloc::vec::Vec::new();
    let limited = loop {
        if spent.len() == BEYOND_ANY_BUDGET {
            break false;
        }
        match poll_proceed(&mut cx) {
            Poll::Ready(unit) => spent.push(unit),
            Poll::Pending => break true,
        }
    };
    // Each unit gives back the budget it found, so the first one given back last restores it.
    while let Some(unit) = spent.pop() {
        drop(unit);
    }
    if limited {
        panic!(
            "lockorder: `.wait()` was called on a thread that drives a tokio runtime (inside \
             `block_on` or a task): it would block the runtime, and the lock's holder might never \
             run. Use `.await` instead (or call `.wait()` from `tokio::task::spawn_blocking`)"
        );
    }
}
