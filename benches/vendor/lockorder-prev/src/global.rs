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
    cell: Cell<LockManager<T>>,
}

impl<T: MaybeTimer> Global<T> {
    /// An empty global, for a `static`.
    pub const fn new() -> Self {
        Self { cell: Cell::new() }
    }

    /// The manager, if it has been built.
    pub fn get(&self) -> Option<&LockManager<T>> {
        self.cell.get()
    }

    /// The manager, built by `build` if this is the first successful call.
    ///
    /// Concurrent first callers block their thread until the first one's `build` returns.
    /// `build` must not call `get_or_try_init` on the same global: with `std` that call returns
    /// [`Error::ReentrantInit`] instead of waiting for itself forever; without `std` there is no
    /// thread identity to tell a re-entrant call from a concurrent one, and it spins forever.
    ///
    /// # Errors
    ///
    /// The error `build` returned; the global stays empty and the next call tries again.
    /// [`Error::ReentrantInit`] for a call from inside `build` (with `std`).
    pub fn get_or_try_init(
        &self,
        build: impl FnOnce() -> Result<LockManager<T>, Error>,
    ) -> Result<&LockManager<T>, Error> {
        self.cell.get_or_try_init(build)
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
/// `register` must not call `get_or_try_init` itself (see [`Global::get_or_try_init`]).
///
/// # Errors
///
/// The error `register` returned (a duplicate name or order, say); nothing is kept and the next
/// call tries again. [`Error::ReentrantInit`] for a call from inside `register` (with `std`).
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

// === The cell ===

/// A once-cell that waits for a concurrent initialization by blocking its thread: the one place
/// where the `std` and `no_std` builds differ.
#[cfg(all(feature = "std", not(loom)))]
struct Cell<V> {
    cell: async_lock::OnceCell<V>,
    /// The thread running the initialization, to refuse a re-entrant call.
    initializing: std::sync::Mutex<Option<std::thread::ThreadId>>,
}

#[cfg(all(feature = "std", not(loom)))]
impl<V> Cell<V> {
    const fn new() -> Self {
        Self {
            cell: async_lock::OnceCell::new(),
            initializing: std::sync::Mutex::new(None),
        }
    }

    fn get(&self) -> Option<&V> {
        self.cell.get()
    }

    fn initializer(&self) -> std::sync::MutexGuard<'_, Option<std::thread::ThreadId>> {
        // Poisoning cannot leave a wrong value here (every write is a whole `Option`).
        self.initializing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get_or_try_init(&self, init: impl FnOnce() -> Result<V, Error>) -> Result<&V, Error> {
        if let Some(v) = self.cell.get() {
            return Ok(v);
        }
        let me = std::thread::current().id();
        if *self.initializer() == Some(me) {
            return Err(Error::ReentrantInit);
        }
        self.cell.get_or_try_init_blocking(|| {
            /// Clears the initializer mark when the initialization ends, by return or by panic.
            struct Mark<'a>(&'a std::sync::Mutex<Option<std::thread::ThreadId>>);
            impl Drop for Mark<'_> {
                fn drop(&mut self) {
                    *self
                        .0
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                }
            }
            *self.initializer() = Some(me);
            let _mark = Mark(&self.initializing);
            init()
        })
    }
}

#[cfg(any(not(feature = "std"), loom))]
struct Cell<V> {
    cell: spin::Once<V>,
}

#[cfg(any(not(feature = "std"), loom))]
impl<V> Cell<V> {
    const fn new() -> Self {
        Self {
            cell: spin::Once::new(),
        }
    }

    fn get(&self) -> Option<&V> {
        self.cell.get()
    }

    fn get_or_try_init(&self, init: impl FnOnce() -> Result<V, Error>) -> Result<&V, Error> {
        self.cell.try_call_once(init)
    }
}
