//! The process-wide manager: registered on first use, then shared.
//!
//! The first caller runs the registration and freezes the manager; concurrent first callers (on
//! other threads, or tasks on other executors) wait for it — blocking their thread while the
//! short, synchronous registration runs — and all receive the same, fully registered manager. A
//! registration that returns an error leaves nothing behind, and the next call tries again; with
//! `std`, so does a registration that panics. Later calls never run the registration.
//!
//! With `std` this is `async_lock::OnceCell`; without it, `spin::Once` (waiters spin, and a
//! registration that panics poisons the global — on most embedded targets a panic aborts anyway).
//! Under `--cfg loom`, whose `OnceCell` cannot be built in a `static`, it is `spin::Once` too.

use core::fmt;

use crate::error::Error;
use crate::manager::LockManager;
use crate::registry::Builder;
use crate::timer::{MaybeTimer, NoTimer};

/// A manager in a `static`, initialized on first use. Use it for a process-wide manager with a
/// timer of your choice; [`get_or_try_init`] is the ready-made one without a timer.
///
/// ```
/// use core::time::Duration;
/// use lockorder::{global::Global, LockManager, ManualTimer};
///
/// static LOCKS: Global<ManualTimer> = Global::new();
///
/// let m = LOCKS.get_or_try_init(|| {
///     let mut b = LockManager::builder()
///         .timer(ManualTimer::new())
///         .default_timeout(Duration::from_secs(10));
///     b.register("db", 10)?;
///     Ok(b.build())
/// })?;
/// assert!(std::ptr::eq(m, LOCKS.get().unwrap()));
/// # Ok::<(), lockorder::Error>(())
/// ```
pub struct Global<T: MaybeTimer = NoTimer> {
    #[cfg(all(feature = "std", not(loom)))]
    cell: async_lock::OnceCell<LockManager<T>>,
    #[cfg(any(not(feature = "std"), loom))]
    cell: spin::Once<LockManager<T>>,
}

impl<T: MaybeTimer> Global<T> {
    /// An empty global, for a `static`.
    pub const fn new() -> Self {
        Self {
            #[cfg(all(feature = "std", not(loom)))]
            cell: async_lock::OnceCell::new(),
            #[cfg(any(not(feature = "std"), loom))]
            cell: spin::Once::new(),
        }
    }

    /// The manager, if it has been built.
    pub fn get(&self) -> Option<&LockManager<T>> {
        self.cell.get()
    }

    /// The manager, built by `build` if this is the first successful call.
    ///
    /// # Errors
    ///
    /// The error `build` returned; the global stays empty and the next call tries again.
    pub fn get_or_try_init(
        &self,
        build: impl FnOnce() -> Result<LockManager<T>, Error>,
    ) -> Result<&LockManager<T>, Error> {
        #[cfg(all(feature = "std", not(loom)))]
        return self.cell.get_or_try_init_blocking(build);
        #[cfg(any(not(feature = "std"), loom))]
        return self.cell.try_call_once(build);
    }
}

impl<T: MaybeTimer> Default for Global<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: MaybeTimer> fmt::Debug for Global<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Global").field(&self.get()).finish()
    }
}

static GLOBAL: Global<NoTimer> = Global::new();

/// The process-wide manager (without a timer): the first call registers its locks with
/// `register` and freezes it; every later call returns the same manager without running
/// `register`.
///
/// ```
/// let m = lockorder::global::get_or_try_init(|b| lockorder::presets::foundation(b))?;
/// assert_eq!(m.len(), 8);
/// # Ok::<(), lockorder::Error>(())
/// ```
///
/// # Errors
///
/// The error `register` returned (a duplicate name or order, say); nothing is kept and the next
/// call tries again.
pub fn get_or_try_init(
    register: impl FnOnce(&mut Builder<NoTimer>) -> Result<(), Error>,
) -> Result<&'static LockManager<NoTimer>, Error> {
    GLOBAL.get_or_try_init(|| {
        let mut b = Builder::new();
        register(&mut b)?;
        Ok(b.build())
    })
}

/// The process-wide manager, if it has been built.
pub fn get() -> Option<&'static LockManager<NoTimer>> {
    GLOBAL.get()
}
