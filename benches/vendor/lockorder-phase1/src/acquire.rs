//! The `Acquire` future: takes a set of locks in ascending order, with an optional timeout.

use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::mem::{self, ManuallyDrop};
use core::panic::Location;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use event_listener::{EventListener, Listener};
use pin_project_lite::pin_project;

use crate::error::Error;
use crate::guard::Guard;
use crate::manager::LockManager;
use crate::registry::Table;
use crate::set::LockSet;
use crate::status::{HolderId, Publish};
use crate::timer::{MaybeTimer, Timer};

// === Walk: the timer-independent part ===

/// Walks a lock set upward, taking one lock after another. Not generic over the timer.
///
/// Invariant: every position of `want` below `next` is held by this walk, and nothing else is.
/// `Drop` gives those back, newest first, and drops the listener, which passes on a notification
/// it received but did not use.
pub(crate) struct Walk<'a> {
    table: &'a Table,
    want: LockSet,
    next: usize,
    /// Listening for a release of the lock at the cursor. `ManuallyDrop` so that dropping a walk
    /// that never listened (every uncontended acquire) costs no drop call: `Drop` takes it.
    listener: ManuallyDrop<Option<EventListener>>,
    /// Has listened for the lock at the cursor, so takes it as a waiter (see `RawLock`).
    waited: bool,
    /// What each lock taken publishes for status readers.
    pub(crate) publish: Publish,
    /// The holder id of this acquisition: inherited from a parent guard, or named after the
    /// first lock taken.
    pub(crate) holder: Option<HolderId>,
    /// When the walk started waiting for the lock at the cursor.
    #[cfg(feature = "stats")]
    wait_since: Option<Duration>,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(table: &'a Table, want: LockSet, holder: Option<HolderId>) -> Self {
        Self {
            table,
            next: 0,
            listener: ManuallyDrop::new(None),
            waited: false,
            publish: Publish {
                label: None,
                at: None,
            },
            holder,
            #[cfg(feature = "stats")]
            wait_since: None,
            want,
        }
    }

    /// Takes locks upward from the cursor. `Ok` when all are held; `Err(pos)` when the lock at
    /// `pos` is busy. With a context, the walk then listens for its release and the context's
    /// waker will be woken; without one, it only tries.
    pub(crate) fn advance(&mut self, mut cx: Option<&mut Context<'_>>) -> Result<(), usize> {
        for pos in self.want.iter_from(self.next) {
            let slot = &self.table.slots[pos];
            let raw = &slot.raw;
            let mut taken = if self.waited {
                raw.try_lock_as_waiter()
            } else {
                raw.try_lock()
            };
            let generation = loop {
                if let Some(generation) = taken {
                    break generation;
                }
                let Some(cx) = cx.as_mut() else {
                    return Err(pos);
                };
                #[cfg(feature = "stats")]
                if !self.waited {
                    self.wait_since = self.publish.at;
                }
                self.waited = true;
                match &mut *self.listener {
                    None => *self.listener = Some(raw.listen()),
                    Some(listener) => match Pin::new(listener).poll(cx) {
                        Poll::Ready(()) => *self.listener = None,
                        Poll::Pending => return Err(pos),
                    },
                }
                taken = raw.try_lock_as_waiter();
            };
            let holder = *self
                .holder
                .get_or_insert_with(|| HolderId::new(pos, generation));
            slot.record.publish(generation, holder, &self.publish);
            #[cfg(feature = "stats")]
            {
                let wait = self.wait_since.take().zip(self.publish.at);
                slot.stats.acquired(
                    self.waited,
                    wait.map(|(since, now)| now.saturating_sub(since)),
                );
            }
            // A listener exists only once `waited` is set, so a lock taken at the first try has
            // nothing to reset.
            if self.waited {
                // A notification this listener received was meant to let one waiter take the
                // lock, and it just did: discard it rather than wake the next waiter to find the
                // lock busy (and requeue behind later arrivals).
                if let Some(listener) = self.listener.take() {
                    listener.discard();
                }
                self.waited = false;
            }
            self.next = pos + 1;
        }
        Ok(())
    }

    /// Gives back every lock taken so far, newest first, and stops listening.
    pub(crate) fn release(&mut self) {
        // A listener exists only once `waited` is set; skipping the reset otherwise saves the
        // drop call on every completed acquire (whose walk is dropped holding nothing).
        debug_assert!(self.waited || self.listener.is_none());
        if self.waited {
            *self.listener = None;
            self.waited = false;
        }
        let below = mem::take(&mut self.next);
        if below == 0 {
            // Holds nothing: a finished walk (dropped with every completed acquire) or a fresh one.
            return;
        }
        for pos in self.want.iter_rev_below(below) {
            self.table.slots[pos].raw.unlock();
        }
    }

    /// Hands the locks over to a guard once every lock is held; the walk then holds nothing.
    fn finish<'m, T>(&mut self, manager: &'m LockManager<T>, origin: Origin<'_>) -> Guard<'m, T>
    where
        T: MaybeTimer,
    {
        self.next = 0;
        let own = mem::replace(&mut self.want, LockSet::EMPTY);
        Guard::new(manager, own, self.holder, self.publish.label, origin)
    }

    /// Whether this walk is listening for a lock.
    fn is_waiting(&self) -> bool {
        self.listener.is_some()
    }
}

impl Drop for Walk<'_> {
    #[inline]
    fn drop(&mut self) {
        // Every completed acquire drops a walk that holds nothing and listens for nothing: that
        // check stays inline, the release itself does not.
        if self.next != 0 || self.waited {
            self.release();
        }
        // Normally `None` by now (a listener exists only while `waited` is set); taking it drops
        // anything left, since the field is not dropped on its own.
        if let Some(listener) = self.listener.take() {
            drop(listener);
        }
    }
}

// === Acquire ===

/// Where an acquisition comes from, carried from the call into its guard.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// Where `acquire` was called.
    pub(crate) caller: &'static Location<'static>,
    /// For a nested acquisition: what the parent guard covers.
    pub(crate) parent: Option<Parent<'a>>,
}

/// What a nested acquisition needs of its parent guard, borrowed from it (the nested acquire
/// borrows the parent guard anyway).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parent<'a> {
    /// Every lock the parent covers.
    pub(crate) covered: &'a LockSet,
    /// Where the highest of them was taken.
    pub(crate) top_at: &'static Location<'static>,
}

impl Origin<'_> {
    /// A top-level acquisition called from `caller`.
    pub(crate) fn new(caller: &'static Location<'static>) -> Self {
        Self {
            caller,
            parent: None,
        }
    }
}

/// Where an [`Acquire`] is in its life.
enum State {
    /// Refused before taking anything (an unknown key, an order violation): the next poll returns
    /// the error. Holds no lock.
    Refused(Box<Error>),
    /// Taking locks: the walk holds those below its cursor and may listen on the one at the
    /// cursor. Dropping releases them.
    Walking,
    /// Has returned its result. Holds no lock; polling again returns
    /// [`Error::PolledAfterCompletion`].
    Done,
}

pin_project! {
    /// The future returned by [`LockManager::acquire`] and [`Guard::acquire`]: takes a set of
    /// locks in ascending order and resolves to one [`Guard`] for all of them.
    ///
    /// Options are set by chaining before the first poll: [`timeout`](Self::timeout),
    /// [`no_timeout`](Self::no_timeout), [`owner`](Self::owner); [`try_now`](Self::try_now) tries
    /// once instead of waiting.
    ///
    /// Each lock is taken with one compare-and-swap when free. At the first busy lock the future
    /// starts listening for its release and, if it has a timeout, creates the timer's sleep: the
    /// timeout counts from the first contention. An acquire that meets no contention creates no
    /// sleep; with a timer it reads `now()` once, for the status timestamp.
    ///
    /// # Cancel safety
    ///
    /// Dropping an `Acquire` at any point releases every lock it has taken, newest first. If it
    /// had been woken for a lock and is dropped before using the wake-up, the wake-up passes to
    /// the next waiter: cancellation never leaks a lock or strands another waiter. On timeout, the
    /// same happens before [`Error::Timeout`] is returned.
    ///
    /// # Unpin
    ///
    /// `Acquire` is `Unpin` exactly when the timer's sleep future is (always, without a timer).
    ///
    /// ```compile_fail
    /// # use core::{future::Future, pin::Pin, task::{Context, Poll}, time::Duration};
    /// struct PinnedSleep(core::marker::PhantomPinned);
    /// impl Future for PinnedSleep {
    ///     type Output = ();
    ///     fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> { Poll::Pending }
    /// }
    /// struct T;
    /// impl lockorder::Timer for T {
    ///     type Sleep = PinnedSleep;
    ///     fn now(&self) -> Duration { Duration::ZERO }
    ///     fn sleep(&self, _: Duration) -> PinnedSleep { PinnedSleep(core::marker::PhantomPinned) }
    /// }
    /// fn unpin<U: Unpin>(_: U) {}
    /// let mut b = lockorder::LockManager::builder().timer(T);
    /// b.register("db", 1).unwrap();
    /// let m = b.build();
    /// unpin(m.acquire(["db"])); // not Unpin: the sleep future is not
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Acquire<'a, T: MaybeTimer> {
        manager: &'a LockManager<T>,
        walk: Walk<'a>,
        state: State,
        origin: Origin<'a>,
        timeout: Option<Duration>,
        #[pin]
        sleep: Option<T::Sleep>,
    }
}

impl<'a, T: MaybeTimer> Acquire<'a, T> {
    pub(crate) fn new(
        manager: &'a LockManager<T>,
        want: Result<LockSet, Error>,
        origin: Origin<'a>,
        holder: Option<HolderId>,
        owner: Option<&'static str>,
    ) -> Self {
        let (want, state) = match want {
            Ok(want) => (want, State::Walking),
            Err(e) => (LockSet::EMPTY, State::Refused(Box::new(e))),
        };
        let mut walk = Walk::new(&manager.table, want, holder);
        walk.publish.label = owner;
        Self {
            manager,
            walk,
            state,
            origin,
            timeout: manager.default_timeout().filter(|_| T::HAS_TIMER),
            sleep: None,
        }
    }

    /// Waits without a time limit, whatever the manager's default timeout.
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Labels the holder, for status reports; a nested acquire inherits its parent's label.
    ///
    /// ```
    /// # use lockorder::LockManager;
    /// # let mut b = LockManager::builder();
    /// # b.register("db", 10)?;
    /// # let m = b.build();
    /// let g = m.acquire(["db"]).owner("worker-3").try_now()?;
    /// assert_eq!(g.owner(), Some("worker-3"));
    /// # Ok::<(), lockorder::Error>(())
    /// ```
    pub fn owner(mut self, label: &'static str) -> Self {
        self.walk.publish.label = Some(label);
        self
    }

    /// Tries once, with the same options, instead of waiting: all locks or none.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] naming the first busy lock (everything taken is released first),
    /// or the error the request was refused with ([`Error::UnknownLock`],
    /// [`Error::OrderViolation`]).
    pub fn try_now(mut self) -> Result<Guard<'a, T>, Error> {
        match mem::replace(&mut self.state, State::Done) {
            State::Walking => {}
            State::Refused(e) => return Err(*e),
            State::Done => return Err(Error::PolledAfterCompletion),
        }
        self.walk.publish.at = self.manager.timer.now_opt();
        match self.walk.advance(None) {
            Ok(()) => Ok(self.walk.finish(self.manager, self.origin)),
            Err(pos) => {
                self.walk.release();
                Err(Error::WouldBlock {
                    lock: self.manager.table.lock_ref(pos),
                })
            }
        }
    }
}

impl<'a, T: Timer> Acquire<'a, T> {
    /// Gives up after `timeout`, counted from the first busy lock, with [`Error::Timeout`].
    ///
    /// A zero timeout means "try once": a busy lock is a timeout, a free one is taken. Only a
    /// manager with a [`Timer`] has timeouts; on one without, this does not compile.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use lockorder::{Error, LockManager, ManualTimer};
    /// # use futures_lite::future::block_on;
    /// let mut b = LockManager::builder().timer(ManualTimer::new());
    /// b.register("db", 10)?;
    /// let m = b.build();
    /// let held = m.acquire(["db"]).timeout(Duration::ZERO);
    /// let held = block_on(held)?; // free: taken
    /// let err = block_on(m.acquire(["db"]).timeout(Duration::ZERO)).unwrap_err();
    /// assert!(matches!(err, Error::Timeout { lock } if lock == "db"));
    /// # drop(held);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<'a, T: MaybeTimer> Future for Acquire<'a, T> {
    type Output = Result<Guard<'a, T>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        match mem::replace(this.state, State::Done) {
            State::Walking => {}
            State::Refused(e) => return Poll::Ready(Err(*e)),
            State::Done => return Poll::Ready(Err(Error::PolledAfterCompletion)),
        }
        // Progress first: a lock granted in the same instant as the deadline is kept.
        // Without a timer there is no timeout: the checks compile away.
        let try_once = T::HAS_TIMER && *this.timeout == Some(Duration::ZERO);
        this.walk.publish.at = this.manager.timer.now_opt();
        let busy = match this.walk.advance((!try_once).then_some(&mut *cx)) {
            Ok(()) => {
                this.sleep.set(None);
                return Poll::Ready(Ok(this.walk.finish(this.manager, *this.origin)));
            }
            Err(pos) => pos,
        };
        if let Some(timeout) = this.timeout.filter(|_| T::HAS_TIMER) {
            let expired = try_once || {
                if this.sleep.is_none() {
                    this.sleep.set(Some(this.manager.timer.sleep_for(timeout)));
                }
                this.sleep
                    .as_mut()
                    .as_pin_mut()
                    .is_some_and(|sleep| sleep.poll(cx).is_ready())
            };
            if expired {
                #[cfg(feature = "stats")]
                this.manager.table.slots[busy].stats.timed_out();
                this.walk.release();
                this.sleep.set(None);
                return Poll::Ready(Err(Error::Timeout {
                    lock: this.manager.table.lock_ref(busy),
                }));
            }
        }
        *this.state = State::Walking;
        Poll::Pending
    }
}

impl<T: MaybeTimer> fmt::Debug for Acquire<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = &self.manager.table;
        let names = |set: &LockSet| {
            set.iter()
                .map(|pos| table.slots[pos].info.name())
                .collect::<alloc::vec::Vec<_>>()
        };
        let state = match &self.state {
            State::Refused(e) => return f.debug_tuple("Acquire::Refused").field(e).finish(),
            State::Done => return f.write_str("Acquire::Done"),
            State::Walking => "walking",
        };
        f.debug_struct("Acquire")
            .field("state", &state)
            .field("locks", &names(&self.walk.want))
            .field(
                "held",
                &names(&{
                    let mut held = table.empty_set();
                    for pos in self.walk.want.iter_rev_below(self.walk.next) {
                        held.insert(pos);
                    }
                    held
                }),
            )
            .field("waiting", &self.walk.is_waiting())
            .field("timeout", &self.timeout)
            .field("sleeping", &self.sleep.is_some())
            .field("owner", &self.walk.publish.label)
            .finish()
    }
}
