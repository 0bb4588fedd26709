//! Nested acquisition through a guard: reentrant, order-checked, stack-like release.

mod common;

use std::time::Duration;

use common::{locked, manager, timed, Task, ABC};
use futures_lite::future::block_on;
use lockorder::Error;

#[test]
fn held_locks_are_skipped_and_the_child_releases_only_its_own() {
    let m = manager(ABC);
    let outer = block_on(m.acquire(["a"])).unwrap();
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
    assert!(locked(&m, &["a", "b", "c"]).is_empty());
}

#[test]
fn a_lower_lock_is_an_order_violation_naming_both() {
    let m = manager(ABC);
    let outer = m.try_acquire(["b"]).unwrap();
    let mut t = Task::new(outer.acquire(["c", "a"]));
    match t.ready() {
        Err(Error::OrderViolation { requested, held }) => {
            assert_eq!((requested.name(), requested.order()), ("a", 10));
            assert_eq!((held.name(), held.order()), ("b", 20));
        }
        other => panic!("unexpected: {other:?}"),
    }
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
    let outer = m.try_acquire(["a", "c"]).unwrap();
    let err = outer.try_acquire(["b"]).unwrap_err();
    assert!(matches!(err, Error::OrderViolation { ref held, .. } if held == "c"));
}

#[test]
fn nesting_three_deep_unwinds_like_a_stack() {
    let m = manager(ABC);
    let g1 = m.try_acquire(["a"]).unwrap();
    let g2 = g1.try_acquire(["b"]).unwrap();
    let g3 = g2.try_acquire(["c", "a"]).unwrap();
    assert_eq!(g3.locks().count(), 3);
    assert_eq!(g3.own_locks().map(|l| l.name()).collect::<Vec<_>>(), ["c"]);
    drop(g3);
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b"]);
    drop(g2);
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a"]);
    drop(g1);
    assert!(locked(&m, &["a", "b", "c"]).is_empty());
}

#[test]
fn a_nested_acquire_waits_and_can_time_out_without_touching_the_parent() {
    let (m, timer) = timed(ABC);
    let other = m.try_acquire(["c"]).unwrap();
    let outer = m.try_acquire(["a"]).unwrap();
    let mut t = Task::new(outer.acquire(["b", "c"]).timeout(Duration::from_millis(3)));
    t.pending();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b", "c"]);
    timer.advance(Duration::from_millis(3));
    assert!(matches!(t.ready(), Err(Error::Timeout { lock }) if lock == "c"));
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "c"]);
    assert!(outer.holds("a"));
    drop(other);
    let inner = block_on(outer.acquire(["b", "c"])).unwrap();
    assert_eq!(inner.own_locks().count(), 2);
}

#[test]
fn nested_unknown_locks_and_owner_inheritance() {
    let m = manager(ABC);
    let outer = m.acquire(["a"]).owner("job-7").try_now().unwrap();
    assert!(matches!(
        outer.try_acquire(["nope"]),
        Err(Error::UnknownLock { name }) if name == "nope"
    ));
    let inner = outer.try_acquire(["b"]).unwrap();
    assert_eq!(inner.owner(), Some("job-7"));
    let relabelled = inner.acquire(["c"]).owner("sub").try_now().unwrap();
    assert_eq!(relabelled.owner(), Some("sub"));
}

#[test]
fn nested_try_acquire_is_all_or_nothing() {
    let m = manager(ABC);
    let other = m.try_acquire(["c"]).unwrap();
    let outer = m.try_acquire(["a"]).unwrap();
    assert!(matches!(
        outer.try_acquire(["b", "c"]),
        Err(Error::WouldBlock { lock }) if lock == "c"
    ));
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "c"]);
    drop(other);
}
