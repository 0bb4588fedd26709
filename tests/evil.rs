//! Hostile callers and hostile timers: panics inside a critical section and inside a timer's
//! sleep, timers that fire at once or never, wakers that do nothing. After each, the manager must
//! be consistent: every lock free, and all of them can be taken again.
#![cfg(not(loom))]

mod common;

use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use futures_lite::future::block_on;
use lockorder::{Error, LockManager, MaybeTimer, NoTimer, Timer};

const NAMES: [&str; 3] = ["a", "b", "c"];

fn manager_with<T: Timer>(timer: T) -> LockManager<T> {
    let mut b = LockManager::builder()
        .timer(timer)
        .default_timeout(Duration::from_secs(10));
    for (order, name) in (1..).zip(NAMES) {
        b.register(name, order).unwrap();
    }
    b.build()
}

fn manager() -> LockManager<NoTimer> {
    let mut b = LockManager::builder();
    for (order, name) in (1..).zip(NAMES) {
        b.register(name, order).unwrap();
    }
    b.build()
}

/// Every lock is free and can be taken in both modes, and all of them can be taken at once.
fn assert_consistent<T: MaybeTimer>(m: &LockManager<T>) {
    common::assert_all_free(m);
    let g = m.try_acquire(NAMES).expect("every lock can be taken");
    assert!(NAMES.iter().all(|n| g.holds(n)));
}

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

// === panics inside the critical section ===

#[test]
fn panic_while_holding_releases_on_unwind() {
    let m = manager();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut outer = m.try_acquire(["a"]).unwrap();
        let _inner = outer.try_acquire(["b", "c"]).unwrap();
        panic!("inside the critical section");
    }));
    assert!(result.is_err());
    assert_consistent(&m);
}

#[test]
fn panic_while_holding_wakes_the_waiters() {
    let m = manager();
    let g = m.try_acquire(["a", "b"]).unwrap();
    thread::scope(|s| {
        let waiter = s.spawn(|| block_on(m.acquire(["b", "c"])).map(drop));
        // The panic drops the guard while unwinding; that release must wake the waiter.
        let result = catch_unwind(AssertUnwindSafe(move || {
            let _g = g;
            panic!("inside the critical section");
        }));
        assert!(result.is_err());
        waiter.join().unwrap().unwrap();
    });
    assert_consistent(&m);
}

// === timers that panic, fire at once, or never fire ===

/// A timer whose sleeps panic when polled (or, with `in_sleep`, already when created).
#[derive(Clone, Default)]
struct PanickingTimer {
    in_sleep: bool,
}

struct PanickingSleep;

impl Future for PanickingSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        panic!("the timer's sleep panicked");
    }
}

impl Timer for PanickingTimer {
    type Sleep = PanickingSleep;
    fn now(&self) -> Duration {
        Duration::ZERO
    }
    fn sleep(&self, _: Duration) -> PanickingSleep {
        assert!(!self.in_sleep, "the timer panicked creating a sleep");
        PanickingSleep
    }
}

fn timer_panics_mid_acquire(timer: PanickingTimer) {
    let m = manager_with(timer);
    let busy = m.try_acquire(["b"]).unwrap();
    thread::scope(|s| {
        // Takes "a", then meets the busy "b": the timer panics, with "a" held.
        let mut acquire = Box::pin(m.acquire(["a", "b"]));
        let result = catch_unwind(AssertUnwindSafe(|| poll_once(acquire.as_mut())));
        assert!(result.is_err());
        assert!(m.is_locked("a").unwrap(), "the future still holds \"a\"");

        // Someone else waits for "a"; dropping the panicked future must let it in.
        let waiter = s.spawn(|| block_on(m.acquire(["a"]).no_timeout()).map(drop));
        drop(acquire);
        waiter.join().unwrap().unwrap();
    });
    drop(busy);
    assert_consistent(&m);
}

#[test]
fn panic_in_sleep_poll_leaks_nothing() {
    timer_panics_mid_acquire(PanickingTimer { in_sleep: false });
}

#[test]
fn panic_creating_sleep_leaks_nothing() {
    timer_panics_mid_acquire(PanickingTimer { in_sleep: true });
}

/// A timer whose sleeps complete at once, or never; it counts the sleeps it made.
#[derive(Clone, Default)]
struct FixedTimer {
    fires: bool,
    sleeps: Arc<AtomicUsize>,
}

struct FixedSleep(bool);

impl Future for FixedSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Timer for FixedTimer {
    type Sleep = FixedSleep;
    fn now(&self) -> Duration {
        Duration::ZERO
    }
    fn sleep(&self, _: Duration) -> FixedSleep {
        self.sleeps.fetch_add(1, Ordering::Relaxed);
        FixedSleep(self.fires)
    }
}

#[test]
fn timer_firing_at_once_times_out_at_first_contention() {
    let timer = FixedTimer {
        fires: true,
        ..FixedTimer::default()
    };
    let m = manager_with(timer.clone());

    // No contention: the timer is never asked, the locks are taken.
    drop(block_on(m.acquire(NAMES)).unwrap());
    assert_eq!(timer.sleeps.load(Ordering::Relaxed), 0);

    // "a" is taken, "b" is busy: timeout on "b", and "a" is given back.
    let busy = m.try_acquire(["b"]).unwrap();
    let err = block_on(m.acquire(["c", "a", "b"])).unwrap_err();
    assert!(
        matches!(err, Error::Timeout { ref lock } if lock == "b"),
        "{err}"
    );
    assert_eq!(timer.sleeps.load(Ordering::Relaxed), 1);
    assert!(!m.is_locked("a").unwrap());
    drop(busy);
    assert_consistent(&m);
}

#[test]
fn timer_never_firing_waits_for_the_release() {
    let m = manager_with(FixedTimer::default());
    let busy = m.try_acquire(["b"]).unwrap();
    thread::scope(|s| {
        let mut acquire = Box::pin(m.acquire(["a", "b"]).timeout(Duration::from_secs(1)));
        assert!(poll_once(acquire.as_mut()).is_pending());
        assert!(m.is_locked("a").unwrap());
        // Released from another thread: the real waker of block_on is woken.
        s.spawn(move || drop(busy));
        let g = block_on(acquire).unwrap();
        assert!(g.holds("a") && g.holds("b"));
    });
    assert_consistent(&m);
}

// === wakers that do nothing ===

#[test]
fn noop_waker_makes_progress_by_polling_again() {
    let m = manager();
    let first = m.try_acquire(["a"]).unwrap();
    let second = m.try_acquire(["c"]).unwrap();
    let mut acquire = pin!(m.acquire(["c", "b", "a"]));
    assert!(poll_once(acquire.as_mut()).is_pending());
    assert!(poll_once(acquire.as_mut()).is_pending());
    drop(first);
    // "a" and "b" are free now, "c" is not.
    assert!(poll_once(acquire.as_mut()).is_pending());
    assert!(m.is_locked("a").unwrap() && m.is_locked("b").unwrap());
    drop(second);
    let g = match poll_once(acquire.as_mut()) {
        Poll::Ready(g) => g.unwrap(),
        Poll::Pending => panic!("all locks are free, yet the acquire still waits"),
    };
    assert!(NAMES.iter().all(|n| g.holds(n)));
    drop(g);
    // Polled after completion: an error, never a second guard.
    assert!(matches!(
        poll_once(acquire.as_mut()),
        Poll::Ready(Err(Error::PolledAfterCompletion))
    ));
    assert_consistent(&m);
}

#[test]
fn noop_waker_cancelled_after_its_wake_up_passes_it_on() {
    let m = manager();
    let busy = m.try_acquire(["a"]).unwrap();
    // The first listener is polled with a waker that does nothing, the second blocks a thread.
    let mut ignored = Box::pin(m.acquire(["a"]));
    assert!(poll_once(ignored.as_mut()).is_pending());
    thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        let m = &m;
        let waiter = s.spawn(move || {
            let mut acquire = pin!(m.acquire(["a"]));
            // Registered behind `ignored` before the release below.
            assert!(poll_once(acquire.as_mut()).is_pending());
            tx.send(()).unwrap();
            block_on(acquire).map(drop)
        });
        rx.recv().unwrap();
        // The release notifies `ignored`, which never looks; dropping it must pass that on.
        drop(busy);
        drop(ignored);
        waiter.join().unwrap().unwrap();
    });
    assert_consistent(&m);
}

// === a poll that unwinds can go on ===

/// A timer that panics once — in `now`, in `sleep`, or in the sleep's poll, as chosen — and
/// then behaves (its sleeps never fire).
#[derive(Clone)]
struct PanicsOnce {
    at: &'static str,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

impl PanicsOnce {
    fn new(at: &'static str) -> Self {
        Self {
            at,
            armed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn maybe_panic(&self, here: &str) {
        if self.at == here && self.armed.swap(false, Ordering::SeqCst) {
            panic!("the timer panicked in {here}");
        }
    }
}

struct OnceSleep(PanicsOnce);

impl Future for OnceSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.0.maybe_panic("poll");
        Poll::Pending
    }
}

impl Timer for PanicsOnce {
    type Sleep = OnceSleep;
    fn now(&self) -> Duration {
        self.maybe_panic("now");
        Duration::ZERO
    }
    fn sleep(&self, _: Duration) -> OnceSleep {
        self.maybe_panic("sleep");
        OnceSleep(self.clone())
    }
}

/// The future keeps the state it reached when the timer panicked: polled again it goes on, and
/// it gets its locks once they are free. (It used to answer `PolledAfterCompletion` while still
/// holding "a".)
#[test]
fn a_poll_that_unwound_in_the_timer_goes_on_when_polled_again() {
    for at in ["now", "sleep", "poll"] {
        let timer = PanicsOnce::new(at);
        let m = manager_with(timer.clone());
        let busy = m.try_acquire(["b"]).unwrap();
        let mut acquire = Box::pin(m.acquire(["a", "b"]));
        if at == "poll" {
            // The sleep exists before the timer is armed: its poll is what panics.
            assert!(poll_once(acquire.as_mut()).is_pending(), "{at}");
        }
        timer.arm();
        let result = catch_unwind(AssertUnwindSafe(|| poll_once(acquire.as_mut())));
        assert!(result.is_err(), "{at}: the timer's panic propagates");
        assert_eq!(m.is_locked("a").unwrap(), at != "now", "{at}");
        assert!(poll_once(acquire.as_mut()).is_pending(), "{at}: goes on");
        assert!(m.is_locked("a").unwrap(), "{at}");
        drop(busy);
        let g = match poll_once(acquire.as_mut()) {
            Poll::Ready(g) => g.unwrap(),
            Poll::Pending => panic!("{at}: both locks are free, yet it waits"),
        };
        assert!(g.holds("a") && g.holds("b"), "{at}");
        drop(g);
        drop(acquire);
        assert_consistent(&m);
    }
}

/// With statistics on, a guard reads the clock when it is dropped (for hold times). A clock that
/// panics there leaves no lock held. (Drop used to read the clock before its unlock loop.)
#[test]
fn a_clock_that_panics_while_a_guard_is_dropped_keeps_no_lock() {
    let timer = PanicsOnce::new("now");
    let m = manager_with(timer.clone());
    let g = m.try_acquire(NAMES).unwrap();
    timer.arm();
    let result = catch_unwind(AssertUnwindSafe(move || drop(g)));
    // Only a build with statistics reads the clock on release.
    assert_eq!(result.is_err(), cfg!(feature = "stats"));
    timer.armed.store(false, Ordering::SeqCst);
    assert_consistent(&m);
}

// === wakers that panic ===

/// A waker that panics when woken.
struct Hostile;

impl std::task::Wake for Hostile {
    fn wake(self: Arc<Self>) {
        panic!("the waker panicked in wake");
    }
}

/// A waker that panics when woken, or (`on_clone`) when cloned.
fn hostile_waker(on_clone: bool) -> Waker {
    if !on_clone {
        return Waker::from(Arc::new(Hostile));
    }
    use std::task::{RawWaker, RawWakerVTable};
    fn clone(_: *const ()) -> RawWaker {
        panic!("the waker panicked in clone");
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: every vtable function ignores the data pointer, so a null pointer is fine; `clone`
    // panics by design, which is the behaviour under test.
    unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VTABLE)) }
}

/// Drops `x`, which must not panic. (A waker that panicked inside a notification made under the
/// waiter list's lock could once leave that list's counts wrong, and dropping a listener of it
/// later panicked in a debug build; wakers now run after the lock, and with `std` their panics
/// are caught and resumed once the release is done.)
fn drop_catching<T>(x: T) {
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(x)));
    assert!(dropped.is_ok(), "dropping it panicked");
}

/// Every lock is free and can be taken in both modes, and all can be taken at once.
fn assert_all_free<T: MaybeTimer>(m: &LockManager<T>) {
    assert!(locked_any(m).is_empty(), "{:?} still held", locked_any(m));
    common::assert_all_free(m);
    drop(m.try_acquire(NAMES).expect("every lock can be taken"));
}

/// A guard whose release wakes a waiter with a panicking waker: the panic escapes from the drop,
/// yet every lock of the guard is released. (The lower locks used to stay held.)
#[test]
fn a_waker_that_panics_when_woken_leaves_no_lock_held() {
    let m = manager();
    let g = m.try_acquire(["a", "b", "c"]).unwrap();
    let mut waiter = Box::pin(m.acquire(["c"]));
    let waker = hostile_waker(false);
    assert!(waiter
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    // "c" is released first and its waiter woken: the panic must not keep "b" and "a".
    let result = catch_unwind(AssertUnwindSafe(move || drop(g)));
    assert!(result.is_err(), "the waker's panic propagates");
    assert!(locked_any(&m).is_empty(), "{:?} still held", locked_any(&m));
    // The waiter still waits for "c" as a writer (new readers yield to it) until it is dropped.
    drop_catching(waiter);
    assert_all_free(&m);
}

/// A waiting future whose waker panics when it is cloned (when the future registers it): the
/// poll unwinds, the future keeps what it took, and dropping it releases that and stops
/// listening, so the lock's holder can release without trouble.
#[test]
fn a_waker_that_panics_when_cloned_leaves_no_lock_held() {
    let m = manager();
    let busy = m.try_acquire(["b"]).unwrap();
    let mut acquire = Box::pin(m.acquire(["a", "b"]));
    let waker = hostile_waker(true);
    let result = catch_unwind(AssertUnwindSafe(|| {
        acquire.as_mut().poll(&mut Context::from_waker(&waker))
    }));
    assert!(result.is_err(), "the clone's panic propagates");
    assert!(m.is_locked("a").unwrap(), "the future still holds \"a\"");
    drop_catching(acquire);
    assert!(!m.is_locked("a").unwrap());
    drop_catching(busy);
    assert_all_free(&m);
}

/// A future notified for "b" and cancelled before it looks passes the notification on while it
/// releases "a"; the next waiter's waker panics. "a" is released all the same. (The release used
/// to drop the listener, and so wake the next waiter, before unlocking.)
#[test]
fn a_cancelled_waiter_releases_before_passing_its_wake_up_on() {
    let m = manager();
    let busy = m.try_acquire(["b"]).unwrap();
    let mut first = Box::pin(m.acquire(["a", "b"]));
    assert!(poll_once(first.as_mut()).is_pending());
    let mut second = Box::pin(m.acquire(["b"]));
    let waker = hostile_waker(false);
    assert!(second
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    // Notifies `first`, which never looks.
    drop(busy);
    let result = catch_unwind(AssertUnwindSafe(move || drop(first)));
    assert!(
        result.is_err(),
        "passing the wake-up on ran the panicking waker"
    );
    assert!(!m.is_locked("a").unwrap(), "\"a\" was released first");
    drop_catching(second);
    assert_all_free(&m);
}

fn locked_any<T: MaybeTimer>(m: &LockManager<T>) -> Vec<String> {
    m.locks()
        .filter(|l| m.is_locked(l.id()).unwrap())
        .map(|l| l.name().to_owned())
        .collect()
}

/// A reader takes a lock it had reserved, and that take wakes the readers queued behind it; one
/// of their wakers panics. The take is recorded before anyone is woken, so the future can go
/// on, and dropping it gives the lock back. (The wake-up used to run between the take and its
/// record, so the reader's share leaked and the lock stayed held for good.)
#[test]
fn a_waker_that_panics_while_a_reserving_reader_takes_leaves_no_lock_held() {
    let m = manager();
    let writer = m.try_acquire(["a"]).unwrap();
    let mut reserving = Box::pin(m.acquire_shared(["a"]));
    assert!(poll_once(reserving.as_mut()).is_pending());
    drop(writer);
    let newcomer = m.try_acquire(["a"]).unwrap();
    // Woken, passed over: reserves.
    assert!(poll_once(reserving.as_mut()).is_pending());
    let mut queued = Box::pin(m.acquire_shared(["a"]));
    let waker = hostile_waker(false);
    assert!(queued
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    drop(newcomer);
    let result = catch_unwind(AssertUnwindSafe(|| poll_once(reserving.as_mut())));
    assert!(result.is_err(), "the queued reader's waker panicked");
    drop_catching(reserving);
    drop_catching(queued);
    assert_all_free(&m);
}

/// A waker whose `clone` releases the very lock the task waits for: the clone runs outside the
/// waiter lists' lock (with `std`), so the release it makes is served like any other, and the
/// waiting task, notified by it, takes the lock at once. (Cloned under the lists' lock, this
/// hangs on `std`'s mutex; the thread and the channel turn a hang into a failure.)
#[test]
fn a_waker_whose_clone_releases_the_awaited_lock_does_not_hang() {
    use std::sync::mpsc;
    use std::sync::Mutex;
    use std::task::{RawWaker, RawWakerVTable};

    static HELD: Mutex<Option<lockorder::OwnedGuard>> = Mutex::new(None);
    const VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    fn clone(_: *const ()) -> RawWaker {
        // Taken out first, so the guard's drop runs with `HELD` unlocked.
        let held = HELD.lock().unwrap().take();
        drop(held);
        RawWaker::new(core::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}

    let m = Arc::new(manager());
    let (done, finished) = mpsc::channel();
    let waiter = m.clone();
    let thread = thread::spawn(move || {
        let m = waiter;
        *HELD.lock().unwrap() = Some(m.try_acquire_owned(["a"]).unwrap());
        // SAFETY: the vtable's functions ignore the data pointer.
        let waker = unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VTABLE)) };
        let mut acquire = pin!(m.acquire(["a"]));
        let got = acquire.as_mut().poll(&mut Context::from_waker(&waker));
        let took = matches!(got, Poll::Ready(Ok(_)));
        drop(got);
        done.send(took).unwrap();
    });
    let got = finished
        .recv_timeout(Duration::from_secs(10))
        .expect("the acquire hung in its waker's clone");
    thread.join().unwrap();
    assert!(
        got,
        "notified by the release in its waker's clone, it took the lock"
    );
    assert!(m.try_acquire(["a"]).is_ok(), "and gave it back");
}
