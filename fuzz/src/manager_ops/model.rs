//! The model: what the manager should do, in plain data. It knows which future or guard holds
//! each lock, what each future wants and has taken, its timeout and deadline, and the wakers the
//! harness polled it with; it predicts every poll, try and drop.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Wake;
use std::time::Duration;

use super::input::{KeyKind, Wait};
use super::UNKNOWN;

/// A waker that counts its wake-ups.
#[derive(Default)]
pub(crate) struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counter {
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expected {
    Timeout(usize),
    WouldBlock(usize),
    OrderViolation {
        requested: usize,
        held: usize,
    },
    /// The name of the unknown key, when it was given by name.
    Unknown(Option<String>),
    PolledAfterCompletion,
}

pub(crate) enum FutState {
    Refused(Expected),
    Walking,
    Done,
}

pub(crate) struct FutModel {
    pub(crate) state: FutState,
    /// Locks to take, ascending by order.
    pub(crate) want: Vec<usize>,
    /// How many of `want` are held.
    pub(crate) taken: usize,
    /// The parent guard's covered locks, for a nested acquire.
    pub(crate) parent: Option<BTreeSet<usize>>,
    pub(crate) timeout: Option<Duration>,
    /// The deadline of the future's sleep: set when the sleep is created, at the first contended
    /// poll with a nonzero timeout, and kept until the future times out or is dropped (a granted
    /// future keeps its sleep: dropping it would run the timer's code while the locks are in
    /// transit to the guard).
    pub(crate) deadline: Option<Duration>,
    pub(crate) owner: Option<String>,
    /// The holding chain (acquisition and the guards nested in it) whose holder id status shows:
    /// the parent guard's, else a new one once the first lock is taken.
    pub(crate) chain: Option<u64>,
    /// The lock it is blocked on, after a poll that returned `Pending`.
    pub(crate) blocked_on: Option<usize>,
    pub(crate) waker: Arc<Counter>,
    /// The waker's count just before the last poll.
    pub(crate) seen: usize,
}

impl FutModel {
    pub(crate) fn woken(&self) -> bool {
        self.waker.count() > self.seen
    }
}

#[derive(Debug)]
pub(crate) struct GuardModel {
    pub(crate) own: BTreeSet<usize>,
    pub(crate) covered: BTreeSet<usize>,
    pub(crate) owner: Option<String>,
    pub(crate) chain: Option<u64>,
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
    pub(crate) holder: Vec<Option<u64>>,
    /// The clock when each held lock was taken.
    pub(crate) at: Vec<Option<Duration>>,
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
            holder: vec![None; n],
            at: vec![None; n],
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

    /// What a request resolves to: the locks still to take, or the refusal.
    pub(crate) fn resolve(
        &self,
        keys: &[Option<usize>],
        kind: KeyKind,
        parent: Option<&GuardModel>,
    ) -> Result<Vec<usize>, Expected> {
        if keys.iter().any(Option::is_none) {
            return Err(Expected::Unknown(match kind {
                KeyKind::Name | KeyKind::Owned => Some(UNKNOWN.to_string()),
                KeyKind::Id => None,
            }));
        }
        let mut want: BTreeSet<usize> = keys.iter().flatten().copied().collect();
        if let Some(parent) = parent {
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
        Ok(self.by_order(want))
    }

    pub(crate) fn new_future(
        &mut self,
        keys: &[Option<usize>],
        kind: KeyKind,
        parent: Option<u64>,
        wait: Wait,
        owner: Option<String>,
    ) -> u64 {
        let parent = parent.map(|p| &self.guards[&p]);
        let state_want = self.resolve(keys, kind, parent);
        let owner = owner.or_else(|| parent.and_then(|p| p.owner.clone()));
        let chain = parent.and_then(|p| p.chain);
        let parent = parent.map(|p| p.covered.clone());
        let (state, want) = match state_want {
            Ok(want) => (FutState::Walking, want),
            Err(e) => (FutState::Refused(e), Vec::new()),
        };
        let id = self.id();
        let fut = FutModel {
            state,
            want,
            taken: 0,
            parent,
            timeout: self.timeout_of(wait),
            deadline: None,
            owner,
            chain,
            blocked_on: None,
            waker: Arc::default(),
            seen: 0,
        };
        self.futures.insert(id, fut);
        id
    }

    /// Gives back what a future holds (it failed or was dropped).
    pub(crate) fn release_future(&mut self, id: u64) {
        let f = self.futures.get_mut(&id).unwrap();
        for &i in &f.want[..f.taken] {
            assert_eq!(self.holder[i], Some(id), "model: future {id} lost lock {i}");
            self.holder[i] = None;
            self.at[i] = None;
        }
        f.taken = 0;
        f.blocked_on = None;
        f.deadline = None;
    }

    pub(crate) fn drop_future(&mut self, id: u64) {
        self.release_future(id);
        self.futures.remove(&id);
    }

    pub(crate) fn drop_guard(&mut self, id: u64) {
        let g = self.guards.remove(&id).unwrap();
        for i in g.own {
            assert_eq!(self.holder[i], Some(id), "model: guard {id} lost lock {i}");
            self.holder[i] = None;
            self.at[i] = None;
        }
    }

    pub(crate) fn grant(&mut self, id: u64) -> u64 {
        let f = self.futures.get_mut(&id).unwrap();
        f.state = FutState::Done;
        f.blocked_on = None;
        let own: BTreeSet<usize> = f.want.drain(..).collect();
        f.taken = 0;
        let mut covered = f.parent.clone().unwrap_or_default();
        covered.extend(own.iter().copied());
        let owner = f.owner.take();
        let chain = f.chain;
        let gid = self.id();
        for &i in &own {
            self.holder[i] = Some(gid);
        }
        self.guards.insert(
            gid,
            GuardModel {
                own,
                covered,
                owner,
                chain,
            },
        );
        gid
    }

    /// What polling future `id` does.
    pub(crate) fn poll(&mut self, id: u64) -> Outcome {
        let f = self.futures.get_mut(&id).unwrap();
        match std::mem::replace(&mut f.state, FutState::Done) {
            FutState::Refused(e) => return Outcome::Failed(e),
            FutState::Done => return Outcome::Failed(Expected::PolledAfterCompletion),
            FutState::Walking => f.state = FutState::Walking,
        }
        while let Some(&i) = f.want.get(f.taken) {
            if self.holder[i].is_some() {
                break;
            }
            self.holder[i] = Some(id);
            self.at[i] = Some(self.now);
            if f.chain.is_none() {
                self.next_id += 1;
                f.chain = Some(self.next_id);
            }
            f.taken += 1;
        }
        let Some(&busy) = f.want.get(f.taken) else {
            return Outcome::Granted(self.grant(id));
        };
        if let Some(timeout) = f.timeout {
            let expired = timeout.is_zero() || {
                if f.deadline.is_none() {
                    f.deadline = Some(self.now.saturating_add(timeout));
                    self.sleeps += 1;
                }
                self.now >= f.deadline.unwrap()
            };
            if expired {
                self.release_future(id);
                self.futures.get_mut(&id).unwrap().state = FutState::Done;
                return Outcome::Failed(Expected::Timeout(busy));
            }
        }
        f.blocked_on = Some(busy);
        Outcome::Pending
    }

    /// Who holds lock `i`, as status should show it: the label, and the holding chain.
    pub(crate) fn owner_of(&self, i: usize) -> Option<(Option<&str>, Option<u64>)> {
        let h = self.holder[i]?;
        Some(match self.futures.get(&h) {
            Some(f) => (f.owner.as_deref(), f.chain),
            None => (self.guards[&h].owner.as_deref(), self.guards[&h].chain),
        })
    }

    /// A single try: all or nothing.
    pub(crate) fn try_now(
        &mut self,
        want: Result<Vec<usize>, Expected>,
        parent: Option<u64>,
        owner: Option<String>,
    ) -> Outcome {
        let want = match want {
            Ok(want) => want,
            Err(e) => return Outcome::Failed(e),
        };
        if let Some(&busy) = want.iter().find(|&&i| self.holder[i].is_some()) {
            return Outcome::Failed(Expected::WouldBlock(busy));
        }
        let parent = parent.map(|p| &self.guards[&p]);
        let owner = owner.or_else(|| parent.and_then(|p| p.owner.clone()));
        let chain = parent.and_then(|p| p.chain);
        let mut covered = parent.map(|p| p.covered.clone()).unwrap_or_default();
        covered.extend(want.iter().copied());
        let chain = match chain {
            None if !want.is_empty() => Some(self.id()),
            chain => chain,
        };
        let gid = self.id();
        for &i in &want {
            self.holder[i] = Some(gid);
            self.at[i] = Some(self.now);
        }
        self.guards.insert(
            gid,
            GuardModel {
                own: want.into_iter().collect(),
                covered,
                owner,
                chain,
            },
        );
        Outcome::Granted(gid)
    }

    /// The lock holders and the futures, for a trace.
    pub(crate) fn trace(&self) -> String {
        let mut futures: Vec<_> = self.futures.iter().collect();
        futures.sort_by_key(|f| f.0);
        let futures: Vec<String> = futures
            .into_iter()
            .map(|(id, f)| match (&f.state, f.blocked_on) {
                (FutState::Refused(e), _) => format!("{id}: refused {e:?}"),
                (FutState::Done, _) => format!("{id}: done"),
                (FutState::Walking, Some(lock)) => format!("{id}: waits for {lock}"),
                (FutState::Walking, None) => format!("{id}: walking"),
            })
            .collect();
        format!("holders {:?} futures {futures:?}", self.holder)
    }

    /// Whether a blocking `wait()` would block the thread: a lock is busy and the timeout is
    /// not zero (the harness runs only those that cannot).
    pub(crate) fn would_block(
        &self,
        want: &Result<Vec<usize>, Expected>,
        timeout: Option<Duration>,
    ) -> bool {
        let busy = want
            .as_ref()
            .is_ok_and(|want| want.iter().any(|&i| self.holder[i].is_some()));
        busy && timeout != Some(Duration::ZERO)
    }

    /// A blocking `wait()` that cannot block: a try, where a busy lock (with a zero timeout) is
    /// a timeout naming it, with nothing kept and no sleep created.
    pub(crate) fn wait_now(
        &mut self,
        want: Result<Vec<usize>, Expected>,
        parent: Option<u64>,
        owner: Option<String>,
    ) -> Outcome {
        match self.try_now(want, parent, owner) {
            Outcome::Failed(Expected::WouldBlock(busy)) => Outcome::Failed(Expected::Timeout(busy)),
            outcome => outcome,
        }
    }
}
