//! The board support every firmware in this package shares: a SysTick time driver for
//! embassy-time, a watchdog that turns a hang into a failure, the heap, a software interrupt
//! to pend, and semihosting output whose exit status is the verdict.
//! [`size`] is the frame the size firmwares share.
//!
//! The boards are QEMU's `lm3s6965evb` (Cortex-M3, 12.5 MHz core clock in QEMU, 64K RAM) and,
//! built for `thumbv6m-none-eabi`, QEMU's `microbit` (nRF51, a Cortex-M0 without
//! compare-and-swap, 16 MHz, 16K RAM). Counters use `portable-atomic`, native on the M3 and
//! emulated with a critical section on the M0.
#![no_std]

use core::cell::{Cell, RefCell};
use core::fmt;
use core::task::Waker;
use portable_atomic::{AtomicBool, AtomicU32, Ordering};

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::scb::SystemHandler;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::debug;
use critical_section::Mutex;
use embassy_time_queue_utils::Queue;

pub mod size;

pub use cortex_m_semihosting::hprintln as println;
pub use embedded_alloc;

/// The core clock of QEMU's lm3s6965evb.
#[cfg(not(armv6m))]
const CORE_HZ: u32 = 12_500_000;
/// The core clock of QEMU's microbit (nRF51).
#[cfg(armv6m)]
const CORE_HZ: u32 = 16_000_000;

/// The heap a check firmware may give itself: the Cortex-M0's 16K of RAM hold the heap, the
/// tasks and the stacks.
#[cfg(not(armv6m))]
pub const CHECKS_HEAP: usize = 16 * 1024;
#[cfg(armv6m)]
pub const CHECKS_HEAP: usize = 3 * 1024;
/// Must match embassy-time's `tick-hz-1_000` feature.
const TICK_HZ: u32 = 1_000;

// === Time driver ===

/// embassy-time's driver: a 1 kHz SysTick counts ticks and wakes the timers that are due.
/// The timer queue is embassy's generic one, which takes any waker (the integrated queue only
/// takes the executor's own, and the interrupt check wraps a task's waker).
struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

impl embassy_time_driver::Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let now = self.ticks.borrow(cs).get();
            let mut queue = self.queue.borrow_ref_mut(cs);
            queue.schedule_wake(at, waker);
            if at <= now {
                queue.next_expiration(now);
            }
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

/// A function SysTick calls on every tick, after the timers (see [`on_tick`]).
static TICK_HOOK: Mutex<Cell<TickHook>> = Mutex::new(Cell::new(None));
type TickHook = Option<fn()>;

/// Has SysTick call `hook` on every tick, from the highest priority, at whatever point the
/// interrupted code is (`None`: no more).
pub fn on_tick(hook: TickHook) {
    critical_section::with(|cs| TICK_HOOK.borrow(cs).set(hook));
}

#[exception]
fn SysTick() {
    if let Some(hook) = critical_section::with(|cs| TICK_HOOK.borrow(cs).get()) {
        hook();
    }
    let now = critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        DRIVER.queue.borrow_ref_mut(cs).next_expiration(now);
        now
    });
    if now > u64::from(DEADLINE_MS.load(Ordering::Relaxed)) {
        let budget = BUDGET_MS.load(Ordering::Relaxed);
        if IN_TEST_IRQ.load(Ordering::Relaxed) {
            fail(format_args!(
                "stuck for {budget} ms (emulated), inside the interrupt handler, which never \
                 returned (at {now} ms)"
            ));
        }
        fail(format_args!(
            "stuck for {budget} ms (emulated): a deadlock or a lost wake-up (at {now} ms)"
        ));
    }
}

// === Start-up ===

/// The emulated time by which the running check must finish, and how long each check gets.
static DEADLINE_MS: AtomicU32 = AtomicU32::new(u32::MAX);
static BUDGET_MS: AtomicU32 = AtomicU32::new(u32::MAX);

/// Starts the 1 kHz SysTick and the watchdog, which fails the run when a check takes longer
/// than `budget_ms` of emulated time. SysTick gets the highest priority, so that the watchdog
/// still runs while an interrupt handler of lower priority spins.
pub fn init(budget_ms: u32) {
    BUDGET_MS.store(budget_ms, Ordering::Relaxed);
    DEADLINE_MS.store(budget_ms, Ordering::Relaxed);
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fail(format_args!("peripherals taken twice"));
    };
    // SAFETY: priorities are set before anything relies on them, outside any critical section.
    unsafe {
        p.SCB.set_priority(SystemHandler::SysTick, 0x00);
        p.NVIC.set_priority(TEST_IRQ, 0x80);
        p.NVIC.set_priority(HIGH_IRQ, 0x40);
    }
    p.SYST.set_clock_source(SystClkSource::Core);
    p.SYST.set_reload(CORE_HZ / TICK_HZ - 1);
    p.SYST.clear_current();
    p.SYST.enable_counter();
    p.SYST.enable_interrupt();
}

/// The global allocator; a firmware gives it memory with [`heap!`].
#[cfg(not(feature = "refuse-alloc"))]
#[global_allocator]
pub static HEAP: embedded_alloc::LlffHeap = embedded_alloc::LlffHeap::empty();

/// With the `refuse-alloc` feature, the global allocator refuses every allocation: an
/// allocation then ends the run with "memory allocation failed" (a panic, exit status 1).
#[cfg(feature = "refuse-alloc")]
#[global_allocator]
static REFUSE: Refuse = Refuse;

#[cfg(feature = "refuse-alloc")]
struct Refuse;

// SAFETY: `alloc` returns null, which `GlobalAlloc` allows (allocation failed); `dealloc` is
// never given a pointer, since nothing was ever allocated.
#[cfg(feature = "refuse-alloc")]
unsafe impl core::alloc::GlobalAlloc for Refuse {
    unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
}

/// Gives the heap `$size` bytes of RAM. Call once, first thing.
#[macro_export]
macro_rules! heap {
    ($size:expr) => {{
        use $crate::HEAP;
        // SAFETY: called once, before the first allocation.
        unsafe {
            $crate::embedded_alloc::init!(HEAP, $size);
        }
    }};
}

// === A software-triggered interrupt ===

/// A device interrupt number, pended by software through the NVIC.
#[derive(Debug, Clone, Copy)]
pub struct Irq(pub u16);

// SAFETY: 0 and 1 are valid device interrupts on the lm3s6965 (GPIO ports A and B) and on the
// nRF51 (POWER_CLOCK, RADIO); nothing else uses them.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// The interrupt the checks pend; it runs `DefaultHandler` with `irqn == 0`, at a priority
/// below SysTick's.
pub const TEST_IRQ: Irq = Irq(0);

/// The interrupt of a higher-priority executor (embassy's `InterruptExecutor`): above thread
/// mode and [`TEST_IRQ`], below SysTick. Device interrupt 1: GPIO port B on the lm3s6965,
/// RADIO on the nRF51, neither of which is used.
pub const HIGH_IRQ: Irq = Irq(1);

/// Lets [`TEST_IRQ`] through.
pub fn enable_test_irq() {
    // SAFETY: its handler is ready before any check pends it.
    unsafe { NVIC::unmask(TEST_IRQ) };
}

/// Set while [`TEST_IRQ`]'s handler runs (ARMv6-M has no register that tells whether an
/// interrupt is active): the firmware's handler wraps its work in [`in_test_irq`].
static IN_TEST_IRQ: AtomicBool = AtomicBool::new(false);

/// Runs `f` as the body of [`TEST_IRQ`]'s handler, so that the watchdog can tell a hang there.
pub fn in_test_irq<R>(f: impl FnOnce() -> R) -> R {
    IN_TEST_IRQ.store(true, Ordering::Relaxed);
    let r = f();
    IN_TEST_IRQ.store(false, Ordering::Relaxed);
    r
}

/// Pends [`TEST_IRQ`]: it runs at once, unless interrupts are masked (a critical section), in
/// which case it runs as soon as they are unmasked.
pub fn pend_test_irq() {
    NVIC::pend(TEST_IRQ);
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}

/// Whether interrupts are masked right now (inside a critical section).
pub fn interrupts_masked() -> bool {
    // PRIMASK set ("inactive" in cortex-m's terms) masks every interrupt of configurable priority.
    cortex_m::register::primask::read().is_inactive()
}

// === Verdicts ===

/// The check that is running, named in a failure.
static CHECK: Mutex<Cell<&'static str>> = Mutex::new(Cell::new("start-up"));
static PASSED: AtomicU32 = AtomicU32::new(0);

/// Starts the check `name`.
pub fn check(name: &'static str) {
    let now = embassy_time_driver::now();
    let deadline = now.saturating_add(u64::from(BUDGET_MS.load(Ordering::Relaxed)));
    DEADLINE_MS.store(
        u32::try_from(deadline).unwrap_or(u32::MAX),
        Ordering::Relaxed,
    );
    critical_section::with(|cs| CHECK.borrow(cs).set(name));
    println!("check {}", name);
}

/// The check that is running passed; `detail` says what was seen.
pub fn pass(detail: fmt::Arguments<'_>) {
    let name = critical_section::with(|cs| CHECK.borrow(cs).get());
    PASSED.fetch_add(1, Ordering::Relaxed);
    println!("ok {}: {}", name, detail);
}

/// Prints a line without affecting the verdict.
pub fn note(detail: fmt::Arguments<'_>) {
    println!("   {}", detail);
}

/// Fails the run: prints which check failed and why, and exits QEMU with status 1.
pub fn fail(why: fmt::Arguments<'_>) -> ! {
    let name = critical_section::with(|cs| CHECK.borrow(cs).get());
    println!("FAIL {}: {}", name, why);
    exit(false)
}

/// Ends the run: every check passed, and there were `expected` of them.
pub fn finish(expected: u32) -> ! {
    let passed = PASSED.load(Ordering::Relaxed);
    critical_section::with(|cs| CHECK.borrow(cs).set("finish"));
    if passed != expected {
        fail(format_args!("{passed} checks passed, expected {expected}"));
    }
    println!("{} passed, 0 failed", passed);
    exit(true)
}

fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Not reached under QEMU; on hardware without a debugger, stop here.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// `ensure!(condition, "why it failed {}", args)`: fails the running check unless it holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            $crate::fail(format_args!($($why)+));
        }
    };
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    fail(format_args!("hard fault: {frame:?}"))
}
