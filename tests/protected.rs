//! `Protected<T>`: data that only a guard holding its lock opens. Small enough for Miri
//! (`cargo +nightly miri test -p lockorder --test protected`).

mod common;

use std::sync::Arc;

use common::{manager, ABC};
use lockorder::{Error, LockManager, Protected};

#[track_caller]
fn not_held<G: std::fmt::Debug>(r: Result<G, Error>) -> String {
    match r {
        Err(Error::NotHeld { lock }) => lock.name().to_owned(),
        other => panic!("expected NotHeld, got {other:?}"),
    }
}

#[test]
fn a_guard_opens_the_data_of_the_locks_it_holds_only() {
    let m = manager(ABC);
    let a = m.protect("a", vec![1]).unwrap();
    let b = m.protect(m.id("b").unwrap(), 0_u64).unwrap();
    let mut g = m.try_acquire(["a"]).unwrap();
    g.get_mut(&a).unwrap().push(2);
    assert_eq!(g.get(&a).unwrap(), &[1, 2]);
    assert_eq!(not_held(g.get(&b)), "b");
    assert_eq!(not_held(g.get_mut(&b)), "b");
    let e = g.get(&b).unwrap_err();
    assert!(e.to_string().contains("`b`"), "{e}");
    assert!(matches!(
        m.protect("nope", 1),
        Err(Error::UnknownLock { .. })
    ));
}

#[test]
fn shared_holders_read_and_only_exclusive_ones_write() {
    let m = manager(ABC);
    let a = m.protect("a", 5).unwrap();
    let r1 = m.try_acquire_shared(["a"]).unwrap();
    let mut r2 = m.try_acquire_shared(["a"]).unwrap();
    assert_eq!((*r1.get(&a).unwrap(), *r2.get(&a).unwrap()), (5, 5));
    match r2.get_mut(&a) {
        Err(Error::UpgradeRefused { lock }) => assert_eq!(lock, "a"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        r2.get_disjoint_mut([&a]),
        Err(Error::UpgradeRefused { .. })
    ));
}

#[test]
fn children_reach_their_ancestors_data() {
    let m = manager(ABC);
    let (a, b, c) = (
        m.protect("a", 1).unwrap(),
        m.protect("b", 2).unwrap(),
        m.protect("c", 3).unwrap(),
    );
    let mut g = m.acquire(["a"]).shared(["b"]).try_now().unwrap();
    {
        let mut child = g.try_acquire(["c"]).unwrap();
        let [x, z] = child.get_disjoint_mut([&a, &c]).unwrap();
        std::mem::swap(x, z);
        assert_eq!(*child.get(&b).unwrap(), 2);
        assert!(matches!(
            child.get_mut(&b),
            Err(Error::UpgradeRefused { .. })
        ));
        let grandchild = child.try_acquire(Vec::<&str>::new()).unwrap();
        assert_eq!(*grandchild.get(&a).unwrap(), 3);
    }
    // The child is gone, and with it "c".
    assert_eq!(*g.get(&a).unwrap(), 3);
    assert_eq!(not_held(g.get(&c)), "c");
}

#[test]
fn get_disjoint_mut_refuses_duplicates_and_locks_not_held() {
    let m = LockManager::builder()
        .with_family("account", 0, 4)
        .unwrap()
        .build();
    let acct: Vec<Protected<i64>> = (0..4)
        .map(|id| m.protect(m.member("account", id).unwrap(), 10).unwrap())
        .collect();
    let mut g = m.try_acquire(["account#0", "account#1"]).unwrap();
    match g.get_disjoint_mut([&acct[0], &acct[1], &acct[0]]) {
        Err(Error::DuplicateAccess { lock }) => assert_eq!(lock, "account#0"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        not_held(g.get_disjoint_mut([&acct[0], &acct[2]])),
        "account#2"
    );
    // Two values under one lock are still two values.
    let extra = m.protect("account#1", 0).unwrap();
    let [x, y, z] = g.get_disjoint_mut([&acct[0], &acct[1], &extra]).unwrap();
    *x -= 5;
    *y += 3;
    *z += 2;
    let empty: [&Protected<i64>; 0] = [];
    assert!(g.get_disjoint_mut(empty).unwrap().is_empty());
    drop(g);
    let total: i64 = acct.into_iter().map(Protected::into_inner).sum::<i64>() + extra.into_inner();
    assert_eq!(total, 40);
}

#[test]
fn data_of_another_manager_is_never_opened() {
    // Two managers with the same names: a guard of one does not open the other's data.
    let one = manager(ABC);
    let two = manager(ABC);
    let p = one.protect("a", 1).unwrap();
    let g = two.try_acquire(["a"]).unwrap();
    assert_eq!(not_held(g.get(&p)), "a");
    drop(g);
    // Nor does a manager built after the data's own was dropped.
    drop(one);
    for _ in 0..if cfg!(miri) { 5 } else { 100 } {
        let fresh = manager(ABC);
        let mut g = fresh.try_acquire(["a", "b", "c"]).unwrap();
        assert_eq!(not_held(g.get_mut(&p)), "a");
    }
    assert_eq!(p.into_inner(), 1);
}

#[test]
fn owned_guards_open_data_on_any_thread() {
    let m = Arc::new(manager(ABC));
    let a = Arc::new(m.protect("a", 0_u64).unwrap());
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (m, a) = (m.clone(), a.clone());
            std::thread::spawn(move || {
                for _ in 0..if cfg!(miri) { 20 } else { 1000 } {
                    let mut g = m.acquire_owned(["a"]).wait().unwrap();
                    let v = g.get_mut(&a).unwrap();
                    *v += 1;
                    let mut child = g.try_acquire(["b"]).unwrap();
                    *child.get_mut(&a).unwrap() += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let g = m.try_acquire_owned(["a"]).unwrap();
    let rounds = if cfg!(miri) { 20 } else { 1000 };
    assert_eq!(*g.get(&a).unwrap(), 4 * 2 * rounds);
}

#[test]
fn readers_and_writers_on_threads_see_consistent_data() {
    // A writer keeps two fields equal under "a"; readers holding "a" shared must never see
    // them differ.
    let m = Arc::new(manager(ABC));
    let pair = Arc::new(m.protect("a", (0_u64, 0_u64)).unwrap());
    let rounds = if cfg!(miri) { 20 } else { 2000 };
    let writer = {
        let (m, pair) = (m.clone(), pair.clone());
        std::thread::spawn(move || {
            for _ in 0..rounds {
                let mut g = m.acquire(["a"]).wait().unwrap();
                let p = g.get_mut(&pair).unwrap();
                p.0 += 1;
                std::hint::spin_loop();
                p.1 += 1;
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (m, pair) = (m.clone(), pair.clone());
            std::thread::spawn(move || {
                for _ in 0..rounds {
                    let g = m.acquire_shared(["a"]).wait().unwrap();
                    let p = g.get(&pair).unwrap();
                    assert_eq!(p.0, p.1);
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    let mut pair = Arc::try_unwrap(pair).unwrap();
    assert_eq!(*pair.get_mut(), (rounds, rounds));
}

#[test]
fn swapped_guards_open_what_they_hold() {
    let m = manager(ABC);
    let (a, b) = (m.protect("a", 1).unwrap(), m.protect("b", 2).unwrap());
    let mut x = m.try_acquire(["a"]).unwrap();
    let mut y = m.try_acquire(["b"]).unwrap();
    std::mem::swap(&mut x, &mut y);
    assert_eq!(*x.get(&b).unwrap(), 2);
    assert_eq!(not_held(x.get(&a)), "a");
    *y.get_mut(&a).unwrap() += 1;
    drop((x, y));
    assert_eq!(a.into_inner(), 2);
}

#[test]
fn protected_is_send_and_sync_like_rwlock() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Protected<Vec<u8>>>();
    send::<Protected<std::cell::Cell<u8>>>();
    let m = manager(ABC);
    let p = m.protect("a", 1).unwrap();
    let dbg = format!("{p:?}");
    assert!(dbg.contains("Protected") && dbg.contains("\"a\""), "{dbg}");
    assert_eq!(p.lock().name(), "a");
}
