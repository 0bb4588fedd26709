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
//!   owner label (cut to 32 bytes at a character boundary), `Timeout`/`WouldBlock` naming the busy
//!   lock, `OrderViolation` exactly when a nested request asks for a new lock below the highest
//!   one held, `UnknownLock`, `PolledAfterCompletion`;
//! * timeouts: the sleep is created at the first contended poll (and only then), a future is not
//!   timed out before that time plus its timeout and is timed out when polled at or after it while
//!   still blocked; a zero timeout tries once; the timer's parked sleeps are exactly those of the
//!   futures (blocked, or granted and not yet dropped) whose deadline is still ahead;
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
//!   hold time and the same owner as status, and a message naming the lock, the owner and the
//!   hold time (`1.250s`); checked after every clock move with `t` = the advance, and at `Inspect`
//!   at each hold time and just below it, at zero and at the maximum.
//!
//! Shapes: a nested acquire borrows its parent guard mutably, so a guard has at most one child
//! (an in-flight future or a guard) and nesting is a stack. The harness drives every shape that
//! compiles: a *pool* of futures and guards taken from the manager, which interleave freely, and
//! a few *tasks*, each a stack of guards (its root taken from the manager or moved in from the
//! pool, each further guard nested in the one below) with at most one in-flight future at its
//! top. Operations on the pool and on the tasks interleave freely, so a nested future can wait on
//! a lock held by a pool guard or by another task and be woken when that is dropped. Each task is
//! an `async` stack of recursive frames (one frame per guard, so the borrows are the compiler's
//! to check), driven one command at a time; it polls its acquire futures with the harness's
//! counting wakers.
#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::future::{poll_fn, Future};
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
type G<'a> = Guard<'a, ManualTimer>;

const MAX_LOCKS: usize = 10;
/// A large manager has more locks than a lock set holds inline (128).
const LARGE_LOCKS: usize = 120;
/// Future slots of the pool.
const FUTURE_SLOTS: usize = 4;
const TASKS: usize = 3;
/// Guards on one task's stack, at most.
const MAX_DEPTH: usize = 6;
/// Labels are built per acquisition (and dropped once given): `owner-<n>`.
const OWNER: &str = "owner-";
/// Longer than a status label keeps (32 bytes), with characters across the cut: status shows a
/// prefix of `<n>-long-owner-...` cut at a character boundary, which moves with the digits of n.
const LONG_OWNER: &str = "-long-owner-label-\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}";
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
//   then ops, each OP [args], OP = TARGET << 4 | code, code % 10. TARGET % 4 picks what the op
//   acts on: 0 the pool, 1-3 task 0-2.
//     0 acquire  SLOT FLAGS MILLIS COUNT KEY*COUNT
//                pool: a new future from the manager in SLOT (dropping the one there);
//                task: a new future at the top of its stack, through its top guard (from the
//                manager if it has none), dropping the one in flight; SLOT is not used
//     1 poll     SLOT (bit 7: with a fresh waker); a task polls its future
//     2 poll woken futures: of the pool, of the task; TARGET bit 3: of the pool and every task
//     3 drop future SLOT (a task drops its future; SLOT is not used)
//     4 drop guard  SLOT (a task drops its future, if any, then its top guard; SLOT not used)
//     5 try      FLAGS MILLIS COUNT KEY*COUNT (a task: at its top, dropping its future first)
//     6 advance  MILLIS (TARGET is not used)
//     7 enter    SLOT: a task with nothing takes the pool's guard in SLOT as its root (the pool:
//                nothing)
//     8 unwind   the pool drops every future and guard; a task drops its future and its guards,
//                innermost first
//     9 inspect  format everything (`Debug`, `Display`, status tables, long holds) and re-check
//                every guard that can be read (a task's top guard)
//   FLAGS: bits 0-1 key kind (0 name, 1 String, 2 LockId, 3 name), bits 2-4 wait code
//     (0 default, 1 no_timeout, 2 zero, 3 max, else MILLIS), bit 5 owner label, bit 6 (try) via
//     `acquire(..).try_now()`, bit 7 (with bit 5) the long label (which status cuts) instead of
//     the short one. COUNT % 6 keys; KEY 255 is a key of no lock here, else KEY % LOCKS.

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

/// Which owner label a request gives.
#[derive(Debug, Clone, Copy)]
enum LabelKind {
    Short,
    Long,
}

#[derive(Debug, Clone)]
struct Request {
    keys: Vec<u8>,
    kind: KeyKind,
    wait: Wait,
    label: Option<LabelKind>,
    /// A try through `acquire(..)` with its options then `try_now()`, not the shorthand.
    via_future: bool,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Pool,
    Task(usize),
}

#[derive(Debug)]
struct Op {
    target: Target,
    act: Act,
}

#[derive(Debug)]
enum Act {
    /// A new acquire future (see the format).
    Acquire {
        slot: u8,
        req: Request,
    },
    /// Poll a future, optionally with a new waker.
    Poll {
        slot: u8,
        fresh_waker: bool,
    },
    /// Poll every future that has been woken since its last poll.
    PollWoken {
        everywhere: bool,
    },
    DropFuture {
        slot: u8,
    },
    DropGuard {
        slot: u8,
    },
    /// `try_acquire`, or `acquire(..)` with options then `try_now()`.
    Try {
        req: Request,
    },
    Advance {
        millis: u8,
    },
    /// Move a pool guard into a task, as the root of its stack.
    Enter {
        slot: u8,
    },
    Unwind,
    Inspect,
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
    fn request(&mut self) -> Request {
        let flags = self.next();
        let millis = self.next();
        let count = self.next() % 6;
        let keys = (0..count).map(|_| self.next()).collect();
        let kind = match flags & 3 {
            1 => KeyKind::Owned,
            2 => KeyKind::Id,
            _ => KeyKind::Name,
        };
        let label = match (flags & 0x20 != 0, flags & 0x80 != 0) {
            (false, _) => None,
            (true, false) => Some(LabelKind::Short),
            (true, true) => Some(LabelKind::Long),
        };
        Request {
            keys,
            kind,
            wait: Self::wait(flags >> 2 & 7, millis),
            label,
            via_future: flags & 0x40 != 0,
        }
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
        let target = match op >> 4 & 3 {
            0 => Target::Pool,
            t => Target::Task(usize::from(t) - 1),
        };
        let act = match (op & 15) % 10 {
            0 => Act::Acquire {
                slot: b.next(),
                req: b.request(),
            },
            1 => {
                let slot = b.next();
                Act::Poll {
                    slot,
                    fresh_waker: slot & 0x80 != 0,
                }
            }
            2 => Act::PollWoken {
                everywhere: op & 0x80 != 0,
            },
            3 => Act::DropFuture { slot: b.next() },
            4 => Act::DropGuard { slot: b.next() },
            5 => Act::Try { req: b.request() },
            6 => Act::Advance { millis: b.next() },
            7 => Act::Enter { slot: b.next() },
            8 => Act::Unwind,
            _ => Act::Inspect,
        };
        ops.push(Op { target, act });
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
    /// The deadline of the future's sleep: set when the sleep is created, at the first contended
    /// poll with a nonzero timeout, and kept until the future times out or is dropped (a granted
    /// future keeps its sleep: dropping it would run the timer's code while the locks are in
    /// transit to the guard).
    deadline: Option<Duration>,
    owner: Option<String>,
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
    owner: Option<String>,
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
    futures: HashMap<u64, FutModel>,
    guards: HashMap<u64, GuardModel>,
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
    fn owner_of(&self, i: usize) -> Option<(Option<&str>, Option<u64>)> {
        let h = self.holder[i]?;
        Some(match self.futures.get(&h) {
            Some(f) => (f.owner.as_deref(), f.chain),
            None => (self.guards[&h].owner.as_deref(), self.guards[&h].chain),
        })
    }

    /// A single try: all or nothing.
    fn try_now(
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
    /// Owner labels made so far.
    labels: u32,
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
    /// A new owner label of that kind: each acquisition's is its own.
    fn label(&mut self, kind: Option<LabelKind>) -> Option<String> {
        self.labels += 1;
        let n = self.labels;
        kind.map(|kind| match kind {
            LabelKind::Short => format!("{OWNER}{n}"),
            LabelKind::Long => format!("{n}{LONG_OWNER}"),
        })
    }

    fn advance(&mut self, millis: u8) {
        let by = Duration::from_millis(millis.into());
        self.timer.advance(by);
        self.model.now = self.model.now.saturating_add(by);
        self.check_long_held(by);
    }

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
        assert_eq!(g.owner(), gm.owner.as_deref().map(cut), "guard owner");
        self.check_owner(
            g.holder(),
            gm.owner.as_deref(),
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

// === Requests, on the real manager and the model at once ===

/// The real acquire future of a request: from the manager, or through `parent`.
fn open<'a>(
    w: &World<'_>,
    m: &'a Manager,
    parent: Option<&'a mut G<'_>>,
    keys: &[Option<usize>],
    kind: KeyKind,
    wait: Wait,
    label: Option<&str>,
) -> Acquire<'a, ManualTimer> {
    fn start<'a, K: Key>(
        m: &'a Manager,
        parent: Option<&'a mut G<'_>>,
        keys: Vec<K>,
    ) -> Acquire<'a, ManualTimer> {
        match parent {
            None => m.acquire(keys),
            Some(g) => g.acquire(keys),
        }
    }
    let names = &w.model.names;
    let fut = match kind {
        KeyKind::Name => start(
            m,
            parent,
            keys.iter()
                .map(|k| k.map_or(UNKNOWN, |i| names[i].as_str()))
                .collect(),
        ),
        KeyKind::Owned => start(
            m,
            parent,
            keys.iter()
                .map(|k| k.map_or(UNKNOWN, |i| names[i].as_str()).to_string())
                .collect(),
        ),
        KeyKind::Id => start(
            m,
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
    match label {
        Some(label) => fut.owner(label),
        None => fut,
    }
}

/// A new acquire future and its model (`pid`: the model id of `parent`).
fn begin<'a>(
    w: &mut World<'_>,
    m: &'a Manager,
    pid: Option<u64>,
    parent: Option<&'a mut G<'_>>,
    req: &Request,
) -> (u64, Acquire<'a, ManualTimer>) {
    let keys = w.keys(&req.keys);
    // The label is a fresh string, dropped before the future is polled: the library copies it.
    let label = w.label(req.label);
    let fut = open(w, m, parent, &keys, req.kind, req.wait, label.as_deref());
    let id = w.model.new_future(&keys, req.kind, pid, req.wait, label);
    (id, fut)
}

/// Polls future `id` and checks the outcome against the model: the guard, if it was granted.
fn poll_one<'a>(
    w: &mut World<'_>,
    id: u64,
    fut: Pin<&mut Acquire<'a, ManualTimer>>,
    fresh_waker: bool,
) -> Option<(u64, G<'a>)> {
    let f = w.model.futures.get_mut(&id).unwrap();
    if fresh_waker {
        f.waker = Arc::default();
    }
    f.seen = f.waker.count();
    let waker = Waker::from(f.waker.clone());
    let real = fut.poll(&mut Context::from_waker(&waker));
    match (w.model.poll(id), real) {
        (Outcome::Pending, Poll::Pending) => None,
        (Outcome::Granted(gid), Poll::Ready(Ok(guard))) => {
            w.check_guard(&guard, gid);
            Some((gid, guard))
        }
        (Outcome::Failed(e), Poll::Ready(Err(actual))) => {
            w.check_error(&actual, &e);
            None
        }
        (Outcome::Pending, real) => panic!("future {id}: expected Pending, got {real:?}"),
        (Outcome::Granted(_), real) => panic!("future {id}: expected a guard, got {real:?}"),
        (Outcome::Failed(e), real) => panic!("future {id}: expected {e:?}, got {real:?}"),
    }
}

/// A single try, from the manager or through `parent`, checked against the model.
fn try_one<'a>(
    w: &mut World<'_>,
    m: &'a Manager,
    pid: Option<u64>,
    parent: Option<&'a mut G<'_>>,
    req: &Request,
) -> Option<(u64, G<'a>)> {
    let keys = w.keys(&req.keys);
    let (real, label) = if req.via_future {
        let label = w.label(req.label);
        let fut = open(w, m, parent, &keys, req.kind, req.wait, label.as_deref());
        (fut.try_now(), label)
    } else {
        let names = keys
            .iter()
            .map(|k| k.map_or(UNKNOWN, |i| w.model.names[i].as_str()));
        let real = match (parent, req.kind) {
            // The shorthands, which must be the same as `acquire(..).try_now()`.
            (None, KeyKind::Name) => m.try_acquire(names),
            (Some(g), KeyKind::Name) => g.try_acquire(names),
            (parent, kind) => open(w, m, parent, &keys, kind, Wait::Default, None).try_now(),
        };
        (real, None)
    };
    let want = w
        .model
        .resolve(&keys, req.kind, pid.map(|p| &w.model.guards[&p]));
    match (w.model.try_now(want, pid, label), real) {
        (Outcome::Granted(gid), Ok(guard)) => {
            w.check_guard(&guard, gid);
            Some((gid, guard))
        }
        (Outcome::Failed(e), Err(actual)) => {
            w.check_error(&actual, &e);
            None
        }
        (Outcome::Pending, _) => unreachable!(),
        (Outcome::Granted(_), real) => panic!("try: expected a guard, got {real:?}"),
        (Outcome::Failed(e), real) => panic!("try: expected {e:?}, got {real:?}"),
    }
}

// === The pool: futures and guards taken from the manager ===

struct FutSlot<'m> {
    id: u64,
    fut: Pin<Box<Acquire<'m, ManualTimer>>>,
}

struct Pool<'m> {
    m: &'m Manager,
    futures: Vec<Option<FutSlot<'m>>>,
    guards: Vec<Option<(u64, G<'m>)>>,
}

impl<'m> Pool<'m> {
    fn new(m: &'m Manager) -> Self {
        Self {
            m,
            futures: (0..FUTURE_SLOTS).map(|_| None).collect(),
            guards: Vec::new(),
        }
    }

    fn store(&mut self, guard: (u64, G<'m>)) {
        match self.guards.iter_mut().find(|s| s.is_none()) {
            Some(free) => *free = Some(guard),
            None => self.guards.push(Some(guard)),
        }
    }

    /// Takes the guard in `slot` out of the pool.
    fn take_guard(&mut self, slot: u8) -> Option<(u64, G<'m>)> {
        if self.guards.is_empty() {
            return None;
        }
        let at = usize::from(slot) % self.guards.len();
        self.guards[at].take()
    }

    fn drop_future(&mut self, w: &mut World<'_>, slot: usize) {
        if let Some(s) = self.futures[slot].take() {
            drop(s.fut);
            w.model.drop_future(s.id);
        }
    }

    fn poll(&mut self, w: &mut World<'_>, slot: usize, fresh_waker: bool) {
        if let Some(s) = self.futures[slot].as_mut() {
            if let Some(guard) = poll_one(w, s.id, s.fut.as_mut(), fresh_waker) {
                self.store(guard);
            }
        }
    }

    /// Polls the futures woken since their last poll.
    fn poll_woken(&mut self, w: &mut World<'_>) {
        for slot in 0..FUTURE_SLOTS {
            let woken = self.futures[slot]
                .as_ref()
                .is_some_and(|s| w.model.futures[&s.id].woken());
            if woken {
                self.poll(w, slot, false);
            }
        }
    }

    fn apply(&mut self, w: &mut World<'_>, act: &Act) {
        match *act {
            Act::Acquire { slot, ref req } => {
                let slot = usize::from(slot) % FUTURE_SLOTS;
                self.drop_future(w, slot);
                w.check();
                let (id, fut) = begin(w, self.m, None, None, req);
                self.futures[slot] = Some(FutSlot {
                    id,
                    fut: Box::pin(fut),
                });
            }
            Act::Poll { slot, fresh_waker } => {
                self.poll(w, usize::from(slot) % FUTURE_SLOTS, fresh_waker)
            }
            Act::PollWoken { .. } => self.poll_woken(w),
            Act::DropFuture { slot } => self.drop_future(w, usize::from(slot) % FUTURE_SLOTS),
            Act::DropGuard { slot } => {
                if let Some((id, guard)) = self.take_guard(slot) {
                    drop(guard);
                    w.model.drop_guard(id);
                }
            }
            Act::Try { ref req } => {
                if let Some(guard) = try_one(w, self.m, None, None, req) {
                    self.store(guard);
                }
            }
            Act::Unwind => self.clear(w),
            Act::Inspect => {
                let _ = format!("{:?}", self.m);
                let status = self.m.status();
                let _ = format!("{status}{status:?}");
                for hold in self.m.long_held(Duration::ZERO) {
                    let _ = format!("{hold}{hold:?}");
                }
                for s in self.futures.iter().flatten() {
                    let _ = format!("{:?}", s.fut);
                }
                for (id, guard) in self.guards.iter().flatten() {
                    let _ = format!("{guard:?}");
                    w.check_guard(guard, *id);
                }
                w.check_long_held_edges();
            }
            Act::Advance { .. } | Act::Enter { .. } => unreachable!(),
        }
    }

    /// Drops every future, then every guard, checking after each.
    fn clear(&mut self, w: &mut World<'_>) {
        for slot in 0..FUTURE_SLOTS {
            self.drop_future(w, slot);
            w.check();
        }
        for (id, guard) in self.guards.drain(..).flatten() {
            drop(guard);
            w.model.drop_guard(id);
            w.check();
        }
    }
}

// === Tasks: stacks of nested guards ===
//
// A task is an `async` function that holds its stack in recursive frames: `level` waits for
// commands at one guard (or at the manager, for the root), and `hold` keeps a guard while the
// frame above it runs. The compiler checks every borrow; the harness polls a task once per
// command, with a no-op waker, and the task polls its own acquire future with the counting waker
// of the model.

enum Cmd<'m> {
    Acquire(Request),
    Poll {
        fresh_waker: bool,
    },
    DropFuture,
    /// Drop the future, then the top guard.
    Pop,
    Try(Request),
    /// A pool guard becomes the root of the (empty) stack.
    Enter(u64, G<'m>),
    Unwind,
    Inspect,
}

/// Why a frame returned: its guard is dropped, and for `Unwind` the one below it too.
#[derive(Clone, Copy, PartialEq)]
enum Exit {
    Pop,
    Unwind,
}

/// What a task shares with the harness.
#[derive(Default)]
struct TaskBox<'m> {
    mail: RefCell<Option<Cmd<'m>>>,
    /// Guards on the stack.
    depth: Cell<usize>,
    /// The model id of the future in flight at the top.
    future: Cell<Option<u64>>,
}

struct Shared<'m> {
    m: &'m Manager,
    world: RefCell<World<'m>>,
    tasks: Vec<TaskBox<'m>>,
}

type Task<'s> = Pin<Box<dyn Future<Output = ()> + 's>>;

async fn recv<'m>(sh: &Shared<'m>, t: usize) -> Cmd<'m> {
    poll_fn(|_| match sh.tasks[t].mail.take() {
        Some(cmd) => Poll::Ready(cmd),
        None => Poll::Pending,
    })
    .await
}

enum Next<'a, 'm> {
    Idle,
    Then(Cmd<'m>),
    Granted(u64, G<'a>),
}

/// Keeps an in-flight future at the top of task `t` until it is granted, dropped or replaced.
async fn drive<'a, 'm>(
    sh: &Shared<'m>,
    t: usize,
    id: u64,
    fut: Acquire<'a, ManualTimer>,
) -> Next<'a, 'm> {
    let mut fut = Box::pin(fut);
    sh.tasks[t].future.set(Some(id));
    let next = loop {
        match recv(sh, t).await {
            Cmd::Poll { fresh_waker } => {
                let mut w = sh.world.borrow_mut();
                if let Some((gid, guard)) = poll_one(&mut w, id, fut.as_mut(), fresh_waker) {
                    break Next::Granted(gid, guard);
                }
            }
            Cmd::Inspect => {
                let _ = format!("{fut:?}");
            }
            Cmd::DropFuture => break Next::Idle,
            Cmd::Enter(..) => unreachable!("a task in flight takes no root"),
            cmd => break Next::Then(cmd),
        }
    };
    drop(fut);
    sh.tasks[t].future.set(None);
    let mut w = sh.world.borrow_mut();
    w.model.drop_future(id);
    w.check();
    next
}

/// Keeps guard `g` on the stack of task `t` while the frame above it runs.
async fn hold<'m>(sh: &Shared<'m>, t: usize, id: u64, mut g: G<'_>) -> Exit {
    let task = &sh.tasks[t];
    task.depth.set(task.depth.get() + 1);
    let exit = Box::pin(level(sh, t, Some((id, &mut g)))).await;
    drop(g);
    task.depth.set(task.depth.get() - 1);
    let mut w = sh.world.borrow_mut();
    w.model.drop_guard(id);
    w.check();
    exit
}

/// One frame of task `t`: commands at its top guard (`None`: at the manager, the root frame,
/// which never returns).
async fn level<'m>(sh: &Shared<'m>, t: usize, mut top: Option<(u64, &mut G<'_>)>) -> Exit {
    let mut next = None;
    loop {
        let cmd = match next.take() {
            Some(cmd) => cmd,
            None => recv(sh, t).await,
        };
        let pid = top.as_ref().map(|p| p.0);
        let full = sh.tasks[t].depth.get() >= MAX_DEPTH;
        let exit = match cmd {
            Cmd::Acquire(_) | Cmd::Try(_) if full => None,
            Cmd::Acquire(req) => {
                let (id, fut) = {
                    let mut w = sh.world.borrow_mut();
                    begin(&mut w, sh.m, pid, top.as_mut().map(|p| &mut *p.1), &req)
                };
                match drive(sh, t, id, fut).await {
                    Next::Idle => None,
                    Next::Then(cmd) => {
                        next = Some(cmd);
                        None
                    }
                    Next::Granted(gid, guard) => Some(hold(sh, t, gid, guard).await),
                }
            }
            Cmd::Try(req) => {
                let granted = {
                    let mut w = sh.world.borrow_mut();
                    try_one(&mut w, sh.m, pid, top.as_mut().map(|p| &mut *p.1), &req)
                };
                match granted {
                    Some((gid, guard)) => {
                        sh.world.borrow().check();
                        Some(hold(sh, t, gid, guard).await)
                    }
                    None => None,
                }
            }
            Cmd::Enter(gid, guard) => {
                assert!(top.is_none(), "a root moves into an empty task only");
                Some(hold(sh, t, gid, guard).await)
            }
            Cmd::Pop if top.is_some() => return Exit::Pop,
            Cmd::Unwind if top.is_some() => return Exit::Unwind,
            Cmd::Pop | Cmd::Unwind | Cmd::Poll { .. } | Cmd::DropFuture => None,
            Cmd::Inspect => {
                if let Some((id, g)) = &top {
                    let _ = format!("{g:?}");
                    sh.world.borrow().check_guard(g, *id);
                }
                None
            }
        };
        if exit == Some(Exit::Unwind) && top.is_some() {
            return Exit::Unwind;
        }
    }
}

/// Hands `cmd` to task `t` and runs it until it waits for the next command.
fn send<'m>(sh: &Shared<'m>, tasks: &mut [Task<'_>], t: usize, cmd: Cmd<'m>) {
    let task = &sh.tasks[t];
    assert!(task.mail.replace(Some(cmd)).is_none());
    let polled = tasks[t]
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    assert!(polled.is_pending(), "a task never ends");
    assert!(task.mail.take().is_none(), "task {t} left its command");
}

/// Polls the in-flight future of task `t` if it was woken.
fn poll_task_if_woken(sh: &Shared<'_>, tasks: &mut [Task<'_>], t: usize) {
    let woken = sh.tasks[t]
        .future
        .get()
        .is_some_and(|id| sh.world.borrow().model.futures[&id].woken());
    if woken {
        send(sh, tasks, t, Cmd::Poll { fresh_waker: false });
    }
}

// === Running ===

fn run<'m>(sh: &Shared<'m>, pool: &mut Pool<'m>, tasks: &mut [Task<'_>], ops: &[Op]) {
    for op in ops {
        match (op.target, &op.act) {
            (_, Act::Advance { millis }) => sh.world.borrow_mut().advance(*millis),
            (_, Act::PollWoken { everywhere: true }) => {
                pool.poll_woken(&mut sh.world.borrow_mut());
                for t in 0..TASKS {
                    poll_task_if_woken(sh, tasks, t);
                }
            }
            (Target::Pool, Act::Enter { .. }) => {}
            (Target::Pool, act) => pool.apply(&mut sh.world.borrow_mut(), act),
            (Target::Task(t), Act::PollWoken { .. }) => poll_task_if_woken(sh, tasks, t),
            (Target::Task(t), Act::Enter { slot }) => {
                let task = &sh.tasks[t];
                if task.depth.get() == 0 && task.future.get().is_none() {
                    if let Some((id, guard)) = pool.take_guard(*slot) {
                        send(sh, tasks, t, Cmd::Enter(id, guard));
                    }
                }
            }
            (Target::Task(t), act) => {
                let cmd = match act {
                    Act::Acquire { req, .. } => Cmd::Acquire(req.clone()),
                    &Act::Poll { fresh_waker, .. } => Cmd::Poll { fresh_waker },
                    Act::DropFuture { .. } => Cmd::DropFuture,
                    Act::DropGuard { .. } => Cmd::Pop,
                    Act::Try { req } => Cmd::Try(req.clone()),
                    Act::Unwind => Cmd::Unwind,
                    Act::Inspect => Cmd::Inspect,
                    Act::Advance { .. } | Act::PollWoken { .. } | Act::Enter { .. } => {
                        unreachable!()
                    }
                };
                send(sh, tasks, t, cmd);
                if matches!(act, Act::Inspect) {
                    sh.world.borrow().check_long_held_edges();
                }
            }
        }
        sh.world.borrow().check();
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
    let world = World {
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
            futures: HashMap::new(),
            guards: HashMap::new(),
        },
        ascending,
        holder_ids: RefCell::default(),
        labels: 0,
    };
    let sh = Shared {
        m: &m,
        world: RefCell::new(world),
        tasks: (0..TASKS).map(|_| TaskBox::default()).collect(),
    };
    let mut pool = Pool::new(&m);
    let sh = &sh;
    let mut tasks: Vec<Task<'_>> = (0..TASKS)
        .map(|t| -> Task<'_> {
            Box::pin(async move {
                level(sh, t, None).await;
                unreachable!("the root frame never returns");
            })
        })
        .collect();
    run(sh, &mut pool, &mut tasks, &ops);
    for t in 0..TASKS {
        send(sh, &mut tasks, t, Cmd::Unwind);
        assert_eq!(sh.tasks[t].depth.get(), 0);
        assert_eq!(sh.tasks[t].future.get(), None);
    }
    let mut w = sh.world.borrow_mut();
    pool.clear(&mut w);
    w.check();
    assert!(w.model.futures.is_empty() && w.model.guards.is_empty());
    assert!(w.model.holder.iter().all(Option::is_none));
    assert_eq!(w.timer.parked(), 0, "a sleep outlived its future");
});
