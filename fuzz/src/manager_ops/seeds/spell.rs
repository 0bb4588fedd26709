//! Words to write seeds with: a request and its options, and one function per operation.

use crate::manager_ops::input::{Act, KeyKind, LabelKind, NewWaker, Op, Request, Target, Wait};

/// A manager of `orders.len()` (1-10) locks with orders `b * 1000`, no default timeout.
pub(super) fn small(orders: &[u8]) -> Vec<u8> {
    let mut h = vec![orders.len() as u8 - 1, 0, 0];
    h.extend(orders);
    h
}

/// As [`small`], with a default timeout of `ms` milliseconds.
pub(super) fn small_with_timeout(ms: u8, orders: &[u8]) -> Vec<u8> {
    let mut h = small(orders);
    h[1..3].copy_from_slice(&[4, ms]);
    h
}

pub(super) const P: Target = Target::Pool;
pub(super) const T0: Target = Target::Task(0);
pub(super) const T1: Target = Target::Task(1);

/// A request for these keys, by name, with the manager's default timeout and no label.
pub(super) fn r(keys: &[u8]) -> Request {
    Request {
        keys: keys.to_vec(),
        shared: 0,
        kind: KeyKind::Name,
        wait: Wait::Default,
        label: None,
        via_future: false,
        owned: false,
    }
}

impl Request {
    pub(super) fn forever(self) -> Self {
        Self {
            wait: Wait::Forever,
            ..self
        }
    }
    pub(super) fn zero(self) -> Self {
        Self {
            wait: Wait::Zero,
            ..self
        }
    }
    pub(super) fn millis(self, ms: u8) -> Self {
        Self {
            wait: Wait::Millis(ms),
            ..self
        }
    }
    pub(super) fn label(self) -> Self {
        Self {
            label: Some(LabelKind::Short),
            ..self
        }
    }
    pub(super) fn long_label(self) -> Self {
        Self {
            label: Some(LabelKind::Long),
            ..self
        }
    }
    pub(super) fn via(self) -> Self {
        Self {
            via_future: true,
            ..self
        }
    }
    /// Every key shared.
    pub(super) fn shared(self) -> Self {
        Self {
            shared: (1 << self.keys.len()) - 1,
            ..self
        }
    }
    /// Key `k` (also) shared.
    pub(super) fn shared_key(self, k: usize) -> Self {
        Self {
            shared: self.shared | 1 << k,
            ..self
        }
    }
    /// At the manager: through the `Arc`, for an owned future or guard.
    pub(super) fn owned(self) -> Self {
        Self {
            owned: true,
            ..self
        }
    }
    pub(super) fn strings(self) -> Self {
        Self {
            kind: KeyKind::Owned,
            ..self
        }
    }
    pub(super) fn ids(self) -> Self {
        Self {
            kind: KeyKind::Id,
            ..self
        }
    }
}

pub(super) fn op(target: Target, act: Act) -> Op {
    Op { target, act }
}
/// An acquire: into pool slot 0, or at the top of a task.
pub(super) fn acquire(at: Target, req: Request) -> Op {
    op(at, Act::Acquire { slot: 0, req })
}
pub(super) fn acquire_in(slot: u8, req: Request) -> Op {
    op(P, Act::Acquire { slot, req })
}
/// Poll pool slot 0, or a task's future.
pub(super) fn poll(at: Target) -> Op {
    op(
        at,
        Act::Poll {
            slot: 0,
            waker: NewWaker::Same,
        },
    )
}
pub(super) fn poll_in(slot: u8) -> Op {
    op(
        P,
        Act::Poll {
            slot,
            waker: NewWaker::Same,
        },
    )
}
pub(super) fn poll_fresh(slot: u8) -> Op {
    op(
        P,
        Act::Poll {
            slot: slot | 0x80,
            waker: NewWaker::Fresh,
        },
    )
}
/// Poll pool slot `slot` with a new waker that panics when woken.
pub(super) fn poll_panicking_in_wake(slot: u8) -> Op {
    op(
        P,
        Act::Poll {
            slot: slot | 0xa0,
            waker: NewWaker::PanicsInWake,
        },
    )
}
/// Poll pool slot `slot` with a new waker that panics when cloned.
pub(super) fn poll_panicking_in_clone(slot: u8) -> Op {
    op(
        P,
        Act::Poll {
            slot: slot | 0xc0,
            waker: NewWaker::PanicsInClone,
        },
    )
}
pub(super) fn woken(at: Target) -> Op {
    op(at, Act::PollWoken { everywhere: false })
}
pub(super) fn woken_everywhere() -> Op {
    op(P, Act::PollWoken { everywhere: true })
}
pub(super) fn drop_future(at: Target) -> Op {
    op(at, Act::DropFuture { slot: 0 })
}
/// Drop pool guard 0, or a task's top guard.
pub(super) fn drop_guard(at: Target) -> Op {
    op(at, Act::DropGuard { slot: 0 })
}
pub(super) fn drop_guard_in(slot: u8) -> Op {
    op(P, Act::DropGuard { slot })
}
pub(super) fn try_(at: Target, req: Request) -> Op {
    op(
        at,
        Act::Try {
            req,
            blocking: false,
        },
    )
}
/// A blocking `wait()`, run if it cannot block.
pub(super) fn wait(at: Target, req: Request) -> Op {
    op(
        at,
        Act::Try {
            req,
            blocking: true,
        },
    )
}
pub(super) fn advance(millis: u8) -> Op {
    op(P, Act::Advance { millis })
}
/// Task `at` takes pool guard `slot` as its root.
pub(super) fn enter(at: Target, slot: u8) -> Op {
    op(at, Act::Enter { slot })
}
pub(super) fn unwind(at: Target) -> Op {
    op(at, Act::Unwind)
}
pub(super) fn inspect(at: Target) -> Op {
    op(at, Act::Inspect)
}

/// The passed-over scene, then `then`: the pool holds `lock`, and pool slots 0, 1, ... ask for
/// it with `waiters` (each acquire polled once, in turn: a queue); the pool lets go, which wakes
/// slot 0, and takes `lock` again before slot 0 runs; slot 0, polled, is passed over and
/// reserves it.
pub(super) fn passed_over(
    lock: u8,
    waiters: impl IntoIterator<Item = Request>,
    then: impl IntoIterator<Item = Op>,
) -> Vec<Op> {
    let mut ops = vec![try_(P, r(&[lock]))];
    for (slot, req) in (0..).zip(waiters) {
        ops.extend([acquire_in(slot, req), poll_in(slot)]);
    }
    ops.extend([drop_guard(P), try_(P, r(&[lock])), poll_in(0)]);
    ops.extend(then);
    ops
}
