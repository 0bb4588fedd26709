//! `.wait()` with feature `tokio`: on a thread that drives a tokio runtime (inside `block_on`, in
//! a task, on either flavor) it panics at once, saying to use `.await`; on `spawn_blocking`
//! threads, inside `block_in_place`, on a thread that only entered a runtime's context, and on
//! threads outside any runtime it waits as usual.
#![cfg(not(loom))]

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lockorder::{LockManager, TokioTimer};
use tokio::runtime::{Builder, Runtime};

fn manager() -> Arc<LockManager<TokioTimer>> {
    let mut b = LockManager::builder().timer(TokioTimer::new());
    b.register("a", 1).unwrap();
    Arc::new(b.build())
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// A wait for a busy lock with a long timeout: it must panic at once, not wait.
fn wait_for_busy(m: &LockManager<TokioTimer>) {
    let _ = m.acquire(["a"]).timeout(Duration::from_secs(30)).wait();
}

#[track_caller]
fn assert_refused(payload: &(dyn Any + Send), started: Instant) {
    let text = message(payload);
    assert!(text.contains(".await"), "{text}");
    assert!(text.contains("tokio runtime"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10), "it waited");
}

#[test]
fn wait_inside_block_on_panics_at_once_on_both_flavors() {
    for rt in [current_thread(), multi_thread()] {
        let m = manager();
        let _held = m.try_acquire(["a"]).unwrap();
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async { wait_for_busy(&m) })
        }));
        assert_refused(&*result.unwrap_err(), started);
        // Also for a free lock: the check comes before any try.
        drop(_held);
        let free = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async { m.acquire(["a"]).wait().map(drop) })
        }));
        assert!(free.is_err(), "a free lock is refused too");
        assert!(!m.is_locked("a").unwrap());
    }
}

#[test]
fn wait_in_a_task_panics_at_once_on_both_flavors() {
    for rt in [current_thread(), multi_thread()] {
        let m = manager();
        let held = m.try_acquire(["a"]).unwrap();
        let started = Instant::now();
        let joined = rt.block_on({
            let m = m.clone();
            async move { tokio::spawn(async move { wait_for_busy(&m) }).await }
        });
        let err = joined.unwrap_err();
        assert!(err.is_panic());
        assert_refused(&*err.into_panic(), started);
        drop(held);
    }
}

#[test]
fn wait_on_a_spawn_blocking_thread_waits_as_usual_on_both_flavors() {
    for rt in [current_thread(), multi_thread()] {
        let m = manager();
        let got = rt.block_on(async {
            let held = m.acquire(["a"]).await.unwrap();
            let waiter = tokio::task::spawn_blocking({
                let m = m.clone();
                move || {
                    m.acquire(["a"])
                        .timeout(Duration::from_secs(30))
                        .wait()
                        .map(drop)
                }
            });
            // The blocking thread waits for the lock until this task releases it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(!waiter.is_finished(), "it waits for the lock");
            drop(held);
            waiter.await.unwrap()
        });
        assert!(got.is_ok(), "{got:?}");
    }
}

#[test]
fn wait_inside_block_in_place_waits_as_usual() {
    let rt = multi_thread();
    let m = manager();
    let got = rt.block_on(async {
        tokio::spawn({
            let m = m.clone();
            async move {
                tokio::task::block_in_place(|| {
                    m.acquire(["a"])
                        .timeout(Duration::from_secs(30))
                        .wait()
                        .map(drop)
                })
            }
        })
        .await
        .unwrap()
    });
    assert!(got.is_ok(), "{got:?}");
}

#[test]
fn wait_outside_any_runtime_waits_as_usual_also_with_its_context_entered() {
    let rt = multi_thread();
    let m = manager();
    let held = m.try_acquire(["a"]).unwrap();
    let waiters: Vec<_> = [false, true]
        .into_iter()
        .map(|enter| {
            let m = m.clone();
            let handle = rt.handle().clone();
            thread::spawn(move || {
                // A plain thread that entered the runtime's context (to create tokio timers)
                // does not drive it.
                let _entered = enter.then(|| handle.enter());
                m.acquire(["a"])
                    .timeout(Duration::from_secs(30))
                    .wait()
                    .map(drop)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    assert!(waiters.iter().all(|w| !w.is_finished()), "they wait");
    drop(held);
    for waiter in waiters {
        assert!(waiter.join().unwrap().is_ok());
    }
}
