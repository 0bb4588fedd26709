//! The world under test: the real manager and its timer beside the model, and the checks that
//! compare them (lock states, guards, errors, status, long holds, timers and wakers).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use lockorder::{Error, HolderId, LockId, LockManager, LockRef, ManualTimer, Mode, NoTimer, Owner};

use super::input::{LabelKind, Request};
use super::lock::Holders;
use super::model::{Expected, Model};
use super::real::AnyGuard;
use super::{Manager, LONG_OWNER, OWNER, UNKNOWN};

pub(crate) struct World {
    /// The manager: weak, so that it goes when the last `Arc` or owned guard or future does.
    pub(crate) manager: Weak<Manager>,
    pub(crate) timer: ManualTimer,
    pub(crate) ids: Vec<LockId>,
    pub(crate) foreign: Vec<LockId>,
    pub(crate) model: Model,
    /// The locks in ascending order (by index).
    pub(crate) ascending: Vec<usize>,
    /// The holder id status showed for each holding chain, once seen.
    pub(crate) holder_ids: RefCell<HashMap<u64, HolderId>>,
    /// Owner labels made so far.
    pub(crate) labels: u32,
    /// `LOCKORDER_FUZZ_TRACE` is set: print what happens.
    pub(crate) trace: bool,
}

/// A label as status keeps it: at most 32 bytes, cut at a character boundary.
pub(crate) fn cut(label: &str) -> &str {
    let mut len = label.len().min(32);
    while !label.is_char_boundary(len) {
        len -= 1;
    }
    &label[..len]
}

impl World {
    /// `foreign` has the same locks as `m`: its ids must be unknown to `m`.
    pub(crate) fn new(
        m: &Arc<Manager>,
        timer: ManualTimer,
        foreign: &LockManager<NoTimer>,
        model: Model,
    ) -> Self {
        let names = &model.names;
        let mut ascending: Vec<usize> = (0..names.len()).collect();
        ascending.sort_by_key(|&i| model.orders[i]);
        Self {
            manager: Arc::downgrade(m),
            timer,
            ids: names.iter().map(|n| m.id(n).unwrap()).collect(),
            foreign: names.iter().map(|n| foreign.id(n).unwrap()).collect(),
            model,
            ascending,
            holder_ids: RefCell::default(),
            labels: 0,
            trace: std::env::var_os("LOCKORDER_FUZZ_TRACE").is_some(),
        }
    }

    /// The manager, which lives while anything of it is checked.
    pub(crate) fn m(&self) -> Arc<Manager> {
        self.manager.upgrade().expect("the manager is gone")
    }

    /// A new owner label of that kind: each acquisition's is its own.
    pub(crate) fn label(&mut self, kind: Option<LabelKind>) -> Option<String> {
        self.labels += 1;
        let n = self.labels;
        kind.map(|kind| match kind {
            LabelKind::Short => format!("{OWNER}{n}"),
            LabelKind::Long => format!("{n}{LONG_OWNER}"),
        })
    }

    pub(crate) fn advance(&mut self, millis: u8) {
        let by = Duration::from_millis(millis.into());
        // Wakes the sleeps that are due, with their futures' wakers (which may be hostile).
        super::hostile::quietly(|| self.timer.advance(by));
        self.model.now = self.model.now.saturating_add(by);
        self.check_long_held(by);
    }

    pub(crate) fn lock_is(&self, r: &LockRef, i: usize) -> bool {
        r.name() == self.model.names[i] && r.order() == self.model.orders[i]
    }

    pub(crate) fn check_error(&self, actual: &Error, expected: &Expected) {
        let ok = match (expected, actual) {
            (Expected::Timeout(i), Error::Timeout { lock }) => self.lock_is(lock, *i),
            (Expected::WouldBlock(i), Error::WouldBlock { lock }) => self.lock_is(lock, *i),
            (
                Expected::OrderViolation { requested, held },
                Error::OrderViolation {
                    requested: r,
                    held: h,
                },
            ) => self.lock_is(r, *requested) && self.lock_is(h, *held),
            (Expected::Unknown(name), Error::UnknownLock { name: actual }) => {
                name.as_ref().is_none_or(|n| n == actual)
            }
            (Expected::Upgrade(i), Error::UpgradeRefused { lock }) => self.lock_is(lock, *i),
            (Expected::PolledAfterCompletion, Error::PolledAfterCompletion) => true,
            _ => false,
        };
        assert!(ok, "expected {expected:?}, got {actual:?}");
    }

    pub(crate) fn names_of(&self, set: &BTreeSet<usize>) -> Vec<&str> {
        self.model
            .by_order(set.iter().copied())
            .into_iter()
            .map(|i| self.model.names[i].as_str())
            .collect()
    }

    pub(crate) fn check_guard(&self, g: &AnyGuard<'_>, id: u64) {
        let gm = &self.model.guards[&id];
        assert_eq!(g.manager(), self.manager.as_ptr(), "guard's manager");
        let locks = g.locks();
        let names: Vec<&str> = locks.iter().map(|l| l.0).collect();
        assert_eq!(names, self.names_of(&gm.covered), "guard covers");
        let own: BTreeSet<usize> = gm.own.iter().map(|o| o.0).collect();
        assert_eq!(g.own_locks(), self.names_of(&own), "guard owns");
        assert!(
            locks.windows(2).all(|w| w[0].1 < w[1].1),
            "guard locks not ascending"
        );
        assert_eq!(g.owner(), gm.owner.as_deref().map(cut), "guard owner");
        self.check_owner(
            g.holder(),
            gm.owner.as_deref(),
            gm.chain,
            format_args!("guard holder()"),
        );
        for (i, &lock) in self.ids.iter().enumerate() {
            let covered = gm.covered.contains(&i);
            let name = self.model.names[i].as_str();
            assert_eq!(g.mode(lock), gm.mode(i), "mode({i}) by id");
            assert_eq!(g.mode(name), gm.mode(i), "mode({i}) by name");
            assert_eq!(g.mode(self.foreign[i]), None, "mode of a foreign id");
            assert_eq!(g.holds(lock), covered, "holds({i}) by id");
            assert_eq!(
                g.holds(self.model.names[i].as_str()),
                covered,
                "holds({i}) by name"
            );
            assert!(!g.holds(self.foreign[i]), "holds a foreign id");
        }
        assert!(!g.holds(UNKNOWN));
        assert_eq!(g.mode(UNKNOWN), None);
    }

    /// An owner as status or `holder()` reports it, against the label and chain of the model.
    pub(crate) fn check_owner(
        &self,
        actual: Option<Owner>,
        label: Option<&str>,
        chain: Option<u64>,
        what: std::fmt::Arguments<'_>,
    ) {
        match (label, chain, actual) {
            (Some(label), _, Some(Owner::Label(l))) => {
                assert_eq!(l.as_str(), cut(label), "{what}: label");
            }
            (None, Some(chain), Some(Owner::Holder(h))) => {
                let mut ids = self.holder_ids.borrow_mut();
                let known = *ids.entry(chain).or_insert(h);
                assert_eq!(h, known, "{what}: holder id of chain {chain} changed");
            }
            (None, None, None) => {}
            (label, chain, actual) => {
                panic!("{what}: expected label {label:?} / chain {chain:?}, got {actual:?}")
            }
        }
    }

    /// `status()` against the model.
    pub(crate) fn check_status(&self) {
        let model = &self.model;
        let m = self.m();
        let status = m.status();
        assert_eq!(status.now(), Some(model.now), "status now");
        let n = model.names.len();
        assert_eq!(status.len(), n, "status entries");
        let mut chains: HashMap<HolderId, u64> = HashMap::new();
        for (s, &i) in status.iter().zip(&self.ascending) {
            assert_eq!(s.name, model.names[i], "status of lock {i}: name");
            assert_eq!(s.order, model.orders[i], "status of lock {i}: order");
            assert_eq!(s.description, "", "status of lock {i}: description");
            let (mode, readers) = match &model.locks[i].holders {
                Holders::Free => (None, 0),
                Holders::Exclusive(_) => (Some(Mode::Exclusive), 0),
                Holders::Shared(r) => (Some(Mode::Shared), r.len() as u32),
            };
            assert_eq!(s.is_locked, mode.is_some(), "status of lock {i}: is_locked");
            assert_eq!(s.mode, mode, "status of lock {i}: mode");
            assert_eq!(s.readers, readers, "status of lock {i}: readers");
            assert_eq!(
                s.acquired_at,
                model.records[i].as_ref().map(|r| r.at),
                "status of lock {i}: acquired_at"
            );
            match model.owner_of(i) {
                None => assert_eq!(s.owner, None, "status of lock {i}: owner of a free lock"),
                Some((label, chain)) => {
                    let what = format_args!("status of lock {i}");
                    self.check_owner(s.owner, label, chain, what);
                    if let (Some(Owner::Holder(h)), Some(chain)) = (s.owner, chain) {
                        let other = *chains.entry(h).or_insert(chain);
                        assert_eq!(
                            other, chain,
                            "lock {i}: chains {other} and {chain} share {h}"
                        );
                    }
                }
            }
        }
    }

    /// `long_held(t)` against the model.
    pub(crate) fn check_long_held(&self, t: Duration) {
        let model = &self.model;
        let now = model.now;
        let real = self.m().long_held(t);
        let expected: Vec<(usize, Duration)> = self
            .ascending
            .iter()
            .filter_map(|&i| Some((i, now.saturating_sub(model.records[i].as_ref()?.at))))
            .filter(|&(_, held_for)| held_for > t)
            .collect();
        let locks: Vec<&str> = real.iter().map(|h| h.lock.name()).collect();
        let want: Vec<&str> = expected
            .iter()
            .map(|&(i, _)| model.names[i].as_str())
            .collect();
        assert_eq!(locks, want, "long_held({t:?}) at {now:?}");
        for (h, &(i, held_for)) in real.iter().zip(&expected) {
            assert!(self.lock_is(&h.lock, i), "long_held: lock {i}");
            assert_eq!(h.held_for, held_for, "long_held: held_for of lock {i}");
            assert_eq!(h.threshold, t, "long_held: threshold");
            let (label, chain) = model.owner_of(i).unwrap();
            self.check_owner(h.owner, label, chain, format_args!("long_held owner"));
            // The message names the lock, its owner and both durations as seconds with
            // milliseconds (`1.250s`).
            let text = h.to_string();
            let secs = |d: Duration| format!("{}.{:03}s", d.as_secs(), d.subsec_millis());
            let owner = h.owner.map_or(String::new(), |o| format!(" by {o}"));
            let (lock, held_for, t) = (&model.names[i], secs(held_for), secs(t));
            let expected = format!(
                "{lock}` (order {}) held{owner} for {held_for} (more than {t})",
                model.orders[i]
            );
            assert!(
                text.contains(&expected),
                "long_held message: {text}, expected {expected}"
            );
        }
    }

    /// `long_held` at every threshold where its answer changes: each hold time and just below it,
    /// and at the extremes.
    pub(crate) fn check_long_held_edges(&self) {
        let now = self.model.now;
        let mut ts = vec![Duration::ZERO, Duration::MAX];
        for r in self.model.records.iter().flatten() {
            let held_for = now.saturating_sub(r.at);
            ts.push(held_for);
            ts.extend(held_for.checked_sub(Duration::from_nanos(1)));
        }
        ts.sort();
        ts.dedup();
        for t in ts {
            self.check_long_held(t);
        }
    }

    /// The invariants that hold between operations.
    pub(crate) fn check(&self) {
        self.check_status();
        let model = &self.model;
        let m = self.m();
        for (i, &lock) in self.ids.iter().enumerate() {
            assert_eq!(
                m.is_locked(lock).unwrap(),
                !model.locks[i].is_free(),
                "lock {} ({:?}): real vs model holders {:?}",
                i,
                model.names[i],
                model.locks[i].holders
            );
        }
        assert_eq!(self.timer.sleeps(), model.sleeps, "sleeps created");
        let now = model.now;
        assert_eq!(self.timer.now(), now);
        let parked: Vec<Duration> = model
            .futures
            .values()
            .filter_map(|f| f.deadline)
            .filter(|&d| d > now)
            .collect();
        assert_eq!(self.timer.parked(), parked.len(), "parked sleeps");
        assert_eq!(self.timer.next_deadline(), parked.iter().min().copied());
        for (id, f) in &model.futures {
            if f.blocked_on().is_some() && f.deadline.is_some_and(|d| d <= now) {
                assert!(f.woken(), "future {id}: deadline passed but not woken");
            }
        }
        // No stranded waiter: a listener the model says was notified has been woken, and a free
        // lock that anyone listens for has a notified listener.
        for (i, lock) in model.locks.iter().enumerate() {
            let entries = || lock.entries();
            for e in entries().filter(|e| e.notified) {
                assert!(
                    e.waker.count() > e.seen,
                    "lock {i}: the wake-up of future {} was lost",
                    e.fut
                );
            }
            if lock.is_free() && entries().next().is_some() {
                assert!(
                    entries().any(|e| e.notified),
                    "lock {i} is free but none of its waiters was woken"
                );
            }
            assert!(
                !lock.leaves_a_reader_asleep(),
                "lock {i} is held shared and a reader that could join sleeps"
            );
        }
    }

    /// The keys of a request, as lock indices (`None`: a key of no lock here), each with
    /// whether it is asked for shared.
    pub(crate) fn keys(&self, req: &Request) -> Vec<(Option<usize>, bool)> {
        let n = self.ids.len();
        req.keys
            .iter()
            .enumerate()
            .map(|(at, &k)| {
                (
                    (k != 255).then_some(usize::from(k) % n),
                    req.shared >> at & 1 != 0,
                )
            })
            .collect()
    }
}
