//! Shared (read) mode in lock sets: readers share, writers exclude, writers are not starved, and
//! a waiter passed over by a newcomer gets the next turn.

mod common;

use std::time::Duration;

use common::{locked, manager, timed, Task, ABC};
use futures_lite::future::block_on;
use lockorder::{Error, Mode};

#[test]
fn readers_share_and_writers_exclude() {
    let m = manager(ABC);
    let r1 = m.try_acquire_shared(["a", "b"]).unwrap();
    let r2 = block_on(m.acquire_shared(["b"])).unwrap();
    assert_eq!(r1.mode("a"), Some(Mode::Shared));
    assert_eq!(r2.mode("a"), None);
    assert!(matches!(m.try_acquire(["b"]), Err(Error::WouldBlock { lock }) if lock == "b"));
    let status = m.status();
    assert_eq!((status[1].mode, status[1].readers), (Some(Mode::Shared), 2));
    assert!(status.to_string().contains("shared(2)"), "{status}");
    drop(r1);
    assert_eq!(m.status()[1].readers, 1);
    assert!(
        m.try_acquire(["b"]).is_err(),
        "one reader is enough to keep a writer out"
    );
    drop(r2);
    let w = m.try_acquire(["b"]).unwrap();
    assert_eq!(w.mode("b"), Some(Mode::Exclusive));
    assert_eq!(m.status()[1].mode, Some(Mode::Exclusive));
    assert!(
        m.try_acquire_shared(["b"]).is_err(),
        "a writer keeps readers out"
    );
}

#[test]
fn one_set_mixes_modes_and_a_key_in_both_lists_is_exclusive() {
    let m = manager(ABC);
    let g = m.acquire(["a", "b"]).shared(["b", "c"]).try_now().unwrap();
    assert_eq!(g.mode("a"), Some(Mode::Exclusive));
    assert_eq!(g.mode("b"), Some(Mode::Exclusive));
    assert_eq!(g.mode("c"), Some(Mode::Shared));
    assert!(m.try_acquire_shared(["c"]).is_ok());
    assert!(m.try_acquire_shared(["b"]).is_err());
    assert!(matches!(
        m.acquire(["a"]).shared(["zz"]).try_now(),
        Err(Error::UnknownLock { name }) if name == "zz"
    ));
}

#[test]
fn nesting_skips_covered_locks_in_either_mode_and_refuses_upgrades() {
    let m = manager(ABC);
    let mut g = m.acquire(["a"]).shared(["b"]).try_now().unwrap();
    // Shared over shared or exclusive: covered, nothing taken.
    let inner = g.try_acquire_shared(["a", "b"]).unwrap();
    assert_eq!(inner.own_locks().count(), 0);
    assert_eq!(inner.mode("b"), Some(Mode::Shared));
    drop(inner);
    // Exclusive over shared: refused, nothing taken.
    match g.try_acquire(["b", "c"]) {
        Err(Error::UpgradeRefused { lock }) => assert_eq!(lock, "b"),
        other => panic!("unexpected: {other:?}"),
    }
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b"]);
    assert!(Error::UpgradeRefused {
        lock: m.lock_info("b").unwrap().lock_ref()
    }
    .to_string()
    .contains("upgrade refused"));
    // The order rule is the same in both modes.
    let mut high = m.try_acquire_shared(["c"]).unwrap();
    assert!(matches!(
        high.try_acquire_shared(["a"]),
        Err(Error::OrderViolation { requested, held }) if requested == "a" && held == "c"
    ));
    // A shared child of an exclusive parent, and the other way round.
    let mut child = g.try_acquire_shared(["c"]).unwrap();
    assert_eq!(child.mode("c"), Some(Mode::Shared));
    assert!(matches!(
        child.try_acquire(["c"]),
        Err(Error::UpgradeRefused { .. })
    ));
    drop(child);
    drop(high);
    let child = g.acquire(["c"]).shared(["b"]).try_now().unwrap();
    assert_eq!(child.mode("c"), Some(Mode::Exclusive));
    assert_eq!(
        child.own_locks().map(|l| l.name()).collect::<Vec<_>>(),
        ["c"]
    );
}

#[test]
fn once_a_writer_waits_new_readers_wait_too() {
    let m = manager(ABC);
    let r1 = m.try_acquire_shared(["a"]).unwrap();
    let mut writer = Task::new(m.acquire(["a"]));
    writer.pending();
    // A new reader would overlap r1, and the writer could wait for ever: it waits instead.
    assert!(matches!(
        m.try_acquire_shared(["a"]),
        Err(Error::WouldBlock { .. })
    ));
    let mut reader = Task::new(m.acquire_shared(["a"]));
    reader.pending();
    drop(r1);
    assert!(writer.woken());
    let w = writer.ready().unwrap();
    reader.pending();
    drop(w);
    assert!(reader.woken());
    assert!(reader.ready().is_ok());
}

#[test]
fn a_cancelled_waiting_writer_lets_readers_in_again() {
    let m = manager(ABC);
    let r1 = m.try_acquire_shared(["a"]).unwrap();
    let mut writer = Task::new(m.acquire(["a"]));
    writer.pending();
    let mut reader = Task::new(m.acquire_shared(["a"]));
    reader.pending();
    assert!(m.try_acquire_shared(["a"]).is_err());
    writer.cancel();
    assert!(reader.woken(), "the readers that yielded to it are woken");
    let r2 = reader.ready().unwrap();
    let r3 = m.try_acquire_shared(["a"]).unwrap();
    assert_eq!(m.status()[0].readers, 3);
    drop((r1, r2, r3));
}

#[test]
fn a_timed_out_writer_lets_readers_in_again() {
    let (m, timer) = timed(ABC);
    let r1 = m.try_acquire_shared(["b"]).unwrap();
    let mut writer = Task::new(m.acquire(["a", "b"]).timeout(Duration::from_secs(1)));
    writer.pending();
    assert!(m.try_acquire_shared(["b"]).is_err());
    timer.advance(Duration::from_secs(1));
    assert!(matches!(writer.ready(), Err(Error::Timeout { lock }) if lock == "b"));
    assert!(m.try_acquire_shared(["b"]).is_ok());
    assert_eq!(locked(&m, &["a", "b", "c"]), ["b"]);
    drop(r1);
}

#[test]
fn a_waiter_passed_over_by_a_newcomer_gets_the_next_turn() {
    let m = manager(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut waiter = Task::new(m.acquire(["a"]));
    waiter.pending();
    drop(g);
    assert!(waiter.woken());
    // A newcomer takes the lock before the woken waiter runs.
    let barger = m.try_acquire(["a"]).unwrap();
    waiter.pending(); // passed over: from now on, newcomers yield to it
    drop(barger);
    assert!(waiter.woken());
    assert!(
        matches!(m.try_acquire(["a"]), Err(Error::WouldBlock { .. })),
        "a second newcomer must not pass it again"
    );
    assert!(m.try_acquire_shared(["a"]).is_err());
    let w = waiter.ready().unwrap();
    drop(w);
    assert!(
        m.try_acquire(["a"]).is_ok(),
        "its turn taken, newcomers are welcome again"
    );
}

#[test]
fn a_passed_over_waiter_that_gives_up_leaves_no_lock_reserved() {
    let m = manager(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut waiter = Task::new(m.acquire(["a"]));
    waiter.pending();
    let mut second = Task::new(m.acquire(["a"]));
    second.pending();
    drop(g);
    let barger = m.try_acquire(["a"]).unwrap();
    waiter.pending(); // passed over
    drop(barger); // wakes `waiter` again, and it is the one the lock waits for
    assert!(m.try_acquire(["a"]).is_err());
    waiter.cancel(); // gives up before it looks: its turn passes to `second`
    assert!(second.woken());
    assert!(second.ready().is_ok());
    assert!(m.try_acquire(["a"]).is_ok(), "nothing stays reserved");

    // Alone: when the only waiter gives up, newcomers are let in at once.
    let g = m.try_acquire(["b"]).unwrap();
    let mut lone = Task::new(m.acquire(["b"]));
    lone.pending();
    drop(g);
    let barger = m.try_acquire(["b"]).unwrap();
    lone.pending();
    drop(barger);
    lone.cancel();
    assert!(m.try_acquire(["b"]).is_ok());
}

#[test]
fn a_shared_status_entry_names_the_reader_that_made_it_shared() {
    let (m, timer) = timed(ABC);
    timer.advance(Duration::from_secs(5));
    let r1 = m.acquire_shared(["c"]).owner("first").try_now().unwrap();
    timer.advance(Duration::from_secs(5));
    let r2 = m.acquire_shared(["c"]).owner("second").try_now().unwrap();
    let s = &m.status()[2];
    assert_eq!((s.mode, s.readers), (Some(Mode::Shared), 2));
    assert_eq!(s.owner.unwrap(), "first");
    assert_eq!(s.acquired_at, Some(Duration::from_secs(5)));
    drop(r1);
    let s = &m.status()[2];
    assert_eq!(
        (s.readers, s.acquired_at),
        (1, Some(Duration::from_secs(5)))
    );
    assert_eq!(m.long_held(Duration::from_secs(4)).len(), 1);
    drop(r2);
    assert_eq!(m.status()[2].mode, None);
}

#[test]
fn owned_and_blocking_acquires_take_shared_locks_too() {
    let m = std::sync::Arc::new(manager(ABC));
    let r = m
        .acquire_owned([] as [&str; 0])
        .shared(["a"])
        .wait()
        .unwrap();
    assert_eq!(r.mode("a"), Some(Mode::Shared));
    let r2 = m.acquire_shared(["a"]).wait().unwrap();
    assert!(m.try_acquire(["a"]).is_err());
    drop((r, r2));
    assert!(m.try_acquire(["a"]).is_ok());
}

/// The shape the firmware check found: with two waiters queued, the one passed over by a newcomer
/// must get the next holding, not merely a waiter: its reservation wakes it alone, and the other
/// waiter (ahead of it in the queue now) and every newcomer yield until it has had its turn.
#[test]
fn a_passed_over_waiter_gets_the_next_holding_even_behind_another_waiter() {
    let m = manager(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut b = Task::new(m.acquire(["a"]));
    b.pending();
    let mut c = Task::new(m.acquire(["a"]));
    c.pending();
    drop(g); // wakes `b`
    assert!(b.woken() && !c.woken());
    let barger = m.try_acquire(["a"]).unwrap(); // a newcomer gets in first
    b.pending(); // passed over: reserves the lock
    drop(barger); // wakes `b` alone
    assert!(b.woken());
    assert!(
        !c.woken(),
        "the queue stays asleep while the lock is reserved"
    );
    assert!(
        m.try_acquire(["a"]).is_err(),
        "newcomers yield to the reservation"
    );
    c.pending(); // polled anyway, it yields too
    let gb = b.ready().unwrap();
    drop(gb); // the reservation is used up: the queue is woken
    assert!(c.woken());
    assert!(c.ready().is_ok());
}

/// Found by the fuzzer: on a manager of more than 128 locks, a shared child of a guard that took
/// nothing shared lost the mode of its locks past the first 128 (a set too small for them
/// dropped them), so an exclusive request for one was taken as covered instead of refused.
#[test]
fn modes_survive_nesting_on_a_large_manager() {
    let mut b = lockorder::LockManager::builder();
    for i in 0..130u32 {
        b.register(&format!("l{i}"), i).unwrap();
    }
    let m = b.build();
    let mut root = m.try_acquire(Vec::<&str>::new()).unwrap();
    let mut child = root.try_acquire_shared(["l129"]).unwrap();
    assert_eq!(child.mode("l129"), Some(Mode::Shared));
    assert!(matches!(
        child.try_acquire(["l129"]),
        Err(Error::UpgradeRefused { lock }) if lock == "l129"
    ));
}

/// Two readers wait behind a writer; a newcomer writer gets in first, the first reader reserves
/// the lock and the second listens again. When the reserving reader takes the lock shared, the
/// second may join it, and must be woken to do so: the lock is only ever held shared from then
/// on, so no release would wake it while new readers keep overlapping.
#[test]
fn readers_queued_behind_a_reserving_reader_join_its_holding() {
    let m = manager(ABC);
    let writer = m.try_acquire(["a"]).unwrap();
    let mut r1 = Task::new(m.acquire_shared(["a"]));
    let mut r2 = Task::new(m.acquire_shared(["a"]));
    r1.pending();
    r2.pending();
    drop(writer);
    let newcomer = m.try_acquire(["a"]).unwrap();
    r1.pending(); // passed over: reserves
    r2.pending(); // the reservation is taken: listens again
    drop(newcomer); // wakes the reservation alone
    let g1 = r1.ready().unwrap();
    assert_eq!(g1.mode("a"), Some(Mode::Shared));
    assert!(r2.woken(), "a reader left asleep beside a shared holding");
    // New readers overlap from here on; the second reader is among them.
    let stream = m.try_acquire_shared(["a"]).unwrap();
    drop(g1);
    let g2 = r2.ready().unwrap();
    assert_eq!(m.status()[0].readers, 2);
    drop((stream, g2));
    assert!(m.try_acquire(["a"]).is_ok());
}

/// A reader waits for room on a lock held by the most readers it can have, is passed over by a
/// newcomer when one leaves, and reserves: the next reader to leave makes room for it, and that
/// release must wake it (before, only the readers' queue was woken, and its members yield to the
/// reservation, so the freed place stayed empty until every reader had left).
#[test]
fn a_reader_reserving_a_full_lock_gets_the_next_place() {
    let m = manager(ABC);
    let mut readers = Vec::new();
    while let Ok(g) = m.try_acquire_shared(["a"]) {
        readers.push(g);
    }
    let full = readers.len();
    assert_eq!(full, 16_382, "the most readers of one lock, as documented");
    let mut waiter = Task::new(m.acquire_shared(["a"]));
    waiter.pending();
    readers.pop();
    let newcomer = m.try_acquire_shared(["a"]).unwrap();
    waiter.pending(); // passed over: reserves
    drop(newcomer);
    assert!(
        waiter.woken(),
        "a place is free and the reserving reader sleeps"
    );
    let g = waiter.ready().unwrap();
    assert_eq!(m.status()[0].readers as usize, full);
    drop(g);
    drop(readers);
    assert!(m.try_acquire(["a"]).is_ok());
}

/// A reserving reader's take wakes the readers queued behind it only when no writer waits: a
/// new reader that yielded to a waiting writer keeps yielding, and gets in once that writer has
/// had the lock.
#[test]
fn a_reserving_readers_take_lets_no_reader_past_a_waiting_writer() {
    let m = manager(ABC);
    let first_writer = m.try_acquire(["a"]).unwrap();
    let mut r1 = Task::new(m.acquire_shared(["a"]));
    r1.pending();
    let mut w = Task::new(m.acquire(["a"]));
    w.pending();
    drop(first_writer);
    let newcomer = m.try_acquire(["a"]).unwrap();
    r1.pending(); // passed over: reserves
    w.pending(); // the reservation is taken: listens again
    assert!(
        m.try_acquire_shared(["a"]).is_err(),
        "new readers yield to w"
    );
    let mut r3 = Task::new(m.acquire_shared(["a"]));
    r3.pending();
    drop(newcomer);
    let g1 = r1.ready().unwrap();
    assert!(
        r3.poll().is_pending(),
        "a new reader got past the waiting writer"
    );
    drop(g1);
    let gw = w.ready().unwrap();
    drop(gw);
    let g3 = r3.ready().unwrap();
    assert_eq!(g3.mode("a"), Some(Mode::Shared));
}
