//! Per-lock statistics (feature `stats`): the numbers Linux's `lock_stat` gives.
//!
//! Counting costs a few relaxed atomic additions per lock taken, and one `now()` per release for
//! hold times; with the feature off none of this code or data exists. Times need a [`Timer`]
//! (crate::Timer): without one only the counts are kept.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use crate::status::Secs;

/// The counters of one lock.
#[derive(Default)]
pub(crate) struct Stats {
    acquisitions: AtomicU64,
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
    /// The lock was taken; `wait` is how long the taker waited for it, if it had to.
    #[inline]
    pub(crate) fn acquired(&self, contended: bool, wait: Option<Duration>) {
        self.acquisitions.fetch_add(1, Ordering::Relaxed);
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
    pub(crate) fn timed_out(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// The lock was released after being held for `hold`.
    pub(crate) fn released(&self, hold: Duration) {
        self.max_hold.fetch_max(nanos(hold), Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LockStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LockStats {
            acquisitions: load(&self.acquisitions),
            contended: load(&self.contended),
            timeouts: load(&self.timeouts),
            total_wait: Duration::from_nanos(load(&self.total_wait)),
            max_wait: Duration::from_nanos(load(&self.max_wait)),
            max_hold: Duration::from_nanos(load(&self.max_hold)),
        }
    }
}

/// Statistics of one lock since its manager was built (feature `stats`).
///
/// Wait and hold times come from the manager's [`Timer`](crate::Timer) and stay zero without
/// one. A wait is measured from the first poll that found the lock busy to the poll that took it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockStats {
    /// How many times the lock was taken.
    pub acquisitions: u64,
    /// How many of those had to wait for it.
    pub contended: u64,
    /// How many acquisitions timed out waiting for it.
    pub timeouts: u64,
    /// The total time spent waiting for it.
    pub total_wait: Duration,
    /// The longest wait for it.
    pub max_wait: Duration,
    /// The longest time it was held.
    pub max_hold: Duration,
}

impl fmt::Display for LockStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "acquired {} times ({} contended, {} timed out); waited {} in all, {} at most; \
             held {} at most",
            self.acquisitions,
            self.contended,
            self.timeouts,
            Secs(self.total_wait),
            Secs(self.max_wait),
            Secs(self.max_hold)
        )
    }
}
