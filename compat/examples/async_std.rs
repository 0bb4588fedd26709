//! lockorder on async-std, with `AsyncIoTimer` (async-std's timers are async-io's) for timeouts.
//!
//! Run with `cargo run --example async_std --features async-io`.

use std::sync::Arc;
use std::time::Duration;

use lockorder::{AsyncIoTimer, Error, LockManager};

fn main() -> Result<(), Error> {
    let mut b = LockManager::builder()
        .timer(AsyncIoTimer::new())
        .default_timeout(Duration::from_secs(5));
    b.register_with("config", 10, "configuration")?
        .register_with("db", 20, "database pool")?
        .register_with("cache", 30, "read-through cache")?;
    let m = Arc::new(b.build());

    async_std::task::block_on(async {
        // Three tasks ask for overlapping pairs in conflicting orders; each gets them in order.
        let mut tasks = Vec::new();
        for (worker, keys) in [
            ("worker-1", ["cache", "db"]),
            ("worker-2", ["db", "config"]),
            ("worker-3", ["config", "cache"]),
        ] {
            let m = m.clone();
            tasks.push(async_std::task::spawn(async move {
                let guard = m.acquire(keys).owner(worker).await?;
                let held: Vec<_> = guard.locks().map(|l| l.name()).collect();
                println!("{worker}: asked for {keys:?}, holds {held:?}");
                async_std::task::sleep(Duration::from_millis(10)).await;
                Ok::<_, Error>(())
            }));
        }
        for task in tasks {
            task.await?;
        }

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
    })
}
