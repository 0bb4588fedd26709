//! The seed book: the committed seeds of `manager_ops` (`fuzz/seeds/manager_ops/`), written as
//! operations and encoded to the byte format, so that each says what it exercises and a change
//! of the format only needs the book run again. `fuzz/tests/seeds.rs` checks that the committed
//! files are exactly the book's (and rewrites them with `LOCKORDER_WRITE_SEEDS=1`), that each
//! decodes back to its operations, and that each runs clean.

mod spell;

use super::input::Input;
use spell::*;

/// Every seed: its file name and bytes.
pub fn book() -> Vec<(&'static str, Vec<u8>)> {
    let three = || small(&[1, 2, 3]);
    let seeds = vec![
        // A try barges in ahead of two woken waiters; the first one polled gets the lock.
        (
            "barging_try",
            three(),
            vec![
                try_(P, r(&[0])),
                acquire_in(0, r(&[0]).forever()),
                acquire_in(1, r(&[0, 1]).forever()),
                poll_in(0),
                poll_in(1),
                drop_guard(P),
                try_(P, r(&[0])),
                drop_guard(P),
                woken(P),
                woken(P),
                inspect(P),
            ],
        ),
        // A woken waiter that is dropped passes its wake-up on to the other one.
        (
            "cancel_passes_wakeup",
            three(),
            vec![
                try_(P, r(&[0])),
                acquire_in(0, r(&[0]).forever()),
                acquire_in(1, r(&[0]).forever()),
                poll_in(0),
                poll_in(1),
                drop_guard(P),
                drop_future(P),
                woken(P),
            ],
        ),
        // A task's stack three guards deep; the future at its top asks only for covered locks.
        // A pool future waits on a lock of the stack and gets it when the stack unwinds.
        (
            "deep_nesting",
            three(),
            vec![
                try_(T0, r(&[0])),
                try_(T0, r(&[1])),
                try_(T0, r(&[2]).label()),
                acquire(T0, r(&[0, 1, 2]).forever()),
                poll(T0),
                inspect(T0),
                drop_guard(T0),
                inspect(T0),
                acquire(P, r(&[1]).forever()),
                poll(P),
                unwind(T0),
                woken(P),
                inspect(P),
            ],
        ),
        // The manager's default timeout (3 ms) applies, and is counted from the first busy lock.
        (
            "default_timeout",
            small_with_timeout(3, &[1, 2, 3]),
            vec![
                try_(P, r(&[0])),
                acquire(P, r(&[0])),
                poll(P),
                advance(3),
                woken(P),
                acquire_in(1, r(&[1, 2])),
                poll_in(1),
            ],
        ),
        // Wakers that panic while a waiter gives up: the release is done all the same (the lock
        // it waited for as a writer counts it off, and every lock is free in both modes).
        // Slot 0 holds lock 0 and waits for lock 1; slot 1 waits for lock 0 with a waker that
        // panics when woken. Dropped; then reserved and dropped; then timed out.
        (
            "panicking_waker_drop",
            three(),
            vec![
                try_(P, r(&[1])),
                acquire_in(0, r(&[0, 1]).forever()),
                poll_in(0),
                acquire_in(1, r(&[0]).forever()),
                poll_panicking_in_wake(1),
                drop_future(P),
                drop_guard(P),
                woken_everywhere(),
                try_(P, r(&[1]).shared()),
                inspect(P),
            ],
        ),
        (
            "panicking_waker_reserved",
            three(),
            passed_over(
                1,
                [r(&[0, 1]).forever()],
                [
                    acquire_in(1, r(&[0]).forever()),
                    poll_panicking_in_wake(1),
                    drop_future(P),
                    drop_guard_in(0),
                    woken_everywhere(),
                    try_(P, r(&[1]).shared()),
                    inspect(P),
                ],
            ),
        ),
        (
            "panicking_waker_timeout",
            three(),
            vec![
                try_(P, r(&[1])),
                acquire_in(0, r(&[0, 1]).millis(5)),
                poll_in(0),
                acquire_in(1, r(&[0]).forever()),
                poll_panicking_in_wake(1),
                advance(9),
                woken_everywhere(),
                poll_in(0),
                drop_future(P),
                drop_guard(P),
                try_(P, r(&[0, 1]).shared()),
                inspect(P),
            ],
        ),
        // A waker that panics when cloned, as a waiting future registers it; and a writer whose
        // waker panics when a release wakes it with the readers behind it.
        (
            "panicking_waker_clone",
            three(),
            vec![
                try_(P, r(&[1])),
                acquire_in(0, r(&[0, 1]).forever()),
                poll_panicking_in_clone(0),
                poll_in(0),
                acquire_in(1, r(&[1]).forever()),
                poll_panicking_in_wake(1),
                acquire_in(2, r(&[1]).shared().forever()),
                poll_in(2),
                drop_guard(P),
                woken_everywhere(),
                inspect(P),
            ],
        ),
        // Polled again with a new waker: the old one is not woken any more, the new one is.
        (
            "fresh_waker",
            three(),
            vec![
                try_(P, r(&[0])),
                acquire(P, r(&[0]).millis(9)),
                poll(P),
                poll_fresh(0),
                drop_guard(P),
                woken(P),
                advance(20),
                poll(P),
            ],
        ),
        // Keys as Strings, LockIds (also of another manager) and unknown names; repeated keys.
        (
            "key_kinds",
            vec![9, 0, 0, 255, 7, 3, 200, 9, 1, 0, 0, 5, 6],
            vec![
                acquire_in(0, r(&[9, 3, 3, 0]).strings().forever()),
                poll_in(0),
                acquire_in(1, r(&[2, 4]).ids().forever()),
                poll_in(1),
                acquire_in(2, r(&[1, 255])),
                poll_in(2),
                try_(P, r(&[255]).ids()),
                try_(P, r(&[255]).strings()),
                inspect(P),
            ],
        ),
        // Lock sets across inline words: nesting refused and skipped on a large manager, and a
        // second task nesting upward across the words.
        (
            "large_manager_crosses_words",
            vec![0xff, 0, 0],
            vec![
                try_(P, r(&[6])),
                acquire(P, r(&[70, 71, 7, 6, 0]).forever()),
                poll(P),
                inspect(P),
                drop_guard(P),
                woken(P),
                inspect(P),
                enter(T0, 0),
                try_(T0, r(&[5])),
                acquire(T0, r(&[1]).zero()),
                poll(T0),
                try_(T0, r(&[0, 71])),
                inspect(T0),
                try_(T1, r(&[130])),
                try_(T1, r(&[64, 65]).strings()),
                try_(T1, r(&[2]).ids()),
                inspect(T1),
                unwind(T0),
                inspect(P),
            ],
        ),
        // Modes past a lock set's inline words: on a large manager, a guard nested shared in a
        // top-level guard that took nothing shared holds locks 128 and up shared (mode() says
        // so), and an exclusive request for one is an upgrade, refused.
        (
            "large_manager_nested_shared",
            vec![0xff, 0, 0],
            vec![
                try_(T0, r(&[])),
                try_(T0, r(&[0, 4]).shared()),
                inspect(T0),
                try_(T0, r(&[4])),
                acquire(T0, r(&[0, 70]).shared_key(1)),
                poll(T0),
                inspect(T0),
                unwind(T0),
            ],
        ),
        // Nested: covered locks skipped, a lower lock refused (by a future and by a try, which
        // drops the future in flight first).
        (
            "nested_skip_and_violation",
            three(),
            vec![
                try_(T0, r(&[1])),
                acquire(T0, r(&[1, 2]).forever()),
                poll(T0),
                acquire(T0, r(&[0]).forever()),
                poll(T0),
                try_(T0, r(&[0])),
                try_(T0, r(&[2]).via()),
                inspect(T0),
                unwind(T0),
                inspect(P),
            ],
        ),
        // A pool guard moves into a task; the task's nested future waits on another pool guard
        // and is woken when that is dropped.
        (
            "nested_waits_on_outer_guard",
            three(),
            vec![
                try_(P, r(&[2])),
                try_(P, r(&[0])),
                enter(T0, 1),
                acquire(T0, r(&[2]).forever()),
                poll(T0),
                drop_guard(P),
                woken(T0),
                inspect(T0),
                unwind(T0),
            ],
        ),
        // A walk that took two locks waits for the third, times out and gives both back.
        (
            "partial_walk_then_timeout",
            three(),
            vec![
                try_(P, r(&[2])),
                acquire(P, r(&[0, 1, 2]).millis(2)),
                poll(P),
                inspect(P),
                advance(2),
                woken(P),
                inspect(P),
            ],
        ),
        // Polled after completion: a pool future after its guard, a task's future after its
        // error.
        (
            "polled_after_completion",
            three(),
            vec![
                acquire(P, r(&[]).forever()),
                poll(P),
                poll(P),
                try_(P, r(&[])),
                enter(T0, 0),
                acquire(T0, r(&[255]).forever()),
                poll(T0),
                poll(T0),
                acquire(T0, r(&[0]).forever()),
                poll(T0),
                poll(T0),
                unwind(T0),
            ],
        ),
        // Status times across a waiting walk, holder ids through nesting, a cut label.
        (
            "status_times_and_holders",
            three(),
            vec![
                try_(P, r(&[1])),
                advance(10),
                acquire(P, r(&[0, 1, 2]).forever()),
                poll(P),
                advance(20),
                inspect(P),
                drop_guard(P),
                woken(P),
                advance(5),
                enter(T0, 0),
                try_(T0, r(&[])),
                inspect(T0),
                unwind(T0),
                try_(P, r(&[0, 2]).long_label().via()),
                advance(1),
                inspect(P),
                drop_guard(P),
                try_(P, r(&[0])),
            ],
        ),
        // A nested timeout, polled after it, then a nested try that replaces the failed future.
        (
            "task_timeout_then_try",
            three(),
            vec![
                try_(T0, r(&[0])),
                try_(P, r(&[1])),
                acquire(T0, r(&[1]).millis(5)),
                poll(T0),
                advance(4),
                woken(T0),
                advance(1),
                woken(T0),
                poll(T0),
                try_(T0, r(&[2])),
                inspect(T0),
                unwind(T0),
            ],
        ),
        // A task's root from the manager waits; nested acquires replace each other; popping.
        (
            "task_root_waits",
            three(),
            vec![
                try_(P, r(&[0])),
                acquire(T1, r(&[0, 1]).forever()),
                poll(T1),
                drop_guard(P),
                woken(T1),
                inspect(T1),
                acquire(T1, r(&[2]).zero()),
                acquire(T1, r(&[2]).forever()),
                poll(T1),
                inspect(T1),
                drop_future(T1),
                drop_guard(T1),
                drop_guard(T1),
                drop_guard(T1),
                inspect(P),
            ],
        ),
        // Owned guards and futures: a task's root taken through the Arc, with borrowed guards
        // nested in it; a pool guard moved into a task; and, once the harness has dropped its
        // Arc, a waiting owned future and an owned guard that keep the manager alive.
        (
            "owned_outlive_the_arc",
            three(),
            vec![
                try_(T0, r(&[0]).owned().label()),
                try_(T0, r(&[1])),
                acquire(T0, r(&[2]).forever()),
                poll(T0),
                inspect(T0),
                drop_guard(T0),
                try_(P, r(&[2]).owned()),
                enter(T1, 0),
                try_(T1, r(&[2]).via()),
                inspect(T1),
                unwind(T1),
                unwind(T0),
                try_(P, r(&[0]).owned()),
                acquire_in(1, r(&[0, 2]).owned().forever()),
                poll_in(1),
                inspect(P),
            ],
        ),
        // Blocking waits that cannot block: free locks taken, a zero timeout on a busy lock, a
        // wait that would block (not run), an unknown lock, and nested waits in a task.
        (
            "blocking_waits",
            three(),
            vec![
                wait(P, r(&[0])),
                wait(P, r(&[0, 1]).zero()),
                wait(P, r(&[0]).forever()),
                wait(P, r(&[255]).owned()),
                wait(T0, r(&[1]).owned().label()),
                wait(T0, r(&[0])),
                wait(T0, r(&[2]).millis(5)),
                inspect(T0),
                inspect(P),
            ],
        ),
        // Readers share a lock; a waiting writer stops new readers (a try fails, an acquire
        // waits); the last reader out wakes the writer and the waiting reader, which finds the
        // writer in and reserves the lock; then the writer's release lets it in.
        (
            "readers_share_writer_waits",
            three(),
            vec![
                try_(P, r(&[0]).shared()),
                try_(P, r(&[0, 1]).shared_key(0).label()),
                inspect(P),
                acquire(P, r(&[0]).forever()),
                poll(P),
                try_(P, r(&[0]).shared()),
                acquire_in(1, r(&[0]).shared().forever()),
                poll_in(1),
                drop_guard(P),
                inspect(P),
                drop_guard_in(1),
                woken(P),
                inspect(P),
                drop_guard(P),
                woken(P),
                inspect(P),
            ],
        ),
        // A writer that gives up waiting lets the readers that yielded to it in.
        (
            "cancelled_writer_lets_readers_in",
            three(),
            vec![
                try_(P, r(&[0]).shared()),
                acquire(P, r(&[0]).forever()),
                poll(P),
                acquire_in(1, r(&[0]).shared().forever().via()),
                poll_in(1),
                drop_future(P),
                woken(P),
                inspect(P),
            ],
        ),
        // Bounded waiting: a woken writer that finds a newcomer in reserves the lock; newcomers
        // (a writer, a reader) then yield until it has taken it.
        (
            "passed_over_waiter_has_priority",
            three(),
            passed_over(
                0,
                [r(&[0]).forever()],
                [
                    drop_guard(P),
                    try_(P, r(&[0])),
                    try_(P, r(&[0]).shared()),
                    woken(P),
                    try_(T0, r(&[0]).shared()),
                    inspect(P),
                ],
            ),
        ),
        // The reserving waiter's take lifts the reservation: once it has released the lock the
        // queue behind it is woken, and a newcomer may barge in again.
        (
            "priority_take_lifts_reservation",
            three(),
            passed_over(
                0,
                [r(&[0]).forever(), r(&[0]).forever()],
                [
                    drop_guard(P),
                    woken(P),
                    drop_guard(P),
                    try_(P, r(&[0])),
                    inspect(P),
                ],
            ),
        ),
        // A reserving waiter that gives up lifts the reservation and wakes the queue.
        (
            "reservation_lifted_when_waiter_leaves",
            three(),
            vec![
                try_(P, r(&[0])),
                acquire(P, r(&[0]).forever()),
                acquire_in(1, r(&[0]).forever()),
                poll(P),
                poll_in(1),
                drop_guard(P),
                try_(P, r(&[0])),
                poll(P),
                drop_guard(P),
                drop_future(P),
                woken(P),
                try_(P, r(&[0])),
                inspect(P),
            ],
        ),
        // A reserved lock goes to the waiter that reserved it, whatever its place in the queue:
        // the release wakes it alone, the waiter queued ahead of it and newcomers yield, and its
        // own release then wakes the queue.
        (
            "reserved_lock_goes_to_its_waiter",
            three(),
            passed_over(
                0,
                [r(&[0]).forever(), r(&[0]).forever(), r(&[0]).forever()],
                [
                    drop_guard(P),
                    poll_in(1),
                    try_(P, r(&[0]).shared()),
                    inspect(P),
                    woken(P),
                    drop_guard(P),
                    woken(P),
                    inspect(P),
                ],
            ),
        ),
        // Two readers wait behind a writer; a newcomer writer passes them over, the first
        // reserves the lock and the second listens again. The reserving reader's shared take
        // wakes the second, which joins it beside a new reader.
        (
            "readers_join_a_reserving_reader",
            three(),
            passed_over(
                0,
                [r(&[0]).shared().forever(), r(&[0]).shared().forever()],
                [
                    poll_in(1),
                    drop_guard(P),
                    woken(P),
                    try_(P, r(&[0]).shared()),
                    woken(P),
                    inspect(P),
                ],
            ),
        ),
        // As above with a writer waiting too: the reserving reader's take lets no new reader
        // past that writer; the writer's release lets them in.
        (
            "reserving_reader_keeps_writer_preference",
            three(),
            passed_over(
                0,
                [r(&[0]).shared().forever(), r(&[0]).forever()],
                [
                    poll_in(1),
                    acquire_in(2, r(&[0]).shared().forever()),
                    poll_in(2),
                    drop_guard(P),
                    woken(P),
                    inspect(P),
                    drop_guard(P),
                    woken(P),
                    woken(P),
                    inspect(P),
                ],
            ),
        ),
        // Modes in nesting: a key asked for both ways is exclusive; a shared request for a
        // covered lock is skipped in either mode; an exclusive one for a lock held shared is an
        // upgrade, refused; nested shared requests through borrowed and owned guards.
        (
            "modes_in_nesting",
            three(),
            vec![
                try_(T0, r(&[0, 1, 1]).shared_key(0).shared_key(1)),
                inspect(T0),
                try_(T0, r(&[0])),
                acquire(T0, r(&[0, 2]).shared_key(1)),
                poll(T0),
                try_(T0, r(&[0, 1]).shared()),
                try_(T0, r(&[2]).shared().via()),
                inspect(T0),
                unwind(T0),
                try_(T1, r(&[1]).shared().owned()),
                acquire(T1, r(&[2]).shared().via()),
                poll(T1),
                inspect(T1),
                wait(T1, r(&[1])),
                unwind(T1),
            ],
        ),
        // A timeout fires when polled at its deadline, not before.
        (
            "timeout_at_deadline",
            three(),
            vec![
                try_(P, r(&[0])),
                acquire(P, r(&[0]).millis(5)),
                poll(P),
                advance(4),
                poll(P),
                advance(1),
                woken(P),
                poll(P),
            ],
        ),
        // Two stacks: one waits on the other's nested guard and gets it when that is popped.
        (
            "two_stacks",
            three(),
            vec![
                try_(T0, r(&[0])),
                try_(T0, r(&[2])),
                try_(T1, r(&[1])),
                acquire(T1, r(&[2]).forever().label()),
                poll(T1),
                inspect(T1),
                drop_guard(T0),
                woken_everywhere(),
                inspect(T1),
                inspect(T0),
                drop_guard(T1),
                drop_guard(T1),
                drop_guard(T0),
            ],
        ),
        // Unwinding a stack with a future in flight releases innermost first and wakes a pool
        // waiter.
        (
            "unwind_wakes_waiters",
            three(),
            vec![
                try_(P, r(&[2])),
                try_(T0, r(&[0])),
                try_(T0, r(&[1])),
                acquire(T0, r(&[2]).forever()),
                poll(T0),
                acquire_in(1, r(&[0, 1]).forever()),
                poll_in(1),
                unwind(T0),
                woken_everywhere(),
                inspect(P),
            ],
        ),
        // A release wakes the waiter, which then takes the rest of its set.
        (
            "wake_after_release",
            three(),
            vec![
                try_(P, r(&[0, 1])),
                acquire(P, r(&[2, 1]).forever()),
                poll(P),
                drop_guard(P),
                woken(P),
                inspect(P),
            ],
        ),
        // A zero timeout tries once: a busy lock times out at the first poll, free ones are
        // taken.
        (
            "zero_timeout_tries_once",
            three(),
            vec![
                try_(P, r(&[1])),
                acquire(P, r(&[0, 1]).zero()),
                poll(P),
                inspect(P),
                drop_guard(P),
                acquire_in(1, r(&[0, 1]).zero()),
                poll_in(1),
            ],
        ),
    ];
    seeds
        .into_iter()
        .map(|(name, mut bytes, ops)| {
            let header = bytes.len();
            for op in &ops {
                op.encode(&mut bytes);
            }
            assert_eq!(
                Input::decode(&bytes).ops,
                ops,
                "seed {name}: the bytes after the header ({header}) decode to other ops"
            );
            (name, bytes)
        })
        .collect()
}
