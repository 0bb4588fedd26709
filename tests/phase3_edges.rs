//! Edges of task keys, lock families and `Protected` data: the cases an adversary tries first.

mod common;

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use common::{locked, manager, Task};
use lockorder::{Error, LockManager, Protected};

const ABCD: &[(&str, u32)] = &[("a", 10), ("b", 20), ("c", 30), ("d", 40)];

/// Whether a type has an auto trait, decided at compile time without a bound on the caller: the
/// inherent constant (bound satisfied) wins over the trait's default.
trait No {
    const SEND: bool = false;
    const SYNC: bool = false;
}
struct SendProbe<T: ?Sized>(PhantomData<T>);
impl<T: ?Sized + Send> SendProbe<T> {
    const SEND: bool = true;
}
impl<T: ?Sized> No for SendProbe<T> {}
struct SyncProbe<T: ?Sized>(PhantomData<T>);
impl<T: ?Sized + Sync> SyncProbe<T> {
    const SYNC: bool = true;
}
impl<T: ?Sized> No for SyncProbe<T> {}

macro_rules! send_sync {
    ($t:ty) => {
        (SendProbe::<$t>::SEND, SyncProbe::<$t>::SYNC)
    };
}

#[test]
fn protected_is_send_and_sync_exactly_as_rwlock() {
    type Rw<T> = std::sync::RwLock<T>;
    assert_eq!(send_sync!(Protected<Vec<u8>>), send_sync!(Rw<Vec<u8>>));
    assert_eq!(send_sync!(Protected<Vec<u8>>), (true, true));
    assert_eq!(send_sync!(Protected<Cell<u8>>), (true, false));
    assert_eq!(send_sync!(Protected<RefCell<u8>>), (true, false));
    assert_eq!(send_sync!(Protected<Rc<u8>>), (false, false));
    // Sync but not Send: shared references could move it between threads through a
    // `get_mut` on another thread, so not Sync either.
    type NotSend = std::sync::MutexGuard<'static, u8>;
    assert_eq!(send_sync!(NotSend), (false, true));
    assert_eq!(send_sync!(Protected<NotSend>), (false, false));
    assert_eq!(send_sync!(Rw<Cell<u8>>), send_sync!(Protected<Cell<u8>>));
}

fn not_held<G: std::fmt::Debug>(r: Result<G, Error>) -> String {
    match r {
        Err(Error::NotHeld { lock }) => lock.name().to_owned(),
        other => panic!("expected NotHeld, got {other:?}"),
    }
}

#[test]
fn a_manager_at_the_address_of_a_dropped_one_opens_nothing() {
    let first = Box::new(manager(ABCD));
    let p = first.protect("a", 7_u32).unwrap();
    drop(first);
    for _ in 0..if cfg!(miri) { 4 } else { 64 } {
        // Often at the freed manager's address: the allocator reuses it.
        let next = Box::new(manager(ABCD));
        let mut g = next.try_acquire(["a"]).unwrap();
        assert_eq!(not_held(g.get_mut(&p)), "a");
        assert_eq!(not_held(g.get(&p)), "a");
        let e = g.get_disjoint_mut([&p]).unwrap_err();
        assert!(matches!(e, Error::NotHeld { .. }), "{e:?}");
    }
    assert_eq!(p.into_inner(), 7);
}

#[test]
fn two_protected_values_on_one_lock_are_two_values() {
    let m = LockManager::builder()
        .with_family("acct", 0, 4)
        .unwrap()
        .build();
    let x = m.protect("acct#1", 1_i64).unwrap();
    let y = m.protect("acct#1", 2_i64).unwrap();
    // Ids 1 and 5 fold into one member: two values under one lock.
    let z = m.protect(m.member("acct", 5).unwrap(), 3_i64).unwrap();
    let mut g = m.try_acquire([m.member("acct", 1).unwrap()]).unwrap();
    let [a, b, c] = g.get_disjoint_mut([&x, &y, &z]).unwrap();
    std::mem::swap(a, b);
    *c += 10;
    let e = g.get_disjoint_mut([&x, &y, &x]).unwrap_err();
    assert!(
        matches!(&e, Error::DuplicateAccess { lock } if lock == "acct#1"),
        "{e:?}"
    );
    let e = g.get_disjoint_mut([&z, &z]).unwrap_err();
    assert!(matches!(&e, Error::DuplicateAccess { .. }), "{e:?}");
    drop(g);
    assert_eq!((x.into_inner(), y.into_inner(), z.into_inner()), (2, 1, 13));
}

#[test]
fn replacing_or_swapping_protected_values_rebinds_nothing_unheld() {
    let m = manager(ABCD);
    let mut pa = m.protect("a", 1).unwrap();
    let mut pb = m.protect("b", 2).unwrap();
    std::mem::swap(&mut pa, &mut pb); // `pa` now holds b's value, under b
    let mut g = m.try_acquire(["a"]).unwrap();
    assert_eq!(not_held(g.get_mut(&pa)), "b");
    assert_eq!(*g.get(&pb).unwrap(), 1);
    drop(g);
    let old = std::mem::replace(&mut pa, m.protect("c", 3).unwrap());
    let mut g = m.try_acquire(["b"]).unwrap();
    assert_eq!(not_held(g.get(&pa)), "c");
    *g.get_mut(&old).unwrap() += 40;
    drop(g);
    assert_eq!(old.into_inner(), 42);
}

#[test]
fn shared_guards_on_two_threads_read_but_never_write() {
    let m = Arc::new(manager(ABCD));
    let p = Arc::new(m.protect("a", 5_u64).unwrap());
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (m, p, barrier) = (m.clone(), p.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut g = m
                    .acquire_owned(Vec::<&str>::new())
                    .shared(["a"])
                    .wait()
                    .unwrap();
                barrier.wait(); // both hold "a" shared now
                let e = g.get_mut(&p).unwrap_err();
                assert!(matches!(e, Error::UpgradeRefused { .. }), "{e:?}");
                let e = g.get_disjoint_mut([&*p]).unwrap_err();
                assert!(matches!(e, Error::UpgradeRefused { .. }), "{e:?}");
                let mut child = g.try_acquire_shared(["b"]).unwrap();
                assert!(child.get_mut(&p).is_err());
                let v = *child.get(&p).unwrap();
                drop(child);
                barrier.wait();
                v
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 5);
    }
    common::assert_all_free(&m);
}

#[test]
fn keyed_guards_and_their_children_open_data() {
    let m = Arc::new(manager(ABCD));
    let key = m.task_key();
    let pa = m.protect("a", 0).unwrap();
    let pc = m.protect("c", 0).unwrap();
    let mut g = m.acquire(["a"]).key(&key).try_now().unwrap();
    *g.get_mut(&pa).unwrap() += 1;
    let mut owned = m.acquire_owned(["c"]).key(&key).try_now().unwrap();
    assert_eq!(not_held(owned.get(&pa)), "a");
    let mut child = owned.try_acquire(["d"]).unwrap();
    *child.get_mut(&pc).unwrap() += 1;
    drop(child);
    let owned = std::thread::spawn(move || {
        *owned.get_mut(&pc).unwrap() += 1;
        drop(owned);
        pc
    })
    .join()
    .unwrap();
    drop(g);
    assert_eq!((pa.into_inner(), owned.into_inner()), (1, 2));
}

// === Panics in foreign code during keyed requests ===

/// Drops `x`, catching a panic: a release that wakes a panicking waker goes on with that panic
/// (see `tests/evil.rs`). What is checked here is what lockorder keeps: the key's claims and
/// the locks.
fn drop_catching<T>(x: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(x)));
}

fn panicking_clone(_: *const ()) -> RawWaker {
    panic!("a waker that panics when cloned")
}
fn noop(_: *const ()) {}
static PANIC_ON_CLONE: RawWakerVTable = RawWakerVTable::new(panicking_clone, noop, noop, noop);

#[test]
fn a_panic_while_a_keyed_request_waits_leaves_no_claim_behind() {
    let m = manager(ABCD);
    let busy = m.try_acquire(["c"]).unwrap();
    let key = m.task_key();
    let mut fut = Box::pin(m.acquire(["b", "c"]).key(&key));
    // SAFETY: the vtable's functions ignore the data pointer.
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &PANIC_ON_CLONE)) };
    let mut cx = Context::from_waker(&waker);
    let r = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
    assert!(r.is_err(), "registering the waker should panic");
    // The future, still alive, holds "b" and claims b and c under the key.
    assert!(matches!(
        m.acquire(["a"]).key(&key).try_now(),
        Err(Error::OrderViolation { .. })
    ));
    drop_catching(fut);
    assert_eq!(locked(&m, &["b", "c"]), vec!["c"]);
    drop_catching(busy);
    let g = m.acquire(["a"]).key(&key).try_now().unwrap();
    assert!(g.holds("a"));
}

use std::future::Future;

struct PanicOnWake;
impl std::task::Wake for PanicOnWake {
    fn wake(self: Arc<Self>) {
        panic!("a waker that panics when woken");
    }
}

#[test]
fn a_panicking_waker_in_a_keyed_release_leaves_no_claim_behind() {
    let m = manager(ABCD);
    let key = m.task_key();
    let g = m.acquire(["b"]).key(&key).try_now().unwrap();
    let mut waiter = Box::pin(m.acquire(["b"]));
    let waker = Waker::from(Arc::new(PanicOnWake));
    assert!(waiter
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let r = catch_unwind(AssertUnwindSafe(move || drop(g)));
    assert!(
        r.is_err(),
        "the release should have woken the panicking waker"
    );
    drop_catching(waiter);
    // Nothing claimed under the key, nothing locked.
    let a = m.acquire(["a"]).key(&key).try_now().unwrap();
    let b = m.acquire(["b"]).key(&key).try_now().unwrap();
    assert!(a.holds("a") && b.holds("b"));
    drop((a, b));
    common::assert_all_free(&m);
}

#[test]
fn a_keyed_wait_below_the_key_returns_at_once_while_the_lock_is_busy() {
    let m = Arc::new(manager(ABCD));
    let key = m.task_key();
    let _c = m.acquire(["c"]).key(&key).try_now().unwrap();
    let busy = m.try_acquire(["a"]).unwrap(); // another holder of "a"
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let r = m.acquire(["a"]).key(&key).wait();
            tx.send(matches!(r, Err(Error::OrderViolation { .. })))
                .unwrap();
        });
        let refused = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("a keyed request below the key waited");
        assert!(refused);
    });
    drop(busy);
}

#[test]
fn a_request_cancelled_mid_walk_gives_its_claims_back() {
    let m = manager(ABCD);
    let key = m.task_key();
    let busy = m.try_acquire(["d"]).unwrap();
    let mut t = Task::new(m.acquire(["b", "c", "d"]).key(&key));
    t.pending(); // holds b and c, waits for d
    assert_eq!(locked(&m, &["b", "c"]), vec!["b", "c"]);
    t.cancel();
    assert_eq!(locked(&m, &["b", "c"]), Vec::<&str>::new());
    let g = m.acquire(["a", "b"]).key(&key).try_now().unwrap();
    drop(g);
    // A single try that fails gives its claims back too.
    let e = m.acquire(["c", "d"]).key(&key).try_now().unwrap_err();
    assert!(matches!(e, Error::WouldBlock { .. }), "{e:?}");
    assert!(m.acquire(["a"]).key(&key).try_now().is_ok());
    drop(busy);
}

#[test]
fn a_key_of_a_dropped_manager_is_refused_by_a_new_one() {
    let old = Box::new(manager(ABCD));
    let key = old.task_key();
    let g = old.acquire(["d"]).key(&key).try_now().unwrap();
    drop(g);
    drop(old);
    for _ in 0..if cfg!(miri) { 2 } else { 16 } {
        let m = Box::new(manager(ABCD));
        let e = m.acquire(["a"]).key(&key).try_now().unwrap_err();
        assert!(matches!(e, Error::ForeignKey { .. }), "{e:?}");
        common::assert_all_free(&m);
    }
}

// === Families at the edges ===

#[test]
fn families_beside_plain_locks_at_the_top_of_the_orders() {
    let m = LockManager::builder()
        .with_lock("low", 0)
        .unwrap()
        .with_family("top", u32::MAX - 3, 3)
        .unwrap()
        .with_lock("max", u32::MAX)
        .unwrap()
        .build();
    let names: Vec<_> = m.locks().map(|l| (l.name(), l.order())).collect();
    assert_eq!(
        names,
        [
            ("low", 0),
            ("top#0", u32::MAX - 3),
            ("top#1", u32::MAX - 2),
            ("top#2", u32::MAX - 1),
            ("max", u32::MAX)
        ]
    );
    let top = m.member("top", u64::MAX).unwrap();
    assert_eq!(m.info(top).unwrap().name(), format!("top#{}", u64::MAX % 3));
    let key = m.task_key();
    let g = m
        .acquire([m.member("top", u64::MAX).unwrap(), m.id("max").unwrap()])
        .key(&key)
        .try_now()
        .unwrap();
    assert!(matches!(
        m.acquire(["top#0"]).key(&key).try_now(),
        Err(Error::OrderViolation { requested, held }) if requested == "top#0" && held == "max"
    ));
    drop(g);
    // A plain lock at an order a family takes, before or after it.
    let e = LockManager::builder()
        .with_family("top", u32::MAX - 1, 2)
        .unwrap()
        .with_lock("max", u32::MAX)
        .unwrap_err();
    assert!(
        matches!(&e, Error::DuplicateOrder { order: u32::MAX, existing, .. } if existing == "top#1"),
        "{e:?}"
    );
    let e = LockManager::builder()
        .with_lock("max", u32::MAX)
        .unwrap()
        .with_family("top", u32::MAX - 1, 2)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::DuplicateOrder {
                order: u32::MAX,
                ..
            }
        ),
        "{e:?}"
    );
    let e = LockManager::builder()
        .with_family("top", u32::MAX, 2)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidFamily { .. }), "{e:?}");
    let e = LockManager::builder()
        .with_family("top", 1, u32::MAX)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidFamily { .. }), "{e:?}");
}

#[test]
fn member_names_and_plain_names_do_not_mix() {
    // A plain lock with a member's name, registered first: the family is refused whole.
    let mut b = LockManager::builder();
    b.register("account#3", 1).unwrap();
    let e = b.register_family("account", 100, 8).unwrap_err();
    assert_eq!(
        e,
        Error::DuplicateName {
            name: "account#3".into()
        }
    );
    assert!(!b.contains("account#0") && !b.contains("account#7"));
    assert_eq!(b.len(), 1);
    // ... and registered after: refused, the family intact.
    b.register_family("account", 100, 3).unwrap();
    let e = b.register("account#2", 5).unwrap_err();
    assert_eq!(
        e,
        Error::DuplicateName {
            name: "account#2".into()
        }
    );
    // A plain lock named like the family is a plain lock; `member` finds the family only.
    b.register("ledger", 7).unwrap();
    b.register_family("ledger", 200, 2).unwrap();
    b.register_family("ledger#1", 300, 2).unwrap(); // "ledger#1#0", "ledger#1#1"
    let m = b.build();
    assert_eq!(m.info(m.id("ledger").unwrap()).unwrap().order(), 7);
    assert_eq!(
        m.info(m.member("ledger", 3).unwrap()).unwrap().name(),
        "ledger#1"
    );
    assert_eq!(
        m.info(m.member("ledger#1", 3).unwrap()).unwrap().name(),
        "ledger#1#1"
    );
    // `member` of a plain lock's name, or of a member's name, is unknown.
    assert!(matches!(
        m.member("account#3", 0),
        Err(Error::UnknownLock { .. })
    ));
    assert!(matches!(m.member("", 0), Err(Error::UnknownLock { .. })));
    let e = LockManager::builder().with_family("", 1, 2).unwrap_err();
    assert!(matches!(e, Error::EmptyName { .. }), "{e:?}");
}

#[test]
#[cfg_attr(miri, ignore)] // 65,536 locks
fn the_largest_family_works_with_keys_and_data() {
    let m = LockManager::builder()
        .with_lock("ledger", 0)
        .unwrap()
        .with_family("row", 1, 1 << 16)
        .unwrap()
        .build();
    assert_eq!(m.len(), (1 << 16) + 1);
    let e = LockManager::builder()
        .with_family("row", 1, (1 << 16) + 1)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidFamily { .. }), "{e:?}");
    let last = m.member("row", u64::MAX).unwrap();
    assert_eq!(
        m.info(last).unwrap().name(),
        format!("row#{}", u64::MAX % (1 << 16))
    );
    let lo = m.protect(m.member("row", 0).unwrap(), 1).unwrap();
    let hi = m.protect(m.member("row", 65_535).unwrap(), 2).unwrap();
    let key = m.task_key();
    let mut g = m
        .acquire([
            m.member("row", 65_535).unwrap(),
            m.member("row", 0).unwrap(),
        ])
        .key(&key)
        .try_now()
        .unwrap();
    let [x, y] = g.get_disjoint_mut([&hi, &lo]).unwrap();
    std::mem::swap(x, y);
    let e = m.acquire(["ledger"]).key(&key).try_now().unwrap_err();
    assert!(
        matches!(&e, Error::OrderViolation { held, .. } if held == "row#65535"),
        "{e:?}"
    );
    let mut child = g
        .try_acquire([m.member("row", 65_536 + 65_535).unwrap()])
        .unwrap();
    assert!(child.get_mut(&hi).is_ok());
    drop(child);
    drop(g);
    assert_eq!((lo.into_inner(), hi.into_inner()), (2, 1));
    assert!(m.acquire(["ledger"]).key(&key).try_now().is_ok());
}

#[test]
fn a_child_guard_on_another_thread_while_its_parent_waits() {
    let m = manager(ABCD);
    let pa = m.protect("a", 0_u32).unwrap();
    let pb = m.protect("b", 0_u32).unwrap();
    let mut parent = m.try_acquire(["a"]).unwrap();
    std::thread::scope(|s| {
        let mut child = parent.try_acquire(["b"]).unwrap();
        let (pa, pb) = (&pa, &pb);
        s.spawn(move || {
            let [a, b] = child.get_disjoint_mut([pa, pb]).unwrap();
            *a += 1;
            *b += 2;
        });
    });
    // One guard shared by two threads: both read at once, neither writes.
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (g, pa) = (&parent, &pa);
            s.spawn(move || assert_eq!(*g.get(pa).unwrap(), 1));
        }
    });
    *parent.get_mut(&pa).unwrap() += 1;
    drop(parent);
    assert_eq!((pa.into_inner(), pb.into_inner()), (2, 2));
}
