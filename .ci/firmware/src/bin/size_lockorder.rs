//! Size: three tasks take overlapping pairs of three locks through lockorder, each acquire with
//! a 100 ms timeout, and check that no lock ever has two holders. Compare with `size_mutex`
//! (the same on embassy-sync mutexes) and `size_base` (no locks).
#![no_std]
#![no_main]

use core::time::Duration;

use embassy_executor::Spawner;
use lockorder::global::Global;
use lockorder::{EmbassyTimer, LockManager};
use lockorder_firmware::{self as rt, size, size::ROUNDS};
use panic_semihosting as _;

const NAMES: [&str; 3] = ["a", "b", "c"];
static LOCKS: Global<EmbassyTimer> = Global::new();

#[embassy_executor::task(pool_size = 3)]
async fn worker(m: &'static LockManager<EmbassyTimer>, set: [usize; 2]) {
    rt::rounds!(
        set,
        m.acquire([NAMES[set[0]], NAMES[set[1]]])
            .timeout(Duration::from_millis(100))
    );
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    rt::heap!(2048);
    size::start("size-lockorder");
    let built = LOCKS.get_or_try_init(|| {
        let mut b = LockManager::builder().timer(EmbassyTimer::new());
        for (order, name) in (10..).step_by(10).zip(NAMES) {
            b.register(name, order)?;
        }
        Ok(b.build())
    });
    let Ok(m) = built else {
        rt::fail(format_args!("registration failed"));
    };
    let manager = rt::HEAP.used();
    size::spawn(spawner, |set| worker(m, set));
    size::finished().await;
    rt::pass(format_args!(
        "3 tasks, {ROUNDS} rounds each; heap in use: {} bytes, manager {manager}",
        rt::HEAP.used()
    ));
    rt::finish(1);
}
