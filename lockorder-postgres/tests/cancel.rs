//! Cancellation at every await point of an acquire: dropped after any number of polls, the
//! future leaves no lock held and no session waiting, and the locks can be taken again.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use common::*;
use lockorder_postgres::{Error, PgGuard, PgLockManager};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

type AcquireFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<PgGuard<'a>, Error>> + Send + 'a>>;

/// Polls `fut` once; then lets the runtime drive the connection for a moment.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> bool {
    let ready =
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx).is_ready())).await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    ready
}

/// Drops an acquire of a,b,c,d after 0, 1, 2, ... polls, until it has been seen waiting on the
/// server (c is held by `holder_pid`) a few times; after each drop, only the holder's lock may
/// remain. With `warm`, a session is put in the pool before each try, so the acquire reuses it.
async fn sweep(m: &PgLockManager, ns: i32, holder_pid: Option<i32>, warm: bool) {
    let c = client().await;
    let expected: Vec<(u32, bool, i32)> = holder_pid.map(|p| (30, true, p)).into_iter().collect();
    let mut seen_waiting = 0;
    let mut polls = 0;
    while seen_waiting < 3 {
        assert!(polls < 400, "never reached the server-side wait");
        if warm {
            m.acquire(Vec::<&str>::new())
                .await
                .unwrap()
                .release()
                .await
                .unwrap();
        }
        let mut fut = Box::pin(m.acquire(["d", "c", "b", "a"]));
        let mut ready = false;
        for _ in 0..polls {
            if poll_once(&mut fut).await {
                ready = true;
                break;
            }
        }
        if holder_pid.is_some() {
            assert!(!ready, "c is held: the acquire cannot finish");
            if advisory(&c, ns)
                .await
                .iter()
                .any(|&(o, granted, _)| o == 30 && !granted)
            {
                seen_waiting += 1;
            }
        } else if ready {
            seen_waiting += 1; // uncontended: finished; later counts drop a ready future
        }
        drop(fut);
        eventually(
            Duration::from_secs(5),
            &format!("after a drop at poll {polls}, only the holder's lock remains"),
            || async { advisory(&c, ns).await == expected },
        )
        .await;
        polls += 1;
    }
    eprintln!(
        "swept drops after 0..{polls} polls (warm: {warm}, contended: {})",
        holder_pid.is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_acquire_never_leaves_a_lock_or_a_waiter() -> Result {
    let ns = namespace("cancel-sweep");
    // max_idle(0): every acquire connects, so the drops also hit the connection's await points.
    let cold = lockorder_postgres::PgLockManager::builder(builder(ABCD))
        .namespace(ns)
        .max_idle(0)
        .connect(database().parse()?)
        .await?;
    let warm = manager_in(ns, ABCD).await;
    let holder = warm.acquire(["c"]).await?;
    let pid = holder.backend_pid();
    sweep(&cold, ns, pid, false).await;
    sweep(&warm, ns, pid, true).await;
    holder.release().await?;
    // Uncontended: a drop after the statement went out closes the session, which frees what it
    // took.
    sweep(&cold, ns, None, false).await;
    sweep(&warm, ns, None, true).await;
    // Everything is free and the pool works.
    let g = warm.try_acquire(["a", "b", "c", "d"]).await?;
    g.release().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_server_side_wait_stops_at_once() -> Result {
    let ns = namespace("cancel-wait");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let holder = m.acquire(["b"]).await?;
    let waiting = tokio::spawn({
        let m = m.clone();
        async move { m.acquire(["a", "b"]).await.map(drop) }
    });
    eventually(Duration::from_secs(5), "the waiter waits", || async {
        advisory(&c, ns)
            .await
            .iter()
            .any(|&(o, g, _)| o == 20 && !g)
    })
    .await;
    waiting.abort();
    // The cancel request ends the wait and the closed session frees a: well before the 250 ms
    // connection check would.
    eventually(
        Duration::from_millis(200),
        "waiter gone, a free",
        || async { advisory(&c, ns).await == [(20, true, holder.backend_pid().unwrap())] },
    )
    .await;
    holder.release().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_acquire_dropped_mid_wait_closes_the_parents_session() -> Result {
    let ns = namespace("cancel-nested");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let other = m.acquire(["c"]).await?;
    let other_pid = other.backend_pid().unwrap();
    let mut g = m.acquire(["a"]).await?;
    {
        let mut fut: AcquireFuture<'_> = Box::pin(g.acquire(["b", "c"]));
        for _ in 0..50 {
            assert!(!poll_once(&mut fut).await);
            if advisory(&c, ns)
                .await
                .iter()
                .any(|&(o, granted, _)| o == 30 && !granted)
            {
                break;
            }
        }
    } // dropped while waiting for c
    assert!(g.is_lost(), "the parent knows at once");
    match g.check().await {
        Err(Error::Lost { locks, reason }) => {
            // What the guard knew it held; b, taken by the cancelled statement, went too.
            assert_eq!(locks.iter().map(|l| l.name()).collect::<Vec<_>>(), ["a"]);
            assert!(reason.contains("cancelled"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    eventually(
        Duration::from_secs(5),
        "only the other holder remains",
        || async { advisory(&c, ns).await == [(30, true, other_pid)] },
    )
    .await;
    assert!(matches!(g.acquire(["d"]).await, Err(Error::Lost { .. })));
    assert!(matches!(g.release().await, Err(Error::Lost { .. })));
    other.release().await?;
    m.try_acquire(["a", "b", "c"]).await?.release().await?;
    Ok(())
}
