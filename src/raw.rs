//! The raw lock behind each slot: a reader-writer lock word, waiter lists for each mode and for the
//! reservation ([`crate::waiters`]), and a count of waiting writers.
//!
//! Which taker gets the lock, where a refused waiter listens and whom a release wakes is the
//! hand-off policy: its word layout, its decisions and its table are in [`crate::handoff`]; this
//! module asks it at each step and does what it says, with one compare-and-swap per take and one
//! read-modify-write per exclusive release (a reader's release is a compare-and-swap loop), which
//! also tells whether anyone may be listening, so a release touches the waiter lists only under
//! contention.
//!
//! The `generation` of the word names a holding, for status readers (a sequence lock whose
//! sequence is the lock word) and holder ids. It is bumped by every exclusive take and by the
//! take that makes a lock shared-held; readers joining a shared holding leave it, so all of them
//! share one record.

use crate::handoff::{self, Wake, EXCLUSIVE, GEN_SHIFT, HOLDERS, RESERVED, WAIT_S, WAIT_X};
pub(crate) use crate::handoff::{Busy, Owed, Turn, MAX_READERS};
use crate::set::Mode;
use crate::sync::{AtomicU32, Ordering};
use crate::unwind;
use crate::waiters::{Listener, Queue, Waiters};
use core::task::Poll;

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
    /// Readers wait in one list (a release wakes them all), writers in another (a release wakes
    /// one), and the waiter holding the reservation in a third, alone.
    waiters: Waiters,
}

impl RawLock {
    crate::sync::loom_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                state: AtomicU32::new(0),
                writers_waiting: AtomicU32::new(0),
                waiters: Waiters::new(),
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
        self.take(|state| Ok((handoff::take_exclusive(state, turn)?, true)))
    }

    #[inline]
    fn try_lock_shared(&self, turn: Turn) -> Result<Taken, Busy> {
        // A new reader yields to waiting writers. The listening try pairs with a giving-up
        // writer (see `writer_done`): either it sees the writer still counted and waits, its
        // `WAIT_S` seen by that writer, who then wakes it; or it sees the count down.
        let order = if turn == Turn::Listening {
            Ordering::Acquire
        } else {
            Ordering::Relaxed
        };
        let yields = handoff::yields_to_writers(turn) && self.writers_waiting.load(order) != 0;
        let taken = self.take(|state| handoff::take_shared(state, turn, yields))?;
        // (A writer giving up after this load reads the word after this take, with a
        // read-modify-write, and sees the lock shared and `WAIT_S` set; one giving up before it
        // is seen here, as the take's acquire pairs with that writer's read-modify-write of the
        // word.)
        if handoff::shared_take_wakes_readers(turn, || {
            self.writers_waiting.load(Ordering::Relaxed) != 0
        }) {
            return Ok(Taken(taken.0 | Taken::WAKE_READERS));
        }
        Ok(taken)
    }

    /// Wakes the readers' queue after a take that owes it: a reserved shared take
    /// ([`Taken::wake_readers`], T7), or the take of the last counted writer that found readers
    /// yielding to it ([`writer_stops`](Self::writer_stops), G3). The taker calls it once the take
    /// is recorded, since a waker may panic.
    #[cold]
    #[inline(never)]
    pub(crate) fn readers_may_join(&self) {
        self.waiters.notify(Queue::Readers, usize::MAX, false);
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
    pub(crate) fn listen(&self, mode: Mode) -> Listener {
        let (listener, bit) = match mode {
            Mode::Shared => (self.waiters.listen(Queue::Readers), WAIT_S),
            Mode::Exclusive => (self.waiters.listen(Queue::Writers), WAIT_X),
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
    pub(crate) fn reserve(&self) -> Option<Listener> {
        if !handoff::may_reserve(self.state.load(Ordering::Relaxed)) {
            return None;
        }
        let listener = self.waiters.listen(Queue::Reserved);
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if !handoff::may_reserve(state) {
                // Another waiter reserved it first, and a release may have notified this
                // listener, listed before that waiter's: the wake-up passes on to it. (A
                // panic of a waker it runs is kept for the walk, which resumes it once it has
                // recorded what it does instead.)
                self.waiters.drop_listener(listener);
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

    /// Listens again on the reservation's list (after a wake-up that did not end in a take).
    pub(crate) fn listen_reserved(&self) -> Listener {
        self.waiters.listen(Queue::Reserved)
    }

    /// Ready if `listener` was notified (it is then given back); otherwise `waker` is the one to
    /// wake. Wakers it drops are foreign code whose panic is kept: the caller records the result,
    /// then calls [`unwind::resume`]. Out of line: the uncontended walk never gets here.
    #[cold]
    #[inline(never)]
    pub(crate) fn poll_listener(&self, listener: Listener, waker: &core::task::Waker) -> Poll<()> {
        self.waiters.poll(listener, waker)
    }

    /// Gives `listener` back; whether it had been notified (its notification is not passed on:
    /// the caller passes it on if it must, [`handoff::passes_on`]). A panic of the waker it drops
    /// is kept, as in [`poll_listener`](Self::poll_listener).
    #[inline]
    pub(crate) fn discard(&self, listener: Listener) -> bool {
        self.waiters.discard(listener)
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
        self.state.fetch_and(handoff::LIFTED, Ordering::AcqRel);
        handoff::lifted()
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
    #[cfg(test)]
    pub(crate) fn writer_done(&self) {
        if self.writer_stops() {
            self.waiters.notify(Queue::Readers, usize::MAX, false);
            unwind::resume();
        }
    }

    /// The bookkeeping half of [`writer_done`](Self::writer_done), which runs no foreign code:
    /// the writer is counted off. Whether the readers are owed a wake-up is returned.
    pub(crate) fn writer_stops(&self) -> bool {
        if self.writers_waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            let state = self.state.fetch_or(0, Ordering::AcqRel);
            return handoff::last_writer_wakes_readers(state)
                && !fault!("writer-giving-up-strands-readers");
        }
        false
    }

    /// A writer gave up its listener (`writer`), not notified (`woken`): what its place in the
    /// line owes (G5, [`handoff::leaves_the_line`]). Called after the entry is gone; the word is
    /// read with a read-modify-write that changes nothing, so that a release still to clear the
    /// waiting bits comes after it in the word's order, and its wake-up finds the entry gone.
    pub(crate) fn left_the_line(&self, writer: bool, woken: bool) -> Owed {
        if !writer || woken {
            return Owed::default();
        }
        handoff::leaves_the_line(self.state.fetch_or(0, Ordering::AcqRel))
    }

    /// Wakes whom a release's bookkeeping said it owes ([`writer_stops`](Self::writer_stops),
    /// [`lift_reservation`](Self::lift_reservation), a wake-up passed on, a release: R2): all of
    /// them, even if a waker panics.
    #[cold]
    pub(crate) fn settle(&self, owed: Owed) {
        let queues = unwind::Finally(|| {
            if owed.readers {
                self.waiters.notify(Queue::Readers, usize::MAX, false);
            }
            if owed.head {
                self.waiters.notify_head();
            }
            if owed.run {
                self.waiters.notify_run();
            }
        });
        if owed.extra_writer {
            self.waiters.notify(Queue::Writers, 1, true);
        }
        if owed.reserver {
            self.waiters.notify(Queue::Reserved, 1, true);
        }
        drop(queues);
        unwind::resume();
    }

    /// Gives back an exclusive holding and wakes whoever may be waiting.
    ///
    /// The release and the clearing of the waiting bits are one read-modify-write: a waiter that
    /// takes the lock right after it sets its bit again for those queued behind it, and no later
    /// clearing can wipe that out.
    #[inline]
    pub(crate) fn unlock_exclusive(&self) {
        let old = self.state.fetch_and(handoff::FREED, Ordering::AcqRel);
        if handoff::anyone_waits(old) && !fault!("raw-release-wakes-nobody") {
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
                (old - 1) & handoff::FREED
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
        if holders == 1 && handoff::anyone_waits(old) && !fault!("last-reader-wakes-nobody") {
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
        self.wake(handoff::room_for_a_reader(old));
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
        self.wake(handoff::freed(old));
    }

    /// Wakes whom a release's decision names: the reserving waiter alone, or the queues (one
    /// writer and every reader, even if the writer's waker panics).
    fn wake(&self, wake: Wake) {
        match wake {
            Wake::Reserver => {
                self.waiters.notify(Queue::Reserved, 1, false);
                unwind::resume();
            }
            Wake::Queues(owed) => self.settle(owed),
        }
    }

    /// A woken waiter gives up without taking the lock (cancelled, timed out): its wake-up passes
    /// on (G2).
    #[cfg(test)]
    pub(crate) fn pass_on(&self) {
        self.settle(handoff::passes_on(Turn::Woken, true));
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
    use core::task::Waker;

    const X: Mode = Mode::Exclusive;
    const S: Mode = Mode::Shared;

    /// Polls a listener the way a walk does; a ready one is given back, so it is `None` then.
    fn poll(raw: &RawLock, l: &mut Option<Listener>) -> Poll<()> {
        let ready = raw.poll_listener(l.expect("listening"), Waker::noop());
        if ready.is_ready() {
            *l = None;
        }
        ready
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
        let mut reader = Some(l.listen(S));
        assert_eq!(l.try_lock(S, Turn::Listening), Err(Busy::Yield));
        assert!(poll(&l, &mut reader).is_pending());
        l.writer_done();
        assert_eq!(poll(&l, &mut reader), Poll::Ready(()));
    }

    #[test]
    fn a_reserved_lock_goes_to_the_waiter_that_reserved_it() {
        let l = RawLock::new();
        l.try_lock(X, Turn::New).unwrap();
        let mut queued = Some(l.listen(X));
        let mut owner = Some(l.reserve().expect("nobody had reserved it"));
        assert!(l.reserve().is_none(), "one reservation at a time");
        l.unlock(X);
        // The owner alone is woken; the queue stays asleep.
        assert_eq!(poll(&l, &mut owner), Poll::Ready(()));
        assert!(poll(&l, &mut queued).is_pending());
        for turn in [Turn::New, Turn::Listening, Turn::Woken] {
            assert_eq!(l.try_lock(X, turn), Err(Busy::Yield), "{turn:?}");
            assert_eq!(l.try_lock(S, turn), Err(Busy::Yield), "{turn:?}");
        }
        assert!(l.try_lock(X, Turn::Reserved).is_ok());
        // Taken: the reservation is lifted, and the owner's release wakes the queue.
        l.unlock(X);
        assert_eq!(poll(&l, &mut queued), Poll::Ready(()));
        assert!(l.try_lock(S, Turn::New).is_ok());
    }

    #[test]
    fn a_reservation_given_up_wakes_the_queue() {
        let l = RawLock::new();
        l.try_lock(X, Turn::New).unwrap();
        let mut queued = Some(l.listen(X));
        let owner = l.reserve().unwrap();
        l.unlock(X);
        assert!(poll(&l, &mut queued).is_pending());
        assert_eq!(l.try_lock(X, Turn::New), Err(Busy::Yield));
        // The owner gives up before it looks: the lock is open again, and the queue is woken.
        l.waiters.drop_listener(owner);
        l.unreserve();
        assert_eq!(poll(&l, &mut queued), Poll::Ready(()));
        assert!(l.try_lock(X, Turn::New).is_ok());
    }

    /// R2: a release wakes the oldest waiter alone if it is a writer; the readers behind it wait
    /// for its release, which finds the bits its take set again (T6).
    #[test]
    fn a_release_wakes_a_writer_at_the_head_of_the_line_alone() {
        let l = RawLock::new();
        l.try_lock(X, Turn::New).unwrap();
        let mut writer = Some(l.listen(X));
        let mut reader = Some(l.listen(S));
        assert!(poll(&l, &mut reader).is_pending());
        l.unlock(X);
        assert_eq!(poll(&l, &mut writer), Poll::Ready(()));
        assert!(poll(&l, &mut reader).is_pending(), "behind the writer");
        l.try_lock(X, Turn::Woken).unwrap();
        l.unlock(X);
        assert_eq!(poll(&l, &mut reader), Poll::Ready(()));
    }

    /// R2: readers at the head of the line are woken together, up to the next writer; that
    /// writer is woken by the last of their releases (their takes set the bits again, T6), and
    /// the reader behind it by the writer's.
    #[test]
    fn readers_at_the_head_of_the_line_are_woken_together_up_to_the_next_writer() {
        let l = RawLock::new();
        l.try_lock(X, Turn::New).unwrap();
        let mut first = Some(l.listen(S));
        let mut second = Some(l.listen(S));
        let mut writer = Some(l.listen(X));
        let mut last = Some(l.listen(S));
        for l_ in [&mut writer, &mut last] {
            assert!(poll(&l, l_).is_pending());
        }
        l.unlock(X);
        assert_eq!(poll(&l, &mut first), Poll::Ready(()));
        assert_eq!(poll(&l, &mut second), Poll::Ready(()));
        assert!(poll(&l, &mut writer).is_pending());
        assert!(poll(&l, &mut last).is_pending(), "behind the writer");
        l.try_lock(S, Turn::Woken).unwrap();
        l.try_lock(S, Turn::Woken).unwrap();
        l.unlock(S);
        assert!(
            poll(&l, &mut writer).is_pending(),
            "a reader still holds it"
        );
        l.unlock(S);
        assert_eq!(poll(&l, &mut writer), Poll::Ready(()));
        assert!(poll(&l, &mut last).is_pending());
        l.try_lock(X, Turn::Woken).unwrap();
        l.unlock(X);
        assert_eq!(poll(&l, &mut last), Poll::Ready(()));
    }

    /// G2: a waiter woken at the head of the line (in mode `head`) that gives up passes its
    /// wake-up to the waiter of the other mode behind it, which the release did not wake.
    fn a_woken_waiter_giving_up_wakes_the_one_behind(head: Mode, behind: Mode) {
        let l = RawLock::new();
        l.try_lock(X, Turn::New).unwrap();
        let mut first = Some(l.listen(head));
        let mut second = Some(l.listen(behind));
        assert!(poll(&l, &mut second).is_pending());
        l.unlock(X);
        assert_eq!(poll(&l, &mut first), Poll::Ready(()));
        assert!(poll(&l, &mut second).is_pending());
        l.pass_on();
        assert_eq!(poll(&l, &mut second), Poll::Ready(()));
    }

    #[test]
    fn a_woken_writer_giving_up_passes_its_wake_up_to_the_readers_behind_it() {
        a_woken_waiter_giving_up_wakes_the_one_behind(X, S);
    }

    #[test]
    fn a_woken_reader_giving_up_passes_its_wake_up_to_the_writer_behind_it() {
        a_woken_waiter_giving_up_wakes_the_one_behind(S, X);
    }

    #[test]
    fn a_woken_writer_giving_up_passes_its_wake_up_on() {
        a_woken_waiter_giving_up_wakes_the_one_behind(X, X);
    }

    /// G1 while a writer holds the lock it took with a try made before it looked at its
    /// listener: that listener was notified by the release before, and the writer discards it
    /// unused right after its take. A reservation lifted in between clears the `WAIT_X` the take
    /// set, so the writer's release wakes nobody: the lift itself must wake the writer queued
    /// behind, whatever notification is already out.
    #[test]
    fn a_lift_while_a_writer_takes_wakes_the_writer_behind_it() {
        let l = RawLock::new();
        l.try_lock(X, Turn::New).unwrap();
        let taker = l.listen(X);
        let mut queued = Some(l.listen(X));
        l.unlock(X);
        // The release notified the first writer; it takes the lock before it looks.
        l.try_lock(X, Turn::Listening).unwrap();
        // A woken reader finds the lock taken, reserves it, and gives up.
        let reserved = l.reserve().expect("nobody had reserved it");
        l.waiters.drop_listener(reserved);
        l.unreserve();
        // The taker discards the notification it did not need, and lets go.
        assert!(l.discard(taker), "the release had notified the taker");
        l.unlock(X);
        assert_eq!(poll(&l, &mut queued), Poll::Ready(()));
    }

    /// G1 again, the taker's listener not notified this time (the release before it saw no
    /// `WAIT_X`, so it woke no writer): the lift's one-more writer wake-up goes to the first
    /// listener not yet notified, the taker's own, which it then discards. The `WAIT_X` of the
    /// take must survive the lift, so that the taker's release wakes the writer behind it.
    #[test]
    fn a_lift_while_a_writer_takes_keeps_its_waiting_bit() {
        let l = RawLock::new();
        let taker = l.listen(X);
        l.try_lock(X, Turn::Listening).unwrap();
        let mut queued = Some(l.listen(X));
        assert_eq!(l.try_lock(X, Turn::Listening), Err(Busy::Held));
        // A woken waiter finds the lock taken, reserves it, and gives up.
        l.waiters
            .drop_listener(l.reserve().expect("nobody had reserved it"));
        l.unreserve();
        assert!(
            l.discard(taker),
            "the lift's wake-up went to the taker's listener"
        );
        l.unlock(X);
        assert_eq!(poll(&l, &mut queued), Poll::Ready(()));
    }

    /// G4: the reserving waiter gives up, its bookkeeping first: the reservation is lifted while
    /// its listener is still in line. A newcomer reserves the lock, and the holder's release
    /// notifies the first listener on the reservation's list: the old one. Discarded, its
    /// notification must reach the new reserving waiter.
    #[test]
    fn a_reservation_given_up_passes_a_late_wake_up_to_the_next_one() {
        let l = RawLock::new();
        l.try_lock(X, Turn::New).unwrap();
        let old = l.reserve().expect("nobody had reserved it");
        let owed = l.lift_reservation();
        let mut new = Some(l.reserve().expect("the reservation was lifted"));
        l.unlock(X);
        let woken = l.discard(old);
        assert!(woken, "the release woke the first listener in line");
        l.settle(owed.and(handoff::passes_on(Turn::Reserved, woken)));
        assert_eq!(poll(&l, &mut new), Poll::Ready(()));
        assert!(l.try_lock(X, Turn::Reserved).is_ok());
    }
}
