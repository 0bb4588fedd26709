//! The model: what the manager should do, in plain data. It knows each lock (see [`lock`]: who
//! holds it and how, who listens), what each future wants, has taken and listens for, its turn,
//! timeout and deadline, the guards and what they cover in which mode, and the status record of
//! each holding; it predicts every poll, try and drop.
//!
//! A future walks its request upward as the library's does: it tries each lock on its turn, and
//! on a refusal (with a context) does what the hand-off policy's table says (`src/handoff.rs`,
//! rows L1-L5; [`lock`] models the rest of the table).
//!
//! [`lock`]: super::lock

use std::collections::{BTreeSet, HashMap};
use std::mem;
use std::sync::Arc;
use std::time::Duration;

use lockorder::Mode;

use super::input::{KeyKind, Wait};
use super::lock::{Busy, Holders, LockModel, On, Turn};
use super::UNKNOWN;

pub(crate) use super::hostile::Counter;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expected {
    Timeout(usize),
    WouldBlock(usize),
    OrderViolation {
        requested: usize,
        held: usize,
    },
    Upgrade(usize),
    /// The name of the unknown key, when it was given by name.
    Unknown(Option<String>),
    PolledAfterCompletion,
}

pub(crate) enum FutState {
    Refused(Expected),
    Walking,
    Done,
}

/// What a nested request is checked against: the locks its parent guard covers, and which of
/// them shared.
#[derive(Clone)]
pub(crate) struct Parent {
    covered: BTreeSet<usize>,
    covered_shared: BTreeSet<usize>,
}

pub(crate) struct FutModel {
    pub(crate) state: FutState,
    /// Locks to take, ascending by order, each in its mode.
    pub(crate) want: Vec<(usize, Mode)>,
    /// How many of `want` are held.
    pub(crate) taken: usize,
    /// How it asks for the lock at the cursor.
    turn: Turn,
    /// Counted among the cursor lock's waiting writers.
    writer_counted: bool,
    /// The cursor lock's event it listens on.
    listening: Option<On>,
    parent: Option<Parent>,
    pub(crate) timeout: Option<Duration>,
    /// The deadline of the future's sleep: set when the sleep is created, at the first contended
    /// poll with a nonzero timeout, and kept until the future times out or is dropped (a granted
    /// future keeps its sleep: dropping it would run the timer's code while the locks are in
    /// transit to the guard).
    pub(crate) deadline: Option<Duration>,
    pub(crate) owner: Option<String>,
    /// The holding chain (acquisition and the guards nested in it) whose holder id status shows:
    /// the parent guard's, else a new one once the walk starts its first holding.
    pub(crate) chain: Option<u64>,
    pub(crate) waker: Arc<Counter>,
    /// The waker's count just before the last poll.
    pub(crate) seen: usize,
}

impl FutModel {
    pub(crate) fn woken(&self) -> bool {
        self.waker.count() > self.seen
    }

    /// The lock it listens for, after a poll that returned `Pending`.
    pub(crate) fn blocked_on(&self) -> Option<usize> {
        self.listening.map(|_| self.want[self.taken].0)
    }
}

#[derive(Debug)]
pub(crate) struct GuardModel {
    /// What it took and releases, in ascending order.
    pub(crate) own: Vec<(usize, Mode)>,
    pub(crate) covered: BTreeSet<usize>,
    /// The covered locks held shared.
    pub(crate) covered_shared: BTreeSet<usize>,
    pub(crate) owner: Option<String>,
    pub(crate) chain: Option<u64>,
}

impl GuardModel {
    pub(crate) fn mode(&self, i: usize) -> Option<Mode> {
        match (self.covered.contains(&i), self.covered_shared.contains(&i)) {
            (false, _) => None,
            (true, true) => Some(Mode::Shared),
            (true, false) => Some(Mode::Exclusive),
        }
    }

    fn as_parent(&self) -> Parent {
        Parent {
            covered: self.covered.clone(),
            covered_shared: self.covered_shared.clone(),
        }
    }
}

/// The status record of a holding: written by the walk that starts it (a writer, or the first
/// reader), kept while the lock is held.
pub(crate) struct Record {
    pub(crate) label: Option<String>,
    pub(crate) chain: u64,
    pub(crate) at: Duration,
}

pub(crate) enum Outcome {
    Pending,
    Granted(u64),
    Failed(Expected),
}

pub(crate) struct Model {
    pub(crate) names: Vec<String>,
    pub(crate) orders: Vec<u32>,
    pub(crate) default_timeout: Option<Duration>,
    pub(crate) locks: Vec<LockModel>,
    pub(crate) records: Vec<Option<Record>>,
    pub(crate) now: Duration,
    pub(crate) sleeps: u64,
    pub(crate) next_id: u64,
    pub(crate) futures: HashMap<u64, FutModel>,
    pub(crate) guards: HashMap<u64, GuardModel>,
}

impl Model {
    pub(crate) fn new(
        names: Vec<String>,
        orders: Vec<u32>,
        default_timeout: Option<Duration>,
    ) -> Self {
        let n = names.len();
        Self {
            names,
            orders,
            default_timeout,
            locks: (0..n).map(|_| LockModel::default()).collect(),
            records: (0..n).map(|_| None).collect(),
            now: Duration::ZERO,
            sleeps: 0,
            next_id: 0,
            futures: HashMap::new(),
            guards: HashMap::new(),
        }
    }

    pub(crate) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn by_order(&self, set: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut v: Vec<usize> = set.into_iter().collect();
        v.sort_by_key(|&i| self.orders[i]);
        v.dedup();
        v
    }

    pub(crate) fn timeout_of(&self, wait: Wait) -> Option<Duration> {
        match wait {
            Wait::Default => self.default_timeout,
            Wait::Forever => None,
            Wait::Zero => Some(Duration::ZERO),
            Wait::Millis(ms) => Some(Duration::from_millis(ms.into())),
            Wait::Max => Some(Duration::MAX),
        }
    }

    /// What a request resolves to: the locks still to take, each in its mode, or the refusal.
    /// A key asked for both ways is exclusive; a nested request skips what its parent covers,
    /// and is refused if it asks for exclusive use of a lock held shared (before anything else)
    /// or for a new lock below the highest one covered.
    pub(crate) fn resolve(
        &self,
        keys: &[(Option<usize>, bool)],
        kind: KeyKind,
        parent: Option<&Parent>,
    ) -> Result<Vec<(usize, Mode)>, Expected> {
        if keys.iter().any(|k| k.0.is_none()) {
            return Err(Expected::Unknown(match kind {
                KeyKind::Name | KeyKind::Owned => Some(UNKNOWN.to_string()),
                KeyKind::Id => None,
            }));
        }
        let pick = |shared: bool| -> BTreeSet<usize> {
            keys.iter()
                .filter(|k| k.1 == shared)
                .filter_map(|k| k.0)
                .collect()
        };
        let exclusive = pick(false);
        let mut shared = pick(true);
        shared.retain(|i| !exclusive.contains(i));
        let mut want: BTreeSet<usize> = exclusive.union(&shared).copied().collect();
        if let Some(parent) = parent {
            let upgrade = exclusive.intersection(&parent.covered_shared).copied();
            if let Some(lock) = upgrade.min_by_key(|&i| self.orders[i]) {
                return Err(Expected::Upgrade(lock));
            }
            want.retain(|i| !parent.covered.contains(i));
            let low = want.iter().copied().min_by_key(|&i| self.orders[i]);
            let high = parent
                .covered
                .iter()
                .copied()
                .max_by_key(|&i| self.orders[i]);
            if let (Some(low), Some(high)) = (low, high) {
                if self.orders[low] < self.orders[high] {
                    return Err(Expected::OrderViolation {
                        requested: low,
                        held: high,
                    });
                }
            }
        }
        let mode = |i: usize| match shared.contains(&i) {
            true => Mode::Shared,
            false => Mode::Exclusive,
        };
        Ok(self
            .by_order(want)
            .into_iter()
            .map(|i| (i, mode(i)))
            .collect())
    }

    /// The parent a request through guard `id` is checked against.
    pub(crate) fn parent(&self, id: Option<u64>) -> Option<Parent> {
        id.map(|id| self.guards[&id].as_parent())
    }

    /// A new future, not yet polled (`parent`: the guard it nests in).
    pub(crate) fn new_future(
        &mut self,
        want: Result<Vec<(usize, Mode)>, Expected>,
        parent: Option<u64>,
        timeout: Option<Duration>,
        owner: Option<String>,
    ) -> u64 {
        let parent = parent.map(|p| &self.guards[&p]);
        let owner = owner.or_else(|| parent.and_then(|p| p.owner.clone()));
        let chain = parent.and_then(|p| p.chain);
        let parent = parent.map(GuardModel::as_parent);
        let (state, want) = match want {
            Ok(want) => (FutState::Walking, want),
            Err(e) => (FutState::Refused(e), Vec::new()),
        };
        let id = self.id();
        let fut = FutModel {
            state,
            want,
            taken: 0,
            turn: Turn::New,
            writer_counted: false,
            listening: None,
            parent,
            timeout,
            deadline: None,
            owner,
            chain,
            waker: Arc::default(),
            seen: 0,
        };
        self.futures.insert(id, fut);
        id
    }

    /// Gives back a holding; a lock that becomes free loses its status record.
    fn unlock(&mut self, i: usize, who: u64, mode: Mode) {
        self.locks[i].unlock(who, mode);
        if self.locks[i].is_free() {
            self.records[i] = None;
        }
    }

    /// Walks future `id` upward from its cursor (`listen`: with a context, so that it listens
    /// and waits; without one it only tries). `Err` names the lock it stopped at.
    fn advance(&mut self, id: u64, listen: bool) -> Result<(), usize> {
        let now = self.now;
        let f = self.futures.get_mut(&id).unwrap();
        while let Some(&(i, mode)) = f.want.get(f.taken) {
            let lock = &mut self.locks[i];
            let first = loop {
                let busy = match lock.try_lock(id, mode, f.turn) {
                    Ok(first) => break first,
                    Err(busy) => busy,
                };
                if !listen {
                    return Err(i);
                }
                let (waker, seen) = (f.waker.clone(), f.seen);
                match f.listening {
                    None => {
                        let on = match f.turn {
                            Turn::New => {
                                if mode == Mode::Exclusive {
                                    lock.writer_waits();
                                    f.writer_counted = true;
                                }
                                f.turn = Turn::Listening;
                                On::queue(mode)
                            }
                            // L2: woken, and refused again: a newcomer got in first. Reserve
                            // the lock, so that the next holding is this walk's.
                            Turn::Woken if busy == Busy::Held => {
                                if lock.reserve(id, waker.clone(), seen) {
                                    f.turn = Turn::Reserved;
                                    f.listening = Some(On::Reservation);
                                    continue;
                                }
                                On::queue(mode)
                            }
                            Turn::Reserved => On::Reservation,
                            Turn::Listening | Turn::Woken => On::queue(mode),
                        };
                        lock.listen(id, on, waker, seen);
                        f.listening = Some(on);
                    }
                    Some(on) => {
                        if !lock.poll_listener(id, on, &waker, seen) {
                            return Err(i);
                        }
                        f.listening = None;
                        if f.turn != Turn::Reserved {
                            f.turn = Turn::Woken;
                        }
                    }
                }
            };
            if first {
                let next_id = &mut self.next_id;
                let chain = *f.chain.get_or_insert_with(|| {
                    *next_id += 1;
                    *next_id
                });
                self.records[i] = Some(Record {
                    label: f.owner.clone(),
                    chain,
                    at: now,
                });
            }
            f.taken += 1;
            if f.turn != Turn::New {
                f.turn = Turn::New;
                if mem::take(&mut f.writer_counted) {
                    lock.writer_done();
                }
                if let Some(on) = f.listening.take() {
                    lock.discard(id, on);
                }
            }
        }
        Ok(())
    }

    /// Gives back what a walk holds (newest first), then stops waiting: it no longer counts as a
    /// writer, a reservation it holds is lifted, and a wake-up it received and did not use
    /// passes on.
    fn release_walk(&mut self, id: u64) {
        let f = self.futures.get_mut(&id).unwrap();
        let cursor = f.want.get(f.taken).copied();
        let taken: Vec<(usize, Mode)> = f.want[..f.taken].to_vec();
        f.taken = 0;
        let turn = mem::replace(&mut f.turn, Turn::New);
        let listening = f.listening.take();
        let counted = mem::take(&mut f.writer_counted);
        for &(i, mode) in taken.iter().rev() {
            self.unlock(i, id, mode);
        }
        if let Some((i, _)) = cursor {
            let lock = &mut self.locks[i];
            if counted {
                lock.writer_done();
            }
            // Woken with no listener: it took a wake-up and gave up before trying the lock (a
            // panic between the two); it passes on as one its listener held would.
            let woken = match listening {
                Some(on) => lock.discard(id, on),
                None => turn == Turn::Woken,
            };
            if listening == Some(On::Writers) && !woken && !lock.holder_serves() {
                // G5: a writer leaves the line without a wake-up: a release's wake-up of a run
                // of readers at the head of the line may have stopped at it.
                lock.wake_run();
            }
            if turn == Turn::Reserved {
                lock.unreserve();
                if woken {
                    lock.pass_reservation_on();
                }
            } else if woken {
                lock.pass_on();
            }
        }
    }

    pub(crate) fn drop_future(&mut self, id: u64) {
        self.release_walk(id);
        self.futures.remove(&id);
    }

    pub(crate) fn drop_guard(&mut self, id: u64) {
        let g = self.guards.remove(&id).unwrap();
        for &(i, mode) in g.own.iter().rev() {
            self.unlock(i, id, mode);
        }
    }

    /// Hands a walk that holds everything over to a new guard.
    fn grant(&mut self, id: u64) -> u64 {
        let gid = self.id();
        let f = self.futures.get_mut(&id).unwrap();
        f.state = FutState::Done;
        let own: Vec<(usize, Mode)> = mem::take(&mut f.want);
        f.taken = 0;
        let parent = f.parent.take().unwrap_or(Parent {
            covered: BTreeSet::new(),
            covered_shared: BTreeSet::new(),
        });
        let mut covered = parent.covered;
        let mut covered_shared = parent.covered_shared;
        for &(i, mode) in &own {
            covered.insert(i);
            if mode == Mode::Shared {
                covered_shared.insert(i);
            }
            self.locks[i].rename(id, gid);
        }
        let guard = GuardModel {
            own,
            covered,
            covered_shared,
            owner: f.owner.take(),
            chain: f.chain,
        };
        self.guards.insert(gid, guard);
        gid
    }

    /// What polling future `id` does.
    pub(crate) fn poll(&mut self, id: u64) -> Outcome {
        let f = self.futures.get_mut(&id).unwrap();
        match mem::replace(&mut f.state, FutState::Done) {
            FutState::Refused(e) => return Outcome::Failed(e),
            FutState::Done => return Outcome::Failed(Expected::PolledAfterCompletion),
            FutState::Walking => f.state = FutState::Walking,
        }
        // A zero timeout tries once, without listening.
        let listen = f.timeout != Some(Duration::ZERO);
        let busy = match self.advance(id, listen) {
            Ok(()) => return Outcome::Granted(self.grant(id)),
            Err(i) => i,
        };
        let now = self.now;
        let f = self.futures.get_mut(&id).unwrap();
        let Some(timeout) = f.timeout else {
            return Outcome::Pending;
        };
        let expired = timeout.is_zero() || {
            if f.deadline.is_none() {
                f.deadline = Some(now.saturating_add(timeout));
                self.sleeps += 1;
            }
            now >= f.deadline.unwrap()
        };
        if !expired {
            return Outcome::Pending;
        }
        self.release_walk(id);
        let f = self.futures.get_mut(&id).unwrap();
        f.deadline = None;
        f.state = FutState::Done;
        Outcome::Failed(Expected::Timeout(busy))
    }

    /// Who holds lock `i`, as status should show it: the label, and the holding chain.
    pub(crate) fn owner_of(&self, i: usize) -> Option<(Option<&str>, Option<u64>)> {
        let r = self.records[i].as_ref()?;
        Some((r.label.as_deref(), Some(r.chain)))
    }

    /// A single try: all or nothing, on a newcomer's turn.
    pub(crate) fn try_now(
        &mut self,
        want: Result<Vec<(usize, Mode)>, Expected>,
        parent: Option<u64>,
        owner: Option<String>,
    ) -> Outcome {
        if let Err(e) = want {
            return Outcome::Failed(e);
        }
        let id = self.new_future(want, parent, None, owner);
        let outcome = match self.advance(id, false) {
            Ok(()) => Outcome::Granted(self.grant(id)),
            Err(i) => {
                self.release_walk(id);
                Outcome::Failed(Expected::WouldBlock(i))
            }
        };
        self.futures.remove(&id);
        outcome
    }

    /// Whether a blocking `wait()` would block the thread: a lock would refuse a newcomer and
    /// the timeout is not zero (the harness runs only those that cannot).
    pub(crate) fn would_block(
        &self,
        want: &Result<Vec<(usize, Mode)>, Expected>,
        timeout: Option<Duration>,
    ) -> bool {
        let busy = want.as_ref().is_ok_and(|want| {
            want.iter()
                .any(|&(i, mode)| self.locks[i].check(mode, Turn::New).is_err())
        });
        busy && timeout != Some(Duration::ZERO)
    }

    /// A blocking `wait()` that cannot block: a try, where a busy lock (with a zero timeout) is
    /// a timeout naming it, with nothing kept and no sleep created.
    pub(crate) fn wait_now(
        &mut self,
        want: Result<Vec<(usize, Mode)>, Expected>,
        parent: Option<u64>,
        owner: Option<String>,
    ) -> Outcome {
        match self.try_now(want, parent, owner) {
            Outcome::Failed(Expected::WouldBlock(busy)) => Outcome::Failed(Expected::Timeout(busy)),
            outcome => outcome,
        }
    }

    /// The lock holders and the futures, for a trace.
    pub(crate) fn trace(&self) -> String {
        let holders: Vec<String> = self
            .locks
            .iter()
            .map(|l| match &l.holders {
                Holders::Free => "-".to_string(),
                Holders::Exclusive(h) => format!("x{h}"),
                Holders::Shared(readers) => format!("s{readers:?}"),
            })
            .collect();
        let mut futures: Vec<_> = self.futures.iter().collect();
        futures.sort_by_key(|f| f.0);
        let futures: Vec<String> = futures
            .into_iter()
            .map(|(id, f)| match (&f.state, f.blocked_on()) {
                (FutState::Refused(e), _) => format!("{id}: refused {e:?}"),
                (FutState::Done, _) => format!("{id}: done"),
                (FutState::Walking, Some(lock)) => format!("{id}: waits for {lock}"),
                (FutState::Walking, None) => format!("{id}: walking"),
            })
            .collect();
        format!("holders {holders:?} futures {futures:?}")
    }
}
