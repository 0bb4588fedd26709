//! A task's waker whose *drop* panics (the drop of a clone that a waiter list holds, or of one
//! the poll made and did not need) must not break the lock's waiting machinery either: a release that wakes such a waiter still leaves
//! every lock free, in both modes, with its waiters woken.
#![cfg(not(loom))]

mod common;

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{assert_all_free, assert_waiters_are_woken};
use lockorder::LockManager;

/// A waker whose clones panic when dropped (the original, data 0, drops quietly).
fn drop_hostile_waker() -> Waker {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(core::ptr::dangling::<()>(), &VTABLE)
    }
    fn wake(data: *const ()) {
        drop_waker(data);
    }
    fn wake_by_ref(_: *const ()) {}
    fn drop_waker(data: *const ()) {
        if !data.is_null() && !std::thread::panicking() {
            panic!("the waker panicked in drop");
        }
    }
    // SAFETY: the vtable's functions ignore the data pointer beyond testing it for null.
    unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VTABLE)) }
}

#[derive(Default)]
struct Flag(AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn poll_with<F: Future>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

fn drop_catching<T>(x: T) -> bool {
    catch_unwind(AssertUnwindSafe(move || drop(x))).is_err()
}

/// The second waiter (woken through `woken`) was woken and gets the lock; afterwards every lock
/// is free and wakes its waiters.
fn second_waiter_gets_it<F: Future<Output = Result<G, lockorder::Error>>, G>(
    m: &LockManager,
    woken: &Flag,
    mut y: Pin<Box<F>>,
) {
    assert!(
        woken.0.load(Ordering::SeqCst),
        "the second waiter was woken"
    );
    assert!(matches!(
        poll_with(y.as_mut(), Waker::noop()),
        Poll::Ready(Ok(_))
    ));
    drop(y);
    assert_all_free(m);
    assert_waiters_are_woken(m);
}

fn ab() -> LockManager {
    let mut b = LockManager::builder();
    b.register("a", 1).unwrap();
    b.register("b", 2).unwrap();
    b.build()
}

/// The release wakes a waiter whose waker's clone panics when dropped, in the notification: a
/// second waiter is still woken, and the lock's waiter lists keep notifying.
#[test]
fn a_waker_clone_that_panics_when_dropped_by_the_wake_up_closes_no_lock() {
    for shared in [false, true] {
        let m = ab();
        let h = m.try_acquire(["a"]).unwrap();
        let mut x = Box::pin(m.acquire(["a"]));
        assert!(poll_with(x.as_mut(), &drop_hostile_waker()).is_pending());
        let woken = Arc::new(Flag::default());
        let mut y = Box::pin(if shared {
            m.acquire_shared(["a"])
        } else {
            m.acquire(["a"])
        });
        assert!(poll_with(y.as_mut(), &Waker::from(woken.clone())).is_pending());
        assert!(
            drop_catching(h),
            "the waker's panic goes on from the release"
        );
        assert!(!drop_catching(x), "and is not raised again");
        second_waiter_gets_it(&m, &woken, y);
    }
}

/// A second poll registers a new waker; the one replaced (a clone whose drop panics) is dropped
/// after the waiter lists' lock. The acquire goes on when polled again, and nothing is closed.
#[test]
fn a_waker_clone_that_panics_when_replaced_closes_no_lock() {
    let m = ab();
    let h = m.try_acquire(["a"]).unwrap();
    let mut x = Box::pin(m.acquire(["a"]));
    assert!(poll_with(x.as_mut(), &drop_hostile_waker()).is_pending());
    let woken = Arc::new(Flag::default());
    let waker = Waker::from(woken.clone());
    let replaced = catch_unwind(AssertUnwindSafe(|| poll_with(x.as_mut(), &waker)));
    assert!(
        replaced.is_err(),
        "the replaced waker's panic comes out of the poll"
    );
    let again = catch_unwind(AssertUnwindSafe(|| poll_with(x.as_mut(), &waker)));
    assert!(
        matches!(again, Ok(Poll::Pending)),
        "then it waits on, quietly"
    );
    // No panic was kept back for a later, unrelated call on this thread.
    drop(h);
    assert!(woken.0.load(Ordering::SeqCst), "the waiter was woken");
    assert!(matches!(poll_with(x.as_mut(), &waker), Poll::Ready(Ok(_))));
    drop(x);
    assert_all_free(&m);
    assert_waiters_are_woken(&m);
}

/// A waiter whose waker's clone panics when dropped is cancelled: its release drops the waker,
/// the panic comes out of that drop, and a second waiter still gets the lock.
#[test]
fn a_cancelled_waiter_whose_waker_panics_when_dropped_closes_no_lock() {
    for shared in [false, true] {
        let m = ab();
        let h = m.try_acquire(["a", "b"]).unwrap();
        let mut x = Box::pin(if shared {
            m.acquire_shared(["a", "b"])
        } else {
            m.acquire(["a", "b"])
        });
        assert!(poll_with(x.as_mut(), &drop_hostile_waker()).is_pending());
        let woken = Arc::new(Flag::default());
        let mut y = Box::pin(m.acquire(["a", "b"]));
        assert!(poll_with(y.as_mut(), &Waker::from(woken.clone())).is_pending());
        assert!(
            drop_catching(x),
            "the waker's drop panicked in the cancellation"
        );
        drop(h);
        second_waiter_gets_it(&m, &woken, y);
    }
}

/// A waker that panics when woken.
struct Hostile;

impl std::task::Wake for Hostile {
    fn wake(self: Arc<Self>) {
        panic!("the waker panicked in wake");
    }
}

/// A release unwinds from one waiter's panicking waker; while unwinding, its own listener (woken,
/// not yet polled) is dropped and passes its wake-up on to a second waiter whose waker panics too.
/// That second panic is dropped with the unwinding, not kept for a later, unrelated release on
/// the thread (which would panic with another task's panic).
#[test]
fn a_waker_panic_while_unwinding_is_not_raised_later() {
    let m = ab();
    let h = m.try_acquire(["b"]).unwrap();
    let mut f = Box::pin(m.acquire(["a", "b"]));
    assert!(poll_with(f.as_mut(), Waker::noop()).is_pending());
    let hostile = Waker::from(Arc::new(Hostile));
    let mut x = Box::pin(m.acquire(["a"]));
    assert!(poll_with(x.as_mut(), &hostile).is_pending());
    let mut y = Box::pin(m.acquire(["b"]));
    assert!(poll_with(y.as_mut(), &hostile).is_pending());
    // `F` is woken for `b`, and given up before it polls again.
    assert!(!drop_catching(h));
    assert!(drop_catching(f), "releasing `a` ran `X`'s panicking waker");
    assert!(!drop_catching(x));
    assert!(!drop_catching(y));
    assert_all_free(&m);
    let quiet = catch_unwind(AssertUnwindSafe(|| assert_waiters_are_woken(&m)));
    assert!(
        quiet.is_ok(),
        "a later release raised a panic kept from before"
    );
}

/// A guard of several locks, a child guard and an owned guard are released while the first
/// lock's waiter panics in its waker: every lock is released all the same, and the waiter of
/// the last one is woken.
#[test]
fn guards_released_into_a_panicking_waker_release_every_lock() {
    for kind in 0..3 {
        let m = Arc::new(ab());
        let hostile = Waker::from(Arc::new(Hostile));
        let woken = Arc::new(Flag::default());
        // The child guard holds `b`: its waiter is the hostile one, and `a`'s the one woken.
        let (x_lock, y_lock) = if kind == 1 { ("b", "a") } else { ("a", "b") };
        let mut x = Box::pin(m.acquire([x_lock]));
        let mut y = Box::pin(m.acquire([y_lock]));
        let released = match kind {
            0 => {
                let g = m.try_acquire(["a", "b"]).unwrap();
                assert!(poll_with(x.as_mut(), &hostile).is_pending());
                assert!(poll_with(y.as_mut(), &Waker::from(woken.clone())).is_pending());
                drop_catching(g)
            }
            1 => {
                let mut parent = m.try_acquire(["a"]).unwrap();
                let child = parent.try_acquire(["b"]).unwrap();
                assert!(poll_with(x.as_mut(), &hostile).is_pending());
                assert!(poll_with(y.as_mut(), &Waker::from(woken.clone())).is_pending());
                let c = drop_catching(child);
                drop_catching(parent) || c
            }
            _ => {
                let g = m.clone().try_acquire_owned(["a", "b"]).unwrap();
                assert!(poll_with(x.as_mut(), &hostile).is_pending());
                assert!(poll_with(y.as_mut(), &Waker::from(woken.clone())).is_pending());
                drop_catching(g)
            }
        };
        assert!(
            released,
            "{kind}: the waker's panic goes on from the release"
        );
        assert!(
            woken.0.load(Ordering::SeqCst),
            "{kind}: `{y_lock}`'s waiter was woken"
        );
        assert!(matches!(
            poll_with(y.as_mut(), Waker::noop()),
            Poll::Ready(Ok(_))
        ));
        drop(y);
        assert!(!drop_catching(x));
        assert_all_free(&m);
        assert_waiters_are_woken(&m);
    }
}

/// A woken writer's poll unwinds from the drop of its own waker's clone (made before the lists'
/// lock, and not needed: the listener had fired), after its listener fired (and left its list)
/// and before it tried the lock, which a newcomer
/// took in between. The walk keeps that it was woken: dropped, it passes the wake-up on to the
/// writer queued behind it (G2); the newcomer's release, which finds no waiting bit, would not.
#[test]
fn a_writer_whose_poll_unwinds_after_its_listener_fired_passes_the_wake_up_on() {
    let m = ab();
    let h = m.try_acquire(["a"]).unwrap();
    let hostile = drop_hostile_waker();
    let mut x = Box::pin(m.acquire(["a"]));
    assert!(poll_with(x.as_mut(), &hostile).is_pending());
    let woken = Arc::new(Flag::default());
    let mut y = Box::pin(m.acquire(["a"]));
    assert!(poll_with(y.as_mut(), &Waker::from(woken.clone())).is_pending());
    // The release notifies `x`, the first writer; the clone dropped in that wake-up panics.
    assert!(drop_catching(h));
    // A newcomer takes the free lock before `x` polls (it sets no waiting bit).
    let newcomer = m.try_acquire(["a"]).unwrap();
    let polled = catch_unwind(AssertUnwindSafe(|| poll_with(x.as_mut(), &hostile)));
    assert!(
        polled.is_err(),
        "the poll unwound from the waker clone's drop"
    );
    assert!(!drop_catching(x));
    drop(newcomer);
    second_waiter_gets_it(&m, &woken, y);
}

/// The same poll, and the writer is polled again instead of dropped: it goes on as a woken
/// waiter (its listener, already off the list, is not polled again) and gets the lock once the
/// newcomer lets go.
#[test]
fn a_writer_whose_poll_unwound_after_its_listener_fired_can_be_polled_again() {
    let m = ab();
    let h = m.try_acquire(["a"]).unwrap();
    let hostile = drop_hostile_waker();
    let mut x = Box::pin(m.acquire(["a"]));
    assert!(poll_with(x.as_mut(), &hostile).is_pending());
    assert!(drop_catching(h));
    let newcomer = m.try_acquire(["a"]).unwrap();
    let polled = catch_unwind(AssertUnwindSafe(|| poll_with(x.as_mut(), &hostile)));
    assert!(polled.is_err());
    let again = catch_unwind(AssertUnwindSafe(|| poll_with(x.as_mut(), Waker::noop())));
    assert!(matches!(again, Ok(Poll::Pending)), "polled again, it waits");
    drop(newcomer);
    assert!(matches!(
        poll_with(x.as_mut(), Waker::noop()),
        Poll::Ready(Ok(_))
    ));
    drop(x);
    assert_all_free(&m);
    assert_waiters_are_woken(&m);
}

// A walk given up while an unlock of its release unwinds (a waker that panics when woken): the
// wake-up it owes the lock it waited for passes on all the same, and the same way as when
// nothing unwinds (the fuzz model predicts one way only).

/// `F` = [a, b] holds `a`, is woken for `b` and its poll unwinds (drop of its waker's clone)
/// before it tries `b`: woken, listener spent. Dropping `F` unlocks `a` first, which wakes `X`,
/// whose waker panics: the release unwinds out of the unlocks. The wake-up `F` owes `b` is
/// recorded before them, and `Y`, queued for `b` behind `F`, is woken.
#[test]
fn a_woken_walk_released_by_an_unwinding_unlock_still_passes_its_wake_up_on() {
    let m = ab();
    let h = m.try_acquire(["b"]).unwrap();
    let mut f = Box::pin(m.acquire(["a", "b"]));
    assert!(poll_with(f.as_mut(), Waker::noop()).is_pending());
    let woken = Arc::new(Flag::default());
    let mut y = Box::pin(m.acquire(["b"]));
    assert!(poll_with(y.as_mut(), &Waker::from(woken.clone())).is_pending());
    let mut x = Box::pin(m.acquire(["a"]));
    assert!(poll_with(x.as_mut(), &Waker::from(Arc::new(Hostile))).is_pending());
    // `b`'s release notifies `F`, the first writer in line.
    drop(h);
    assert!(!woken.0.load(Ordering::SeqCst));
    // A newcomer takes the free `b` before `F` polls (it sets no waiting bit).
    let newcomer = m.try_acquire(["b"]).unwrap();
    // `F` polls: its listener fired; the poll unwinds before it tries `b`.
    let polled = catch_unwind(AssertUnwindSafe(|| {
        poll_with(f.as_mut(), &drop_hostile_waker())
    }));
    assert!(polled.is_err(), "the poll unwound after the listener fired");
    // Given up: the release of `a` runs `X`'s panicking waker.
    assert!(drop_catching(f), "the unlock of `a` unwound");
    assert!(!drop_catching(x));
    drop(newcomer);
    assert!(
        woken.0.load(Ordering::SeqCst),
        "`Y`, queued for `b` behind `F`, was never woken: `b` is free and nobody will wake it"
    );
    drop(y);
}

/// The same without `X` (no unlock unwinds): `Y` is woken (G2, from a walk woken whose listener
/// is spent).
#[test]
fn a_woken_walk_that_gave_up_before_trying_passes_its_wake_up_on() {
    let m = ab();
    let h = m.try_acquire(["b"]).unwrap();
    let mut f = Box::pin(m.acquire(["a", "b"]));
    assert!(poll_with(f.as_mut(), Waker::noop()).is_pending());
    let woken = Arc::new(Flag::default());
    let mut y = Box::pin(m.acquire(["b"]));
    assert!(poll_with(y.as_mut(), &Waker::from(woken.clone())).is_pending());
    drop(h);
    let newcomer = m.try_acquire(["b"]).unwrap();
    let polled = catch_unwind(AssertUnwindSafe(|| {
        poll_with(f.as_mut(), &drop_hostile_waker())
    }));
    assert!(polled.is_err());
    assert!(!drop_catching(f));
    drop(newcomer);
    assert!(woken.0.load(Ordering::SeqCst));
    assert!(matches!(
        poll_with(y.as_mut(), Waker::noop()),
        Poll::Ready(Ok(_))
    ));
}

/// A release that unwinds from an unlock still discards the listener of the lock waited for and
/// passes its notification on as G2 says, to whoever is next in line: every reader, and one
/// writer more than are notified. Dropped instead (as `event-listener`'s listeners were), it
/// would pass on as it came, to one writer, and `R`, the reader behind `F` that the release left
/// asleep (R2: `F` was the head of the line), would sleep on with `b` free.
#[test]
fn an_unwinding_release_passes_on_as_a_normal_one_does() {
    passes_on_to_the_rest_of_the_line(true);
}

/// The same without `X`: the release discards the listener and passes on to `R` and `Q`.
#[test]
fn a_release_passes_on_to_the_readers_and_one_writer_more() {
    passes_on_to_the_rest_of_the_line(false);
}

/// `F` = [a, b] holds `a` and waits for `b` at the head of the line, the reader `R` and the
/// writer `Q` behind it; `b`'s release wakes `F` alone. `F` is dropped with its notification
/// unused; with `unwinding`, the unlock of `a` runs `X`'s panicking waker first.
fn passes_on_to_the_rest_of_the_line(unwinding: bool) {
    let m = ab();
    let h = m.try_acquire(["b"]).unwrap();
    let mut f = Box::pin(m.acquire(["a", "b"]));
    assert!(poll_with(f.as_mut(), Waker::noop()).is_pending());
    let r_woken = Arc::new(Flag::default());
    let mut r = Box::pin(m.acquire_shared(["b"]));
    assert!(poll_with(r.as_mut(), &Waker::from(r_woken.clone())).is_pending());
    let q_woken = Arc::new(Flag::default());
    let mut q = Box::pin(m.acquire(["b"]));
    assert!(poll_with(q.as_mut(), &Waker::from(q_woken.clone())).is_pending());
    let mut x = Box::pin(m.acquire(["a"]));
    let waker = if unwinding {
        Waker::from(Arc::new(Hostile))
    } else {
        Waker::noop().clone()
    };
    assert!(poll_with(x.as_mut(), &waker).is_pending());
    drop(h);
    assert!(!r_woken.0.load(Ordering::SeqCst) && !q_woken.0.load(Ordering::SeqCst));
    assert_eq!(drop_catching(f), unwinding, "the unlock of `a` unwinds");
    assert!(!drop_catching(x));
    assert!(
        r_woken.0.load(Ordering::SeqCst),
        "G2 wakes the readers behind `F`: `R`"
    );
    assert!(
        q_woken.0.load(Ordering::SeqCst),
        "G2 wakes one writer more than are notified: `Q`"
    );
    assert!(matches!(
        poll_with(r.as_mut(), Waker::noop()),
        Poll::Ready(Ok(_))
    ));
    drop((q, r));
    assert_all_free(&m);
}
