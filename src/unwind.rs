//! Wakers that panic.
//!
//! A release wakes other tasks' wakers: foreign code, which may panic. Two things must hold all
//! the same: the release's own bookkeeping is completed (the walk and the guards see to that, with
//! drop guards), and the waiting machinery stays sound. The second is this module's.
//!
//! event-listener calls a listener's waker while it holds its list's lock, and a waker that
//! unwinds out of there leaves the list's counts wrong: a later removal underflows (a panic in a
//! debug build; in a release build the event stops notifying for good, so every later waiter of
//! that lock sleeps until its timeout). So with `std` a walk never hands a task's waker to
//! event-listener: it registers a wrapper ([`with_task_waker`]), whose wake-up catches a panic
//! of the task's waker and keeps it for the thread. Each operation of the raw lock that notifies calls
//! [`resume`] once its notifications are done: the panic goes on from there, in lockorder's
//! code, with event-listener consistent. While the thread is already unwinding (a drop guard
//! finishing a release), a kept panic is dropped instead, so a second panicking waker does not
//! abort the process. Without `std` there is no catching: a waker that panics unwinds through
//! event-listener (on most `no_std` targets a panic aborts anyway).

#[cfg(feature = "std")]
use alloc::sync::Arc;
#[cfg(feature = "std")]
use core::cell::Cell;
#[cfg(feature = "std")]
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::Waker;

#[cfg(feature = "std")]
std::thread_local! {
    /// The first panic of a waker woken by this thread and not yet resumed.
    static KEPT: Cell<Option<std::boxed::Box<dyn core::any::Any + Send>>> = const { Cell::new(None) };
}

/// Continues a panic that a waker woken by this thread raised (if any), now that the
/// notifications are done; while the thread is already unwinding, drops it instead.
#[inline]
pub(crate) fn resume() {
    #[cfg(feature = "std")]
    if KEEPING.load(Ordering::Relaxed) != 0 {
        if let Some(payload) = KEPT.with(Cell::take) {
            KEEPING.fetch_sub(1, Ordering::Relaxed);
            if !std::thread::panicking() {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

/// How many threads keep a panic in [`KEPT`]. [`resume`] runs after every release that woke
/// anyone; it looks at the thread-local only when some thread keeps a panic, since a thread's first
/// access to it registers its destructor, which allocates. A thread's own increment comes before
/// its own load, so it never misses its own panic.
#[cfg(feature = "std")]
static KEEPING: AtomicUsize = AtomicUsize::new(0);

/// Runs `f`, which may run foreign code, from a drop guard: when the thread is already
/// unwinding, a second panic is caught and dropped (with `std`) rather than aborting the
/// process; the first panic goes on.
#[inline]
pub(crate) fn finishing(f: impl FnOnce()) {
    #[cfg(feature = "std")]
    if std::thread::panicking() {
        let _ = std::panic::catch_unwind(core::panic::AssertUnwindSafe(f));
        return;
    }
    f();
}

/// Runs `f` when dropped: on the normal path where it is dropped, or while unwinding (then
/// through [`finishing`]).
pub(crate) struct Finally<F: FnMut()>(pub(crate) F);

impl<F: FnMut()> Drop for Finally<F> {
    fn drop(&mut self) {
        finishing(&mut self.0);
    }
}

/// A task's waker whose wake-up and drop catch the waker's panic and keep it for [`resume`].
///
/// The drop matters as much as the wake-up: event-listener wakes a listener by value, so the
/// last reference to the wrapper, and with it the task's waker, is dropped inside its
/// notification, while it holds its list's lock.
#[cfg(feature = "std")]
struct Catching(Waker);

/// Keeps `payload` for [`resume`], unless a panic is kept already (the first one goes on), or
/// the thread is unwinding: then it is dropped at once, as [`resume`] would drop it, since a
/// wake-up while unwinding (a dropped listener passing its notification on) may be followed by
/// no [`resume`] at all, and a kept panic would come out of a later, unrelated call.
#[cfg(feature = "std")]
fn keep(payload: std::boxed::Box<dyn core::any::Any + Send>) {
    if std::thread::panicking() {
        return;
    }
    KEPT.with(|kept| {
        let first = match kept.take() {
            Some(first) => first,
            None => {
                KEEPING.fetch_add(1, Ordering::Relaxed);
                payload
            }
        };
        kept.set(Some(first));
    });
}

#[cfg(feature = "std")]
impl Drop for Catching {
    fn drop(&mut self) {
        let task = core::mem::replace(&mut self.0, Waker::noop().clone());
        if let Err(payload) = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| drop(task)))
        {
            keep(payload);
        }
    }
}

#[cfg(feature = "std")]
impl alloc::task::Wake for Catching {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Err(payload) =
            std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| self.0.wake_by_ref()))
        {
            keep(payload);
        }
    }
}

/// Calls `f` with the waker to register with event-listener for the task whose waker is `task`:
/// with `std`, a wrapper that catches the task's waker's panics (see the module docs).
///
/// The wrapper is made anew for each poll of a waiting walk (one allocation, on the contended
/// path only) rather than kept in the walk: a field with a destructor in every acquire future
/// costs the uncontended path its drop. Cloning `task` (foreign code) happens here.
#[inline]
pub(crate) fn with_task_waker<R>(task: &Waker, f: impl FnOnce(&Waker) -> R) -> R {
    #[cfg(feature = "std")]
    {
        f(&Waker::from(Arc::new(Catching(task.clone()))))
    }
    #[cfg(not(feature = "std"))]
    f(task)
}
