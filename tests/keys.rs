//! Task keys: every acquisition of a task checked against everything held under its key.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{locked, manager, timed, Task, ABC};
use lockorder::{Error, LockManager, Mode, TaskKey};

const ABCD: &[(&str, u32)] = &[("a", 10), ("b", 20), ("c", 30), ("d", 40)];

/// The names of an order violation.
#[track_caller]
fn violation<G: std::fmt::Debug>(r: Result<G, Error>) -> (String, String) {
    match r {
        Err(Error::OrderViolation { requested, held }) => {
            (requested.name().to_owned(), held.name().to_owned())
        }
        other => panic!("expected an order violation, got {other:?}"),
    }
}

/// The names of a violation as the tests' static names (nothing leaked: Miri checks leaks).
fn names(v: (String, String)) -> (&'static str, &'static str) {
    let known = |s: String| -> &'static str {
        ["a", "b", "c", "d", "db", "cache"]
            .into_iter()
            .find(|n| *n == s)
            .unwrap_or_else(|| panic!("unexpected lock {s}"))
    };
    (known(v.0), known(v.1))
}

#[test]
fn the_contract_example() {
    let m = manager(&[("db", 10), ("cache", 20)]);
    let key = m.task_key();
    let mut g1 = Task::new(m.acquire(["db"]).key(&key));
    let g1 = g1.ready().unwrap();
    let mut g2 = Task::new(m.acquire(["cache"]).key(&key));
    let g2 = g2.ready().unwrap();
    let mut e = Task::new(m.acquire(["db"]).key(&key));
    assert_eq!(names(violation(e.ready())), ("db", "cache"));
    drop(g1); // any order
    assert!(g2.holds("cache"));
    drop(g2);
    common::assert_all_free(&m);
    let again = m.acquire(["db"]).key(&key).try_now().unwrap();
    assert!(again.holds("db"));
}

#[test]
fn a_refusal_is_immediate_even_when_the_lock_is_busy() {
    let m = manager(ABC);
    let other = m.try_acquire(["a"]).unwrap(); // another task holds "a"
    let key = m.task_key();
    let _b = m.acquire(["b"]).key(&key).try_now().unwrap();
    // Unkeyed, this would wait for `other`; keyed, it is refused on the first poll.
    let mut t = Task::new(m.acquire(["a", "c"]).key(&key));
    assert_eq!(names(violation(t.ready())), ("a", "b"));
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b"], "nothing taken");
    drop(other);
    // The same through wait(): no blocking.
    assert_eq!(
        names(violation(m.acquire(["a"]).key(&key).wait())),
        ("a", "b")
    );
}

#[test]
fn the_keys_own_highest_lock_is_refused() {
    let m = manager(ABC);
    let key = m.task_key();
    let _b = m.acquire(["b"]).key(&key).try_now().unwrap();
    assert_eq!(
        names(violation(m.acquire(["b"]).key(&key).try_now())),
        ("b", "b")
    );
    assert_eq!(
        names(violation(m.acquire_shared(["b", "c"]).key(&key).try_now())),
        ("b", "b")
    );
}

#[test]
fn a_nested_request_is_checked_against_the_whole_key() {
    let m = manager(ABCD);
    let key = m.task_key();
    let mut g = m.acquire(["a"]).key(&key).try_now().unwrap();
    let other = m.acquire(["b"]).key(&key).try_now().unwrap();
    assert_eq!(names(violation(g.try_acquire(["b"]))), ("b", "b"));
    assert_eq!(
        names(violation(g.try_acquire(["a", "b", "c"]))),
        ("b", "b"),
        "a is covered and skipped; b is the lowest new lock"
    );
    // Above everything held under the key: fine, and counted under it.
    let mut child = g.try_acquire(["c"]).unwrap();
    assert_eq!(
        names(violation(m.acquire(["b"]).key(&key).try_now())),
        ("b", "c")
    );
    drop(other);
    // A grandchild inherits the key too.
    let grandchild = child.try_acquire(["d"]).unwrap();
    assert_eq!(
        names(violation(m.acquire(["b"]).key(&key).try_now())),
        ("b", "d")
    );
    drop(grandchild);
    drop(child);
    let b = m.acquire(["b"]).key(&key).try_now().unwrap();
    drop(b);
    drop(g);
    let a = m.acquire(["a"]).key(&key).try_now().unwrap();
    drop(a);
}

#[test]
fn a_request_above_the_key_passes_and_claims() {
    let m = manager(ABCD);
    let key = m.task_key();
    let mut g = m.acquire(["a"]).key(&key).try_now().unwrap();
    let child = g.try_acquire(["c"]).unwrap();
    // "d" is above "c": granted, and now the key's highest.
    let d = m.acquire(["d"]).key(&key).try_now().unwrap();
    assert!(d.holds("d"));
    drop(child);
    // "c" is free again, but still below "d" under the key.
    assert_eq!(names(violation(g.try_acquire(["c"]))), ("c", "d"));
    drop(d);
    let child = g.try_acquire(["b", "c"]).unwrap();
    assert!(child.holds("a") && child.holds("c"));
}

#[test]
fn refused_failed_and_cancelled_requests_give_their_claims_back() {
    let (m, timer) = timed(ABC);
    let key = m.task_key();
    let busy = m.try_acquire(["b"]).unwrap();
    // WouldBlock.
    assert!(matches!(
        m.acquire(["b"]).key(&key).try_now(),
        Err(Error::WouldBlock { .. })
    ));
    let a = m.acquire(["a"]).key(&key).try_now().unwrap();
    drop(a);
    // Cancelled while waiting.
    let mut t = Task::new(m.acquire(["b", "c"]).key(&key).no_timeout());
    t.pending();
    assert_eq!(
        names(violation(m.acquire(["a"]).key(&key).try_now())),
        ("a", "c"),
        "a request in flight claims its locks"
    );
    t.cancel();
    let a = m.acquire(["a"]).key(&key).try_now().unwrap();
    drop(a);
    // Timed out.
    let mut t = Task::new(m.acquire(["b"]).key(&key).timeout(Duration::from_secs(1)));
    t.pending();
    timer.advance(Duration::from_secs(2));
    assert!(matches!(t.ready(), Err(Error::Timeout { .. })));
    let a = m.acquire(["a"]).key(&key).try_now().unwrap();
    drop(a);
    // wait() with a zero timeout.
    assert!(matches!(
        m.acquire(["b"]).key(&key).timeout(Duration::ZERO).wait(),
        Err(Error::Timeout { .. })
    ));
    drop(busy);
    let b = m.acquire(["a", "b"]).key(&key).wait().unwrap();
    assert!(b.holds("a"));
}

#[test]
fn two_requests_of_one_key_in_flight_see_each_other() {
    // Joined futures of one task: the first waits for "c", so the second may not take "b"
    // (the task would hold b while waiting for c... and someone holding c could wait for b).
    let m = manager(ABC);
    let busy = m.try_acquire(["c"]).unwrap();
    let key = m.task_key();
    let mut first = Task::new(m.acquire(["c"]).key(&key));
    first.pending();
    let mut second = Task::new(m.acquire(["b"]).key(&key));
    assert_eq!(names(violation(second.ready())), ("b", "c"));
    drop(busy);
    assert!(first.ready().is_ok());
}

#[test]
fn unkeyed_acquisitions_behave_as_before() {
    let m = manager(ABC);
    let key = m.task_key();
    let _b = m.acquire(["b"]).key(&key).try_now().unwrap();
    // Without the key nothing is checked against it (and "b" is busy for everyone).
    let a = m.try_acquire(["a"]).unwrap();
    assert!(matches!(
        m.try_acquire(["b"]),
        Err(Error::WouldBlock { .. })
    ));
    drop(a);
    let mut g = m.try_acquire(["a"]).unwrap();
    let c = g.try_acquire(["c"]).unwrap();
    assert!(c.holds("a"));
}

#[test]
fn keys_of_another_manager_are_refused() {
    let m = manager(ABC);
    let other = manager(ABC);
    let foreign = other.task_key();
    let e = m.acquire(["b", "a"]).key(&foreign).try_now().unwrap_err();
    assert!(
        matches!(&e, Error::ForeignKey { lock: Some(lock) } if lock == "a"),
        "{e:?}"
    );
    assert!(e.to_string().contains("another lock manager"), "{e}");
    assert!(m.acquire(["a"]).key(&foreign).wait().is_err());
    common::assert_all_free(&m);
    // A nested acquire given a key other than its parent's.
    let key = m.task_key();
    let second = m.task_key();
    let mut g = m.acquire(["a"]).key(&key).try_now().unwrap();
    assert!(matches!(
        g.acquire(["b"]).key(&second).try_now(),
        Err(Error::ForeignKey { .. })
    ));
    assert!(matches!(
        g.acquire(["b"]).key(&foreign).try_now(),
        Err(Error::ForeignKey { .. })
    ));
    // Its own key again is fine.
    let child = g.acquire(["b"]).key(&key).try_now().unwrap();
    assert!(child.holds("b"));
}

#[test]
fn shared_holdings_count_under_the_key() {
    let m = manager(ABC);
    let key = m.task_key();
    let mut r = m.acquire_shared(["b"]).key(&key).try_now().unwrap();
    assert_eq!(
        names(violation(m.acquire_shared(["b"]).key(&key).try_now())),
        ("b", "b")
    );
    // Through the guard, a covered shared lock is skipped as always; an upgrade is refused.
    let inner = r.try_acquire_shared(["b", "c"]).unwrap();
    assert_eq!(inner.mode("b"), Some(Mode::Shared));
    drop(inner);
    assert!(matches!(
        r.try_acquire(["b"]),
        Err(Error::UpgradeRefused { .. })
    ));
}

#[test]
fn owned_keyed_futures_are_static_and_cross_threads() {
    let m = Arc::new(manager(ABC));
    let key = m.task_key();
    let fut = m.acquire_owned(["b"]).key(&key);
    fn is_static<F: Send + 'static>(_: &F) {}
    is_static(&fut);
    let guard = std::thread::spawn(move || fut.wait().unwrap())
        .join()
        .unwrap();
    assert_eq!(
        names(violation(m.acquire_owned(["a"]).key(&key).try_now())),
        ("a", "b")
    );
    // Nested in an owned keyed guard: counted under the key.
    let mut guard = guard;
    let c = guard.try_acquire(["c"]).unwrap();
    assert_eq!(
        names(violation(m.acquire_owned(["c"]).key(&key).try_now())),
        ("c", "c")
    );
    drop(c);
    // The owned guard drops on another thread; the key is free again.
    std::thread::spawn(move || drop(guard)).join().unwrap();
    let a = m.acquire_owned(["a"]).key(&key).try_now().unwrap();
    assert!(a.holds("a"));
}

#[test]
fn swapped_guards_release_their_own_claims() {
    let m = manager(ABCD);
    let key = m.task_key();
    let other = m.task_key();
    let mut x = m.acquire(["a"]).key(&key).try_now().unwrap();
    let mut y = m.acquire(["b"]).key(&other).try_now().unwrap();
    std::mem::swap(&mut x, &mut y);
    drop(x); // holds "b" under `other`
    assert!(m.acquire(["b"]).key(&other).try_now().is_ok());
    assert_eq!(
        names(violation(m.acquire(["a"]).key(&key).try_now())),
        ("a", "a")
    );
    drop(y);
    assert!(m.acquire(["a"]).key(&key).try_now().is_ok());
}

#[test]
fn a_helper_that_locks_is_refused_instead_of_deadlocking() {
    // Task 1 holds "a" and calls a helper that wants "b"; task 2 holds "b" and calls a helper
    // that wants "a". Unkeyed, both wait for ever. Keyed, task 2's helper is refused at once
    // and task 2 backs off; task 1 then gets "b".
    let m = Arc::new(
        LockManager::builder()
            .with_lock("a", 1)
            .unwrap()
            .with_lock("b", 2)
            .unwrap()
            .build(),
    );
    let barrier = Arc::new(std::sync::Barrier::new(2));
    fn helper(m: &LockManager, key: &TaskKey, lock: &str) -> Result<(), Error> {
        let g = m.acquire([lock]).key(key).wait()?;
        drop(g);
        Ok(())
    }
    let t1 = {
        let (m, barrier) = (m.clone(), barrier.clone());
        std::thread::spawn(move || {
            let key = m.task_key();
            let a = m.acquire(["a"]).key(&key).wait().unwrap();
            barrier.wait();
            let r = helper(&m, &key, "b");
            drop(a);
            r
        })
    };
    let t2 = {
        let (m, barrier) = (m.clone(), barrier.clone());
        std::thread::spawn(move || {
            let key = m.task_key();
            let b = m.acquire(["b"]).key(&key).wait().unwrap();
            barrier.wait();
            let r = helper(&m, &key, "a");
            drop(b);
            r
        })
    };
    assert!(t1.join().unwrap().is_ok());
    assert!(matches!(
        t2.join().unwrap(),
        Err(Error::OrderViolation { .. })
    ));
}

#[test]
fn keys_are_send_sync_and_debug() {
    fn send_sync<K: Send + Sync + std::fmt::Debug>() {}
    send_sync::<TaskKey>();
    let m = manager(ABC);
    let key = m.task_key();
    let _g = m.acquire(["b"]).key(&key).try_now().unwrap();
    assert!(format!("{key:?}").contains("TaskKey"));
}

#[test]
fn two_keys_of_one_task_are_checked_as_two_tasks() {
    // The documented limit: a key sees what goes through it. A task that makes a second key
    // (or acquires without its key) is checked as another task would be.
    let m = manager(ABC);
    let first = m.task_key();
    let second = m.task_key();
    let _b = m.acquire(["b"]).key(&first).try_now().unwrap();
    let a = m.acquire(["a"]).key(&second).try_now().unwrap();
    assert!(a.holds("a"), "not refused: the second key holds nothing");
    assert_eq!(
        names(violation(m.acquire(["a"]).key(&first).try_now())),
        ("a", "b")
    );
}
