//! Lock families: per-entity locks registered as consecutive members, found by id at run time.

mod common;

use common::Task;
use lockorder::{Error, LockManager};

fn bank() -> LockManager {
    LockManager::builder()
        .with_lock("ledger", 10)
        .unwrap()
        .with_family("account", 100, 64)
        .unwrap()
        .with_lock("audit", 500)
        .unwrap()
        .build()
}

#[test]
fn members_are_named_ordered_and_fold_by_stripe() {
    let m = bank();
    assert_eq!(m.len(), 66);
    let a = m.member("account", 17).unwrap();
    let info = m.info(a).unwrap();
    assert_eq!((info.name(), info.order()), ("account#17", 117));
    assert_eq!(m.id("account#17").unwrap(), a);
    // Sequential ids spread over every stripe; ids a whole turn apart share one lock.
    let members: std::collections::HashSet<_> =
        (0..64).map(|id| m.member("account", id).unwrap()).collect();
    assert_eq!(members.len(), 64);
    assert_eq!(m.member("account", 17 + 64 * 1000).unwrap(), a);
    let last = m.member("account", u64::MAX).unwrap();
    assert_eq!(
        m.info(last).unwrap().name(),
        format!("account#{}", u64::MAX % 64)
    );
}

#[test]
fn members_mix_with_names_and_ids_in_one_request() {
    let m = bank();
    let ids = [
        m.member("account", 42).unwrap(),
        m.member("account", 3).unwrap(),
        m.id("ledger").unwrap(),
    ];
    let g = m.try_acquire(ids).unwrap();
    assert_eq!(
        g.locks().map(|l| l.name()).collect::<Vec<_>>(),
        ["ledger", "account#3", "account#42"]
    );
    // Another transfer on one of the same accounts, by name this time, waits.
    assert!(matches!(
        m.try_acquire(["account#3"]),
        Err(Error::WouldBlock { lock }) if lock == "account#3"
    ));
    // Status names the member locks.
    let status = m.status();
    let held: Vec<_> = status
        .iter()
        .filter(|s| s.is_locked)
        .map(|s| s.name)
        .collect();
    assert_eq!(held, ["ledger", "account#3", "account#42"]);
    assert!(status.to_string().contains("account#42"));
    drop(g);
    assert!(!m.is_locked(m.member("account", 42).unwrap()).unwrap());
}

#[test]
fn transfers_in_both_directions_take_the_same_order() {
    let m = bank();
    let (a, b) = (
        m.member("account", 5).unwrap(),
        m.member("account", 9).unwrap(),
    );
    // A→B and B→A ask in opposite orders and are taken in one: the second waits, never
    // holding one account while waiting for the other.
    let mut ab = Task::new(m.acquire([a, b]));
    let ab = ab.ready().unwrap();
    let mut ba = Task::new(m.acquire([b, a]));
    ba.pending();
    drop(ab);
    assert!(ba.woken());
    let ba = ba.ready().unwrap();
    assert!(ba.holds(a) && ba.holds(b));
}

#[test]
fn nested_members_follow_the_order_rule() {
    let m = bank();
    let mut g = m.try_acquire([m.member("account", 9).unwrap()]).unwrap();
    let low = m.member("account", 2).unwrap();
    match g.try_acquire([low]) {
        Err(Error::OrderViolation { requested, held }) => {
            assert_eq!((requested.name(), held.name()), ("account#2", "account#9"));
        }
        other => panic!("{other:?}"),
    }
    let inner = g.try_acquire(["audit"]).unwrap();
    assert!(inner.holds("account#9"));
}

#[test]
fn unknown_families_and_foreign_members_are_refused() {
    let m = bank();
    let other = bank();
    for name in ["ledger", "account#3", "nope", ""] {
        assert!(
            matches!(m.member(name, 1), Err(Error::UnknownLock { .. })),
            "{name}"
        );
    }
    // A member of another manager is an id of another manager.
    let foreign = other.member("account", 1).unwrap();
    assert!(matches!(
        m.try_acquire([foreign]),
        Err(Error::UnknownLock { .. })
    ));
    assert!(m.info(foreign).is_none());
}

#[test]
fn registration_errors_are_precise_and_never_panic() {
    let e = LockManager::builder()
        .with_lock("audit", 130)
        .unwrap()
        .with_family("account", 100, 64)
        .unwrap_err();
    assert!(matches!(e, Error::DuplicateOrder { order: 130, .. }), "{e}");
    assert!(e.to_string().contains("130") && e.to_string().contains("`audit`"));

    let e = LockManager::builder()
        .with_family("account", u32::MAX - 10, 64)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidFamily { .. }), "{e}");
    assert!(e.to_string().contains("account"), "{e}");

    let e = LockManager::builder()
        .with_family("account", 0, 0)
        .unwrap_err();
    assert!(e.to_string().contains("no stripes"), "{e}");

    let e = LockManager::builder()
        .with_family("account", 0, u32::MAX)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidFamily { .. }), "{e}");

    // The last order is usable.
    let m = LockManager::builder()
        .with_family("top", u32::MAX - 1, 2)
        .unwrap()
        .build();
    let top = m.member("top", u64::MAX).unwrap();
    assert_eq!(m.info(top).unwrap().order(), u32::MAX);
}

#[test]
fn the_mapping_is_the_same_in_every_manager() {
    // Built twice (as two processes would), with other locks around: the same id, the same
    // member name and order.
    let one = bank();
    let two = LockManager::builder()
        .with_lock("first", 1)
        .unwrap()
        .with_family("account", 100, 64)
        .unwrap()
        .build();
    for id in [0, 1, 63, 64, 1 << 40, u64::MAX] {
        let (a, b) = (
            one.info(one.member("account", id).unwrap()).unwrap(),
            two.info(two.member("account", id).unwrap()).unwrap(),
        );
        assert_eq!((a.name(), a.order()), (b.name(), b.order()));
        assert_eq!(u64::from(a.order() - 100), id % 64);
    }
}
