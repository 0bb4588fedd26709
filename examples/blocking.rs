//! Threads and async tasks sharing one manager: blocking callers use `.wait()`, async ones
//! `.await`, and a release by either wakes the other. Run with `cargo run --example blocking`.
//!
//! The async tasks run on `futures_lite::future::block_on`, one thread each, to keep the example
//! free of runtimes; on tokio or smol they would be spawned tasks, unchanged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures_lite::future::block_on;
use lockorder::{Error, LockManager, StdTimer};

/// A counter that only a holder of `"ledger"` may change: the check that exclusion held.
struct Ledger {
    balance: AtomicU64,
}

fn main() -> Result<(), Error> {
    let locks = Arc::new(
        LockManager::builder()
            .timer(StdTimer::new())
            .default_timeout(Duration::from_secs(5))
            .with_lock("accounts", 10)?
            .with_lock("ledger", 20)?
            .build(),
    );
    let ledger = Arc::new(Ledger {
        balance: AtomicU64::new(0),
    });
    const ROUNDS: u64 = 500;

    let mut handles = Vec::new();
    for i in 0..4 {
        let (locks, ledger) = (locks.clone(), ledger.clone());
        handles.push(thread::spawn(move || -> Result<(), Error> {
            let blocking = i % 2 == 0;
            for _ in 0..ROUNDS {
                let acquire = locks
                    .acquire_owned(["ledger", "accounts"])
                    .owner(format!("worker-{i}"));
                let guard = if blocking {
                    acquire.wait()?
                } else {
                    block_on(acquire)?
                };
                // Read, then write: a lost update would show if two held "ledger" at once.
                let b = ledger.balance.load(Ordering::Relaxed);
                thread::yield_now();
                ledger.balance.store(b + 1, Ordering::Relaxed);
                drop(guard);
            }
            let kind = if blocking {
                "thread (wait)"
            } else {
                "async (await)"
            };
            println!("worker-{i}: {kind}, {ROUNDS} rounds done");
            Ok(())
        }));
    }
    for h in handles {
        h.join().expect("a worker panicked")?;
    }
    let balance = ledger.balance.load(Ordering::Relaxed);
    println!("balance: {balance} (expected {})", 4 * ROUNDS);
    assert_eq!(balance, 4 * ROUNDS, "a lost update: exclusion failed");

    // A timeout from a thread: measured on the thread's clock, whatever the manager's timer.
    let held = locks.acquire(["ledger"]).owner("main").wait()?;
    let err = locks
        .acquire(["accounts", "ledger"])
        .timeout(Duration::from_millis(20))
        .wait()
        .unwrap_err();
    println!("while main holds \"ledger\": {err}");
    drop(held);
    Ok(())
}
