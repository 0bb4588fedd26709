//! The raw lock behind each slot: one atomic state word plus an [`Event`] for waiters.
//!
//! * Taking a free lock is one compare-and-swap; giving it back is one `fetch_and`. The release
//!   also reads the `WAITING` bit, so it notifies (and pays for the event's fence) only when
//!   somebody may be listening.
//! * A task that had to wait sets `WAITING` again when it finally takes the lock: the release that
//!   woke it cleared the bit, and other listeners may still be queued behind it. A spare
//!   notification costs one atomic load inside the event when nobody is left.
//! * Fairness is the event's: listeners are woken in the order they started listening, and a
//!   woken listener that is dropped passes its notification on to the next one.
//! * The bits above `LOCKED` and `WAITING` count holdings: every successful lock bumps the
//!   generation in the same compare-and-swap. A generation names one holding, which lets status
//!   readers check, without any lock, that what they read belongs to a single holding.

use event_listener::{Event, EventListener};

use crate::sync::{AtomicU32, Ordering};

const LOCKED: u32 = 1;
const WAITING: u32 = 2;
const GENERATION: u32 = 4;

/// The generation of a holding, taken from a state word.
#[inline]
pub(crate) fn generation(state: u32) -> u32 {
    state >> 2
}

pub(crate) struct RawLock {
    state: AtomicU32,
    event: Event,
}

impl RawLock {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU32::new(0),
            event: Event::new(),
        }
    }

    /// Takes the lock if it is free, returning the generation of the new holding. The
    /// uncontended case is one load and one compare-and-swap.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<u32> {
        self.try_lock_with(0)
    }

    /// Takes the lock if it is free, on behalf of a task that has been listening for it: marks it
    /// `WAITING` so that its release wakes whoever still queues behind.
    #[inline]
    pub(crate) fn try_lock_as_waiter(&self) -> Option<u32> {
        self.try_lock_with(WAITING)
    }

    #[inline]
    fn try_lock_with(&self, extra: u32) -> Option<u32> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return None;
            }
            let next = state.wrapping_add(GENERATION) | LOCKED | extra;
            match self.state.compare_exchange_weak(
                state,
                next,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(generation(next)),
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
        let old = self.state.fetch_and(!(LOCKED | WAITING), Ordering::AcqRel);
        if old & WAITING != 0 {
            self.event.notify(1);
        }
    }

    /// The state word: `Some(generation)` while held, `None` when free (a snapshot).
    #[inline]
    pub(crate) fn holding(&self, order: Ordering) -> Option<u32> {
        let state = self.state.load(order);
        (state & LOCKED != 0).then_some(generation(state))
    }

    /// Whether the lock is held right now (a snapshot).
    pub(crate) fn is_locked(&self) -> bool {
        self.holding(Ordering::Relaxed).is_some()
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
        assert_eq!(l.try_lock(), Some(1));
        assert!(l.is_locked());
        assert_eq!(l.try_lock(), None);
        assert_eq!(l.try_lock_as_waiter(), None);
        l.unlock();
        assert!(!l.is_locked());
        assert_eq!(l.try_lock(), Some(2), "every holding has a new generation");
        assert_eq!(l.holding(Ordering::Relaxed), Some(2));
    }

    #[test]
    fn release_wakes_a_listener_and_the_waiter_keeps_the_waiting_mark() {
        let l = RawLock::new();
        assert!(l.try_lock().is_some());
        let mut first = l.listen();
        let mut second = l.listen();
        assert!(l.try_lock_as_waiter().is_none());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut first).poll(&mut cx).is_pending());
        l.unlock();
        assert_eq!(Pin::new(&mut first).poll(&mut cx), Poll::Ready(()));
        assert!(l.try_lock_as_waiter().is_some());
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
        assert!(l.try_lock().is_some());
        l.unlock();
        assert!(!l.is_locked());
    }
}
