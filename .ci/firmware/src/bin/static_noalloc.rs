//! A hierarchy declared with `lockorder::hierarchy!` needs no allocator: this firmware's global
//! allocator refuses every allocation (built with the `refuse-alloc` feature, so that any
//! allocation ends the run with a failure), and it declares, looks up, acquires, nests, is
//! refused (`WouldBlock`, `OrderViolation`, a zero timeout's `Timeout`) and takes locks from an
//! interrupt handler. What does allocate, and is not done here: waiting for a busy lock
//! (a lock's waiter lists allocate their buffer), `status()` (a `Vec`), and the errors for bad
//! input that carry a `String` (an unknown name).
#![no_std]
#![no_main]

use core::time::Duration;

use embassy_executor::Spawner;
use lockorder::{hierarchy, EmbassyTimer, Error, LockManager};
use lockorder_firmware::{self as rt, ensure};
use panic_semihosting as _;
use portable_atomic::{AtomicU32, Ordering::SeqCst};

hierarchy! {
    /// The firmware's locks.
    static LOCKS: LockManager<EmbassyTimer> = EmbassyTimer::since_boot(),
        default_timeout = Duration::from_millis(100);
    /// Configuration.
    const CONFIG = ("config", 10, "configuration");
    /// The SPI bus.
    const BUS = ("bus", 20, "the SPI bus");
    /// The DMA channel.
    const DMA = ("dma", 30);
}

const CHECKS: u32 = 4;

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    rt::init(3_000);
    rt::enable_test_irq();

    rt::check("declared");
    let names = LOCKS.locks().map(|l| (l.name(), l.order()));
    ensure!(
        names.eq([("config", 10), ("bus", 20), ("dma", 30)]),
        "the declared locks are not config 10, bus 20, dma 30 in that order"
    );
    ensure!(
        LOCKS.id("bus") == Ok(BUS)
            && LOCKS.info(BUS).map(|i| i.description()) == Some("the SPI bus"),
        "name lookup or info of bus"
    );
    rt::pass(format_args!(
        "3 locks in a static, looked up by name and by const id"
    ));

    rt::check("uncontended");
    for round in 0..100 {
        let mut g = match LOCKS.acquire([BUS, CONFIG]).owner("task").await {
            Ok(g) => g,
            Err(e) => rt::fail(format_args!("round {round}: {e}")),
        };
        let inner = match g.acquire([BUS, DMA]).await {
            Ok(inner) => inner,
            Err(e) => rt::fail(format_args!("round {round}, nested: {e}")),
        };
        ensure!(
            inner.holds("config") && inner.holds("bus") && inner.holds("dma"),
            "round {round}: the nested guard does not cover all three"
        );
        drop(inner);
        ensure!(
            !LOCKS.is_locked(DMA).unwrap_or(true) && g.holds("bus"),
            "round {round}: dma outlived its nested guard, or bus went with it"
        );
        drop(g);
        let by_name = LOCKS.try_acquire_shared(["dma", "bus"]);
        ensure!(
            by_name.is_ok(),
            "round {round}: a shared [dma, bus] by name was refused"
        );
    }
    rt::pass(format_args!(
        "100 rounds of a set by ids, a nested set (bus reentrant, dma taken and given back) and a \
         shared set by names"
    ));

    rt::check("refusals");
    let mut held = match LOCKS.acquire([BUS]).await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    let busy = LOCKS.try_acquire([CONFIG, BUS]);
    ensure!(
        matches!(&busy, Err(Error::WouldBlock { lock }) if lock.name() == "bus"),
        "a try of [config, bus] with bus held gave {busy:?}"
    );
    ensure!(
        !LOCKS.is_locked(CONFIG).unwrap_or(true),
        "the refused try kept config"
    );
    let zero = LOCKS.acquire([BUS]).timeout(Duration::ZERO).await;
    ensure!(
        matches!(&zero, Err(Error::Timeout { lock }) if lock.name() == "bus"),
        "a zero timeout on the held bus gave {zero:?}"
    );
    let lower = held.acquire([CONFIG]).await;
    ensure!(
        matches!(&lower, Err(Error::OrderViolation { requested, held })
            if requested.name() == "config" && held.name() == "bus"),
        "config under bus gave {lower:?}"
    );
    drop(lower);
    if option_env!("NOALLOC_TEETH").is_some() {
        // CI's proof that the allocator refuses: waiting for the held bus makes its waiter
        // lists allocate their buffer, which must end the run.
        let waited = LOCKS.acquire([BUS]).timeout(Duration::from_millis(5)).await;
        rt::fail(format_args!(
            "a wait for a busy lock ({waited:?}) allocated nothing: the allocator does not refuse"
        ));
    }
    rt::pass(format_args!(
        "WouldBlock, a zero timeout's Timeout and OrderViolation, each naming its locks"
    ));

    rt::check("interrupt");
    rt::pend_test_irq();
    ensure!(
        IRQ_OUTCOME.load(SeqCst) == 0b11,
        "in the interrupt handler: outcome {:#b} (bit 0: bus refused, bit 1: dma taken)",
        IRQ_OUTCOME.load(SeqCst)
    );
    drop(held);
    ensure!(
        !LOCKS.is_locked(DMA).unwrap_or(true),
        "the handler's dma stayed held"
    );
    rt::pass(format_args!(
        "the handler's try_acquire was refused bus (held by the task) and took and gave back dma"
    ));
    rt::finish(CHECKS);
}

/// Bit 0: the handler was refused bus; bit 1: it took dma.
static IRQ_OUTCOME: AtomicU32 = AtomicU32::new(0);

#[cortex_m_rt::exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn != rt::TEST_IRQ.0 as i16 {
        rt::fail(format_args!("unexpected exception or interrupt {irqn}"));
    }
    rt::in_test_irq(|| {
        if matches!(LOCKS.try_acquire([BUS]), Err(Error::WouldBlock { .. })) {
            IRQ_OUTCOME.fetch_or(0b01, SeqCst);
        }
        if LOCKS.try_acquire([DMA]).is_ok() {
            IRQ_OUTCOME.fetch_or(0b10, SeqCst);
        }
    });
}
