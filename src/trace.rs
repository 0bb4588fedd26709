//! Feature `tracing`: what the lock manager reports to `tracing`, emitted on the thread that
//! polls (or tries, or waits, or runs the watchdog).
//!
//! | event | level | fields |
//! |---|---|---|
//! | an acquire starts waiting for a busy lock | `DEBUG` | `lock`, `mode`, `owner`, `holds` (locks it holds meanwhile) |
//! | it gets the lock it waited for | `DEBUG` | `lock`, `mode`, `owner`, `waited` (with a timer) |
//! | it times out | `DEBUG` | `lock`, `owner`, `holder` (who held the lock then) |
//! | a single try finds a lock busy | `TRACE` | `lock`, `holder` |
//! | a nested request is refused (order violation, upgrade) | `WARN` | `lock`, `held` |
//! | the watchdog finds a long holding | `WARN` | `lock`, `owner`, `held_for` |
//!
//! Every event's target is `lockorder`. A healthy service is quiet at `INFO`: waiting, getting
//! and timing out are part of normal contention (a caller handles a timeout's error), while a
//! refusal is a bug in the caller and a long hold a likely stuck task. The functions are cold and
//! not inlined, and called only off the uncontended path; without the feature none exists.

use core::fmt;
use core::time::Duration;

use crate::set::Mode;

/// `tracing::event!` at `level` with the target every event here has, `lockorder`.
macro_rules! event {
    ($level:ident, $($fields_and_message:tt)+) => {
        tracing::event!(target: "lockorder", tracing::Level::$level, $($fields_and_message)+)
    };
}

fn mode_str(mode: Mode) -> &'static str {
    match mode {
        Mode::Exclusive => "exclusive",
        Mode::Shared => "shared",
    }
}

/// An acquire found `lock` busy and starts waiting for it, holding `holds` locks meanwhile.
#[cold]
#[inline(never)]
pub(crate) fn waits(lock: &str, mode: Mode, owner: Option<&str>, holds: usize) {
    event!(
        DEBUG,
        lock,
        mode = mode_str(mode),
        owner,
        holds,
        "waiting for lock {lock}"
    );
}

/// An acquire got `lock` after waiting for it (for `waited`, when the manager has a timer).
#[cold]
#[inline(never)]
pub(crate) fn got(lock: &str, mode: Mode, owner: Option<&str>, waited: Option<Duration>) {
    event!(
        DEBUG,
        lock,
        mode = mode_str(mode),
        owner,
        waited = waited.map(tracing::field::debug),
        "acquired lock {lock} after waiting"
    );
}

/// An acquire timed out waiting for `lock`, then held by `holder` (if known).
#[cold]
#[inline(never)]
pub(crate) fn timed_out(lock: &str, owner: Option<&str>, holder: Option<&dyn fmt::Display>) {
    event!(
        DEBUG,
        lock,
        owner,
        holder = holder.map(tracing::field::display),
        "timed out waiting for lock {lock}"
    );
}

/// A single try found `lock` busy.
#[cold]
#[inline(never)]
pub(crate) fn would_block(lock: &str, holder: Option<&dyn fmt::Display>) {
    event!(
        TRACE,
        lock,
        holder = holder.map(tracing::field::display),
        "lock {lock} is busy; the try took nothing"
    );
}

/// A nested request was refused: `lock` asked for while `held` is held (an order violation), or
/// `lock` asked for exclusive while held shared (`held` is then the same lock).
#[cold]
#[inline(never)]
pub(crate) fn refused(what: &'static str, lock: &str, held: &str) {
    event!(
        WARN,
        lock,
        held,
        "{what}: lock {lock} refused while holding lock {held}"
    );
}

/// The watchdog found `lock` held by `owner` for `held_for`.
#[cold]
#[inline(never)]
pub(crate) fn long_hold(lock: &str, owner: Option<&dyn fmt::Display>, held_for: Duration) {
    event!(
        WARN,
        lock,
        owner = owner.map(tracing::field::display),
        held_for = tracing::field::debug(held_for),
        "potential deadlock: lock {lock} held for {held_for:?}"
    );
}
