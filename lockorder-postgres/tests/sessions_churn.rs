//! The session cap under churn: acquires cancelled while they wait for a session or a lock,
//! status calls, timeouts, and backends terminated under guards and in the pool. The cap holds
//! (a closed session's backend may outlive its place for a moment), every cancelled waiter gives
//! its place back, and afterwards every lock is free and a session is there at once.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lockorder_postgres::PgLockManager;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const MAX: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_holds_and_places_come_back_under_cancellation_and_faults() -> Result {
    let ns = namespace("sessions-churn");
    let role = format!("lockorder_test_{}", ns.unsigned_abs());
    let c = Arc::new(client().await);
    c.batch_execute(&format!("CREATE ROLE {role} LOGIN SUPERUSER"))
        .await?;
    let mut config: lockorder_postgres::Config = database().parse().unwrap();
    config.user(&role);
    let m = PgLockManager::builder(builder(ABCD))
        .namespace(ns)
        .max_sessions(MAX)
        .max_idle(1)
        .connect(config)
        .await?;
    let count = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}' AND backend_type = \
         'client backend' AND pid <> pg_backend_pid()"
    );
    // The most backends seen, and the longest time the count stayed above the cap.
    let (done, most, over_us) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicI64::new(0)),
        Arc::new(AtomicI64::new(0)),
    );
    let monitor = tokio::spawn({
        let (c, done, most, over_us) = (c.clone(), done.clone(), most.clone(), over_us.clone());
        async move {
            let mut over_since: Option<Instant> = None;
            while !done.load(Ordering::Relaxed) {
                let n: i64 = c.query_one(&count, &[]).await.unwrap().get(0);
                most.fetch_max(n, Ordering::Relaxed);
                if n > MAX as i64 {
                    let since = *over_since.get_or_insert_with(Instant::now);
                    over_us.fetch_max(since.elapsed().as_micros() as i64, Ordering::Relaxed);
                } else {
                    over_since = None;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let killer = tokio::spawn({
        let (c, done) = (c.clone(), done.clone());
        let role = role.clone();
        async move {
            let mut killed = 0;
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(40)).await;
                let n: i64 = c
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM \
                         pg_stat_activity WHERE usename = $1 ORDER BY random() LIMIT 1) p",
                        &[&role],
                    )
                    .await
                    .unwrap()
                    .get(0);
                killed += n;
            }
            killed
        }
    });
    let names = ["a", "b", "c", "d"];
    let deadline = Instant::now() + Duration::from_millis(1500);
    let tasks: Vec<_> = (0..10u64)
        .map(|i| {
            let m = m.clone();
            tokio::spawn(async move {
                let mut rng = Rng(0x9e37_79b9 ^ (i + 1));
                let mut ok = 0u32;
                while Instant::now() < deadline {
                    let first = rng.below(4) as usize;
                    let set = &names[first..=(first + rng.below(4 - first as u64) as usize)];
                    match rng.below(4) {
                        // Cancelled after 0-3 ms: waiting for a session, mid statement, or done.
                        0 => {
                            let cut = Duration::from_micros(rng.below(3000));
                            let _ = tokio::time::timeout(cut, m.acquire(set.iter().copied())).await;
                        }
                        1 => {
                            let cut = Duration::from_millis(rng.below(5));
                            let _ = tokio::time::timeout(cut, m.status()).await;
                        }
                        _ => {
                            let got = m
                                .acquire(set.iter().copied())
                                .timeout(Duration::from_millis(rng.below(30)))
                                .await;
                            if let Ok(mut g) = got {
                                ok += 1;
                                if set.last() != Some(&"d") && rng.below(2) == 0 {
                                    let _ = g.acquire(["d"]).timeout(Duration::ZERO).await;
                                }
                                tokio::time::sleep(Duration::from_micros(rng.below(2000))).await;
                                if rng.below(2) == 0 {
                                    let _ = g.release().await;
                                } else {
                                    drop(g);
                                }
                            }
                        }
                    }
                }
                ok
            })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        granted += t.await?;
    }
    done.store(true, Ordering::Relaxed);
    let killed = killer.await?;
    monitor.await?;
    let (most, over_us) = (
        most.load(Ordering::Relaxed),
        over_us.load(Ordering::Relaxed),
    );
    eprintln!(
        "{granted} grants, {killed} backends terminated, at most {most} backends, \
         above the cap for at most {over_us} us at a time"
    );
    assert!(granted > 20, "only {granted} grants");
    // A session closed by the client frees its place at once; its backend exits when it reads
    // the end of the connection, or (waiting for a lock) when the cancel request arrives: a
    // moment during which the server shows one backend more than the cap.
    assert!(
        over_us < 200_000,
        "{most} backends with max_sessions({MAX}), above it for {over_us} us"
    );
    // Every place came back: MAX guards at once, without waiting.
    let start = Instant::now();
    let g1 = m.acquire(["a"]).timeout(Duration::from_secs(2)).await?;
    let g2 = m.acquire(["b"]).timeout(Duration::from_secs(2)).await?;
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    drop((g1, g2));
    eventually(Duration::from_secs(2), "no lock left held", || async {
        advisory(&c, ns).await.is_empty()
    })
    .await;
    drop(m);
    let _ = c
        .batch_execute(&format!(
            "REASSIGN OWNED BY {role} TO CURRENT_USER; DROP OWNED BY {role}; DROP ROLE {role}"
        ))
        .await;
    Ok(())
}
