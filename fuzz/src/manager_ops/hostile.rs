//! Wakers that panic, and the harness's way of living with them.
//!
//! A poll may give its future a counting waker that panics when woken (after counting the
//! wake-up) or when cloned. The library must finish whatever it was doing when such a waker
//! panics (a release gives back every lock and settles every waiting count, reservation and
//! wake-up before the panic goes on), so the model, which knows nothing of panics, still predicts
//! every lock and listener exactly. The harness catches these panics where they surface (drops
//! of futures and guards, polls, tries, the clock) and checks the model's invariants as after any
//! operation. Any other panic still crashes.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::task::{RawWaker, RawWakerVTable, Waker};

/// The payload of a hostile waker's panic.
pub(crate) struct HostilePanic;

/// How a counting waker misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) enum Panics {
    #[default]
    Never,
    InWake,
    InClone,
}

/// A waker that counts its wake-ups, and may panic.
#[derive(Default)]
pub(crate) struct Counter {
    wakes: AtomicUsize,
    panics: Panics,
}

impl Counter {
    pub(crate) fn new(panics: Panics) -> Arc<Self> {
        Arc::new(Self {
            wakes: AtomicUsize::new(0),
            panics,
        })
    }

    pub(crate) fn count(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }

    fn wake(&self) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if self.panics == Panics::InWake {
            std::panic::panic_any(HostilePanic);
        }
    }

    /// The waker to poll with.
    pub(crate) fn waker(self: &Arc<Self>) -> Waker {
        let data = Arc::into_raw(self.clone()).cast::<()>();
        // SAFETY: `data` is a strong count of an `Arc<Counter>`, which the vtable's functions
        // own and release exactly as documented for `RawWaker`.
        unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
/// `data` came from `Arc::<Counter>::into_raw` and its strong count is still held.
unsafe fn counter<'a>(data: *const ()) -> &'a Counter {
    // SAFETY: as the caller promises.
    unsafe { &*data.cast::<Counter>() }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: every `RawWaker` of this vtable holds a strong count.
    let c = unsafe { counter(data) };
    if c.panics == Panics::InClone {
        std::panic::panic_any(HostilePanic);
    }
    // SAFETY: as above; one more strong count for the clone.
    unsafe { Arc::increment_strong_count(data.cast::<Counter>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: this waker's strong count is given back when the guard drops, after the wake-up
    // (also if it panics).
    let owned = unsafe { Arc::from_raw(data.cast::<Counter>()) };
    owned.wake();
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: every `RawWaker` of this vtable holds a strong count.
    unsafe { counter(data) }.wake();
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the strong count this waker held.
    drop(unsafe { Arc::from_raw(data.cast::<Counter>()) });
}

/// Runs `f`; a hostile waker's panic out of it is caught (`None`), any other goes on.
pub(crate) fn catching<R>(f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) if payload.is::<HostilePanic>() => None,
        Err(payload) => resume_unwind(payload),
    }
}

/// Runs `f` (a drop), catching a hostile waker's panic.
pub(crate) fn quietly(f: impl FnOnce()) {
    let _ = catching(f);
}

/// Hostile wakers' panics are expected: the panic hook stays silent for them (libFuzzer's hook
/// would abort the process on any panic, caught or not) and passes every other one on.
pub(crate) fn quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<HostilePanic>() {
                previous(info);
            }
        }));
    });
}
