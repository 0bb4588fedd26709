//! The uncontended path allocates nothing: a counting global allocator measures acquire and
//! release of 1, 16 and 128 locks, by id and by name, `try_acquire`, nested guards, and a
//! manager with a timer. Its own test binary, because it replaces the global allocator.
#![cfg(not(loom))]

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use lockorder::{Guard, Key, LockId, LockManager, ManualTimer, MaybeTimer};

/// Counts the allocations made by the current thread, then defers to the system allocator.
struct Counting;

thread_local! {
    // A const-initialized `Cell` without a destructor: reading it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the slot may be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; counting touches only a thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded from our caller, who upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// How many allocations `f` made on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.with(Cell::get);
    let r = f();
    (ALLOCATIONS.with(Cell::get) - before, r)
}

/// Polls once with a waker that does nothing: an uncontended acquire is ready at once.
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an uncontended acquire waited"),
    }
}

fn manager<T: MaybeTimer>(b: lockorder::Builder<T>, n: usize) -> (LockManager<T>, Vec<LockId>) {
    let mut b = b;
    for i in 0..n {
        b.register(&format!("lock-{i}"), i as u32).unwrap();
    }
    let m = b.build();
    let ids = (0..n)
        .map(|i| m.id(&format!("lock-{i}")).unwrap())
        .collect();
    (m, ids)
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("lock-{i}")).collect()
}

/// Acquire, then release, `keys` in every uncontended way; each must allocate nothing.
fn assert_no_allocation<T: MaybeTimer, K: Key>(m: &LockManager<T>, keys: &[K], what: &str) {
    let (n, ()) = allocations(|| {
        let g = ready(m.acquire(keys)).unwrap();
        assert!(g.holds(&keys[0]));
        drop(g);
    });
    assert_eq!(n, 0, "acquire + release of {what}");

    let (n, ()) = allocations(|| drop(m.try_acquire(keys).unwrap()));
    assert_eq!(n, 0, "try_acquire + release of {what}");

    let (n, ()) = allocations(|| drop(m.acquire(keys).owner("worker").try_now().unwrap()));
    assert_eq!(n, 0, "acquire().owner().try_now() of {what}");
}

#[test]
fn the_counter_sees_allocations() {
    // The control: without it, "zero allocations" could be a counter that never counts.
    let (n, b) = allocations(|| Box::new(7_u64));
    assert_eq!(*b, 7);
    assert!(n >= 1);
    // A manager beyond the inline lock-set capacity allocates its sets, and that is seen too.
    let (m, ids) = manager(LockManager::builder(), 129);
    let (n, ()) = allocations(|| drop(m.try_acquire(&ids).unwrap()));
    println!("acquire + release of 129 locks: {n} allocations");
    assert!(n >= 1);
}

#[test]
fn uncontended_acquire_release_allocates_nothing() {
    for size in [1, 16, 128] {
        let (m, ids) = manager(LockManager::builder(), size);
        let names = names(size);
        let strs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_no_allocation(&m, &ids, &format!("{size} locks by id"));
        assert_no_allocation(&m, &names, &format!("{size} locks by String name"));
        assert_no_allocation(&m, &strs, &format!("{size} locks by &str name"));
        // A single lock out of many.
        assert_no_allocation(&m, &ids[size - 1..], &format!("the last of {size} locks"));
        assert!(ids.iter().all(|&id| !m.is_locked(id).unwrap()));
    }
}

#[test]
fn uncontended_acquire_with_a_timer_allocates_nothing() {
    let timer = ManualTimer::new();
    let b = LockManager::builder()
        .timer(timer.clone())
        .default_timeout(core::time::Duration::from_secs(10));
    let (m, ids) = manager(b, 128);
    assert_no_allocation(&m, &ids, "128 locks with a timer");
    // The timer was never asked for a sleep.
    assert_eq!(timer.sleeps(), 0);
}

/// Takes `ids[0]`, then each next lock through a guard nested in the previous one.
fn nest_down<T: MaybeTimer>(parent: &mut Guard<'_, T>, ids: &[LockId], by_future: bool) -> usize {
    let Some((first, rest)) = ids.split_first() else {
        return parent.locks().count();
    };
    let mut inner = if by_future {
        ready(parent.acquire([*first])).unwrap()
    } else {
        parent.try_acquire([first]).unwrap()
    };
    // Reentrant: asking again for a held lock takes nothing.
    drop(inner.try_acquire([first, first]).unwrap());
    nest_down(&mut inner, rest, by_future)
}

#[test]
fn nested_acquire_of_128_locks_allocates_nothing() {
    let (m, ids) = manager(LockManager::builder(), 128);
    for by_future in [false, true] {
        let (n, covered) = allocations(|| {
            let mut root = m.try_acquire([ids[0]]).unwrap();
            nest_down(&mut root, &ids[1..], by_future)
        });
        assert_eq!(covered, 128);
        assert_eq!(n, 0, "128 nested guards (by future: {by_future})");

        // Two levels: half, then the other half through the guard.
        let (n, ()) = allocations(|| {
            let mut outer = ready(m.acquire(&ids[..64])).unwrap();
            let inner = ready(outer.acquire(&ids)).unwrap();
            assert!(inner.holds(ids[127]));
        });
        assert_eq!(n, 0, "two levels of 64 locks");
    }
    assert!(ids.iter().all(|&id| !m.is_locked(id).unwrap()));
}

/// The owned path: building the future clones the manager's `Arc` (a reference count, not an
/// allocation); the guard, nesting from it and its release allocate nothing. Blocking waits too,
/// when no lock is busy.
#[test]
fn owned_guards_and_blocking_waits_allocate_nothing_when_uncontended() {
    let (m, ids) = manager(LockManager::builder(), 128);
    let m = std::sync::Arc::new(m);
    let names = names(128);
    let (n, ()) = allocations(|| {
        let mut g = ready(m.acquire_owned(&ids[..64])).unwrap();
        assert!(g.holds(ids[0]));
        let inner = g.try_acquire(&ids[64..]).unwrap();
        assert!(inner.holds(ids[127]));
        drop(inner);
        drop(g);
    });
    assert_eq!(n, 0, "acquire_owned + nested + release of 128 locks");
    let (n, ()) = allocations(|| drop(m.try_acquire_owned(&names).unwrap()));
    assert_eq!(n, 0, "try_acquire_owned of 128 locks by name");
    let (n, ()) = allocations(|| {
        drop(
            m.acquire_owned(&ids)
                .owner("a label long enough to be cut by status")
                .try_now()
                .unwrap(),
        )
    });
    assert_eq!(n, 0, "acquire_owned().owner().try_now()");
    let (n, ()) = allocations(|| {
        drop(m.acquire(&ids).wait().unwrap());
        drop(m.acquire_owned(&ids).wait().unwrap());
    });
    assert_eq!(n, 0, "uncontended wait(), borrowed and owned");
    assert!(ids.iter().all(|&id| !m.is_locked(id).unwrap()));
}

/// Shared mode: readers taking, joining and leaving shared holdings, mixed-mode sets and shared
/// nesting allocate nothing either.
#[test]
fn shared_mode_allocates_nothing_when_uncontended() {
    for size in [16, 128] {
        let (m, ids) = manager(LockManager::builder(), size);
        let (n, ()) = allocations(|| {
            let r1 = ready(m.acquire_shared(&ids)).unwrap();
            let r2 = m.try_acquire_shared(&ids).unwrap(); // joins every holding
            drop(r1);
            drop(r2);
            let half = size / 2;
            let mut g = ready(m.acquire(&ids[..1]).shared(&ids[1..half])).unwrap();
            let inner = g.try_acquire_shared(&ids[half..]).unwrap();
            drop(inner);
            drop(g);
        });
        assert_eq!(n, 0, "shared acquisitions of {size} locks");
        assert!(ids.iter().all(|&id| !m.is_locked(id).unwrap()));
    }
}

lockorder::hierarchy! {
    static DECLARED: LockManager = lockorder::NoTimer;
    const DECLARED_A = ("a", 1);
    const DECLARED_B = ("b", 2, "with a description");
}

#[test]
fn a_declared_hierarchy_allocates_nothing_either() {
    assert_no_allocation(
        &DECLARED,
        &[DECLARED_B, DECLARED_A],
        "a declared hierarchy by id",
    );
    assert_no_allocation(&DECLARED, &["a", "b"], "a declared hierarchy by name");
    let (n, ()) = allocations(|| {
        let mut outer = DECLARED.try_acquire([DECLARED_A]).unwrap();
        drop(outer.try_acquire([DECLARED_B]).unwrap());
    });
    assert_eq!(n, 0, "nesting in a declared hierarchy");
    let mut high = DECLARED.try_acquire([DECLARED_B]).unwrap();
    let (n, refused) = allocations(|| {
        matches!(
            high.try_acquire([DECLARED_A]),
            Err(lockorder::Error::OrderViolation { .. })
        )
    });
    assert!(refused);
    assert_eq!(n, 0, "an order violation in a declared hierarchy");
    // With `std`, a refusal at a held lock names its holder: one allocation, on the error path
    // (without `std` none; the firmware's `static_noalloc` runs that with a refusing allocator).
    let (n, busy) = allocations(|| DECLARED.try_acquire([DECLARED_B]).map(drop));
    assert!(
        matches!(&busy, Err(lockorder::Error::WouldBlock { lock }) if lock.held_by().is_some())
    );
    assert_eq!(n, 1, "a refusal that names the holder");
    drop(high);
}
