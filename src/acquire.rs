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
use crate::guard::{Guard, OwnedGuard};
use crate::held::{Held, Origin};
use crate::key::{KeyState, TaskKey};
use crate::manager::LockManager;
use crate::record::{HolderId, Label, Stamp};
use crate::set::{LockSet, Refusal, Request};
use crate::timer::{sealed::Sealed as _, MaybeTimer, Timeout, Timer};
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

/// Drops the task key of a request dropped before it started. Out of line: only a keyed
/// request that never ran comes here.
#[cold]
#[inline(never)]
fn drop_given_key(walk: &mut Walk) {
    drop(walk.key.take());
}

impl<M: Handle> Drop for Walker<M> {
    #[inline]
    fn drop(&mut self) {
        // A task key given but never claimed under (the request never started).
        if self.walk.key.is_some() {
            drop_given_key(&mut self.walk);
        }
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
///   Fresh ──step: refused──▶ Done (Err)
///   Fresh ──step──▶ Walking ──all free──▶ Done (Ok)
///   Walking ──busy lock, listened──▶ Listening ──(timeout, polled)──▶ Sleeping
///   Walking/Listening/Sleeping ──step: all taken──▶ Done (Ok)
///   Walking/Listening/Sleeping ──step gives up──▶ Done (Err), everything released first
///   Refused ──step──▶ Done (Err)
/// ```
///
/// One function makes every transition, [`Core::step`]; `.await`, `.wait()` and `try_now()`
/// only drive it, each with its [`Drive`]: a poll listens with the task's waker and gives up
/// when the timer's sleep fires, a blocking wait listens with a waker that unparks the thread and
/// gives up at an `Instant` deadline, a single try gives up at the first busy lock.
///
/// Transitions happen in place, after the step they record: a poll never takes the state out
/// and puts it back, so an early return or a panic in foreign code (a timer, a waker) leaves a
/// state that describes what the walk holds, and polling again goes on from there.
pub(crate) enum State {
    /// Built, options still being set: the request is not checked yet (a nested or keyed one is
    /// checked, against its parent or its key, at the first poll, once `shared` keys may have
    /// been added, by the function given here). Holds nothing.
    Fresh(Option<Start>),
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

impl State {
    /// Moves on to `next` from a state that holds nothing (any but `Refused`, which every
    /// driver leaves through [`Core::start`]), without the state's drop glue: the uncontended
    /// path makes these transitions on every acquire, and the compiler does not always inline
    /// the glue (an out-of-line call per acquire).
    #[inline(always)]
    fn leave_for(&mut self, next: State) {
        debug_assert!(
            !matches!(self, State::Refused(_)),
            "{self:?} holds an error"
        );
        // Nothing to drop in the old state: forgetting it leaks nothing.
        mem::forget(mem::replace(self, next));
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Fresh(None) => f.write_str("Fresh"),
            State::Fresh(Some(_)) => f.write_str("Fresh(keyed)"),
            State::Refused(e) => f.debug_tuple("Refused").field(e).finish(),
            State::Walking => f.write_str("Walking"),
            State::Listening => f.write_str("Listening"),
            State::Sleeping => f.write_str("Sleeping"),
            State::Done => f.write_str("Done"),
        }
    }
}

pin_project! {
    /// The state machine behind both acquire futures.
    pub(crate) struct Core<'p, M: Handle> {
        pub(crate) walker: Walker<M>,
        pub(crate) state: State,
        pub(crate) origin: Origin<'p>,
        pub(crate) timeout: Timeout,
        #[pin]
        sleep: Option<<M::Timer as crate::timer::sealed::Sealed>::Sleep>,
    }
}

/// Starts a request that is not a plain top-level one (see [`State::Fresh`]): a nested one
/// ([`start_nested`]) or a keyed one ([`start_keyed`]). Reached through a pointer that only
/// nested acquires and `key()` store, so that a program that never nests and never uses a key
/// does not link either.
pub(crate) type Start = for<'a> fn(
    &mut State,
    &crate::table::Table,
    &mut Walk,
    &mut Option<Arc<KeyState>>,
    &Origin<'a>,
) -> Result<(), Error>;

/// The check of a nested request without a task key against its parent: keeps only the locks
/// the parent does not cover, or refuses the request. Out of line, and reached only through a
/// nested acquire's state.
#[inline(never)]
fn start_nested(
    state: &mut State,
    table: &crate::table::Table,
    walk: &mut Walk,
    _: &mut Option<Arc<KeyState>>,
    origin: &Origin<'_>,
) -> Result<(), Error> {
    let request = &mut walk.request;
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
/// `key()` or a nested acquire of a keyed guard ([`Start`]): unkeyed requests never come here,
/// and a program without keys or nesting does not link it.
#[inline(never)]
pub(crate) fn start_keyed(
    state: &mut State,
    table: &crate::table::Table,
    walk: &mut Walk,
    claim: &mut Option<Arc<KeyState>>,
    origin: &Origin<'_>,
) -> Result<(), Error> {
    *state = State::Done;
    let own = walk.key.take();
    let request = &mut walk.request;
    let inherited = origin.parent.and_then(|p| p.key());
    let key = match (own, inherited) {
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
    let violation = |requested: usize, held: usize, at: Option<&'static Location<'static>>| {
        #[cfg(feature = "tracing")]
        trace_refusal(table, Refusal::Order { requested, held });
        let held = table.lock_ref(held);
        Error::OrderViolation {
            requested: table.lock_ref(requested),
            held: match at {
                Some(at) => held.acquired_at_location(at),
                None => held,
            },
        }
    };
    match &origin.parent {
        None => request.normalize(),
        Some(parent) => {
            match nest_in(request, parent, table) {
                Ok(()) => {}
                Err(Refusal::Order { requested, held }) => {
                    // Named against the whole key, whose highest lock is at least the
                    // parent's when the parent counts under it; where it was taken is known
                    // when it is the parent's.
                    let top = key.highest().map_or(held, |k| k.max(held));
                    let at = (top == held).then(|| parent.top_at());
                    return Err(violation(requested, top, at));
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
        return Err(violation(below.requested, below.held, None));
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
            // Only a nested acquire references the nested and keyed checks, and only `key()`
            // the keyed one otherwise: a program that never nests does not link them.
            Ok(request) => (
                request,
                State::Fresh(origin.parent.map(|parent| -> Start {
                    if parent.key().is_some() {
                        start_keyed
                    } else {
                        start_nested
                    }
                })),
            ),
            Err(e) => (
                Request {
                    want: LockSet::EMPTY,
                    shared: LockSet::EMPTY,
                },
                State::Refused(Box::new(e)),
            ),
        };
        let timeout = if <M::Timer as crate::timer::sealed::Sealed>::HAS_TIMER {
            manager.default_timeout_raw()
        } else {
            Timeout::NONE
        };
        Self {
            walker: Walker {
                manager,
                walk: Walk::new(request, holder, label),
                claim: None,
            },
            state,
            origin,
            timeout,
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

    /// Gives the request a task key (before it starts): the first step checks and claims under
    /// it.
    pub(crate) fn set_key(&mut self, key: &TaskKey) {
        if let State::Fresh(start) = &mut self.state {
            *start = Some(start_keyed);
            *self.walker.walk.key = Some(Arc::clone(&key.state));
        }
    }

    /// [`start`](Self::start), on the fields a pinned poll can reach.
    #[inline]
    fn start(state: &mut State, walker: &mut Walker<M>, origin: &Origin<'p>) -> Result<(), Error> {
        let start = match state {
            State::Fresh(start) => *start,
            State::Walking | State::Listening | State::Sleeping => return Ok(()),
            State::Refused(_) => {
                let State::Refused(e) = mem::replace(state, State::Done) else {
                    unreachable!("matched just above")
                };
                return Err(*e);
            }
            State::Done => return Err(Error::PolledAfterCompletion),
        };
        match start {
            None => walker.walk.request.normalize(),
            Some(start) => Self::start_with(start, state, walker, origin)?,
        }
        state.leave_for(State::Walking);
        Ok(())
    }

    /// [`start`](Self::start) for a nested or keyed request, by its [`Start`]. Out of line: a
    /// plain top-level request never comes here.
    #[cold]
    #[inline(never)]
    fn start_with(
        start: Start,
        state: &mut State,
        walker: &mut Walker<M>,
        origin: &Origin<'p>,
    ) -> Result<(), Error> {
        let Walker {
            manager,
            walk,
            claim,
        } = walker;
        start(state, &manager.table, walk, claim, origin)
    }

    /// The one step every driver runs: start (or report the refusal, or a step after
    /// completion), take what is free, and at a busy lock let the driver say whether to wait or
    /// to give up. Generic over the driver, so that each of `.await`, `.wait()` and `try_now()`
    /// gets a copy with only its own waiting in it.
    ///
    /// Progress comes first: a lock granted in the same instant as the deadline is kept. Every
    /// transition is made in place, after the step it records, so that a panic in foreign code
    /// (the timer, the sleep, a waker) leaves a state that describes what the walk holds.
    ///
    /// It takes the fields it needs rather than the pinned future: only a poll's driver has the
    /// sleep, so `try_now` and `wait` drive the future where it is, without pinning it.
    #[inline(always)]
    fn step<'w, D: Drive<'w, M::Timer>>(
        state: &mut State,
        walker: &mut Walker<M>,
        origin: &Origin<'p>,
        timeout: Timeout,
        drive: &mut D,
    ) -> Poll<Result<Held<'p>, Error>> {
        if let Err(e) = Self::start(state, walker, origin) {
            return Poll::Ready(Err(e));
        }
        let Walker { manager, walk, .. } = &mut *walker;
        let manager: &LockManager<M::Timer> = manager;
        let has_timer = <M::Timer as crate::timer::sealed::Sealed>::HAS_TIMER;
        // Without a timer there is no timeout: the checks compile away.
        let timeout = if has_timer { timeout } else { Timeout::NONE };
        let cx = drive.context(timeout);
        let listens = cx.is_some();
        let at = Stamp::new(manager.timer.now_opt());
        let busy = match walk.advance(&manager.table, cx, at) {
            Ok(()) => {
                state.leave_for(State::Done);
                // The sleep, if any, stays until the future is dropped: dropping it runs foreign
                // code, which must not unwind while the locks are in transit to the guard.
                return Poll::Ready(Ok(Self::held(&mut walker.walk, &mut walker.claim, *origin)));
            }
            Err(pos) => pos,
        };
        if listens && matches!(state, State::Walking) {
            state.leave_for(State::Listening);
        }
        if !drive.expired(timeout, &manager.timer, state) {
            return Poll::Pending;
        }
        let error = Self::give_up(state, walker, busy, D::ONCE, at);
        drive.gave_up();
        Poll::Ready(Err(error))
    }

    /// Gives up at the busy lock `busy` (a timeout, or a single try that found it busy):
    /// releases everything and returns the error naming it.
    ///
    /// `Done` first: a waker that panics in the release unwinds with the release done, and the
    /// future, holding nothing, answers a later poll with `PolledAfterCompletion`.
    #[cold]
    #[inline(never)]
    fn give_up(
        state: &mut State,
        walker: &mut Walker<M>,
        busy: usize,
        once: bool,
        at: Stamp,
    ) -> Error {
        let Walker {
            manager,
            walk,
            claim,
        } = walker;
        let table = &manager.table;
        if !once {
            table.slots[busy].stats.timed_out();
        }
        let lock = table.busy_lock_ref(busy, at.get());
        #[cfg(feature = "tracing")]
        if once {
            crate::trace::would_block(lock.name(), lock.held_by().map(|h| h as _));
        } else {
            crate::trace::timed_out(
                lock.name(),
                walk.label.as_ref().map(|l| l.as_str()),
                lock.held_by().map(|h| h as _),
            );
        }
        unclaim(claim, walk);
        *state = State::Done;
        if !once && fault!("timeout-keeps-partial-set") {
            return Error::Timeout { lock };
        }
        walk.release(table);
        if once {
            Error::WouldBlock { lock }
        } else {
            Error::Timeout { lock }
        }
    }

    /// Hands the walk's locks, and their claims under a task key, to a guard's record of them.
    #[inline]
    fn held(walk: &mut Walk, claim: &mut Option<Arc<KeyState>>, origin: Origin<'p>) -> Held<'p> {
        let request = walk.finish();
        Held::new(request, walk.holder, walk.label, origin, claim.take())
    }

    /// Polls the state machine (`.await`). Never inlined into the future's `poll`: the step,
    /// with the walk, is inlined here instead, and the caller moves no future to reach it.
    #[inline(never)]
    pub(crate) fn poll_core(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Held<'p>, Error>> {
        let this = self.project();
        let mut drive = Polled {
            cx,
            sleep: this.sleep,
        };
        Self::step(
            this.state,
            this.walker,
            this.origin,
            *this.timeout,
            &mut drive,
        )
    }

    /// Tries once: all locks or none. A future that a poll left waiting tries the rest of its
    /// set once.
    #[inline]
    pub(crate) fn try_now(&mut self) -> Result<Held<'p>, Error> {
        let (state, walker, origin) = (&mut self.state, &mut self.walker, &self.origin);
        match Self::step(state, walker, origin, self.timeout, &mut Once) {
            Poll::Ready(result) => result,
            Poll::Pending => unreachable!("a single try gives up at a busy lock"),
        }
    }

    /// Blocks the thread until every lock is held, or until the timeout passes (measured with
    /// `std::time::Instant` from the first busy lock; the manager's timer only stamps status).
    /// A future that a poll left waiting goes on from where it is.
    #[cfg(feature = "std")]
    pub(crate) fn wait(&mut self) -> Result<Held<'p>, Error> {
        #[cfg(feature = "tokio")]
        crate::timer::refuse_blocking_on_a_runtime_thread();
        let (waker, mut cx);
        let mut block = Blocking {
            cx: None,
            deadline: None,
        };
        // The uncontended path: no waker, no clock reading beyond the status timestamp.
        let (state, walker, origin) = (&mut self.state, &mut self.walker, &self.origin);
        let timeout = self.timeout;
        if let Poll::Ready(result) = Self::step(state, walker, origin, timeout, &mut block) {
            return result;
        }
        // A busy lock, which started the clock: listen from now on. Blocking and async waiters
        // listen in the same lists: a release wakes either.
        waker = core::task::Waker::from(Arc::new(Unparker(std::thread::current())));
        cx = Context::from_waker(&waker);
        block.cx = Some(&mut cx);
        loop {
            if let Poll::Ready(result) = Self::step(state, walker, origin, timeout, &mut block) {
                return result;
            }
            block.park();
        }
    }
}

/// How a driver of [`Core::step`] waits at a busy lock: the one thing in which `.await`
/// ([`Polled`]), `.wait()` ([`Blocking`]) and `try_now()` ([`Once`]) differ.
pub(crate) trait Drive<'w, T: MaybeTimer> {
    /// Whether giving up is a single try's [`Error::WouldBlock`] rather than a timeout.
    const ONCE: bool;

    /// The context the walk listens with at a busy lock; `None`: it only tries.
    fn context(&mut self, timeout: Timeout) -> Option<&mut Context<'w>>;

    /// At a busy lock, after the walk listened (or tried): whether to give up now.
    fn expired(&mut self, timeout: Timeout, timer: &T, state: &mut State) -> bool;

    /// After giving up, with everything released: drops what the driver waited with.
    fn gave_up(&mut self) {}
}

/// `.await`: listens with the task's waker; the timeout is the timer's sleep (the future's),
/// created at the first busy lock (a zero timeout tries once).
struct Polled<'c, 'w, 's, S> {
    cx: &'c mut Context<'w>,
    sleep: Pin<&'s mut Option<S>>,
}

impl<'w, T: MaybeTimer> Drive<'w, T>
    for Polled<'_, 'w, '_, <T as crate::timer::sealed::Sealed>::Sleep>
{
    const ONCE: bool = false;

    #[inline(always)]
    fn context(&mut self, timeout: Timeout) -> Option<&mut Context<'w>> {
        (!timeout.is_zero()).then_some(&mut *self.cx)
    }

    #[inline(always)]
    fn expired(&mut self, timeout: Timeout, timer: &T, state: &mut State) -> bool {
        if timeout.is_zero() {
            return true;
        }
        match timeout.get() {
            None => false,
            Some(timeout) => {
                if self.sleep.is_none() {
                    let timeout = if fault!("timeout-twice-as-long") {
                        timeout * 2
                    } else {
                        timeout
                    };
                    self.sleep.set(Some(timer.sleep_for(timeout)));
                    *state = State::Sleeping;
                }
                self.sleep.as_mut().as_pin_mut().is_some_and(|sleep| {
                    !fault!("timeout-never-fires") && sleep.poll(self.cx).is_ready()
                })
            }
        }
    }

    #[inline(always)]
    fn gave_up(&mut self) {
        self.sleep.set(None);
    }
}

/// `try_now()`: tries once, and gives up at the first busy lock.
struct Once;

impl<'w, T: MaybeTimer> Drive<'w, T> for Once {
    const ONCE: bool = true;

    #[inline(always)]
    fn context(&mut self, _: Timeout) -> Option<&mut Context<'w>> {
        None
    }

    #[inline(always)]
    fn expired(&mut self, _: Timeout, _: &T, _: &mut State) -> bool {
        true
    }
}

/// `.wait()`: listens with a waker that unparks the thread (none before the first busy lock:
/// the uncontended path needs none); the timeout is an `Instant` deadline, started at the first
/// busy lock (a zero timeout tries once).
#[cfg(feature = "std")]
struct Blocking<'c, 'w> {
    cx: Option<&'c mut Context<'w>>,
    /// `None` until the first busy lock; then the deadline, `None` for none (no timeout, or one
    /// too long to represent, which waits for ever).
    deadline: Option<Option<std::time::Instant>>,
}

#[cfg(feature = "std")]
impl<'w, T: MaybeTimer> Drive<'w, T> for Blocking<'_, 'w> {
    const ONCE: bool = false;

    fn context(&mut self, _: Timeout) -> Option<&mut Context<'w>> {
        self.cx.as_deref_mut()
    }

    fn expired(&mut self, timeout: Timeout, _: &T, _: &mut State) -> bool {
        use std::time::Instant;
        match self.deadline {
            None if timeout.is_zero() => true,
            None => {
                let timeout = timeout.get();
                let timeout = if fault!("wait-deadline-ignores-timeout") {
                    timeout.map(|_| Duration::ZERO)
                } else {
                    timeout
                };
                self.deadline = Some(timeout.and_then(|t| Instant::now().checked_add(t)));
                false
            }
            Some(None) => false,
            Some(Some(deadline)) => deadline <= Instant::now(),
        }
    }
}

#[cfg(feature = "std")]
impl Blocking<'_, '_> {
    /// Waits for a wake-up, or until the deadline.
    fn park(&self) {
        match self.deadline.flatten() {
            None => std::thread::park(),
            Some(deadline) => {
                if let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
                    std::thread::park_timeout(left);
                }
            }
        }
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
            .field("timeout", &self.timeout.get())
            .field("sleeping", &self.sleep.is_some())
            .field("owner", &walk.label)
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
                self.core.timeout = Timeout::NONE;
                self
            }

            /// Labels the holder, for status reports and for the errors of those who wait for
            /// it; a nested acquire inherits its parent's label.
            ///
            /// The label is copied (a `&str`, a `String` such as `format!("req-{id}")`, anything
            /// that is `AsRef<str>`); status and the guard keep its first [`Label::CAPACITY`]
            /// bytes, cut at a character boundary.
            pub fn owner(mut self, label: impl AsRef<str>) -> Self {
                self.core.walker.walk.label = Some(Label::new(label.as_ref()));
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
                self.core.timeout = Timeout::new(Some(timeout));
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
    /// # Size
    ///
    /// The future holds the whole request, its options and the state of its walk: 184 bytes on
    /// x86-64 without a timer and without the `stats` and `tracing` features (which add fields),
    /// more with a timer, whose sleep future it holds. Await it where it is built
    /// (`m.acquire(ids).await`): a future built first and then passed on, or captured by an
    /// `async` block, is copied with every future it is moved with, and a copy made just after
    /// the future was built may wait for the stores that built it (on an AMD EPYC VM, 57-75 ns
    /// more per operation through the layers of `benches/moves.rs` than awaiting it in place).
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::manager::LockManager;

    /// The size the future's docs state (see `Acquire`, "Size"); the `stats` and `tracing`
    /// features add fields.
    #[test]
    #[cfg(all(
        target_pointer_width = "64",
        not(any(feature = "stats", feature = "tracing"))
    ))]
    fn the_acquire_future_is_the_size_its_docs_state() {
        assert_eq!(
            core::mem::size_of::<Acquire<'static, crate::timer::NoTimer>>(),
            184
        );
    }

    #[test]
    fn a_timeout_keeps_zero_none_and_its_length_and_saturates_far_ones() {
        assert_eq!(Timeout::new(None).get(), None);
        assert!(Timeout::new(Some(Duration::ZERO)).is_zero());
        assert_eq!(
            Timeout::new(Some(Duration::ZERO)).get(),
            Some(Duration::ZERO)
        );
        let t = Duration::new(1, 500_000_001);
        assert_eq!(Timeout::new(Some(t)).get(), Some(t));
        // Far timeouts stay timeouts (never "none"), and never shorter than given: from
        // `u64::MAX - 1` nanoseconds on, `Duration::MAX`, as a virtual clock can get there.
        let far = Timeout::new(Some(Duration::MAX));
        assert_ne!(far, Timeout::NONE);
        assert_eq!(far.get(), Some(Duration::MAX));
        for edge in [u64::MAX, u64::MAX - 1] {
            assert_eq!(
                Timeout::new(Some(Duration::from_nanos(edge))),
                far,
                "{edge}"
            );
        }
        let longest = Duration::from_nanos(u64::MAX - 2);
        assert_eq!(Timeout::new(Some(longest)).get(), Some(longest));
    }

    #[test]
    fn a_task_key_given_to_a_request_dropped_unpolled_is_let_go() {
        let mut b = LockManager::builder();
        b.register("a", 1).unwrap();
        let m = b.build();
        let key = m.task_key();
        let fut = m.acquire(["a"]).key(&key);
        assert_eq!(
            Arc::strong_count(&key.state),
            2,
            "the request holds the key"
        );
        drop(fut);
        assert_eq!(
            Arc::strong_count(&key.state),
            1,
            "and lets it go when dropped"
        );
        // Nothing was claimed under it: a request under the key may take the lock.
        let g = m.acquire(["a"]).key(&key).try_now().unwrap();
        assert_eq!(Arc::strong_count(&key.state), 2, "the guard holds the key");
        drop(g);
        assert_eq!(Arc::strong_count(&key.state), 1);
    }

    /// The task key's count of holders at every stage a keyed request can be dropped at, or end
    /// at: only the key itself and the guards still hold it afterwards.
    #[test]
    #[cfg(feature = "std")] // catch_unwind
    fn a_task_key_is_let_go_at_every_stage_of_a_request() {
        /// A clock that panics while its flag is set.
        struct FailingClock(Arc<core::sync::atomic::AtomicBool>);

        impl Timer for FailingClock {
            type Sleep = core::future::Pending<()>;
            fn now(&self) -> Duration {
                assert!(
                    !self.0.load(core::sync::atomic::Ordering::SeqCst),
                    "clock fails"
                );
                Duration::ZERO
            }
            fn sleep(&self, _: Duration) -> Self::Sleep {
                core::future::pending()
            }
        }

        let fail = Arc::new(core::sync::atomic::AtomicBool::new(false));
        let mut b = LockManager::builder().timer(FailingClock(fail.clone()));
        b.register("a", 1).unwrap();
        b.register("b", 2).unwrap();
        b.register("c", 3).unwrap();
        let m = b.build();
        let (key, other) = (m.task_key(), m.task_key());
        let count = |k: &TaskKey| Arc::strong_count(&k.state);
        let mut cx = Context::from_waker(core::task::Waker::noop());
        // Given twice: the first one is let go at once.
        let fut = m.acquire(["b"]).key(&other).key(&key);
        assert_eq!((count(&key), count(&other)), (2, 1));
        drop(fut);
        assert_eq!(count(&key), 1);
        // Refused by an unknown key after the task key: held until dropped.
        let mut fut = Box::pin(m.acquire(["b"]).key(&key).shared(["nope"]));
        assert!(matches!(
            fut.as_mut().poll(&mut cx),
            Poll::Ready(Err(Error::UnknownLock { .. }))
        ));
        drop(fut);
        assert_eq!(count(&key), 1);
        // Refused by the key rule, and a foreign key on a nested request.
        let mut g = m.acquire(["b"]).key(&key).try_now().unwrap();
        assert_eq!(count(&key), 2);
        let refused = m.acquire(["a"]).key(&key).try_now();
        assert!(matches!(refused, Err(Error::OrderViolation { .. })));
        assert!(matches!(
            g.acquire(["c"]).key(&other).try_now(),
            Err(Error::ForeignKey { .. })
        ));
        assert_eq!((count(&key), count(&other)), (2, 1));
        // Nested, inheriting: the nested guard holds the key too.
        let inner = g.acquire(["c"]).try_now().unwrap();
        assert_eq!(count(&key), 3);
        drop(inner);
        assert_eq!(count(&key), 2);
        drop(g);
        assert_eq!(count(&key), 1);
        // Waited, then dropped; waited, then tried once; waited, then timed out.
        let busy = m.try_acquire(["b"]).unwrap();
        for end in 0..3 {
            let mut fut = Box::pin(m.acquire(["a", "b"]).key(&key).no_timeout());
            if end == 2 {
                fut = Box::pin(m.acquire(["a", "b"]).key(&key).timeout(Duration::ZERO));
            }
            let first = fut.as_mut().poll(&mut cx);
            match end {
                0 => {
                    assert!(first.is_pending());
                    assert_eq!(count(&key), 2, "claimed while waiting");
                    drop(fut);
                }
                1 => {
                    assert!(first.is_pending());
                    let fut = Pin::into_inner(fut);
                    assert!(matches!(fut.try_now(), Err(Error::WouldBlock { .. })));
                }
                _ => {
                    assert!(matches!(first, Poll::Ready(Err(Error::Timeout { .. }))));
                    assert_eq!(count(&key), 1, "given back when it gave up");
                    drop(fut);
                }
            }
            assert_eq!(count(&key), 1, "end {end}");
            assert!(!m.is_locked("a").unwrap(), "end {end}");
        }
        drop(busy);
        // The clock panics in a poll that has started and claimed: dropping the future gives
        // the claims and the key back.
        let mut fut = Box::pin(m.acquire(["a", "b"]).key(&key));
        fail.store(true, core::sync::atomic::Ordering::SeqCst);
        let unwound = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            let _ = fut.as_mut().poll(&mut cx);
        }));
        fail.store(false, core::sync::atomic::Ordering::SeqCst);
        assert!(unwound.is_err());
        assert_eq!(count(&key), 2);
        drop(fut);
        assert_eq!(count(&key), 1);
        let g = m.acquire(["a"]).key(&key).try_now().unwrap();
        drop(g);
        assert_eq!((count(&key), count(&other)), (1, 1));
    }
}
