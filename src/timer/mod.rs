//! Timers: where timeouts and timestamps come from.
//!
//! `lockorder` never names a runtime. A manager built with a [`Timer`] gets timeouts
//! ([`Acquire::timeout`](crate::futures::Acquire::timeout),
//! [`Builder::default_timeout`](crate::Builder::default_timeout)); a manager without one
//! ([`NoTimer`], the default) has neither, and asking for a timeout is a compile error.

use core::fmt;
use core::future::Future;
use core::time::Duration;

mod manual;

#[cfg(feature = "async-io")]
mod async_io;
#[cfg(feature = "embassy-time")]
mod embassy;
#[cfg(all(feature = "std", not(loom)))]
mod std_timer;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "async-io")]
pub use self::async_io::{AsyncIoSleep, AsyncIoTimer};
#[cfg(feature = "embassy-time")]
pub use self::embassy::EmbassyTimer;
#[cfg(feature = "tokio")]
pub(crate) use self::tokio::refuse_blocking_on_a_runtime_thread;
#[cfg(feature = "tokio")]
pub use self::tokio::TokioTimer;
pub use manual::{ManualSleep, ManualTimer};
#[cfg(all(feature = "std", not(loom)))]
pub use std_timer::{StdSleep, StdTimer};

/// A source of time: a monotonic clock and sleep futures.
///
/// Implement it for your executor's timer; adapters for common runtimes are behind cargo
/// features. `Sleep` need not be `Send`; an [`Acquire`](crate::futures::Acquire) future is `Send`
/// exactly when it can be.
///
/// ```
/// use core::time::Duration;
/// use lockorder::{LockManager, ManualTimer};
///
/// let timer = ManualTimer::new();
/// let mut b = LockManager::builder()
///     .timer(timer.clone())
///     .default_timeout(Duration::from_secs(10));
/// b.register("db", 10)?;
/// let m = b.build();
/// assert_eq!(m.default_timeout(), Some(Duration::from_secs(10)));
/// # Ok::<(), lockorder::Error>(())
/// ```
///
/// Timeouts need a timer: on a manager built without one, `.timeout(..)` does not compile, and
/// the compiler says to give the builder one.
///
/// ```compile_fail,E0277
/// # use core::time::Duration;
/// let mut b = lockorder::LockManager::builder(); // no `.timer(..)`
/// b.register("db", 10).unwrap();
/// let m = b.build();
/// let _ = m.acquire(["db"]).timeout(Duration::from_secs(1)); // error: give the builder a timer
/// ```
#[diagnostic::on_unimplemented(
    message = "a timeout needs a timer: this lock manager has none (`{Self}`)",
    label = "this manager has no timer",
    note = "give the builder a timer: `LockManager::builder().timer(TokioTimer::new())` (feature \
            `tokio`), `StdTimer::new()` (feature `std`), `AsyncIoTimer` (feature `async-io`, for \
            smol and async-std), `EmbassyTimer` (feature `embassy-time`), or `ManualTimer::new()` \
            in tests; or implement `lockorder::Timer` for your executor's timer",
    note = "without a timer an acquire waits until it gets its locks; `try_now()` tries once"
)]
pub trait Timer {
    /// The future returned by [`sleep`](Self::sleep).
    type Sleep: Future<Output = ()>;

    /// The current time of a monotonic clock with an arbitrary epoch.
    fn now(&self) -> Duration;

    /// A future that completes once `duration` has passed.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

/// The timer of a manager that has none: no timeouts, no timestamps.
///
/// `NoTimer` is deliberately *not* a [`Timer`], so that asking such a manager for a timeout does
/// not compile:
///
/// ```compile_fail
/// # use core::time::Duration;
/// let mut b = lockorder::LockManager::builder();
/// b.register("db", 10).unwrap();
/// let m = b.build();
/// let _ = m.acquire(["db"]).timeout(Duration::from_millis(5)); // needs a Timer
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NoTimer;

/// Any timer a manager can have: [`NoTimer`] or a [`Timer`].
///
/// Name it to write code generic over every manager:
///
/// ```
/// use lockorder::{LockManager, MaybeTimer};
///
/// fn lock_names<T: MaybeTimer>(m: &LockManager<T>) -> Vec<&str> {
///     m.locks().map(|l| l.name()).collect()
/// }
/// let mut b = LockManager::builder();
/// b.register("b", 2)?.register("a", 1)?;
/// assert_eq!(lock_names(&b.build()), ["a", "b"]);
/// # Ok::<(), lockorder::Error>(())
/// ```
///
/// This trait is sealed: it is implemented for `NoTimer` and for every `Timer`, and cannot be
/// implemented otherwise.
pub trait MaybeTimer: sealed::Sealed {}

impl<T: Timer> MaybeTimer for T {}
impl MaybeTimer for NoTimer {}

pub(crate) mod sealed {
    #![allow(unreachable_pub)]
    use core::future::Future;
    use core::time::Duration;

    pub trait Sealed {
        /// The sleep future, `Pending` when there is no timer (it is never created then).
        type Sleep: Future<Output = ()>;
        /// Whether this is a real timer.
        const HAS_TIMER: bool;
        fn now_opt(&self) -> Option<Duration>;
        fn sleep_for(&self, duration: Duration) -> Self::Sleep;
    }

    impl<T: super::Timer> Sealed for T {
        type Sleep = T::Sleep;
        const HAS_TIMER: bool = true;

        #[inline]
        fn now_opt(&self) -> Option<Duration> {
            Some(self.now())
        }

        #[inline]
        fn sleep_for(&self, duration: Duration) -> T::Sleep {
            self.sleep(duration)
        }
    }

    impl Sealed for super::NoTimer {
        type Sleep = core::future::Pending<()>;
        const HAS_TIMER: bool = false;

        #[inline]
        fn now_opt(&self) -> Option<Duration> {
            None
        }

        #[inline]
        fn sleep_for(&self, _: Duration) -> Self::Sleep {
            core::future::pending()
        }
    }
}

/// Formats a timer for `Debug` output without requiring `T: Debug`.
pub(crate) struct TimerName<T>(core::marker::PhantomData<T>);

impl<T: MaybeTimer> TimerName<T> {
    pub(crate) fn new() -> Self {
        Self(core::marker::PhantomData)
    }
}

impl<T: MaybeTimer> fmt::Debug for TimerName<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if <T as sealed::Sealed>::HAS_TIMER {
            f.write_str(core::any::type_name::<T>())
        } else {
            f.write_str("NoTimer")
        }
    }
}

/// An acquisition's timeout in nanoseconds, [`Timeout::NONE`] for none: eight bytes where an
/// `Option<Duration>` takes sixteen (an acquire future carries one). A timeout of `u64::MAX - 1`
/// nanoseconds (584 years) or more is kept as [`Timeout::FAR`] and given to the timer as
/// `Duration::MAX`, as before: never shorter than asked, since a virtual clock (`ManualTimer`,
/// a simulation's) can pass 584 years where a real one never does. Made without 128-bit
/// arithmetic, and in const context (a manager's default, for `hierarchy!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeout(u64);

impl Timeout {
    /// No timeout: wait for ever.
    pub(crate) const NONE: Timeout = Timeout(u64::MAX);
    /// Every timeout of `u64::MAX - 1` nanoseconds or more: `Duration::MAX`.
    const FAR: u64 = u64::MAX - 1;

    #[inline]
    pub(crate) const fn new(timeout: Option<Duration>) -> Self {
        let Some(t) = timeout else {
            return Self::NONE;
        };
        let nanos = match t.as_secs().checked_mul(1_000_000_000) {
            Some(n) => match n.checked_add(t.subsec_nanos() as u64) {
                Some(n) => n,
                None => Self::FAR,
            },
            None => Self::FAR,
        };
        Timeout(if nanos > Self::FAR { Self::FAR } else { nanos })
    }

    /// A zero timeout: try once.
    #[inline(always)]
    pub(crate) fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The timeout as a duration; `None` for none, `Duration::MAX` for a far one (never
    /// shorter than it was given). Off the uncontended path: a division.
    #[inline]
    pub(crate) fn get(self) -> Option<Duration> {
        match self.0 {
            u64::MAX => None,
            Self::FAR => Some(Duration::MAX),
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }
}
