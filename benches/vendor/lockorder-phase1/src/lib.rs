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
//!     let g = m.acquire(["cache", "config"]).owner("worker-1").await?;
//!     // Nesting goes through the guard, and is checked.
//!     let inner = g.acquire(["cache"]).await?; // held already: reentrant
//!     assert!(inner.holds("config"));
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
//! * **One raw lock per slot**: an atomic state word and an `event-listener` event for waiters.
//!   A free lock is taken with one compare-and-swap and given back with one `fetch_and`; nothing is
//!   allocated, and no sleep is created unless a lock is busy (a manager with a timer reads `now()`
//!   once per acquire, for the status timestamp).
//! * **[`Acquire`](futures::Acquire)** is a named future that walks the requested set upward. At
//!   a busy lock it listens for the release; if it has a timeout it creates the timer's sleep
//!   then, and when that fires it releases everything taken, newest first, and returns
//!   [`Error::Timeout`] naming the busy lock.
//! * **Cancellation** at any point releases what was taken and passes on a wake-up the future
//!   received but did not use (see [`Acquire`](futures::Acquire#cancel-safety)).
//!
//! Wakers must not panic: a release wakes the next waiter inside `event-listener`, and a panic
//! from `wake` escapes from that release and can leave the guard's lower locks held.
//!
//! # Reentrancy goes through the guard
//!
//! A runtime-agnostic library has no task identity. Nested acquisition is reentrant only
//! **through the guard**: [`Guard::acquire`] skips locks the guard already covers and refuses, with
//! [`Error::OrderViolation`], a new lock ordered below one it holds. A task that holds a lock and
//! calls [`LockManager::acquire`] for it again waits for itself; a timeout turns that into
//! [`Error::Timeout`], and without one it waits forever. Pass the guard down instead.
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
//! The crate is `#![no_std]` and needs `alloc`. The `std` feature (on by default) uses the standard
//! library's locks inside `event-listener`. Without it, `event-listener` guards its lists of
//! waiters with a spin lock; the `critical-section` feature uses a critical section instead, which
//! the application provides (usually its HAL does). Targets need atomic compare-and-swap.
//!
//! # When not to use `lockorder`
//!
//! * To protect one piece of data, use a mutex that owns it (`async_lock::Mutex<T>`): `lockorder`
//!   guards *names*, not data, and cannot stop code from touching data without the lock.
//! * When the set of locks is not known up front (locks per user, per row, created at run time):
//!   the table is frozen at build time.
//! * Under heavy contention on a single lock, a dedicated async mutex or a channel serializing the
//!   work serves better; ordering pays off when tasks take *several* locks.
//! * In synchronous code, where `std::sync::Mutex` and a documented order do the job.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod acquire;
mod error;
pub mod global;
mod guard;
mod manager;
pub mod presets;
mod raw;
mod registry;
mod set;
#[cfg(feature = "stats")]
mod stats;
mod status;
mod sync;
mod timer;
mod watchdog;

pub use error::{Error, LockRef};
pub use guard::Guard;
pub use manager::LockManager;
pub use registry::{Builder, Key, LockId, LockInfo};
#[cfg(feature = "stats")]
pub use stats::LockStats;
pub use status::{HolderId, Label, LockStatus, LongHold, Owner, Status};
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

/// The named futures of this crate.
pub mod futures {
    pub use crate::acquire::Acquire;
    pub use crate::watchdog::Watchdog;
}

// The README's Rust snippets are compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
