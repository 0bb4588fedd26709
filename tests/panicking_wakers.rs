//! A waker that panics while an acquire gives up (dropped, timed out) must not close a lock: the
//! release's bookkeeping (the waiting-writer count, the reservation, the wake-up passed on) is
//! done all the same, and a release that unwound is never redone. Afterwards every lock can be
//! taken again, in both modes.
//!
//! Shape of every case: locks `a` < `b`; `H` holds `b`; `F` = acquire `[a, b]` holds `a` and
//! waits for `b`; `X` = acquire `[a]` waits for `a` with a waker that panics when woken. `F`'s
//! release of `a` wakes `X`, whose waker panics in the middle of `F`'s release.
#![cfg(not(loom))]

mod common;

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use common::{assert_all_free, assert_waiters_are_woken};
use lockorder::{Error, LockManager, ManualTimer, MaybeTimer, StdTimer, Timer};

/// A waker that panics when woken.
struct Hostile;

impl std::task::Wake for Hostile {
    fn wake(self: Arc<Self>) {
        panic!("the waker panicked in wake");
    }
}

fn poll_with<F: Future>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    poll_with(f, Waker::noop())
}

/// Drops `x`, catching a panic; whether it panicked.
fn drop_catching<T>(x: T) -> bool {
    catch_unwind(AssertUnwindSafe(move || drop(x))).is_err()
}

fn ab_with<T: Timer>(timer: T) -> LockManager<T> {
    let mut b = LockManager::builder().timer(timer);
    b.register("a", 1).unwrap();
    b.register("b", 2).unwrap();
    b.build()
}

fn ab() -> LockManager {
    let mut b = LockManager::builder();
    b.register("a", 1).unwrap();
    b.register("b", 2).unwrap();
    b.build()
}

/// `X`: waits for `a` (held by `F`) with a waker that panics when woken.
fn hostile_waiter_for_a<T: MaybeTimer>(m: &LockManager<T>) -> Pin<Box<impl Future + '_>> {
    let mut x = Box::pin(m.acquire(["a"]));
    let waker = Waker::from(Arc::new(Hostile));
    assert!(poll_with(x.as_mut(), &waker).is_pending());
    x
}

/// 1. `F` is dropped while it waits for `b` as a writer. (Before the fix, `b`'s waiting-writer
///    count stayed up: `b` could be taken exclusive, but every shared try was refused for good.)
#[test]
fn a_dropped_waiter_whose_release_runs_a_panicking_waker_closes_no_lock() {
    let m = ab();
    let h = m.try_acquire(["b"]).unwrap();
    let mut f = Box::pin(m.acquire(["a", "b"]));
    assert!(poll_once(f.as_mut()).is_pending());
    let x = hostile_waiter_for_a(&m);
    assert!(drop_catching(f), "releasing `a` ran the panicking waker");
    drop(h);
    assert!(!drop_catching(x), "dropping the woken waiter is quiet");
    assert_all_free(&m);
    assert_waiters_are_woken(&m);
}

/// 2. `F` was woken for `b`, passed over by a newcomer, and reserved `b`; then it is dropped.
///    (Before the fix, the reservation stayed: `b` was free, yet refused to everyone for good.)
#[test]
fn a_dropped_reserving_waiter_whose_release_runs_a_panicking_waker_closes_no_lock() {
    let m = ab();
    let h = m.try_acquire(["b"]).unwrap();
    let mut f = Box::pin(m.acquire(["a", "b"]));
    assert!(poll_once(f.as_mut()).is_pending());
    drop(h);
    let newcomer = m.try_acquire(["b"]).unwrap();
    // Woken, and `b` is taken again: `F` reserves it.
    assert!(poll_once(f.as_mut()).is_pending());
    assert!(
        matches!(m.try_acquire(["b"]), Err(Error::WouldBlock { .. })),
        "`b` is held"
    );
    let x = hostile_waiter_for_a(&m);
    assert!(drop_catching(f), "releasing `a` ran the panicking waker");
    drop(newcomer);
    assert!(!drop_catching(x), "dropping the woken waiter is quiet");
    assert_all_free(&m);
    assert_waiters_are_woken(&m);
}

/// 3. `F` times out (virtual clock); its release panics out of `poll`; then it is dropped.
///    (Before the fix, the drop released again from the first lock of the set, and counted a
///    waiting writer off `a`, which `F` never waited for: the count wrapped, and both `a` and `b`
///    refused every shared try for good.)
#[test]
fn a_timed_out_waiter_whose_release_runs_a_panicking_waker_closes_no_lock() {
    let timer = ManualTimer::new();
    let m = ab_with(timer.clone());
    let h = m.try_acquire(["b"]).unwrap();
    let mut f = Box::pin(m.acquire(["a", "b"]).timeout(Duration::from_secs(1)));
    assert!(poll_once(f.as_mut()).is_pending());
    let x = hostile_waiter_for_a(&m);
    timer.advance(Duration::from_secs(2));
    let polled = catch_unwind(AssertUnwindSafe(|| poll_once(f.as_mut()).is_ready()));
    assert!(
        polled.is_err(),
        "the timeout's release ran the panicking waker"
    );
    // The release was done, though it unwound: the future holds nothing and is finished.
    assert!(!m.is_locked("a").unwrap());
    assert!(matches!(
        poll_once(f.as_mut()),
        Poll::Ready(Err(Error::PolledAfterCompletion))
    ));
    assert!(!drop_catching(f), "nothing is left to release");
    drop(h);
    assert!(!drop_catching(x), "dropping the woken waiter is quiet");
    assert_all_free(&m);
    assert_waiters_are_woken(&m);
}

/// 4. As 3, through `.wait()` with a real timeout: the panic unwinds through `wait`, which
///    drops the future. (Before the fix, a later shared wait for the free `a` timed out.)
#[test]
fn a_blocking_wait_whose_timeout_release_runs_a_panicking_waker_closes_no_lock() {
    let m = ab_with(StdTimer::new());
    let h = m.try_acquire(["b"]).unwrap();
    thread::scope(|s| {
        let m = &m;
        let f = s.spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                m.acquire(["a", "b"])
                    .timeout(Duration::from_millis(300))
                    .wait()
                    .map(drop)
            }))
        });
        let start = Instant::now();
        while !m.is_locked("a").unwrap() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "F never took `a`"
            );
            thread::yield_now();
        }
        let x = hostile_waiter_for_a(m);
        assert!(
            f.join().unwrap().is_err(),
            "the timeout's release ran the panicking waker"
        );
        drop(h);
        assert!(!drop_catching(x), "dropping the woken waiter is quiet");
    });
    let shared = m
        .acquire_shared(["a"])
        .timeout(Duration::from_millis(200))
        .wait()
        .map(drop);
    assert!(shared.is_ok(), "{shared:?}");
    assert_all_free(&m);
    assert_waiters_are_woken(&m);
}

/// A release wakes the readers at the head of the line; the first one's waker panics. The
/// reader behind it is woken all the same (it used to sleep on with its waiting bit cleared, on a
/// free lock).
#[test]
fn a_reader_whose_waker_panics_does_not_keep_the_readers_behind_it_asleep() {
    let m = ab();
    let h = m.try_acquire(["a"]).unwrap();
    let mut hostile = Box::pin(m.acquire_shared(["a"]));
    assert!(poll_with(hostile.as_mut(), &Waker::from(Arc::new(Hostile))).is_pending());
    let woken = Arc::new(Flag::default());
    let mut reader = Box::pin(m.acquire_shared(["a"]));
    assert!(poll_with(reader.as_mut(), &Waker::from(woken.clone())).is_pending());
    assert!(
        drop_catching(h),
        "the release ran the first reader's panicking waker"
    );
    assert!(
        woken.0.load(std::sync::atomic::Ordering::SeqCst),
        "the reader behind it was woken too"
    );
    assert!(!drop_catching(hostile));
    assert!(!drop_catching(reader));
    assert_all_free(&m);
    assert_waiters_are_woken(&m);
}

/// A release wakes the writer at the head of the line, and its waker panics; the reader behind
/// it, which the release left asleep, is woken when that writer gives up without taking the
/// lock (its wake-up passes on).
#[test]
fn a_writer_whose_waker_panics_does_not_keep_the_readers_asleep() {
    let m = ab();
    let h = m.try_acquire(["a"]).unwrap();
    let mut writer = Box::pin(m.acquire(["a"]));
    assert!(poll_with(writer.as_mut(), &Waker::from(Arc::new(Hostile))).is_pending());
    // The writer waits: a new reader yields, and listens (behind the waiting writer).
    let woken = Arc::new(Flag::default());
    let mut reader = Box::pin(m.acquire_shared(["a"]));
    assert!(poll_with(reader.as_mut(), &Waker::from(woken.clone())).is_pending());
    assert!(
        drop_catching(h),
        "the release ran the writer's panicking waker"
    );
    assert!(!drop_catching(writer));
    assert!(
        woken.0.load(std::sync::atomic::Ordering::SeqCst),
        "the writer's wake-up passed to the reader"
    );
    assert!(!drop_catching(reader));
    assert_all_free(&m);
    assert_waiters_are_woken(&m);
}

#[derive(Default)]
struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The virtual clock wakes every due sleep, even if one sleep's waker panics.
#[test]
fn a_panicking_waker_does_not_keep_the_virtual_clock_from_waking_the_others() {
    let timer = ManualTimer::new();
    let m = ab_with(timer.clone());
    let h = m.try_acquire(["a"]).unwrap();
    let mut hostile = Box::pin(m.acquire(["a"]).timeout(Duration::from_secs(1)));
    assert!(poll_with(hostile.as_mut(), &Waker::from(Arc::new(Hostile))).is_pending());
    let woken = Arc::new(Flag::default());
    let mut other = Box::pin(m.acquire(["a"]).timeout(Duration::from_secs(1)));
    assert!(poll_with(other.as_mut(), &Waker::from(woken.clone())).is_pending());
    let advanced = catch_unwind(AssertUnwindSafe(|| timer.advance(Duration::from_secs(2))));
    assert!(advanced.is_err(), "the first sleep's waker panicked");
    assert!(woken.0.load(std::sync::atomic::Ordering::SeqCst));
    assert!(matches!(
        poll_once(other.as_mut()),
        Poll::Ready(Err(Error::Timeout { .. }))
    ));
    drop(hostile);
    drop(h);
    assert_all_free(&m);
}
