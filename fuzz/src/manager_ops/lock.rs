//! The model of one lock, in plain data: who holds it and how, the protocol's waiting bits, the
//! bounded-waiting reservation, the count of waiting writers, and its two events as lists of
//! listeners. It follows the rules the library documents for its raw lock (`src/raw.rs`) and
//! event-listener's rules for notifying (FIFO; a plain `notify(n)` tops the notified listeners
//! up to `n`, an additional one notifies `n` more), so that every try, poll and release of the
//! real lock can be predicted exactly.
//!
//! * A writer takes a lock that nobody holds; a reader one that no writer holds.
//! * *Turns*: a newcomer (`New`, or `Listening` right after it registered a listener) yields to
//!   a reservation (`starve`), and a new reader also yields to waiting writers; a waiter that has
//!   been woken (`Priority`) yields to nobody and lifts the reservation when it takes the lock.
//! * A release that frees the lock clears the waiting bits and wakes one writer and every
//!   reader; if it woke nobody while a reservation was up, it lifts the reservation (and wakes
//!   whoever listened meanwhile). The last waiting writer to stop waiting wakes the readers, unless
//!   a writer holds the lock. A woken waiter that gives up passes its wake-up on.

use std::sync::Arc;

use lockorder::Mode;

use super::model::Counter;

/// Who asks for a lock, which decides whether it must yield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    New,
    Listening,
    Priority,
}

/// Why a try fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// Held in a conflicting mode.
    Held,
    /// Free or shareable, but the taker yields.
    Yield,
}

/// A listener of a future (model id `fut`) on one of the events.
pub(crate) struct Entry {
    pub(crate) fut: u64,
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

/// The waiting bits and the reservation, as a release hands them to `wake`.
#[derive(Debug, Clone, Copy)]
struct Bits {
    readers: bool,
    writers: bool,
    starve: bool,
}

#[derive(Default)]
pub(crate) struct LockModel {
    pub(crate) holders: Holders,
    wait_s: bool,
    wait_x: bool,
    starve: bool,
    writers_waiting: u32,
    pub(crate) readers: Event,
    pub(crate) writers: Event,
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
        let yields = match mode {
            Mode::Exclusive => self.starve,
            Mode::Shared => self.starve || self.writers_waiting != 0,
        };
        if turn != Turn::Priority && yields {
            return Err(Busy::Yield);
        }
        Ok(())
    }

    /// A try by `who`: whether it started the holding (a writer, or the first reader).
    pub(crate) fn try_lock(&mut self, who: u64, mode: Mode, turn: Turn) -> Result<bool, Busy> {
        self.check(mode, turn)?;
        if turn == Turn::Priority {
            self.starve = false;
        }
        Ok(match mode {
            Mode::Exclusive => {
                // A waiter sets the writers' bit again: others may queue behind it.
                if turn != Turn::New {
                    self.wait_x = true;
                }
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

    /// `fut` starts listening for a release that may let `mode` in.
    pub(crate) fn listen(&mut self, fut: u64, mode: Mode, waker: Arc<Counter>, seen: usize) {
        let entry = Entry {
            fut,
            notified: false,
            waker,
            seen,
        };
        match mode {
            Mode::Shared => {
                self.readers.entries.push(entry);
                self.wait_s = true;
            }
            Mode::Exclusive => {
                self.writers.entries.push(entry);
                self.wait_x = true;
            }
        }
    }

    pub(crate) fn event_mut(&mut self, mode: Mode) -> &mut Event {
        match mode {
            Mode::Shared => &mut self.readers,
            Mode::Exclusive => &mut self.writers,
        }
    }

    /// Polls the listener of `fut`: if it was notified it is done (and off the list);
    /// otherwise it now wakes `waker`.
    pub(crate) fn poll_listener(
        &mut self,
        fut: u64,
        mode: Mode,
        waker: &Arc<Counter>,
        seen: usize,
    ) -> bool {
        let event = self.event_mut(mode);
        let entry = event.entry_mut(fut);
        if entry.notified {
            event.remove(fut);
            return true;
        }
        entry.waker = waker.clone();
        entry.seen = seen;
        false
    }

    /// Takes the listener of `fut` off the list: whether it had been notified.
    pub(crate) fn discard(&mut self, fut: u64, mode: Mode) -> bool {
        self.event_mut(mode).remove(fut).notified
    }

    /// A woken waiter was refused: newcomers yield from now on.
    pub(crate) fn passed_over(&mut self) {
        self.starve = true;
    }

    pub(crate) fn writer_waits(&mut self) {
        self.writers_waiting += 1;
    }

    /// A writer stops waiting; the last one wakes the readers, unless a writer holds the lock.
    pub(crate) fn writer_done(&mut self) {
        self.writers_waiting -= 1;
        let writer_holds = matches!(self.holders, Holders::Exclusive(_));
        if self.writers_waiting == 0 && self.wait_s && !writer_holds {
            self.readers.notify(usize::MAX, false);
        }
    }

    /// `who` gives back its holding in `mode`.
    pub(crate) fn unlock(&mut self, who: u64, mode: Mode) {
        match (mode, &mut self.holders) {
            (Mode::Exclusive, Holders::Exclusive(h)) if *h == who => {
                self.holders = Holders::Free;
            }
            (Mode::Shared, Holders::Shared(readers)) if readers.contains(&who) => {
                readers.retain(|&r| r != who);
                if !readers.is_empty() {
                    return;
                }
                self.holders = Holders::Free;
            }
            (_, holders) => panic!("model: {who} gives back a {mode:?} holding of {holders:?}"),
        }
        let bits = Bits {
            readers: self.wait_s,
            writers: self.wait_x,
            starve: self.starve,
        };
        self.wait_s = false;
        self.wait_x = false;
        if bits.readers || bits.writers || bits.starve {
            self.wake(bits);
        }
    }

    /// Wakes one writer and every reader, as `bits` says may listen; if that woke nobody while a
    /// reservation was up, the reservation goes, and whoever listened meanwhile is woken.
    fn wake(&mut self, mut bits: Bits) {
        loop {
            let mut woken = 0;
            if bits.writers {
                woken += self.writers.notify(1, false);
            }
            if bits.readers {
                woken += self.readers.notify(usize::MAX, false);
            }
            if woken != 0 || !bits.starve {
                return;
            }
            let old = Bits {
                readers: self.wait_s,
                writers: self.wait_x,
                starve: self.starve,
            };
            self.starve = false;
            self.wait_s = false;
            self.wait_x = false;
            if !old.starve || !(old.readers || old.writers) {
                return;
            }
            bits = Bits {
                starve: false,
                ..old
            };
        }
    }

    /// A woken waiter in `mode` gives up: its wake-up passes on.
    pub(crate) fn pass_on(&mut self, mode: Mode) {
        let woken = match mode {
            Mode::Exclusive => self.writers.notify(1, true),
            Mode::Shared => 0,
        };
        if woken == 0 && self.starve {
            self.wake(Bits {
                readers: self.wait_s,
                writers: self.wait_x,
                starve: true,
            });
        }
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
}
