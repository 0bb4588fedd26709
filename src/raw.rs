//! The raw lock behind each slot: a reader-writer lock word, an event for each mode's waiters, and
//! a count of waiting writers.
//!
//! # The word
//!
//! ```text
//!   31 ........ 17 | 16       | 15     | 14     | 13 ......... 0
//!   generation     | RESERVED | WAIT_X | WAIT_S | holders
//! ```
//!
//! * `holders`: 0 when free, the number of readers when held shared, all ones when held
//!   exclusively. Taking is a compare-and-swap (retried while the word changes under it).
//!   Giving back is one atomic update of the word: for a writer a single read-modify-write
//!   (`fetch_and`); for a reader a compare-and-swap loop, since only the last reader out clears
//!   the waiting bits. Either way the update returns the word before it, which tells whether
//!   anyone may be listening, so a release touches an event (and its fence) only under
//!   contention.
//! * `WAIT_S` / `WAIT_X`: someone may listen on the readers' / writers' event. A listener sets its
//!   bit after registering and before trying again; a release clears the bits and notifies: all
//!   readers (they can share) and one writer.
//! * `RESERVED` (bounded waiting): a waiter that was woken and found the lock taken by a
//!   newcomer reserves the lock, if nobody else has: it starts listening on a third event,
//!   `reserved`, then sets the bit. While the bit is set, every other taker (newcomers and woken
//!   waiters alike) treats the lock as busy, and a release wakes the reserving waiter alone, on
//!   its own event: the next holding is its, whatever its place in the queues. It clears the bit
//!   when it takes the lock, or when it gives up (then it wakes the queues, which the releases
//!   that found the bit set left asleep).
//! * `generation` names a holding, for status readers (a sequence lock whose sequence is the lock
//!   word) and holder ids. It is bumped by every exclusive take and by the take that makes a lock
//!   shared-held; readers joining a shared holding leave it, so all of them share one record.
//!
//! # Writer preference
//!
//! `writers_waiting` counts the writers waiting for the lock. While it is not zero, *new* shared
//! requests wait (and single tries fail), so a stream of overlapping readers cannot starve a
//! writer. Readers that were already waiting, and have been woken, are not new: they may still
//! join, which bounds a reader's wait as well. When the last waiting writer gives up, it wakes the
//! readers that yielded to it.

use event_listener::{Event, EventListener, IntoNotification};

use crate::set::Mode;
use crate::sync::{AtomicU32, Ordering};
use crate::unwind;

const HOLDERS: u32 = (1 << 14) - 1;
const EXCLUSIVE: u32 = HOLDERS;
/// The most readers one lock can have at once; more wait for one to leave.
pub(crate) const MAX_READERS: u32 = HOLDERS - 1;
const WAIT_S: u32 = 1 << 14;
const WAIT_X: u32 = 1 << 15;
const RESERVED: u32 = 1 << 16;
const GEN_SHIFT: u32 = 17;
const GENERATION: u32 = 1 << GEN_SHIFT;

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

/// A successful take: the holding's generation and two flags, packed in one word.
///
/// One word on purpose: a small aggregate such as a 32-bit generation beside byte flags is
/// written field by field and then read back whole on the uncontended path, and each such load
/// waits for the narrower stores before it (a store-to-load forwarding stall, about a dozen
/// cycles per lock).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken(u32);

impl Taken {
    const FIRST: u32 = 1;
    const WAKE_READERS: u32 = 2;
    const FLAGS: u32 = 2;

    #[inline]
    fn new(generation: u32, first: bool) -> Self {
        Self(generation << Self::FLAGS | u32::from(first))
    }

    /// The generation of the holding; for a reader joining a shared holding, that holding's.
    #[inline]
    pub(crate) fn generation(self) -> u32 {
        self.0 >> Self::FLAGS
    }

    /// Whether this take started the holding (and so publishes its status record).
    #[inline]
    pub(crate) fn first(self) -> bool {
        self.0 & Self::FIRST != 0
    }

    /// A reserved shared take with no writer waiting: the readers queued while the lock was
    /// reserved may join this holding, and the taker must wake them
    /// ([`readers_may_join`](RawLock::readers_may_join)) once it has recorded the take.
    #[inline]
    pub(crate) fn wake_readers(self) -> bool {
        self.0 & Self::WAKE_READERS != 0
    }
}

impl core::fmt::Debug for Taken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Taken")
            .field("generation", &self.generation())
            .field("first", &self.first())
            .field("wake_readers", &self.wake_readers())
            .finish()
    }
}

/// The wake-ups a release owes the queues of a lock, once its bookkeeping is done
/// ([`RawLock::settle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Owed {
    /// Every reader.
    pub(crate) readers: bool,
    /// One writer.
    pub(crate) writer: bool,
    /// One more writer than were notified: a woken writer gave its wake-up back.
    pub(crate) pass_on: bool,
}

impl Owed {
    /// A woken waiter in `mode` gives up without taking the lock (cancelled, timed out): a
    /// writer's wake-up passes to the next writer. (Every reader was woken with a reader, so a
    /// reader has nothing to pass on.)
    pub(crate) fn passed_on(mode: Mode) -> Self {
        Self {
            pass_on: mode == Mode::Exclusive,
            ..Self::default()
        }
    }
}

/// A snapshot of a lock word, for status readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Holding {
    pub(crate) generation: u32,
    pub(crate) mode: Mode,
    pub(crate) readers: u32,
}

/// The generation of a holding, taken from a state word.
#[inline]
fn generation(state: u32) -> u32 {
    state >> GEN_SHIFT
}

pub(crate) struct RawLock {
    state: AtomicU32,
    /// Writers waiting for this lock: while not zero, new readers wait.
    writers_waiting: AtomicU32,
    /// Readers wait here; a release wakes them all.
    readers: Event,
    /// Writers wait here; a release wakes one.
    writers: Event,
    /// The waiter holding the reservation waits here, alone.
    reserved: Event,
}

impl RawLock {
    crate::sync::loom_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                state: AtomicU32::new(0),
                writers_waiting: AtomicU32::new(0),
                readers: Event::new(),
                writers: Event::new(),
                reserved: Event::new(),
            }
        }
    }

    /// Tries to take the lock in `mode`.
    #[inline]
    pub(crate) fn try_lock(&self, mode: Mode, turn: Turn) -> Result<Taken, Busy> {
        match mode {
            Mode::Exclusive => self.try_lock_exclusive(turn),
            Mode::Shared => self.try_lock_shared(turn),
        }
    }

    #[inline]
    fn try_lock_exclusive(&self, turn: Turn) -> Result<Taken, Busy> {
        self.take(|state| {
            if state & HOLDERS != 0 && !fault!("raw-lock-ignores-holder") {
                return Err(Busy::Held);
            }
            let next = state.wrapping_add(GENERATION) | EXCLUSIVE;
            let next = match turn {
                // The reservation's turn has come: the lock is open to all again. Releases
                // during the reservation cleared the queues' waiting bits without waking them:
                // set both again, so that this holder's release wakes them.
                Turn::Reserved if fault!("reserved-take-leaves-queues-unarmed") => next & !RESERVED,
                Turn::Reserved => (next & !RESERVED) | WAIT_S | WAIT_X,
                _ if state & RESERVED != 0 && !fault!("newcomers-ignore-reservation") => {
                    return Err(Busy::Yield)
                }
                Turn::New => next,
                // A waiter (woken, or about to be): other writers may queue behind it, and the
                // release that woke it cleared their bit, so it sets the bit again.
                Turn::Listening | Turn::Woken => next | WAIT_X,
            };
            Ok((next, true))
        })
    }

    #[inline]
    fn try_lock_shared(&self, turn: Turn) -> Result<Taken, Busy> {
        // A new reader yields to waiting writers. The listening try pairs with a giving-up
        // writer (see `writer_done`): either it sees the writer still counted and waits, its
        // `WAIT_S` seen by that writer, who then wakes it; or it sees the count down.
        let yields = match turn {
            Turn::Woken | Turn::Reserved => false,
            Turn::New if fault!("new-readers-ignore-waiting-writer") => false,
            Turn::New => self.writers_waiting.load(Ordering::Relaxed) != 0,
            Turn::Listening => self.writers_waiting.load(Ordering::Acquire) != 0,
        };
        let taken = self.take(|state| {
            let holders = state & HOLDERS;
            if (holders == EXCLUSIVE && !fault!("shared-take-ignores-writer"))
                || holders == MAX_READERS
            {
                return Err(Busy::Held);
            }
            if yields || (state & RESERVED != 0 && turn != Turn::Reserved) {
                return Err(Busy::Yield);
            }
            let first = holders == 0;
            let mut next = state + 1;
            if first {
                next = next.wrapping_add(GENERATION);
            }
            if turn == Turn::Reserved {
                // As for an exclusive reserved take: the queues' bits are set again.
                next = (next & !RESERVED) | WAIT_S | WAIT_X;
            }
            Ok((next, first))
        })?;
        // Readers that queued while the lock was reserved may join this holding, and only the
        // last reader's release would wake them: while new readers keep overlapping, that
        // release never comes. Unless a writer waits: then new readers yield, the holding ends,
        // and the writer's take and release, or its giving up, wake them. (A writer giving up
        // after this load reads the word after this take, with a read-modify-write, and sees
        // the lock shared and `WAIT_S` set; one giving up before it is seen here, as the take's
        // acquire pairs with that writer's read-modify-write of the word.)
        if turn == Turn::Reserved && self.writers_waiting.load(Ordering::Relaxed) == 0 {
            return Ok(Taken(taken.0 | Taken::WAKE_READERS));
        }
        Ok(taken)
    }

    /// Wakes the readers' queue after a take that said so ([`Taken::wake_readers`]); the taker
    /// calls it once the take is recorded, since a waker may panic.
    #[cold]
    #[inline(never)]
    pub(crate) fn readers_may_join(&self) {
        self.readers.notify(usize::MAX);
        unwind::resume();
    }

    /// The compare-and-swap loop of a take: `step` turns the current word into the next one
    /// (and whether the take starts a holding), or refuses.
    #[inline(always)]
    fn take(&self, step: impl Fn(u32) -> Result<(u32, bool), Busy>) -> Result<Taken, Busy> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let (next, first) = step(state)?;
            match self.state.compare_exchange_weak(
                state,
                next,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(Taken::new(generation(next), first)),
                Err(actual) => state = actual,
            }
        }
    }

    /// Starts listening for a release that may let `mode` in. The caller must try again before
    /// it waits on the listener. A writer also counts itself as waiting
    /// ([`writer_waits`](Self::writer_waits)) before its first listen.
    pub(crate) fn listen(&self, mode: Mode) -> EventListener {
        let (listener, bit) = match mode {
            Mode::Shared => (self.readers.listen(), WAIT_S),
            Mode::Exclusive => (self.writers.listen(), WAIT_X),
        };
        // The listener's registration happens-before any release that reads this bit, so that
        // release's notification finds it (both are read-modify-writes of `state`: either the
        // release sees the bit or the next try sees the lock free). Acquire: see `writer_done`.
        self.state.fetch_or(bit, Ordering::AcqRel);
        listener
    }

    /// A waiter that was woken found the lock taken by someone else: it reserves the lock, unless
    /// another waiter has. On success it gets the listener it must wait on (registered before
    /// the bit is set, so the release that sees the bit finds it) and must try again, as
    /// [`Turn::Reserved`], before it waits; on failure it queues as before.
    pub(crate) fn reserve(&self) -> Option<EventListener> {
        if self.state.load(Ordering::Relaxed) & RESERVED != 0 {
            return None;
        }
        let listener = self.reserved.listen();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & RESERVED != 0 {
                return None;
            }
            match self.state.compare_exchange_weak(
                state,
                state | RESERVED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(listener),
                Err(actual) => state = actual,
            }
        }
    }

    /// Listens again on the reservation's event (after a wake-up that did not end in a take).
    pub(crate) fn listen_reserved(&self) -> EventListener {
        self.reserved.listen()
    }

    /// The reserving waiter gives up without taking the lock: the reservation is lifted, and the
    /// queues are woken (releases during the reservation cleared their bits without waking them,
    /// so both are woken whatever the bits say).
    #[cfg(test)]
    pub(crate) fn unreserve(&self) {
        let owed = self.lift_reservation();
        self.settle(owed);
    }

    /// The bookkeeping half of [`unreserve`](Self::unreserve), which runs no foreign code: the
    /// reservation is lifted. The wake-ups it owes the queues are returned, for
    /// [`settle`](Self::settle).
    pub(crate) fn lift_reservation(&self) -> Owed {
        self.state
            .fetch_and(!(RESERVED | WAIT_S | WAIT_X), Ordering::AcqRel);
        Owed {
            readers: true,
            writer: true,
            pass_on: false,
        }
    }

    /// A writer starts waiting: new readers yield from now on.
    pub(crate) fn writer_waits(&self) {
        self.writers_waiting.fetch_add(1, Ordering::Relaxed);
    }

    /// A writer stops waiting (it took the lock, or gave up). The last one out wakes the readers
    /// that yielded to it, unless a writer holds the lock (its release wakes them).
    ///
    /// The state is read with a read-modify-write that changes nothing, so it reads the latest
    /// value: if a yielding reader's `WAIT_S` comes later in the word's order, that reader's
    /// read-modify-write synchronizes with this one, and its next load of the count sees it
    /// down (no Dekker pattern over two variables, which would need sequential consistency).
    pub(crate) fn writer_done(&self) {
        if self.writer_stops() {
            self.readers.notify(usize::MAX);
            unwind::resume();
        }
    }

    /// The bookkeeping half of [`writer_done`](Self::writer_done), which runs no foreign code:
    /// the writer is counted off. Whether the readers are owed a wake-up is returned.
    pub(crate) fn writer_stops(&self) -> bool {
        if self.writers_waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            let state = self.state.fetch_or(0, Ordering::AcqRel);
            if fault!("writer-giving-up-strands-readers") {
                return false;
            }
            return state & WAIT_S != 0 && state & HOLDERS != EXCLUSIVE;
        }
        false
    }

    /// Wakes whom a release's bookkeeping said it owes ([`writer_stops`](Self::writer_stops),
    /// [`lift_reservation`](Self::lift_reservation), a wake-up passed on): all of them, even if
    /// a waker panics.
    #[cold]
    pub(crate) fn settle(&self, owed: Owed) {
        let readers = unwind::Finally(|| {
            if owed.readers {
                self.readers.notify(usize::MAX);
            }
        });
        if owed.writer {
            self.writers.notify(1);
        }
        if owed.pass_on {
            self.writers.notify(1.additional());
        }
        drop(readers);
        unwind::resume();
    }

    /// Gives back an exclusive holding and wakes whoever may be waiting.
    ///
    /// The release and the clearing of the waiting bits are one read-modify-write: a waiter that
    /// takes the lock right after it sets its bit again for those queued behind it, and no later
    /// clearing can wipe that out.
    #[inline]
    pub(crate) fn unlock_exclusive(&self) {
        let old = self
            .state
            .fetch_and(!(HOLDERS | WAIT_S | WAIT_X), Ordering::AcqRel);
        if old & (WAIT_S | WAIT_X | RESERVED) != 0 && !fault!("raw-release-wakes-nobody") {
            self.wake_after_release(old);
        }
    }

    /// Gives back one reader's share; the last reader out wakes whoever may be waiting (and, as
    /// an exclusive release does, frees the lock and clears the waiting bits in one step).
    #[inline]
    pub(crate) fn unlock_shared(&self) {
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            let next = if old & HOLDERS == 1 {
                (old - 1) & !(WAIT_S | WAIT_X)
            } else {
                old - 1
            };
            match self
                .state
                .compare_exchange_weak(old, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => old = actual,
            }
        }
        let holders = old & HOLDERS;
        if holders == 1 && fault!("last-reader-wakes-nobody") {
            return;
        }
        if holders == 1 && old & (WAIT_S | WAIT_X | RESERVED) != 0 {
            self.wake_after_release(old);
        } else if holders == MAX_READERS {
            self.room_for_a_reader(old);
        }
    }

    /// A reader left a lock held by the most readers it can have (`old`: the word before): the
    /// place goes to the reserving waiter, if the lock is reserved (the queues yield to it), or
    /// to the readers' queue.
    #[cold]
    #[inline(never)]
    fn room_for_a_reader(&self, old: u32) {
        if old & RESERVED != 0 {
            self.reserved.notify(1);
        } else if old & WAIT_S != 0 {
            self.readers.notify(usize::MAX);
        }
        unwind::resume();
    }

    /// Gives back a holding in `mode`.
    #[inline]
    pub(crate) fn unlock(&self, mode: Mode) {
        match mode {
            Mode::Exclusive => self.unlock_exclusive(),
            Mode::Shared => self.unlock_shared(),
        }
    }

    /// After a release that freed the lock and cleared its waiting bits (`old`: the word before
    /// it): a reservation's owner is woken alone (its take sets the queues' bits again, so its
    /// own release wakes them); otherwise the queues are woken.
    #[cold]
    fn wake_after_release(&self, old: u32) {
        if old & RESERVED != 0 && !fault!("release-ignores-reservation") {
            self.reserved.notify(1);
            unwind::resume();
        } else {
            // One writer and every reader, even if the writer's waker panics.
            self.settle(Owed {
                readers: old & WAIT_S != 0,
                writer: old & WAIT_X != 0,
                pass_on: false,
            });
        }
    }

    /// A woken writer gives up without taking the lock (cancelled, timed out): its wake-up passes
    /// to the next writer. (Every reader was woken with it, so a reader has nothing to pass on.)
    #[cfg(test)]
    pub(crate) fn pass_on(&self, mode: Mode) {
        self.settle(Owed::passed_on(mode));
    }

    /// The current holding, if any (a snapshot).
    #[inline]
    pub(crate) fn holding(&self, order: Ordering) -> Option<Holding> {
        let state = self.state.load(order);
        match state & HOLDERS {
            0 => None,
            EXCLUSIVE => Some(Holding {
                generation: generation(state),
                mode: Mode::Exclusive,
                readers: 0,
            }),
            readers => Some(Holding {
                generation: generation(state),
                mode: Mode::Shared,
                readers,
            }),
        }
    }

    /// Whether the lock is held right now, in either mode (a snapshot).
    pub(crate) fn is_locked(&self) -> bool {
        self.holding(Ordering::Relaxed).is_some()
    }
}

impl core::fmt::Debug for RawLock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawLock")
            .field("holding", &self.holding(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll, Waker};

    const X: Mode = Mode::Exclusive;
    const S: Mode = Mode::Shared;

    fn poll(l: &mut EventListener) -> Poll<()> {
        Pin::new(l).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn exclusive_excludes_everyone_until_unlock() {
        let l = RawLock::new();
        let t = l.try_lock(X, Turn::New).unwrap();
        assert!(t.first());
        assert_eq!(l.try_lock(X, Turn::Reserved), Err(Busy::Held));
        assert_eq!(l.try_lock(S, Turn::Reserved), Err(Busy::Held));
        l.unlock(X);
        assert!(!l.is_locked());
        let u = l.try_lock(X, Turn::New).unwrap();
        assert_ne!(
            u.generation(),
            t.generation(),
            "every holding has a new generation"
        );
    }

    #[test]
    fn readers_share_one_holding_and_the_last_one_frees_it() {
        let l = RawLock::new();
        let a = l.try_lock(S, Turn::New).unwrap();
        let b = l.try_lock(S, Turn::New).unwrap();
        assert!(a.first() && !b.first());
        assert_eq!(
            a.generation(),
            b.generation(),
            "joining readers share the holding"
        );
        let h = l.holding(Ordering::Relaxed).unwrap();
        assert_eq!((h.mode, h.readers), (S, 2));
        assert_eq!(l.try_lock(X, Turn::Reserved), Err(Busy::Held));
        l.unlock(S);
        assert_eq!(l.holding(Ordering::Relaxed).unwrap().readers, 1);
        l.unlock(S);
        assert!(!l.is_locked());
    }

    #[test]
    fn a_waiting_writer_stops_new_readers_but_not_woken_ones() {
        let l = RawLock::new();
        l.try_lock(S, Turn::New).unwrap();
        l.writer_waits();
        let _w = l.listen(X);
        assert_eq!(l.try_lock(S, Turn::New), Err(Busy::Yield));
        assert_eq!(l.try_lock(S, Turn::Listening), Err(Busy::Yield));
        assert!(
            l.try_lock(S, Turn::Woken).is_ok(),
            "a woken reader is not new"
        );
        l.unlock(S);
        // The writer gives up: readers may come in again.
        l.writer_done();
        assert!(l.try_lock(S, Turn::New).is_ok());
    }

    #[test]
    fn the_last_writer_giving_up_wakes_the_readers_that_yielded() {
        let l = RawLock::new();
        l.try_lock(S, Turn::New).unwrap();
        l.writer_waits();
        let mut reader = l.listen(S);
        assert_eq!(l.try_lock(S, Turn::Listening), Err(Busy::Yield));
        assert!(poll(&mut reader).is_pending());
        l.writer_done();
        assert_eq!(poll(&mut reader), Poll::Ready(()));
    }

    #[test]
    fn a_reserved_lock_goes_to_the_waiter_that_reserved_it() {
        let l = RawLock::new();
        l.try_lock(X, Turn::New).unwrap();
        let mut queued = l.listen(X);
        let mut owner = l.reserve().expect("nobody had reserved it");
        assert!(l.reserve().is_none(), "one reservation at a time");
        l.unlock(X);
        // The owner alone is woken; the queue stays asleep.
        assert_eq!(poll(&mut owner), Poll::Ready(()));
        assert!(poll(&mut queued).is_pending());
        for turn in [Turn::New, Turn::Listening, Turn::Woken] {
            assert_eq!(l.try_lock(X, turn), Err(Busy::Yield), "{turn:?}");
            assert_eq!(l.try_lock(S, turn), Err(Busy::Yield), "{turn:?}");
        }
        assert!(l.try_lock(X, Turn::Reserved).is_ok());
        // Taken: the reservation is lifted, and the owner's release wakes the queue.
        l.unlock(X);
        assert_eq!(poll(&mut queued), Poll::Ready(()));
        assert!(l.try_lock(S, Turn::New).is_ok());
    }

    #[test]
    fn a_reservation_given_up_wakes_the_queue() {
        let l = RawLock::new();
        l.try_lock(X, Turn::New).unwrap();
        let mut queued = l.listen(X);
        let owner = l.reserve().unwrap();
        l.unlock(X);
        assert!(poll(&mut queued).is_pending());
        assert_eq!(l.try_lock(X, Turn::New), Err(Busy::Yield));
        // The owner gives up before it looks: the lock is open again, and the queue is woken.
        drop(owner);
        l.unreserve();
        assert_eq!(poll(&mut queued), Poll::Ready(()));
        assert!(l.try_lock(X, Turn::New).is_ok());
    }

    #[test]
    fn a_woken_writer_giving_up_passes_its_wake_up_on() {
        let l = RawLock::new();
        l.try_lock(X, Turn::New).unwrap();
        let mut first = l.listen(X);
        let mut second = l.listen(X);
        l.unlock(X);
        assert_eq!(poll(&mut first), Poll::Ready(()));
        assert!(poll(&mut second).is_pending());
        l.pass_on(X);
        assert_eq!(poll(&mut second), Poll::Ready(()));
    }
}
