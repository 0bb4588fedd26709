//! Size: `size_lockorder`'s workload on a hierarchy declared with `lockorder::hierarchy!`: a
//! `static` manager built in const context, acquired by `const` ids, each acquire with a 100 ms
//! timeout (the manager's default). Nothing is registered, hashed or sorted; the heap only
//! serves the locks' waiter lists, which allocate their buffer at a lock's first wait.
#![no_std]
#![no_main]

use core::time::Duration;

use embassy_executor::Spawner;
use lockorder::{hierarchy, EmbassyTimer, LockId, LockManager};
use lockorder_firmware::{self as rt, size, size::ROUNDS};
use panic_semihosting as _;

hierarchy! {
    static LOCKS: LockManager<EmbassyTimer> = EmbassyTimer::since_boot(),
        default_timeout = Duration::from_millis(100);
    const A = ("a", 10);
    const B = ("b", 20);
    const C = ("c", 30);
}

const IDS: [LockId; 3] = [A, B, C];

#[embassy_executor::task(pool_size = 3)]
async fn worker(set: [usize; 2]) {
    rt::rounds!(set, LOCKS.acquire([IDS[set[0]], IDS[set[1]]]));
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    rt::heap!(2048);
    size::start("size-static");
    size::spawn(spawner, worker);
    size::finished().await;
    rt::pass(format_args!(
        "3 tasks, {ROUNDS} rounds each; heap in use: {} bytes; an acquire future: {} bytes, a \
         guard: {} bytes",
        rt::HEAP.used(),
        size_of::<lockorder::futures::Acquire<'static, EmbassyTimer>>(),
        size_of::<lockorder::Guard<'static, EmbassyTimer>>(),
    ));
    rt::finish(1);
}
