//! The synchronization primitives the raw lock and the status records are built from, swapped for
//! loom's models under `--cfg loom` so that every interleaving of the raw lock, the acquire future
//! and a status reader can be explored.

#[cfg(all(loom, feature = "stats"))]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicUsize, Ordering};

#[cfg(all(not(loom), feature = "stats"))]
pub(crate) use core::sync::atomic::AtomicU64;
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicU32, AtomicUsize, Ordering};

/// A reader that found a record being written backs off: a spin hint, or under loom a yield, so
/// that the model lets the writer finish.
#[inline]
pub(crate) fn backoff() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
