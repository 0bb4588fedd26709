//! The synchronization primitives the raw lock is built from, swapped for loom's models under
//! `--cfg loom` so that every interleaving of the raw lock and the acquire future can be explored.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, Ordering};
