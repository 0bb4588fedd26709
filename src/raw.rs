//! The raw lock behind each slot: one atomic state byte plus an [`Event`] for waiters.
//!
//! * Taking a free lock is one compare-and-swap; giving it back is one swap. The swap also reads
//!   the `WAITING` bit, so a release notifies (and pays for the event's fence) only when somebody
//!   may be listening.
//! * A task that had to wait sets `WAITING` again when it finally takes the lock: the release that
//!   woke it cleared the bit, and other listeners may still be queued behind it. A spare
//!   notification costs one atomic load inside the event when nobody is left.
//! * Fairness is the event's: listeners are woken in the order they started listening, and a
//!   woken listener that is dropped passes its notification on to the next one.

use event_listener::{Event, EventListener};

use crate::sync::{AtomicU8, Ordering};

const LOCKED: u8 = 1;
const WAITING: u8 = 2;

pub(crate) struct RawLock {
    state: AtomicU8,
    event: Event,
}

impl RawLock {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(0),
            event: Event::new(),
        }
    }

    /// Takes the lock if it is free. The uncontended case is one compare-and-swap.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.try_lock_slow(0)
    }

    /// Takes the lock if it is free, on behalf of a task that has been listening for it: marks it
    /// `WAITING` so that its release wakes whoever still queues behind.
    #[inline]
    pub(crate) fn try_lock_as_waiter(&self) -> bool {
        self.try_lock_slow(WAITING)
    }

    fn try_lock_slow(&self, extra: u8) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED | extra,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Starts listening for a release. The caller must try the lock again (with
    /// [`try_lock_as_waiter`](Self::try_lock_as_waiter)) before it waits on the listener.
    pub(crate) fn listen(&self) -> EventListener {
        let listener = self.event.listen();
        // Release: the listener's registration happens-before any release that reads this bit,
        // so that release's notification finds it. Both are read-modify-writes of `state`, so
        // either the release sees `WAITING` or our next try sees the lock free.
        self.state.fetch_or(WAITING, Ordering::Release);
        listener
    }

    /// Gives the lock back and wakes one listener if any may be waiting.
    #[inline]
    pub(crate) fn unlock(&self) {
        if self.state.swap(0, Ordering::AcqRel) & WAITING != 0 {
            self.event.notify(1);
        }
    }

    /// Whether the lock is held right now (a snapshot).
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }
}

impl core::fmt::Debug for RawLock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawLock")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll, Waker};

    #[test]
    fn try_lock_excludes_until_unlock() {
        let l = RawLock::new();
        assert!(l.try_lock());
        assert!(l.is_locked());
        assert!(!l.try_lock());
        assert!(!l.try_lock_as_waiter());
        l.unlock();
        assert!(!l.is_locked());
        assert!(l.try_lock());
    }

    #[test]
    fn release_wakes_a_listener_and_the_waiter_keeps_the_waiting_mark() {
        let l = RawLock::new();
        assert!(l.try_lock());
        let mut first = l.listen();
        let mut second = l.listen();
        assert!(!l.try_lock_as_waiter());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut first).poll(&mut cx).is_pending());
        l.unlock();
        assert_eq!(Pin::new(&mut first).poll(&mut cx), Poll::Ready(()));
        assert!(l.try_lock_as_waiter());
        // The second listener is still queued: this release must notify it.
        l.unlock();
        assert_eq!(Pin::new(&mut second).poll(&mut cx), Poll::Ready(()));
    }

    #[test]
    fn free_lock_with_stale_waiting_mark_is_still_free() {
        let l = RawLock::new();
        let listener = l.listen();
        drop(listener);
        // `WAITING` is set but the lock is free: a plain try must still take it.
        assert!(l.try_lock());
        l.unlock();
        assert!(!l.is_locked());
    }
}
