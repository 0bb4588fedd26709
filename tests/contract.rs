//! The API contract of the design, compiled and run as written (with a virtual clock as the
//! user's timer).

use core::time::Duration;

use futures_lite::future::block_on;
use lockorder::{
    Builder, Error, Guard, Key, LockId, LockInfo, LockManager, ManualTimer, NoTimer, Timer,
};

#[test]
fn the_contract_compiles_and_behaves() -> Result<(), Error> {
    // --- registration ---
    let mut b: Builder<NoTimer> = LockManager::builder();
    b.register("db", 10)?;
    b.register_with("cache", 20, "read-through cache")?;
    let m: LockManager<NoTimer> = b.build();
    assert!(matches!(
        LockManager::builder().register("x", 1)?.register("x", 2),
        Err(Error::DuplicateName { .. })
    ));
    assert!(matches!(
        LockManager::builder().register("x", 1)?.register("y", 1),
        Err(Error::DuplicateOrder { .. })
    ));

    let timer = ManualTimer::new();
    let mut tb: Builder<ManualTimer> = LockManager::builder()
        .timer(timer.clone())
        .default_timeout(Duration::from_secs(10));
    tb.register("db", 10)?;
    let tm = tb.build();

    // --- lookup ---
    let id: LockId = m.id("db")?;
    let info: &LockInfo = m.info(id).unwrap();
    assert_eq!(
        (info.name(), info.order(), info.description()),
        ("db", 10, "")
    );
    assert!(tm.info(id).is_none());
    assert!(matches!(m.id("nope"), Err(Error::UnknownLock { .. })));
    assert_eq!(m.locks().map(|l| l.order()).collect::<Vec<_>>(), [10, 20]);

    block_on(async {
        // --- acquiring ---
        let g: Guard<'_, _> = m.acquire(["cache", "db"]).await?;
        drop(g);
        let g = m.acquire([id]).await?;
        drop(g);
        let g = tm
            .acquire(["db"])
            .timeout(Duration::from_millis(50))
            .await?;
        drop(g);
        let g = tm.acquire(["db"]).no_timeout().await?;
        drop(g);
        let g = m.acquire(["db"]).owner("worker-3").await?;
        drop(g);
        let g = m.acquire(["db"]).owner("worker-3").try_now()?;
        drop(g);
        let g = m.try_acquire(["db", "cache"])?;
        assert!(matches!(
            m.try_acquire(["db"]),
            Err(Error::WouldBlock { .. })
        ));
        drop(g);
        let g = m.acquire(Vec::<&str>::new()).await?;
        drop(g);

        // --- nesting ---
        let mut outer = m.acquire(["db"]).await?;
        let inner = outer.acquire(["db", "cache"]).await?;
        assert!(inner.holds("db") && inner.holds("cache"));
        assert_eq!(inner.locks().count(), 2);
        drop(inner);
        assert!(outer.holds("db") && !outer.holds("cache"));
        let mut big = m.acquire(["cache"]).await?;
        match big.acquire(["db"]).await {
            Err(Error::OrderViolation { requested, held }) => {
                assert_eq!((requested.name(), held.name()), ("db", "cache"));
            }
            other => panic!("{other:?}"),
        }
        Ok::<(), Error>(())
    })?;

    // --- status ---
    let g = tm.acquire(["db"]).owner("w").try_now()?;
    timer.advance(Duration::from_secs(31));
    for s in tm.status() {
        let _ = (
            s.name,
            s.order,
            s.description,
            s.owner,
            s.acquired_at,
            s.is_locked,
        );
    }
    let warnings = tm.long_held(Duration::from_secs(30));
    assert_eq!(warnings.len(), 1);
    drop(g);

    // --- the process-wide manager and a global with a timer ---
    #[allow(clippy::redundant_closure)] // as the design writes it
    let pm = lockorder::global::get_or_try_init(|b| lockorder::presets::foundation(b))?;
    assert_eq!(pm.len(), 8);
    static LOCKS: lockorder::global::Global<ManualTimer> = lockorder::global::Global::new();
    let gm = LOCKS.get_or_try_init(|| {
        let mut b = LockManager::builder().timer(ManualTimer::new());
        b.register("db", 10)?;
        Ok(b.build())
    })?;
    assert_eq!(gm.len(), 1);
    Ok(())
}

// Keys: str, String, LockId and references to them.
#[allow(dead_code)]
fn keys_are_implemented() {
    fn key<K: Key + ?Sized>() {}
    key::<str>();
    key::<String>();
    key::<LockId>();
    key::<&str>();
    key::<&String>();
    key::<&LockId>();
}

// The Timer trait's shape, implemented by a user.
#[allow(dead_code)]
struct MyTimer;

impl Timer for MyTimer {
    type Sleep = core::future::Ready<()>;

    fn now(&self) -> Duration {
        Duration::ZERO
    }

    fn sleep(&self, _duration: Duration) -> Self::Sleep {
        core::future::ready(())
    }
}
