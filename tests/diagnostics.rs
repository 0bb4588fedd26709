//! When an acquire fails, its error says who held the lock at the time: the holder's owner label
//! (else its holder id), its mode, and how long it had held the lock when the manager has a
//! timer.
#![cfg(not(loom))]

mod common;

use core::time::Duration;

use futures_lite::future::block_on;
use lockorder::{Error, LockManager, Mode};

#[test]
fn a_timeout_names_the_holder_by_its_label_mode_and_hold_time() {
    let (m, timer) = common::timed(&[("acct-3", 103), ("acct-4", 104)]);
    let held = m.acquire(["acct-3"]).owner("worker-3").try_now().unwrap();
    timer.advance(Duration::from_millis(1200));
    let err = block_on(m.acquire(["acct-3"]).timeout(Duration::ZERO)).unwrap_err();
    let text = err.to_string();
    println!("{text}");
    assert!(text.contains("worker-3"), "{text}");
    assert!(
        text.contains("held by `worker-3` (exclusive) for 1.200s at the time"),
        "{text}"
    );
    let Error::Timeout { lock } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*lock, "acct-3");
    let holder = lock.held_by().unwrap();
    assert_eq!(
        (holder.owner(), holder.mode(), holder.held_for()),
        (
            "worker-3",
            Mode::Exclusive,
            Some(Duration::from_millis(1200))
        )
    );
    // The record is read when the error is made: the message stays as it was.
    drop(held);
    assert_eq!(err.to_string(), text);
}

#[test]
fn a_timeout_after_waiting_names_the_holder_too() {
    let (m, timer) = common::timed(&[("a", 1), ("b", 2)]);
    // A formatted label, as a `String`.
    let _held = m
        .acquire(["b"])
        .owner(format!("job-{}", 7))
        .try_now()
        .unwrap();
    let mut task = common::Task::new(m.acquire(["a", "b"]).timeout(Duration::from_secs(1)));
    task.pending();
    timer.advance(Duration::from_secs(2));
    let err = task.ready().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("lock `b` (order 2), held by `job-7` (exclusive) for 2.000s at the time"),
        "{text}"
    );
    assert!(text.contains("guard.acquire"), "says what to do: {text}");
}

#[test]
fn a_refused_try_names_the_holder_by_its_id_when_it_gave_no_label() {
    let m = common::manager(&[("db", 10)]);
    let held = m.try_acquire(["db"]).unwrap();
    let err = m.try_acquire(["db"]).map(drop).unwrap_err();
    let Error::WouldBlock { lock } = &err else {
        panic!("{err:?}")
    };
    let holder = lock.held_by().expect("a held lock names its holder");
    let id = held.holder().unwrap().to_string();
    assert_eq!(holder.owner(), id);
    assert_eq!(holder.held_for(), None, "no timer, no hold time");
    let text = err.to_string();
    assert!(
        text.contains(&format!("held by `{id}` (exclusive) at the time")),
        "{text}"
    );
}

#[test]
fn a_shared_holding_is_named_by_its_first_reader_with_the_count() {
    let m = common::manager(&[("config", 1)]);
    let _r1 = m.acquire_shared(["config"]).owner("reader-1").try_now();
    let _r2 = m.acquire_shared(["config"]).owner("reader-2").try_now();
    let err = m.try_acquire(["config"]).map(drop).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("held by `reader-1` and 1 more readers (shared) at the time"),
        "{text}"
    );
}

#[test]
fn a_blocking_wait_that_times_out_names_the_holder() {
    let (m, _timer) = common::timed(&[("db", 10)]);
    let _held = m.acquire(["db"]).owner("migration").try_now().unwrap();
    let err = m
        .acquire(["db"])
        .timeout(Duration::from_millis(20))
        .wait()
        .map(drop)
        .unwrap_err();
    assert!(err.to_string().contains("held by `migration`"), "{err}");
}

#[test]
fn a_lock_kept_for_a_waiter_names_no_holder() {
    let m: LockManager = common::manager(&[("a", 1)]);
    let reader = m.try_acquire_shared(["a"]).unwrap();
    let mut writer = common::Task::new(m.acquire(["a"]));
    writer.pending();
    drop(reader);
    // Free, but kept for the woken writer: a new reader yields.
    let err = m.try_acquire_shared(["a"]).map(drop).unwrap_err();
    let Error::WouldBlock { lock } = &err else {
        panic!("{err:?}")
    };
    assert!(lock.held_by().is_none());
    assert!(err.to_string().contains("kept for a waiter"), "{err}");
}
