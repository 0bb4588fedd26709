//! A virtual-time [`Timer`]: time moves only when told to.

use crate::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use super::Timer;

/// A deterministic, virtual-time [`Timer`] for tests and simulations.
///
/// Its clock starts at zero and moves only by [`advance`](Self::advance), which wakes every sleep
/// whose deadline has been reached. Clones share one clock. It works without `std`, so it also
/// stands in for an embedded timer in host tests. It counts the sleeps it was asked for, which
/// shows for example that an uncontended acquire never asks for a sleep.
///
/// ```
/// use core::time::Duration;
/// use futures_lite::future;
/// use lockorder::{Error, LockManager, ManualTimer};
///
/// let timer = ManualTimer::new();
/// let mut b = LockManager::builder().timer(timer.clone());
/// b.register("db", 10)?;
/// let m = b.build();
///
/// let held = m.try_acquire(["db"])?;
/// let mut waiting = Box::pin(m.acquire(["db"]).timeout(Duration::from_secs(5)));
/// assert!(future::block_on(future::poll_once(waiting.as_mut())).is_none()); // waits
/// assert_eq!(timer.sleeps(), 1);
///
/// timer.advance(Duration::from_secs(5));
/// let err = future::block_on(waiting).unwrap_err();
/// assert!(matches!(err, Error::Timeout { ref lock } if lock == "db"));
/// drop(held);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ManualTimer {
    clock: Arc<spin::Mutex<Clock>>,
}

#[derive(Default)]
struct Clock {
    now: Duration,
    sleeps: u64,
    next_id: u64,
    /// Sleeps that were polled before their deadline: (id, deadline, waker).
    parked: Vec<(u64, Duration, Waker)>,
}

impl ManualTimer {
    /// A new clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current virtual time.
    pub fn now(&self) -> Duration {
        self.clock.lock().now
    }

    /// Moves the clock forward by `by` (saturating) and wakes every sleep that is now due.
    ///
    /// If a sleep's waker panics, the other due sleeps are woken all the same, then the panic goes
    /// on.
    pub fn advance(&self, by: Duration) {
        let due: Vec<Waker> = {
            let mut clock = self.clock.lock();
            clock.now = clock.now.saturating_add(by);
            let now = clock.now;
            let mut due = Vec::new();
            clock.parked.retain(|(_, deadline, waker)| {
                if *deadline <= now {
                    due.push(waker.clone());
                    false
                } else {
                    true
                }
            });
            due
        };
        // Wake outside the clock's lock: a woken task may poll a sleep of this clock at once.
        // Every due sleep is woken, even if a waker panics (the rest are woken while unwinding).
        struct Rest(alloc::vec::IntoIter<Waker>);
        impl Drop for Rest {
            fn drop(&mut self) {
                for waker in self.0.by_ref() {
                    crate::unwind::finishing(|| waker.wake());
                }
            }
        }
        let mut rest = Rest(due.into_iter());
        for waker in rest.0.by_ref() {
            waker.wake();
        }
    }

    /// How many sleeps this clock has been asked for (by any clone).
    pub fn sleeps(&self) -> u64 {
        self.clock.lock().sleeps
    }

    /// How many sleeps are parked, polled and waiting for their deadline.
    pub fn parked(&self) -> usize {
        self.clock.lock().parked.len()
    }

    /// The earliest deadline among parked sleeps.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.clock.lock().parked.iter().map(|p| p.1).min()
    }
}

impl Timer for ManualTimer {
    type Sleep = ManualSleep;

    fn now(&self) -> Duration {
        ManualTimer::now(self)
    }

    fn sleep(&self, duration: Duration) -> ManualSleep {
        let mut clock = self.clock.lock();
        clock.sleeps += 1;
        clock.next_id += 1;
        ManualSleep {
            clock: self.clock.clone(),
            id: clock.next_id,
            deadline: clock.now.saturating_add(duration),
        }
    }
}

impl fmt::Debug for ManualTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clock = self.clock.lock();
        f.debug_struct("ManualTimer")
            .field("now", &clock.now)
            .field("sleeps", &clock.sleeps)
            .field("parked", &clock.parked.len())
            .finish()
    }
}

/// The sleep future of a [`ManualTimer`]: ready once the clock reaches its deadline.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ManualSleep {
    clock: Arc<spin::Mutex<Clock>>,
    id: u64,
    deadline: Duration,
}

impl ManualSleep {
    /// The virtual time at which this sleep completes.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut clock = self.clock.lock();
        let parked = clock.parked.iter().position(|p| p.0 == self.id);
        if clock.now >= self.deadline {
            let old = parked.map(|i| clock.parked.swap_remove(i));
            drop(clock);
            drop(old);
            return Poll::Ready(());
        }
        let old = match parked {
            Some(i) if clock.parked[i].2.will_wake(cx.waker()) => None,
            Some(i) => Some(core::mem::replace(
                &mut clock.parked[i].2,
                cx.waker().clone(),
            )),
            None => {
                clock
                    .parked
                    .push((self.id, self.deadline, cx.waker().clone()));
                None
            }
        };
        drop(clock);
        // A replaced waker is dropped outside the clock's lock.
        drop(old);
        Poll::Pending
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        let mut clock = self.clock.lock();
        let old = clock
            .parked
            .iter()
            .position(|p| p.0 == self.id)
            .map(|i| clock.parked.swap_remove(i));
        drop(clock);
        drop(old);
    }
}

impl fmt::Debug for ManualSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualSleep")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}
