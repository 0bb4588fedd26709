//! `Protected<T>`: data that only a guard holding its lock opens.
//!
//! The one module of the crate with `unsafe` code: a `Protected` keeps its value in an
//! `UnsafeCell` and hands out references to it through a guard that holds its lock. The argument
//! that this is sound is in [`Protected`]'s docs, under "Soundness"; every `unsafe` block below
//! names the part of it that it relies on.

use core::cell::UnsafeCell;
use core::fmt;

use crate::error::{Error, LockRef};
use crate::guard::{Guard, OwnedGuard};
use crate::held::Held;
use crate::manager::LockManager;
use crate::registry::{self, Key};
use crate::set::Mode;
use crate::table::{Bound, Table};
use crate::timer::MaybeTimer;

/// A value that only a guard holding its lock can reach: like a `Mutex<T>` whose lock is one
/// of the manager's.
///
/// Made by [`LockManager::protect`], bound to one lock of that manager (the lock itself, not
/// its name: a manager built later with the same names does not open it). It holds no lock and
/// can live anywhere: in a struct, an `Arc`, beside the manager. A guard that covers the lock
/// (took it, or has an ancestor that did) opens it:
///
/// * [`Guard::get`] gives `&T` whatever the mode the lock is held in;
/// * [`Guard::get_mut`] gives `&mut T` when it is held exclusive;
/// * [`Guard::get_disjoint_mut`] gives several `&mut T` at once, one per `Protected`.
///
/// [`OwnedGuard`] has the same three. The owner of the `Protected` itself needs no lock:
/// [`get_mut`](Self::get_mut) (through `&mut self`) and [`into_inner`](Self::into_inner).
///
/// ```
/// # use lockorder::{Error, LockManager};
/// let m = LockManager::builder()
///     .with_lock("config", 10)?
///     .with_family("account", 100, 16)?
///     .build();
/// let config = m.protect("config", String::from("v1"))?;
/// let a = m.protect(m.member("account", 1)?, 100_i64)?;
/// let b = m.protect(m.member("account", 2)?, 0_i64)?;
///
/// let mut g = m.acquire([m.member("account", 1)?, m.member("account", 2)?])
///     .shared(["config"])
///     .try_now()?;
/// assert_eq!(g.get(&config)?, "v1");                      // any mode
/// let [from, to] = g.get_disjoint_mut([&a, &b])?;         // exclusive, several at once
/// *from -= 30;
/// *to += 30;
/// assert!(matches!(g.get_mut(&config), Err(Error::UpgradeRefused { .. }))); // held shared
/// drop(g);
///
/// // Without the lock, nothing opens it.
/// let other = m.try_acquire(["config"])?;
/// assert!(matches!(other.get(&a), Err(Error::NotHeld { lock }) if lock == "account#1"));
/// # drop(other);
/// assert_eq!(a.into_inner() + b.into_inner(), 100);
/// # Ok::<(), Error>(())
/// ```
///
/// # Soundness
///
/// A reference handed out by a guard borrows the guard (and the `Protected`) for its whole
/// life, and is given only when the guard covers the lock in the right mode. These make two
/// live `&mut T` to one value, or a `&mut T` beside a `&T`, impossible:
///
/// 1. **The lock excludes other holders.** While a guard covers the lock exclusive, no other
///    acquisition, in any task, holds it: the raw lock grants an exclusive holding alone, and
///    its release (`Release` ordering) happens-before the next holder's take (`Acquire`), so
///    accesses under successive holdings are ordered. Shared holders only get `&T`, which is
///    why `Protected<T>` is `Sync` only when `T: Send + Sync`, as `RwLock<T>` is.
/// 2. **Inside one holding, borrowing orders the guards.** The guards that cover a lock are
///    the one that took it and its nested guards, a stack in which each child borrows its
///    parent mutably: while a child lives its ancestors cannot be used, and while a reference
///    from a guard lives that guard cannot make a child (both need `&mut` of it). `get_mut`
///    borrows its guard mutably, so nothing else is opened through it meanwhile; `get` borrows
///    it shared, so only more `&T` can be had.
/// 3. **The guard outlives its references.** A reference borrows its guard, so the guard (and
///    with it the lock) cannot be dropped, moved or `mem::swap`ped while the reference lives.
/// 4. **`get_disjoint_mut` checks distinctness.** Two `&mut T` from one call point to two
///    different `Protected`s (compared by address); one named twice is an error, never two
///    references to one value.
/// 5. **The binding is to the manager, not its names.** A `Protected` keeps a clone of its
///    manager's identity, an `Arc` allocation: while the `Protected` lives, no other manager
///    can have that address, so a guard of another manager, or of a manager built after this
///    one was dropped, never opens it ([`Error::NotHeld`]). A counter could wrap; an address
///    held alive cannot be reused. A manager declared with [`hierarchy!`](crate::hierarchy)
///    is identified by the address of its `static` array of locks, which is never freed and
///    never shared with another declaration (it holds atomics, so it cannot be merged).
/// 6. **Owner access needs no lock.** [`get_mut`](Self::get_mut) takes `&mut self`: no guard
///    can hold a reference from a `&Protected` meanwhile.
///
/// Leaking a guard (`mem::forget`) keeps its locks held for ever, which is safe: its references
/// were borrowed from it and cannot outlive the borrow.
///
/// The borrow rules are checked by the compiler. Two `&mut` through one guard:
///
/// ```compile_fail,E0499
/// # let m = lockorder::LockManager::builder().with_lock("a", 1).unwrap().build();
/// # let p = m.protect("a", 0).unwrap();
/// let mut g = m.try_acquire(["a"]).unwrap();
/// let x = g.get_mut(&p).unwrap();
/// let y = g.get_mut(&p).unwrap(); // a second &mut while the first lives
/// *x += *y;
/// ```
///
/// ```
/// # let m = lockorder::LockManager::builder().with_lock("a", 1).unwrap().build();
/// # let p = m.protect("a", 0).unwrap();
/// let mut g = m.try_acquire(["a"]).unwrap();
/// *g.get_mut(&p).unwrap() += 1;
/// *g.get_mut(&p).unwrap() += 1; // one after the other
/// assert_eq!(*g.get(&p).unwrap(), 2);
/// ```
///
/// A `&T` beside a `&mut T`:
///
/// ```compile_fail,E0502
/// # let m = lockorder::LockManager::builder().with_lock("a", 1).unwrap().build();
/// # let p = m.protect("a", 0).unwrap();
/// let mut g = m.try_acquire(["a"]).unwrap();
/// let r = g.get(&p).unwrap();
/// *g.get_mut(&p).unwrap() += 1; // while `r` lives
/// assert_eq!(*r, 0);
/// ```
///
/// ```
/// # let m = lockorder::LockManager::builder().with_lock("a", 1).unwrap().build();
/// # let p = m.protect("a", 0).unwrap();
/// let mut g = m.try_acquire(["a"]).unwrap();
/// let r = *g.get(&p).unwrap(); // copied out: the borrow ends
/// *g.get_mut(&p).unwrap() += 1;
/// assert_eq!(r, 0);
/// ```
///
/// The parent's data through the parent while a child lives (ask the child, which covers its
/// ancestors' locks):
///
/// ```compile_fail,E0502
/// # let m = lockorder::LockManager::builder().with_lock("a", 1).unwrap().with_lock("b", 2).unwrap().build();
/// # let p = m.protect("a", 0).unwrap();
/// let mut parent = m.try_acquire(["a"]).unwrap();
/// let mut child = parent.try_acquire(["b"]).unwrap();
/// let x = child.get_mut(&p).unwrap();
/// let y = parent.get(&p).unwrap(); // the parent is borrowed by the child
/// *x += *y;
/// ```
///
/// ```
/// # let m = lockorder::LockManager::builder().with_lock("a", 1).unwrap().with_lock("b", 2).unwrap().build();
/// # let p = m.protect("a", 0).unwrap();
/// let mut parent = m.try_acquire(["a"]).unwrap();
/// let mut child = parent.try_acquire(["b"]).unwrap();
/// *child.get_mut(&p).unwrap() += 1; // the child reaches its ancestors' data
/// drop(child);
/// assert_eq!(*parent.get(&p).unwrap(), 1);
/// ```
///
/// A guard dropped while a reference lives:
///
/// ```compile_fail,E0505
/// # let m = lockorder::LockManager::builder().with_lock("a", 1).unwrap().build();
/// # let p = m.protect("a", 0).unwrap();
/// let mut g = m.try_acquire(["a"]).unwrap();
/// let x = g.get_mut(&p).unwrap();
/// drop(g); // the lock goes while `x` lives
/// *x += 1;
/// ```
///
/// ```
/// # let m = lockorder::LockManager::builder().with_lock("a", 1).unwrap().build();
/// # let p = m.protect("a", 0).unwrap();
/// let mut g = m.try_acquire(["a"]).unwrap();
/// let x = g.get_mut(&p).unwrap();
/// *x += 1;
/// drop(g); // after the last use of `x`
/// ```
///
/// Owner access while a guard's reference lives:
///
/// ```compile_fail,E0502
/// # let m = lockorder::LockManager::builder().with_lock("a", 1).unwrap().build();
/// let mut p = m.protect("a", 0).unwrap();
/// let g = m.try_acquire(["a"]).unwrap();
/// let r = g.get(&p).unwrap();
/// *p.get_mut() += 1; // `p` is borrowed by `r`
/// assert_eq!(*r, 0);
/// ```
///
/// ```
/// # let m = lockorder::LockManager::builder().with_lock("a", 1).unwrap().build();
/// let mut p = m.protect("a", 0).unwrap();
/// *p.get_mut() += 1;
/// let g = m.try_acquire(["a"]).unwrap();
/// assert_eq!(*g.get(&p).unwrap(), 1);
/// ```
pub struct Protected<T> {
    value: UnsafeCell<T>,
    /// The identity of the manager whose lock opens it.
    bound: Bound,
    /// The lock's position in that manager.
    pos: usize,
    /// The lock, for errors.
    lock: LockRef,
    /// Under loom: stands for the value in loom's race detection. Every access through a guard
    /// is recorded on it, so a model in which a reader's access and a writer's are not ordered
    /// by the locks fails.
    #[cfg(loom)]
    shadow: loom::cell::UnsafeCell<()>,
}

// SAFETY: a `&Protected<T>` shared between threads gives `&T` to guards holding the lock shared
// in several threads at once (so `T: Sync`) and `&mut T` to the one guard holding it exclusive,
// in any thread (so `T: Send`): the bounds of `RwLock<T>`. Exclusion between those guards is
// the lock's (point 1 of the soundness argument). `Send` is derived: moving a `Protected` moves
// its value.
unsafe impl<T: Send + Sync> Sync for Protected<T> {}

impl<T> Protected<T> {
    /// The lock that opens this value.
    pub fn lock(&self) -> &LockRef {
        &self.lock
    }

    /// The value, through exclusive access to the `Protected` itself: no lock needed, since no
    /// guard can hold a reference into it meanwhile.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// The value, taken out.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// How `held` (a guard's record, in `table`) covers this value's lock.
    fn mode_in(&self, held: &Held<'_>, table: &Table) -> Result<Mode, Error> {
        if table.is(&self.bound) {
            if let Some(mode) = held.covers(self.pos) {
                return Ok(mode);
            }
        }
        Err(Error::NotHeld {
            lock: self.lock.clone(),
        })
    }

    /// Checks that `held` covers this value's lock exclusive.
    fn exclusive_in(&self, held: &Held<'_>, table: &Table) -> Result<(), Error> {
        match self.mode_in(held, table)? {
            Mode::Exclusive => Ok(()),
            Mode::Shared => Err(Error::UpgradeRefused {
                lock: self.lock.clone(),
            }),
        }
    }

    /// The value, shared.
    ///
    /// # Safety
    ///
    /// The caller holds a guard that covers this value's lock (in either mode), borrowed shared
    /// as long as the returned reference lives: then no `&mut T` exists meanwhile (points 1 to
    /// 3 of the argument).
    unsafe fn shared(&self) -> &T {
        #[cfg(loom)]
        self.shadow.with(|_| ());
        // SAFETY: by this function's contract, nothing writes the value while this lives.
        unsafe { &*self.value.get() }
    }

    /// The value, exclusive.
    ///
    /// # Safety
    ///
    /// The caller holds a guard that covers this value's lock exclusive, borrowed mutably as
    /// long as the returned reference lives, and hands out no other reference to this value
    /// meanwhile: then this is the only reference to it (points 1 to 4 of the argument).
    #[allow(clippy::mut_from_ref)]
    unsafe fn exclusive(&self) -> &mut T {
        #[cfg(loom)]
        self.shadow.with_mut(|_| ());
        // SAFETY: by this function's contract, this reference is the only one while it lives.
        unsafe { &mut *self.value.get() }
    }
}

impl<T> fmt::Debug for Protected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value is not shown: reading it needs the lock.
        f.debug_struct("Protected")
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

impl<T> LockManager<T> {
    /// Puts `value` under the lock `key` names: only a guard that holds that lock opens it.
    /// See [`Protected`].
    ///
    /// # Errors
    ///
    /// [`Error::UnknownLock`] for an unknown key.
    pub fn protect<K: Key, U>(&self, key: K, value: U) -> Result<Protected<U>, Error> {
        let table = &self.table;
        let pos = registry::sealed::Sealed::position(&key, &table.index)?;
        Ok(Protected {
            value: UnsafeCell::new(value),
            bound: table.bound(),
            pos,
            lock: table.lock_ref(pos),
            #[cfg(loom)]
            shadow: loom::cell::UnsafeCell::new(()),
        })
    }
}

/// The data access methods of [`Guard`] and [`OwnedGuard`], written once.
macro_rules! data_access {
    ($($lt:lifetime)?; $guard:ty) => {
        impl<$($lt,)? T: MaybeTimer> $guard {
            /// The value of `data`, shared, if this guard (or an ancestor) holds its lock, in
            /// either mode. The reference borrows the guard: see [`Protected`].
            ///
            /// # Errors
            ///
            /// [`Error::NotHeld`] naming the lock when this guard does not cover it, or when
            /// `data` belongs to another manager.
            pub fn get<'g, U>(&'g self, data: &'g Protected<U>) -> Result<&'g U, Error> {
                let (held, table) = self.parts();
                data.mode_in(held, table)?;
                // SAFETY: this guard covers the lock and stays borrowed shared for 'g.
                Ok(unsafe { data.shared() })
            }

            /// The value of `data`, exclusive, if this guard (or an ancestor) holds its lock
            /// exclusive. The reference borrows the guard mutably: see [`Protected`].
            ///
            /// # Errors
            ///
            /// [`Error::NotHeld`] as [`get`](Self::get); [`Error::UpgradeRefused`] when the lock
            /// is held shared.
            pub fn get_mut<'g, U>(
                &'g mut self,
                data: &'g Protected<U>,
            ) -> Result<&'g mut U, Error> {
                let (held, table) = self.parts();
                data.exclusive_in(held, table)?;
                // SAFETY: this guard covers the lock exclusive and stays borrowed mutably for
                // 'g; this is the only reference it hands out meanwhile.
                Ok(unsafe { data.exclusive() })
            }

            /// The values of several `Protected`s at once, exclusive: a transfer between two
            /// accounts, say. All must be covered exclusive (by one lock or several).
            ///
            /// ```
            /// # use lockorder::{Error, LockManager};
            /// let m = LockManager::builder().with_family("account", 0, 8)?.build();
            /// let (a, b) = (m.protect("account#1", 10)?, m.protect("account#2", 0)?);
            /// let mut g = m.try_acquire(["account#1", "account#2"])?;
            /// let [x, y] = g.get_disjoint_mut([&a, &b])?;
            /// std::mem::swap(x, y);
            /// let e = g.get_disjoint_mut([&a, &a]).unwrap_err(); // no two &mut to one value
            /// assert!(matches!(e, Error::DuplicateAccess { lock } if lock == "account#1"));
            /// # Ok::<(), Error>(())
            /// ```
            ///
            /// # Errors
            ///
            /// For the first `Protected` (in the array's order) that fails: [`Error::NotHeld`],
            /// [`Error::UpgradeRefused`] (held shared), or [`Error::DuplicateAccess`] (named
            /// twice). Never panics.
            pub fn get_disjoint_mut<'g, U, const N: usize>(
                &'g mut self,
                data: [&'g Protected<U>; N],
            ) -> Result<[&'g mut U; N], Error> {
                let (held, table) = self.parts();
                for (i, d) in data.iter().enumerate() {
                    d.exclusive_in(held, table)?;
                    if data[..i].iter().any(|e| core::ptr::eq(*e, *d)) {
                        return Err(Error::DuplicateAccess {
                            lock: d.lock.clone(),
                        });
                    }
                }
                // SAFETY: this guard covers every lock exclusive and stays borrowed mutably for
                // 'g; the `Protected`s are pairwise distinct, so are the references.
                Ok(data.map(|d| unsafe { d.exclusive() }))
            }
        }
    };
}

data_access!('a; Guard<'a, T>);
data_access!(; OwnedGuard<T>);
