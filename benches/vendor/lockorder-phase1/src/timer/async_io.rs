//! [`AsyncIoTimer`]: timeouts from async-io, the reactor under smol and async-std.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::time::Instant;

use super::Timer;

/// A [`Timer`] backed by [`async_io::Timer`], for managers used on smol or async-std (both run
/// their timers on async-io's reactor).
///
/// [`now`](Timer::now) is the time since the timer was created, from [`std::time::Instant`];
/// sleeps are [`async_io::Timer::after`]. Copies share the same starting point. Enabled by the
/// `async-io` feature. async-io drives its timers from its own reactor, so the sleeps work under
/// any executor, not only smol's and async-std's.
///
/// ```
/// use core::time::Duration;
/// use lockorder::{AsyncIoTimer, Error, LockManager};
///
/// let mut b = LockManager::builder()
///     .timer(AsyncIoTimer::new())
///     .default_timeout(Duration::from_secs(10));
/// b.register("db", 10)?;
/// let m = b.build();
///
/// async_io::block_on(async {
///     let held = m.acquire(["db"]).await?;
///     let err = m.acquire(["db"]).timeout(Duration::from_millis(5)).await.unwrap_err();
///     assert!(matches!(err, Error::Timeout { lock } if lock == "db"));
///     drop(held);
///     Ok::<(), Error>(())
/// })?;
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AsyncIoTimer {
    base: Instant,
}

impl AsyncIoTimer {
    /// A timer whose clock starts now.
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
        }
    }
}

impl Default for AsyncIoTimer {
    /// Same as [`AsyncIoTimer::new`]: the clock starts now.
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for AsyncIoTimer {
    type Sleep = AsyncIoSleep;

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.base)
    }

    /// [`async_io::Timer::after`]; a duration too long to represent sleeps for ever.
    fn sleep(&self, duration: Duration) -> AsyncIoSleep {
        AsyncIoSleep {
            timer: async_io::Timer::after(duration),
        }
    }
}

/// The sleep future of an [`AsyncIoTimer`]: an [`async_io::Timer`] that completes with `()`.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct AsyncIoSleep {
    timer: async_io::Timer,
}

impl Future for AsyncIoSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.timer).poll(cx).map(drop)
    }
}
