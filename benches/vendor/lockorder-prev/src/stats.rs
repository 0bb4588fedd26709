//! Per-lock statistics (feature `stats`): the numbers Linux's `lock_stat` gives.
//!
//! The acquire and guard code calls the same methods whether the feature is on or off: with it
//! off, [`Stats`] and [`WaitClock`] are zero-sized and every method is an empty inline function,
//! so neither code nor data remains (as tokio does with its metrics). With it on, counting costs a
//! few relaxed atomic additions per lock taken, and one `now()` per release for hold times.
//! Times need a [`Timer`](crate::Timer): without one only the counts are kept.

use core::time::Duration;

#[cfg(feature = "stats")]
pub use imp::LockStats;
pub(crate) use imp::{Stats, WaitClock, ENABLED};

#[cfg(feature = "stats")]
mod imp {
    use core::fmt;
    use core::time::Duration;

    use crate::record::Secs;
    use crate::sync::{AtomicU64, Ordering};

    /// Whether statistics are kept: guards read the clock on release only then.
    pub(crate) const ENABLED: bool = true;

    /// The counters of one lock.
    pub(crate) struct Stats {
        acquisitions: AtomicU64,
        shared: AtomicU64,
        contended: AtomicU64,
        timeouts: AtomicU64,
        total_wait: AtomicU64,
        max_wait: AtomicU64,
        max_hold: AtomicU64,
    }

    fn nanos(d: Duration) -> u64 {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    impl Stats {
        pub(crate) fn new() -> Self {
            Self {
                acquisitions: AtomicU64::new(0),
                shared: AtomicU64::new(0),
                contended: AtomicU64::new(0),
                timeouts: AtomicU64::new(0),
                total_wait: AtomicU64::new(0),
                max_wait: AtomicU64::new(0),
                max_hold: AtomicU64::new(0),
            }
        }

        /// The lock was taken (`shared`: in shared mode); `wait` is how long the taker waited
        /// for it, if it had to wait.
        #[inline]
        pub(crate) fn acquired(&self, shared: bool, contended: bool, wait: Option<Duration>) {
            self.acquisitions.fetch_add(1, Ordering::Relaxed);
            if shared {
                self.shared.fetch_add(1, Ordering::Relaxed);
            }
            if contended {
                self.contended.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(wait) = wait {
                let wait = nanos(wait);
                self.total_wait.fetch_add(wait, Ordering::Relaxed);
                self.max_wait.fetch_max(wait, Ordering::Relaxed);
            }
        }

        /// An acquisition timed out waiting for this lock.
        #[inline]
        pub(crate) fn timed_out(&self) {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        }

        /// The lock was released after being held for `hold`.
        #[inline]
        pub(crate) fn released(&self, hold: Duration) {
            self.max_hold.fetch_max(nanos(hold), Ordering::Relaxed);
        }

        pub(crate) fn snapshot(&self) -> LockStats {
            let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
            LockStats {
                acquisitions: load(&self.acquisitions),
                shared: load(&self.shared),
                contended: load(&self.contended),
                timeouts: load(&self.timeouts),
                total_wait: Duration::from_nanos(load(&self.total_wait)),
                max_wait: Duration::from_nanos(load(&self.max_wait)),
                max_hold: Duration::from_nanos(load(&self.max_hold)),
            }
        }
    }

    /// When a walk started waiting for the lock at its cursor.
    pub(crate) struct WaitClock(Option<Duration>);

    impl WaitClock {
        #[inline]
        pub(crate) const fn new() -> Self {
            Self(None)
        }

        /// The walk starts waiting at `now` (the timestamp of this poll).
        #[inline]
        pub(crate) fn start(&mut self, now: Option<Duration>) {
            self.0 = now;
        }

        /// The walk took the lock at `now`: how long it waited, if it did.
        #[inline]
        pub(crate) fn stop(&mut self, now: Option<Duration>) -> Option<Duration> {
            let since = self.0.take()?;
            Some(now?.saturating_sub(since))
        }
    }

    /// Statistics of one lock since its manager was built (feature `stats`).
    ///
    /// Wait and hold times come from the manager's [`Timer`](crate::Timer) and stay zero without
    /// one. A wait is measured from the first poll that found the lock busy to the poll that took
    /// it.
    #[cfg_attr(docsrs, doc(cfg(feature = "stats")))]
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct LockStats {
        /// How many times the lock was taken, in either mode.
        pub acquisitions: u64,
        /// How many of those took it shared.
        pub shared: u64,
        /// How many of those had to wait for it.
        pub contended: u64,
        /// How many acquisitions timed out waiting for it.
        pub timeouts: u64,
        /// The total time spent waiting for it.
        pub total_wait: Duration,
        /// The longest wait for it.
        pub max_wait: Duration,
        /// The longest time it was held exclusively.
        pub max_hold: Duration,
    }

    impl fmt::Display for LockStats {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let times = |n: u64| if n == 1 { "time" } else { "times" };
            write!(
                f,
                "acquired {} {} ({} shared, {} contended, {} timed out); waited {} in all, {} at \
                 most; held {} at most",
                self.acquisitions,
                times(self.acquisitions),
                self.shared,
                self.contended,
                self.timeouts,
                Secs(self.total_wait),
                Secs(self.max_wait),
                Secs(self.max_hold)
            )
        }
    }
}

#[cfg(not(feature = "stats"))]
mod imp {
    use core::time::Duration;

    /// Whether statistics are kept: guards read the clock on release only then.
    pub(crate) const ENABLED: bool = false;

    /// No statistics: every method does nothing and compiles away.
    pub(crate) struct Stats;

    impl Stats {
        pub(crate) fn new() -> Self {
            Stats
        }

        #[inline(always)]
        pub(crate) fn acquired(&self, _shared: bool, _contended: bool, _wait: Option<Duration>) {}

        #[inline(always)]
        pub(crate) fn timed_out(&self) {}

        #[inline(always)]
        pub(crate) fn released(&self, _hold: Duration) {}
    }

    /// No wait clock: nothing is measured.
    pub(crate) struct WaitClock;

    impl WaitClock {
        #[inline(always)]
        pub(crate) const fn new() -> Self {
            WaitClock
        }

        #[inline(always)]
        pub(crate) fn start(&mut self, _now: Option<Duration>) {}

        #[inline(always)]
        pub(crate) fn stop(&mut self, _now: Option<Duration>) -> Option<Duration> {
            None
        }
    }
}

/// The hold time of a lock taken at `since` and released at `now`, when both are known.
#[inline]
pub(crate) fn hold_time(since: Option<Duration>, now: Option<Duration>) -> Option<Duration> {
    Some(now?.saturating_sub(since?))
}
