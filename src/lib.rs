//! An async lock manager that makes deadlocks impossible by lock ordering.
//!
//! Every lock has a name and a unique order. A caller asks for a *set* of locks; `lockorder`
//! takes them in ascending order and hands back one [`Guard`] that releases them all. Because
//! every task climbs the same ladder, no two tasks can each hold a lock the other is waiting for:
//! a wait-for cycle would need someone to wait for a lower lock while holding a higher one, and
//! that is exactly what the manager never does.
//!
//! ```
//! use core::time::Duration;
//! use futures_lite::future::block_on;
//! use lockorder::{Error, LockManager, ManualTimer};
//!
//! // Register, then freeze.
//! let mut b = LockManager::builder()
//!     .timer(ManualTimer::new()) // any `Timer`: tokio, async-io, embassy, your own
//!     .default_timeout(Duration::from_secs(10));
//! b.register("config", 10)?
//!     .register("db", 20)?
//!     .register_with("cache", 30, "read-through cache")?;
//! let m = b.build();
//!
//! block_on(async {
//!     // Any order in, ascending order taken.
//!     let mut g = m.acquire(["cache", "config"]).owner("worker-1").await?;
//!     // Nesting goes through the guard, and is checked.
//!     let inner = g.acquire(["cache"]).await?; // held already: reentrant
//!     assert!(inner.holds("config"));
//!     drop(inner); // a guard has one child at a time
//!     match g.acquire(["db"]).await {
//!         Err(Error::OrderViolation { requested, held }) => {
//!             assert_eq!((requested.name(), held.name()), ("db", "cache"));
//!         }
//!         other => panic!("{other:?}"),
//!     }
//!     Ok::<(), Error>(())
//! })?;
//! # Ok::<(), Error>(())
//! ```
//!
//! # How it works
//!
//! * **Registration, then freeze.** A [`Builder`] collects `(name, order, description)`;
//!   [`Builder::build`] sorts them into a fixed array. A lock's position in it is its rank, and
//!   nothing is registered or removed afterwards, so acquiring needs no manager-wide lock.
//!   Or declare the locks in the program with [`hierarchy!`]: a `static` manager built in
//!   const context, with `const` ids, that needs no allocation to build or to take free locks.
//! * **One raw reader-writer lock per slot**: an atomic state word, a count of waiting writers
//!   and three FIFO waiter lists (readers, writers, the waiter holding a reservation). A
//!   free lock is taken with one compare-and-swap and given back with one atomic update (a
//!   writer's is a single read-modify-write, a reader's a compare-and-swap, retried if another
//!   reader changed the word in between); nothing is allocated, and no sleep is created unless
//!   a lock is busy (a manager with a timer reads `now()` once per poll, for the status
//!   timestamp).
//! * **Shared mode**: [`Acquire::shared`](futures::Acquire::shared),
//!   [`LockManager::acquire_shared`] and [`Guard::acquire_shared`] take locks for reading; one set
//!   may mix modes, and the order rule is the same for both. Writers are not starved: once a
//!   writer waits for a lock, new readers wait too. A nested exclusive request for a lock held
//!   shared is refused ([`Error::UpgradeRefused`]): upgrades deadlock.
//! * **Bounded waiting**: newcomers may take a free lock ahead of waiters (that keeps throughput
//!   up), but a waiter that was woken and found its lock taken by a newcomer reserves it: the next
//!   release hands the lock to that waiter, and everyone else yields until it has had its turn.
//! * **Owned guards and blocking waits**: [`LockManager::acquire_owned`] holds the manager
//!   through an `Arc`, so its [`OwnedGuard`] can move into a spawned task; `.wait()` (feature
//!   `std`) takes the locks from a plain thread, measuring its timeout with the thread's clock.
//! * **[`Acquire`](futures::Acquire)** is a named future that walks the requested set upward. At
//!   a busy lock it listens for the release; if it has a timeout it creates the timer's sleep
//!   then, and when that fires it releases everything taken, newest first, and returns
//!   [`Error::Timeout`] naming the busy lock.
//! * **Cancellation** at any point releases what was taken and passes on a wake-up the future
//!   received but did not use (see [`Acquire`](futures::Acquire#cancel-safety)).
//!
//! Panics in foreign code (the timer, a waker) keep no lock: a poll that unwinds leaves its
//! future able to go on (dropping it releases what it took), and a guard whose release wakes a
//! waker that panics still releases all its locks while unwinding, and every other waiter it
//! notified is woken all the same: wakers run after the waiter lists' lock, and with `std` a
//! waker's panic is caught and goes on once the release is done (without `std` it unwinds from
//! the release, and waiters that release had yet to wake sleep until their timeout).
//!
//! # Reentrancy goes through the guard
//!
//! A runtime-agnostic library has no task identity. Nested acquisition is reentrant only
//! **through the guard**: [`Guard::acquire`] skips locks the guard already covers and refuses, with
//! [`Error::OrderViolation`], a new lock ordered below one it holds. It borrows the guard mutably,
//! so a guard has one child at a time and nested guards form a stack: each request is checked
//! against every lock held through the stack, which is what keeps nesting deadlock-free. A task
//! that holds a lock and calls [`LockManager::acquire`] for it again waits for itself; a timeout
//! turns that into [`Error::Timeout`], and without one it waits forever. Pass the guard down
//! instead, or give the task a [`TaskKey`]: every acquisition made with it is checked against
//! every lock held under it, through any guard, and a request for a lock the key already holds
//! (or one below it) is refused at once with [`Error::OrderViolation`].
//!
//! # Data, keys and families
//!
//! * [`Protected<T>`](Protected): data bound to one lock ([`LockManager::protect`]); a guard that
//!   covers the lock opens it ([`Guard::get`], [`Guard::get_mut`], [`Guard::get_disjoint_mut`]),
//!   and the references borrow the guard.
//! * [`TaskKey`]: one per task ([`LockManager::task_key`]), given to each acquisition with
//!   `.key(&key)`, so helpers that lock are checked against their caller's locks.
//! * Lock families ([`Builder::with_family`], [`LockManager::member`]): per-entity locks for
//!   entities created at run time, `id % stripes`, the same in every process.
//!
//! # Timers
//!
//! Timeouts and timestamps come from a [`Timer`] given to the builder. Without one
//! ([`NoTimer`], the default) there are no timeouts, and asking for one does not compile.
//! [`ManualTimer`] is a virtual clock for deterministic tests. Adapters for runtimes come with
//! one cargo feature each: `TokioTimer` (`tokio`), `AsyncIoTimer` (`async-io`, for smol and
//! async-std) and `EmbassyTimer` (`embassy-time`, for embedded executors).
//!
//! # `no_std`
//!
//! The crate is `#![no_std]` and needs `alloc`. The `std` feature (on by default) guards each
//! lock's lists of waiters with the standard library's mutex. Without it they are guarded by a
//! spin lock; the `critical-section` feature uses a critical section instead, which the
//! application provides (usually its HAL does). Targets without atomic compare-and-swap
//! (Cortex-M0/M0+) need the `portable-atomic` feature; there `acquire_owned` is not available.
//!
//! # When not to use `lockorder`
//!
//! * To protect one piece of data that is never locked together with others, a mutex that owns
//!   it (`async_lock::Mutex<T>`) is simpler. Data that *is* locked in sets belongs in a
//!   [`Protected`]: only a guard holding its lock opens it.
//! * When locks come and go with run-time entities *and* each must be its own: a
//!   [family](Builder::with_family) gives entities created at run time a lock, but a fixed number
//!   of them, so ids on one stripe share a lock. Size the family so that sharing is rare, or use
//!   a per-entity mutex when entities are never locked together.
//! * When code that holds locks calls code that locks without the task's [`TaskKey`] (or
//!   without its guard): such a request is checked like another task's, and can wait for its own
//!   task. Pass the key down.
//! * Under heavy contention on a single lock, a dedicated async mutex or a channel serializing the
//!   work serves better; ordering pays off when tasks take *several* locks.
//! * In synchronous code, where `std::sync::Mutex` and a documented order do the job.
#![no_std]
// `unsafe` lives in one module, `protected`, which allows it and argues its soundness.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without compare-and-swap, the owned API (which needs `alloc::sync::Arc`) is left out, and
// under loom `hierarchy!` (its atomics cannot be built in const context): the code only they use
// is unused there.
#![cfg_attr(
    any(loom, not(target_has_atomic = "ptr")),
    allow(dead_code, unused_imports)
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

// The modules, by layer: each uses only modules of its own layer or below (`tests/layers.rs`
// checks it).
//
// Layer 0, the foundations: nothing here touches a lock or takes a manager's lock. Plain data
// (among it `handoff`, the hand-off policy as pure functions of a lock word's value), and the
// shared pieces below the locking: `sync` (the atomics), `timer` (clocks and sleeps:
// ManualTimer's spin mutex and wakers, StdTimer's thread), `unwind` (panicking wakers) and
// `waiters` (the waiter lists a raw lock is built on).
mod error; // the error type and the locks it names
mod family; // lock families: per-entity locks at consecutive orders
#[macro_use]
mod fault; // planted bugs for checking the checks: compiled out unless `--cfg lockorder_fault`
mod handoff; // the hand-off policy: who takes a lock, who waits where, whom a release wakes
mod registry; // the builder, lock ids and infos, keys and the name index
mod set; // lock sets (bitsets over positions), requests and modes, and the nesting rules
mod sync; // the atomics and `Arc`, swapped for loom's or portable-atomic's where needed
mod text; // names and descriptions: 'static or shared
mod timer; // the Timer trait, NoTimer, ManualTimer, and the timer adapters
mod unwind; // wakers that panic: caught inside the waiting machinery, resumed after it
mod waiters; // a raw lock's FIFO waiter lists: wakers run after their lock, no allocation per wait

// Layer 1, the per-lock and per-key state the walk works on (atomics, a spin
// lock), and the trace events.
mod key; // task keys: the locks claimed under each key, and the key rule
mod raw; // the raw reader-writer lock of each slot
mod record; // the record of each holding and how status readers read it
mod stats; // per-lock statistics (zero-sized without the `stats` feature)
mod table; // the frozen slots of a manager
#[cfg(feature = "tracing")]
mod trace; // feature `tracing`: the events, off the uncontended path

// Layer 2, the walk, and what a guard records of what a walk took.
mod held; // what a guard records of its locks, and where an acquisition comes from
mod walk; // taking a request's locks upward, and releasing held locks

// Layer 3, the public API.
mod acquire; // the acquire futures and their state machine
mod entry; // the entry points: LockManager::acquire and kin, nesting through a guard
mod guard; // guards, owned guards, nesting
mod manager; // LockManager
#[allow(unsafe_code)]
mod protected; // Protected<T>: data only a guard holding its lock opens (the one unsafe module)
mod status; // status views: LockStatus, Status, LongHold
mod watchdog; // the Watchdog future

// Layer 4, extras.
#[cfg(not(loom))]
mod fixed; // hierarchies fixed at compile time: `hierarchy!` and what it expands to
pub mod global; // the process-wide manager
pub mod presets; // ready-made hierarchies

// What `hierarchy!` expands to; not an API.
#[cfg(not(loom))]
#[doc(hidden)]
pub use fixed::__private;

pub use error::{Error, HeldBy, LockRef};
pub use guard::{Guard, OwnedGuard};
pub use key::TaskKey;
pub use manager::LockManager;
pub use protected::Protected;
pub use record::{HolderId, Label, Owner};
pub use registry::{Builder, Key, LockId, LockInfo};
pub use set::Mode;
#[cfg(feature = "stats")]
pub use stats::LockStats;
pub use status::{LockStatus, LongHold, Status};
pub use timer::{ManualSleep, ManualTimer, MaybeTimer, NoTimer, Timer};

#[cfg(feature = "embassy-time")]
#[cfg_attr(docsrs, doc(cfg(feature = "embassy-time")))]
pub use timer::EmbassyTimer;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use timer::TokioTimer;
#[cfg(feature = "async-io")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-io")))]
pub use timer::{AsyncIoSleep, AsyncIoTimer};
#[cfg(all(feature = "std", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use timer::{StdSleep, StdTimer};

/// The named futures of this crate.
pub mod futures {
    pub use crate::acquire::{Acquire, AcquireOwned};
    pub use crate::watchdog::Watchdog;
}
