//! The real futures and guards, borrowed (`Acquire`, `Guard`) or owned (`AcquireOwned`,
//! `OwnedGuard`), behind one face, so that the pool and the tasks hold either kind.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lockorder::futures::{Acquire, AcquireOwned};
use lockorder::{Error, Key, ManualTimer, Mode, OwnedGuard, Owner};

use super::input::Wait;
use super::{Manager, G};

pub(crate) type Og = OwnedGuard<ManualTimer>;

/// Where a request is made: at the manager (as `acquire` or, if `owned`, `acquire_owned`), or
/// through a guard (nested).
pub(crate) enum Source<'a, 'g> {
    Manager { m: &'a Arc<Manager>, owned: bool },
    Guard(&'a mut AnyGuard<'g>),
}

impl<'a> Source<'a, '_> {
    /// A request for `exclusive` and `shared` keys. An all-shared one is `acquire_shared`
    /// unless `as_option` (or owned, which has no such shorthand): then `acquire([]).shared(..)`.
    pub(crate) fn acquire<K: Key>(
        self,
        exclusive: Vec<K>,
        shared: Vec<K>,
        as_option: bool,
    ) -> Fresh<'a> {
        let shorthand = exclusive.is_empty() && !shared.is_empty() && !as_option;
        macro_rules! borrowed {
            ($g:expr) => {
                match (shared.is_empty(), shorthand) {
                    (true, _) => $g.acquire(exclusive),
                    (false, true) => $g.acquire_shared(shared),
                    (false, false) => $g.acquire(exclusive).shared(shared),
                }
            };
        }
        match self {
            Source::Manager { m, owned: false } => Fresh::Borrowed(borrowed!(m)),
            Source::Manager { m, owned: true } => match shared.is_empty() {
                true => Fresh::Owned(m.acquire_owned(exclusive)),
                false => Fresh::Owned(m.acquire_owned(exclusive).shared(shared)),
            },
            Source::Guard(AnyGuard::Borrowed(g)) => Fresh::Borrowed(borrowed!(g)),
            Source::Guard(AnyGuard::Owned(g)) => Fresh::Borrowed(borrowed!(g)),
        }
    }

    /// Whether a single try of these keys has a shorthand (`try_acquire`, `try_acquire_owned`,
    /// `try_acquire_shared`): not for a mix of modes, nor for an owned all-shared one.
    pub(crate) fn has_try_shorthand(&self, exclusive: usize, shared: usize) -> bool {
        match (exclusive, shared) {
            (_, 0) => true,
            (0, _) => !matches!(self, Source::Manager { owned: true, .. }),
            _ => false,
        }
    }

    /// The shorthand for `acquire(..).try_now()` (see [`has_try_shorthand`](Self::has_try_shorthand)).
    pub(crate) fn try_acquire(
        self,
        exclusive: Vec<&str>,
        shared: Vec<&str>,
    ) -> Result<AnyGuard<'a>, Error> {
        let all_shared = !shared.is_empty();
        assert!(
            exclusive.is_empty() || !all_shared,
            "no shorthand for a mix of modes"
        );
        match (self, all_shared) {
            (Source::Manager { m, owned: false }, false) => {
                m.try_acquire(exclusive).map(AnyGuard::Borrowed)
            }
            (Source::Manager { m, owned: false }, true) => {
                m.try_acquire_shared(shared).map(AnyGuard::Borrowed)
            }
            (Source::Manager { m, owned: true }, false) => {
                m.try_acquire_owned(exclusive).map(AnyGuard::Owned)
            }
            (Source::Manager { owned: true, .. }, true) => {
                unreachable!("no owned shared shorthand")
            }
            (Source::Guard(AnyGuard::Borrowed(g)), false) => {
                g.try_acquire(exclusive).map(AnyGuard::Borrowed)
            }
            (Source::Guard(AnyGuard::Borrowed(g)), true) => {
                g.try_acquire_shared(shared).map(AnyGuard::Borrowed)
            }
            (Source::Guard(AnyGuard::Owned(g)), false) => {
                g.try_acquire(exclusive).map(AnyGuard::Borrowed)
            }
            (Source::Guard(AnyGuard::Owned(g)), true) => {
                g.try_acquire_shared(shared).map(AnyGuard::Borrowed)
            }
        }
    }
}

/// A future not yet polled, whose options can still be set.
pub(crate) enum Fresh<'a> {
    Borrowed(Acquire<'a, ManualTimer>),
    Owned(AcquireOwned<ManualTimer>),
}

macro_rules! each {
    ($value:expr, $f:ident => $body:expr) => {
        match $value {
            Fresh::Borrowed($f) => Fresh::Borrowed($body),
            Fresh::Owned($f) => Fresh::Owned($body),
        }
    };
}

impl<'a> Fresh<'a> {
    /// Sets the timeout and the owner label.
    pub(crate) fn with(self, wait: Wait, label: Option<&str>) -> Self {
        let fut = match wait {
            Wait::Default => self,
            Wait::Forever => each!(self, f => f.no_timeout()),
            Wait::Zero => each!(self, f => f.timeout(Duration::ZERO)),
            Wait::Millis(ms) => each!(self, f => f.timeout(Duration::from_millis(ms.into()))),
            Wait::Max => each!(self, f => f.timeout(Duration::MAX)),
        };
        match label {
            Some(label) => each!(fut, f => f.owner(label)),
            None => fut,
        }
    }

    pub(crate) fn try_now(self) -> Result<AnyGuard<'a>, Error> {
        match self {
            Fresh::Borrowed(f) => f.try_now().map(AnyGuard::Borrowed),
            Fresh::Owned(f) => f.try_now().map(AnyGuard::Owned),
        }
    }

    /// Blocks the thread until done (`wait()`).
    pub(crate) fn wait(self) -> Result<AnyGuard<'a>, Error> {
        match self {
            Fresh::Borrowed(f) => f.wait().map(AnyGuard::Borrowed),
            Fresh::Owned(f) => f.wait().map(AnyGuard::Owned),
        }
    }

    pub(crate) fn pin(self) -> AnyFuture<'a> {
        match self {
            Fresh::Borrowed(f) => AnyFuture::Borrowed(Box::pin(f)),
            Fresh::Owned(f) => AnyFuture::Owned(Box::pin(f)),
        }
    }
}

/// A future being polled.
pub(crate) enum AnyFuture<'a> {
    Borrowed(Pin<Box<Acquire<'a, ManualTimer>>>),
    Owned(Pin<Box<AcquireOwned<ManualTimer>>>),
}

impl<'a> AnyFuture<'a> {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<AnyGuard<'a>, Error>> {
        match self {
            AnyFuture::Borrowed(f) => f.as_mut().poll(cx).map_ok(AnyGuard::Borrowed),
            AnyFuture::Owned(f) => f.as_mut().poll(cx).map_ok(AnyGuard::Owned),
        }
    }
}

impl fmt::Debug for AnyFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyFuture::Borrowed(fut) => fut.fmt(f),
            AnyFuture::Owned(fut) => fut.fmt(f),
        }
    }
}

/// A guard of either kind.
pub(crate) enum AnyGuard<'a> {
    Borrowed(G<'a>),
    Owned(Og),
}

impl AnyGuard<'_> {
    pub(crate) fn holds<K: Key>(&self, key: K) -> bool {
        match self {
            AnyGuard::Borrowed(g) => g.holds(key),
            AnyGuard::Owned(g) => g.holds(key),
        }
    }

    /// The names of the locks it covers, as it lists them.
    pub(crate) fn locks(&self) -> Vec<(&str, u32)> {
        match self {
            AnyGuard::Borrowed(g) => g.locks().map(|l| (l.name(), l.order())).collect(),
            AnyGuard::Owned(g) => g.locks().map(|l| (l.name(), l.order())).collect(),
        }
    }

    /// The names of the locks it took itself (an owned guard is never nested: all of them).
    pub(crate) fn own_locks(&self) -> Vec<&str> {
        match self {
            AnyGuard::Borrowed(g) => g.own_locks().map(|l| l.name()).collect(),
            AnyGuard::Owned(g) => g.locks().map(|l| l.name()).collect(),
        }
    }

    pub(crate) fn mode<K: Key>(&self, key: K) -> Option<Mode> {
        match self {
            AnyGuard::Borrowed(g) => g.mode(key),
            AnyGuard::Owned(g) => g.mode(key),
        }
    }

    pub(crate) fn owner(&self) -> Option<&str> {
        match self {
            AnyGuard::Borrowed(g) => g.owner(),
            AnyGuard::Owned(g) => g.owner(),
        }
    }

    pub(crate) fn holder(&self) -> Option<Owner> {
        match self {
            AnyGuard::Borrowed(g) => g.holder(),
            AnyGuard::Owned(g) => g.holder(),
        }
    }

    /// The manager it says it belongs to.
    pub(crate) fn manager(&self) -> *const Manager {
        match self {
            AnyGuard::Borrowed(g) => g.manager(),
            AnyGuard::Owned(g) => Arc::as_ptr(g.manager()),
        }
    }
}

impl fmt::Debug for AnyGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyGuard::Borrowed(g) => g.fmt(f),
            AnyGuard::Owned(g) => g.fmt(f),
        }
    }
}
