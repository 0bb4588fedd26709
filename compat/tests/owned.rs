//! Owned guards on real runtimes: moved into spawned tasks on tokio and smol, held across
//! `.await`s, cancelled and timed out; and blocking waits mixed with tokio tasks.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lockorder::{AsyncIoTimer, Error, LockManager, OwnedGuard, TokioTimer};

fn tokio_manager() -> Arc<LockManager<TokioTimer>> {
    Arc::new(
        LockManager::builder()
            .timer(TokioTimer::new())
            .default_timeout(Duration::from_secs(10))
            .with_lock("a", 10)
            .unwrap()
            .with_lock("b", 20)
            .unwrap()
            .with_lock("c", 30)
            .unwrap()
            .build(),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Tasks take owned guards of overlapping sets, in conflicting orders, hold them across awaits,
/// and check exclusion with a per-lock "inside" counter.
#[test]
fn owned_guards_in_spawned_tokio_tasks() {
    let m = tokio_manager();
    let inside: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    runtime().block_on(async {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (m, inside) = (m.clone(), inside.clone());
            tasks.push(tokio::spawn(async move {
                let keys: [&str; 2] = if i % 2 == 0 { ["c", "a"] } else { ["b", "c"] };
                for _ in 0..50 {
                    let g: OwnedGuard<TokioTimer> =
                        m.acquire_owned(keys).owner(format!("task-{i}")).await?;
                    let held: Vec<usize> =
                        (0..3).filter(|&p| g.holds(["a", "b", "c"][p])).collect();
                    for &p in &held {
                        assert_eq!(inside[p].fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    }
                    tokio::task::yield_now().await;
                    for &p in &held {
                        inside[p].fetch_sub(1, Ordering::SeqCst);
                    }
                    drop(g);
                }
                Ok::<_, Error>(())
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    assert!(!m.is_locked("c").unwrap());
}

/// A guard taken in one task is moved into another and released there, across an await; a task
/// waiting for it meanwhile gets the lock afterwards.
#[test]
fn an_owned_guard_moves_between_tokio_tasks() {
    let m = tokio_manager();
    runtime().block_on(async {
        let g = m.acquire_owned(["b"]).owner("first").await.unwrap();
        let waiter = tokio::spawn({
            let m = m.clone();
            async move {
                m.acquire_owned(["a", "b"])
                    .await
                    .map(|g| g.owner().map(str::to_owned))
            }
        });
        let holder = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(g.owner(), Some("first"));
            drop(g);
        });
        holder.await.unwrap();
        assert_eq!(waiter.await.unwrap().unwrap(), None);
    });
}

/// Cancelled by `tokio::time::timeout` (the future is dropped mid-wait) and timed out by its own
/// timeout: either way nothing is kept.
#[test]
fn owned_acquires_cancelled_and_timed_out_on_tokio() {
    let m = tokio_manager();
    runtime().block_on(async {
        let busy = m.acquire_owned(["c"]).await.unwrap();
        let cancelled = tokio::time::timeout(
            Duration::from_millis(10),
            m.acquire_owned(["a", "c"]).no_timeout(),
        )
        .await;
        assert!(cancelled.is_err(), "still waiting when cancelled");
        assert!(
            !m.is_locked("a").unwrap(),
            "the cancelled future released \"a\""
        );
        let err = m
            .acquire_owned(["b", "c"])
            .timeout(Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { lock } if lock == "c"));
        assert!(!m.is_locked("b").unwrap());
        drop(busy);
        drop(m.acquire_owned(["a", "b", "c"]).await.unwrap());
    });
}

/// Threads blocking with `.wait()` and tokio tasks awaiting share locks; every one gets through.
#[test]
fn blocking_threads_and_tokio_tasks_share_locks() {
    let m = tokio_manager();
    let rt = runtime();
    let done = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (m, done) = (m.clone(), done.clone());
            s.spawn(move || {
                for _ in 0..100 {
                    let g = m
                        .acquire(["b", "a"])
                        .timeout(Duration::from_secs(10))
                        .wait()
                        .unwrap();
                    std::thread::yield_now();
                    drop(g);
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        rt.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..2 {
                let (m, done) = (m.clone(), done.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..100 {
                        let g = m.acquire_owned(["a", "b"]).await.unwrap();
                        tokio::task::yield_now().await;
                        drop(g);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
    });
    assert_eq!(done.load(Ordering::SeqCst), 4);
}

/// The same on smol, whose tasks need `Send + 'static` futures too.
#[test]
fn owned_guards_in_spawned_smol_tasks() {
    let m = Arc::new(
        LockManager::builder()
            .timer(AsyncIoTimer::new())
            .with_lock("a", 1)
            .unwrap()
            .with_lock("b", 2)
            .unwrap()
            .build(),
    );
    let inside = Arc::new(AtomicUsize::new(0));
    smol::block_on(async {
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (m, inside) = (m.clone(), inside.clone());
            tasks.push(smol::spawn(async move {
                for _ in 0..50 {
                    let keys: [&str; 2] = if i % 2 == 0 { ["b", "a"] } else { ["a", "b"] };
                    let g = m.acquire_owned(keys).await.unwrap();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    smol::future::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(g);
                }
            }));
        }
        for t in tasks {
            t.await;
        }
        // Timed out and cancelled, as on tokio.
        let busy = m.acquire_owned(["b"]).await.unwrap();
        let err = m
            .acquire_owned(["a", "b"])
            .timeout(Duration::from_millis(5))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { lock } if lock == "b"));
        let raced = smol::future::or(async { Some(m.acquire_owned(["a", "b"]).await) }, async {
            smol::Timer::after(Duration::from_millis(5)).await;
            None
        })
        .await;
        assert!(raced.is_none(), "the acquire lost the race and was dropped");
        assert!(!m.is_locked("a").unwrap());
        drop(busy);
    });
}
