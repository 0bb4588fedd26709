//! lockorder on tokio's multi-threaded runtime, with `TokioTimer` for timeouts; owned guards move
//! into spawned tasks.
//!
//! Run with `cargo run -p lockorder-compat --example tokio`.

use std::sync::Arc;
use std::time::Duration;

use lockorder::{Error, LockManager, TokioTimer};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let m = Arc::new(
        LockManager::builder()
            .timer(TokioTimer::new())
            .default_timeout(Duration::from_secs(5))
            .with_lock_described("config", 10, "configuration")?
            .with_lock_described("db", 20, "database pool")?
            .with_lock_described("cache", 30, "read-through cache")?
            .build(),
    );

    // Three tasks ask for overlapping pairs in conflicting orders; each gets them in order.
    let mut tasks = Vec::new();
    for (worker, keys) in [
        ("worker-1", ["cache", "db"]),
        ("worker-2", ["db", "config"]),
        ("worker-3", ["config", "cache"]),
    ] {
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            let guard = m.acquire(keys).owner(worker).await?;
            let held: Vec<_> = guard.locks().map(|l| l.name()).collect();
            println!("{worker}: asked for {keys:?}, holds {held:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, Error>(())
        }));
    }
    for task in tasks {
        task.await.expect("worker panicked")?;
    }

    // An owned guard taken here, moved into a task that releases it later.
    let guard = m.acquire_owned(["cache"]).owner("handed-over").await?;
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        println!(
            "task: releases {:?}",
            guard.locks().map(|l| l.name()).collect::<Vec<_>>()
        );
    });
    let cache = m.acquire(["cache"]).owner("main").await?; // waits for the task's release
    drop(cache);
    task.await.expect("task panicked");

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
