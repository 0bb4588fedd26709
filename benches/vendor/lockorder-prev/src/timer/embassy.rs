//! [`EmbassyTimer`]: timeouts from embassy-time, for embedded executors.

use core::time::Duration;

use embassy_time::Instant;

use super::Timer;

/// A [`Timer`] backed by [`embassy_time`], for managers used on embassy or another embedded
/// executor. Works without `std`.
///
/// [`now`](Timer::now) is the time since the timer was created, from [`embassy_time::Instant`]
/// (microsecond resolution, at most the tick rate); sleeps are [`embassy_time::Timer`]s, rounded
/// up to whole ticks. A duration too long for the tick counter sleeps for ever. Copies share the
/// same starting point. Enabled by the `embassy-time` feature.
///
/// The application provides what embassy-time needs at link time, as for any embassy-time
/// user: a time driver (the HAL's, or embassy-time's `std`/`mock-driver` on a host) and, unless the
/// executor brings one (embassy-executor does), a timer queue (`generic-queue-*` features).
///
/// ```no_run
/// use core::time::Duration;
/// use lockorder::{EmbassyTimer, Error, LockManager};
///
/// // In a task of any executor (embassy's, or your own), with a time driver linked in.
/// async fn run() -> Result<(), Error> {
///     let m = LockManager::builder()
///         .timer(EmbassyTimer::new())
///         .default_timeout(Duration::from_secs(10))
///         .with_lock("db", 10)?
///         .build();
///     let held = m.acquire(["db"]).await?;
///     let err = m.acquire(["db"]).timeout(Duration::from_millis(5)).await.unwrap_err();
///     assert!(matches!(err, Error::Timeout { lock } if lock == "db"));
///     drop(held);
///     Ok(())
/// }
/// ```
///
/// The same runs on a PC with embassy-time's `std` driver in `compat/tests/embassy.rs`, and on an
/// emulated Cortex-M in the firmware check of the CI folder.
#[cfg_attr(docsrs, doc(cfg(feature = "embassy-time")))]
#[derive(Debug, Clone, Copy)]
pub struct EmbassyTimer {
    base: Instant,
}

impl EmbassyTimer {
    /// A timer whose clock starts now.
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
        }
    }
}

impl Default for EmbassyTimer {
    /// Same as [`EmbassyTimer::new`]: the clock starts now.
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for EmbassyTimer {
    type Sleep = embassy_time::Timer;

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.base).into()
    }

    fn sleep(&self, duration: Duration) -> embassy_time::Timer {
        // `Instant + Duration` panics on overflow in embassy-time: saturate to "never" instead.
        let deadline = u64::try_from(duration.as_micros())
            .ok()
            .and_then(embassy_time::Duration::try_from_micros)
            .and_then(|d| Instant::now().checked_add(d))
            .unwrap_or(Instant::MAX);
        embassy_time::Timer::at(deadline)
    }
}
