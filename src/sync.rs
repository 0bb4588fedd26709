//! The synchronization primitives the raw lock and the status records are built from, swapped for
//! loom's models under `--cfg loom` so that every interleaving of the raw lock, the acquire future
//! and a status reader can be explored, and for `portable-atomic`'s on targets without atomic
//! compare-and-swap (Cortex-M0/M0+, riscv32imc), where `core` has no read-modify-write atomics and
//! `alloc` has no `Arc`.

#[cfg(all(loom, feature = "stats"))]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicUsize, Ordering};

#[cfg(all(not(loom), feature = "stats", target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::AtomicU64;
// Statistics on 32-bit targets (Cortex-M, riscv32): 64-bit counters from `portable-atomic`.
#[cfg(all(not(loom), target_has_atomic = "ptr"))]
pub(crate) use core::sync::atomic::{fence, AtomicU32, AtomicUsize, Ordering};
#[cfg(all(
    not(loom),
    feature = "stats",
    not(target_has_atomic = "64"),
    feature = "portable-atomic"
))]
pub(crate) use portable_atomic::AtomicU64;
#[cfg(all(not(loom), not(target_has_atomic = "ptr"), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{fence, AtomicU32, AtomicUsize, Ordering};

/// Atomics that are never loom's, for statics (loom's cannot be built in a `static`).
pub(crate) mod plain {
    #[cfg(target_has_atomic = "ptr")]
    pub(crate) use core::sync::atomic::{AtomicUsize, Ordering};
    #[cfg(all(not(target_has_atomic = "ptr"), feature = "portable-atomic"))]
    pub(crate) use portable_atomic::{AtomicUsize, Ordering};
}

#[cfg(target_has_atomic = "ptr")]
pub(crate) use alloc::sync::Arc;
#[cfg(all(not(target_has_atomic = "ptr"), feature = "portable-atomic"))]
pub(crate) use portable_atomic_util::Arc;

#[cfg(all(
    feature = "stats",
    not(target_has_atomic = "64"),
    not(feature = "portable-atomic")
))]
compile_error!(
    "the `stats` feature needs 64-bit atomics, which this target lacks: enable lockorder's \
     `portable-atomic` feature as well (and link a `critical-section` implementation)"
);

#[cfg(all(not(target_has_atomic = "ptr"), not(feature = "portable-atomic")))]
compile_error!(
    "this target has no atomic compare-and-swap: enable lockorder's `portable-atomic` feature \
     (and link a `critical-section` implementation, usually your HAL's)"
);

/// `const fn` outside loom, whose atomics cannot be built in const context: for the
/// constructors a `static` lock hierarchy ([`hierarchy!`](crate::hierarchy)) calls.
macro_rules! loom_const_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident() -> Self $body:block) => {
        #[cfg(not(loom))]
        $(#[$attr])*
        $vis const fn $name() -> Self $body
        #[cfg(loom)]
        $(#[$attr])*
        $vis fn $name() -> Self $body
    };
}
pub(crate) use loom_const_fn;

/// A reader that found a record being written backs off: a spin hint, or under loom a yield, so
/// that the model lets the writer finish.
#[inline]
pub(crate) fn backoff() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
