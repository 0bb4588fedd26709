//! Instructions per uncontended acquire + release on the emulated MCU: lockorder with a built
//! manager and with a declared one (`hierarchy!`), with `EmbassyTimer` (whose `now()` stamps
//! each holding for status) and without a timer, against an embassy-sync mutex.
//!
//! QEMU does not emulate the DWT cycle counter, but under `-icount` its virtual clock advances
//! by a fixed time per instruction, and SysTick counts that clock. So SysTick, free-running
//! with interrupts masked, counts instructions at a fixed rate, which a loop of known length
//! (`subs` + `bne`, two instructions a turn) measures. Each operation is timed over `N` turns,
//! less the same loop with nothing in it.
#![no_std]
#![no_main]

use core::future::Future;
use core::hint::black_box;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use cortex_m::peripheral::{syst::SystClkSource, SYST};
use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::mutex::Mutex;
use lockorder::{hierarchy, EmbassyTimer, LockManager, NoTimer};
use lockorder_firmware::{self as rt, ensure};
use panic_semihosting as _;

hierarchy! {
    static DECLARED: LockManager<EmbassyTimer> = EmbassyTimer::since_boot(),
        default_timeout = Duration::from_millis(100);
    const A = ("a", 10);
    const B = ("b", 20);
}

hierarchy! {
    static UNTIMED: LockManager<NoTimer> = NoTimer;
    const UA = ("a", 10);
    const UB = ("b", 20);
}

static MUTEXES: [Mutex<CriticalSectionRawMutex, ()>; 2] = [const { Mutex::new(()) }; 2];

/// Turns of each timed loop.
const N: u32 = 200;

/// Polls `f` once: it must be ready (an uncontended acquire is).
fn ready<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => rt::fail(format_args!("an uncontended acquire was not ready at once")),
    }
}

/// SysTick counts elapsed while `f` runs `N` times, with interrupts masked.
fn counts(mut f: impl FnMut()) -> u32 {
    critical_section::with(|_| {
        let start = SYST::get_current();
        for _ in 0..N {
            f();
        }
        start - SYST::get_current()
    })
}

/// SysTick counts per 1000 instructions, from a loop of `2 * turns` instructions.
fn counts_per_kilo_instruction() -> u32 {
    let turns: u32 = 100_000;
    let counts = critical_section::with(|_| {
        let start = SYST::get_current();
        // SAFETY: a register-only countdown loop; it touches no memory and leaves `r0` at 0.
        unsafe {
            core::arch::asm!(
                "2:",
                "subs {0}, #1",
                "bne 2b",
                inout(reg) turns => _,
                options(nomem, nostack),
            );
        }
        start - SYST::get_current()
    });
    (u64::from(counts) * 1000 / (2 * u64::from(turns))) as u32
}

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    rt::heap!(1024);
    // SysTick free-running over its whole 24 bits, without its interrupt: this firmware uses no
    // timer and runs no watchdog (QEMU's `timeout` ends a hang).
    // SAFETY: nothing else uses SysTick here.
    let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00ff_ffff);
    syst.clear_current();
    syst.enable_counter();

    rt::check("instructions");
    let per_kilo = counts_per_kilo_instruction();
    ensure!(per_kilo > 0, "SysTick does not count");
    let instructions = |c: u32| (u64::from(c) * 1000 / u64::from(per_kilo)) as f32 / N as f32;
    let empty = counts(|| black_box(()));
    let net = |c: u32| instructions(c.saturating_sub(empty));

    let mut b = LockManager::builder().timer(EmbassyTimer::new());
    let built = match b.register("a", 10).and_then(|b| b.register("b", 20)) {
        Ok(_) => b.build(),
        Err(e) => rt::fail(format_args!("{e}")),
    };
    let (ba, bb) = match (built.id("a"), built.id("b")) {
        (Ok(a), Ok(b)) => (a, b),
        _ => rt::fail(format_args!("ids")),
    };
    let built_one = counts(|| drop(black_box(ready(built.acquire([ba])))));
    let built_two = counts(|| drop(black_box(ready(built.acquire([ba, bb])))));
    let built_name = counts(|| drop(black_box(ready(built.acquire(["a"])))));
    let declared_one = counts(|| drop(black_box(ready(DECLARED.acquire([A])))));
    let declared_two = counts(|| drop(black_box(ready(DECLARED.acquire([A, B])))));
    let untimed_one = counts(|| drop(black_box(ready(UNTIMED.acquire([UA])))));
    let untimed_two = counts(|| drop(black_box(ready(UNTIMED.acquire([UA, UB])))));
    let declared_try = counts(|| drop(black_box(DECLARED.try_acquire([A]))));
    let mutex_one = counts(|| drop(black_box(ready(MUTEXES[0].lock()))));
    let mutex_two = counts(|| {
        let first = ready(MUTEXES[0].lock());
        let second = ready(MUTEXES[1].lock());
        drop(black_box(second));
        drop(black_box(first));
    });
    let mutex_try = counts(|| drop(black_box(MUTEXES[0].try_lock())));

    rt::note(format_args!(
        "instructions per uncontended acquire + release ({N} turns each, the empty turn taken \
         off; SysTick counts {per_kilo} per 1000 instructions):"
    ));
    rt::note(format_args!("| what | one lock | two locks |"));
    rt::note(format_args!("|---|---:|---:|"));
    let row = |what: &str, one: u32, two: Option<u32>| match two {
        Some(two) => rt::note(format_args!(
            "| {what} | {:.0} | {:.0} |",
            net(one),
            net(two)
        )),
        None => rt::note(format_args!("| {what} | {:.0} | |", net(one))),
    };
    row(
        "lockorder, built manager, by id",
        built_one,
        Some(built_two),
    );
    row("lockorder, built manager, by name", built_name, None);
    row(
        "lockorder, hierarchy!, by const id",
        declared_one,
        Some(declared_two),
    );
    row("lockorder, hierarchy!, try_acquire", declared_try, None);
    row(
        "lockorder, hierarchy! without a timer",
        untimed_one,
        Some(untimed_two),
    );
    row(
        "embassy-sync Mutex, lock().await",
        mutex_one,
        Some(mutex_two),
    );
    row("embassy-sync Mutex, try_lock", mutex_try, None);
    rt::pass(format_args!("measured"));
    rt::finish(1);
}
