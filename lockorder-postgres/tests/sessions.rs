//! Bounded sessions: at most `max_sessions` backends per manager, idle ones included; more
//! acquires wait in the process, their timeout counting; nested acquires need no session; a
//! waiter's timeout is one deadline across a retry.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lockorder_postgres::{Error, PgLockManager};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A login role of the test's own, so that its backends can be counted in `pg_stat_activity`.
async fn own_role(test: &str) -> Result<String> {
    let role = format!("lockorder_test_{}", namespace(test).unsigned_abs());
    client()
        .await
        .batch_execute(&format!("CREATE ROLE {role} LOGIN SUPERUSER"))
        .await?;
    Ok(role)
}

async fn manager_as(role: &str, ns: i32, max_sessions: usize) -> PgLockManager {
    let mut config: lockorder_postgres::Config = database().parse().unwrap();
    config.user(role);
    PgLockManager::builder(builder(ABCD))
        .namespace(ns)
        .max_sessions(max_sessions)
        .connect(config)
        .await
        .expect("manager starts")
}

async fn backends_of(c: &tokio_postgres::Client, role: &str) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
        &[&role],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_waiters_than_sessions_all_succeed_within_the_cap() -> Result {
    let role = own_role("sessions-cap").await?;
    let m = manager_as(&role, namespace("sessions-cap"), 3).await;
    let c = Arc::new(client().await);
    // Start-up's own connection is closed before `connect` returns, but its backend may still be
    // exiting: count only once it is gone.
    eventually(
        Duration::from_secs(5),
        "the start-up backend exits",
        || async { backends_of(&c, &role).await == 0 },
    )
    .await;
    let (done, most) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicI64::new(0)),
    );
    let monitor = tokio::spawn({
        let (c, role, done, most) = (c.clone(), role.clone(), done.clone(), most.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                most.fetch_max(backends_of(&c, &role).await, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let names = ["a", "b", "c", "d"];
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let m = m.clone();
            tokio::spawn(async move {
                for round in 0..3 {
                    let mut g = m
                        .acquire([names[(i + round) % 4]])
                        .timeout(Duration::from_secs(30))
                        .await
                        .unwrap();
                    // Nested: on the same session, no new one needed.
                    if i % 3 == 0 && (i + round) % 4 < 3 {
                        let inner = g
                            .acquire([names[3]])
                            .timeout(Duration::from_secs(30))
                            .await
                            .unwrap();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        inner.release().await.unwrap();
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    if round % 2 == 0 {
                        g.release().await.unwrap();
                    } else {
                        drop(g);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    // Idle pooled sessions count too.
    let status = m.status().await?;
    assert!(!status[0].is_locked());
    most.fetch_max(backends_of(&c, &role).await, Ordering::Relaxed);
    done.store(true, Ordering::Relaxed);
    monitor.await?;
    let most = most.load(Ordering::Relaxed);
    eprintln!("at most {most} backends for 12 tasks and max_sessions(3)");
    assert!(most <= 3, "{most} backends with max_sessions(3)");
    assert!(most >= 2, "the sessions were used at once ({most})");
    drop(m);
    // Best-effort cleanup (the objects the role may have installed stay, given to us).
    let _ = c
        .batch_execute(&format!(
            "REASSIGN OWNED BY {role} TO CURRENT_USER; DROP ROLE {role}"
        ))
        .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_session_counts_towards_the_timeout() -> Result {
    let ns = namespace("sessions-timeout");
    let m = PgLockManager::builder(builder(ABCD))
        .namespace(ns)
        .max_sessions(1)
        .connect(database().parse()?)
        .await?;
    let mut g = m.acquire(["a"]).await?;
    // The only session is held; a nested acquire needs none.
    let inner = g.acquire(["b"]).timeout(Duration::from_millis(500)).await?;
    inner.release().await?;
    let start = Instant::now();
    let e = m
        .acquire(["c", "d"])
        .timeout(Duration::from_millis(300))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(e.is_timeout(), "{e:?}");
    match &e {
        Error::NoSession {
            locks,
            max_sessions: 1,
            ..
        } => assert_eq!(
            locks.iter().map(|l| l.name()).collect::<Vec<_>>(),
            ["c", "d"]
        ),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("max_sessions"), "{e}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(800),
        "{took:?}"
    );
    // A waiter gets the session once the holder gives it back.
    let waiter = tokio::spawn({
        let m = m.clone();
        async move {
            m.acquire(["c"])
                .timeout(Duration::from_secs(10))
                .await
                .map(|g| g.fencing_token())
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished());
    g.release().await?;
    waiter.await??;
    Ok(())
}

/// A waiter on a pooled session whose backend is terminated mid-wait retries on a new session
/// with what is left of its timeout: it times out at its deadline, not a whole timeout later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_waiter_killed_mid_wait_still_times_out_at_its_deadline() -> Result {
    let ns = namespace("sessions-deadline");
    let m = manager_in(ns, ABCD).await;
    let other = manager_in(ns, ABCD).await;
    let c = client().await;
    // One session in the pool.
    m.acquire(["d"]).await?.release().await?;
    let holder = other.acquire(["a"]).await?;
    let start = Instant::now();
    let waiter = tokio::spawn({
        let m = m.clone();
        async move {
            let r = m.acquire(["a"]).timeout(Duration::from_secs(2)).await;
            (r.map(drop), start.elapsed())
        }
    });
    // The waiter's backend, waiting for `a`.
    let pid = loop {
        let waiting = advisory(&c, ns)
            .await
            .iter()
            .find(|&&(_, granted, _)| !granted)
            .map(|&(_, _, p)| p);
        if let Some(pid) = waiting {
            break pid;
        }
        assert!(start.elapsed() < Duration::from_secs(1), "the waiter waits");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(start.elapsed())).await;
    c.execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await?;
    let (r, took) = waiter.await?;
    match r {
        Err(e) => assert!(e.is_timeout(), "{e:?}"),
        Ok(()) => panic!("acquired a held lock"),
    }
    eprintln!("timed out after {took:?} (timeout 2 s, its session killed at 1.5 s)");
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    assert!(took < Duration::from_millis(2600), "{took:?}");
    holder.release().await?;
    Ok(())
}
