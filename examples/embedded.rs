//! lockorder the way an embedded application uses it: no runtime crate, a tiny single-threaded
//! executor written by hand, and a `Timer` over the device's clock. Here the clock is a
//! `ManualTimer`, moved forward when every task waits, where a microcontroller would sleep until
//! its timer interrupt. On a device, `EmbassyTimer` (feature `embassy-time`) or your own `Timer`
//! over a hardware counter takes its place.
//!
//! Run with `cargo run --example embedded`.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use lockorder::{Error, LockManager, ManualTimer, Timer};

/// A task's "ready to run" bit, set by its waker (on a device: from an interrupt handler).
struct Ready(AtomicBool);

impl Wake for Ready {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Polls each ready task; when none is ready, "sleeps" until the next timer deadline.
fn run(clock: &ManualTimer, tasks: &mut [Pin<&mut dyn Future<Output = ()>>]) {
    let ready: Vec<_> = tasks
        .iter()
        .map(|_| Arc::new(Ready(AtomicBool::new(true))))
        .collect();
    let wakers: Vec<Waker> = ready.iter().map(|r| Waker::from(r.clone())).collect();
    let mut done = vec![false; tasks.len()];
    while done.contains(&false) {
        let mut ran = false;
        for (i, task) in tasks.iter_mut().enumerate() {
            if !done[i] && ready[i].0.swap(false, Ordering::Acquire) {
                ran = true;
                done[i] = task
                    .as_mut()
                    .poll(&mut Context::from_waker(&wakers[i]))
                    .is_ready();
            }
        }
        if !ran {
            let next = clock
                .next_deadline()
                .expect("every task waits and no timer is set");
            clock.advance(next - clock.now());
        }
    }
}

fn main() -> Result<(), Error> {
    let clock = ManualTimer::new();
    let mut b = LockManager::builder()
        .timer(clock.clone())
        .default_timeout(Duration::from_millis(50));
    b.register_with("sensor", 10, "temperature sensor")?
        .register_with("bus", 20, "shared I2C bus")?
        .register_with("display", 30, "status display")?;
    let m = b.build();
    let t = |clock: &ManualTimer| format!("[{:>3} ms]", clock.now().as_millis());

    let sampler = async {
        for _ in 0..2 {
            let g = m.acquire(["bus", "sensor"]).owner("sampler").await.unwrap();
            println!("{} sampler: holds {:?}", t(&clock), names(&g));
            clock.sleep(Duration::from_millis(5)).await; // a slow conversion
        }
    };
    let ui = async {
        let g = m.acquire(["display", "bus"]).owner("ui").await.unwrap();
        println!("{} ui: holds {:?}", t(&clock), names(&g));
        clock.sleep(Duration::from_millis(3)).await;
    };
    let logger = async {
        // Too impatient: the sampler holds the bus longer than this.
        match m.acquire(["bus"]).timeout(Duration::from_millis(2)).await {
            Err(e) => println!("{} logger: {e}", t(&clock)),
            Ok(_) => println!("{} logger: got the bus at once", t(&clock)),
        }
        let g = m.acquire(["bus"]).owner("logger").await.unwrap();
        println!("{} logger: holds {:?}", t(&clock), names(&g));
    };

    let (mut sampler, mut ui, mut logger) = (pin!(sampler), pin!(ui), pin!(logger));
    run(
        &clock,
        &mut [sampler.as_mut(), ui.as_mut(), logger.as_mut()],
    );
    println!(
        "{} done; {} sleeps were created, all locks free: {}",
        t(&clock),
        clock.sleeps(),
        m.locks().all(|l| !m.is_locked(l.id()).unwrap_or(true))
    );
    Ok(())
}

fn names<'a>(g: &lockorder::Guard<'a, ManualTimer>) -> Vec<&'a str> {
    g.locks().map(|l| l.name()).collect()
}
