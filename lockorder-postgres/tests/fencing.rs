//! Fencing tokens: drawn when the locks are granted, strictly increasing over every grant across
//! managers, larger in a nested guard than in its parent, fixed for a guard's life.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_increase_over_every_grant_across_managers() -> Result {
    let ns = namespace("fencing-order");
    let m1 = manager_in(ns, ABCD).await;
    let m2 = manager_in(ns, ABCD).await;
    let mut last = 0u64;
    for i in 0..20 {
        let m = if i % 2 == 0 { &m1 } else { &m2 };
        let g = m.acquire(["a", "c"]).await?;
        let t = g.fencing_token();
        assert!(t > last, "grant {i}: token {t} after {last}");
        assert_eq!(g.fencing_token(), t, "a guard's token never changes");
        last = t;
        if i % 3 == 0 {
            g.release().await?;
        } else {
            drop(g);
        }
    }
    // A failed try draws nothing that a later grant could undercut, and a refused one has no
    // guard: the next grant is still above every earlier one.
    let held = m1.acquire(["b"]).await?;
    assert!(held.fencing_token() > last);
    last = held.fencing_token();
    assert!(m2.try_acquire(["b"]).await.is_err());
    let other = m2.acquire(["d"]).await?;
    assert!(other.fencing_token() > last);
    other.release().await?;
    held.release().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_guard_has_a_larger_token_than_its_parent() -> Result {
    let ns = namespace("fencing-nested");
    let m = manager_in(ns, ABCD).await;
    let mut g = m.acquire(["a"]).await?;
    let parent = g.fencing_token();
    {
        let mut inner = g.acquire(["c"]).await?;
        let child = inner.fencing_token();
        assert!(child > parent);
        // Nothing new to take: still a token of its own, above its parent's.
        let covered = inner.acquire(["a", "c"]).await?;
        assert!(covered.fencing_token() > child);
        drop(covered);
        assert_eq!(inner.fencing_token(), child);
    }
    assert_eq!(g.fencing_token(), parent);
    g.release().await?;
    Ok(())
}

/// Tasks of two managers contend for one lock; each holder writes its token to a row that
/// refuses a token lower than the last it saw. No write is ever refused: the grant order and the
/// token order agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contending_holders_never_see_a_token_go_backwards() -> Result {
    let ns = namespace("fencing-contended");
    let m1 = manager_in(ns, ABCD).await;
    let m2 = manager_in(ns, ABCD).await;
    let c = Arc::new(client().await);
    let table = format!("lockorder_test_fence_{}", ns.unsigned_abs());
    c.batch_execute(&format!(
        "CREATE TABLE {table} (id int4 PRIMARY KEY, token int8 NOT NULL, writes int8 NOT NULL);
         INSERT INTO {table} VALUES (1, 0, 0)"
    ))
    .await?;
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let m = if i % 2 == 0 { m1.clone() } else { m2.clone() };
            let c = c.clone();
            let table = table.clone();
            tokio::spawn(async move {
                for _ in 0..15 {
                    let g = m
                        .acquire(["b"])
                        .timeout(Duration::from_secs(20))
                        .await
                        .unwrap();
                    let t = g.fencing_token() as i64;
                    let n = c
                        .execute(
                            &format!(
                                "UPDATE {table} SET token = $1, writes = writes + 1
                                 WHERE id = 1 AND token < $1"
                            ),
                            &[&t],
                        )
                        .await
                        .unwrap();
                    assert_eq!(n, 1, "token {t} refused: a token went backwards");
                    g.release().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let writes: i64 = c
        .query_one(&format!("SELECT writes FROM {table}"), &[])
        .await?
        .get(0);
    assert_eq!(writes, 90);
    c.batch_execute(&format!("DROP TABLE {table}")).await?;
    Ok(())
}
