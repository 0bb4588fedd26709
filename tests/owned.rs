//! Owned guards: `acquire_owned` resolves to a guard that holds the manager through an `Arc`, so it
//! can move to another thread or task, or live in a struct.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{locked, Task, ABC};
use futures_lite::future::block_on;
use lockorder::futures::AcquireOwned;
use lockorder::{Error, LockManager, ManualTimer, NoTimer, OwnedGuard};

fn shared(locks: &[(&str, u32)]) -> Arc<LockManager> {
    Arc::new(common::manager(locks))
}

fn shared_timed(locks: &[(&str, u32)]) -> (Arc<LockManager<ManualTimer>>, ManualTimer) {
    let (m, timer) = common::timed(locks);
    (Arc::new(m), timer)
}

#[test]
fn owned_guards_and_their_futures_are_send_sync_and_static() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    fn send_static<T: Send + 'static>() {}
    send_sync_static::<OwnedGuard>();
    send_sync_static::<OwnedGuard<ManualTimer>>();
    send_static::<AcquireOwned<NoTimer>>();
    send_static::<AcquireOwned<ManualTimer>>();
}

#[test]
fn an_owned_guard_moves_to_another_thread_and_keeps_the_manager_alive() {
    let m = shared(ABC);
    let g = block_on(m.acquire_owned(["c", "a"]).owner(format!("job-{}", 7))).unwrap();
    assert_eq!(g.owner(), Some("job-7"));
    let weak = Arc::downgrade(&m);
    drop(m);
    assert!(
        weak.upgrade().is_some(),
        "the guard keeps the manager alive"
    );
    let names = thread::spawn(move || {
        let names: Vec<String> = g.locks().map(|l| l.name().to_owned()).collect();
        assert!(g.manager().is_locked("a").unwrap());
        drop(g);
        names
    })
    .join()
    .unwrap();
    assert_eq!(names, ["a", "c"]);
    assert!(
        weak.upgrade().is_none(),
        "the last owner dropped the manager"
    );
}

#[test]
fn an_owned_guard_lives_in_a_struct_beside_its_manager() {
    struct Session {
        manager: Arc<LockManager>,
        locks: Option<OwnedGuard>,
    }
    let m = shared(ABC);
    let mut s = Session {
        manager: m.clone(),
        locks: Some(m.try_acquire_owned(["b"]).unwrap()),
    };
    assert!(s.manager.is_locked("b").unwrap());
    s.locks = None;
    assert!(!s.manager.is_locked("b").unwrap());
}

#[test]
fn nesting_from_an_owned_guard_is_checked_like_any_guard() {
    let m = shared(ABC);
    let mut g = m.acquire_owned(["b"]).owner("outer").try_now().unwrap();
    let mut inner = g.try_acquire(["b", "c"]).unwrap();
    assert_eq!(
        inner.own_locks().map(|l| l.name()).collect::<Vec<_>>(),
        ["c"]
    );
    assert_eq!(inner.owner(), Some("outer"));
    assert!(matches!(
        inner.try_acquire(["a"]),
        Err(Error::OrderViolation { requested, held }) if requested == "a" && held == "c"
    ));
    drop(inner);
    assert_eq!(locked(&m, &["a", "b", "c"]), ["b"]);
    assert!(matches!(
        g.try_acquire(["a"]),
        Err(Error::OrderViolation { .. })
    ));
}

#[test]
fn a_cancelled_owned_acquire_releases_what_it_took_and_passes_its_wake_up_on() {
    let m = shared(ABC);
    let busy = m.try_acquire(["c"]).unwrap();
    let mut first = Task::new(m.acquire_owned(["a", "c"]));
    first.pending();
    let mut second = Task::new(m.acquire_owned(["c"]));
    second.pending();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "c"]);
    drop(busy); // notifies `first`
    first.cancel(); // which passes it on, after releasing "a"
    assert!(second.woken());
    let g = second.ready().unwrap();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["c"]);
    drop(g);
}

#[test]
fn an_owned_acquire_times_out_naming_the_busy_lock() {
    let (m, timer) = shared_timed(ABC);
    let busy = m.try_acquire_owned(["b"]).unwrap();
    let mut t = Task::new(m.acquire_owned(["a", "b"]).timeout(Duration::from_secs(2)));
    t.pending();
    timer.advance(Duration::from_secs(2));
    assert!(matches!(t.ready(), Err(Error::Timeout { lock }) if lock == "b"));
    assert_eq!(locked(&m, &["a", "b", "c"]), ["b"]);
    drop(busy);
    assert!(matches!(
        m.try_acquire_owned(["a", "zz"]),
        Err(Error::UnknownLock { name }) if name == "zz"
    ));
}

#[test]
fn the_owned_guard_debug_names_its_locks() {
    let m = shared(ABC);
    let g = m.try_acquire_owned(["a", "b"]).unwrap();
    let text = format!("{g:?}");
    assert!(
        text.contains("OwnedGuard") && text.contains("\"a\"") && text.contains("\"b\""),
        "{text}"
    );
    let f = m.acquire_owned(["c"]);
    assert!(format!("{f:?}").contains("Fresh"));
}
