//! Wakers that panic.
//!
//! A release wakes other tasks' wakers: foreign code, which may panic. Two things must hold all
//! the same: the release's own bookkeeping is completed (the walk and the guards see to that, with
//! drop guards), and the waiting machinery stays sound. The second is this module's.
//!
//! The waiter lists ([`crate::waiters`]) run a waker's `wake` and `drop` after their lock, each
//! through [`catching`]: with `std`, a panic there is caught and kept for the thread, and the
//! notification goes on to wake every waiter it notified. Each operation of the raw lock that
//! wakes or drops wakers calls [`resume`] once it is done: the panic goes on from there, in
//! lockorder's code, with the lists and the lock word consistent. While the thread is already
//! unwinding (a drop guard finishing a release), a kept panic is dropped instead, so a second
//! panicking waker does not abort the process. Without `std` there is no catching: a waker that
//! panics unwinds from the notification, after the lists' lock, leaving them sound but the
//! waiters after it in that notification unwoken (on most `no_std` targets a panic aborts
//! anyway).

#[cfg(feature = "std")]
use core::cell::Cell;
#[cfg(feature = "std")]
use core::sync::atomic::{AtomicUsize, Ordering};

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

/// Keeps `payload` for [`resume`], unless a panic is kept already (the first one goes on), or
/// the thread is unwinding: then it is dropped at once, as [`resume`] would drop it, since a
/// wake-up while unwinding may be followed by no [`resume`] at all, and a kept panic would come
/// out of a later, unrelated call.
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

/// Runs `f`, foreign code of the waiting machinery (a waker's wake-up or drop), catching a panic
/// and keeping it for [`resume`] (with `std`; without it, a panic unwinds from here).
#[inline]
pub(crate) fn catching(f: impl FnOnce()) {
    #[cfg(feature = "std")]
    if let Err(payload) = std::panic::catch_unwind(core::panic::AssertUnwindSafe(f)) {
        keep(payload);
    }
    #[cfg(not(feature = "std"))]
    f();
}
