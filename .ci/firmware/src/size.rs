//! What the size firmwares (`size_base`, `size_mutex`, `size_lockorder`) share, so that their
//! sizes differ by the locking alone: the workload's frame (three tasks on overlapping pairs of
//! three locks, [`ROUNDS`] rounds each), the start-up, and the wait for the tasks to finish.

use portable_atomic::{AtomicU32, Ordering::SeqCst};

use embassy_executor::{SpawnError, SpawnToken, Spawner};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::{Channel, SendFuture};

use crate::ensure;

/// The rounds each task runs.
pub const ROUNDS: u32 = 20;
/// The locks the three tasks take, by index: each pair overlaps the other two.
const SETS: [[usize; 2]; 3] = [[0, 1], [1, 2], [0, 2]];

static INSIDE: [AtomicU32; 3] = [const { AtomicU32::new(0) }; 3];
static DONE: Channel<CriticalSectionRawMutex, (), 3> = Channel::new();

/// Starts the watchdog and the firmware's one check, `name`.
pub fn start(name: &'static str) {
    crate::init(3_000);
    crate::check(name);
}

/// Spawns the task `worker(set)` for each pair of locks.
pub fn spawn<S>(
    spawner: Spawner,
    worker: impl Fn([usize; 2]) -> Result<SpawnToken<S>, SpawnError>,
) {
    for set in SETS {
        match worker(set) {
            Ok(token) => spawner.spawn(token),
            Err(_) => crate::fail(format_args!("spawn")),
        }
    }
}

/// Waits until every task has called [`done`].
pub async fn finished() {
    for _ in SETS {
        DONE.receive().await;
    }
}

/// A task has run its rounds.
pub fn done() -> SendFuture<'static, CriticalSectionRawMutex, (), 3> {
    DONE.send(())
}

/// A round begins holding the locks of `set`: fails the run if any of them has another holder.
pub fn enter(set: [usize; 2]) {
    for i in set {
        ensure!(INSIDE[i].fetch_add(1, SeqCst) == 0, "two holders");
    }
}

/// The round that [`enter`]ed `set` lets go of it.
pub fn leave(set: [usize; 2]) {
    for i in set {
        INSIDE[i].fetch_sub(1, SeqCst);
    }
}

/// A task's workload on the locks of `set`: [`ROUNDS`] rounds, each taking them with the future
/// `acquire` (an error is a timeout: it fails the run), holding them across one tick, and letting
/// go (the guard's drop); then [`done`]. A macro, not a generic `async fn`, so that the task
/// compiles to the loop as if written in it: a generic frame adds flash and RAM of its own.
#[macro_export]
macro_rules! rounds {
    ($set:expr, $acquire:expr) => {
        for _ in 0..$crate::size::ROUNDS {
            let Ok(guard) = $acquire.await else {
                $crate::fail(format_args!("timed out"));
            };
            $crate::size::enter($set);
            ::embassy_time::Timer::after_ticks(1).await;
            $crate::size::leave($set);
            drop(guard);
        }
        $crate::size::done().await;
    };
}
