//! Differential fuzzing of the lock manager: bytes become a sequence of operations (create an
//! acquire, poll it, drop it, drop a guard, nest through a guard, try once, move the virtual
//! clock). Each runs on a real `LockManager<ManualTimer>` and on a plain model; any disagreement
//! is a crash.
//!
//! Checked after every operation:
//! * every lock is held exactly when the model says so (one holder at most, locks taken in
//!   ascending order and stopped at the first busy one, nothing held once its guard or future is
//!   gone);
//! * every poll, try and guard agrees with the model: which locks a guard covers and owns, its
//!   owner label, `Timeout`/`WouldBlock` naming the busy lock, `OrderViolation` exactly when a
//!   nested request asks for a new lock below the highest one held, `UnknownLock`,
//!   `PolledAfterCompletion`;
//! * timeouts: the sleep is created at the first contended poll (and only then), a future is not
//!   timed out before that time plus its timeout and is timed out when polled at or after it while
//!   still blocked; a zero timeout tries once; the timer's parked sleeps are exactly those of the
//!   blocked futures whose deadline is still ahead;
//! * no stranded waiter: when a lock is free, at least one of the futures blocked on it has been
//!   woken since its last poll, and a blocked future whose deadline has passed has been woken;
//! * `status()`: one entry per lock, ascending, each with the model's name, order and
//!   `is_locked`; a held lock's owner is the label of the acquisition that holds it (given or
//!   inherited, cut to 32 bytes at a character boundary), or else its holder id, which is the same
//!   for every lock of one acquisition and the guards nested in it, differs between chains alive at
//!   the same time, never changes while a chain lives, and is what every guard's `holder()` says;
//!   its `acquired_at` is the clock at the poll or try that took it (a walk that waits keeps the
//!   earlier times of the locks it took before); a free lock has neither owner nor time;
//! * `long_held(t)`: exactly the held locks with `now - acquired_at > t`, ascending, with that
//!   hold time and the same owner as status; checked after every clock move with `t` = the
//!   advance, and at `Inspect` at each hold time and just below it, at zero and at the maximum.
//!
//! Nested guards borrow their parent, so nesting is a stack of frames: `Enter` moves a guard out
//! of the current frame and opens a frame whose futures and guards borrow it; `Exit` (or the end
//! of the input) drops that frame's futures and guards and puts the parent back. Operations name
//! the frame they act on by how many levels up it is, so an inner future can wait on a lock held
//! by an outer guard and be woken when that guard is dropped.
#![no_main]

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockorder::futures::Acquire;
use lockorder::{Error, Guard, HolderId, Key, LockId, LockManager, LockRef, ManualTimer, Owner};

type Manager = LockManager<ManualTimer>;

const MAX_LOCKS: usize = 10;
/// A large manager has more locks than a lock set holds inline (128).
const LARGE_LOCKS: usize = 120;
const FUTURE_SLOTS: usize = 4;
const MAX_DEPTH: usize = 3;
const OWNER: &str = "fuzz-owner";
/// Longer than a status label keeps (32 bytes), with a character across the cut: status shows
/// 31 bytes of it.
const LONG_OWNER: &str = "long-owner-label-\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}";
const UNKNOWN: &str = "no-such-lock";

// === Input ===
//
// A small byte format, so that seeds can be written by hand and mutations stay meaningful.
// Missing bytes read as zero.
//
//   header: LOCKS DEFAULT_WAIT DEFAULT_MILLIS ORDER*LOCKS
//     LOCKS % 10 + 1 locks named `lock0`.., ORDER byte b gives order b * 1000 (255: u32::MAX),
//     a taken order is bumped by one; DEFAULT_WAIT is a wait code (below) for default_timeout.
//     LOCKS >= 0xf0 instead gives a large manager of 120 + LOCKS % 16 locks (lock sets then
//     spill out of their inline words), with no ORDER bytes: lock i has order (n - i) * 10.
//   then ops, each OP [args], OP = level << 4 | code, code % 10:
//     0 acquire  SLOT FLAGS MILLIS COUNT KEY*COUNT
//     1 poll     SLOT (bit 7: with a fresh waker)
//     2 poll every woken future of the frame
//     3 drop future SLOT
//     4 drop guard  SLOT
//     5 try      FLAGS MILLIS COUNT KEY*COUNT
//     6 advance  MILLIS
//     7 enter    SLOT (a guard of the current frame)
//     8 exit
//     9 inspect
//   FLAGS: bits 0-1 key kind (0 name, 1 String, 2 LockId, 3 name), bits 2-4 wait code
//     (0 default, 1 no_timeout, 2 zero, 3 max, else MILLIS), bit 5 owner label, bit 6 (try) via
//     `acquire(..).try_now()`, bit 7 (with bit 5) the long label (which status cuts) instead of
//     the short one. COUNT % 6 keys; KEY 255 is a key of no lock here, else KEY % LOCKS.
//   `level` picks the frame: 0 the current one, 1 its parent, ... (modulo the depth).

#[derive(Debug)]
struct Input {
    orders: Vec<u32>,
    default_timeout: Option<Duration>,
    ops: Vec<Op>,
}

/// Which timeout an acquire asks for.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// The manager's default.
    Default,
    /// `no_timeout()`.
    Forever,
    Zero,
    Millis(u8),
    Max,
}

/// How keys are spelled.
#[derive(Debug, Clone, Copy)]
enum KeyKind {
    Name,
    Owned,
    Id,
}

#[derive(Debug)]
enum Op {
    /// Replace the future in `slot` by a new acquire (through the frame's guard, if any).
    Acquire {
        level: u8,
        slot: u8,
        keys: Vec<u8>,
        kind: KeyKind,
        wait: Wait,
        owner: Option<&'static str>,
    },
    /// Poll the future in `slot`, optionally with a new waker.
    Poll {
        level: u8,
        slot: u8,
        fresh_waker: bool,
    },
    /// Poll every future of the frame that has been woken since its last poll.
    PollWoken {
        level: u8,
    },
    DropFuture {
        level: u8,
        slot: u8,
    },
    DropGuard {
        level: u8,
        slot: u8,
    },
    /// `try_acquire`, or `acquire(..)` with options then `try_now()`.
    TryAcquire {
        level: u8,
        keys: Vec<u8>,
        kind: KeyKind,
        via_future: bool,
        wait: Wait,
        owner: Option<&'static str>,
    },
    Advance {
        millis: u8,
    },
    /// Open a frame nested in the guard in `slot` of the current frame.
    Enter {
        slot: u8,
    },
    /// Close the current frame.
    Exit,
    /// Format everything (the `Debug` and `Display` impls must not panic, status tables and long
    /// holds included) and re-check every guard.
    Inspect {
        level: u8,
    },
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn wait(code: u8, millis: u8) -> Wait {
        match code {
            0 => Wait::Default,
            1 => Wait::Forever,
            2 => Wait::Zero,
            3 => Wait::Max,
            _ => Wait::Millis(millis),
        }
    }

    /// FLAGS MILLIS COUNT KEY*COUNT
    fn request(&mut self) -> (KeyKind, Wait, Option<&'static str>, bool, Vec<u8>) {
        let flags = self.next();
        let millis = self.next();
        let count = self.next() % 6;
        let keys = (0..count).map(|_| self.next()).collect();
        let kind = match flags & 3 {
            1 => KeyKind::Owned,
            2 => KeyKind::Id,
            _ => KeyKind::Name,
        };
        let wait = Self::wait(flags >> 2 & 7, millis);
        let owner = match (flags & 0x20 != 0, flags & 0x80 != 0) {
            (false, _) => None,
            (true, false) => Some(OWNER),
            (true, true) => Some(LONG_OWNER),
        };
        (kind, wait, owner, flags & 0x40 != 0, keys)
    }
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut b = Bytes(u.bytes(u.len())?);
        let locks = b.next();
        let default_timeout = match Bytes::wait(b.next(), b.next()) {
            Wait::Default | Wait::Forever => None,
            Wait::Zero => Some(Duration::ZERO),
            Wait::Millis(ms) => Some(Duration::from_millis(ms.into())),
            Wait::Max => Some(Duration::MAX),
        };
        if locks >= 0xf0 {
            let n = LARGE_LOCKS + usize::from(locks % 16);
            let orders = (0..n).map(|i| (n - i) as u32 * 10).collect();
            return Ok(Input {
                orders,
                default_timeout,
                ops: ops(b),
            });
        }
        let n = usize::from(locks) % MAX_LOCKS + 1;
        let mut orders: Vec<u32> = Vec::with_capacity(n);
        for _ in 0..n {
            let mut order = match b.next() {
                255 => u32::MAX,
                o => u32::from(o) * 1000,
            };
            while orders.contains(&order) {
                order = order.wrapping_add(1);
            }
            orders.push(order);
        }
        Ok(Input {
            orders,
            default_timeout,
            ops: ops(b),
        })
    }
}

fn ops(mut b: Bytes<'_>) -> Vec<Op> {
    let mut ops = Vec::new();
    while !b.0.is_empty() {
        let op = b.next();
        let level = op >> 4;
        ops.push(match (op & 15) % 10 {
            0 => {
                let slot = b.next();
                let (kind, wait, owner, _, keys) = b.request();
                Op::Acquire {
                    level,
                    slot,
                    keys,
                    kind,
                    wait,
                    owner,
                }
            }
            1 => {
                let slot = b.next();
                Op::Poll {
                    level,
                    slot,
                    fresh_waker: slot & 0x80 != 0,
                }
            }
            2 => Op::PollWoken { level },
            3 => Op::DropFuture {
                level,
                slot: b.next(),
            },
            4 => Op::DropGuard {
                level,
                slot: b.next(),
            },
            5 => {
                let (kind, wait, owner, via_future, keys) = b.request();
                Op::TryAcquire {
                    level,
                    keys,
                    kind,
                    via_future,
                    wait,
                    owner,
                }
            }
            6 => Op::Advance { millis: b.next() },
            7 => Op::Enter { slot: b.next() },
            8 => Op::Exit,
            _ => Op::Inspect { level },
        });
    }
    ops
}

// === A waker that counts ===

#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counter {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

// === The model ===

#[derive(Debug, Clone, PartialEq)]
enum Expected {
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

enum FutState {
    Refused(Expected),
    Walking,
    Done,
}

struct FutModel {
    state: FutState,
    /// Locks to take, ascending by order.
    want: Vec<usize>,
    /// How many of `want` are held.
    taken: usize,
    /// The parent guard's covered locks, for a nested acquire.
    parent: Option<BTreeSet<usize>>,
    timeout: Option<Duration>,
    /// Set when the sleep is created: at the first contended poll with a nonzero timeout.
    deadline: Option<Duration>,
    owner: Option<&'static str>,
    /// The holding chain (acquisition and the guards nested in it) whose holder id status shows:
    /// the parent guard's, else a new one once the first lock is taken.
    chain: Option<u64>,
    /// The lock it is blocked on, after a poll that returned `Pending`.
    blocked_on: Option<usize>,
    waker: Arc<Counter>,
    /// The waker's count just before the last poll.
    seen: usize,
}

impl FutModel {
    fn woken(&self) -> bool {
        self.waker.count() > self.seen
    }
}

#[derive(Debug)]
struct GuardModel {
    own: BTreeSet<usize>,
    covered: BTreeSet<usize>,
    owner: Option<&'static str>,
    chain: Option<u64>,
}

enum Outcome {
    Pending,
    Granted(u64),
    Failed(Expected),
}

struct Model {
    names: Vec<String>,
    orders: Vec<u32>,
    default_timeout: Option<Duration>,
    holder: Vec<Option<u64>>,
    /// The clock when each held lock was taken.
    at: Vec<Option<Duration>>,
    now: Duration,
    sleeps: u64,
    next_id: u64,
    futures: std::collections::HashMap<u64, FutModel>,
    guards: std::collections::HashMap<u64, GuardModel>,
}

impl Model {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn by_order(&self, set: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut v: Vec<usize> = set.into_iter().collect();
        v.sort_by_key(|&i| self.orders[i]);
        v.dedup();
        v
    }

    fn timeout_of(&self, wait: Wait) -> Option<Duration> {
        match wait {
            Wait::Default => self.default_timeout,
            Wait::Forever => None,
            Wait::Zero => Some(Duration::ZERO),
            Wait::Millis(ms) => Some(Duration::from_millis(ms.into())),
            Wait::Max => Some(Duration::MAX),
        }
    }

    /// What a request resolves to: the locks still to take, or the refusal.
    fn resolve(
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

    fn new_future(
        &mut self,
        keys: &[Option<usize>],
        kind: KeyKind,
        parent: Option<u64>,
        wait: Wait,
        owner: Option<&'static str>,
    ) -> u64 {
        let parent = parent.map(|p| &self.guards[&p]);
        let state_want = self.resolve(keys, kind, parent);
        let owner = owner.or_else(|| parent.and_then(|p| p.owner));
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
    fn release_future(&mut self, id: u64) {
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

    fn drop_future(&mut self, id: u64) {
        self.release_future(id);
        self.futures.remove(&id);
    }

    fn drop_guard(&mut self, id: u64) {
        let g = self.guards.remove(&id).unwrap();
        for i in g.own {
            assert_eq!(self.holder[i], Some(id), "model: guard {id} lost lock {i}");
            self.holder[i] = None;
            self.at[i] = None;
        }
    }

    fn grant(&mut self, id: u64) -> u64 {
        let f = self.futures.get_mut(&id).unwrap();
        f.state = FutState::Done;
        f.blocked_on = None;
        f.deadline = None;
        let own: BTreeSet<usize> = f.want.drain(..).collect();
        f.taken = 0;
        let mut covered = f.parent.clone().unwrap_or_default();
        covered.extend(own.iter().copied());
        let owner = f.owner;
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
    fn poll(&mut self, id: u64) -> Outcome {
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
    fn owner_of(&self, i: usize) -> Option<(Option<&'static str>, Option<u64>)> {
        let h = self.holder[i]?;
        Some(match self.futures.get(&h) {
            Some(f) => (f.owner, f.chain),
            None => (self.guards[&h].owner, self.guards[&h].chain),
        })
    }

    /// A single try: all or nothing.
    fn try_now(
        &mut self,
        want: Result<Vec<usize>, Expected>,
        parent: Option<u64>,
        owner: Option<&'static str>,
    ) -> Outcome {
        let want = match want {
            Ok(want) => want,
            Err(e) => return Outcome::Failed(e),
        };
        if let Some(&busy) = want.iter().find(|&&i| self.holder[i].is_some()) {
            return Outcome::Failed(Expected::WouldBlock(busy));
        }
        let parent = parent.map(|p| &self.guards[&p]);
        let owner = owner.or_else(|| parent.and_then(|p| p.owner));
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
}

// === The world: the real manager, its timer, and the model ===

struct World<'m> {
    m: &'m Manager,
    timer: ManualTimer,
    ids: Vec<LockId>,
    foreign: Vec<LockId>,
    model: Model,
    /// The locks in ascending order (by index).
    ascending: Vec<usize>,
    /// The holder id status showed for each holding chain, once seen.
    holder_ids: RefCell<HashMap<u64, HolderId>>,
}

/// A label as status keeps it: at most 32 bytes, cut at a character boundary.
fn cut(label: &str) -> &str {
    let mut len = label.len().min(32);
    while !label.is_char_boundary(len) {
        len -= 1;
    }
    &label[..len]
}

impl World<'_> {
    fn lock_is(&self, r: &LockRef, i: usize) -> bool {
        r.name() == self.model.names[i] && r.order() == self.model.orders[i]
    }

    fn check_error(&self, actual: &Error, expected: &Expected) {
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
            (Expected::PolledAfterCompletion, Error::PolledAfterCompletion) => true,
            _ => false,
        };
        assert!(ok, "expected {expected:?}, got {actual:?}");
    }

    fn names_of(&self, set: &BTreeSet<usize>) -> Vec<&str> {
        self.model
            .by_order(set.iter().copied())
            .into_iter()
            .map(|i| self.model.names[i].as_str())
            .collect()
    }

    fn check_guard(&self, g: &Guard<'_, ManualTimer>, id: u64) {
        let gm = &self.model.guards[&id];
        let locks: Vec<&str> = g.locks().map(|l| l.name()).collect();
        assert_eq!(locks, self.names_of(&gm.covered), "guard covers");
        let own: Vec<&str> = g.own_locks().map(|l| l.name()).collect();
        assert_eq!(own, self.names_of(&gm.own), "guard owns");
        assert!(
            g.locks()
                .zip(g.locks().skip(1))
                .all(|(a, b)| a.order() < b.order()),
            "guard locks not ascending"
        );
        assert_eq!(g.owner(), gm.owner, "guard owner");
        self.check_owner(
            g.holder(),
            gm.owner,
            gm.chain,
            format_args!("guard holder()"),
        );
        for (i, &lock) in self.ids.iter().enumerate() {
            let covered = gm.covered.contains(&i);
            assert_eq!(g.holds(lock), covered, "holds({i}) by id");
            assert_eq!(
                g.holds(self.model.names[i].as_str()),
                covered,
                "holds({i}) by name"
            );
            assert!(!g.holds(self.foreign[i]), "holds a foreign id");
        }
        assert!(!g.holds(UNKNOWN));
    }

    /// An owner as status or `holder()` reports it, against the label and chain of the model.
    fn check_owner(
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
    fn check_status(&self) {
        let model = &self.model;
        let status = self.m.status();
        assert_eq!(status.now(), Some(model.now), "status now");
        let n = model.names.len();
        assert_eq!(status.len(), n, "status entries");
        let mut chains: HashMap<HolderId, u64> = HashMap::new();
        for (s, &i) in status.iter().zip(&self.ascending) {
            assert_eq!(s.name, model.names[i], "status of lock {i}: name");
            assert_eq!(s.order, model.orders[i], "status of lock {i}: order");
            assert_eq!(s.description, "", "status of lock {i}: description");
            let held = model.holder[i].is_some();
            assert_eq!(s.is_locked, held, "status of lock {i}: is_locked");
            assert_eq!(
                s.acquired_at, model.at[i],
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
    fn check_long_held(&self, t: Duration) {
        let model = &self.model;
        let now = model.now;
        let real = self.m.long_held(t);
        let expected: Vec<(usize, Duration)> = self
            .ascending
            .iter()
            .filter_map(|&i| Some((i, now.saturating_sub(model.at[i]?))))
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
        }
    }

    /// `long_held` at every threshold where its answer changes: each hold time and just below it,
    /// and at the extremes.
    fn check_long_held_edges(&self) {
        let now = self.model.now;
        let mut ts = vec![Duration::ZERO, Duration::MAX];
        for &at in self.model.at.iter().flatten() {
            let held_for = now.saturating_sub(at);
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
    fn check(&self) {
        self.check_status();
        let model = &self.model;
        for (i, &lock) in self.ids.iter().enumerate() {
            assert_eq!(
                self.m.is_locked(lock).unwrap(),
                model.holder[i].is_some(),
                "lock {} ({:?}): real vs model holder {:?}",
                i,
                model.names[i],
                model.holder[i]
            );
        }
        assert_eq!(self.timer.sleeps(), model.sleeps, "sleeps created");
        let now = model.now;
        assert_eq!(self.timer.now(), now);
        let parked: Vec<Duration> = model
            .futures
            .values()
            .filter(|f| f.blocked_on.is_some())
            .filter_map(|f| f.deadline)
            .filter(|&d| d > now)
            .collect();
        assert_eq!(self.timer.parked(), parked.len(), "parked sleeps");
        assert_eq!(self.timer.next_deadline(), parked.iter().min().copied());
        for (id, f) in &model.futures {
            let Some(lock) = f.blocked_on else { continue };
            if f.deadline.is_some_and(|d| d <= now) {
                assert!(f.woken(), "future {id}: deadline passed but not woken");
            }
            if model.holder[lock].is_none() {
                let woken = model
                    .futures
                    .values()
                    .filter(|g| g.blocked_on == Some(lock))
                    .any(FutModel::woken);
                assert!(
                    woken,
                    "lock {lock} is free but none of its waiters was woken"
                );
            }
        }
    }

    /// The keys of a request, as lock indices (`None`: a key of no lock here).
    fn keys(&self, raw: &[u8]) -> Vec<Option<usize>> {
        let n = self.ids.len();
        raw.iter()
            .map(|&k| (k != 255).then_some(usize::from(k) % n))
            .collect()
    }
}

// === Frames ===

struct FutSlot<'g> {
    id: u64,
    fut: Pin<Box<Acquire<'g, ManualTimer>>>,
}

struct GuardSlot<'g> {
    id: u64,
    guard: Guard<'g, ManualTimer>,
}

struct Frame<'g> {
    m: &'g Manager,
    parent: Option<(u64, &'g Guard<'g, ManualTimer>)>,
    futures: Vec<Option<FutSlot<'g>>>,
    guards: Vec<Option<GuardSlot<'g>>>,
    /// The guard slot whose guard is lent to a nested frame: not free for reuse.
    lent: Option<usize>,
}

fn start<'g, K: Key>(
    m: &'g Manager,
    parent: Option<&'g Guard<'g, ManualTimer>>,
    keys: Vec<K>,
) -> Acquire<'g, ManualTimer> {
    match parent {
        None => m.acquire(keys),
        Some(g) => g.acquire(keys),
    }
}

impl<'g> Frame<'g> {
    fn new(m: &'g Manager, parent: Option<(u64, &'g Guard<'g, ManualTimer>)>) -> Self {
        Self {
            m,
            parent,
            futures: (0..FUTURE_SLOTS).map(|_| None).collect(),
            guards: Vec::new(),
            lent: None,
        }
    }

    fn begin(
        &self,
        w: &World<'_>,
        keys: &[Option<usize>],
        kind: KeyKind,
        wait: Wait,
        owner: Option<&'static str>,
    ) -> Acquire<'g, ManualTimer> {
        let parent = self.parent.map(|p| p.1);
        let names = &w.model.names;
        let fut = match kind {
            KeyKind::Name => start(
                self.m,
                parent,
                keys.iter()
                    .map(|k| k.map_or(UNKNOWN, |i| names[i].as_str()))
                    .collect(),
            ),
            KeyKind::Owned => start(
                self.m,
                parent,
                keys.iter()
                    .map(|k| k.map_or(UNKNOWN, |i| names[i].as_str()).to_string())
                    .collect(),
            ),
            KeyKind::Id => start(
                self.m,
                parent,
                keys.iter()
                    .enumerate()
                    .map(|(at, k)| k.map_or(w.foreign[at % w.foreign.len()], |i| w.ids[i]))
                    .collect(),
            ),
        };
        let fut = match wait {
            Wait::Default => fut,
            Wait::Forever => fut.no_timeout(),
            Wait::Zero => fut.timeout(Duration::ZERO),
            Wait::Millis(ms) => fut.timeout(Duration::from_millis(ms.into())),
            Wait::Max => fut.timeout(Duration::MAX),
        };
        match owner {
            Some(label) => fut.owner(label),
            None => fut,
        }
    }

    fn store(&mut self, w: &World<'_>, id: u64, guard: Guard<'g, ManualTimer>) {
        w.check_guard(&guard, id);
        let slot = GuardSlot { id, guard };
        let lent = self.lent;
        let free = self
            .guards
            .iter_mut()
            .enumerate()
            .find(|(at, s)| s.is_none() && Some(*at) != lent);
        match free {
            Some((_, free)) => *free = Some(slot),
            None => self.guards.push(Some(slot)),
        }
    }

    fn drop_future(&mut self, w: &mut World<'_>, slot: usize) {
        if let Some(s) = self.futures[slot].take() {
            drop(s.fut);
            w.model.drop_future(s.id);
        }
    }

    fn poll(&mut self, w: &mut World<'_>, slot: usize, fresh_waker: bool) {
        let Some(s) = self.futures[slot].as_mut() else {
            return;
        };
        let f = w.model.futures.get_mut(&s.id).unwrap();
        if fresh_waker {
            f.waker = Arc::default();
        }
        f.seen = f.waker.count();
        let waker = Waker::from(f.waker.clone());
        let real = s.fut.as_mut().poll(&mut Context::from_waker(&waker));
        let id = s.id;
        match (w.model.poll(id), real) {
            (Outcome::Pending, Poll::Pending) => {}
            (Outcome::Granted(gid), Poll::Ready(Ok(guard))) => self.store(w, gid, guard),
            (Outcome::Failed(e), Poll::Ready(Err(actual))) => w.check_error(&actual, &e),
            (Outcome::Pending, real) => panic!("future {id}: expected Pending, got {real:?}"),
            (Outcome::Granted(_), real) => panic!("future {id}: expected a guard, got {real:?}"),
            (Outcome::Failed(e), real) => panic!("future {id}: expected {e:?}, got {real:?}"),
        }
    }

    fn apply(&mut self, w: &mut World<'_>, op: &Op) {
        match *op {
            Op::Acquire {
                slot,
                ref keys,
                kind,
                wait,
                owner,
                ..
            } => {
                let slot = usize::from(slot) % FUTURE_SLOTS;
                self.drop_future(w, slot);
                w.check();
                let keys = w.keys(keys);
                let fut = Box::pin(self.begin(w, &keys, kind, wait, owner));
                let parent = self.parent.map(|p| p.0);
                let id = w.model.new_future(&keys, kind, parent, wait, owner);
                self.futures[slot] = Some(FutSlot { id, fut });
            }
            Op::Poll {
                slot, fresh_waker, ..
            } => self.poll(w, usize::from(slot) % FUTURE_SLOTS, fresh_waker),
            Op::PollWoken { .. } => {
                for slot in 0..FUTURE_SLOTS {
                    let woken = self.futures[slot]
                        .as_ref()
                        .is_some_and(|s| w.model.futures[&s.id].woken());
                    if woken {
                        self.poll(w, slot, false);
                    }
                }
            }
            Op::DropFuture { slot, .. } => self.drop_future(w, usize::from(slot) % FUTURE_SLOTS),
            Op::DropGuard { slot, .. } => {
                if self.guards.is_empty() {
                    return;
                }
                let at = usize::from(slot) % self.guards.len();
                if let Some(s) = self.guards[at].take() {
                    drop(s.guard);
                    w.model.drop_guard(s.id);
                }
            }
            Op::TryAcquire {
                ref keys,
                kind,
                via_future,
                wait,
                owner,
                ..
            } => {
                let keys = w.keys(keys);
                let parent = self.parent.map(|p| p.0);
                let (real, owner) = if via_future {
                    (self.begin(w, &keys, kind, wait, owner).try_now(), owner)
                } else {
                    let real = match self.parent {
                        // The shorthands, which must be the same as `acquire(..).try_now()`.
                        None if matches!(kind, KeyKind::Name) => self.m.try_acquire(
                            keys.iter()
                                .map(|k| k.map_or(UNKNOWN, |i| w.model.names[i].as_str())),
                        ),
                        Some((_, g)) if matches!(kind, KeyKind::Name) => g.try_acquire(
                            keys.iter()
                                .map(|k| k.map_or(UNKNOWN, |i| w.model.names[i].as_str())),
                        ),
                        _ => self.begin(w, &keys, kind, Wait::Default, None).try_now(),
                    };
                    (real, None)
                };
                let want = w
                    .model
                    .resolve(&keys, kind, parent.map(|p| &w.model.guards[&p]));
                match (w.model.try_now(want, parent, owner), real) {
                    (Outcome::Granted(gid), Ok(guard)) => self.store(w, gid, guard),
                    (Outcome::Failed(e), Err(actual)) => w.check_error(&actual, &e),
                    (Outcome::Pending, _) => unreachable!(),
                    (Outcome::Granted(_), real) => panic!("try: expected a guard, got {real:?}"),
                    (Outcome::Failed(e), real) => panic!("try: expected {e:?}, got {real:?}"),
                }
            }
            Op::Inspect { .. } => {
                let _ = format!("{:?}", self.m);
                let status = self.m.status();
                let _ = format!("{status}{status:?}");
                for hold in self.m.long_held(Duration::ZERO) {
                    let _ = format!("{hold}{hold:?}");
                }
                for s in self.futures.iter().flatten() {
                    let _ = format!("{:?}", s.fut);
                }
                for s in self.guards.iter().flatten() {
                    let _ = format!("{:?}", s.guard);
                    w.check_guard(&s.guard, s.id);
                }
                if let Some((id, g)) = self.parent {
                    w.check_guard(g, id);
                }
                w.check_long_held_edges();
            }
            Op::Advance { .. } | Op::Enter { .. } | Op::Exit => unreachable!(),
        }
    }

    /// Drops every future, then every guard, checking after each.
    fn clear(&mut self, w: &mut World<'_>) {
        for slot in 0..FUTURE_SLOTS {
            self.drop_future(w, slot);
            w.check();
        }
        for s in self.guards.drain(..).flatten() {
            drop(s.guard);
            w.model.drop_guard(s.id);
            w.check();
        }
    }
}

/// A frame and the frames it is nested in.
trait Level {
    fn apply(&mut self, w: &mut World<'_>, up: usize, op: &Op);
}

struct Stack<'s, 'g> {
    frame: &'s mut Frame<'g>,
    outer: Option<&'s mut dyn Level>,
}

impl Level for Stack<'_, '_> {
    fn apply(&mut self, w: &mut World<'_>, up: usize, op: &Op) {
        match (up, self.outer.as_mut()) {
            (0, _) => self.frame.apply(w, op),
            (_, Some(outer)) => outer.apply(w, up - 1, op),
            (_, None) => unreachable!(),
        }
    }
}

fn run(
    w: &mut World<'_>,
    ops: &mut std::slice::Iter<'_, Op>,
    stack: &mut Stack<'_, '_>,
    depth: usize,
) {
    while let Some(op) = ops.next() {
        match *op {
            Op::Exit if depth > 0 => return,
            Op::Exit => {}
            Op::Enter { .. } if depth >= MAX_DEPTH => {}
            Op::Enter { slot } => {
                let frame = &mut *stack.frame;
                if frame.guards.is_empty() {
                    continue;
                }
                let at = usize::from(slot) % frame.guards.len();
                let Some(parent) = frame.guards[at].take() else {
                    continue;
                };
                frame.lent = Some(at);
                let mut inner = Frame::new(frame.m, Some((parent.id, &parent.guard)));
                let mut here = Stack {
                    frame: &mut inner,
                    outer: Some(&mut *stack),
                };
                run(w, ops, &mut here, depth + 1);
                inner.clear(w);
                drop(inner);
                stack.frame.lent = None;
                stack.frame.guards[at] = Some(parent);
            }
            Op::Advance { millis } => {
                let by = Duration::from_millis(millis.into());
                w.timer.advance(by);
                w.model.now = w.model.now.saturating_add(by);
                w.check_long_held(by);
            }
            Op::Acquire { level, .. }
            | Op::Poll { level, .. }
            | Op::PollWoken { level }
            | Op::DropFuture { level, .. }
            | Op::DropGuard { level, .. }
            | Op::TryAcquire { level, .. }
            | Op::Inspect { level } => {
                stack.apply(w, usize::from(level) % (depth + 1), op);
            }
        }
        w.check();
    }
}

fuzz_target!(|input: Input| {
    let Input {
        orders,
        default_timeout,
        ops,
    } = input;
    let n = orders.len();
    let names: Vec<String> = (0..n).map(|i| format!("lock{i}")).collect();

    let timer = ManualTimer::new();
    let mut b = LockManager::builder().timer(timer.clone());
    let mut foreign = LockManager::builder();
    for (name, &order) in names.iter().zip(&orders) {
        b.register(name, order).unwrap();
        foreign.register(name, order).unwrap();
    }
    if let Some(t) = default_timeout {
        b = b.default_timeout(t);
    }
    let m = b.build();
    let foreign = foreign.build();
    assert_eq!(m.default_timeout(), default_timeout);

    let mut ascending: Vec<usize> = (0..n).collect();
    ascending.sort_by_key(|&i| orders[i]);
    let mut w = World {
        m: &m,
        timer,
        ids: names.iter().map(|n| m.id(n).unwrap()).collect(),
        foreign: names.iter().map(|n| foreign.id(n).unwrap()).collect(),
        model: Model {
            names,
            orders,
            default_timeout,
            holder: vec![None; n],
            at: vec![None; n],
            now: Duration::ZERO,
            sleeps: 0,
            next_id: 0,
            futures: Default::default(),
            guards: Default::default(),
        },
        ascending,
        holder_ids: RefCell::default(),
    };
    let mut top = Frame::new(&m, None);
    let mut ops = ops.iter();
    run(
        &mut w,
        &mut ops,
        &mut Stack {
            frame: &mut top,
            outer: None,
        },
        0,
    );
    top.clear(&mut w);
    w.check();
    assert!(w.model.futures.is_empty() && w.model.guards.is_empty());
    assert!(w.model.holder.iter().all(Option::is_none));
    assert_eq!(w.timer.parked(), 0, "a sleep outlived its future");
});
