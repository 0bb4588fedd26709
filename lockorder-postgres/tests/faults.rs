//! Faults on the server side: a terminated backend, a restarting server.

mod common;

use std::time::Duration;

use common::*;
use lockorder_postgres::{Error, PgLockManager, TempCluster};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_backend_loses_its_locks_and_the_guard_can_tell() -> Result {
    let ns = namespace("faults-terminate");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let mut g = m.acquire(["a", "c"]).owner("victim").await?;
    let pid = g.backend_pid().unwrap();
    g.check().await?;
    assert!(!g.is_lost());
    let terminated: bool = c
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await?
        .get(0);
    assert!(terminated);
    // The client sees the connection end without a round trip of its own.
    eventually(Duration::from_secs(5), "the guard knows", || async {
        g.is_lost()
    })
    .await;
    match g.check().await {
        Err(Error::Lost { locks, reason }) => {
            assert_eq!(
                locks.iter().map(|l| l.name()).collect::<Vec<_>>(),
                ["a", "c"]
            );
            assert!(reason.contains("ended"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Others take the locks at once; so does the same manager, on a new session.
    let other = m.try_acquire(["a", "b", "c"]).await?;
    assert_ne!(other.backend_pid(), Some(pid));
    other.release().await?;
    // Nesting on the lost guard and releasing it report the loss.
    assert!(matches!(g.acquire(["d"]).await, Err(Error::Lost { .. })));
    match g.release().await {
        Err(e @ Error::Lost { .. }) => assert!(e.to_string().contains("`a` (order 10)")),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_idle_session_in_the_pool_is_replaced() -> Result {
    let ns = namespace("faults-pooled");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let g = m.acquire(["a"]).await?;
    let pid = g.backend_pid().unwrap();
    g.release().await?; // back to the pool
    c.execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await?;
    // Whether or not the client noticed yet, the acquire works on a new session.
    let g = m.acquire(["a"]).await?;
    assert_ne!(g.backend_pid(), Some(pid));
    g.release().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquires_fail_clearly_while_the_server_restarts_then_succeed() -> Result {
    // This test restarts its server, so it always has a cluster of its own.
    let cluster = match TempCluster::start() {
        Ok(c) => c,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && std::env::var_os("DATABASE_URL").is_some() =>
        {
            eprintln!("SKIP: restarting a server needs PostgreSQL's binaries here: {e}");
            return Ok(());
        }
        Err(e) => panic!("{e}"),
    };
    let m = PgLockManager::builder(builder(ABCD))
        .connect(cluster.connection_string().parse()?)
        .await?;
    // One idle session in the pool, one held.
    m.acquire(["b"]).await?.release().await?;
    let mut g = m.acquire(["a"]).await?;

    cluster.stop()?;
    eventually(
        Duration::from_secs(5),
        "the holder sees its session end",
        || async { g.is_lost() },
    )
    .await;
    assert!(matches!(g.check().await, Err(Error::Lost { .. })));
    let e = m.acquire(["a"]).await.unwrap_err();
    assert!(matches!(e, Error::Connect(_)), "{e:?}");
    assert!(e.to_string().contains("cannot connect"), "{e}");
    let e = m.status().await.unwrap_err();
    assert!(matches!(e, Error::Connect(_)), "{e:?}");

    cluster.start_again()?;
    let again = m
        .acquire(["a", "b"])
        .timeout(Duration::from_secs(5))
        .await?;
    assert!(again.holds("a"));
    assert!(m.status().await?[0].is_locked());
    again.release().await?;
    drop(g);
    Ok(())
}

/// `lost()` wakes its caller when the session ends, without the caller polling `is_lost`.
async fn lost_resolves_within_a_second(ns: i32) -> Result {
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let mut g = m.acquire(["a", "b"]).await?;
    // Pending while the locks are held.
    assert!(tokio::time::timeout(Duration::from_millis(200), g.lost())
        .await
        .is_err());
    let pid = g.backend_pid().unwrap();
    let (waited, ()) = tokio::join!(
        async {
            let start = std::time::Instant::now();
            tokio::time::timeout(Duration::from_secs(1), g.lost())
                .await
                .expect("lost() resolves within 1 s of the session's end");
            start.elapsed()
        },
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let ok: bool = c
                .query_one("SELECT pg_terminate_backend($1, 5000)", &[&pid])
                .await
                .unwrap()
                .get(0);
            assert!(ok);
        }
    );
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert!(g.is_lost());
    assert!(matches!(g.check().await, Err(Error::Lost { .. })));
    // Already lost: at once.
    tokio::time::timeout(Duration::from_millis(10), g.lost()).await?;
    eprintln!("lost() after {waited:?} (100 ms of which before the termination)");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_resolves_promptly_on_a_multi_thread_runtime() -> Result {
    lost_resolves_within_a_second(namespace("faults-lost-mt")).await
}

/// A current-thread runtime kept busy by other tasks (each yielding often, as async code does):
/// the connection task still gets its turn, and `lost()` wakes its caller.
#[tokio::test(flavor = "current_thread")]
async fn lost_resolves_promptly_on_a_busy_current_thread_runtime() -> Result {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_micros(500));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let r = lost_resolves_within_a_second(namespace("faults-lost-ct")).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for b in busy {
        b.await?;
    }
    r
}

/// Over TCP, a holding session has keepalive and user-timeout settings that bound how long a
/// dead client host keeps its locks (about 30 s): probes after 10 s idle, every 5 s, 4 of them;
/// 20 s of unacknowledged data. A caller's own option wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_sessions_get_keepalive_settings_that_free_a_dead_clients_locks() -> Result {
    let cluster = match TempCluster::start() {
        Ok(c) => c,
        Err(e) if std::env::var_os("DATABASE_URL").is_some() => {
            eprintln!("SKIP: a TCP cluster of its own needs PostgreSQL's binaries here: {e}");
            return Ok(());
        }
        Err(e) => panic!("{e}"),
    };
    let mut config: lockorder_postgres::Config = cluster.tcp_connection_string().parse()?;
    config.options("-c tcp_keepalives_count=3");
    let m = PgLockManager::builder(builder(ABCD))
        .connect(config)
        .await?;
    let g = m.acquire(["a"]).await?;
    let row = g
        .client()?
        .query_one(
            "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'),
                    current_setting('tcp_keepalives_count'), current_setting('tcp_user_timeout'),
                    inet_client_addr()::text",
            &[],
        )
        .await?;
    let got: (String, String, String, String, Option<String>) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(
        got,
        (
            "10".to_owned(),
            "5".to_owned(),
            "3".to_owned(),
            "20000".to_owned(),
            Some("127.0.0.1/32".to_owned())
        )
    );
    g.release().await?;
    Ok(())
}
