//! The hand-off policy: who may take a lock, what a refused waiter does next, and whom a release
//! wakes. This module is its one home: the decisions, as pure functions of the lock word (no
//! atomics, no waiter lists, no wakers), and the table below. [`crate::raw`] holds the mechanism (the
//! atomic word, the three waiter lists, the count of waiting writers) and asks these functions at each
//! step; [`crate::walk`] asks them what a refused or woken waiter does. Tests: the unit tests
//! below check the functions row by row; `tests/handoff.rs` checks each row through the public
//! API; the loom models (`tests/loom.rs`), the fuzz model (`fuzz/src/manager_ops/lock.rs`, an
//! independent restatement of this table) and the firmware's hand-off checks check it under
//! concurrency.
//!
//! # The word
//!
//! ```text
//!   31 ........ 17 | 16       | 15     | 14     | 13 ......... 0
//!   generation     | RESERVED | WAIT_X | WAIT_S | holders
//! ```
//!
//! * `holders`: 0 when free, the number of readers when held shared, all ones when held
//!   exclusively.
//! * `WAIT_S` / `WAIT_X`: someone may listen on the readers' / writers' list. A listener sets its
//!   bit after registering and before trying again; a waiter's take sets both (T6, T7); a release
//!   that frees the lock clears both.
//! * `RESERVED`: a waiter passed over by a newcomer holds the lock's next turn (bounded waiting).
//! * `generation` names a holding, for status readers (see [`crate::record`]).
//!
//! Besides the word, a lock counts its waiting writers (`writers_waiting`): while it is not zero,
//! *new* readers yield (writer preference).
//!
//! # Who asks
//!
//! A [`Turn`]: a **newcomer** (`New`: a first try; `Listening`: the try right after it registered
//! a listener, which still counts as new), a **woken waiter** (`Woken`: its listener fired at
//! least once), or the **reserving waiter** (`Reserved`: it holds the lock's reservation).
//!
//! # The table
//!
//! A take, by lock word and who asks ("room": held shared by fewer than [`MAX_READERS`]):
//!
//! | row | lock word | who asks | exclusive | shared |
//! |-----|-----------|----------|-----------|--------|
//! | T1 | held exclusive, or shared by `MAX_READERS` | anyone | busy (`Held`) | busy (`Held`) |
//! | T2 | held shared, room | anyone | busy (`Held`) | as T3-T7 |
//! | T3 | free or room, `RESERVED` | newcomer, woken waiter | yields (`Yield`) | yields (`Yield`) |
//! | T4 | free or room, writers waiting | newcomer | as T5 / T6 | yields (`Yield`) |
//! | T5 | free (or room) | newcomer `New` | takes | takes |
//! | T6 | free (or room) | `Listening`, woken waiter | takes, sets `WAIT_S` and `WAIT_X` (others may queue behind it: the release that woke it cleared the bits and woke only the head of the line) | as exclusive (a woken reader joins past waiting writers: it is not new) |
//! | T7 | free (or room), `RESERVED` | reserving waiter | takes, clears `RESERVED`, sets `WAIT_S` and `WAIT_X` (the releases during the reservation cleared them without waking the queues; this holder's release wakes them) | as exclusive, and if no writer waits, wakes the readers' queue: they may join its holding |
//!
//! A refused try, by who asks (a waiter with a context; a try without one just fails):
//!
//! | row | who asks | refused as | then |
//! |-----|----------|------------|------|
//! | L1 | newcomer `New` | any | starts waiting: a writer counts itself in `writers_waiting`; listens on its mode's queue; asks again as `Listening` |
//! | L2 | woken waiter | `Held` (a newcomer got in first) | reserves the lock if nobody has: listens on the reservation's list, sets `RESERVED`, asks again as `Reserved`; if someone has, as L3 |
//! | L3 | `Listening`, woken waiter | `Yield`, or as above | listens on its mode's queue again |
//! | L4 | reserving waiter | any | listens on the reservation's list again |
//! | L5 | a listener fires | | asks again as a woken waiter (the reserving waiter stays `Reserved`) |
//!
//! A release, and a waiter that stops waiting:
//!
//! | row | event | wakes |
//! |-----|-------|-------|
//! | R1 | a release frees the lock, `RESERVED` set | the reserving waiter alone (the queues stay asleep; their bits are cleared) |
//! | R2 | a release frees the lock, not reserved, `WAIT_S` or `WAIT_X` | the head of the line, the two queues' waiters in the order they came: if readers come first, those not woken yet up to the next writer; else the first writer, alone, unless it or another writer is woken already |
//! | R3 | a reader leaves a lock shared by `MAX_READERS` | the reserving waiter if `RESERVED`, else every reader if `WAIT_S` |
//! | G1 | the reserving waiter gives up | lifts `RESERVED` (the waiting bits stay: a writer that took the lock may still be about to discard its listener, and its release must see the `WAIT_X` its take set); wakes every reader, and one writer more than are notified already |
//! | G2 | a woken waiter gives up without taking the lock | every reader, and one more writer than are notified (its wake-up passes on, to whichever mode is next in line) |
//! | G3 | the last counted writer stops waiting (took the lock, or gave up) | every reader, if `WAIT_S` and no writer holds the lock (its release will) |
//! | G4 | the reserving waiter gives up, its listener notified and unused | that wake-up passes to the next reserving waiter, one more than are notified (it may be a new reservation's: see [`passes_on`]) |
//! | G5 | a writer listening in the line gives up, its listener not notified | once its entry is gone, the head of the line if it is readers (up to the next writer), unless a writer holds the lock with a waiting bit or the reservation set (its release will serve the line): a release's wake-up of a run of readers may have stopped at this writer, leaving those behind it asleep (see [`leaves_the_line`]) |
//!
//! Which row applies is the caller's to see, from the facts only it has: `raw` knows whether a
//! release freed the lock (R1, R2: the last holder left) or made room (R3: a reader left a full
//! lock), and whether the writer that stops waiting was the last one counted (G3); `walk` knows
//! whether a waiter was woken, whether it holds the reservation (G1, G2) and its mode (only a
//! writer counts itself, L1). What each row then does is decided here.
//!
//! Why it bounds waiting: a newcomer can pass a woken waiter once (T5); the waiter then reserves
//! (L2), and every other taker yields until it has taken the lock (T3, R1, T7). A reader yields
//! to waiting writers only while it is new (T4), so writers are not starved and readers that
//! yielded are woken when the writers are gone (G3).
//!
//! Why a release wakes only the head of the line (R2): the queues' waiters are served in the
//! order they came, a writer alone or a run of readers together, as `tokio`'s `RwLock` serves
//! them. Waking every reader and a writer at each release, as this table did before, woke a crowd
//! of which most found the lock taken by the others and listened again: under a read-mostly load
//! with 64 tasks that cost half the throughput and three times the tail. Whoever the release does
//! not wake stays listed with its bit cleared; the waiter it wakes sets both bits again when it
//! takes the lock (T6), so that its own release serves the next in line, or passes its wake-up on
//! if it gives up instead (G2).

/// The holders field of the word.
pub(crate) const HOLDERS: u32 = (1 << 14) - 1;
/// The holders field of a lock held exclusively.
pub(crate) const EXCLUSIVE: u32 = HOLDERS;
/// The most readers one lock can have at once; more wait for one to leave.
pub(crate) const MAX_READERS: u32 = HOLDERS - 1;
/// Someone may listen on the readers' list.
pub(crate) const WAIT_S: u32 = 1 << 14;
/// Someone may listen on the writers' list.
pub(crate) const WAIT_X: u32 = 1 << 15;
/// A waiter holds the lock's next turn.
pub(crate) const RESERVED: u32 = 1 << 16;
/// Where the generation starts in the word.
pub(crate) const GEN_SHIFT: u32 = 17;
/// One generation, in the word.
pub(crate) const GENERATION: u32 = 1 << GEN_SHIFT;

/// Who is asking for a lock, which decides whether it must yield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// A first try: yields to a reservation and (for readers) to waiting writers.
    New,
    /// A try right after registering a listener: as `New`, with the orderings that pair with a
    /// release's or a giving-up writer's check of the waiting bits.
    Listening,
    /// A waiter that has been woken at least once: a reader no longer yields to waiting writers
    /// (it is not new); both modes still yield to a reservation.
    Woken,
    /// The waiter holding the lock's reservation: nobody else may take the lock.
    Reserved,
}

/// Why a try failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// Held in a conflicting mode (or by the most readers a lock can have).
    Held,
    /// Free or shareable, but this taker yields: to a reservation, or to waiting writers.
    Yield,
}

/// The wake-ups a release or a waiter that gives up owes the queues of a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Owed {
    /// Every reader.
    pub(crate) readers: bool,
    /// One writer more than are notified already, whoever they are (G1, G2): a notification
    /// that is already out may belong to a writer that took the lock and is about to discard it
    /// unused, so it cannot stand for this one.
    pub(crate) extra_writer: bool,
    /// The reserving waiter, one more than are notified already (G4).
    pub(crate) reserver: bool,
    /// The head of the line (R2): the oldest waiter of the two queues not notified, a writer
    /// alone (unless a writer is notified already: every notified writer tries the lock when it
    /// wakes, and the one that takes it sets the bits again for the rest), or the readers from it
    /// up to the next writer.
    pub(crate) head: bool,
    /// The head of the line if it is readers (G5).
    pub(crate) run: bool,
}

impl Owed {
    /// Both debts.
    #[inline]
    pub(crate) fn and(self, other: Owed) -> Owed {
        Owed {
            readers: self.readers || other.readers,
            extra_writer: self.extra_writer || other.extra_writer,
            reserver: self.reserver || other.reserver,
            head: self.head || other.head,
            run: self.run || other.run,
        }
    }
}

// === Taking (rows T1-T7) ===

/// Whether a reader asking on `turn` yields while writers wait (T4: only a newcomer does).
#[inline(always)]
pub(crate) fn yields_to_writers(turn: Turn) -> bool {
    match turn {
        Turn::New => !fault!("new-readers-ignore-waiting-writer"),
        Turn::Listening => true,
        Turn::Woken | Turn::Reserved => false,
    }
}

/// An exclusive take of the word `state` on `turn`: the next word, or why not.
#[inline(always)]
pub(crate) fn take_exclusive(state: u32, turn: Turn) -> Result<u32, Busy> {
    if state & HOLDERS != 0 && !fault!("raw-lock-ignores-holder") {
        return Err(Busy::Held); // T1, T2
    }
    let next = state.wrapping_add(GENERATION) | EXCLUSIVE;
    Ok(match turn {
        Turn::Reserved if fault!("reserved-take-leaves-queues-unarmed") => next & !RESERVED,
        Turn::Reserved => (next & !RESERVED) | WAIT_S | WAIT_X, // T7
        _ if state & RESERVED != 0 && !fault!("newcomers-ignore-reservation") => {
            return Err(Busy::Yield); // T3
        }
        Turn::New => next,                                       // T5
        Turn::Listening | Turn::Woken => next | WAIT_S | WAIT_X, // T6
    })
}

/// A shared take of the word `state` on `turn` (`yields`: whether this reader yields to waiting
/// writers, [`yields_to_writers`] and a writer waiting): the next word and whether the take
/// starts a holding, or why not.
#[inline(always)]
pub(crate) fn take_shared(state: u32, turn: Turn, yields: bool) -> Result<(u32, bool), Busy> {
    let holders = state & HOLDERS;
    if (holders == EXCLUSIVE && !fault!("shared-take-ignores-writer")) || holders == MAX_READERS {
        return Err(Busy::Held); // T1
    }
    if yields || (state & RESERVED != 0 && turn != Turn::Reserved) {
        return Err(Busy::Yield); // T4, T3
    }
    let first = holders == 0;
    let mut next = state + 1; // T5, T6
    if first {
        next = next.wrapping_add(GENERATION);
    }
    if turn == Turn::Reserved {
        next = (next & !RESERVED) | WAIT_S | WAIT_X; // T7
    } else if turn != Turn::New {
        next |= WAIT_S | WAIT_X; // T6
    }
    Ok((next, first))
}

/// After a shared take on `turn`: whether the taker must wake the readers' queue (T7: a
/// reserved take with no writer waiting; `writers_wait` is asked only then). Readers that queued
/// while the lock was reserved may join this holding, and only the last reader's release would
/// wake them: while new readers keep overlapping, that release never comes. Unless a writer
/// waits: then new readers yield, the holding ends, and the writer's take and release, or its
/// giving up (G3), wake them.
#[inline(always)]
pub(crate) fn shared_take_wakes_readers(turn: Turn, writers_wait: impl FnOnce() -> bool) -> bool {
    turn == Turn::Reserved && !writers_wait()
}

// === Refused (rows L1-L5) ===

/// What a waiter does after a refused try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// L1: start waiting (a writer counts itself as waiting), listen on the mode's queue, and
    /// ask again as [`Turn::Listening`].
    StartWaiting,
    /// L2: reserve the lock and ask again as [`Turn::Reserved`]; if another waiter has reserved
    /// it, [`Requeue`](Self::Requeue).
    Reserve,
    /// L3: listen on the mode's queue again.
    Requeue,
    /// L4: listen on the reservation's list again.
    AwaitReservation,
}

/// What a waiter asking on `turn`, refused as `busy`, does next.
#[inline]
pub(crate) fn refused(turn: Turn, busy: Busy) -> Then {
    match (turn, busy) {
        (Turn::New, _) => Then::StartWaiting,
        (Turn::Woken, Busy::Held) if !fault!("reservation-never-taken") => Then::Reserve,
        (Turn::Reserved, _) => Then::AwaitReservation,
        (Turn::Listening | Turn::Woken, _) => Then::Requeue,
    }
}

/// The turn of a waiter asking on `turn` whose listener fired (L5).
#[inline]
pub(crate) fn woken(turn: Turn) -> Turn {
    match turn {
        Turn::Reserved => Turn::Reserved,
        _ => Turn::Woken,
    }
}

/// Whether the word `state` may be reserved (L2: one reservation at a time).
#[inline]
pub(crate) fn may_reserve(state: u32) -> bool {
    state & RESERVED == 0
}

// === Releasing and giving up (rows R1-R3, G1-G5) ===

/// Whom a release wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The reserving waiter, alone.
    Reserver,
    /// The queues.
    Queues(Owed),
}

/// The bits a release that frees the lock clears (with the holders): R1, R2.
pub(crate) const FREED: u32 = !(HOLDERS | WAIT_S | WAIT_X);

/// Whether a release that frees the lock (`old`: the word before) has anyone to wake: the
/// cheap test on the release path, before [`freed`].
#[inline(always)]
pub(crate) fn anyone_waits(old: u32) -> bool {
    old & (WAIT_S | WAIT_X | RESERVED) != 0
}

/// Whom a release that freed the lock (`old`: the word before) wakes.
#[inline]
pub(crate) fn freed(old: u32) -> Wake {
    if old & RESERVED != 0 && !fault!("release-ignores-reservation") {
        return Wake::Reserver; // R1
    }
    Wake::Queues(Owed {
        head: old & (WAIT_S | WAIT_X) != 0, // R2
        ..Owed::default()
    })
}

/// Whom a reader leaving a lock shared by [`MAX_READERS`] (`old`: the word before) wakes (R3).
#[inline]
pub(crate) fn room_for_a_reader(old: u32) -> Wake {
    if old & RESERVED != 0 {
        return Wake::Reserver;
    }
    Wake::Queues(Owed {
        readers: old & WAIT_S != 0,
        ..Owed::default()
    })
}

/// The bits the reserving waiter's giving up clears (G1): the reservation alone. The waiting
/// bits stay: the holder may be a writer that took the lock with a listener (T6), setting
/// `WAIT_X` for the writers queued behind it, and that has not yet discarded the listener; the
/// lift's own writer wake-up may land on that very listener and go with it, so the holder's
/// release must still see the bit. A bit left set on a free lock costs a spurious wake-up at
/// most.
pub(crate) const LIFTED: u32 = !RESERVED;

/// What the reserving waiter's giving up owes (G1): the releases during the reservation cleared
/// the queues' bits without waking them, so both queues are woken whatever the bits say.
///
/// The writer's wake-up is one more than are notified, not a top-up to one: a notification that
/// is already out may belong to a writer that took the lock and is about to discard it unused.
#[inline]
pub(crate) fn lifted() -> Owed {
    Owed {
        readers: true,
        extra_writer: true,
        ..Owed::default()
    }
}

/// What a waiter on `turn` that gives up owes for a notification its listener had received and
/// not used (`woken`): the reserving waiter's passes to the next reserving waiter (G4); any other
/// waiter's to whoever is next in line (G2), a reader or a writer: every reader, and one writer
/// more than are notified (a notification already out may be a writer's that took the lock and is
/// about to discard it unused, so it cannot stand for this one).
///
/// G4: the reserving waiter lifts its reservation (G1) before it discards its listener (the
/// bookkeeping first, the foreign code after). In between, a newcomer may reserve the lock and
/// the holder's release notify the reservation's list: the first listener in line is this one,
/// so the wake-up meant for the new reservation would go with it.
#[inline]
pub(crate) fn passes_on(turn: Turn, woken: bool) -> Owed {
    if !woken || fault!("cancel-keeps-wake-up") {
        return Owed::default();
    }
    match turn {
        Turn::Reserved => Owed {
            reserver: true, // G4
            ..Owed::default()
        },
        _ => Owed {
            readers: true, // G2
            extra_writer: true,
            ..Owed::default()
        },
    }
}

/// What a writer that gives up owes for its place in the line (G5), if its listener in the
/// writers' list was not notified (a woken writer passes its wake-up on instead, G2; a reader's
/// entry stops no run), with `state` the word read after its entry is gone. Its entry may be where
/// a release's wake-up of a run of readers at the head of the line stopped, and the readers
/// behind it sleep, though they could join those woken before it (who may have taken the lock and
/// left the line already): the head of the line is woken if it is readers. Not if it is a writer,
/// which a release wakes (woken early, it would only find the lock held and reserve it); and not
/// while a writer holds the lock with a waiting bit or the reservation set: only a release that
/// frees the lock clears them, so that release is still to come, and it serves the line, which no
/// longer has this entry.
#[inline]
pub(crate) fn leaves_the_line(state: u32) -> Owed {
    let holder_serves = state & HOLDERS == EXCLUSIVE && state & (WAIT_S | WAIT_X | RESERVED) != 0;
    Owed {
        run: !holder_serves && !fault!("writer-giving-up-strands-readers"),
        ..Owed::default()
    }
}

/// Whether the last counted writer to stop waiting (`state`: the word as it stops) wakes the
/// readers that yielded to it (G3): unless a writer holds the lock (its release wakes them).
#[inline]
pub(crate) fn last_writer_wakes_readers(state: u32) -> bool {
    state & WAIT_S != 0 && state & HOLDERS != EXCLUSIVE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::Mode;

    const X: Mode = Mode::Exclusive;
    const S: Mode = Mode::Shared;
    const ALL: [Turn; 4] = [Turn::New, Turn::Listening, Turn::Woken, Turn::Reserved];
    const NEWCOMERS: [Turn; 2] = [Turn::New, Turn::Listening];
    const FREE: u32 = 5 * GENERATION;
    const HELD_X: u32 = FREE | EXCLUSIVE;
    const SHARED: u32 = FREE | 2;
    const FULL: u32 = FREE | MAX_READERS;

    fn take(state: u32, mode: Mode, turn: Turn, writers_wait: bool) -> Result<u32, Busy> {
        match mode {
            X => take_exclusive(state, turn),
            S => take_shared(state, turn, yields_to_writers(turn) && writers_wait).map(|t| t.0),
        }
    }

    #[test]
    fn t1_held_exclusive_or_full_is_busy_for_everyone() {
        for state in [HELD_X, FULL, HELD_X | RESERVED, FULL | RESERVED] {
            for turn in ALL {
                for mode in [X, S] {
                    assert_eq!(take(state, mode, turn, false), Err(Busy::Held));
                }
            }
        }
    }

    #[test]
    fn t2_held_shared_is_busy_for_writers_only() {
        for turn in ALL {
            assert_eq!(take(SHARED, X, turn, false), Err(Busy::Held));
            assert_eq!(take(SHARED | RESERVED, X, turn, false), Err(Busy::Held));
        }
        assert_eq!(take(SHARED, S, Turn::New, false), Ok(SHARED + 1));
    }

    #[test]
    fn t3_a_reservation_makes_everyone_else_yield() {
        for state in [FREE | RESERVED, SHARED | RESERVED] {
            for turn in [Turn::New, Turn::Listening, Turn::Woken] {
                assert_eq!(take(state, S, turn, false), Err(Busy::Yield), "{turn:?}");
            }
        }
        for turn in [Turn::New, Turn::Listening, Turn::Woken] {
            assert_eq!(take(FREE | RESERVED, X, turn, false), Err(Busy::Yield));
        }
    }

    #[test]
    fn t4_new_readers_yield_to_waiting_writers_woken_ones_do_not() {
        for state in [FREE, SHARED] {
            for turn in NEWCOMERS {
                assert_eq!(take(state, S, turn, true), Err(Busy::Yield), "{turn:?}");
                assert!(take(state, S, turn, false).is_ok());
            }
            assert!(take(state, S, Turn::Woken, true).is_ok());
            assert!(take(state | RESERVED, S, Turn::Reserved, true).is_ok());
        }
        // A writer does not yield to other writers: it queues only when the lock is taken.
        assert!(take(FREE, X, Turn::New, true).is_ok());
    }

    #[test]
    fn t5_a_first_try_takes_and_starts_a_new_generation() {
        assert_eq!(
            take(FREE, X, Turn::New, false),
            Ok((FREE + GENERATION) | EXCLUSIVE)
        );
        assert_eq!(
            take_shared(FREE, Turn::New, false),
            Ok(((FREE + GENERATION) + 1, true))
        );
        assert_eq!(
            take_shared(SHARED, Turn::New, false),
            Ok((SHARED + 1, false))
        );
    }

    #[test]
    fn t6_a_waiters_take_sets_both_waiting_bits_again() {
        for turn in [Turn::Listening, Turn::Woken] {
            assert_eq!(
                take(FREE, X, turn, false),
                Ok((FREE + GENERATION) | EXCLUSIVE | WAIT_S | WAIT_X)
            );
            assert_eq!(
                take(SHARED, S, turn, false),
                Ok((SHARED + 1) | WAIT_S | WAIT_X)
            );
            assert_eq!(
                take(FREE, S, turn, false),
                Ok((FREE + GENERATION + 1) | WAIT_S | WAIT_X)
            );
        }
        // A first try sets no bit: the uncontended path touches nothing but the word.
        assert_eq!(take(SHARED, S, Turn::New, false), Ok(SHARED + 1));
    }

    #[test]
    fn t7_the_reserving_waiters_take_lifts_the_reservation_and_arms_the_queues() {
        assert_eq!(
            take(FREE | RESERVED, X, Turn::Reserved, false),
            Ok((FREE + GENERATION) | EXCLUSIVE | WAIT_S | WAIT_X)
        );
        assert_eq!(
            take(SHARED | RESERVED, S, Turn::Reserved, true),
            Ok((SHARED + 1) | WAIT_S | WAIT_X)
        );
        assert!(shared_take_wakes_readers(Turn::Reserved, || false));
        assert!(!shared_take_wakes_readers(Turn::Reserved, || true));
        for turn in [Turn::New, Turn::Listening, Turn::Woken] {
            assert!(!shared_take_wakes_readers(turn, || false), "{turn:?}");
        }
    }

    #[test]
    fn l1_to_l5_what_a_refused_waiter_does() {
        for busy in [Busy::Held, Busy::Yield] {
            assert_eq!(refused(Turn::New, busy), Then::StartWaiting);
            assert_eq!(refused(Turn::Listening, busy), Then::Requeue);
            assert_eq!(refused(Turn::Reserved, busy), Then::AwaitReservation);
        }
        assert_eq!(refused(Turn::Woken, Busy::Held), Then::Reserve);
        assert_eq!(refused(Turn::Woken, Busy::Yield), Then::Requeue);
        assert!(may_reserve(HELD_X) && !may_reserve(HELD_X | RESERVED));
        for turn in [Turn::New, Turn::Listening, Turn::Woken] {
            assert_eq!(woken(turn), Turn::Woken);
        }
        assert_eq!(woken(Turn::Reserved), Turn::Reserved);
    }

    #[test]
    fn r1_r2_a_release_wakes_the_reserver_alone_or_the_queues() {
        let both = HELD_X | WAIT_S | WAIT_X;
        assert_eq!(freed(both | RESERVED), Wake::Reserver);
        assert!(anyone_waits(HELD_X | RESERVED));
        let head = Wake::Queues(Owed {
            head: true,
            ..Owed::default()
        });
        assert_eq!(freed(both), head);
        assert_eq!(freed(HELD_X | WAIT_X), head);
        assert_eq!(freed(HELD_X | WAIT_S), head);
        assert_eq!(freed(HELD_X), Wake::Queues(Owed::default()));
        assert!(!anyone_waits(HELD_X));
        assert_eq!(both & FREED, FREE);
    }

    #[test]
    fn r3_room_for_a_reader_goes_to_the_reserver_or_the_readers() {
        assert_eq!(room_for_a_reader(FULL | WAIT_S | RESERVED), Wake::Reserver);
        assert_eq!(
            room_for_a_reader(FULL | WAIT_S | WAIT_X),
            Wake::Queues(Owed {
                readers: true,
                ..Owed::default()
            })
        );
        assert_eq!(
            room_for_a_reader(FULL | WAIT_X),
            Wake::Queues(Owed::default())
        );
    }

    #[test]
    fn g1_to_g5_giving_up() {
        assert_eq!(
            lifted(),
            Owed {
                readers: true,
                extra_writer: true,
                ..Owed::default()
            }
        );
        assert_eq!(
            (HELD_X | RESERVED | WAIT_S | WAIT_X) & LIFTED,
            HELD_X | WAIT_S | WAIT_X
        );
        let g2 = Owed {
            readers: true,
            extra_writer: true,
            ..Owed::default()
        };
        let g4 = Owed {
            reserver: true,
            ..Owed::default()
        };
        assert_eq!(passes_on(Turn::Woken, true), g2);
        assert_eq!(passes_on(Turn::Listening, true), g2);
        assert_eq!(passes_on(Turn::Woken, false), Owed::default());
        assert_eq!(passes_on(Turn::Reserved, true), g4);
        assert_eq!(passes_on(Turn::Reserved, false), Owed::default());
        let g5 = Owed {
            run: true,
            ..Owed::default()
        };
        for state in [FREE, SHARED, SHARED | WAIT_S, HELD_X, FREE | RESERVED] {
            assert_eq!(leaves_the_line(state), g5, "{state:#x}");
        }
        for bits in [WAIT_S, WAIT_X, RESERVED] {
            assert_eq!(leaves_the_line(HELD_X | bits), Owed::default());
        }
        assert!(last_writer_wakes_readers(SHARED | WAIT_S));
        assert!(last_writer_wakes_readers(FREE | WAIT_S));
        assert!(!last_writer_wakes_readers(HELD_X | WAIT_S));
        assert!(!last_writer_wakes_readers(SHARED));
    }
}
