//! Blocking waits: `.wait()` takes the locks on a plain thread, with the same options and results
//! as `.await`, and blocking and async waiters of one lock wake each other.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_all_free, locked, ABC};
use futures_lite::future::block_on;
use lockorder::Error;

#[test]
fn wait_takes_free_locks_and_times_out_on_busy_ones_by_the_thread_clock() {
    // A virtual clock that never moves: the timeout of a blocking wait is real time all the same.
    let (m, timer) = common::timed(ABC);
    let g = m.acquire(["c", "a"]).owner("sync").wait().unwrap();
    assert_eq!(g.owner(), Some("sync"));
    let start = Instant::now();
    let err = m
        .acquire(["b", "c"])
        .timeout(Duration::from_millis(30))
        .wait()
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout { ref lock } if lock == "c"),
        "{err}"
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(
        locked(&m, &["a", "b", "c"]),
        ["a", "c"],
        "\"b\" was released"
    );
    assert_eq!(timer.sleeps(), 0, "the timer's sleep is never created");
    // Zero: try once.
    let err = m.acquire(["c"]).timeout(Duration::ZERO).wait().unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }));
    drop(g);
    drop(m.acquire(["c"]).timeout(Duration::ZERO).wait().unwrap());
    // Refused requests are refused the same way.
    assert!(matches!(
        m.acquire(["zz"]).wait(),
        Err(Error::UnknownLock { .. })
    ));
}

#[test]
fn blocking_and_async_waiters_wake_each_other() {
    let m = common::manager(ABC);
    let done = AtomicUsize::new(0);
    let rounds = 200;
    thread::scope(|s| {
        for i in 0..4 {
            let (m, done) = (&m, &done);
            s.spawn(move || {
                for _ in 0..rounds {
                    let keys: &[&str] = if i % 2 == 0 { &["a", "c"] } else { &["c", "b"] };
                    let g = if i < 2 {
                        m.acquire(keys).wait().unwrap()
                    } else {
                        block_on(m.acquire(keys)).unwrap()
                    };
                    assert!(g.holds("c"));
                    thread::yield_now();
                    drop(g);
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), 4);
    assert_all_free(&m);
}

#[test]
fn a_blocked_thread_is_woken_by_an_async_release_and_the_other_way_round() {
    let m = Arc::new(common::manager(ABC));
    let held = m.try_acquire_owned(["b"]).unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let waiter = {
        let (m, barrier) = (m.clone(), barrier.clone());
        thread::spawn(move || {
            barrier.wait();
            let g = m.acquire_owned(["a", "b"]).wait().unwrap();
            g.locks().count()
        })
    };
    barrier.wait();
    // Give the thread time to block (its result does not depend on it).
    thread::sleep(Duration::from_millis(20));
    // Released from an async context.
    block_on(async move { drop(held) });
    assert_eq!(waiter.join().unwrap(), 2);

    // Now a thread holds, and an async waiter is woken by its release.
    let g = m.try_acquire_owned(["c"]).unwrap();
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        drop(g);
    });
    let again = block_on(m.acquire(["c"])).unwrap();
    drop(again);
    releaser.join().unwrap();
}

#[cfg(feature = "tokio")]
#[test]
fn wait_works_on_a_tokio_timed_manager_from_a_thread_without_a_runtime() {
    use lockorder::{LockManager, TokioTimer};
    let m = LockManager::builder()
        .timer(TokioTimer::new())
        .default_timeout(Duration::from_secs(5))
        .with_lock("db", 10)
        .unwrap()
        .build();
    let g = m.acquire(["db"]).wait().unwrap();
    // Without a runtime a tokio sleep would panic; a blocking wait never creates one.
    let err = m
        .acquire(["db"])
        .timeout(Duration::from_millis(20))
        .wait()
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { lock } if lock == "db"));
    // The timer still stamps status: tokio's clock reads without a runtime.
    assert!(m.status()[0].acquired_at.is_some());
    drop(g);
}

/// A future a poll left waiting, with part of its set taken: `try_now` tries the rest once
/// (and releases what it took when that fails), and `wait` goes on waiting from there.
#[test]
fn try_now_and_wait_go_on_from_a_future_a_poll_left_waiting() {
    let m = common::manager(ABC);

    // try_now: the rest is busy, so everything is released and the busy lock named.
    let b = m.try_acquire(["b"]).unwrap();
    let mut partial = common::Task::new(m.acquire(["a", "b"]));
    partial.pending();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b"]);
    let fut = partial.into_inner();
    let err = fut.try_now().unwrap_err();
    assert!(
        matches!(err, Error::WouldBlock { ref lock } if lock == "b"),
        "{err}"
    );
    assert_eq!(locked(&m, &["a", "b", "c"]), ["b"], "\"a\" was released");

    // try_now: the rest has come free.
    let mut partial = common::Task::new(m.acquire(["a", "b"]));
    partial.pending();
    drop(b);
    let g = partial.into_inner().try_now().unwrap();
    assert_eq!(g.locks().map(|l| l.name()).collect::<Vec<_>>(), ["a", "b"]);

    // wait: blocks until another thread releases the rest, keeping what the poll took.
    drop(g);
    let c = m.try_acquire(["c"]).unwrap();
    let mut partial = common::Task::new(m.acquire(["b", "c"]));
    partial.pending();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["b", "c"]);
    let fut = partial.into_inner();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            drop(c);
        });
        let g = fut.wait().unwrap();
        assert_eq!(g.locks().map(|l| l.name()).collect::<Vec<_>>(), ["b", "c"]);
    });
    assert!(m.try_acquire(["a", "b", "c"]).is_ok());
}
