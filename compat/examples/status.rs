//! Who holds what, since when: a status table, a long-hold warning from the watchdog and, with the
//! `stats` feature, per-lock statistics.
//!
//! Run with `cargo run -p lockorder-compat --example status` (statistics are on in this package).

use std::sync::Arc;
use std::time::Duration;

use lockorder::{AsyncIoTimer, Error, LockManager};

const MS: Duration = Duration::from_millis(1);

fn main() -> Result<(), Error> {
    let m = Arc::new(
        LockManager::builder()
            .timer(AsyncIoTimer::new())
            .default_timeout(Duration::from_secs(5))
            .with_lock_described("config", 10, "configuration")?
            .with_lock_described("db", 20, "database pool")?
            .with_lock_described("cache", 30, "read-through cache")?
            .with_lock_described("audit", 40, "audit log")?
            .build(),
    );

    smol::block_on(async {
        // Warn about any lock held longer than 150 ms, checking every 25 ms; once per holding.
        let watchdog = {
            let m = m.clone();
            smol::spawn(async move {
                let never = m
                    .watchdog(25 * MS, 150 * MS, |hold| println!("WARNING {hold}"))
                    .await;
                match never {}
            })
        };

        // The report holds "db" far too long.
        let report = {
            let m = m.clone();
            smol::spawn(async move {
                let _g = m.acquire(["audit", "db"]).owner("nightly-report").await?;
                smol::Timer::after(400 * MS).await;
                Ok::<_, Error>(())
            })
        };
        smol::Timer::after(5 * MS).await;

        // Workers take overlapping sets; the ones needing "db" queue behind the report.
        let mut workers = Vec::new();
        for (worker, keys) in [
            ("worker-1", &["cache", "config"][..]),
            ("worker-2", &["db", "cache"][..]),
            ("worker-3", &["config", "cache"][..]),
        ] {
            let m = m.clone();
            workers.push(smol::spawn(async move {
                for _ in 0..3 {
                    let _g = m.acquire(keys).owner(worker).await?;
                    smol::Timer::after(20 * MS).await;
                }
                Ok::<_, Error>(())
            }));
        }
        // One impatient caller gives up on "db".
        let impatient = m.acquire(["db"]).owner("impatient").timeout(50 * MS).await;
        if let Err(e) = impatient {
            println!("impatient: {e}");
        }

        smol::Timer::after(200 * MS).await;
        println!("\nstatus:\n{}", m.status());

        report.await?;
        for w in workers {
            w.await?;
        }
        drop(watchdog.cancel());
        println!("status at the end:\n{}", m.status());
        Ok(())
    })
}
