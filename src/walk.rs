//! The walk: takes the locks of a request one after another, upward, each in its mode, and
//! listens at a busy one; and the release of a set of held locks.
//!
//! Plain data plus the raw locks: not generic over the timer or over how the manager is held, so
//! its code is compiled once. The futures (`acquire`) drive it; guards release through it.

use core::mem::{self, ManuallyDrop};
use core::task::{Context, Poll};

use crate::handoff::{self, Owed, Then, Turn};
use crate::key::KeyState;
use crate::raw::{RawLock, Taken};
use crate::record::{HolderId, Label, Stamp};
use crate::set::{LockSet, Mode, Request};
use crate::stats::WaitClock;
use crate::sync::Arc;
use crate::table::{Slot, Table};
use crate::waiters::{Listener, Queue};

// === Releasing ===

/// Unlocks the locks of `request` below position `below`, newest first, each in its mode, even
/// if an unlock panics.
///
/// An unlock may run foreign code: waking the next waiter calls its waker. The lock itself is
/// given back, and its waiters woken, before a waker's panic goes on ([`crate::unwind`]); the
/// locks not yet unlocked are then unlocked while unwinding (with `std`, a second panicking waker
/// there is caught and dropped): a panicking waker never leaves a lock held. The guard that does
/// it holds a cursor, so the normal path pays one store per lock for it.
// Inlined with `std`; without it, where flash counts more than a call, compiled once for the
// walk's release and the guards'.
#[cfg_attr(feature = "std", inline)]
#[cfg_attr(not(feature = "std"), inline(never))]
pub(crate) fn unlock_all(slots: &[Slot], request: &Request, below: usize) {
    struct Rest<'a> {
        slots: &'a [Slot],
        request: &'a Request,
        /// Everything below this is still to be unlocked.
        below: usize,
    }
    impl Drop for Rest<'_> {
        #[inline]
        fn drop(&mut self) {
            if self.below != 0 {
                unlock_rest(self.slots, self.request, self.below);
            }
        }
    }
    #[cold]
    fn unlock_rest(slots: &[Slot], request: &Request, below: usize) {
        for pos in request.want.iter_rev_below(below) {
            crate::unwind::finishing(|| slots[pos].raw.unlock(mode_of(&request.shared, pos)));
        }
    }
    let mut rest = Rest {
        slots,
        request,
        below: 0,
    };
    // Without `std` (firmware), one loop for both modes: a few instructions slower per lock,
    // in less code.
    if cfg!(feature = "std") && request.shared.is_empty() {
        for pos in request.want.iter_rev_below(below) {
            rest.below = pos;
            slots[pos].raw.unlock_exclusive();
        }
    } else {
        for pos in request.want.iter_rev_below(below) {
            rest.below = pos;
            slots[pos].raw.unlock(mode_of(&request.shared, pos));
        }
    }
    rest.below = 0;
}

/// The mode a position of a request is taken in.
#[inline]
pub(crate) fn mode_of(shared: &LockSet, pos: usize) -> Mode {
    if shared.contains(pos) {
        Mode::Shared
    } else {
        Mode::Exclusive
    }
}

/// The wake-ups a release owes the lock its walk waited for, and the listener it waited with:
/// settled when dropped, after the unlocks or while unwinding from one of them, the same way
/// either time. The listener is given back there (its drop of the task's waker is foreign code,
/// so it comes after the unlocks), and a wake-up it held and the walk did not use passes on
/// (G2, G4), or the place in the line it leaves does (G5).
struct Settle<'a> {
    raw: Option<&'a RawLock>,
    owed: Owed,
    listener: Option<Listener>,
    turn: Turn,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        let Some(raw) = self.raw else { return };
        crate::unwind::finishing(|| {
            if let Some(listener) = self.listener.take() {
                let writer = listener.queue() == Queue::Writers;
                let woken = raw.discard(listener);
                self.owed = self
                    .owed
                    .and(handoff::passes_on(self.turn, woken))
                    .and(raw.left_the_line(writer, woken));
            }
            if self.owed != Owed::default() {
                raw.settle(self.owed);
            } else {
                // The discard dropped this task's waker; a panic of its drop goes on from here.
                crate::unwind::resume();
            }
        });
    }
}

// === Walk: the timer-independent part ===

/// Walks a lock set upward, taking one lock after another, each in its mode.
///
/// Invariant: every position of `request.want` below `next` is held by this walk, and nothing
/// else is; `listener`, when set, listens for a release of the lock at the cursor (the first
/// wanted position at or after `next`), and `writer_counted` says whether the walk counts as a
/// writer waiting for that lock. A walk does not release on drop (it does not know its table):
/// its owner calls [`release`](Self::release), from its own `Drop` as well.
pub(crate) struct Walk {
    pub(crate) request: Request,
    next: usize,
    /// Listening for a release of the lock at the cursor. Plain data: whoever takes it out gives
    /// it back to that lock ([`RawLock::discard`], or a ready poll).
    listener: Option<Listener>,
    /// How the walk asks for the lock at the cursor: `New` until it first listens, `Woken` once
    /// it has been woken, `Reserved` once it holds the lock's reservation (after a newcomer got
    /// in ahead of it).
    turn: Turn,
    /// Counted in the cursor lock's waiting writers (new readers yield to it).
    writer_counted: bool,
    /// The owner label each holding this walk starts publishes for status readers (with the
    /// timestamp of the step that takes it, which the step passes in: kept out of the future).
    pub(crate) label: Option<Label>,
    /// The holder id of this acquisition: inherited from a parent guard, or named after the
    /// first holding it starts.
    pub(crate) holder: Option<HolderId>,
    /// The task key given with `key()`, until the request starts and claims under it. Not the
    /// walk's own: kept here because it fills what would be the walk's padding on 32-bit
    /// targets (an acquire future eight bytes smaller there). Dropped by the future's walker
    /// ([`crate::acquire::Walker`]), not by the walk's drop glue, which stays as small as it
    /// was and is inlined into the future's drop (a walk with a field to drop is not).
    pub(crate) key: ManuallyDrop<Option<Arc<KeyState>>>,
    /// When the walk started waiting for the lock at the cursor (feature `stats`).
    wait_clock: WaitClock,
    /// When the walk started waiting for the lock at the cursor (feature `tracing`).
    #[cfg(feature = "tracing")]
    trace_since: Option<core::time::Duration>,
}

impl Walk {
    #[inline]
    pub(crate) fn new(request: Request, holder: Option<HolderId>, label: Option<Label>) -> Self {
        Self {
            request,
            next: 0,
            listener: None,
            turn: Turn::New,
            writer_counted: false,
            label,
            holder,
            key: ManuallyDrop::new(None),
            wait_clock: WaitClock::new(),
            #[cfg(feature = "tracing")]
            trace_since: None,
        }
    }

    /// Takes locks upward from the cursor. `Ok` when all are held; `Err(pos)` when the lock at
    /// `pos` is busy. With a context, the walk then listens for its release and the context's
    /// waker will be woken; without one, it only tries. `at` is this step's timestamp: what the
    /// holdings it starts publish, and where waiting starts and stops for the statistics.
    ///
    /// If it unwinds (a waker's `clone` panics while the walk registers it), the invariant holds:
    /// the walk can be advanced again or released.
    #[inline]
    pub(crate) fn advance(
        &mut self,
        table: &Table,
        mut cx: Option<&mut Context<'_>>,
        at: Stamp,
    ) -> Result<(), usize> {
        let any_shared = !self.request.shared.is_empty();
        // The uncontended path: a walk that waits for nothing takes free locks with first tries
        // alone, past the waiting machinery; at the first busy lock it goes on below.
        'uncontended: {
            // Without `std` (firmware), the loop below serves free locks too, a few
            // instructions slower per lock, in one copy of the code instead of two.
            if !cfg!(feature = "std") || self.turn != Turn::New {
                break 'uncontended;
            }
            for pos in self.request.want.iter_from(self.next) {
                let slot = &table.slots[pos];
                let mode = if any_shared {
                    mode_of(&self.request.shared, pos)
                } else {
                    Mode::Exclusive
                };
                let Ok(taken) = slot.raw.try_lock(mode, Turn::New) else {
                    break 'uncontended;
                };
                let parts = (&mut self.holder, &self.label, &mut self.wait_clock, at);
                Self::took(parts, slot, pos, taken, mode, false);
                self.next = pos + 1;
            }
            return Ok(());
        }
        for pos in self.request.want.iter_from(self.next) {
            let slot = &table.slots[pos];
            let raw = &slot.raw;
            let mode = if any_shared {
                mode_of(&self.request.shared, pos)
            } else {
                Mode::Exclusive
            };
            let taken = loop {
                let busy = match raw.try_lock(mode, self.turn) {
                    Ok(taken) => break taken,
                    Err(busy) => busy,
                };
                let Some(cx) = cx.as_mut() else {
                    return Err(pos);
                };
                match &mut self.listener {
                    None => {
                        // What a refused waiter does is the hand-off policy's to say.
                        self.listener = Some(match handoff::refused(self.turn, busy) {
                            Then::StartWaiting => {
                                self.wait_clock.start(at.get());
                                #[cfg(feature = "tracing")]
                                {
                                    self.trace_since = at.get();
                                    crate::trace::waits(
                                        slot.info.name(),
                                        mode,
                                        self.label.as_ref().map(|l| l.as_str()),
                                        self.request.want.iter_rev_below(self.next).count(),
                                    );
                                }
                                if mode == Mode::Exclusive {
                                    raw.writer_waits();
                                    self.writer_counted = true;
                                }
                                self.turn = Turn::Listening;
                                raw.listen(mode)
                            }
                            Then::Reserve => match raw.reserve() {
                                Some(listener) => {
                                    self.turn = Turn::Reserved;
                                    listener
                                }
                                None => raw.listen(mode),
                            },
                            Then::AwaitReservation => raw.listen_reserved(),
                            Then::Requeue => raw.listen(mode),
                        });
                    }
                    Some(listener) => match raw.poll_listener(*listener, cx.waker()) {
                        Poll::Ready(()) => {
                            // Recorded before a kept panic goes on: the notification is this
                            // walk's now, to use or to pass on (G2, G4).
                            self.listener = None;
                            self.turn = handoff::woken(self.turn);
                            crate::unwind::resume();
                        }
                        Poll::Pending => {
                            crate::unwind::resume();
                            return Err(pos);
                        }
                    },
                }
            };
            let waited = self.turn != Turn::New;
            let parts = (&mut self.holder, &self.label, &mut self.wait_clock, at);
            Self::took(parts, slot, pos, taken, mode, waited);
            self.next = pos + 1;
            // Only a walk that waited has anything to reset. The bookkeeping first, which runs no
            // foreign code, so that a panic from what follows finds the walk as it is.
            let mut readers_owed = taken.wake_readers();
            let listener = if waited {
                self.turn = Turn::New;
                readers_owed |= mem::take(&mut self.writer_counted) && raw.writer_stops();
                self.listener.take()
            } else {
                None
            };
            // A notification this listener received was meant to let a waiter take the lock, and
            // it just did: discard it rather than wake another to find it busy. (Its drop of this
            // task's waker is foreign code: a panic there is kept, and goes on below.)
            if let Some(listener) = listener {
                raw.discard(listener);
            }
            // Then the wake-ups, which run other tasks' wakers: the readers that yielded to this
            // writer, if it was the last one counted (G3), or that may join this reserved shared
            // take (T7).
            if readers_owed {
                raw.readers_may_join();
            } else if waited {
                crate::unwind::resume();
            }
            #[cfg(feature = "tracing")]
            if waited {
                crate::trace::got(
                    slot.info.name(),
                    mode,
                    self.label.as_ref().map(|l| l.as_str()),
                    self.trace_since
                        .take()
                        .zip(at.get())
                        .map(|(since, now)| now.saturating_sub(since)),
                );
            }
        }
        Ok(())
    }

    /// Records the take of the lock at `pos`: the status record of a holding it started, and
    /// the lock's statistics.
    /// (The fields it needs apart from the request, which the caller is walking.)
    #[cfg_attr(feature = "std", inline(always))]
    #[cfg_attr(not(feature = "std"), inline(never))]
    fn took(
        (holder, label, wait_clock, at): (
            &mut Option<HolderId>,
            &Option<Label>,
            &mut WaitClock,
            Stamp,
        ),
        slot: &Slot,
        pos: usize,
        taken: Taken,
        mode: Mode,
        waited: bool,
    ) {
        if taken.first() {
            let holder = *holder.get_or_insert_with(|| HolderId::new(pos, taken.generation()));
            slot.record.publish(taken.generation(), holder, label, at);
        }
        slot.stats
            .acquired(mode == Mode::Shared, waited, wait_clock.stop(at.get()));
    }

    /// Gives back every lock taken so far, newest first, and stops waiting.
    ///
    /// Waking other waiters runs their wakers, which may panic; the release is done all the
    /// same. First its bookkeeping, which runs no foreign code: the walk records that it holds
    /// and waits for nothing (so a release that unwinds is never redone, from this cursor or
    /// another), and the lock it waited for counts it off as a waiting writer and loses its
    /// reservation. Then the foreign code, in one unwind guard: the locks are unlocked, each
    /// waking its waiters, and the lock waited for gets the wake-ups it is owed (the readers
    /// that yielded to this writer, the queues a reservation kept asleep, a wake-up this walk
    /// received and did not use).
    pub(crate) fn release(&mut self, table: &Table) {
        let cursor = self.request.want.next_from(self.next);
        let below = mem::take(&mut self.next);
        let turn = mem::replace(&mut self.turn, Turn::New);
        let listener = self.listener.take();
        let counted = mem::take(&mut self.writer_counted);
        let mut settle = Settle {
            raw: None,
            owed: Owed::default(),
            listener: None,
            turn,
        };
        if let Some(pos) = cursor {
            let raw = &table.slots[pos].raw;
            settle.raw = Some(raw);
            if counted {
                settle.owed.readers = raw.writer_stops();
            }
            if turn == Turn::Reserved {
                // The lock waits for this walk alone: open it to everyone again.
                settle.owed = settle.owed.and(raw.lift_reservation());
            }
            match listener {
                Some(listener) => settle.listener = Some(listener),
                // A wake-up it took from its listener and gave up before trying the lock with it
                // passes on too (a panic between the two is the only way here: a woken walk
                // otherwise tries at once, and then takes the lock or listens again).
                None => {
                    let woken = turn == Turn::Woken;
                    settle.owed = settle.owed.and(handoff::passes_on(turn, woken));
                }
            }
        }
        if below != 0 {
            unlock_all(&table.slots, &self.request, below);
        }
        // `settle` discards the listener and wakes what the lock waited for is owed: here, or
        // while unwinding from an unlock's waker.
    }

    /// Whether the walk holds a lock or waits for one: whether [`release`](Self::release) has
    /// anything to do.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.next != 0 || self.listener.is_some() || self.turn != Turn::New
    }

    /// Hands the locks over once every lock is held: the walk then holds nothing.
    #[inline]
    pub(crate) fn finish(&mut self) -> Request {
        debug_assert!(self.listener.is_none() && !self.writer_counted);
        self.next = 0;
        mem::replace(
            &mut self.request,
            Request {
                want: LockSet::EMPTY,
                shared: LockSet::EMPTY,
            },
        )
    }

    /// The request (before the walk starts: what was asked for; afterwards: what it takes).
    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    /// The locks the walk holds, newest first.
    pub(crate) fn held(&self) -> impl Iterator<Item = usize> + '_ {
        self.request.want.iter_rev_below(self.next)
    }

    /// Whether the walk listens for a lock.
    pub(crate) fn is_listening(&self) -> bool {
        self.listener.is_some()
    }
}
