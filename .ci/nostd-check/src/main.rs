//! Runs lockorder with no standard library: registration, try-acquire, an acquire polled with a
//! no-op waker, a wake-up on release, and a timeout on a `ManualTimer`. Exits 0 only if every
//! result is right; a wrong one exits with its check number.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use core::alloc::{GlobalAlloc, Layout};
use core::future::Future;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use lockorder::{Error, LockManager, ManualTimer};

// === The checks ===

fn checks() -> Result<(), u8> {
    let timer = ManualTimer::new();
    let mut b = LockManager::builder().timer(timer.clone());
    b.register("db", 20).map_err(|_| 1)?;
    b.register("config", 10).map_err(|_| 2)?;
    b.register("cache", 30).map_err(|_| 3)?;
    if !matches!(b.register("db", 40), Err(Error::DuplicateName { .. })) {
        return Err(4);
    }
    let m = b.build();
    let order: [u32; 3] = core::array::from_fn(|i| m.locks().nth(i).map_or(0, |l| l.order()));
    if order != [10, 20, 30] {
        return Err(5);
    }

    // try_acquire: all or nothing.
    let cache = m.try_acquire(["cache"]).map_err(|_| 6)?;
    match m.try_acquire(["db", "cache"]) {
        Err(Error::WouldBlock { lock }) if lock == "cache" => {}
        _ => return Err(7),
    }
    if m.is_locked("db") != Ok(false) {
        return Err(8);
    }

    // An acquire polled by hand with a no-op waker: pending while "cache" is held, holding "db".
    let mut cx = Context::from_waker(Waker::noop());
    let mut acquire = Box::pin(m.acquire(["cache", "db"]));
    if acquire.as_mut().poll(&mut cx).is_ready() || m.is_locked("db") != Ok(true) {
        return Err(9);
    }
    drop(cache);
    let mut guard = match acquire.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(guard)) => guard,
        _ => return Err(10),
    };
    if !(guard.holds("db") && guard.holds("cache")) {
        return Err(11);
    }

    // A timeout on virtual time: "config" is taken, then released when "db" never comes free.
    let mut waiting = Box::pin(
        m.acquire(["config", "db"])
            .timeout(Duration::from_millis(5)),
    );
    if waiting.as_mut().poll(&mut cx).is_ready() || m.is_locked("config") != Ok(true) {
        return Err(12);
    }
    timer.advance(Duration::from_millis(5));
    match waiting.as_mut().poll(&mut cx) {
        Poll::Ready(Err(Error::Timeout { lock })) if lock == "db" => {}
        _ => return Err(13),
    }
    if m.is_locked("config") != Ok(false) || timer.sleeps() != 1 {
        return Err(14);
    }

    // Nesting through the guard, and the order check.
    let mut inner = guard.try_acquire(["cache"]).map_err(|_| 15)?;
    if !matches!(
        inner.try_acquire(["config"]),
        Err(Error::OrderViolation { .. })
    ) {
        return Err(16);
    }
    drop(inner);
    drop(guard);
    if m.locks().any(|l| m.is_locked(l.id()) != Ok(false)) {
        return Err(17);
    }
    Ok(())
}

// The kernel enters `_start` with the stack 16-byte aligned, where a called function expects it
// 8 bytes off: realign, then call into Rust.
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym entry,
);

extern "C" fn entry() -> ! {
    match checks() {
        Ok(()) => {
            write(b"nostd-check: lockorder ran without std; all checks passed\n");
            exit(0)
        }
        Err(check) => {
            write(b"nostd-check: a check failed; the exit code is its number\n");
            exit(check.into())
        }
    }
}

// === The runtime a freestanding program supplies itself ===

/// A bump allocator over a static arena; memory is never reused (the program is short).
struct Bump;

const ARENA_SIZE: usize = 1 << 20;
static mut ARENA: [u8; ARENA_SIZE] = [0; ARENA_SIZE];
static USED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: `alloc` hands out disjoint, aligned ranges of `ARENA` (each range is claimed by one
// atomic update of `USED`) or null when it is full; `dealloc` does nothing, which is allowed.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Only the arena's address is taken: no reference to the `static mut` is created.
        let base = core::ptr::addr_of_mut!(ARENA) as usize;
        let mut used = USED.load(Ordering::Relaxed);
        loop {
            let start = (base + used).next_multiple_of(layout.align()) - base;
            let end = start + layout.size();
            if end > ARENA_SIZE {
                return core::ptr::null_mut();
            }
            match USED.compare_exchange_weak(used, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return (base + start) as *mut u8,
                Err(actual) => used = actual,
            }
        }
    }

    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static ALLOCATOR: Bump = Bump;

/// The program has one thread and no signal handlers: nothing can interrupt a critical section.
#[cfg(feature = "critical-section")]
struct SingleThread;

#[cfg(feature = "critical-section")]
critical_section::set_impl!(SingleThread);

// SAFETY: with one thread and no signal handlers, no other code runs while a critical section is
// open, so entering and leaving one needs no action and is still exclusive.
#[cfg(feature = "critical-section")]
unsafe impl critical_section::Impl for SingleThread {
    unsafe fn acquire() -> critical_section::RawRestoreState {}
    unsafe fn release(_: critical_section::RawRestoreState) {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    write(b"nostd-check: panicked\n");
    exit(101)
}

// The precompiled `core` and `alloc` of this target were built to unwind and refer to these two;
// with `panic = "abort"` nothing unwinds, so they are never called.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

#[no_mangle]
pub extern "C" fn _Unwind_Resume() -> ! {
    exit(102)
}

fn write(msg: &[u8]) {
    // SAFETY: write(2) on fd 1 reads `msg.len()` bytes from a valid slice and touches no memory
    // of ours; rcx and r11 are clobbered by `syscall`.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") 1isize => _,
            in("rdi") 1,
            in("rsi") msg.as_ptr(),
            in("rdx") msg.len(),
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: exit_group(2) ends the process; it never returns.
    unsafe {
        core::arch::asm!("syscall", in("rax") 231, in("rdi") code, options(noreturn, nostack));
    }
}
