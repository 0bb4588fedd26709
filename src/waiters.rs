//! The waiter lists of a raw lock: whom a release may wake, in the order they came.
//!
//! A lock has three lists ([`Queue`]: its readers, its writers, and the waiter holding its
//! reservation), kept in one FIFO of entries under one small lock. A waiter *listens*: it gets a
//! [`Listener`] (plain data, a ticket) and an entry at the back. A *notification* marks entries
//! of one list, oldest first, and wakes their wakers; a notified entry's next poll is ready and
//! removes it; *discarding* a listener removes its entry and says whether it was notified, without
//! passing the notification on (the walk decides that, [`crate::handoff::passes_on`]). The
//! rules are those of the `event-listener` crate, which the hand-off policy was written against
//! and which its fuzz model restates: `notify(n)` notifies until `n` entries of the list are
//! notified (counting those notified already and not yet removed), `notify_additional(n)`
//! notifies `n` more.
//!
//! What this module does differently, and why it exists:
//!
//! * **No foreign code under the lists' lock** (without `std`, but a waker's clone). Wakers are
//!   taken out of their entries under the lock and woken after it, a few at a time; the wakers a
//!   poll replaces and the ones of removed entries are dropped after it too. A waker that panics
//!   (in `wake` or in `drop`) finds the lists consistent, and with `std` the panic is kept and
//!   goes on once the notification is done ([`crate::unwind`]): every notified waiter is woken
//!   all the same. With `std` a poll clones the task's waker before it takes the lock; without
//!   it, under the lock, before the entry changes (a panicking clone changes nothing; a clone
//!   that takes or releases a lock of the same manager deadlocks there, as with
//!   `event-listener`).
//! * **No allocation per wait.** A listener is a ticket; an entry lives in the lock's list,
//!   whose buffer grows to the most waiters the lock has had and is kept.
//!
//! The lists' lock is a critical section with the `critical-section` feature (an interrupt
//! handler may then release a lock while a task is inside one of these calls), else `std`'s
//! mutex with `std`, else a spin lock; under loom, loom's mutex, so the models explore it.
//!
//! A listener that is never given back (its future leaked with `mem::forget`) keeps its entry
//! for good, and a notification it got stays with it, as in `event-listener`. Tickets are a
//! machine word and wrap: after that many more listens on one lock (2^30 on a 32-bit target), a
//! new listener may share the leaked one's ticket and be taken for it, which is as if the new
//! one were the leaked one.

use alloc::collections::VecDeque;
use core::num::NonZeroUsize;
use core::task::{Poll, Waker};

/// One of a lock's three lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    /// Readers; a release wakes them all.
    Readers = 0,
    /// Writers; a release wakes one.
    Writers = 1,
    /// The waiter holding the lock's reservation, alone.
    Reserved = 2,
}

/// A waiter's place in a lock's lists: its ticket, with the list in the low two bits.
///
/// Plain data: the walk that listens gives it back ([`Waiters::discard`], or a ready poll)
/// before it forgets it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listener(NonZeroUsize);

impl Listener {
    const QUEUE: usize = 0b11;

    /// The list it listens on.
    pub(crate) fn queue(self) -> Queue {
        match self.0.get() & Self::QUEUE {
            0 => Queue::Readers,
            1 => Queue::Writers,
            _ => Queue::Reserved,
        }
    }
}

impl core::fmt::Debug for Listener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Listener")
            .field("queue", &self.queue())
            .field("ticket", &(self.0.get() >> 2))
            .finish()
    }
}

struct Entry {
    listener: Listener,
    /// Whether notified, and how (kept so that a dropped notification passes on as it came).
    notified: Notified,
    /// The waker to wake when notified: `None` before the first poll, and once a notification
    /// has taken it out to wake it.
    waker: Option<Waker>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Notified {
    No,
    /// By a `notify(n)`.
    Plain,
    /// By a `notify_additional(n)`.
    Additional,
}

/// The lists of one lock.
struct Lists {
    /// Every entry, oldest first; a list's entries are those with its [`Queue`].
    entries: VecDeque<Entry>,
    /// How many entries of each list are notified.
    notified: [u32; 3],
    /// The next ticket, in steps of four (a listener's low two bits name its list), never zero;
    /// its lowest bit says whether the tickets have wrapped (from then on a new ticket skips
    /// those still listed).
    next: usize,
}

/// What a notification reaches ([`Waiters::rounds`]).
#[derive(Clone, Copy)]
enum Whom {
    /// A list: how many, and whether more than are notified already.
    List(Queue, usize, bool),
    /// The head of the line ([`Waiters::notify_head`]).
    Head,
    /// The head of the line if it is readers ([`Waiters::notify_run`]).
    Run,
}

/// The ticket counter's flag: tickets have wrapped.
const WRAPPED: usize = 1;

/// How many wakers a notification takes out under the lock before it wakes them (one under
/// loom, so that its models, of a few waiters, see a notification in more than one round).
const BATCH: usize = if cfg!(loom) { 1 } else { 8 };

/// Wakers taken out of their entries under the lock, to wake after it.
type Batch = [Option<Waker>; BATCH];

/// The waiter lists of one lock.
pub(crate) struct Waiters {
    lists: Mutex<Lists>,
}

impl Waiters {
    crate::sync::loom_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                lists: Mutex::new(Lists {
                    entries: VecDeque::new(),
                    notified: [0; 3],
                    next: 4,
                }),
            }
        }
    }

    /// Adds an entry at the back of `queue`.
    pub(crate) fn listen(&self, queue: Queue) -> Listener {
        self.lists.with(|lists| {
            let listener = lists.ticket(queue);
            lists.entries.push_back(Entry {
                listener,
                notified: Notified::No,
                waker: None,
            });
            listener
        })
    }

    /// Ready (and the entry removed) if the listener was notified; otherwise `waker` is the one
    /// its notification will wake. The waker replaced, or the one of a removed entry, is
    /// dropped after the lock, as foreign code whose panic is kept ([`crate::unwind`]): the
    /// caller records the result, then calls [`crate::unwind::resume`].
    ///
    /// With `std` the waker is cloned before the lock, so no foreign code runs under it (a
    /// clone that takes or releases a lock of the same manager is served like any caller);
    /// without `std` it is cloned under the lock, and only when the entry's waker would not wake
    /// the same task, as `event-listener` does (the firmware's interrupt checks pend their
    /// interrupt from inside that clone).
    pub(crate) fn poll(&self, listener: Listener, waker: &Waker) -> Poll<()> {
        #[cfg(feature = "std")]
        let mut new = Some(waker.clone());
        let (ready, old) = self.lists.with(|lists| {
            let Some(at) = lists.find(listener) else {
                // Not listed: only a leaked listener's twin can be here (see the module docs).
                return (Poll::Ready(()), None);
            };
            let entry = &mut lists.entries[at];
            if entry.notified != Notified::No {
                let entry = lists.remove(at);
                return (Poll::Ready(()), entry.waker);
            }
            match &entry.waker {
                Some(old) if old.will_wake(waker) => (Poll::Pending, None),
                #[cfg(feature = "std")]
                _ => (
                    Poll::Pending,
                    core::mem::replace(&mut entry.waker, new.take()),
                ),
                #[cfg(not(feature = "std"))]
                _ => (Poll::Pending, entry.waker.replace(waker.clone())),
            }
        });
        drop_waker(old);
        #[cfg(feature = "std")]
        drop_waker(new);
        ready
    }

    /// Removes the listener's entry; whether it had been notified. Its waker is dropped after
    /// the lock, as in [`poll`](Self::poll).
    pub(crate) fn discard(&self, listener: Listener) -> bool {
        self.remove(listener, false)
    }

    /// Removes the listener's entry; a notification it had passes on as it came, in the same
    /// step, to the next entry of its list not notified yet (what dropping a listener does in
    /// `event-listener`).
    pub(crate) fn drop_listener(&self, listener: Listener) {
        self.remove(listener, true);
    }

    fn remove(&self, listener: Listener, pass_on: bool) -> bool {
        let mut batch = Batch::default();
        let (notified, waker) = self.lists.with(|lists| match lists.find(listener) {
            Some(at) => {
                let entry = lists.remove(at);
                if pass_on && entry.notified != Notified::No {
                    let additional = entry.notified == Notified::Additional;
                    // One entry at most: its waker fits in the batch.
                    let end = lists.entries.len();
                    lists.mark(listener.queue(), 1, additional, &mut batch, &mut 0, end);
                }
                (entry.notified, entry.waker)
            }
            None => (Notified::No, None),
        });
        drop_waker(waker);
        wake_all(&mut batch);
        notified != Notified::No
    }

    /// Notifies `queue`'s entries, oldest first, until `n` of them are notified; or, if
    /// `additional`, `n` more than are. Their wakers are woken after the lock, each even if one
    /// before it panics (with `std` the first panic is kept for [`crate::unwind::resume`]).
    pub(crate) fn notify(&self, queue: Queue, n: usize, additional: bool) {
        self.rounds(Whom::List(queue, n, additional));
    }

    /// Notifies the head of the line, the readers' and writers' lists taken together in the
    /// order their entries came ([`Lists::head`]): the oldest writer not notified, alone, if it
    /// comes before every reader not notified and no writer is notified; otherwise the readers
    /// not notified from the oldest one up to the next writer (nothing if that writer comes
    /// first and is notified). Wakers as in [`notify`](Self::notify).
    pub(crate) fn notify_head(&self) {
        self.rounds(Whom::Head);
    }

    /// Notifies the head of the line if it is readers (those not notified, up to the next
    /// writer); nothing if it is a writer. Wakers as in [`notify`](Self::notify).
    pub(crate) fn notify_run(&self) {
        self.rounds(Whom::Run);
    }

    /// A notification: the first round marks every entry it reaches, in one step; it and the
    /// rounds after it take out the wakers of that list's notified entries, a batch at a time,
    /// and wake them after the lock. One body for all three kinds, compiled once.
    fn rounds(&self, what: Whom) {
        let mut batch = Batch::default();
        let mut after = 0;
        let (queue, mut more) = self.lists.with(|lists| {
            let (queue, n, additional, end) = match what {
                Whom::List(queue, n, additional) => (queue, n, additional, lists.entries.len()),
                Whom::Head | Whom::Run => match (what, lists.head()) {
                    (Whom::Head, (Queue::Writers, end)) => (Queue::Writers, 1, false, end),
                    (_, (Queue::Readers, end)) => (Queue::Readers, usize::MAX, false, end),
                    // `Run`, and the head of the line is a writer: nothing to mark (an empty
                    // range).
                    _ => (Queue::Readers, 0, true, 0),
                },
            };
            let more = lists.mark(queue, n, additional, &mut batch, &mut after, end);
            (queue, more)
        });
        loop {
            wake_all(&mut batch);
            if !more {
                return;
            }
            more = self.lists.with(|lists| {
                let end = lists.entries.len();
                lists.mark(queue, 0, true, &mut batch, &mut after, end)
            });
        }
    }
}

impl Lists {
    /// The head of the line ([`Waiters::notify_head`]): the list to notify, and where in
    /// `entries` its notification stops. The writers' list if the oldest entry not notified is a
    /// writer (a plain notification of one then tops it up: none if a writer is notified);
    /// otherwise the readers' up to the first writer, notified or not, behind them (a reader
    /// notified already belongs to the run; a writer notified already ends the line there).
    fn head(&self) -> (Queue, usize) {
        let mut run = false;
        for (at, entry) in self.entries.iter().enumerate() {
            match entry.listener.queue() {
                Queue::Reserved => {}
                Queue::Readers => run = true,
                Queue::Writers if run || entry.notified != Notified::No => {
                    return (Queue::Readers, at);
                }
                Queue::Writers => return (Queue::Writers, self.entries.len()),
            }
        }
        (Queue::Readers, self.entries.len())
    }

    /// A new ticket for `queue`: one not listed (tickets wrap after `usize::MAX / 4` listens).
    fn ticket(&mut self, queue: Queue) -> Listener {
        loop {
            let wrapped = self.next & WRAPPED;
            let ticket = self.next & !WRAPPED;
            self.next = match ticket.wrapping_add(4) {
                0 => 4 | WRAPPED,
                next => next | wrapped,
            };
            // `ticket` is a non-zero multiple of four, so this is never the fallback.
            let listener =
                Listener(NonZeroUsize::new(ticket | queue as usize).unwrap_or(NonZeroUsize::MIN));
            let taken = self.next & WRAPPED != 0
                && self
                    .entries
                    .iter()
                    .any(|e| e.listener.0.get() & !Listener::QUEUE == ticket);
            if !taken {
                return listener;
            }
        }
    }

    /// Whether tickets have wrapped: until then, entries are in ticket order (tickets only grow,
    /// and entries join at the back).
    fn wrapped(&self) -> bool {
        self.next & WRAPPED != 0
    }

    /// Where the listener's entry is: found by bisection while the entries are in ticket order,
    /// by a scan once tickets have wrapped.
    fn find(&self, listener: Listener) -> Option<usize> {
        // Without `std`, where flash counts more than a scan of a few waiters, always a scan.
        if !cfg!(feature = "std") || self.wrapped() {
            return self.entries.iter().position(|e| e.listener == listener);
        }
        // A ticket's list bits sit below its count, so listeners order as their tickets do.
        self.entries
            .binary_search_by(|e| e.listener.0.cmp(&listener.0))
            .ok()
    }

    fn remove(&mut self, at: usize) -> Entry {
        let entry = self.entries.remove(at).expect("a found entry");
        if entry.notified != Notified::No {
            self.notified[entry.listener.queue() as usize] -= 1;
        }
        entry
    }

    /// Marks `queue`'s entries notified, oldest first, until `n` of them are (or `n` more, if
    /// `additional`), and takes the wakers of its notified entries into `batch` while it has
    /// room; whether a notified entry's waker is left for another round.
    ///
    /// `after` is the listener of the last entry whose waker an earlier round of the same
    /// notification took (0 before the first): while entries are in ticket order, a round starts
    /// after it, since the entries before it have given up their wakers (a notified entry gets
    /// none again: its next poll is ready and removes it). It is then moved on. Without `std`,
    /// where flash counts more than a scan of a few waiters, every round starts at the front.
    /// Entries from `end` on are left as they are.
    fn mark(
        &mut self,
        queue: Queue,
        n: usize,
        additional: bool,
        batch: &mut Batch,
        after: &mut usize,
        end: usize,
    ) -> bool {
        let q = queue as usize;
        let mut left = if additional {
            n
        } else {
            n.saturating_sub(self.notified[q] as usize)
        };
        // The batch comes empty: a fresh one, or one `wake_all` has emptied.
        let mut taken = 0;
        let mut more = false;
        let from = if cfg!(feature = "std") && !self.wrapped() {
            self.entries
                .partition_point(|e| e.listener.0.get() <= *after)
                .min(end)
        } else {
            0
        };
        for entry in self.entries.range_mut(from..end) {
            if entry.listener.queue() != queue {
                continue;
            }
            if entry.notified == Notified::No {
                if left == 0 {
                    continue;
                }
                left -= 1;
                entry.notified = if additional {
                    Notified::Additional
                } else {
                    Notified::Plain
                };
                self.notified[q] += 1;
            }
            if entry.waker.is_some() {
                if taken == BATCH {
                    // Notified, its waker still in: the next round wakes it.
                    more = true;
                    if left == 0 {
                        break;
                    }
                    continue;
                }
                batch[taken] = entry.waker.take();
                *after = entry.listener.0.get();
                taken += 1;
            }
        }
        more
    }
}

/// Wakes every waker of the batch, each even if one before it panics: with `std` a panic is
/// caught and kept; without it, the rest are woken while it unwinds.
fn wake_all(batch: &mut Batch) {
    /// Wakes what is left: nothing on the normal path; while unwinding from a waker's panic
    /// (without `std`), the wakers after it.
    struct Rest<'a>(&'a mut Batch);
    impl Drop for Rest<'_> {
        fn drop(&mut self) {
            wake_each(self.0);
        }
    }
    fn wake_each(batch: &mut Batch) {
        for waker in batch.iter_mut() {
            if let Some(waker) = waker.take() {
                crate::unwind::catching(|| waker.wake());
            }
        }
    }
    let rest = Rest(batch);
    wake_each(rest.0);
}

/// Drops a waker taken out of an entry (foreign code) after the lock.
fn drop_waker(waker: Option<Waker>) {
    if let Some(waker) = waker {
        crate::unwind::catching(|| drop(waker));
    }
}

impl core::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Waiters").finish_non_exhaustive()
    }
}

// === The lists' lock ===

/// The lock over a lock's lists: `with` runs a closure on the lists, which runs no foreign code
/// but a waker's clone (after which it changes nothing, so a panic there leaves them as they
/// were). A critical section with the `critical-section` feature (with `std` too: then the
/// application's implementation decides, `critical-section/std`'s is one global lock), else
/// `std`'s mutex, else a spin lock; loom's mutex under loom.
struct Mutex<T> {
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
    #[cfg(all(not(loom), feature = "critical-section"))]
    inner: critical_section::Mutex<core::cell::RefCell<T>>,
    #[cfg(all(not(loom), not(feature = "critical-section"), feature = "std"))]
    inner: std::sync::Mutex<T>,
    #[cfg(all(not(loom), not(feature = "critical-section"), not(feature = "std")))]
    inner: spin::Mutex<T>,
}

impl<T> Mutex<T> {
    #[cfg(loom)]
    fn new(value: T) -> Self {
        Self {
            inner: loom::sync::Mutex::new(value),
        }
    }

    #[cfg(all(not(loom), feature = "critical-section"))]
    const fn new(value: T) -> Self {
        Self {
            inner: critical_section::Mutex::new(core::cell::RefCell::new(value)),
        }
    }

    #[cfg(all(not(loom), not(feature = "critical-section"), feature = "std"))]
    const fn new(value: T) -> Self {
        Self {
            inner: std::sync::Mutex::new(value),
        }
    }

    #[cfg(all(not(loom), not(feature = "critical-section"), not(feature = "std")))]
    const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        #[cfg(loom)]
        {
            f(&mut self.inner.lock().unwrap())
        }
        #[cfg(all(not(loom), feature = "critical-section"))]
        {
            critical_section::with(|cs| f(&mut self.inner.borrow_ref_mut(cs)))
        }
        #[cfg(all(not(loom), not(feature = "critical-section"), feature = "std"))]
        {
            // A panic under the lock (a waker's clone) changed nothing: the lists are sound.
            f(&mut self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner))
        }
        #[cfg(all(not(loom), not(feature = "critical-section"), not(feature = "std")))]
        {
            f(&mut self.inner.lock())
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);
    impl alloc::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn notify_counts_those_notified_already_and_additional_does_not() {
        let w = Waiters::new();
        let (count, waker) = counter();
        let l: [Listener; 3] = core::array::from_fn(|_| w.listen(Queue::Writers));
        for l in l {
            assert!(w.poll(l, &waker).is_pending());
        }
        w.notify(Queue::Writers, 1, false);
        w.notify(Queue::Writers, 1, false);
        assert_eq!(
            count.0.load(Ordering::Relaxed),
            1,
            "one is notified already"
        );
        w.notify(Queue::Writers, 1, true);
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
        assert!(w.poll(l[0], &waker).is_ready());
        assert!(w.poll(l[1], &waker).is_ready());
        assert!(w.poll(l[2], &waker).is_pending(), "notified in order");
        // The two notified entries are gone: a plain notify(1) reaches the third.
        w.notify(Queue::Writers, 1, false);
        assert!(w.discard(l[2]), "notified, then discarded");
    }

    #[test]
    fn lists_are_apart_and_notify_all_wakes_more_than_a_batch() {
        let w = Waiters::new();
        let (count, waker) = counter();
        let writer = w.listen(Queue::Writers);
        let readers: alloc::vec::Vec<Listener> = (0..3 * BATCH + 1)
            .map(|_| w.listen(Queue::Readers))
            .collect();
        let reserved = w.listen(Queue::Reserved);
        for &l in readers.iter().chain([&writer, &reserved]) {
            assert!(w.poll(l, &waker).is_pending());
        }
        w.notify(Queue::Readers, usize::MAX, false);
        assert_eq!(count.0.load(Ordering::Relaxed), readers.len());
        assert!(w.poll(writer, &waker).is_pending());
        assert!(w.poll(reserved, &waker).is_pending());
        for l in readers {
            assert!(w.poll(l, &waker).is_ready());
        }
        assert!(!w.discard(writer));
        w.notify(Queue::Reserved, 1, false);
        assert!(w.discard(reserved));
    }

    /// The head of the line: a writer alone, unless a writer is notified already; a run of
    /// readers, more than a batch of them, up to the next writer not notified; the reservation's
    /// list is not in the line.
    #[test]
    fn notify_head_wakes_the_oldest_writer_alone_or_the_readers_up_to_the_next_writer() {
        let w = Waiters::new();
        let (count, waker) = counter();
        let reserved = w.listen(Queue::Reserved);
        let first = w.listen(Queue::Writers);
        let readers: alloc::vec::Vec<Listener> = (0..2 * BATCH + 1)
            .map(|_| w.listen(Queue::Readers))
            .collect();
        let second = w.listen(Queue::Writers);
        let last = w.listen(Queue::Readers);
        for &l in readers.iter().chain([&reserved, &first, &second, &last]) {
            assert!(w.poll(l, &waker).is_pending());
        }
        w.notify_head();
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "the first writer alone");
        w.notify_head();
        assert_eq!(
            count.0.load(Ordering::Relaxed),
            1,
            "a writer is notified already"
        );
        assert!(w.poll(first, &waker).is_ready());
        w.notify_head();
        assert_eq!(count.0.load(Ordering::Relaxed), 1 + readers.len());
        for &l in &readers {
            assert!(w.poll(l, &waker).is_ready());
        }
        assert!(w.poll(second, &waker).is_pending());
        assert!(w.poll(last, &waker).is_pending());
        w.notify_head();
        assert!(w.poll(second, &waker).is_ready());
        assert!(w.poll(last, &waker).is_pending());
        w.notify_head();
        assert!(w.poll(last, &waker).is_ready());
        assert!(!w.discard(reserved));
        assert_eq!(count.0.load(Ordering::Relaxed), readers.len() + 3);
    }

    #[test]
    fn a_notification_before_the_first_poll_is_kept() {
        let w = Waiters::new();
        let l = w.listen(Queue::Readers);
        w.notify(Queue::Readers, usize::MAX, false);
        assert!(w.poll(l, Waker::noop()).is_ready());
        // Its entry is gone: listening again starts over.
        let l = w.listen(Queue::Readers);
        assert!(w.poll(l, Waker::noop()).is_pending());
        assert!(!w.discard(l));
    }

    #[test]
    fn tickets_skip_zero_when_they_wrap() {
        let w = Waiters::new();
        w.lists.with(|lists| lists.next = 0usize.wrapping_sub(4));
        let last = w.listen(Queue::Readers);
        let wrapped = w.listen(Queue::Writers);
        assert_ne!(last, wrapped);
        assert_eq!(wrapped.queue(), Queue::Writers);
        assert_eq!(
            w.lists.with(|lists| lists.next),
            8 | 1,
            "the next ticket, wrapped"
        );
        w.notify(Queue::Writers, 1, false);
        assert!(w.discard(wrapped) && !w.discard(last));
    }

    /// After a wrap, a new ticket skips the tickets of entries still listed: a waiter that has
    /// waited through every ticket keeps its own.
    #[test]
    fn wrapped_tickets_skip_those_still_listed() {
        let w = Waiters::new();
        let (count, waker) = counter();
        let old = w.listen(Queue::Writers); // ticket 4
        assert!(w.poll(old, &waker).is_pending());
        w.lists.with(|lists| {
            lists.next = 0usize.wrapping_sub(4);
        });
        let _last = w.listen(Queue::Writers);
        // Tickets wrapped: 4 is `old`'s, so the new one is 8.
        let new = w.listen(Queue::Writers);
        assert_ne!(new, old);
        assert!(w.poll(new, Waker::noop()).is_pending());
        w.notify(Queue::Writers, 1, false);
        assert_eq!(
            count.0.load(Ordering::Relaxed),
            1,
            "the old waiter's own waker"
        );
        assert!(w.poll(old, &waker).is_ready());
        assert!(w.poll(new, Waker::noop()).is_pending());
    }

    /// Passing a dropped listener's notification on is one step with its removal: a plain
    /// notification racing it cannot add a second one (as in `event-listener`).
    #[test]
    fn a_dropped_listener_passes_on_what_it_had_and_no_more() {
        let w = Waiters::new();
        let [a, b, c] = core::array::from_fn(|_| w.listen(Queue::Reserved));
        w.notify(Queue::Reserved, 1, true);
        w.drop_listener(a);
        w.notify(Queue::Reserved, 1, false);
        assert!(w.poll(b, Waker::noop()).is_ready(), "passed on to the next");
        assert!(
            w.poll(c, Waker::noop()).is_pending(),
            "and the plain one was absorbed"
        );
        assert!(!w.discard(c));
    }
}

/// Loom models of the lists alone (`RUSTFLAGS="--cfg loom" cargo test --release --lib waiters`):
/// a notification racing a poll, a discard and a listener dropped with its notification; each
/// waiter blocks until its poll is ready, so a lost wake-up leaves loom with every thread
/// blocked, which it reports.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use alloc::sync::Arc;
    use core::future::poll_fn;
    use loom::thread;

    /// Waits until `listener` is notified, as a walk does: polls, sleeps until woken.
    fn wait(w: &Waiters, listener: Listener) {
        loom::future::block_on(poll_fn(|cx| w.poll(listener, cx.waker())));
    }

    #[test]
    fn a_notification_racing_the_first_poll_is_not_lost() {
        loom::model(|| {
            let w = Arc::new(Waiters::new());
            let listener = w.listen(Queue::Writers);
            let n = w.clone();
            let notifier = thread::spawn(move || n.notify(Queue::Writers, 1, false));
            wait(&w, listener);
            notifier.join().unwrap();
        });
    }

    #[test]
    fn notify_all_reaches_each_reader_while_they_come_and_go() {
        loom::model(|| {
            let w = Arc::new(Waiters::new());
            let a = w.listen(Queue::Readers);
            let b = w.listen(Queue::Readers);
            let c = w.listen(Queue::Readers);
            let r = w.clone();
            let second = thread::spawn(move || {
                wait(&r, b);
                // A listener that comes after the notification may or may not be reached by it.
                let late = r.listen(Queue::Readers);
                r.discard(late);
            });
            let r = w.clone();
            let third = thread::spawn(move || wait(&r, c));
            // Readers to wake one waker a round: the notification takes rounds, with the
            // others' polls, listens and discards between them.
            w.notify(Queue::Readers, usize::MAX, false);
            wait(&w, a);
            second.join().unwrap();
            third.join().unwrap();
            w.lists.with(|lists| {
                assert!(lists.entries.is_empty());
                assert_eq!(lists.notified, [0; 3]);
            });
        });
    }

    #[test]
    fn a_dropped_notified_listener_passes_its_notification_on() {
        loom::model(|| {
            let w = Arc::new(Waiters::new());
            let first = w.listen(Queue::Reserved);
            let second = w.listen(Queue::Reserved);
            let n = w.clone();
            let notifier = thread::spawn(move || n.notify(Queue::Reserved, 1, false));
            let d = w.clone();
            let dropper = thread::spawn(move || d.drop_listener(first));
            // Notified directly, or through `first` dropped after its notification: either way
            // `second` is woken (dropped before it, `first` took nothing with it).
            wait(&w, second);
            notifier.join().unwrap();
            dropper.join().unwrap();
        });
    }
}
