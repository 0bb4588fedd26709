//! The hand-off policy, row by row: who may take a lock, what a refused waiter does, and whom a
//! release or a waiter that gives up wakes. The policy and its table (rows T1-T7, L1-L5, R1-R3,
//! G1-G5) are in `src/handoff.rs`; each test here names the rows it would fail on if they changed
//! (the unit tests there check the same rows on the lock word alone). One half-row has no test
//! here: that the reserving waiter stays `Reserved` when its listener fires (L5) cannot be seen
//! through the API, since a woken walk tries the lock before it looks at its listener, and the
//! reserving waiter is woken only when the lock is free for it; the unit test covers it.
#![cfg(not(loom))]

mod common;

use std::future::Future;
use std::time::Duration;

use common::{holder_parts as parts, locked, manager, many, timed, two_waiters_for_a, Task, ABC};
use lockorder::{Error, Guard, LockManager, Mode};

/// A task for `fut`, polled once: it waits.
#[track_caller]
fn waiting<F: Future>(fut: F) -> Task<F> {
    let mut task = Task::new(fut);
    task.pending();
    task
}

/// The release of `holder` wakes `waiter`, and a newcomer takes `lock` before it runs: polled,
/// the waiter is passed over and reserves the lock. Returns the newcomer's guard.
#[track_caller]
fn passed_over<'m, F: Future>(
    m: &'m LockManager,
    lock: &str,
    holder: Guard<'m>,
    waiter: &mut Task<F>,
) -> Guard<'m> {
    drop(holder);
    assert!(waiter.woken());
    let newcomer = m.try_acquire([lock]).unwrap();
    waiter.pending(); // passed over: reserves
    newcomer
}

// === Taking: a reservation, waiting writers, a woken waiter (T3-T7) ===

/// Rows T5 (the first reader's try takes), T2 and L1 (the writer, refused by a shared holding,
/// starts waiting and counts as a waiting writer), T4, G3.
#[test]
fn once_a_writer_waits_new_readers_wait_too() {
    let m = manager(ABC);
    let r1 = m.try_acquire_shared(["a"]).unwrap();
    let mut writer = waiting(m.acquire(["a"]));
    // A new reader would overlap r1, and the writer could wait for ever: it waits instead.
    assert!(matches!(
        m.try_acquire_shared(["a"]),
        Err(Error::WouldBlock { .. })
    ));
    let mut reader = waiting(m.acquire_shared(["a"]));
    drop(r1);
    assert!(writer.woken());
    let w = writer.ready().unwrap();
    reader.pending();
    drop(w);
    assert!(reader.woken());
    assert!(reader.ready().is_ok());
}

/// A reader's first tries still yield to a waiting writer at every lock of its set, even after
/// it took the free locks before it.
///
/// Rows T4 (at every lock of a set, after first tries took the ones before).
#[test]
fn new_readers_yield_to_a_waiting_writer_in_the_middle_of_their_set() {
    let m = many(200);
    let r1 = m.try_acquire_shared(["l150"]).unwrap();
    let mut writer = waiting(m.acquire(["l150"]));
    let e = m.try_acquire_shared(["l3", "l150", "l199"]).unwrap_err();
    assert!(matches!(e, Error::WouldBlock { .. }), "{e:?}");
    assert_eq!(m.status().held().count(), 1, "the failed try gave back l3");
    let mut reader = waiting(m.acquire(["l199"]).shared(["l3", "l150"]));
    let status = m.status();
    assert!(status[3].is_locked, "the reader holds l3 while it waits");
    assert!(!status[199].is_locked, "and nothing past l150");
    drop(r1);
    assert!(writer.woken());
    let w = writer.ready().unwrap();
    assert!(reader.poll().is_pending());
    drop(w);
    assert!(reader.woken());
    let r = reader.ready().unwrap();
    assert_eq!(r.mode("l150"), Some(Mode::Shared));
    assert_eq!(r.mode("l199"), Some(Mode::Exclusive));
    assert_eq!(
        parts(r.holder()).0,
        3,
        "the holder id of the first lock is kept"
    );
    let status = m.status();
    for pos in [3, 150, 199] {
        assert_eq!(status[pos].owner, r.holder(), "l{pos}");
    }
}

/// A woken reader is not new: it joins a holding even while a writer waits, so a reader's wait
/// is bounded too. The release wakes the reader alone: it came first (the head of the line); the
/// writer behind it is woken by the reader's release. Rows T6 (shared), R2.
#[test]
fn a_woken_reader_joins_past_a_waiting_writer() {
    let m = manager(ABC);
    let holder = m.try_acquire(["a"]).unwrap();
    let mut reader = waiting(m.acquire_shared(["a"]));
    let mut writer = waiting(m.acquire(["a"]));
    drop(holder); // wakes the head of the line: the reader
    assert!(reader.woken() && !writer.woken());
    assert!(
        m.try_acquire_shared(["a"]).is_err(),
        "a new reader yields to the waiting writer"
    );
    let r = reader.ready().unwrap();
    assert_eq!(r.mode("a"), Some(Mode::Shared));
    writer.pending();
    drop(r);
    assert!(writer.woken());
    assert!(writer.ready().is_ok());
}

/// A release wakes the waiters in the order they came, a writer alone or the readers up to the
/// next writer together, and each one's release the next in line: the takes of woken waiters set
/// the waiting bits the releases cleared. Rows R2, T6 (both modes).
#[test]
fn releases_serve_the_line_in_the_order_it_came() {
    let m = manager(ABC);
    let holder = m.try_acquire(["a"]).unwrap();
    let mut w1 = waiting(m.acquire(["a"]));
    let mut r1 = waiting(m.acquire_shared(["a"]));
    let mut r2 = waiting(m.acquire_shared(["a"]));
    let mut w2 = waiting(m.acquire(["a"]));
    let mut r3 = waiting(m.acquire_shared(["a"]));
    drop(holder);
    assert!(w1.woken(), "the oldest waiter, a writer");
    for t in [r1.woken(), r2.woken(), w2.woken(), r3.woken()] {
        assert!(!t, "a writer at the head of the line is woken alone");
    }
    let g = w1.ready().unwrap();
    r1.pending();
    drop(g);
    assert!(
        r1.woken() && r2.woken(),
        "the readers up to the next writer"
    );
    assert!(
        !w2.woken() && !r3.woken(),
        "the rest of the line stays asleep"
    );
    let (g1, g2) = (r1.ready().unwrap(), r2.ready().unwrap());
    assert_eq!(m.status()[0].readers, 2);
    drop(g1);
    assert!(!w2.woken(), "a reader still holds the lock");
    drop(g2);
    assert!(w2.woken() && !r3.woken());
    let g = w2.ready().unwrap();
    r3.pending();
    drop(g);
    assert!(r3.woken());
    assert!(r3.ready().is_ok());
}

/// A woken waiter kept without being polled keeps its place at the head of the line: releases
/// wake none of the waiters queued behind it (a newcomer may still take the free lock). Polled at
/// last, it takes the lock, and its release wakes the next in line. Rows R2, T5, T6.
#[test]
fn a_woken_waiter_not_polled_keeps_its_place_at_the_head_of_the_line() {
    let m = manager(ABC);
    let holder = m.try_acquire(["a"]).unwrap();
    let mut writer = waiting(m.acquire(["a"]));
    let mut reader = waiting(m.acquire_shared(["a"]));
    drop(holder);
    assert!(writer.woken() && !reader.woken());
    let newcomer = m.try_acquire(["a"]).unwrap();
    let mut late = waiting(m.acquire(["a"]));
    drop(newcomer);
    assert!(
        !reader.woken() && !late.woken(),
        "the head of the line is a writer woken already"
    );
    let g = writer.ready().unwrap();
    drop(g);
    assert!(reader.woken() && !late.woken());
    drop(reader.ready().unwrap());
    assert!(late.woken());
    assert!(late.ready().is_ok());
}

/// A writer woken at the head of the line that gives up passes its wake-up on to the readers
/// behind it, which the release left asleep; a reader that gives up, to the writer behind it.
/// Rows G2, R2.
#[test]
fn a_woken_waiter_that_gives_up_passes_the_wake_up_to_the_next_mode_in_line() {
    let m = manager(ABC);
    for (lock, head_shared) in [("a", false), ("b", true)] {
        let holder = m.try_acquire([lock]).unwrap();
        let take = |shared: bool| {
            if shared {
                m.acquire_shared([lock])
            } else {
                m.acquire([lock])
            }
        };
        let mut head = waiting(take(head_shared));
        let mut behind = waiting(take(!head_shared));
        drop(holder);
        assert!(head.woken() && !behind.woken(), "{lock}");
        head.cancel();
        assert!(
            behind.woken(),
            "{lock}: the wake-up passes to the one behind"
        );
        assert!(behind.ready().is_ok());
    }
}

/// A waiter's exclusive take sets the waiting bits again: the release that woke it cleared them,
/// and without them the next release would wake nobody. Rows T6 (exclusive), R2.
#[test]
fn a_woken_writers_take_keeps_the_writers_behind_it_queued() {
    let m = manager(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let (mut first, mut second) = two_waiters_for_a(&m, g);
    assert!(!second.woken(), "a release wakes one writer");
    let g1 = first.ready().unwrap();
    second.pending();
    drop(g1);
    assert!(
        second.woken(),
        "the first waiter's release must wake the second"
    );
    assert!(second.ready().is_ok());
}

// === Bounded waiting: the reservation (L2-L5, T3, T7, R1, R3) ===

/// Rows L2, T3, R1, T7.
#[test]
fn a_waiter_passed_over_by_a_newcomer_gets_the_next_turn() {
    let m = manager(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut waiter = waiting(m.acquire(["a"]));
    // A newcomer takes the lock before the woken waiter runs; from now on, newcomers yield to it.
    let barger = passed_over(&m, "a", g, &mut waiter);
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

/// The shape the firmware check found: with two waiters queued, the one passed over by a newcomer
/// must get the next holding, not merely a waiter: its reservation wakes it alone, and the other
/// waiter (ahead of it in the queue now) and every newcomer yield until it has had its turn.
///
/// Rows L2, L3, L4, R1, T3, T7 (the queues re-armed).
#[test]
fn a_passed_over_waiter_gets_the_next_holding_even_behind_another_waiter() {
    let m = manager(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut b = waiting(m.acquire(["a"]));
    let mut c = waiting(m.acquire(["a"]));
    // `g`'s release wakes `b` alone; a newcomer gets in first, and `b` reserves the lock.
    let barger = passed_over(&m, "a", g, &mut b);
    assert!(!c.woken());
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

/// A waiter woken and passed over by a newcomer reserves `l100`; while the reservation stands,
/// first tries that took free locks before it yield there, in both modes.
///
/// Rows T3 (after first tries took free locks).
#[test]
fn first_tries_yield_to_a_reservation_after_taking_free_locks() {
    for shared in [false, true] {
        let m = many(200);
        let holder = m.try_acquire(["l100"]).unwrap();
        let mut waiter = if shared {
            Task::new(m.acquire_shared(["l100"]))
        } else {
            Task::new(m.acquire(["l100"]))
        };
        waiter.pending();
        let newcomer = passed_over(&m, "l100", holder, &mut waiter);
        drop(newcomer);
        assert!(waiter.woken(), "the reservation's turn");
        // The lock is free, but reserved: first tries yield, in both modes, and give back what
        // they took before it.
        let e = m.try_acquire(["l7", "l100", "l150"]).unwrap_err();
        assert!(matches!(e, Error::WouldBlock { .. }), "{e:?}");
        let e = m.try_acquire_shared(["l7", "l100"]).unwrap_err();
        assert!(matches!(e, Error::WouldBlock { .. }), "{e:?}");
        assert_eq!(m.status().held().count(), 0);
        let mut late = waiting(m.acquire(["l7", "l100"]));
        assert!(m.status()[7].is_locked);
        let g = waiter.ready().unwrap();
        assert_eq!(parts(g.holder()).0, 100);
        assert!(late.poll().is_pending());
        drop(g);
        assert!(late.woken());
        let l = late.ready().unwrap();
        assert_eq!(parts(l.holder()).0, 7);
    }
}

/// Two readers wait behind a writer; a newcomer writer gets in first, the first reader reserves
/// the lock and the second listens again. When the reserving reader takes the lock shared, the
/// second may join it, and must be woken to do so: the lock is only ever held shared from then
/// on, so no release would wake it while new readers keep overlapping.
///
/// Rows T7 (shared: wakes the readers' queue).
#[test]
fn readers_queued_behind_a_reserving_reader_join_its_holding() {
    let m = manager(ABC);
    let writer = m.try_acquire(["a"]).unwrap();
    let mut r1 = Task::new(m.acquire_shared(["a"]));
    let mut r2 = Task::new(m.acquire_shared(["a"]));
    r1.pending();
    r2.pending();
    let newcomer = passed_over(&m, "a", writer, &mut r1);
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

/// A reader that reserved a lock takes it, and readers that queued during the reservation join
/// its holding: the take wakes them. The reserved take lands on chosen generations: the flag
/// that says "wake the readers" shares a word with the generation, which must not touch it at
/// the top of the generation field nor when it wraps to zero.
///
/// Rows T7 (shared), at chosen generations.
#[test]
fn readers_queued_during_a_reservation_join_the_reserving_reader() {
    const TOP: u64 = (1 << 15) - 1;
    for target in [5, TOP - 1, TOP, 0, 1] {
        let m = many(200);
        // Holdings of l100 until the reserved take below is the one at `target`: three holdings
        // lead to it (the holder, the newcomer, the reserved take).
        loop {
            let g = m.try_acquire(["l100"]).unwrap();
            if (parts(g.holder()).1 + 3) % (TOP + 1) == target {
                break;
            }
        }
        let holder = m.try_acquire(["l100"]).unwrap();
        let mut reserving = waiting(m.acquire_shared(["l100"]));
        let newcomer = passed_over(&m, "l100", holder, &mut reserving);
        // A new reader (with a free lock first) queues behind the reservation.
        let mut queued = waiting(m.acquire_shared(["l20", "l100"]));
        drop(newcomer);
        assert!(reserving.woken());
        assert!(!queued.woken());
        let r = reserving.ready().unwrap();
        assert_eq!(parts(r.holder()), (100, target));
        assert!(
            queued.woken(),
            "generation {target}: the reserved shared take wakes the queued readers"
        );
        let q = queued.ready().unwrap();
        assert_eq!(parts(q.holder()).0, 20, "the joiner is named after l20");
        let status = m.status();
        assert!(status[100].is_locked);
        assert_eq!(
            status[100].owner,
            r.holder(),
            "one shared holding, its starter's record"
        );
        assert_eq!(status[20].owner, q.holder());
        drop((r, q));
        assert_eq!(m.status().held().count(), 0);
        // The next holding is one generation on.
        let g = m.try_acquire(["l100"]).unwrap();
        assert_eq!(parts(g.holder()).1, (target + 1) % (TOP + 1));
    }
}

/// A reserving reader's take wakes the readers queued behind it only when no writer waits: a
/// new reader that yielded to a waiting writer keeps yielding, and gets in once that writer has
/// had the lock.
///
/// Rows T7 (no wake-up while a writer waits), T4.
#[test]
fn a_reserving_readers_take_lets_no_reader_past_a_waiting_writer() {
    let m = manager(ABC);
    let first_writer = m.try_acquire(["a"]).unwrap();
    let mut r1 = waiting(m.acquire_shared(["a"]));
    let mut w = waiting(m.acquire(["a"]));
    let newcomer = passed_over(&m, "a", first_writer, &mut r1);
    w.pending(); // the reservation is taken: listens again
    assert!(
        m.try_acquire_shared(["a"]).is_err(),
        "new readers yield to w"
    );
    let mut r3 = waiting(m.acquire_shared(["a"]));
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

/// A reader waits for room on a lock held by the most readers it can have, is passed over by a
/// newcomer when one leaves, and reserves: the next reader to leave makes room for it, and that
/// release must wake it (before, only the readers' queue was woken, and its members yield to the
/// reservation, so the freed place stayed empty until every reader had left).
///
/// Rows R3, T1.
#[test]
fn a_reader_reserving_a_full_lock_gets_the_next_place() {
    let m = manager(ABC);
    let mut readers = Vec::new();
    while let Ok(g) = m.try_acquire_shared(["a"]) {
        readers.push(g);
    }
    let full = readers.len();
    assert_eq!(full, 16_382, "the most readers of one lock, as documented");
    let mut waiter = waiting(m.acquire_shared(["a"]));
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

// === Giving up (G1-G5) ===

/// Rows G1.
#[test]
fn a_passed_over_waiter_that_gives_up_leaves_no_lock_reserved() {
    let m = manager(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut waiter = waiting(m.acquire(["a"]));
    let mut second = waiting(m.acquire(["a"]));
    let barger = passed_over(&m, "a", g, &mut waiter);
    drop(barger); // wakes `waiter` again, and it is the one the lock waits for
    assert!(m.try_acquire(["a"]).is_err());
    waiter.cancel(); // gives up before it looks: its turn passes to `second`
    assert!(second.woken());
    assert!(second.ready().is_ok());
    assert!(m.try_acquire(["a"]).is_ok(), "nothing stays reserved");

    // Alone: when the only waiter gives up, newcomers are let in at once.
    let g = m.try_acquire(["b"]).unwrap();
    let mut lone = waiting(m.acquire(["b"]));
    let barger = passed_over(&m, "b", g, &mut lone);
    drop(barger);
    lone.cancel();
    assert!(m.try_acquire(["b"]).is_ok());
}

/// Rows G2.
#[test]
fn a_woken_waiter_that_is_dropped_passes_the_wake_up_on() {
    let m = manager(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let (mut first, mut second) = two_waiters_for_a(&m, g);
    first.cancel(); // woken, never used the wake-up
    assert!(second.woken(), "the wake-up must pass to the next waiter");
    assert!(second.ready().is_ok());
}

/// Rows G3.
#[test]
fn a_cancelled_waiting_writer_lets_readers_in_again() {
    let m = manager(ABC);
    let r1 = m.try_acquire_shared(["a"]).unwrap();
    let mut writer = waiting(m.acquire(["a"]));
    let mut reader = waiting(m.acquire_shared(["a"]));
    assert!(m.try_acquire_shared(["a"]).is_err());
    writer.cancel();
    assert!(reader.woken(), "the readers that yielded to it are woken");
    let r2 = reader.ready().unwrap();
    let r3 = m.try_acquire_shared(["a"]).unwrap();
    assert_eq!(m.status()[0].readers, 3);
    drop((r1, r2, r3));
}

/// Rows G3.
#[test]
fn a_timed_out_writer_lets_readers_in_again() {
    let (m, timer) = timed(ABC);
    let r1 = m.try_acquire_shared(["b"]).unwrap();
    let mut writer = waiting(m.acquire(["a", "b"]).timeout(Duration::from_secs(1)));
    assert!(m.try_acquire_shared(["b"]).is_err());
    timer.advance(Duration::from_secs(1));
    assert!(matches!(writer.ready(), Err(Error::Timeout { lock }) if lock == "b"));
    assert!(m.try_acquire_shared(["b"]).is_ok());
    assert_eq!(locked(&m, &["a", "b", "c"]), ["b"]);
    drop(r1);
}

/// A writer between two readers gives up after the release that woke the reader at the head of
/// the line (the run stopped at the writer) and before that reader takes the lock. Its place
/// passes on: the reader behind it is woken, and joins the holding the first one starts,
/// rather than sleeping beside it while new readers keep overlapping. Rows R2, G5.
#[test]
fn a_reader_behind_a_writer_that_leaves_the_line_is_woken() {
    let m = manager(ABC);
    let holder = m.try_acquire(["a"]).unwrap();
    let mut r1 = waiting(m.acquire_shared(["a"]));
    let mut writer = waiting(m.acquire(["a"]));
    let mut r3 = waiting(m.acquire_shared(["a"]));
    drop(holder); // R2: the head of the line, r1 alone (the run stops at the writer)
    assert!(r1.woken() && !r3.woken());
    writer.cancel(); // not woken: nothing to pass on (G2); G5: its place in the line
    assert!(r3.woken(), "r3 is woken when the writer ahead of it leaves");
    let g1 = r1.ready().unwrap();
    let newcomer = m.try_acquire_shared(["a"]).unwrap(); // no writer waits: joins
    let g3 = r3.ready().unwrap();
    assert_eq!(m.status()[0].readers, 3);
    drop((g1, g3, newcomer));
}

/// The same writer gives up while the holder still holds the lock (it counts itself off before
/// its entry goes): the holder's release stops at it if it comes in between; its leaving wakes
/// the reader behind it all the same. Rows G3 (a writer holds the lock: no wake-up), G5.
#[test]
fn a_writer_leaving_the_line_while_the_lock_is_held_strands_no_reader() {
    let m = manager(ABC);
    let holder = m.try_acquire(["a"]).unwrap();
    let mut writer = waiting(m.acquire(["a"]));
    let mut reader = waiting(m.acquire_shared(["a"]));
    writer.cancel();
    drop(holder);
    assert!(reader.woken());
    assert!(reader.ready().is_ok());
}

/// A writer that leaves the line while another writer holds the lock wakes nobody: the holder's
/// release serves the line (the readers behind the leaving writer, together), and readers woken
/// early would only find the lock held, and one of them would reserve it for nothing. Row G5.
#[test]
fn a_writer_leaving_the_line_while_a_writer_holds_the_lock_wakes_nobody_early() {
    let m = manager(ABC);
    let holder = m.try_acquire(["a"]).unwrap();
    let mut writer = waiting(m.acquire(["a"]));
    let mut r1 = waiting(m.acquire_shared(["a"]));
    let mut r2 = waiting(m.acquire_shared(["a"]));
    let mut last = waiting(m.acquire(["a"]));
    writer.cancel();
    assert!(
        !r1.woken() && !r2.woken(),
        "woken while the writer still holds"
    );
    drop(holder);
    assert!(r1.woken() && r2.woken() && !last.woken());
    let (g1, g2) = (r1.ready().unwrap(), r2.ready().unwrap());
    drop((g1, g2));
    assert!(last.woken());
    assert!(last.ready().is_ok());
}
