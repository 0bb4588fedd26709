//! The real futures and guards, borrowed (`Acquire`, `Guard`) or owned (`AcquireOwned`,
//! `OwnedGuard`), behind one face, so that the pool and the tasks hold either kind.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lockorder::futures::{Acquire, AcquireOwned};
use lockorder::{Error, Key, ManualTimer, OwnedGuard, Owner};

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
    pub(crate) fn acquire<K: Key>(self, keys: Vec<K>) -> Fresh<'a> {
        match self {
            Source::Manager { m, owned: false } => Fresh::Borrowed(m.acquire(keys)),
            Source::Manager { m, owned: true } => Fresh::Owned(m.acquire_owned(keys)),
            Source::Guard(AnyGuard::Borrowed(g)) => Fresh::Borrowed(g.acquire(keys)),
            Source::Guard(AnyGuard::Owned(g)) => Fresh::Borrowed(g.acquire(keys)),
        }
    }

    /// The shorthand for `acquire(keys).try_now()`.
    pub(crate) fn try_acquire<'k>(
        self,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<AnyGuard<'a>, Error> {
        match self {
            Source::Manager { m, owned: false } => m.try_acquire(keys).map(AnyGuard::Borrowed),
            Source::Manager { m, owned: true } => m.try_acquire_owned(keys).map(AnyGuard::Owned),
            Source::Guard(AnyGuard::Borrowed(g)) => g.try_acquire(keys).map(AnyGuard::Borrowed),
            Source::Guard(AnyGuard::Owned(g)) => g.try_acquire(keys).map(AnyGuard::Borrowed),
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
