//! Several workers take overlapping sets of locks, each naming them in its own order; one of them
//! gives up after a timeout. Run with `cargo run --example quickstart`.
//!
//! No async runtime is needed: the workers are threads that block with `.wait()`, one of them
//! drives an async acquire with `futures_lite::future::block_on`, and timeouts come from
//! `StdTimer`. With tokio, async-std or smol, give the builder their timer instead and `.await`.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures_lite::future::block_on;
use lockorder::{Error, LockManager, StdTimer, Timer};

fn main() -> Result<(), Error> {
    let timer = StdTimer::new();
    let locks = Arc::new(
        LockManager::builder()
            .timer(timer)
            .default_timeout(Duration::from_secs(5))
            .with_lock_described("config", 10, "application settings")?
            .with_lock_described("db", 20, "database connection pool")?
            .with_lock_described("cache", 30, "read-through cache")?
            .with_lock_described("audit", 40, "audit log")?
            .build(),
    );

    println!("locks, in the order they are always taken:");
    for info in locks.locks() {
        let (order, name) = (info.order(), info.name());
        println!("  {order:>3}  {name:<7} {}", info.description());
    }
    println!();

    let say = move |who: &str, what: String| {
        println!("[{:>4} ms] {who:<9} {what}", timer.now().as_millis());
    };

    // Each worker names its locks in a different order; all are taken in ascending order, so
    // none of them can deadlock another.
    let workers: [(&str, &[&str], u64, u64); 3] = [
        ("billing", &["cache", "db"], 0, 300),
        ("reporting", &["audit", "config", "db"], 20, 100),
        ("sync", &["db", "audit", "cache"], 40, 100),
    ];
    let mut threads = Vec::new();
    for (who, wanted, start_ms, hold_ms) in workers {
        let locks = locks.clone();
        threads.push(thread::spawn(move || {
            thread::sleep(Duration::from_millis(start_ms));
            say(who, format!("asks for {wanted:?}"));
            // An owned guard: it holds the manager through the Arc, so it could move anywhere.
            let guard = locks
                .acquire_owned(wanted)
                .owner(who)
                .wait()
                .expect("acquire");
            let taken: Vec<_> = guard.locks().map(|l| l.name()).collect();
            say(who, format!("holds {taken:?}"));
            thread::sleep(Duration::from_millis(hold_ms));
            drop(guard);
            say(who, "released everything".into());
        }));
    }

    // This one is an async task, and will not wait long: "cache" is busy for longer than that.
    thread::sleep(Duration::from_millis(60));
    say(
        "impatient",
        "asks for [\"cache\"], waiting at most 50 ms".into(),
    );
    let attempt = locks
        .acquire(["cache"])
        .owner("impatient")
        .timeout(Duration::from_millis(50));
    match block_on(attempt) {
        Ok(_guard) => say("impatient", "got its locks".into()),
        Err(e) => say("impatient", format!("gave up: {e}")),
    }

    for t in threads {
        t.join().expect("a worker panicked");
    }
    println!();
    let free = locks
        .locks()
        .all(|l| !locks.is_locked(l.id()).unwrap_or(true));
    println!("all locks free at the end: {free}");
    Ok(())
}
