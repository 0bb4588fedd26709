//! The demo every runtime example runs, written once: it needs only a way to spawn a task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use lockorder::{Error, LockManager, Timer};

/// A task's future, boxed so that any runtime's `spawn` takes it.
pub(crate) type Task = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// The three locks of the demo, with `timer` and a 5 s default timeout.
pub(crate) fn manager<T: Timer>(timer: T) -> Result<Arc<LockManager<T>>, Error> {
    Ok(Arc::new(
        LockManager::builder()
            .timer(timer)
            .default_timeout(Duration::from_secs(5))
            .with_lock_described("config", 10, "configuration")?
            .with_lock_described("db", 20, "database pool")?
            .with_lock_described("cache", 30, "read-through cache")?
            .build(),
    ))
}

/// Three tasks ask for overlapping pairs in conflicting orders and each gets them in order; an
/// owned guard moves into a task that releases it later; an acquire times out and keeps nothing.
/// `spawn` starts a task on the runtime at once and returns a future of its result.
pub(crate) async fn demo<T, S, H>(m: &Arc<LockManager<T>>, spawn: S) -> Result<(), Error>
where
    T: Timer + Clone + Send + Sync + 'static,
    T::Sleep: Send,
    S: Fn(Task) -> H,
    H: Future<Output = Result<(), Error>>,
{
    let timer = m.timer().clone();
    let mut tasks = Vec::new();
    for (worker, keys) in [
        ("worker-1", ["cache", "db"]),
        ("worker-2", ["db", "config"]),
        ("worker-3", ["config", "cache"]),
    ] {
        let (m, timer) = (m.clone(), timer.clone());
        tasks.push(spawn(Box::pin(async move {
            let guard = m.acquire(keys).owner(worker).await?;
            let held: Vec<_> = guard.locks().map(|l| l.name()).collect();
            println!("{worker}: asked for {keys:?}, holds {held:?}");
            timer.sleep(Duration::from_millis(10)).await;
            Ok(())
        })));
    }
    for task in tasks {
        task.await?;
    }

    // An owned guard taken here, moved into a task that releases it later.
    let guard = m.acquire_owned(["cache"]).owner("handed-over").await?;
    let task = spawn(Box::pin(async move {
        timer.sleep(Duration::from_millis(10)).await;
        let held: Vec<_> = guard.locks().map(|l| l.name()).collect();
        println!("task: releases {held:?}");
        Ok(())
    }));
    let cache = m.acquire(["cache"]).owner("main").await?; // waits for the task's release
    drop(cache);
    task.await?;

    // While "db" is held, asking for "config" and "db" times out and keeps nothing.
    let db = m.acquire(["db"]).owner("main").await?;
    match m
        .acquire(["db", "config"])
        .timeout(Duration::from_millis(20))
        .await
    {
        Err(e @ Error::Timeout { .. }) => println!("main: {e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    println!("main: `config` is free again: {}", !m.is_locked("config")?);
    drop(db);
    Ok(())
}
