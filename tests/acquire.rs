//! Acquiring sets of locks: order, folding, all-or-nothing tries, release and wake-ups.

mod common;

use std::sync::{Arc, Mutex};

use common::{assert_all_free, locked, manager, timed, two_waiters_for_a, Task, ABC};
use futures_lite::future::block_on;
use lockorder::futures::Acquire;
use lockorder::{Error, Guard, LockManager, ManualTimer, NoTimer};

#[test]
fn any_request_order_is_taken_in_ascending_order() {
    let m = manager(ABC);
    let held_b = m.try_acquire(["b"]).unwrap();
    let mut t = Task::new(m.acquire(["c", "a", "b"]));
    t.pending();
    // "a" ranks below the busy "b" and is already taken; "c" ranks above and is not.
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b"]);
    drop(held_b);
    assert!(t.woken());
    let g = t.ready().unwrap();
    let names: Vec<_> = g.locks().map(|l| l.name()).collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn duplicates_fold_and_keys_mix() {
    let m = manager(ABC);
    let b = m.id("b").unwrap();
    let g = block_on(m.acquire(["a", "a"])).unwrap();
    assert_eq!(g.locks().count(), 1);
    drop(g);
    let name = String::from("c");
    let g = m.try_acquire([&b, &b]).unwrap();
    assert!(g.holds(b) && g.holds("b") && !g.holds("a"));
    drop(g);
    let g = m.try_acquire([&name]).unwrap();
    assert!(g.holds(&name));
}

#[test]
fn empty_set_is_ready_at_once() {
    let m = manager(ABC);
    let g = Task::new(m.acquire(Vec::<&str>::new())).ready().unwrap();
    assert_eq!(g.locks().count(), 0);
    let g = m.try_acquire(Vec::<&str>::new()).unwrap();
    assert_eq!(g.locks().count(), 0);
    let empty = manager(&[]);
    assert!(empty.is_empty());
    assert!(block_on(empty.acquire(Vec::<String>::new())).is_ok());
}

#[test]
fn unknown_keys_fail_on_first_poll_and_take_nothing() {
    let m = manager(ABC);
    let mut t = Task::new(m.acquire(["a", "nope", "c"]));
    assert_all_free(&m);
    match t.ready() {
        Err(Error::UnknownLock { name }) => assert_eq!(name, "nope"),
        other => panic!("unexpected: {other:?}"),
    }
    assert_all_free(&m);
    assert!(matches!(
        m.try_acquire(["zz"]),
        Err(Error::UnknownLock { name }) if name == "zz"
    ));
    assert!(matches!(m.id("zz"), Err(Error::UnknownLock { .. })));
}

#[test]
fn ids_of_another_manager_are_unknown_never_another_lock() {
    let m1 = manager(ABC);
    let m2 = manager(ABC);
    let id = m1.id("a").unwrap();
    assert!(m2.info(id).is_none());
    let err = m2.try_acquire([id]).unwrap_err();
    assert!(matches!(err, Error::UnknownLock { .. }), "{err:?}");
    assert!(err.to_string().contains("another manager"));
    assert_all_free(&m2);
    assert_eq!(m1.info(id).unwrap().name(), "a");
}

#[test]
fn try_acquire_is_all_or_nothing() {
    let m = manager(ABC);
    let c = m.try_acquire(["c"]).unwrap();
    match m.try_acquire(["a", "b", "c"]) {
        Err(Error::WouldBlock { lock }) => {
            assert_eq!(lock, "c");
            assert_eq!(lock.order(), 30);
        }
        other => panic!("unexpected: {other:?}"),
    }
    assert_eq!(locked(&m, &["a", "b", "c"]), ["c"]);
    drop(c);
    let all = m.acquire(["a", "b", "c"]).owner("me").try_now().unwrap();
    assert_eq!(all.owner(), Some("me"));
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b", "c"]);
}

#[test]
fn dropping_the_guard_releases_everything_and_wakes_waiters() {
    let m = manager(ABC);
    let g = m.try_acquire(["a", "b", "c"]).unwrap();
    let mut waiter = Task::new(m.acquire(["c"]));
    waiter.pending();
    assert!(!waiter.woken());
    drop(g);
    // Free, though the woken waiter still counts as a waiting writer of "c".
    assert!(locked(&m, &["a", "b", "c"]).is_empty());
    assert!(waiter.woken());
    let g2 = waiter.ready().unwrap();
    assert!(g2.holds("c"));
}

#[test]
fn release_is_newest_first() {
    let m = manager(ABC);
    let log = Arc::new(Mutex::new(Vec::new()));
    let g = m.try_acquire(["a", "b", "c"]).unwrap();
    let mut wa = Task::logged(m.acquire(["a"]), "a", &log);
    let mut wb = Task::logged(m.acquire(["b"]), "b", &log);
    let mut wc = Task::logged(m.acquire(["c"]), "c", &log);
    wa.pending();
    wb.pending();
    wc.pending();
    drop(g);
    assert_eq!(*log.lock().unwrap(), ["c", "b", "a"]);
    for t in [&mut wa, &mut wb, &mut wc] {
        assert!(t.ready().is_ok());
    }
}

#[test]
fn waiters_are_woken_one_release_at_a_time_in_arrival_order() {
    let m = manager(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let (mut first, mut second) = two_waiters_for_a(&m, g);
    let g1 = first.ready().unwrap();
    second.pending();
    drop(g1);
    assert!(second.woken());
    assert!(second.ready().is_ok());
}

#[test]
fn polling_after_completion_is_an_error_not_a_panic() {
    let m = manager(ABC);
    let mut t = Task::new(m.acquire(["a"]));
    let g = t.ready().unwrap();
    assert_eq!(t.ready().unwrap_err(), Error::PolledAfterCompletion);
    drop(g);
    let mut refused = Task::new(m.acquire(["x"]));
    assert!(refused.ready().is_err());
    assert_eq!(refused.ready().unwrap_err(), Error::PolledAfterCompletion);
}

#[test]
fn guards_release_while_unwinding() {
    let m = manager(ABC);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _g = m.try_acquire(["a", "c"]).unwrap();
        panic!("inside the critical section");
    }));
    assert!(caught.is_err());
    assert_all_free(&m);
}

#[test]
fn locks_are_listed_in_order_with_their_registration() {
    let mut b = LockManager::builder();
    b.register_with("z", 3, "last").unwrap();
    b.register("y", 1).unwrap();
    let m = b.build();
    let all: Vec<_> = m
        .locks()
        .map(|l| (l.name(), l.order(), l.description()))
        .collect();
    assert_eq!(all, [("y", 1, ""), ("z", 3, "last")]);
    assert_eq!(m.len(), 2);
    let z = m.id("z").unwrap();
    assert_eq!(m.info(z).unwrap().id(), z);
}

#[test]
fn debug_output_names_the_locks_and_hides_the_timer() {
    let (m, _timer) = timed(ABC);
    let g = m.try_acquire(["b"]).unwrap();
    let mut pending = Task::new(m.acquire(["a", "b"]).owner("w1"));
    pending.pending();
    let text = format!("{m:?} {g:?}");
    assert!(text.contains("\"a\"") && text.contains("\"c\"") && text.contains("ManualTimer"));
    let acquire = format!("{:?}", m.acquire(["c"]));
    assert!(acquire.contains("\"c\""), "{acquire}");
    let builder = format!("{:?}", LockManager::builder());
    assert!(builder.contains("NoTimer"));
}

#[test]
fn threads_take_overlapping_sets_without_deadlock() {
    let m = manager(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)]);
    let sets: [&[&str]; 4] = [
        &["d", "a"],
        &["b", "c", "a"],
        &["c", "d"],
        &["a", "b", "c", "d"],
    ];
    let counter = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for set in sets {
            let (m, counter) = (&m, &counter);
            s.spawn(move || {
                for _ in 0..200 {
                    let g = block_on(m.acquire(set)).unwrap();
                    assert!(set.iter().all(|k| g.holds(*k)));
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(counter.into_inner(), 800);
    assert_all_free(&m);
}

// The contract, compiled: what is Send, Sync and Unpin.
#[allow(dead_code)]
fn contract_auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    fn unpin<T: Unpin>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    send_sync::<LockManager>();
    send_sync::<LockManager<ManualTimer>>();
    send_sync::<Guard<'static, NoTimer>>();
    send_sync::<Guard<'static, ManualTimer>>();
    send::<Acquire<'static, NoTimer>>();
    send::<Acquire<'static, ManualTimer>>();
    unpin::<Acquire<'static, NoTimer>>();
    error::<Error>();
}

#[test]
fn queued_waiters_are_served_first_come_first_served_without_spurious_wake_ups() {
    let m = manager(ABC);
    let mut guard = Some(m.try_acquire(["a"]).unwrap());
    let mut waiters: Vec<_> = (0..4).map(|_| Task::new(m.acquire(["a"]))).collect();
    waiters.iter_mut().for_each(Task::pending);
    let mut order = Vec::new();
    let mut polls = 0;
    while order.len() < waiters.len() {
        drop(guard.take());
        // Poll only the waiters that were woken, as an executor would.
        for (i, w) in waiters.iter_mut().enumerate() {
            if w.woken() {
                polls += 1;
                if let std::task::Poll::Ready(g) = w.poll() {
                    order.push(i);
                    guard = Some(g.unwrap());
                }
            }
        }
    }
    assert_eq!(order, [0, 1, 2, 3]);
    assert_eq!(polls, 4, "each release wakes exactly the next waiter");
}
