//! Acquiring sets against a real server: order, exclusion, try, timeouts, shared mode, labels,
//! release and drop.

mod common;

use std::time::{Duration, Instant};

use common::*;
use lockorder_postgres::{Error, Mode, PgLockManager};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn busy_lock(e: &Error) -> Option<(&'static str, String)> {
    match e {
        Error::Lock(lockorder::Error::Timeout { lock }) => Some(("timeout", lock.name().into())),
        Error::Lock(lockorder::Error::WouldBlock { lock }) => {
            Some(("would block", lock.name().into()))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_is_taken_in_ascending_order_on_one_session_and_released() -> Result {
    let ns = namespace("ascending");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let g = m.acquire(["d", "b", "a", "b"]).owner("set").await?;
    let pid = g.backend_pid().unwrap();
    assert_eq!(
        g.locks().map(|l| l.name()).collect::<Vec<_>>(),
        ["a", "b", "d"]
    );
    assert!(g.holds("a") && g.holds("d") && !g.holds("c"));
    assert_eq!(g.mode("b"), Some(Mode::Exclusive));
    assert_eq!(
        advisory(&c, ns).await,
        [(10, true, pid), (20, true, pid), (40, true, pid)],
        "the three locks, exclusive, on the guard's session, keyed (namespace, order)"
    );
    g.release().await?;
    assert_eq!(advisory(&c, ns).await, []);
    // The key mapping is the documented one.
    assert_eq!(m.advisory_key("c")?, (ns, 30));
    assert_eq!(m.namespace(), ns);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_locks_exclude_other_sessions_and_try_acquire_is_all_or_nothing() -> Result {
    let ns = namespace("exclusion");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let g = m.acquire(["c"]).await?;
    let e = m.try_acquire(["a", "b", "c", "d"]).await.unwrap_err();
    assert_eq!(busy_lock(&e), Some(("would block", "c".into())), "{e}");
    // Nothing of the failed try is kept: only the holder's lock is in pg_locks.
    assert_eq!(
        advisory(&c, ns).await,
        [(30, true, g.backend_pid().unwrap())]
    );
    // A free set is taken at once.
    let other = m.try_acquire(["a", "b"]).await?;
    other.release().await?;
    g.release().await?;
    m.try_acquire(["c"]).await?.release().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_names_the_busy_lock_and_keeps_nothing() -> Result {
    let ns = namespace("timeout");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let g = m.acquire(["c"]).await?;
    let start = Instant::now();
    let e = m
        .acquire(["a", "c", "d"])
        .timeout(Duration::from_millis(300))
        .await
        .unwrap_err();
    let waited = start.elapsed();
    assert_eq!(busy_lock(&e), Some(("timeout", "c".into())), "{e}");
    assert!(e.is_timeout());
    assert!(e.to_string().contains("`c` (order 30)"), "{e}");
    assert!(
        waited >= Duration::from_millis(290),
        "gave up early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "gave up late: {waited:?}");
    assert_eq!(
        advisory(&c, ns).await,
        [(30, true, g.backend_pid().unwrap())]
    );

    // A zero timeout tries once: busy is a timeout, free is taken.
    let e = m.acquire(["c"]).timeout(Duration::ZERO).await.unwrap_err();
    assert_eq!(busy_lock(&e), Some(("timeout", "c".into())));
    m.acquire(["d"])
        .timeout(Duration::ZERO)
        .await?
        .release()
        .await?;

    // A waiter gets the lock once it is released. Its timeout is beyond what the server can
    // count (lock_timeout is at most i32::MAX ms): that is no timeout, not an error.
    let m2 = m.clone();
    let waiter = tokio::spawn(async move {
        m2.acquire(["b", "c"])
            .timeout(Duration::MAX)
            .await
            .map(|g| g.locks().count())
    });
    eventually(Duration::from_secs(5), "the waiter waits on c", || async {
        advisory(&c, ns)
            .await
            .iter()
            .any(|&(o, granted, _)| o == 30 && !granted)
    })
    .await;
    g.release().await?;
    assert_eq!(waiter.await??, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_counts_from_the_first_busy_lock_of_a_walk() -> Result {
    // The builder's default timeout applies when the acquire sets none.
    let ns = namespace("default-timeout");
    let b = builder(ABCD);
    let m = PgLockManager::builder(b)
        .namespace(ns)
        .default_timeout(Duration::from_millis(200))
        .connect(database().parse()?)
        .await?;
    assert_eq!(m.default_timeout(), Some(Duration::from_millis(200)));
    let g = m.acquire(["b"]).await?;
    let start = Instant::now();
    let e = m.acquire(["a", "b"]).await.unwrap_err();
    assert_eq!(busy_lock(&e), Some(("timeout", "b".into())));
    assert!(start.elapsed() >= Duration::from_millis(190));
    // no_timeout overrides the default: the waiter is still waiting after the default passed.
    let m2 = m.clone();
    let waiter = tokio::spawn(async move { m2.acquire(["b"]).no_timeout().await.map(drop) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiter.is_finished());
    g.release().await?;
    waiter.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_holders_coexist_and_exclude_writers() -> Result {
    let ns = namespace("shared");
    let m = manager_in(ns, ABCD).await;
    let r1 = m.acquire_shared(["b"]).owner("reader-1").await?;
    let r2 = m.acquire(["a"]).shared(["b"]).owner("reader-2").await?;
    assert_eq!(r2.mode("a"), Some(Mode::Exclusive));
    assert_eq!(r2.mode("b"), Some(Mode::Shared));
    let e = m.try_acquire(["b"]).await.unwrap_err();
    assert_eq!(busy_lock(&e), Some(("would block", "b".into())));
    // A key in both lists is exclusive.
    let e = m.try_acquire(["c", "b"]).shared(["b"]).await.unwrap_err();
    assert_eq!(busy_lock(&e), Some(("would block", "b".into())));

    let status = m.status().await?;
    let b = &status[1];
    assert_eq!((b.name.as_str(), b.mode), ("b", Some(Mode::Shared)));
    let mut labels: Vec<_> = b.holders.iter().map(|h| h.label.as_str()).collect();
    labels.sort();
    assert_eq!(labels, ["reader-1", "reader-2"]);
    r1.release().await?;
    r2.release().await?;
    m.try_acquire(["b"]).await?.release().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_holders_labels_times_and_waiters_across_sessions() -> Result {
    let ns = namespace("status");
    let m = manager_in(ns, ABCD).await;
    let label = "job-42 \u{e9}t\u{e9}"; // non-ASCII: shown as ? in other processes
    let mut g = m.acquire(["a", "b"]).owner(label).await?;
    assert_eq!(g.owner(), label);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let inner = g.acquire(["d"]).await?;
    let m2 = m.clone();
    let waiter = tokio::spawn(async move {
        m2.acquire(["a"])
            .timeout(Duration::from_secs(20))
            .await
            .map(drop)
    });
    eventually(Duration::from_secs(5), "the waiter shows", || async {
        m.status().await.unwrap()[0].waiting == 1
    })
    .await;
    let s = m.status().await?;
    assert_eq!(s.len(), 4);
    let (a, c, d) = (&s[0], &s[2], &s[3]);
    assert_eq!(a.description, "the a lock");
    assert!(!c.is_locked() && c.mode.is_none() && c.waiting == 0);
    let ha = &a.holders[0];
    let hd = &d.holders[0];
    assert_eq!(
        ha.label, "job-42 ?t?",
        "non-ASCII characters are shown as ?"
    );
    assert_eq!(ha.backend_pid, inner.backend_pid().unwrap());
    assert_eq!(ha.client_addr, None, "unix socket");
    let (held_a, held_d) = (ha.held_for.unwrap(), hd.held_for.unwrap());
    assert!(held_a >= Duration::from_millis(300), "{held_a:?}");
    assert!(held_d < held_a, "the nested lock has its own, later time");
    assert!(hd.since.unwrap() > ha.since.unwrap());
    let table = s.to_string();
    assert!(
        table.contains("exclusive") && table.contains("job-42"),
        "{table}"
    );

    let long = m.long_held(Duration::from_millis(250)).await?;
    let names: Vec<_> = long.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names.len(), 2, "a and b, not the fresh d: {long:?}");
    assert!(names.contains(&"a") && names.contains(&"b"));
    assert!(long[0].to_string().contains("held for"));
    assert!(m.long_held(Duration::from_secs(3600)).await?.is_empty());

    drop(inner);
    g.release().await?;
    waiter.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_guard_frees_its_locks_and_its_session_is_reused_clean() -> Result {
    let ns = namespace("drop");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let g = m.acquire(["a", "c"]).await?;
    let pid = g.backend_pid().unwrap();
    drop(g);
    // The unlock was queued on the session before it went back to the pool: the next acquire
    // reuses that session and finds it clean.
    let g = m.acquire(["b"]).await?;
    assert_eq!(g.backend_pid(), Some(pid), "the pooled session is reused");
    assert_eq!(advisory(&c, ns).await, [(20, true, pid)]);
    g.release().await?;
    eventually(Duration::from_secs(5), "nothing held", || async {
        advisory(&c, ns).await.is_empty()
    })
    .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_and_empty_sets() -> Result {
    let ns = namespace("keys");
    let m = manager_in(ns, ABCD).await;
    match m.acquire(["a", "zz"]).await {
        Err(Error::Lock(lockorder::Error::UnknownLock { name })) => assert_eq!(name, "zz"),
        other => panic!("{other:?}"),
    }
    let id = m.id("c")?;
    let g = m.acquire([id]).await?;
    assert!(g.holds("c") && g.holds(id));
    g.release().await?;
    // The keys are the core's (`lockorder::Key`): the same values name locks in both crates.
    let names = [String::from("d"), String::from("a")];
    let core = builder(ABCD).build();
    let local = core.try_acquire(&names)?;
    let g = m.acquire(&names).await?;
    assert!(local.holds(&names[0]) && g.holds(&names[0]) && g.holds(&names[1]));
    // And the modes are the core's `lockorder::Mode`.
    assert_eq!(g.mode(&names[0]), local.mode(&names[0]));
    assert_eq!(g.mode("a"), Some(lockorder::Mode::Exclusive));
    assert_eq!(m.advisory_key(&names[1])?, (ns, 10));
    g.release().await?;
    drop(local);
    match m.acquire([core.id("a")?]).await {
        Err(Error::Lock(lockorder::Error::UnknownLock { .. })) => {}
        other => panic!("an id of another manager: {other:?}"),
    }
    let g = m.acquire(Vec::<&str>::new()).await?;
    assert_eq!(g.locks().count(), 0);
    g.release().await?;
    assert_eq!(
        m.locks().collect::<Vec<_>>(),
        [
            ("a", 10, "the a lock"),
            ("b", 20, "the b lock"),
            ("c", 30, "the c lock"),
            ("d", 40, "the d lock")
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_hierarchy_refuses_to_start_naming_both_sides() -> Result {
    let ns = namespace("conflict");
    let _first = manager_in(ns, &[("db", 10), ("cache", 20)]).await;
    // A compatible one (a subset plus a new lock) starts.
    let _second = manager_in(ns, &[("cache", 20), ("queue", 30)]).await;
    // Same order, another name.
    let e = PgLockManager::builder(builder(&[("database", 10)]))
        .namespace(ns)
        .connect(database().parse()?)
        .await
        .unwrap_err();
    match &e {
        Error::HierarchyConflict {
            namespace,
            local,
            recorded,
            ..
        } => {
            assert_eq!(*namespace, ns);
            assert_eq!(local, &("database".to_owned(), 10));
            assert_eq!(recorded, &("db".to_owned(), 10));
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("`database` at order 10") && text.contains("`db` at order 10"),
        "{text}"
    );
    // Same name, another order: "queue" was recorded at 30 by the second manager.
    let e = PgLockManager::builder(builder(&[("queue", 5)]))
        .namespace(ns)
        .connect(database().parse()?)
        .await
        .unwrap_err();
    match e {
        Error::HierarchyConflict {
            local, recorded, ..
        } => {
            assert_eq!(local, ("queue".to_owned(), 5));
            assert_eq!(recorded, ("queue".to_owned(), 30));
        }
        other => panic!("{other:?}"),
    }
    // Another namespace is another hierarchy.
    let _other = manager_in(namespace("conflict-other"), &[("database", 10)]).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_starting_at_once_agree() -> Result {
    let ns = namespace("concurrent-start");
    let starts: Vec<_> = (0..6)
        .map(|_| tokio::spawn(async move { manager_in(ns, ABCD).await }))
        .collect();
    for s in starts {
        s.await?;
    }
    let c = client().await;
    let rows: i64 = c
        .query_one(
            "SELECT count(*) FROM lockorder_hierarchy WHERE namespace = $1",
            &[&ns],
        )
        .await?
        .get(0);
    assert_eq!(rows, 4);
    Ok(())
}

async fn commits(c: &tokio_postgres::Client, db: &str) -> i64 {
    c.query_one(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
        &[&db],
    )
    .await
    .unwrap()
    .get(0)
}

/// Counts, through the server's statistics, the transactions (one per statement here) that N
/// acquire + release cycles of K locks cost, in a database of the test's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncontended_set_is_one_statement_whatever_its_size() -> Result {
    const N: i64 = 50;
    let ns = namespace("round-trips");
    let c = client().await;
    let db = format!("lockorder_rt_{}", ns.unsigned_abs());
    c.batch_execute(&format!("CREATE DATABASE {db}")).await?;
    let mut config: lockorder_postgres::Config = database().parse()?;
    config.dbname(&db);
    let mut cost = Vec::new();
    for set in [vec!["b"], vec!["d", "a", "c", "b"]] {
        let before = commits(&c, &db).await;
        {
            let m = PgLockManager::builder(builder(ABCD))
                .namespace(ns)
                .connect(config.clone())
                .await?;
            for _ in 0..N {
                m.acquire(&set).await?.release().await?;
            }
        } // the manager's sessions close; a backend flushes its statistics as it exits
        eventually(Duration::from_secs(10), "the sessions are gone", || async {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                    &[&db],
                )
                .await
                .unwrap()
                .get(0);
            n == 0
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        cost.push(commits(&c, &db).await - before);
    }
    c.batch_execute(&format!("DROP DATABASE {db}")).await?;
    let (one, four) = (cost[0], cost[1]);
    eprintln!("transactions for {N} cycles of K=1 and K=4: {cost:?}");
    assert!(one >= 2 * N, "statistics counted the statements: {cost:?}");
    // Per-lock statements would cost 3 N more for the set of 4; the slack is for start-up and
    // an autovacuum visit.
    assert!(
        (four - one).abs() < N / 2,
        "K=1 and K=4 cost alike: {cost:?}"
    );
    assert!(four < 2 * N + N / 2, "two statements per cycle: {cost:?}");
    Ok(())
}

/// Sets of 1 to 4 locks first try a plain-SQL fast path that takes them in order and, at a busy
/// lock, releases what it took (in each lock's own mode) and names it; the function then waits.
/// Every busy position, mixed modes, a nested request, and a set of 5 (the function alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_path_releases_what_it_took_wherever_the_busy_lock_is() -> Result {
    let ns = namespace("fast-path");
    let locks = [("a", 10), ("b", 20), ("c", 30), ("d", 40), ("e", 50)];
    let m = manager_in(ns, &locks).await;
    let other = manager_in(ns, &locks).await;
    let c = client().await;
    for busy in ["a", "b", "c", "d"] {
        let g = other.acquire([busy]).await?;
        let e = m
            .try_acquire(["a", "d"])
            .shared(["b", "c"])
            .await
            .unwrap_err();
        assert_eq!(busy_lock(&e), Some(("would block", busy.into())), "{e}");
        let order = locks.iter().find(|l| l.0 == busy).unwrap().1;
        assert_eq!(
            advisory(&c, ns).await,
            [(order, true, g.backend_pid().unwrap())],
            "busy {busy}"
        );
        // A zero timeout answers from the fast path too; a longer one waits in the function.
        let e = m
            .acquire(["a", "b", "c", "d"])
            .timeout(Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(busy_lock(&e), Some(("timeout", busy.into())), "{e}");
        let waiter = tokio::spawn({
            let m = m.clone();
            async move {
                let g = m
                    .acquire(["a", "d"])
                    .shared(["b", "c"])
                    .timeout(Duration::from_secs(10))
                    .await?;
                let token = g.fencing_token();
                g.release().await.map(|()| token)
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let token = g.fencing_token();
        g.release().await?;
        assert!(waiter.await?? > token);
        assert_eq!(advisory(&c, ns).await, []);
    }
    // Modes as asked: shared locks in ShareLock, the others exclusive.
    let g = m.acquire(["a", "d"]).shared(["b", "c"]).await?;
    let modes: Vec<(i64, String)> = c
        .query(
            "SELECT objid::int8, mode FROM pg_locks WHERE locktype = 'advisory'
               AND classid::int8 = $1 ORDER BY objid",
            &[&i64::from(ns as u32)],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        modes,
        [
            (10, "ExclusiveLock".to_owned()),
            (20, "ShareLock".into()),
            (30, "ShareLock".into()),
            (40, "ExclusiveLock".into())
        ]
    );
    g.release().await?;
    // Nested: a busy lock releases only what the nested request took.
    let mut parent = m.acquire(["a"]).await?;
    let blocker = other.acquire(["d"]).await?;
    let e = parent.try_acquire(["b", "c", "d"]).await.unwrap_err();
    assert_eq!(busy_lock(&e), Some(("would block", "d".into())), "{e}");
    let pid = parent.backend_pid().unwrap();
    assert_eq!(
        advisory(&c, ns).await,
        [(10, true, pid), (40, true, blocker.backend_pid().unwrap())]
    );
    parent.check().await?;
    blocker.release().await?;
    parent.release().await?;
    // Five locks: the function alone.
    let all = m.acquire(["a", "b", "c", "d", "e"]).await?;
    assert_eq!(advisory(&c, ns).await.len(), 5);
    all.release().await?;
    assert_eq!(advisory(&c, ns).await, []);
    Ok(())
}
