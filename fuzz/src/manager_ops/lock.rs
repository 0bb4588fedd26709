//! The model of one lock, in plain data: who holds it and how, the protocol's waiting bits, the
//! reservation, the count of waiting writers, and its three events as lists of listeners. It
//! follows the hand-off policy's table (`src/handoff.rs`: rows T1-T7 for a take, L1-L5 for a
//! refused waiter, R1-R3 for a release, G1-G5 for a waiter that stops waiting), restated here on
//! purpose, in the model's own terms, so that a change to the library's table that this model
//! does not also make shows up as a divergence; and the waiter lists' rules for notifying
//! (`src/waiters.rs`, those of `event-listener`: FIFO; a plain `notify(n)` tops the notified
//! listeners up to `n`, an additional one notifies `n` more; and the head of the line, over the
//! readers' and writers' events in the order their listeners came, for R2),
//! so that every try, poll and release of the real lock can be predicted exactly. The comments
//! name the rows.

use std::sync::Arc;

use lockorder::Mode;

use super::model::Counter;

/// Who asks for a lock, which decides whether it must yield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    New,
    Listening,
    Woken,
    Reserved,
}

/// Why a try fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// Held in a conflicting mode.
    Held,
    /// Free or shareable, but the taker yields.
    Yield,
}

/// Which of a lock's events a listener is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum On {
    Readers,
    Writers,
    Reservation,
}

impl On {
    /// The queue for a mode.
    pub(crate) fn queue(mode: Mode) -> On {
        match mode {
            Mode::Shared => On::Readers,
            Mode::Exclusive => On::Writers,
        }
    }
}

/// A listener of a future (model id `fut`) on one of the events.
pub(crate) struct Entry {
    pub(crate) fut: u64,
    /// When it started listening, counted over all of the lock's events: the line's order.
    seq: u64,
    pub(crate) notified: bool,
    /// The waker it was last polled with, and that waker's count before that poll.
    pub(crate) waker: Arc<Counter>,
    pub(crate) seen: usize,
}

/// An event: its listeners in the order they registered; the notified ones come first.
#[derive(Default)]
pub(crate) struct Event {
    pub(crate) entries: Vec<Entry>,
}

impl Event {
    /// Notifies up to `n` listeners (`additional`: `n` more than those notified already), in
    /// order; returns how many it notified.
    fn notify(&mut self, n: usize, additional: bool) -> usize {
        let notified = self.entries.iter().filter(|e| e.notified).count();
        let n = if additional {
            n
        } else if n < notified {
            return 0;
        } else {
            n - notified
        };
        let mut count = 0;
        for e in self.entries.iter_mut().filter(|e| !e.notified).take(n) {
            e.notified = true;
            count += 1;
        }
        count
    }

    /// The listener of `fut`, taken off the list.
    fn remove(&mut self, fut: u64) -> Entry {
        let at = self
            .entries
            .iter()
            .position(|e| e.fut == fut)
            .expect("model: the future listens here");
        self.entries.remove(at)
    }

    fn entry_mut(&mut self, fut: u64) -> &mut Entry {
        self.entries
            .iter_mut()
            .find(|e| e.fut == fut)
            .expect("model: the future listens here")
    }
}

/// Who holds a lock: model ids of futures (while they walk) or guards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Holders {
    #[default]
    Free,
    Exclusive(u64),
    /// Readers, in the order they joined.
    Shared(Vec<u64>),
}

#[derive(Default)]
pub(crate) struct LockModel {
    pub(crate) holders: Holders,
    wait_s: bool,
    wait_x: bool,
    reserved: bool,
    writers_waiting: u32,
    /// The next listener's place in the line.
    next_seq: u64,
    pub(crate) readers: Event,
    pub(crate) writers: Event,
    pub(crate) reservation: Event,
}

impl LockModel {
    pub(crate) fn is_free(&self) -> bool {
        self.holders == Holders::Free
    }

    /// Whether a try in `mode` on `turn` would take the lock now.
    pub(crate) fn check(&self, mode: Mode, turn: Turn) -> Result<(), Busy> {
        match (mode, &self.holders) {
            (Mode::Exclusive, Holders::Free) => {}
            (Mode::Exclusive, _) | (Mode::Shared, Holders::Exclusive(_)) => return Err(Busy::Held),
            (Mode::Shared, _) => {}
        }
        // T3 and T4; the rest takes (T5-T7).
        let reserved = self.reserved && turn != Turn::Reserved;
        let behind_writers = mode == Mode::Shared
            && matches!(turn, Turn::New | Turn::Listening)
            && self.writers_waiting != 0;
        if reserved || behind_writers {
            return Err(Busy::Yield);
        }
        Ok(())
    }

    /// A try by `who`: whether it started the holding (a writer, or the first reader).
    pub(crate) fn try_lock(&mut self, who: u64, mode: Mode, turn: Turn) -> Result<bool, Busy> {
        self.check(mode, turn)?;
        if turn == Turn::Reserved {
            // T7: the reservation's turn has come: the lock is open to all again, and this
            // holder's release wakes the queues the reservation kept asleep.
            self.reserved = false;
            self.wait_s = true;
            self.wait_x = true;
        }
        if matches!(turn, Turn::Listening | Turn::Woken) {
            // T6: a waiter's take, in either mode, sets both bits again: the release that woke
            // it cleared them and woke only the head of the line; others may queue behind it.
            self.wait_s = true;
            self.wait_x = true;
        }
        if turn == Turn::Reserved && mode == Mode::Shared && self.writers_waiting == 0 {
            self.readers.notify(usize::MAX, false);
        }
        Ok(match mode {
            Mode::Exclusive => {
                self.holders = Holders::Exclusive(who);
                true
            }
            Mode::Shared => match &mut self.holders {
                Holders::Shared(readers) => {
                    readers.push(who);
                    false
                }
                holders => {
                    *holders = Holders::Shared(vec![who]);
                    true
                }
            },
        })
    }

    pub(crate) fn event_mut(&mut self, on: On) -> &mut Event {
        match on {
            On::Readers => &mut self.readers,
            On::Writers => &mut self.writers,
            On::Reservation => &mut self.reservation,
        }
    }

    /// `fut` starts listening on `on`; on a queue it also sets that queue's waiting bit.
    pub(crate) fn listen(&mut self, fut: u64, on: On, waker: Arc<Counter>, seen: usize) {
        match on {
            On::Readers => self.wait_s = true,
            On::Writers => self.wait_x = true,
            On::Reservation => {}
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.event_mut(on).entries.push(Entry {
            fut,
            seq,
            notified: false,
            waker,
            seen,
        });
    }

    /// L2: a woken waiter was refused because the lock is held: it reserves the lock (listening on
    /// the reservation's event), unless someone has.
    pub(crate) fn reserve(&mut self, fut: u64, waker: Arc<Counter>, seen: usize) -> bool {
        if self.reserved {
            return false;
        }
        self.listen(fut, On::Reservation, waker, seen);
        self.reserved = true;
        true
    }

    /// G1: the reserving waiter gives up: the reservation goes (the waiting bits stay), every
    /// reader is woken, and one writer more than are notified already (a notification already
    /// out may belong to a writer that took the lock and is about to discard it).
    pub(crate) fn unreserve(&mut self) {
        // The waiting bits stay: the holder's release must see the `WAIT_X` of its take.
        self.reserved = false;
        self.writers.notify(1, true);
        self.readers.notify(usize::MAX, false);
    }

    /// Polls the listener of `fut` on `on`: if it was notified it is done (and off the list);
    /// otherwise it now wakes `waker`.
    pub(crate) fn poll_listener(
        &mut self,
        fut: u64,
        on: On,
        waker: &Arc<Counter>,
        seen: usize,
    ) -> bool {
        let event = self.event_mut(on);
        let entry = event.entry_mut(fut);
        if entry.notified {
            event.remove(fut);
            return true;
        }
        entry.waker = waker.clone();
        entry.seen = seen;
        false
    }

    /// Takes the listener of `fut` off `on`: whether it had been notified.
    pub(crate) fn discard(&mut self, fut: u64, on: On) -> bool {
        self.event_mut(on).remove(fut).notified
    }

    pub(crate) fn writer_waits(&mut self) {
        self.writers_waiting += 1;
    }

    /// G3: a writer stops waiting; the last one wakes the readers, unless a writer holds the lock.
    pub(crate) fn writer_done(&mut self) {
        self.writers_waiting -= 1;
        let writer_holds = matches!(self.holders, Holders::Exclusive(_));
        if self.writers_waiting == 0 && self.wait_s && !writer_holds {
            self.readers.notify(usize::MAX, false);
        }
    }

    /// `who` gives back its holding in `mode`. The release that frees the lock clears the
    /// waiting bits and wakes the reserving waiter alone (R1), or else the head of the line, if
    /// either bit was set (R2).
    pub(crate) fn unlock(&mut self, who: u64, mode: Mode) {
        match (mode, &mut self.holders) {
            (Mode::Exclusive, Holders::Exclusive(h)) if *h == who => {}
            (Mode::Shared, Holders::Shared(readers)) if readers.contains(&who) => {
                readers.retain(|&r| r != who);
                if !readers.is_empty() {
                    return;
                }
            }
            (_, holders) => panic!("model: {who} gives back a {mode:?} holding of {holders:?}"),
        }
        self.holders = Holders::Free;
        let (readers, writers) = (self.wait_s, self.wait_x);
        self.wait_s = false;
        self.wait_x = false;
        if self.reserved {
            self.reservation.notify(1, false);
        } else if readers || writers {
            self.wake_head();
        }
    }

    /// R2: wakes the head of the line, the readers' and writers' listeners in the order they
    /// came. A writer woken already at the head: nobody. A writer not woken: it alone, unless
    /// another writer is woken already. A reader: every reader not woken from there up to the
    /// next writer not woken (readers woken already belong to the run).
    pub(crate) fn wake_head(&mut self) {
        let writer_woken = self.writers.entries.iter().any(|e| e.notified);
        let line = self.line();
        let mut run = false;
        for (_, on, i) in line {
            let entry = &mut self.event_mut(on).entries[i];
            match (on, entry.notified) {
                (On::Writers, true) => break,
                (On::Writers, false) => {
                    if !run && !writer_woken {
                        entry.notified = true;
                    }
                    break;
                }
                (On::Readers, _) => {
                    entry.notified = true;
                    run = true;
                }
                (On::Reservation, _) => unreachable!("not in the line"),
            }
        }
    }

    /// The readers' and writers' listeners in the order they came.
    fn line(&self) -> Vec<(u64, On, usize)> {
        let mut line: Vec<(u64, On, usize)> = (self.readers.entries.iter().enumerate())
            .map(|(i, e)| (e.seq, On::Readers, i))
            .chain((self.writers.entries.iter().enumerate()).map(|(i, e)| (e.seq, On::Writers, i)))
            .collect();
        line.sort_unstable_by_key(|&(seq, _, _)| seq);
        line
    }

    /// Whether a writer holds the lock with a waiting bit or the reservation set: its release is
    /// still to come and serves the line (G5 then wakes nobody).
    pub(crate) fn holder_serves(&self) -> bool {
        matches!(self.holders, Holders::Exclusive(_))
            && (self.wait_s || self.wait_x || self.reserved)
    }

    /// G5: a writer left the line without a wake-up: if readers are at the head of the line,
    /// they are woken (up to the next writer).
    pub(crate) fn wake_run(&mut self) {
        if self
            .line()
            .first()
            .is_some_and(|&(_, on, _)| on == On::Readers)
        {
            self.wake_head();
        }
    }

    /// G2: a woken waiter gives up: its wake-up passes on to whoever is next in line, every
    /// reader and one writer more than are notified.
    pub(crate) fn pass_on(&mut self) {
        self.readers.notify(usize::MAX, false);
        self.writers.notify(1, true);
    }

    /// G4: the reserving waiter gives up with its listener notified and unused: that wake-up
    /// passes to the next reserving waiter (one more than are notified), since it may have been
    /// a newer reservation's.
    pub(crate) fn pass_reservation_on(&mut self) {
        self.reservation.notify(1, true);
    }

    /// Renames a holder (a walk's locks go to its guard).
    pub(crate) fn rename(&mut self, from: u64, to: u64) {
        match &mut self.holders {
            Holders::Exclusive(h) if *h == from => *h = to,
            Holders::Shared(readers) => {
                for r in readers.iter_mut().filter(|r| **r == from) {
                    *r = to;
                }
            }
            holders => panic!("model: {from} does not hold {holders:?}"),
        }
    }

    /// Whether a reader sleeps beside a shared holding it could join, with nothing left to wake
    /// it: no writer waits (whose take or giving up would) and no reservation is pending (whose
    /// take would). Only the last reader's release would wake it, and new readers can keep
    /// overlapping forever.
    pub(crate) fn leaves_a_reader_asleep(&self) -> bool {
        matches!(self.holders, Holders::Shared(_))
            && !self.reserved
            && self.writers_waiting == 0
            && self.readers.entries.iter().any(|e| !e.notified)
    }

    /// Every listener, on any event.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.readers
            .entries
            .iter()
            .chain(&self.writers.entries)
            .chain(&self.reservation.entries)
    }
}
