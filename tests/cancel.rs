//! Cancellation: dropping an `Acquire` never leaks a lock or strands another waiter.

mod common;

use std::time::Duration;

use common::{assert_all_free, locked, manager, timed, Task, ABC};

#[test]
fn dropping_before_the_first_poll_holds_nothing() {
    let m = manager(ABC);
    let acquire = m.acquire(["a", "b"]);
    drop(acquire);
    assert_all_free(&m);
    assert!(m.try_acquire(["a", "b", "c"]).is_ok());
}

#[test]
fn dropping_a_pending_acquire_releases_what_it_took() {
    let m = manager(ABC);
    let c = m.try_acquire(["c"]).unwrap();
    let mut t = Task::new(m.acquire(["a", "b", "c"]));
    t.pending();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b", "c"]);
    t.cancel();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["c"]);
    drop(c);
    assert!(m.try_acquire(["a", "b", "c"]).is_ok());
}

#[test]
fn released_partial_locks_wake_their_waiters() {
    let m = manager(ABC);
    let c = m.try_acquire(["c"]).unwrap();
    let mut big = Task::new(m.acquire(["a", "c"]));
    big.pending(); // holds "a", waits for "c"
    let mut wants_a = Task::new(m.acquire(["a"]));
    wants_a.pending();
    big.cancel();
    assert!(wants_a.woken());
    assert!(wants_a.ready().is_ok());
    drop(c);
}

#[test]
fn a_timed_out_waiter_that_was_also_woken_passes_the_wake_up_on() {
    let (m, timer) = timed(ABC);
    let g = m.try_acquire(["b"]).unwrap();
    let mut first = Task::new(m.acquire(["a", "b"]).timeout(Duration::from_millis(1)));
    let mut second = Task::new(m.acquire(["b"]));
    first.pending();
    second.pending();
    // The release and the deadline arrive together; the first waiter is cancelled before it
    // runs again.
    drop(g);
    timer.advance(Duration::from_millis(1));
    first.cancel();
    assert!(second.woken());
    let _g = second.ready().unwrap();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["b"]);
}

#[test]
fn cancelling_after_completion_keeps_the_guard() {
    let m = manager(ABC);
    let mut t = Task::new(m.acquire(["a"]));
    let g = t.ready().unwrap();
    t.cancel();
    assert!(g.holds("a"));
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a"]);
}

#[test]
fn many_cancelled_waiters_leave_the_lock_usable() {
    let m = manager(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut waiters: Vec<_> = (0..8).map(|_| Task::new(m.acquire(["a", "b"]))).collect();
    waiters.iter_mut().for_each(Task::pending);
    let mut last = Task::new(m.acquire(["a"]));
    last.pending();
    drop(g);
    // Cancel every earlier waiter, woken or not: the wake-up must travel to `last`.
    waiters.iter_mut().for_each(Task::cancel);
    assert!(last.woken());
    let _g = last.ready().unwrap();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a"]);
}
