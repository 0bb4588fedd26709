//! Nested acquisition through a guard: reentrant, order-checked, stack-like release.

mod common;

use std::time::Duration;

use common::{assert_all_free, locked, manager, timed, Task, ABC};
use futures_lite::future::block_on;
use lockorder::Error;

#[test]
fn held_locks_are_skipped_and_the_child_releases_only_its_own() {
    let m = manager(ABC);
    let mut outer = block_on(m.acquire(["a"])).unwrap();
    let inner = block_on(outer.acquire(["a", "b"])).unwrap();
    assert!(inner.holds("a") && inner.holds("b"));
    assert_eq!(
        inner.locks().map(|l| l.name()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(
        inner.own_locks().map(|l| l.name()).collect::<Vec<_>>(),
        ["b"]
    );
    drop(inner);
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a"]);
    assert!(outer.holds("a") && !outer.holds("b"));
    drop(outer);
    assert_all_free(&m);
}

#[test]
fn a_lower_lock_is_an_order_violation_naming_both() {
    let m = manager(ABC);
    let mut outer = m.try_acquire(["b"]).unwrap();
    let mut t = Task::new(outer.acquire(["c", "a"]));
    match t.ready() {
        Err(Error::OrderViolation { requested, held }) => {
            assert_eq!((requested.name(), requested.order()), ("a", 10));
            assert_eq!((held.name(), held.order()), ("b", 20));
        }
        other => panic!("unexpected: {other:?}"),
    }
    drop(t);
    assert_eq!(locked(&m, &["a", "b", "c"]), ["b"], "nothing taken");
    let msg = outer.try_acquire(["a"]).unwrap_err().to_string();
    assert!(
        msg.contains("order violation (potential deadlock)"),
        "{msg}"
    );
    assert!(msg.contains("`a`") && msg.contains("`b`"), "{msg}");
}

#[test]
fn a_gap_below_the_highest_held_lock_is_a_violation_too() {
    let m = manager(ABC);
    let mut outer = m.try_acquire(["a", "c"]).unwrap();
    let err = outer.try_acquire(["b"]).unwrap_err();
    assert!(matches!(err, Error::OrderViolation { ref held, .. } if held == "c"));
}

#[test]
fn nesting_three_deep_unwinds_like_a_stack() {
    let m = manager(ABC);
    let mut g1 = m.try_acquire(["a"]).unwrap();
    let mut g2 = g1.try_acquire(["b"]).unwrap();
    let g3 = g2.try_acquire(["c", "a"]).unwrap();
    assert_eq!(g3.locks().count(), 3);
    assert_eq!(g3.own_locks().map(|l| l.name()).collect::<Vec<_>>(), ["c"]);
    drop(g3);
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b"]);
    drop(g2);
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a"]);
    drop(g1);
    assert_all_free(&m);
}

#[test]
fn a_nested_acquire_waits_and_can_time_out_without_touching_the_parent() {
    let (m, timer) = timed(ABC);
    let other = m.try_acquire(["c"]).unwrap();
    let mut outer = m.try_acquire(["a"]).unwrap();
    let mut t = Task::new(outer.acquire(["b", "c"]).timeout(Duration::from_millis(3)));
    t.pending();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b", "c"]);
    timer.advance(Duration::from_millis(3));
    assert!(matches!(t.ready(), Err(Error::Timeout { lock }) if lock == "c"));
    drop(t);
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "c"]);
    assert!(outer.holds("a"));
    drop(other);
    let inner = block_on(outer.acquire(["b", "c"])).unwrap();
    assert_eq!(inner.own_locks().count(), 2);
}

#[test]
fn nested_unknown_locks_and_owner_inheritance() {
    let m = manager(ABC);
    let mut outer = m.acquire(["a"]).owner("job-7").try_now().unwrap();
    assert!(matches!(
        outer.try_acquire(["nope"]),
        Err(Error::UnknownLock { name }) if name == "nope"
    ));
    let mut inner = outer.try_acquire(["b"]).unwrap();
    assert_eq!(inner.owner(), Some("job-7"));
    let relabelled = inner.acquire(["c"]).owner("sub").try_now().unwrap();
    assert_eq!(relabelled.owner(), Some("sub"));
}

#[test]
fn nested_try_acquire_is_all_or_nothing() {
    let m = manager(ABC);
    let other = m.try_acquire(["c"]).unwrap();
    let mut outer = m.try_acquire(["a"]).unwrap();
    assert!(matches!(
        outer.try_acquire(["b", "c"]),
        Err(Error::WouldBlock { lock }) if lock == "c"
    ));
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "c"]);
    drop(other);
}

/// The shape that broke the order check when siblings compiled: a guard of `a` whose child holds
/// `c` asks for `b`. Through the child (the only way left) the request is refused, because the
/// child covers `c`; the sibling form does not compile (see the `compile_fail` doctests on
/// `Guard`).
#[test]
fn a_request_through_the_child_sees_every_lock_held_below_it() {
    let m = manager(ABC);
    let mut g = m.try_acquire(["a"]).unwrap();
    let mut child = g.try_acquire(["c"]).unwrap();
    match child.try_acquire(["b"]) {
        Err(Error::OrderViolation { requested, held }) => {
            assert_eq!((requested.name(), held.name()), ("b", "c"));
        }
        other => panic!("unexpected: {other:?}"),
    }
    // Once the child is gone, the parent may take `b` again: nothing above it is held.
    drop(child);
    let b = g.try_acquire(["b"]).unwrap();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b"]);
    drop(b);
}

/// The child of a child covers all three levels, and a request through it is checked against
/// the highest lock of any level.
#[test]
fn order_checks_see_every_level_of_a_deep_stack() {
    let m = manager(ABC);
    let mut g1 = m.try_acquire(["a"]).unwrap();
    let mut g2 = g1.try_acquire(["c"]).unwrap();
    let mut g3 = g2.try_acquire(Vec::<&str>::new()).unwrap();
    assert!(g3.holds("a") && g3.holds("c") && !g3.holds("b"));
    assert!(matches!(
        g3.try_acquire(["b"]),
        Err(Error::OrderViolation { held, .. }) if held == "c"
    ));
    // Reentrant through every level: nothing new is taken.
    let g4 = g3.try_acquire(["a", "c"]).unwrap();
    assert_eq!(g4.own_locks().count(), 0);
    assert_eq!(g4.locks().count(), 2);
}

/// An order violation names where the highest held lock was taken: the call that took it, even
/// through nested guards that took nothing new (their own calls took none of the locks).
#[test]
fn an_order_violation_names_the_call_that_took_the_highest_lock() {
    fn line_of(e: Result<lockorder::Guard<'_>, Error>) -> u32 {
        match e {
            Err(Error::OrderViolation { held, .. }) => held
                .acquired_at()
                .expect("a nested refusal names the call")
                .line(),
            other => panic!("expected an order violation, got {other:?}"),
        }
    }
    let m = manager(ABC);
    let took_b = line!() + 1;
    let mut outer = m.try_acquire(["b"]).unwrap();
    assert_eq!(line_of(outer.acquire(["a"]).try_now()), took_b);
    // A nested guard over locks its parent covers took nothing: the parent's call took "b".
    let mut same = outer.acquire(["b"]).try_now().unwrap();
    assert_eq!(line_of(same.acquire(["a"]).try_now()), took_b);
    let mut deeper = same.acquire_shared(["b"]).try_now().unwrap();
    assert_eq!(line_of(deeper.acquire(["a"]).try_now()), took_b);
    // One that takes a higher lock names its own call.
    let took_c = line!() + 1;
    let mut higher = deeper.acquire(["b", "c"]).try_now().unwrap();
    assert_eq!(line_of(higher.acquire(["a"]).try_now()), took_c);
    let mut over_c = higher.acquire(["c"]).try_now().unwrap();
    assert_eq!(line_of(over_c.acquire(["a"]).try_now()), took_c);
    drop(over_c);
    drop(higher);
    drop(deeper);
    drop(same);
    drop(outer);
    assert_all_free(&m);
}

/// The same through a guard taken under a task key: where the parent took its highest lock is
/// named when that lock is the key's highest; a higher lock of another guard under the key is
/// named without a location (its guard is not on this chain).
#[test]
fn a_keyed_nested_order_violation_names_the_parents_call() {
    fn at_line(e: Result<lockorder::Guard<'_>, Error>) -> Option<u32> {
        match e {
            Err(Error::OrderViolation { held, .. }) => held.acquired_at().map(|at| at.line()),
            other => panic!("expected an order violation, got {other:?}"),
        }
    }
    let m = manager(ABC);
    let key = m.task_key();
    let took_b = line!() + 1;
    let mut outer = m.acquire(["b"]).key(&key).try_now().unwrap();
    assert_eq!(at_line(outer.acquire(["a"]).try_now()), Some(took_b));
    let mut same = outer.acquire(["b"]).try_now().unwrap();
    assert_eq!(at_line(same.acquire(["a"]).try_now()), Some(took_b));
    drop(same);
    let other = m.acquire(["c"]).key(&key).try_now().unwrap();
    assert_eq!(at_line(outer.acquire(["a"]).try_now()), None);
    drop(other);
    drop(outer);
    assert_all_free(&m);
}
