//! `hierarchy!`: a lock manager declared as a `static`, with `const` ids.
#![cfg(not(loom))]

use futures_lite::future::block_on;
use lockorder::{hierarchy, Error, LockManager, Mode, NoTimer};

hierarchy! {
    /// Three locks, declared.
    static LOCKS: LockManager<NoTimer> = NoTimer;
    /// The first.
    const CONFIG = ("config", 10, "configuration");
    const DB = ("db", 20);
    pub(crate) const CACHE = ("cache", 30, "read-through cache");
}

hierarchy! {
    static OTHER: LockManager<NoTimer> = NoTimer;
    const OTHER_CONFIG = ("config", 10, "configuration");
}

#[test]
fn declared_locks_are_in_order_with_their_texts() {
    let locks: Vec<_> = LOCKS
        .locks()
        .map(|l| (l.name(), l.order(), l.description()))
        .collect();
    assert_eq!(
        locks,
        [
            ("config", 10, "configuration"),
            ("db", 20, ""),
            ("cache", 30, "read-through cache")
        ]
    );
    assert_eq!(LOCKS.id("db").unwrap(), DB);
    assert_eq!(LOCKS.info(CACHE).unwrap().name(), "cache");
    assert!(matches!(LOCKS.id("nope"), Err(Error::UnknownLock { name }) if name == "nope"));
}

#[test]
fn ids_and_names_acquire_the_same_locks() {
    block_on(async {
        let mut g = LOCKS.acquire([CACHE, CONFIG]).await.unwrap();
        assert!(g.holds("config") && g.holds("cache") && !g.holds("db"));
        assert!(LOCKS.is_locked(CONFIG).unwrap());
        // Nesting is checked as for a built manager.
        match g.acquire([DB]).await {
            Err(Error::OrderViolation { requested, held }) => {
                assert_eq!((requested.name(), held.name()), ("db", "cache"));
            }
            other => panic!("{other:?}"),
        }
        match LOCKS.try_acquire(["db", "cache"]) {
            Err(Error::WouldBlock { lock }) => assert_eq!(lock, "cache"),
            other => panic!("{other:?}"),
        }
        assert!(!LOCKS.is_locked(DB).unwrap(), "a refused try keeps nothing");
        drop(g);
        let r = LOCKS.acquire_shared([DB]).await.unwrap();
        assert_eq!(r.mode("db"), Some(Mode::Shared));
    });
    assert!(LOCKS.status().iter().all(|s| !s.is_locked));
}

#[test]
fn ids_of_another_manager_are_unknown() {
    assert_ne!(OTHER_CONFIG, CONFIG);
    assert!(matches!(
        LOCKS.try_acquire([OTHER_CONFIG]),
        Err(Error::UnknownLock { .. })
    ));
    assert!(OTHER.info(CONFIG).is_none());
    let mut b = LockManager::builder();
    b.register("config", 10).unwrap();
    let built = b.build();
    assert!(built.info(CONFIG).is_none());
    assert!(LOCKS.info(built.id("config").unwrap()).is_none());
    // The same name in each resolves in each.
    assert_eq!(OTHER.id("config").unwrap(), OTHER_CONFIG);
}

#[test]
fn status_and_errors_name_declared_locks() {
    let g = LOCKS.acquire([DB]).owner("worker").try_now().unwrap();
    let status = LOCKS.status();
    let db = status.iter().find(|s| s.name == "db").unwrap();
    assert!(db.is_locked);
    assert_eq!(
        db.owner.as_ref().map(|o| o.to_string()).as_deref(),
        Some("worker")
    );
    let err = LOCKS.try_acquire([DB]).unwrap_err();
    assert!(err.to_string().contains("`db`"), "{err}");
    drop(g);
}

/// Two hierarchies declared by one macro call site (the same file, line and column) still have
/// ids of their own.
macro_rules! two_hierarchies {
    () => {
        hierarchy! {
            static FIRST: LockManager<NoTimer> = NoTimer;
            const FIRST_X = ("x", 1);
        }
        hierarchy! {
            static SECOND: LockManager<NoTimer> = NoTimer;
            const SECOND_X = ("x", 1);
        }
    };
}

two_hierarchies!();

#[test]
fn hierarchies_from_one_call_site_are_distinct() {
    assert_ne!(FIRST_X, SECOND_X);
    assert!(FIRST.info(SECOND_X).is_none());
    assert!(SECOND.try_acquire([FIRST_X]).is_err());
    assert!(SECOND.try_acquire([SECOND_X]).is_ok());
}

#[test]
fn data_of_a_declared_manager_opens_only_with_its_own_guards() {
    let config = LOCKS.protect(CONFIG, 7u32).unwrap();
    let own = LOCKS.try_acquire([CONFIG]).unwrap();
    assert_eq!(*own.get(&config).unwrap(), 7);
    // The other declared manager has a lock of the same name at the same position.
    let other = OTHER.try_acquire([OTHER_CONFIG]).unwrap();
    assert!(matches!(other.get(&config), Err(Error::NotHeld { lock }) if lock == "config"));
    // Nor does a built manager of the same shape open it.
    let built = LockManager::builder()
        .with_lock("config", 10)
        .unwrap()
        .build();
    let g = built.try_acquire(["config"]).unwrap();
    assert!(matches!(g.get(&config), Err(Error::NotHeld { .. })));
    let theirs = built.protect("config", 1u32).unwrap();
    assert!(matches!(own.get(&theirs), Err(Error::NotHeld { .. })));
}
