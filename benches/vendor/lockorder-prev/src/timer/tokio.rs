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
