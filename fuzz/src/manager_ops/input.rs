//! The input of `manager_ops`: a small byte format, so that seeds can be written by hand and
//! mutations stay meaningful. Missing bytes read as zero.
//!
//! ```text
//! header: LOCKS DEFAULT_WAIT DEFAULT_MILLIS ORDER*LOCKS
//!   LOCKS % 10 + 1 locks named `lock0`.., ORDER byte b gives order b * 1000 (255: u32::MAX),
//!   a taken order is bumped by one; DEFAULT_WAIT is a wait code (below) for default_timeout.
//!   LOCKS >= 0xf0 instead gives a large manager of 120 + LOCKS % 16 locks (lock sets then
//!   spill out of their inline words), with no ORDER bytes: lock i has order (n - i) * 10.
//! then ops, each OP [args], OP = TARGET << 4 | code, code % 10. TARGET % 4 picks what the op
//! acts on: 0 the pool, 1-3 task 0-2; TARGET bit 2 (OP bit 6), for an acquire or a try made at
//! the manager (the pool's, or a task's root): through the `Arc`, for an owned future or guard.
//!   0 acquire  SLOT FLAGS MILLIS COUNT KEY*COUNT
//!              pool: a new future from the manager in SLOT (dropping the one there);
//!              task: a new future at the top of its stack, through its top guard (from the
//!              manager if it has none), dropping the one in flight; SLOT is not used
//!   1 poll     SLOT (bit 7: with a fresh waker; with bit 7, bit 5: one that panics when woken,
//!              else bit 6: one that panics when cloned); a task polls its future
//!   2 poll woken futures: of the pool, of the task; TARGET bit 3: of the pool and every task
//!   3 drop future SLOT (a task drops its future; SLOT is not used)
//!   4 drop guard  SLOT (a task drops its future, if any, then its top guard; SLOT not used)
//!   5 try      FLAGS MILLIS COUNT KEY*COUNT (a task: at its top, dropping its future first);
//!              TARGET bit 3 (OP bit 7): a blocking `wait()` with the request's options
//!              instead, run only if it cannot block (it takes free locks, fails on a refused
//!              request, or times out at once with a zero timeout); else nothing happens
//!   6 advance  MILLIS (TARGET is not used)
//!   7 enter    SLOT: a task with nothing takes the pool's guard in SLOT as its root (the pool:
//!              nothing)
//!   8 unwind   the pool drops every future and guard; a task drops its future and its guards,
//!              innermost first
//!   9 inspect  format everything (`Debug`, `Display`, status tables, long holds) and re-check
//!              every guard that can be read (a task's top guard)
//! FLAGS: bits 0-1 key kind (0 name, 1 String, 2 LockId, 3 name), bits 2-4 wait code
//!   (0 default, 1 no_timeout, 2 zero, 3 max, else MILLIS), bit 5 owner label, bit 6 (try) via
//!   `acquire(..).try_now()` (an acquire: an all-shared request spelled
//!   `acquire([]).shared(..)` rather than `acquire_shared(..)`), bit 7 (with bit 5) the long
//!   label (which status cuts) instead of the short one. COUNT: bits 0-2 % 6 keys, bit 3 + k:
//!   key k is asked for shared (`.shared(..)`, `acquire_shared`, `try_acquire_shared`); KEY 255
//!   is a key of no lock here, else KEY % LOCKS.
//! ```

use std::time::Duration;

use crate::bytes::{arbitrary_via_decode, Bytes};

const MAX_LOCKS: usize = 10;
/// A large manager has more locks than a lock set holds inline (128).
const LARGE_LOCKS: usize = 120;

/// A decoded input: the manager to build and what to do with it.
#[derive(Debug)]
pub struct Input {
    pub(crate) orders: Vec<u32>,
    pub(crate) default_timeout: Option<Duration>,
    pub(crate) ops: Vec<Op>,
}

/// The waker a poll uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum NewWaker {
    /// The future's waker of its last poll.
    Same,
    /// A new counting waker.
    Fresh,
    /// A new counting waker that panics when woken (after counting the wake-up).
    PanicsInWake,
    /// A new counting waker that panics when cloned.
    PanicsInClone,
}

impl NewWaker {
    /// SLOT bit 7: a fresh waker; with it, bit 5 (else bit 6) a waker that panics when woken
    /// (when cloned).
    pub(crate) fn of_slot(slot: u8) -> Self {
        match (slot & 0x80 != 0, slot & 0x20 != 0, slot & 0x40 != 0) {
            (false, _, _) => Self::Same,
            (true, true, _) => Self::PanicsInWake,
            (true, false, true) => Self::PanicsInClone,
            (true, false, false) => Self::Fresh,
        }
    }
}

/// Which timeout an acquire asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Wait {
    /// The manager's default.
    Default,
    /// `no_timeout()`.
    Forever,
    Zero,
    Millis(u8),
    Max,
}

/// How keys are spelled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum KeyKind {
    Name,
    Owned,
    Id,
}

/// Which owner label a request gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LabelKind {
    Short,
    Long,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub(crate) keys: Vec<u8>,
    /// Bit k: key k is asked for shared.
    pub(crate) shared: u8,
    pub(crate) kind: KeyKind,
    pub(crate) wait: Wait,
    pub(crate) label: Option<LabelKind>,
    /// A try through `acquire(..)` with its options then `try_now()`, not the shorthand.
    pub(crate) via_future: bool,
    /// Made at the manager through its `Arc`: `acquire_owned`, `try_acquire_owned` (a nested
    /// request ignores it).
    pub(crate) owned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Target {
    Pool,
    Task(usize),
}

#[derive(Debug, PartialEq)]
pub(crate) struct Op {
    pub(crate) target: Target,
    pub(crate) act: Act,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Act {
    /// A new acquire future (see the format).
    Acquire {
        slot: u8,
        req: Request,
    },
    /// Poll a future, optionally with a new waker.
    Poll {
        slot: u8,
        waker: NewWaker,
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
    /// `try_acquire`, or `acquire(..)` with options then `try_now()`; `blocking`: `wait()`
    /// instead, if it cannot block.
    Try {
        req: Request,
        blocking: bool,
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

// === Decoding ===

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
fn request(b: &mut Bytes<'_>) -> Request {
    let flags = b.byte();
    let millis = b.byte();
    let count = b.byte();
    let keys = (0..(count & 7) % 6).map(|_| b.byte()).collect();
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
        shared: count >> 3,
        kind,
        wait: wait(flags >> 2 & 7, millis),
        label,
        via_future: flags & 0x40 != 0,
        owned: false,
    }
}

arbitrary_via_decode!(Input);

impl Input {
    /// Decodes any bytes.
    pub fn decode(bytes: &[u8]) -> Self {
        let mut b = Bytes(bytes);
        let locks = b.byte();
        let default_timeout = match wait(b.byte(), b.byte()) {
            Wait::Default | Wait::Forever => None,
            Wait::Zero => Some(Duration::ZERO),
            Wait::Millis(ms) => Some(Duration::from_millis(ms.into())),
            Wait::Max => Some(Duration::MAX),
        };
        let orders = if locks >= 0xf0 {
            let n = LARGE_LOCKS + usize::from(locks % 16);
            (0..n).map(|i| (n - i) as u32 * 10).collect()
        } else {
            let n = usize::from(locks) % MAX_LOCKS + 1;
            let mut orders: Vec<u32> = Vec::with_capacity(n);
            for _ in 0..n {
                let mut order = match b.byte() {
                    255 => u32::MAX,
                    o => u32::from(o) * 1000,
                };
                while orders.contains(&order) {
                    order = order.wrapping_add(1);
                }
                orders.push(order);
            }
            orders
        };
        Input {
            orders,
            default_timeout,
            ops: ops(b),
        }
    }
}

fn ops(mut b: Bytes<'_>) -> Vec<Op> {
    let mut ops = Vec::new();
    while !b.is_empty() {
        let op = b.byte();
        let target = match op >> 4 & 3 {
            0 => Target::Pool,
            t => Target::Task(usize::from(t) - 1),
        };
        let owned = |mut req: Request| {
            req.owned = op & 0x40 != 0;
            req
        };
        let act = match (op & 15) % 10 {
            0 => Act::Acquire {
                slot: b.byte(),
                req: owned(request(&mut b)),
            },
            1 => {
                let slot = b.byte();
                Act::Poll {
                    slot,
                    waker: NewWaker::of_slot(slot),
                }
            }
            2 => Act::PollWoken {
                everywhere: op & 0x80 != 0,
            },
            3 => Act::DropFuture { slot: b.byte() },
            4 => Act::DropGuard { slot: b.byte() },
            5 => Act::Try {
                req: owned(request(&mut b)),
                blocking: op & 0x80 != 0,
            },
            6 => Act::Advance { millis: b.byte() },
            7 => Act::Enter { slot: b.byte() },
            8 => Act::Unwind,
            _ => Act::Inspect,
        };
        ops.push(Op { target, act });
    }
    ops
}

// === Encoding: the inverse, for the seed book ===

impl Request {
    fn encode(&self, out: &mut Vec<u8>) {
        let kind = match self.kind {
            KeyKind::Name => 0,
            KeyKind::Owned => 1,
            KeyKind::Id => 2,
        };
        let (code, millis) = match self.wait {
            Wait::Default => (0, 0),
            Wait::Forever => (1, 0),
            Wait::Zero => (2, 0),
            Wait::Max => (3, 0),
            Wait::Millis(ms) => (4, ms),
        };
        let label = match self.label {
            None => 0,
            Some(LabelKind::Short) => 0x20,
            Some(LabelKind::Long) => 0xa0,
        };
        let via = if self.via_future { 0x40 } else { 0 };
        assert!(self.keys.len() < 6, "at most 5 keys");
        assert!(
            self.shared < 1 << self.keys.len(),
            "a shared bit for each key at most"
        );
        let count = self.keys.len() as u8 | self.shared << 3;
        out.extend([kind | code << 2 | label | via, millis, count]);
        out.extend(&self.keys);
    }
}

impl Op {
    /// The bytes that decode to this op.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let target = match self.target {
            Target::Pool => 0,
            Target::Task(t) => t as u8 + 1,
        };
        let op = |code: u8| target << 4 | code;
        let owned = |req: &Request| if req.owned { 0x40 } else { 0 };
        match &self.act {
            Act::Acquire { slot, req } => {
                out.extend([op(0) | owned(req), *slot]);
                req.encode(out);
            }
            Act::Poll { slot, waker } => {
                assert_eq!(
                    *waker,
                    NewWaker::of_slot(*slot),
                    "a fresh waker is bit 7 of SLOT, a hostile one bits 5-6 besides"
                );
                out.extend([op(1), *slot]);
            }
            Act::PollWoken { everywhere } => out.push(op(2) | if *everywhere { 0x80 } else { 0 }),
            Act::DropFuture { slot } => out.extend([op(3), *slot]),
            Act::DropGuard { slot } => out.extend([op(4), *slot]),
            Act::Try { req, blocking } => {
                out.push(op(5) | owned(req) | if *blocking { 0x80 } else { 0 });
                req.encode(out);
            }
            Act::Advance { millis } => out.extend([op(6), *millis]),
            Act::Enter { slot } => out.extend([op(7), *slot]),
            Act::Unwind => out.push(op(8)),
            Act::Inspect => out.push(op(9)),
        }
    }
}
