//! Nesting through the guard: reentrancy, the order check, upgrades, and what a nested guard
//! releases.

mod common;

use common::*;
use lockorder_postgres::{Error, Mode};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_acquires_skip_held_locks_and_release_only_their_own() -> Result {
    let ns = namespace("nested-own");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let mut outer = m.acquire(["a"]).owner("outer").await?;
    let pid = outer.backend_pid().unwrap();
    {
        let inner = outer.acquire(["a", "c"]).await?;
        assert_eq!(inner.backend_pid(), Some(pid), "same session");
        assert_eq!(inner.owner(), "outer", "inherits the label");
        assert!(inner.holds("a") && inner.holds("c"));
        assert_eq!(advisory(&c, ns).await, [(10, true, pid), (30, true, pid)]);
        inner.release().await?;
    }
    assert_eq!(advisory(&c, ns).await, [(10, true, pid)], "a stays, once");
    assert!(outer.holds("a") && !outer.holds("c"));
    {
        let inner = outer.acquire(["d"]).owner("inner").await?;
        assert_eq!(inner.owner(), "inner");
        drop(inner); // queues the unlock of d only
    }
    // The next statement on the session runs after the queued unlock.
    let mut probe = outer.acquire(["b"]).await?;
    let deeper = probe.acquire(["c"]).await?;
    assert_eq!(
        advisory(&c, ns).await,
        [(10, true, pid), (20, true, pid), (30, true, pid)]
    );
    drop(deeper);
    drop(probe);
    outer.release().await?;
    assert_eq!(advisory(&c, ns).await, []);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_request_below_a_held_lock_is_an_order_violation() -> Result {
    let ns = namespace("nested-order");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let mut g = m.acquire(["b", "c"]).await?;
    for request in [vec!["a"], vec!["a", "d"], vec!["b", "a"]] {
        match g.acquire(request.clone()).await {
            Err(Error::Lock(lockorder::Error::OrderViolation { requested, held })) => {
                assert_eq!((requested.name(), held.name()), ("a", "c"), "{request:?}");
            }
            other => panic!("{request:?}: {other:?}"),
        }
    }
    // Refused before any statement: nothing more is held, the guard is intact.
    assert_eq!(advisory(&c, ns).await.len(), 2);
    assert!(!g.is_lost());
    g.check().await?;
    // Through a nested guard, the check covers the ancestors' locks.
    let mut inner = g.acquire(["d"]).await?;
    match inner.try_acquire(["c", "b"]).await {
        Ok(deeper) => assert_eq!(deeper.locks().count(), 3, "held: covered"),
        Err(e) => panic!("{e}"),
    }
    match inner.acquire(["c", "a"]).await {
        Err(Error::Lock(lockorder::Error::OrderViolation { requested, held })) => {
            assert_eq!((requested.name(), held.name()), ("a", "d"));
        }
        other => panic!("{other:?}"),
    }
    inner.release().await?;
    g.release().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_a_shared_lock_is_refused_and_shared_requests_are_covered() -> Result {
    let ns = namespace("nested-upgrade");
    let m = manager_in(ns, ABCD).await;
    let mut g = m.acquire(["a"]).shared(["b"]).await?;
    match g.acquire(["b"]).await {
        Err(Error::Lock(lockorder::Error::UpgradeRefused { lock })) => assert_eq!(lock, "b"),
        other => panic!("{other:?}"),
    }
    let e = g.acquire(["b", "d"]).await.unwrap_err();
    assert!(e.to_string().contains("upgrade refused"), "{e}");
    // Shared requests for held locks, in either mode, are covered; new ones are shared.
    let inner = g.acquire_shared(["a", "b", "c"]).await?;
    assert_eq!(inner.mode("a"), Some(Mode::Exclusive));
    assert_eq!(inner.mode("b"), Some(Mode::Shared));
    assert_eq!(inner.mode("c"), Some(Mode::Shared));
    // Another session can share c but not take a.
    let reader = m.try_acquire(Vec::<&str>::new()).shared(["c"]).await?;
    assert!(m.try_acquire(["a"]).await.is_err());
    reader.release().await?;
    inner.release().await?;
    g.release().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_try_acquire_is_all_or_nothing_and_keeps_the_parent() -> Result {
    let ns = namespace("nested-try");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let other = m.acquire(["d"]).await?;
    let mut g = m.acquire(["a"]).await?;
    let pid = g.backend_pid().unwrap();
    match g.try_acquire(["b", "c", "d"]).await {
        Err(Error::Lock(lockorder::Error::WouldBlock { lock })) => assert_eq!(lock, "d"),
        other => panic!("{other:?}"),
    }
    let held: Vec<_> = advisory(&c, ns)
        .await
        .into_iter()
        .filter(|&(_, _, p)| p == pid)
        .collect();
    assert_eq!(held, [(10, true, pid)], "b and c were released again");
    // A bounded nested wait, too, keeps the parent whole.
    let e = g
        .acquire(["c", "d"])
        .timeout(std::time::Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(e.is_timeout());
    g.check().await?;
    other.release().await?;
    let inner = g.acquire(["c", "d"]).await?;
    inner.release().await?;
    g.release().await?;
    Ok(())
}
