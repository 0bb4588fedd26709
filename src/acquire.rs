//! The acquire futures: take a set of locks in ascending order, with an optional timeout.
//!
//! Two layers over the [`Walk`](crate::walk::Walk), which takes the locks:
//!
//! * [`Core`] drives a walk as a future: the state machine, the timeout and its sleep. It is
//!   generic over the manager handle (`&LockManager` or `Arc<LockManager>`), so the borrowed and
//!   the owned futures share one state machine.
//! * [`Acquire`] and [`AcquireOwned`] are the public, named futures.

use crate::sync::Arc;
use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::mem;
use core::ops::Deref;
use core::panic::Location;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use pin_project_lite::pin_project;

use crate::error::Error;
use crate::guard::{Guard, Held, OwnedGuard};
use crate::key::{KeyState, TaskKey};
use crate::manager::LockManager;
use crate::record::{HolderId, Label};
use crate::set::{LockSet, Refusal, Request};
use crate::timer::{sealed::Sealed as _, MaybeTimer, Timer};
use crate::walk::Walk;

/// Wakes a thread blocked in [`Core::wait`].
#[cfg(feature = "std")]
struct Unparker(std::thread::Thread);

#[cfg(feature = "std")]
impl alloc::task::Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

// === Origin ===

/// Where an acquisition comes from, carried from the call into its guard.
#[derive(Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// Where `acquire` was called.
    pub(crate) caller: &'static Location<'static>,
    /// For a nested acquisition: the parent guard's record.
    pub(crate) parent: Option<&'a Held<'a>>,
}

impl fmt::Debug for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("caller", &self.caller)
            .field("nested", &self.parent.is_some())
            .finish()
    }
}

impl Origin<'_> {
    /// A top-level acquisition called from `caller`.
    #[inline]
    pub(crate) fn new(caller: &'static Location<'static>) -> Self {
        Self {
            caller,
            parent: None,
        }
    }
}

// === Core: the state machine ===

/// How an acquire future holds its manager: borrowed or shared through an `Arc`.
pub(crate) trait Handle: Deref<Target = LockManager<Self::Timer>> {
    /// The manager's timer.
    type Timer: MaybeTimer;
}

impl<T: MaybeTimer> Handle for &LockManager<T> {
    type Timer = T;
}

impl<T: MaybeTimer> Handle for Arc<LockManager<T>> {
    type Timer = T;
}

/// A walk together with the manager whose locks it takes: dropping it releases what the walk
/// holds.
pub(crate) struct Walker<M: Handle> {
    pub(crate) manager: M,
    pub(crate) walk: Walk,
    /// The task key the request's locks are claimed under, once it has started: the claims
    /// pass to the guard, or are given back.
    pub(crate) claim: Option<Arc<KeyState>>,
}

/// Checks a nested `request` against the locks its `parent` guard covers, and keeps only the
/// new ones.
#[inline]
fn nest_in(
    request: &mut Request,
    parent: &Held<'_>,
    table: &crate::table::Table,
) -> Result<(), Refusal> {
    let covered = parent.covered(table);
    *request = Request::nested(
        &request.want,
        request.shared.clone(),
        &covered.want,
        &covered.shared,
    )?;
    Ok(())
}

/// Gives back a request's claims under its task key (a failed or dropped request).
#[inline]
fn unclaim(claim: &mut Option<Arc<KeyState>>, walk: &Walk) {
    if claim.is_some() {
        unclaim_keyed(claim, walk);
    }
}

#[cold]
#[inline(never)]
fn unclaim_keyed(claim: &mut Option<Arc<KeyState>>, walk: &Walk) {
    if let Some(key) = claim.take() {
        key.unclaim(&walk.request.want);
    }
}

impl<M: Handle> Drop for Walker<M> {
    #[inline]
    fn drop(&mut self) {
        // Before the release, which may unwind (a waker's panic).
        unclaim(&mut self.claim, &self.walk);
        // Every completed acquire drops a walk that holds nothing and waits for nothing: that
        // check stays inline, the release itself does not.
        if self.walk.is_active() {
            self.walk.release(&self.manager.table);
        }
    }
}

/// Where an acquire future is in its life. Every variant says what is held in it; the future's
/// `Drop` (through [`Walker`]) undoes it in every variant.
///
/// ```text
///   Fresh ──first poll: refused──▶ Done (Err)
///   Fresh ──first poll──▶ Walking ──all free──▶ Done (Ok)
///   Walking ──busy lock──▶ Listening ──(timeout)──▶ Sleeping
///   Listening/Sleeping ──poll: all taken──▶ Done (Ok)
///   Sleeping ──poll: sleep fired──▶ Done (Err(Timeout)), everything released first
///   Refused ──poll──▶ Done (Err)
///   any but Done ──try_now: one try──▶ Done (Ok, or Err with everything released)
///   any but Done ──wait: blocks until taken or timed out──▶ Done
/// ```
///
/// Transitions happen in place, after the step they record: a poll never takes the state out
/// and puts it back, so an early return or a panic in foreign code (a timer, a waker) leaves a
/// state that describes what the walk holds, and polling again goes on from there.
#[derive(Debug)]
pub(crate) enum State {
    /// Built, options still being set: the request is not checked yet (a nested one is checked
    /// against its parent at the first poll, once `shared` keys may have been added, by the
    /// function given here). Holds nothing.
    Fresh(Option<StartNested>),
    /// Refused before taking anything (an unknown key): the next poll returns the error. Holds
    /// nothing.
    Refused(Box<Error>),
    /// Checked, and not yet stopped by a busy lock. The walk may hold locks below its cursor
    /// (after a poll that unwound) and listens for nothing.
    Walking,
    /// Stopped at a busy lock: holds the locks below the cursor and listens for the busy one's
    /// release. No sleep exists (no timeout, or it is about to be created).
    Listening,
    /// As `Listening`, and the timeout's sleep exists, counting from the first busy lock.
    Sleeping,
    /// Returned its result. Holds nothing; polling again returns
    /// [`Error::PolledAfterCompletion`].
    Done,
}

pin_project! {
    /// The state machine behind both acquire futures.
    pub(crate) struct Core<'p, M: Handle> {
        pub(crate) walker: Walker<M>,
        pub(crate) state: State,
        pub(crate) origin: Origin<'p>,
        pub(crate) timeout: Option<Duration>,
        // The task key given with `key()`, until the request starts and claims under it.
        pub(crate) key: Option<Arc<KeyState>>,
        #[pin]
        sleep: Option<<M::Timer as crate::timer::sealed::Sealed>::Sleep>,
    }
}

/// Checks a nested request against its parent guard (see [`State::Fresh`]).
pub(crate) type StartNested = for<'a, 'b> fn(
    &mut State,
    &mut Request,
    &Origin<'a>,
    &crate::table::Table,
) -> Result<(), Error>;

/// Starts a request with a task key (see [`crate::key::KeyOps`]).
pub(crate) type StartKeyed = for<'a, 'b> fn(
    &mut State,
    &crate::table::Table,
    &mut Walk,
    &mut Option<Arc<KeyState>>,
    &Origin<'a>,
    &mut Option<Arc<KeyState>>,
) -> Result<(), Error>;

/// The check of a nested request without a task key against its parent: keeps only the locks
/// the parent does not cover, or refuses the request. Out of line, and reached only through a
/// nested acquire's state.
#[inline(never)]
fn start_nested(
    state: &mut State,
    request: &mut Request,
    origin: &Origin<'_>,
    table: &crate::table::Table,
) -> Result<(), Error> {
    let Some(parent) = origin.parent else {
        request.normalize();
        return Ok(());
    };
    match nest_in(request, parent, table) {
        Ok(()) => Ok(()),
        Err(refusal) => {
            *state = State::Done;
            #[cfg(feature = "tracing")]
            trace_refusal(table, refusal);
            Err(match refusal {
                Refusal::Order { requested, held } => Error::OrderViolation {
                    requested: table.lock_ref(requested),
                    held: table.lock_ref(held).acquired_at_location(parent.top_at()),
                },
                Refusal::Upgrade { lock } => Error::UpgradeRefused {
                    lock: table.lock_ref(lock),
                },
            })
        }
    }
}

/// Starts a request with a task key (its own, or its parent guard's): checked against
/// everything claimed under the key, and claimed before it takes anything. Reached only through
/// a key ([`crate::key::KeyOps`]): unkeyed requests never come here, and a program without keys
/// does not link it.
#[inline(never)]
pub(crate) fn start_keyed(
    state: &mut State,
    table: &crate::table::Table,
    walk: &mut Walk,
    claim: &mut Option<Arc<KeyState>>,
    origin: &Origin<'_>,
    key: &mut Option<Arc<KeyState>>,
) -> Result<(), Error> {
    *state = State::Done;
    let request = &mut walk.request;
    let inherited = origin.parent.and_then(|p| p.key());
    let key = match (key.take(), inherited) {
        (Some(own), Some(parent)) if !Arc::ptr_eq(&own, parent) => None,
        (Some(own), _) => Some(own),
        (None, parent) => parent.cloned(),
    }
    .filter(|key| key.belongs_to(table.index.manager()));
    let Some(key) = key else {
        request.normalize();
        return Err(Error::ForeignKey {
            lock: request.want.first().map(|pos| table.lock_ref(pos)),
        });
    };
    let violation = |requested: usize, held: usize| {
        #[cfg(feature = "tracing")]
        trace_refusal(table, Refusal::Order { requested, held });
        Error::OrderViolation {
            requested: table.lock_ref(requested),
            held: table.lock_ref(held),
        }
    };
    match &origin.parent {
        None => request.normalize(),
        Some(parent) => {
            match nest_in(request, parent, table) {
                Ok(()) => {}
                Err(Refusal::Order { requested, held }) => {
                    // Named against the whole key, whose highest lock is at least the
                    // parent's when the parent counts under it.
                    let held = key.highest().map_or(held, |k| k.max(held));
                    return Err(violation(requested, held));
                }
                Err(Refusal::Upgrade { lock }) => {
                    #[cfg(feature = "tracing")]
                    trace_refusal(table, Refusal::Upgrade { lock });
                    return Err(Error::UpgradeRefused {
                        lock: table.lock_ref(lock),
                    });
                }
            }
        }
    }
    if let Err(below) = key.claim(&request.want) {
        return Err(violation(below.requested, below.held));
    }
    *claim = Some(key);
    *state = State::Walking;
    Ok(())
}

impl<'p, M: Handle> Core<'p, M> {
    /// A future for `request` (exclusive locks in `want`, shared ones in `shared`; a nested one
    /// is checked against its parent at the first poll).
    #[inline(always)]
    pub(crate) fn new(
        manager: M,
        request: Result<Request, Error>,
        origin: Origin<'p>,
        holder: Option<HolderId>,
        label: Option<Label>,
    ) -> Self {
        let (request, state) = match request {
            // Only a nested acquire references the nested check: a program that never nests
            // does not link it.
            Ok(request) => (
                request,
                State::Fresh(origin.parent.map(|_| start_nested as _)),
            ),
            Err(e) => (
                Request {
                    want: LockSet::EMPTY,
                    shared: LockSet::EMPTY,
                },
                State::Refused(Box::new(e)),
            ),
        };
        let timeout = manager
            .default_timeout()
            .filter(|_| <M::Timer as crate::timer::sealed::Sealed>::HAS_TIMER);
        Self {
            walker: Walker {
                manager,
                walk: Walk::new(request, holder, label),
                claim: None,
            },
            state,
            origin,
            timeout,
            key: None,
            sleep: None,
        }
    }

    /// The manager.
    #[inline]
    pub(crate) fn manager(&self) -> &LockManager<M::Timer> {
        &self.walker.manager
    }

    /// The manager handle, for the guard.
    #[inline]
    pub(crate) fn handle(&self) -> M
    where
        M: Clone,
    {
        self.walker.manager.clone()
    }

    /// Adds `keys` to the request, to be taken shared (unless also asked for exclusive).
    pub(crate) fn add_shared<I>(&mut self, keys: I)
    where
        I: IntoIterator,
        I::Item: crate::registry::Key,
    {
        if !matches!(self.state, State::Fresh(_)) {
            return;
        }
        let table = &self.walker.manager.table;
        let shared = &mut self.walker.walk.request.shared;
        for key in keys {
            match crate::registry::sealed::Sealed::position(&key, &table.index) {
                Ok(pos) => {
                    if !shared.insert(pos) {
                        // The first shared key of a manager too large for an inline set.
                        let mut bigger = table.empty_set();
                        bigger.union_with(shared);
                        bigger.insert(pos);
                        *shared = bigger;
                    }
                }
                Err(e) => {
                    self.state = State::Refused(Box::new(e));
                    return;
                }
            }
        }
    }

    /// Checks the request (against the parent guard, for a nested one) and turns `Fresh` into
    /// `Walking`; any other state is returned as the error a poll reports for it.
    #[inline]
    fn start(&mut self) -> Result<(), Error> {
        Self::start_parts(
            &mut self.state,
            &mut self.walker,
            &self.origin,
            &mut self.key,
        )
    }

    /// Gives the request a task key (before it starts): [`start`](Self::start) checks and
    /// claims under it.
    pub(crate) fn set_key(&mut self, key: &TaskKey) {
        if matches!(self.state, State::Fresh(_)) {
            self.key = Some(Arc::clone(&key.state));
        }
    }

    /// [`start`](Self::start), on the fields a pinned poll can reach.
    #[inline]
    fn start_parts(
        state: &mut State,
        walker: &mut Walker<M>,
        origin: &Origin<'p>,
        key: &mut Option<Arc<KeyState>>,
    ) -> Result<(), Error> {
        let nest = match state {
            State::Fresh(nest) => *nest,
            State::Walking | State::Listening | State::Sleeping => return Ok(()),
            State::Refused(_) => {
                let State::Refused(e) = mem::replace(state, State::Done) else {
                    unreachable!("matched just above")
                };
                return Err(*e);
            }
            State::Done => return Err(Error::PolledAfterCompletion),
        };
        // The keyed path is reached through the key: without keys it is not linked.
        let keyed = match key {
            Some(key) => Some(key.ops.start),
            None => origin.parent.and_then(|p| p.key()).map(|k| k.ops.start),
        };
        if let Some(start) = keyed {
            return Self::start_with_key(start, state, walker, origin, key);
        }
        let Walker { manager, walk, .. } = walker;
        match nest {
            None => walk.request.normalize(),
            Some(nest) => nest(state, &mut walk.request, origin, &manager.table)?,
        }
        *state = State::Walking;
        Ok(())
    }

    /// [`start_parts`](Self::start_parts) for a request with a task key (its own or its
    /// parent's): `start`, the key's [`start_keyed`], reached through the key so that a program
    /// without keys does not link it. Out of line: unkeyed requests never come here.
    #[cold]
    #[inline(never)]
    fn start_with_key(
        start: StartKeyed,
        state: &mut State,
        walker: &mut Walker<M>,
        origin: &Origin<'p>,
        key: &mut Option<Arc<KeyState>>,
    ) -> Result<(), Error> {
        let Walker {
            manager,
            walk,
            claim,
        } = walker;
        start(state, &manager.table, walk, claim, origin, key)
    }

    /// Hands the walk's locks, and their claims under a task key, to a guard's record of them.
    #[inline]
    fn held(walk: &mut Walk, claim: &mut Option<Arc<KeyState>>, origin: Origin<'p>) -> Held<'p> {
        let request = walk.finish();
        Held::new(
            request,
            walk.holder,
            walk.publish.label,
            origin,
            claim.take(),
        )
    }

    /// Tries once: all locks or none. A future that a poll left waiting tries the rest of its
    /// set once.
    #[inline]
    pub(crate) fn try_now(&mut self) -> Result<Held<'p>, Error> {
        // Refused or done: that error. Otherwise (fresh, or started by a poll) one try.
        self.start()?;
        self.state = State::Done;
        let Walker {
            manager,
            walk,
            claim,
        } = &mut self.walker;
        walk.publish.at = manager.timer.now_opt();
        match walk.advance(&manager.table, None) {
            Ok(()) => Ok(Self::held(walk, claim, self.origin)),
            Err(pos) => {
                let lock = manager.table.busy_lock_ref(pos, walk.publish.at);
                #[cfg(feature = "tracing")]
                crate::trace::would_block(lock.name(), lock.held_by().map(|h| h as _));
                unclaim(claim, walk);
                walk.release(&manager.table);
                Err(Error::WouldBlock { lock })
            }
        }
    }

    /// Blocks the thread until every lock is held, or until the timeout passes (measured with
    /// `std::time::Instant` from the first busy lock; the manager's timer only stamps status).
    /// A future that a poll left waiting goes on from where it is.
    #[cfg(feature = "std")]
    pub(crate) fn wait(&mut self) -> Result<Held<'p>, Error> {
        use std::time::Instant;

        #[cfg(feature = "tokio")]
        crate::timer::refuse_blocking_on_a_runtime_thread();
        // Refused or done: that error. Otherwise (fresh, or started by a poll) wait.
        self.start()?;
        let has_timer = <M::Timer as crate::timer::sealed::Sealed>::HAS_TIMER;
        let timeout = self.timeout.filter(|_| has_timer);
        let Walker {
            manager,
            walk,
            claim,
        } = &mut self.walker;
        let table = &manager.table;
        // The uncontended path: no waker, no clock reading beyond the status timestamp.
        walk.publish.at = manager.timer.now_opt();
        let mut busy = match walk.advance(table, None) {
            Ok(()) => {
                self.state = State::Done;
                return Ok(Self::held(walk, claim, self.origin));
            }
            Err(pos) => pos,
        };
        // Counted from the first busy lock, like an async acquire's. `None`: no timeout, or one
        // too long to represent, which waits for ever.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        if timeout != Some(Duration::ZERO) {
            self.state = State::Listening;
            // Blocking and async waiters listen on the same events: a release wakes either.
            let waker = core::task::Waker::from(Arc::new(Unparker(std::thread::current())));
            let mut cx = Context::from_waker(&waker);
            loop {
                // Progress first: a lock granted at the deadline is kept.
                walk.publish.at = manager.timer.now_opt();
                match walk.advance(table, Some(&mut cx)) {
                    Ok(()) => {
                        self.state = State::Done;
                        return Ok(Self::held(walk, claim, self.origin));
                    }
                    Err(pos) => busy = pos,
                }
                match deadline {
                    None => std::thread::park(),
                    Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                        _ => break,
                    },
                }
            }
        }
        table.slots[busy].stats.timed_out();
        let lock = table.busy_lock_ref(busy, manager.timer.now_opt());
        #[cfg(feature = "tracing")]
        crate::trace::timed_out(
            lock.name(),
            walk.publish.label.as_ref().map(|l| l.as_str()),
            lock.held_by().map(|h| h as _),
        );
        unclaim(claim, walk);
        // Done first: a waker that panics in the release unwinds with the release done.
        self.state = State::Done;
        walk.release(table);
        Err(Error::Timeout { lock })
    }

    /// Polls the state machine.
    pub(crate) fn poll_core(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Held<'p>, Error>> {
        let mut this = self.project();
        // Not started: check and start (or report the refusal, or a poll after completion).
        if let Err(e) = Self::start_parts(this.state, this.walker, this.origin, this.key) {
            return Poll::Ready(Err(e));
        }
        let Walker {
            manager,
            walk,
            claim,
        } = this.walker;
        let manager: &LockManager<M::Timer> = manager;
        let has_timer = <M::Timer as crate::timer::sealed::Sealed>::HAS_TIMER;
        // Without a timer there is no timeout: the checks compile away.
        let timeout = this.timeout.filter(|_| has_timer);
        let try_once = timeout == Some(Duration::ZERO);
        walk.publish.at = manager.timer.now_opt();
        // Progress first: a lock granted in the same instant as the deadline is kept.
        let busy = match walk.advance(&manager.table, (!try_once).then_some(&mut *cx)) {
            Ok(()) => {
                *this.state = State::Done;
                // The sleep, if any, stays until the future is dropped: dropping it runs foreign
                // code, which must not unwind while the locks are in transit to the guard.
                return Poll::Ready(Ok(Self::held(walk, claim, *this.origin)));
            }
            Err(pos) => pos,
        };
        if !try_once && matches!(this.state, State::Walking) {
            *this.state = State::Listening;
        }
        let Some(timeout) = timeout else {
            return Poll::Pending;
        };
        let expired = try_once || {
            if this.sleep.is_none() {
                let timeout = if fault!("timeout-twice-as-long") {
                    timeout * 2
                } else {
                    timeout
                };
                this.sleep.set(Some(manager.timer.sleep_for(timeout)));
                *this.state = State::Sleeping;
            }
            this.sleep
                .as_mut()
                .as_pin_mut()
                .is_some_and(|sleep| !fault!("timeout-never-fires") && sleep.poll(cx).is_ready())
        };
        if !expired {
            return Poll::Pending;
        }
        manager.table.slots[busy].stats.timed_out();
        let lock = manager.table.busy_lock_ref(busy, walk.publish.at);
        #[cfg(feature = "tracing")]
        crate::trace::timed_out(
            lock.name(),
            walk.publish.label.as_ref().map(|l| l.as_str()),
            lock.held_by().map(|h| h as _),
        );
        unclaim(claim, walk);
        // Done first: a waker that panics in the release unwinds with the release done, and the
        // future, holding nothing, answers a later poll with `PolledAfterCompletion`.
        *this.state = State::Done;
        if fault!("timeout-keeps-partial-set") {
            return Poll::Ready(Err(Error::Timeout { lock }));
        }
        walk.release(&manager.table);
        this.sleep.set(None);
        Poll::Ready(Err(Error::Timeout { lock }))
    }
}

impl<M: Handle> fmt::Debug for Core<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = &self.manager().table;
        let name = |pos: usize| table.slots[pos].info.name();
        let walk = &self.walker.walk;
        let mut held: alloc::vec::Vec<&str> = walk.held().map(name).collect();
        held.reverse();
        let request = walk.request();
        f.debug_struct("Acquire")
            .field("state", &self.state)
            .field(
                "locks",
                &request
                    .want
                    .iter()
                    .map(name)
                    .collect::<alloc::vec::Vec<_>>(),
            )
            .field(
                "shared",
                &request
                    .shared
                    .iter()
                    .map(name)
                    .collect::<alloc::vec::Vec<_>>(),
            )
            .field("held", &held)
            .field("listening", &walk.is_listening())
            .field("timeout", &self.timeout)
            .field("sleeping", &self.sleep.is_some())
            .field("owner", &walk.publish.label)
            .finish()
    }
}

/// Reports a refused nested request to `tracing` (feature `tracing`).
#[cfg(feature = "tracing")]
fn trace_refusal(table: &crate::table::Table, refusal: Refusal) {
    match refusal {
        Refusal::Order { requested, held } => crate::trace::refused(
            "order violation",
            table.slots[requested].info.name(),
            table.slots[held].info.name(),
        ),
        Refusal::Upgrade { lock } => crate::trace::refused(
            "upgrade refused",
            table.slots[lock].info.name(),
            table.slots[lock].info.name(),
        ),
    }
}

// === The public futures ===

/// The options shared by [`Acquire`] and [`AcquireOwned`], written once.
macro_rules! options {
    ($future:ident<$($lt:lifetime,)? T>, $guard:ty, $make:expr) => {
        impl<$($lt,)? T: MaybeTimer> $future<$($lt,)? T> {
            /// Adds `keys` to the request, to be taken in shared (read) mode: many shared
            /// holders at once (up to 16,382 per lock; more wait for a place), none while an
            /// exclusive one holds the lock.
            ///
            /// A key asked for both ways is taken exclusive. Order rules are those of every
            /// lock: the set is taken in ascending order, whatever the modes. In a nested
            /// request, a lock the parent holds (in either mode) is skipped. Writers are not
            /// starved: once a writer waits for a lock, new shared requests for it wait too (and
            /// a single try fails), until that writer gets it or gives up.
            ///
            /// An unknown key refuses the request with [`Error::UnknownLock`]. Keys added after
            /// the first poll are ignored.
            pub fn shared<I>(mut self, keys: I) -> Self
            where
                I: IntoIterator,
                I::Item: crate::registry::Key,
            {
                self.core.add_shared(keys);
                self
            }

            /// Checks this acquisition against every lock held under the task's `key`, through
            /// any guard, and counts its locks under the key: see [`TaskKey`].
            ///
            /// A request for a lock at or below the highest lock held under the key is refused
            /// at once with [`Error::OrderViolation`] (`requested`: its lowest new lock; `held`:
            /// the key's highest), before anything is taken or waited for. A key of another
            /// manager, or, on a nested acquire, a key other than the parent guard's, is
            /// [`Error::ForeignKey`]. Nested acquires of a keyed guard inherit its key. Set it
            /// before the first poll; later it is ignored.
            pub fn key(mut self, key: &TaskKey) -> Self {
                self.core.set_key(key);
                self
            }

            /// Waits without a time limit, whatever the manager's default timeout.
            pub fn no_timeout(mut self) -> Self {
                self.core.timeout = None;
                self
            }

            /// Labels the holder, for status reports and for the errors of those who wait for
            /// it; a nested acquire inherits its parent's label.
            ///
            /// The label is copied (a `&str`, a `String` such as `format!("req-{id}")`, anything
            /// that is `AsRef<str>`); status and the guard keep its first [`Label::CAPACITY`]
            /// bytes, cut at a character boundary.
            pub fn owner(mut self, label: impl AsRef<str>) -> Self {
                self.core.walker.walk.publish.label = Some(Label::new(label.as_ref()));
                self
            }

            /// Tries once, with the same options, instead of waiting: all locks or none. On a
            /// future that a poll left waiting, it tries the rest of the set once.
            ///
            /// # Errors
            ///
            /// [`Error::WouldBlock`] naming the first busy lock (everything taken is released
            /// first), or the error the request was refused with ([`Error::UnknownLock`],
            /// [`Error::OrderViolation`], [`Error::UpgradeRefused`]);
            /// [`Error::PolledAfterCompletion`] on a future that has already completed.
            #[inline]
            pub fn try_now(mut self) -> Result<$guard, Error> {
                let held = self.core.try_now()?;
                Ok($make(self.core.handle(), held))
            }

            /// Blocks the calling thread until the locks are taken, instead of `.await`: the
            /// same options, the same `Result`.
            ///
            /// Blocking and async waiters on one lock wake each other. The timeout (this
            /// future's, or the manager's default) is measured with `std::time::Instant` from the
            /// first busy lock, whatever the manager's timer: the timer's sleep is never created,
            /// so a timer whose sleep needs a runtime works from a thread without one. A zero
            /// timeout tries once. The timer still stamps status, through `now()`.
            ///
            /// On a future that a poll left waiting, it goes on waiting from where the future
            /// is (the locks it holds stay held); its timeout then counts again from the first
            /// busy lock this wait meets.
            ///
            /// Do not call it from inside an async task, or inside an executor's `block_on`: it
            /// blocks the executor's thread, and with a single-threaded executor the lock's
            /// holder can then never run, so the wait ends only by its timeout (or never). With
            /// feature `tokio`, a call on a thread that drives a tokio runtime panics at once,
            /// saying to use `.await` (as tokio's `blocking_lock` does); `spawn_blocking` threads
            /// and threads outside any runtime wait as usual. The check reads tokio's task
            /// budget, so a future run under `tokio::task::unconstrained` (which has none) is
            /// not caught: it blocks like any other call. On other runtimes (smol,
            /// async-std, embassy, ...) nothing checks it: use `.await` there, or the runtime's
            /// way to run blocking code (`smol::unblock`, `async_std::task::spawn_blocking`).
            ///
            /// # Panics
            ///
            /// With feature `tokio`, on a thread that drives a tokio runtime (see above).
            ///
            /// # Errors
            ///
            /// As `.await`: [`Error::Timeout`] naming the busy lock (everything taken is released
            /// first), [`Error::UnknownLock`], [`Error::OrderViolation`],
            /// [`Error::UpgradeRefused`]; [`Error::PolledAfterCompletion`] on a future that has
            /// already completed.
            #[cfg(feature = "std")]
            #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
            pub fn wait(mut self) -> Result<$guard, Error> {
                let held = self.core.wait()?;
                Ok($make(self.core.handle(), held))
            }
        }

        impl<$($lt,)? T: MaybeTimer> $future<$($lt,)? T> {
            /// Gives up after `timeout`, counted from the first busy lock, with
            /// [`Error::Timeout`].
            ///
            /// A zero timeout means "try once": a busy lock is a timeout, a free one is taken.
            /// Only a manager with a [`Timer`] has timeouts; on one without, this does not
            /// compile, and the error says to give the builder a timer.
            // The bound is the method's, not the impl's, so that a manager without a timer gets
            // the `Timer` trait's diagnostic (E0277) rather than "method not found" (E0599).
            pub fn timeout(mut self, timeout: Duration) -> Self
            where
                T: Timer,
            {
                self.core.timeout = Some(timeout);
                self
            }
        }

        impl<$($lt,)? T: MaybeTimer> fmt::Debug for $future<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.core, f)
            }
        }
    };
}

pin_project! {
    /// The future returned by [`LockManager::acquire`] and [`Guard::acquire`]: takes a set of
    /// locks in ascending order and resolves to one [`Guard`] for all of them.
    ///
    /// Options are set by chaining before the first poll: [`timeout`](Self::timeout),
    /// [`no_timeout`](Self::no_timeout), [`owner`](Self::owner); [`try_now`](Self::try_now) tries
    /// once instead of waiting, and [`wait`](Self::wait) (feature `std`) blocks the thread instead
    /// of being awaited.
    ///
    /// Each lock is taken with one compare-and-swap when free. At the first busy lock the future
    /// starts listening for its release and, if it has a timeout, creates the timer's sleep: the
    /// timeout counts from the first contention. An acquire that meets no contention creates no
    /// sleep; with a timer it reads `now()` once per poll, for the status timestamp.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use lockorder::{Error, LockManager, ManualTimer};
    /// # use futures_lite::future::block_on;
    /// let mut b = LockManager::builder().timer(ManualTimer::new());
    /// b.register("db", 10)?;
    /// let m = b.build();
    /// let id = 42;
    /// let held = block_on(m.acquire(["db"]).owner(format!("req-{id}")).timeout(Duration::ZERO))?;
    /// assert_eq!(held.owner(), Some("req-42"));
    /// // A zero timeout tries once: "db" is busy.
    /// let err = block_on(m.acquire(["db"]).timeout(Duration::ZERO)).unwrap_err();
    /// assert!(matches!(err, Error::Timeout { lock } if lock == "db"));
    /// # drop(held);
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping an `Acquire` at any point releases every lock it has taken, newest first. If it
    /// had been woken for a lock and is dropped before using the wake-up, the wake-up passes to
    /// the next waiter: cancellation never leaks a lock or strands another waiter. On timeout, the
    /// same happens before [`Error::Timeout`] is returned.
    ///
    /// # Panics in foreign code
    ///
    /// A poll runs the timer's `now`, `sleep` and the sleep's `poll`, and registers the task's
    /// waker. If one of them panics, the panic propagates out of `poll` and the future stays in
    /// the state it had reached: it still holds the locks it took, and either polling it again
    /// goes on from there or dropping it releases them. A future that returned an error holds
    /// nothing.
    ///
    /// Giving up (a timeout, a drop) wakes other waiters, whose wakers may panic: the release is
    /// done all the same (every lock given back, every waiter it owes a wake-up woken), and then
    /// the panic goes on. A future whose timeout unwound that way holds nothing and answers a
    /// later poll with [`Error::PolledAfterCompletion`].
    ///
    /// # After completion
    ///
    /// Polling again after the future returned its result gives
    /// [`Error::PolledAfterCompletion`] (no panic).
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
        #[pin]
        core: Core<'a, &'a LockManager<T>>,
    }
}

impl<'a, T: MaybeTimer> Acquire<'a, T> {
    #[inline(always)]
    pub(crate) fn new(
        manager: &'a LockManager<T>,
        request: Result<Request, Error>,
        origin: Origin<'a>,
        holder: Option<HolderId>,
        label: Option<Label>,
    ) -> Self {
        Self {
            core: Core::new(manager, request, origin, holder, label),
        }
    }
}

options!(Acquire<'a, T>, Guard<'a, T>, Guard::from_held);

impl<'a, T: MaybeTimer> Future for Acquire<'a, T> {
    type Output = Result<Guard<'a, T>, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut core = self.project().core;
        let held = core.as_mut().poll_core(cx);
        held.map_ok(|held| Guard::from_held(core.as_ref().get_ref().handle(), held))
    }
}

pin_project! {
    /// The future returned by [`LockManager::acquire_owned`]: like [`Acquire`], but it holds the
    /// manager through an `Arc` and resolves to an [`OwnedGuard`], which can move into a spawned
    /// task or live in a struct.
    ///
    /// Options, cancel safety and errors are those of [`Acquire`]; both futures run the same state
    /// machine. It is `Send` when the timer and its sleep are, and `'static`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use lockorder::{LockManager, OwnedGuard};
    /// # use futures_lite::future::block_on;
    /// let mut b = LockManager::builder();
    /// b.register("db", 10)?;
    /// let m = Arc::new(b.build());
    /// let g: OwnedGuard = block_on(m.acquire_owned(["db"]).owner("job"))?;
    /// let worker = std::thread::spawn(move || {
    ///     assert!(g.holds("db"));
    ///     drop(g); // released on another thread
    /// });
    /// worker.join().unwrap();
    /// assert!(!m.is_locked("db")?);
    /// # Ok::<(), lockorder::Error>(())
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct AcquireOwned<T: MaybeTimer> {
        #[pin]
        core: Core<'static, Arc<LockManager<T>>>,
    }
}

impl<T: MaybeTimer> AcquireOwned<T> {
    #[inline(always)]
    #[track_caller]
    pub(crate) fn new(manager: Arc<LockManager<T>>, request: Result<Request, Error>) -> Self {
        Self {
            core: Core::new(
                manager,
                request,
                Origin::new(Location::caller()),
                None,
                None,
            ),
        }
    }
}

options!(AcquireOwned<T>, OwnedGuard<T>, OwnedGuard::from_held);

impl<T: MaybeTimer> Future for AcquireOwned<T> {
    type Output = Result<OwnedGuard<T>, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut core = self.project().core;
        let held = core.as_mut().poll_core(cx);
        held.map_ok(|held| OwnedGuard::from_held(core.as_ref().get_ref().handle(), held))
    }
}
