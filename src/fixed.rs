//! Hierarchies fixed at compile time: [`hierarchy!`](crate::hierarchy) declares a
//! [`LockManager`] as a `static`, built in const context, with a `const` [`LockId`] per lock.
//!
//! The locks of such a manager live in a `static` array, their names and descriptions are
//! `&'static str`, and names are looked up by a scan of that array: nothing is registered,
//! hashed, sorted or allocated. The manager is an ordinary `LockManager`, so acquiring, guards,
//! nesting, timeouts and status are the same code as for a built one.

use core::fmt;
use core::time::Duration;

use crate::manager::LockManager;
use crate::raw::RawLock;
use crate::record::Record;
use crate::registry::{Index, LockId, LockInfo};
use crate::stats::Stats;
use crate::table::{Slot, Table};
use crate::timer::{MaybeTimer, Timer};

/// Declares a lock hierarchy fixed at compile time: a [`LockManager`] in a `static`, and a `const`
/// [`LockId`] for each lock.
///
/// ```
/// use lockorder::{hierarchy, LockManager, NoTimer};
///
/// hierarchy! {
///     /// The application's locks.
///     pub static LOCKS: LockManager<NoTimer> = NoTimer;
///     /// The SPI bus.
///     pub const BUS = ("bus", 10, "the SPI bus");
///     pub const DMA = ("dma", 20);
/// }
///
/// # futures_lite::future::block_on(async {
/// let mut g = LOCKS.acquire([DMA, BUS]).await?; // ids: no hashing, a checked index
/// assert!(g.holds("bus") && g.holds("dma"));
/// assert_eq!(LOCKS.info(BUS).unwrap().description(), "the SPI bus");
/// let err = g.acquire([BUS]).await.map(|_| ()); // reentrant through the guard
/// assert!(err.is_ok());
/// # Ok::<(), lockorder::Error>(())
/// # }).unwrap();
/// ```
///
/// Locks are listed in ascending order, each as `(name, order)` or `(name, order,
/// description)` with string literals for the texts. Attributes before a lock (doc comments,
/// `#[allow]`) go to its `const` id only: a `#[cfg]` there would remove the id, not the lock.
/// The timer is a const expression: [`NoTimer`],
/// or a timer that can be built in const context, such as
/// [`EmbassyTimer::since_boot`](crate::EmbassyTimer::since_boot); a timer may come with a default
/// timeout:
///
/// ```ignore
/// hierarchy! {
///     pub static LOCKS: LockManager<EmbassyTimer> = EmbassyTimer::since_boot(),
///         default_timeout = Duration::from_millis(100);
///     pub const BUS = ("bus", 10);
/// }
/// ```
///
/// # Checked at compile time
///
/// Orders strictly ascending (so unique), names unique and not empty: anything else does not
/// compile, and the error names the lock.
///
/// ```compile_fail,E0080
/// lockorder::hierarchy! {
///     static LOCKS: lockorder::LockManager<lockorder::NoTimer> = lockorder::NoTimer;
///     const B = ("b", 20);
///     const A = ("a", 10); // descending
/// }
/// # fn main() { let _ = &LOCKS; }
/// ```
///
/// ```compile_fail,E0080
/// lockorder::hierarchy! {
///     static LOCKS: lockorder::LockManager<lockorder::NoTimer> = lockorder::NoTimer;
///     const A = ("a", 10);
///     const A2 = ("a", 20); // the same name twice
/// }
/// # fn main() { let _ = &LOCKS; }
/// ```
///
/// ```compile_fail,E0080
/// lockorder::hierarchy! {
///     static LOCKS: lockorder::LockManager<lockorder::NoTimer> = lockorder::NoTimer;
///     const A = ("a", 10);
///     const B = ("b", 10); // the same order twice
/// }
/// # fn main() { let _ = &LOCKS; }
/// ```
///
/// ```compile_fail,E0080
/// lockorder::hierarchy! {
///     static LOCKS: lockorder::LockManager<lockorder::NoTimer> = lockorder::NoTimer;
///     const A = ("", 10); // an empty name
/// }
/// # fn main() { let _ = &LOCKS; }
/// ```
///
/// # What it costs
///
/// No allocation to build the manager or to take free locks, for up to 128 locks; names and
/// descriptions stay in the program's read-only data. With more than 128 locks, every acquire
/// allocates the set of the locks it takes, as with a built manager of that size. Status reports ([`LockManager::status`]) and the errors for bad
/// input that carry a name ([`Error::UnknownLock`](crate::Error::UnknownLock)) allocate as with a
/// built manager, and so does waiting: a lock's waiter lists allocate their buffer at its first
/// contention, and grow it to the most waiters the lock has had at once (no allocation per wait).
///
/// # Ids
///
/// An id names its lock in this manager only: used with another manager (built, or declared by
/// another `hierarchy!`), it is [`Error::UnknownLock`](crate::Error::UnknownLock). A declared
/// manager's identity is the address of its `static`, so no two declarations share it, even
/// when one macro declares hierarchies of the same name in several modules or function bodies.
///
/// Not available under `--cfg loom`, whose atomics cannot be built in const context.
///
/// [`NoTimer`]: crate::NoTimer
#[macro_export]
macro_rules! hierarchy {
    (
        $(#[$meta:meta])*
        $vis:vis static $manager:ident : $ty:ty = $timer_expr:expr
            $(, default_timeout = $timeout:expr)?;
        $(
            $(#[$lock_meta:meta])*
            $lock_vis:vis const $id:ident =
                ($name:literal, $order:expr $(, $description:literal)? $(,)?);
        )*
    ) => {
        $(#[$meta])*
        $vis static $manager: $ty = {
            const __LOCKORDER_ORDERS: &[u32] = &[$($order),*];
            const __LOCKORDER_NAMES: &[&str] = &[$($name),*];
            const _: () = {
                $(
                    assert!(
                        $crate::__private::in_place(
                            __LOCKORDER_ORDERS, __LOCKORDER_NAMES, $order, $name
                        ),
                        concat!(
                            "lockorder::hierarchy!: lock `", $name, "` is out of place: list the \
                             locks by strictly ascending order (orders are unique), with unique, \
                             non-empty names"
                        )
                    );
                )*
            };
            static __LOCKORDER_SLOTS: [$crate::__private::Slot; __LOCKORDER_ORDERS.len()] = [$(
                $crate::__private::slot(
                    &$manager, __LOCKORDER_ORDERS, $name, $order, concat!("" $(, $description)?)
                )
            ),*];
            $crate::hierarchy!(
                @manager &__LOCKORDER_SLOTS, __LOCKORDER_NAMES, $timer_expr $(, $timeout)?
            )
        };
        $crate::hierarchy!(
            @ids $manager [$($order),*]; $($(#[$lock_meta])* $lock_vis const $id = $order;)*
        );
    };
    (@manager $slots:expr, $names:expr, $timer:expr) => {
        $crate::__private::manager($slots, $names, $timer)
    };
    (@manager $slots:expr, $names:expr, $timer:expr, $timeout:expr) => {
        $crate::__private::manager_with_timeout($slots, $names, $timer, $timeout)
    };
    (@ids $manager:ident $orders:tt; $($(#[$meta:meta])* $vis:vis const $id:ident = $order:expr;)*) => {$(
        $(#[$meta])*
        $vis const $id: $crate::LockId = $crate::__private::id(&$manager, &$orders, $order);
    )*};
}

/// What [`hierarchy!`](crate::hierarchy) expands to. Not a public API: no stability promise.
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub use crate::table::Slot;
    use crate::text::same;

    /// The position of the lock of `order` (the first, if it is there twice).
    const fn position(orders: &[u32], order: u32) -> usize {
        let mut i = 0;
        while i < orders.len() && orders[i] != order {
            i += 1;
        }
        i
    }

    /// Whether the lock `(name, order)` is where it belongs: its order is there once and above
    /// the one before, its name is there once and not empty.
    pub const fn in_place(orders: &[u32], names: &[&str], order: u32, name: &str) -> bool {
        let at = position(orders, order);
        if at == orders.len() || name.is_empty() || !same(names[at], name) {
            return false;
        }
        if at > 0 && orders[at - 1] >= order {
            return false;
        }
        let mut i = 0;
        while i < orders.len() {
            if i != at && (orders[i] == order || same(names[i], name)) {
                return false;
            }
            i += 1;
        }
        true
    }

    /// The id of the lock of `order` in the declared `manager`: its identity is the address of
    /// the `static`'s index, never another declaration's (a hash of the call site would be the
    /// same for two declarations made by one macro).
    pub const fn id<T>(manager: &'static LockManager<T>, orders: &[u32], order: u32) -> LockId {
        // Positions fit in u32: they index an array in the program.
        LockId::fixed(&manager.table.index, position(orders, order) as u32)
    }

    /// The slot of one declared lock.
    pub const fn slot<T>(
        manager: &'static LockManager<T>,
        orders: &[u32],
        name: &'static str,
        order: u32,
        description: &'static str,
    ) -> Slot {
        Slot {
            info: LockInfo::fixed(name, order, description, id(manager, orders, order)),
            raw: RawLock::new(),
            record: Record::new(),
            stats: Stats::new(),
        }
    }

    /// A manager over declared slots, without a default timeout.
    pub const fn manager<T: MaybeTimer>(
        slots: &'static [Slot],
        names: &'static [&'static str],
        timer: T,
    ) -> LockManager<T> {
        LockManager::from_parts(Table::fixed(slots, Index::fixed(names)), timer, None)
    }

    /// A manager over declared slots, with a timer and a default timeout.
    pub const fn manager_with_timeout<T: Timer>(
        slots: &'static [Slot],
        names: &'static [&'static str],
        timer: T,
        timeout: Duration,
    ) -> LockManager<T> {
        LockManager::from_parts(
            Table::fixed(slots, Index::fixed(names)),
            timer,
            Some(timeout),
        )
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.info, f)
    }
}
