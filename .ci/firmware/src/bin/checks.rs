//! lockorder on an emulated Cortex-M3: each check prints `ok NAME: what was seen`, and the
//! first one that fails prints `FAIL NAME: why` and exits QEMU with status 1. A hang is a
//! failure too: the SysTick watchdog ends the run.
//!
//! Locks, in order: a 10, b 20, c 30, d 40, dma 50, bus 60.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use core::cell::{Cell, RefCell};
use core::future::{poll_fn, Future};
use core::pin::{pin, Pin};
use core::ptr;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use core::time::Duration;
use portable_atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering::SeqCst};

use critical_section::Mutex;
use embassy_executor::{InterruptExecutor, Spawner};
use embassy_futures::join::join;
use embassy_futures::select::{select, Either};
use embassy_futures::yield_now;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::signal::Signal;
use embassy_time::{with_timeout, Instant, Timer};
use lockorder::global::Global;
use lockorder::{EmbassyTimer, Error, Guard, LockManager, Mode};
use lockorder_firmware::{self as rt, ensure};
use panic_semihosting as _;

type Locks = LockManager<EmbassyTimer>;

/// In a `static`, so that the interrupt handler reaches it too.
static LOCKS: Global<EmbassyTimer> = Global::new();

const TABLE: [(&str, u32); 6] = [
    ("a", 10),
    ("b", 20),
    ("c", 30),
    ("d", 40),
    ("dma", 50),
    ("bus", 60),
];

/// How many `ok` lines a green run prints.
const CHECKS: u32 = 19;

fn locks() -> &'static Locks {
    match LOCKS.get() {
        Some(m) => m,
        None => rt::fail(format_args!("the manager is used before it is built")),
    }
}

fn is_locked(m: &Locks, name: &str) -> bool {
    match m.is_locked(name) {
        Ok(locked) => locked,
        Err(e) => rt::fail(format_args!("is_locked({name}): {e}")),
    }
}

fn ticks_since(start: Instant) -> u64 {
    start.elapsed().as_ticks()
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    rt::heap!(rt::CHECKS_HEAP);
    rt::init(3_000);
    rt::enable_test_irq();

    rt::check("build");
    let before = rt::HEAP.used();
    let built = LOCKS.get_or_try_init(|| {
        let mut b = LockManager::builder()
            .timer(EmbassyTimer::new())
            .default_timeout(Duration::from_secs(1));
        for (name, order) in TABLE {
            b.register(name, order)?;
        }
        Ok(b.build())
    });
    let m = match built {
        Ok(m) => m,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    ensure!(m.len() == TABLE.len(), "{} locks registered", m.len());
    let built = rt::HEAP.used();
    rt::pass(format_args!(
        "{} locks registered; the frozen manager uses {} bytes of heap",
        m.len(),
        built - before
    ));

    no_allocation(m).await;
    ordering(spawner, m).await;
    hand_off(spawner, m).await;
    conflicting_orders(m).await;
    timeout(m).await;
    default_timeout(m).await;
    nesting(m).await;
    cancel_on_timer(m).await;
    cancel_passes_wake_up(spawner, m).await;
    readers_together(spawner, m).await;
    shared_exclusion(spawner, m).await;
    writer_preference(spawner, m).await;
    mixed_mode_set(spawner, m).await;
    upgrade_refused(m).await;
    interrupt_try_acquire(m).await;
    interrupt_releases_into_waiting_task(m).await;
    preemption(m).await;

    no_leak(m, built).await;

    rt::finish(CHECKS);
}

// === The uncontended path allocates nothing ===

async fn no_allocation(m: &'static Locks) {
    rt::check("no-allocation");
    let before = rt::HEAP.used();
    for _ in 0..10 {
        let Ok(mut g) = m.acquire(["c", "a"]).owner("task").await else {
            rt::fail(format_args!("acquire of free locks failed"));
        };
        let inner = g.try_acquire(["d"]);
        ensure!(
            inner.is_ok() && rt::HEAP.used() == before,
            "an uncontended acquire holds {} bytes of heap",
            rt::HEAP.used() - before
        );
    }
    ensure!(
        rt::HEAP.used() == before,
        "uncontended acquires left {} bytes on the heap",
        rt::HEAP.used() - before
    );
    rt::pass(format_args!(
        "10 uncontended acquires of [c, a] with a nested [d], each holding: no heap allocated"
    ));
}

// === Waiting allocates, and gives it all back ===

/// Waiting allocates: a lock's waiter lists allocate their buffer the first time it is waited
/// for, and grow it to the most waiters it has had at once (and keep it); a wait itself allocates
/// nothing. After the first round of checks,
/// a second round of waits, timeouts and cancellations must give back everything it allocated.
async fn no_leak(m: &'static Locks, built: usize) {
    rt::check("no-leak");
    let warm = rt::HEAP.used();
    for round in 0..5 {
        let held = match m.acquire(["c"]).await {
            Ok(g) => g,
            Err(e) => rt::fail(format_args!("{e}")),
        };
        let timed_out = m
            .acquire(["b", "c"])
            .timeout(Duration::from_millis(5))
            .await;
        ensure!(timed_out.is_err(), "round {round}: [b, c] did not time out");
        let cancelled = select(m.acquire(["b", "c"]).no_timeout(), Timer::after_millis(5)).await;
        ensure!(
            cancelled.is_second(),
            "round {round}: [b, c] was not cancelled"
        );
        let (cancelled, second) = join(
            select(m.acquire(["b", "c"]).no_timeout(), async {
                Timer::after_millis(5).await;
                drop(held);
            }),
            async {
                yield_now().await;
                m.acquire(["c"])
                    .timeout(Duration::from_millis(100))
                    .await
                    .is_ok()
            },
        )
        .await;
        ensure!(
            cancelled.is_second() && second,
            "round {round}: the wake-up of the cancelled acquire did not reach the second waiter"
        );
    }
    let after = rt::HEAP.used();
    ensure!(
        after == warm,
        "5 rounds of waits, timeouts and cancellations left {} bytes on the heap",
        after as isize - warm as isize
    );
    rt::pass(format_args!(
        "5 more rounds of waits, timeouts and cancellations left the heap as they found it; \
         the checks before grew it once by {} bytes: the locks' waiter lists, which allocate \
         their buffer at a lock's first wait",
        warm - built
    ));
}

// === Several tasks, overlapping sets, conflicting request orders ===

/// Each worker asks for its set in this order; they conflict pairwise (a<b<c against c>b>a,
/// d>a against b<d, ...), and every set overlaps another.
const SETS: [&[&str]; 4] = [&["a", "b", "c"], &["c", "b", "a"], &["d", "a"], &["b", "d"]];
const ROUNDS: u32 = 40;

/// How many tasks are inside each of a, b, c, d right now: never more than one.
static INSIDE: [AtomicU32; 4] = [
    AtomicU32::new(0),
    AtomicU32::new(0),
    AtomicU32::new(0),
    AtomicU32::new(0),
];
/// Acquisitions that found a lock busy and had to wait.
static WAITED: AtomicU32 = AtomicU32::new(0);
/// Which worker took its set last, and how often that changed.
static LAST_HOLDER: AtomicU32 = AtomicU32::new(u32::MAX);
static HANDOFFS: AtomicU32 = AtomicU32::new(0);
/// How many times in a row the last holder took its set while another worker, whose set
/// overlaps it, was waiting; and the most seen.
static RUN: AtomicU32 = AtomicU32::new(0);
static LONGEST_RUN: AtomicU32 = AtomicU32::new(0);
/// Which workers wait for their set right now, and how many holdings of overlapping sets by
/// others each has seen while it waited.
static WAITING: [AtomicBool; 4] = [const { AtomicBool::new(false) }; 4];
static OVERTAKEN: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
/// The longest wait, in holdings by others: (holdings, worker, round).
static LONGEST_WAIT: Mutex<Cell<(u32, usize, u32)>> = Mutex::new(Cell::new((0, 0, 0)));
static FINISHED: Channel<CriticalSectionRawMutex, usize, 4> = Channel::new();

fn overlaps(a: &[&str], b: &[&str]) -> bool {
    a.iter().any(|name| b.contains(name))
}

fn inside(name: &str) -> &'static AtomicU32 {
    match name {
        "a" => &INSIDE[0],
        "b" => &INSIDE[1],
        "c" => &INSIDE[2],
        "d" => &INSIDE[3],
        _ => rt::fail(format_args!("no counter for {name}")),
    }
}

#[embassy_executor::task(pool_size = 4)]
async fn worker(m: &'static Locks, id: usize) {
    let set = SETS[id];
    for round in 0..ROUNDS {
        let guard = match m.try_acquire(set) {
            Ok(guard) => guard,
            Err(Error::WouldBlock { .. }) => {
                WAITED.fetch_add(1, SeqCst);
                WAITING[id].store(true, SeqCst);
                let guard = match m.acquire(set).owner("worker").await {
                    Ok(guard) => guard,
                    Err(e) => rt::fail(format_args!("worker {id}, round {round}: {e}")),
                };
                WAITING[id].store(false, SeqCst);
                let overtaken = OVERTAKEN[id].swap(0, SeqCst);
                critical_section::with(|cs| {
                    let longest = LONGEST_WAIT.borrow(cs);
                    if overtaken > longest.get().0 {
                        longest.set((overtaken, id, round));
                    }
                });
                guard
            }
            Err(e) => rt::fail(format_args!("worker {id}, round {round}: {e}")),
        };
        let mut someone_waits = false;
        for other in (0..SETS.len()).filter(|&other| other != id) {
            if WAITING[other].load(SeqCst) && overlaps(SETS[other], set) {
                someone_waits = true;
                OVERTAKEN[other].fetch_add(1, SeqCst);
            }
        }
        let previous = LAST_HOLDER.swap(id as u32, SeqCst);
        if previous != id as u32 {
            HANDOFFS.fetch_add(1, SeqCst);
        }
        let run = if previous == id as u32 && someone_waits {
            RUN.fetch_add(1, SeqCst) + 1
        } else {
            RUN.store(1, SeqCst);
            1
        };
        LONGEST_RUN.fetch_max(run, SeqCst);
        ensure!(
            run <= 2,
            "worker {id}, round {round}: took its set {run} times in a row while a task with an \
             overlapping set waited: no hand-off"
        );
        for name in set {
            ensure!(
                guard.holds(*name),
                "worker {id}: the guard does not cover {name}"
            );
            let others = inside(name).fetch_add(1, SeqCst);
            ensure!(
                others == 0,
                "worker {id}, round {round}: {name} is held by another task too"
            );
        }
        // Hold for two or three ticks, so that the others run into the held locks. At least
        // two: a one-tick hold can end at the very next SysTick, which may come between the
        // wake-up of the waiter this holding passed over and that waiter's poll; the executor
        // then polls this task first (its run queue is a stack), and the waiter has not yet
        // been refused, so it has not reserved the lock. That happened on the slower Cortex-M0.
        Timer::after_ticks(2 + (round as u64 + id as u64) % 2).await;
        for name in set {
            inside(name).fetch_sub(1, SeqCst);
        }
        // Ask again at once: the waiter this release woke has not run yet, so the next try
        // comes first. It may take the locks once; the waiter it passed over then gets the
        // next turn (bounded waiting), which `run <= 2` above requires.
        drop(guard);
    }
    FINISHED.send(id).await;
}

async fn ordering(spawner: Spawner, m: &'static Locks) {
    rt::check("ordering");
    let start = Instant::now();
    for id in 0..SETS.len() {
        match worker(m, id) {
            Ok(token) => spawner.spawn(token),
            Err(e) => rt::fail(format_args!("spawn worker {id}: {e}")),
        }
    }
    for _ in 0..SETS.len() {
        FINISHED.receive().await;
    }
    let waited = WAITED.load(SeqCst);
    let total = ROUNDS * SETS.len() as u32;
    let handoffs = HANDOFFS.load(SeqCst);
    ensure!(
        waited >= total / 4 && handoffs >= total / 4,
        "only {waited} of {total} acquisitions met a busy lock and the holder changed \
         {handoffs} times: the tasks hardly contended, so the check proved little"
    );
    for name in ["a", "b", "c", "d"] {
        ensure!(
            !is_locked(m, name),
            "{name} is still held after every worker finished"
        );
    }
    let (longest, who, round) = critical_section::with(|cs| LONGEST_WAIT.borrow(cs).get());
    rt::pass(format_args!(
        "{} tasks took [a,b,c], [c,b,a], [d,a], [b,d] {ROUNDS} times each, asking again at once: \
         {total} acquisitions, {waited} of them waited for a busy lock, the holder changed \
         {handoffs} times, and no task took its set more than {} times in a row while an \
         overlapping one waited; never two holders of a lock, no deadlock, no timeout ({} ms). \
         Longest wait: worker {who}, round {round}, while others took overlapping sets {longest} \
         times",
        SETS.len(),
        LONGEST_RUN.load(SeqCst),
        ticks_since(start)
    ));
}

// === Hand-off: a waiter passed over by a newcomer gets the next turn ===
// (The policy checked here: rows L2, T3, R1 and T7 of the hand-off table in src/handoff.rs.)

const CONTENDER_ROUNDS: u32 = 10;
const NOBODY: u32 = u32::MAX;

/// Holdings of `a` in the hand-off check, in order, as contender numbers.
static TAKES: Mutex<RefCell<([u8; 32], usize)>> = Mutex::new(RefCell::new(([0; 32], 0)));
/// Contenders that were woken for `a` and found it taken since they last held it.
static PASSED_OVER: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];
static PASS_OVERS: AtomicU32 = AtomicU32::new(0);
/// The first holding that went to someone else than a passed-over contender, as
/// (taker, passed over, holding number); `NOBODY` when there was none.
static SKIPPED: Mutex<Cell<(u32, u32, usize)>> = Mutex::new(Cell::new((NOBODY, NOBODY, 0)));
static CONTENDED: Channel<CriticalSectionRawMutex, usize, 3> = Channel::new();

/// Takes `a` for a tick, `CONTENDER_ROUNDS` times, asking again right after each release: a
/// try first, then an acquire without timeout, whose polls it counts. The acquire's first poll
/// starts listening; every later poll that returns `Pending` followed a wake-up for `a` (the
/// task awaits nothing else), so the contender was woken and found `a` taken: passed over.
#[embassy_executor::task(pool_size = 3)]
async fn contender(m: &'static Locks, id: usize) {
    for round in 0..CONTENDER_ROUNDS {
        let guard = match m.try_acquire(["a"]) {
            Ok(guard) => guard,
            Err(Error::WouldBlock { .. }) => {
                let mut acquire = pin!(m.acquire(["a"]).no_timeout().owner("contender"));
                let mut polls = 0;
                let acquired = poll_fn(|cx| {
                    let poll = acquire.as_mut().poll(cx);
                    if poll.is_pending() {
                        if polls > 0 {
                            PASSED_OVER[id].store(true, SeqCst);
                            PASS_OVERS.fetch_add(1, SeqCst);
                        }
                        polls += 1;
                    }
                    poll
                })
                .await;
                match acquired {
                    Ok(guard) => guard,
                    Err(e) => rt::fail(format_args!("contender {id}, round {round}: {e}")),
                }
            }
            Err(e) => rt::fail(format_args!("contender {id}, round {round}: {e}")),
        };
        let holding = critical_section::with(|cs| {
            let mut takes = TAKES.borrow_ref_mut(cs);
            let (log, len) = &mut *takes;
            if let Some(slot) = log.get_mut(*len) {
                *slot = id as u8;
            }
            *len += 1;
            *len
        });
        PASSED_OVER[id].store(false, SeqCst);
        for other in 0..PASSED_OVER.len() {
            if PASSED_OVER[other].load(SeqCst) {
                critical_section::with(|cs| {
                    let skipped = SKIPPED.borrow(cs);
                    if skipped.get().0 == NOBODY {
                        skipped.set((id as u32, other as u32, holding));
                    }
                });
            }
        }
        Timer::after_ticks(1).await;
        drop(guard);
    }
    CONTENDED.send(id).await;
}

/// Runs `count` contenders on `a`; returns the holdings in order (as letters, contender 0 is
/// `A`), how many times a contender was passed over, and the first holding that skipped a
/// passed-over contender.
async fn contend(
    spawner: Spawner,
    m: &'static Locks,
    count: usize,
) -> (alloc::string::String, u32, Option<(u32, u32, usize)>) {
    critical_section::with(|cs| {
        *TAKES.borrow_ref_mut(cs) = ([0; 32], 0);
        SKIPPED.borrow(cs).set((NOBODY, NOBODY, 0));
    });
    PASS_OVERS.store(0, SeqCst);
    for id in 0..count {
        PASSED_OVER[id].store(false, SeqCst);
        match contender(m, id) {
            Ok(token) => spawner.spawn(token),
            Err(e) => rt::fail(format_args!("spawn contender {id}: {e}")),
        }
    }
    for _ in 0..count {
        CONTENDED.receive().await;
    }
    let (log, len) = critical_section::with(|cs| *TAKES.borrow_ref(cs));
    ensure!(
        len == count * CONTENDER_ROUNDS as usize,
        "{len} holdings of a, expected {}",
        count * CONTENDER_ROUNDS as usize
    );
    let order = log[..len].iter().map(|&id| char::from(b'A' + id)).collect();
    let skipped = critical_section::with(|cs| SKIPPED.borrow(cs).get());
    let skipped = (skipped.0 != NOBODY).then_some(skipped);
    (order, PASS_OVERS.load(SeqCst), skipped)
}

async fn hand_off(spawner: Spawner, m: &'static Locks) {
    rt::check("hand-off");
    // Two tasks, then three: each passed-over waiter must get the next holding, also with
    // another waiter queued (the lock's reservation, not its place in the queues, decides).
    let mut seen: [(alloc::string::String, u32); 2] = Default::default();
    for (count, seen) in [2, 3].into_iter().zip(&mut seen) {
        let (order, passed, skipped) = contend(spawner, m, count).await;
        ensure!(
            passed > 0,
            "{count} tasks on a ({order}): no waiter was ever passed over, so the check proved \
             nothing"
        );
        if let Some((taker, over, holding)) = skipped {
            let over = char::from(b'A' + over as u8);
            let first = order.find(over).map_or(0, |at| at + 1);
            rt::fail(format_args!(
                "{count} tasks on a ({order}): holding {holding} went to {} although {over} had \
                 been woken for a and passed over; waiters were passed over {passed} times in \
                 all, and {over} first held a at holding {first} of {}",
                char::from(b'A' + taker as u8),
                order.len()
            ));
        }
        *seen = (order, passed);
    }
    let [(two, passed2), (three, passed3)] = seen;
    queue_rearmed(m);
    rt::pass(format_args!(
        "tasks on a, each asking again right after its release: two tasks {two}, a waiter \
         passed over {passed2} times; three tasks {three}, a waiter passed over {passed3} times; \
         each time the passed-over waiter got the next holding; a waiter queued behind the \
         reservation was woken by the reserving waiter's release"
    ));
}

/// Set by the waker of [`queue_rearmed`]'s queued waiter.
static QUEUED_WOKEN: AtomicBool = AtomicBool::new(false);

static FLAG_VTABLE: RawWakerVTable =
    RawWakerVTable::new(flag_clone, flag_wake, flag_wake, flag_drop);

unsafe fn flag_clone(_: *const ()) -> RawWaker {
    RawWaker::new(ptr::null(), &FLAG_VTABLE)
}

unsafe fn flag_wake(_: *const ()) {
    QUEUED_WOKEN.store(true, SeqCst);
}

unsafe fn flag_drop(_: *const ()) {}

/// The same hand-off, polled by hand so that it does not depend on the executor's timing: a
/// holder releases `a` to the first of two waiters and takes it back at once; that waiter,
/// woken and refused, reserves `a` and gets the next holding. The releases during the
/// reservation cleared the queue's waiting bit, so the reserving waiter's take must set it
/// again: its release must then wake the second waiter, still queued.
fn queue_rearmed(m: &'static Locks) {
    let noop = Waker::noop();
    // SAFETY: the vtable's functions ignore the data pointer and only set a static flag.
    let flag = unsafe { Waker::from_raw(RawWaker::new(ptr::null(), &FLAG_VTABLE)) };
    let poll = |f: Pin<&mut dyn Future<Output = Result<Guard<'static, EmbassyTimer>, Error>>>,
                waker: &Waker| f.poll(&mut Context::from_waker(waker));
    let held = m.try_acquire(["a"]);
    ensure!(held.is_ok(), "a was not free for the queue check");
    let mut first = pin!(m.acquire(["a"]).no_timeout());
    let mut second = pin!(m.acquire(["a"]).no_timeout());
    ensure!(
        poll(first.as_mut(), noop).is_pending() && poll(second.as_mut(), &flag).is_pending(),
        "a waiter got the held a"
    );
    drop(held); // wakes the first waiter
    let again = m.try_acquire(["a"]); // a newcomer passes it over
    ensure!(
        again.is_ok(),
        "the releasing task could not take a back at once"
    );
    ensure!(
        poll(first.as_mut(), noop).is_pending(),
        "the first waiter got a while the newcomer held it"
    );
    drop(again); // the first waiter holds the reservation: only it is woken
    ensure!(
        m.try_acquire(["a"]).is_err(),
        "a newcomer took a although a waiter had reserved it"
    );
    let reserved = match poll(first.as_mut(), noop) {
        Poll::Ready(Ok(guard)) => guard,
        other => rt::fail(format_args!("the reserving waiter's poll gave {other:?}")),
    };
    QUEUED_WOKEN.store(false, SeqCst);
    drop(reserved);
    ensure!(
        QUEUED_WOKEN.load(SeqCst),
        "the reserving waiter's release did not wake the waiter queued behind it: its take did \
         not set the queue's waiting bit again"
    );
    let queued = poll(second.as_mut(), &flag);
    ensure!(
        matches!(queued, Poll::Ready(Ok(_))),
        "the queued waiter, woken, gave {queued:?}"
    );
}

// === The same conflicting orders on plain mutexes deadlock ===

static PLAIN_A: embassy_sync::mutex::Mutex<CriticalSectionRawMutex, ()> =
    embassy_sync::mutex::Mutex::new(());
static PLAIN_B: embassy_sync::mutex::Mutex<CriticalSectionRawMutex, ()> =
    embassy_sync::mutex::Mutex::new(());

async fn conflicting_orders(m: &'static Locks) {
    rt::check("conflicting-orders");
    let patience = embassy_time::Duration::from_millis(50);
    // Plain mutexes, each task taking its first lock, yielding, then asking for the second.
    // Each keeps its first lock until both are done, or the first to time out frees the other.
    let ((_a, first), (_b, second)) = join(
        async {
            let a = PLAIN_A.lock().await;
            yield_now().await;
            (a, with_timeout(patience, PLAIN_B.lock()).await.is_err())
        },
        async {
            let b = PLAIN_B.lock().await;
            yield_now().await;
            (b, with_timeout(patience, PLAIN_A.lock()).await.is_err())
        },
    )
    .await;
    drop((_a, _b));
    ensure!(
        first && second,
        "plain mutexes in these orders did not deadlock: the schedule tests nothing"
    );
    // The same schedule through lockorder: the out-of-order step is refused at once.
    let start = Instant::now();
    let (first, second) = join(
        async {
            let mut a = m.acquire(["a"]).await?;
            yield_now().await;
            let b = a.acquire(["b"]).await?;
            Ok::<_, Error>(b.holds("a") && b.holds("b"))
        },
        async {
            let mut b = m.acquire(["b"]).await?;
            yield_now().await;
            let refused = b.acquire(["a"]).await;
            Ok::<_, Error>(matches!(
                refused,
                Err(Error::OrderViolation { requested, held })
                    if requested.name() == "a" && held.name() == "b"
            ))
        },
    )
    .await;
    let took = ticks_since(start);
    ensure!(
        matches!((&first, &second), (Ok(true), Ok(true))),
        "lockorder, same schedule: {first:?}, {second:?}"
    );
    // And as sets, in the conflicting orders, both tasks get both locks.
    let (first, second) = join(
        async {
            let g = m.acquire(["a", "b"]).await?;
            yield_now().await;
            Ok::<_, Error>(g.holds("a") && g.holds("b"))
        },
        async {
            let g = m.acquire(["b", "a"]).await?;
            yield_now().await;
            Ok::<_, Error>(g.holds("a") && g.holds("b"))
        },
    )
    .await;
    ensure!(
        matches!((&first, &second), (Ok(true), Ok(true))),
        "lockorder sets [a,b] and [b,a]: {first:?}, {second:?}"
    );
    rt::pass(format_args!(
        "embassy-sync mutexes taken a-then-b and b-then-a deadlocked (both timed out after 50 \
         ms); through lockorder the b-then-a step was refused with OrderViolation at once and \
         the other task finished ({took} ms); the sets [a,b] and [b,a] both succeeded"
    ));
}

// === Timeouts on SysTick time ===

async fn timeout(m: &'static Locks) {
    rt::check("timeout");
    let held = match m.acquire(["c"]).owner("holder").await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    let start = Instant::now();
    // Polled by hand, so that the future still exists when it returns the error: the partial
    // set must be released by then, not only when the future is dropped.
    let mut acquire = pin!(m.acquire(["b", "c"]).timeout(Duration::from_millis(50)));
    let result = poll_fn(|cx| acquire.as_mut().poll(cx)).await;
    let waited = ticks_since(start);
    ensure!(
        matches!(&result, Err(Error::Timeout { lock }) if lock.name() == "c"),
        "a 50 ms timeout on [b, c] while c is held gave {result:?}"
    );
    ensure!(
        (50..=51).contains(&waited),
        "the 50 ms timeout fired after {waited} ms of SysTick time"
    );
    ensure!(
        !is_locked(m, "b"),
        "b, taken before the wait for c, is still held when Timeout is returned"
    );
    ensure!(
        is_locked(m, "c"),
        "c was released by someone else's timeout"
    );
    let long = m.long_held(Duration::from_millis(40));
    ensure!(
        long.len() == 1
            && long[0].lock.name() == "c"
            && long[0].held_for >= Duration::from_millis(50),
        "long_held(40 ms) after holding c for 50 ms: {long:?}"
    );
    let start = Instant::now();
    let once = m.acquire(["c"]).timeout(Duration::ZERO).await;
    let tried = ticks_since(start);
    ensure!(
        matches!(&once, Err(Error::Timeout { lock }) if lock.name() == "c") && tried == 0,
        "a zero timeout on a busy lock gave {once:?} after {tried} ms"
    );
    drop(held);
    ensure!(
        m.acquire(["c"]).timeout(Duration::ZERO).await.is_ok(),
        "a zero timeout on a free lock did not take it"
    );
    rt::pass(format_args!(
        "Timeout {{ lock: c }} after {waited} ms of SysTick time (asked 50), b released \
         first; long_held saw c held {} ms; a zero timeout tried once",
        long[0].held_for.as_millis()
    ));
}

async fn default_timeout(m: &'static Locks) {
    rt::check("default-timeout");
    let held = match m.try_acquire(["d"]) {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    let start = Instant::now();
    let result = m.acquire(["d"]).await;
    let waited = ticks_since(start);
    ensure!(
        matches!(&result, Err(Error::Timeout { lock }) if lock.name() == "d")
            && (1000..=1001).contains(&waited),
        "the builder's 1 s default timeout gave {result:?} after {waited} ms"
    );
    drop(held);
    rt::pass(format_args!(
        "a task waiting on itself got Timeout {{ lock: d }} after {waited} ms (default 1 s)"
    ));
}

// === Nesting ===

async fn nesting(m: &'static Locks) {
    rt::check("nesting");
    let mut outer = match m.acquire(["b"]).owner("outer").await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    match outer.acquire(["b", "c"]).await {
        Ok(inner) => {
            ensure!(
                inner.holds("b") && inner.holds("c") && is_locked(m, "c"),
                "the nested guard does not cover b and c"
            );
        }
        Err(e) => rt::fail(format_args!("nested [b, c] under b: {e}")),
    }
    ensure!(
        is_locked(m, "b") && !is_locked(m, "c"),
        "dropping the nested guard did not release exactly c"
    );
    {
        let refused = outer.acquire(["a"]).await;
        ensure!(
            matches!(&refused, Err(Error::OrderViolation { requested, held })
                if requested.name() == "a" && held.name() == "b"),
            "nested a under b gave {refused:?}"
        );
    }
    {
        let refused = outer.try_acquire(["d", "a"]);
        ensure!(
            matches!(&refused, Err(Error::OrderViolation { .. })),
            "nested try [d, a] under b gave {refused:?}"
        );
    }
    ensure!(
        !is_locked(m, "a") && !is_locked(m, "d"),
        "a refused nested request took a lock"
    );
    drop(outer);
    ensure!(
        !is_locked(m, "b"),
        "b is still held after its guard was dropped"
    );
    rt::pass(format_args!(
        "b then [b, c] nested: reentrant on b, c taken and given back alone; a under b refused \
         with OrderViolation {{ requested: a, held: b }}, taking nothing"
    ));
}

// === Cancellation ===

async fn cancel_on_timer(m: &'static Locks) {
    rt::check("cancel-on-timer");
    let held = match m.acquire(["c"]).await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    let start = Instant::now();
    match select(m.acquire(["b", "c"]).no_timeout(), Timer::after_millis(30)).await {
        Either::First(result) => rt::fail(format_args!("the acquire finished: {result:?}")),
        Either::Second(()) => {}
    }
    let waited = ticks_since(start);
    ensure!(!is_locked(m, "b"), "the cancelled acquire left b held");
    ensure!(is_locked(m, "c"), "c was released by the cancellation");
    drop(held);
    ensure!(
        m.try_acquire(["b", "c"]).is_ok(),
        "b and c cannot be taken after the holder and the cancelled acquire are gone"
    );
    rt::pass(format_args!(
        "an acquire of [b, c] waiting on c lost a select against a {waited} ms timer: b was \
         given back, c stayed with its holder"
    ));
}

static THIRD_GO: Signal<CriticalSectionRawMutex, ()> = Signal::new();
static THIRD_DONE: Signal<CriticalSectionRawMutex, u64> = Signal::new();

/// Queues for c behind the acquire that will be cancelled; it must get c without its timeout.
#[embassy_executor::task]
async fn third(m: &'static Locks) {
    THIRD_GO.wait().await;
    let start = Instant::now();
    match m
        .acquire(["c"])
        .timeout(Duration::from_millis(200))
        .owner("third")
        .await
    {
        Ok(g) => drop(g),
        Err(e) => rt::fail(format_args!(
            "the third task, queued behind the cancelled acquire, never got c ({e} after {} \
             ms): the cancelled acquire kept the wake-up",
            ticks_since(start)
        )),
    }
    THIRD_DONE.signal(ticks_since(start));
}

async fn cancel_passes_wake_up(spawner: Spawner, m: &'static Locks) {
    rt::check("cancel-passes-wake-up");
    let held = match m.acquire(["c"]).await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    match third(m) {
        Ok(token) => spawner.spawn(token),
        Err(e) => rt::fail(format_args!("spawn: {e}")),
    }
    // The acquire listens for c first, the third task second. The release wakes the acquire,
    // which the select then drops before it uses the wake-up.
    let release_later = async {
        THIRD_GO.signal(());
        Timer::after_millis(20).await;
        drop(held);
    };
    match select(m.acquire(["b", "c"]).no_timeout(), release_later).await {
        Either::First(result) => rt::fail(format_args!(
            "the acquire finished before its cancellation: {result:?}"
        )),
        Either::Second(()) => {}
    }
    ensure!(!is_locked(m, "b"), "the cancelled acquire left b held");
    let waited = THIRD_DONE.wait().await;
    ensure!(
        waited <= 21,
        "the third task got c only after {waited} ms (released at 20 ms)"
    );
    ensure!(!is_locked(m, "c"), "c is still held");
    rt::pass(format_args!(
        "the holder released c at 20 ms, waking the first waiter, which a select dropped \
         (releasing b); the third task, queued behind it, got c after {waited} ms"
    ));
}

// === Shared mode ===

/// How `m.status()` shows `name`: its mode and its number of readers.
fn shared_status(m: &Locks, name: &str) -> (Option<Mode>, u32) {
    match m.status().iter().find(|s| s.name == name) {
        Some(s) => (s.mode, s.readers),
        None => rt::fail(format_args!("no status for {name}")),
    }
}

/// Readers inside `b` right now, and the most seen at once.
static READERS_IN: AtomicU32 = AtomicU32::new(0);
static MOST_READERS: AtomicU32 = AtomicU32::new(0);
static READ: Channel<CriticalSectionRawMutex, usize, 3> = Channel::new();

/// Holds `b` shared for 10 ms.
#[embassy_executor::task(pool_size = 3)]
async fn reader(m: &'static Locks, id: usize) {
    let guard = match m.acquire_shared(["b"]).owner("reader").await {
        Ok(guard) => guard,
        Err(e) => rt::fail(format_args!("reader {id}: {e}")),
    };
    ensure!(
        guard.mode("b") == Some(Mode::Shared),
        "reader {id}: the guard holds b as {:?}",
        guard.mode("b")
    );
    let inside = READERS_IN.fetch_add(1, SeqCst) + 1;
    MOST_READERS.fetch_max(inside, SeqCst);
    Timer::after_millis(10).await;
    READERS_IN.fetch_sub(1, SeqCst);
    drop(guard);
    READ.send(id).await;
}

async fn readers_together(spawner: Spawner, m: &'static Locks) {
    rt::check("readers-together");
    let start = Instant::now();
    for id in 0..3 {
        match reader(m, id) {
            Ok(token) => spawner.spawn(token),
            Err(e) => rt::fail(format_args!("spawn reader {id}: {e}")),
        }
    }
    Timer::after_millis(5).await;
    let inside = READERS_IN.load(SeqCst);
    let (mode, readers) = shared_status(m, "b");
    ensure!(
        inside == 3 && mode == Some(Mode::Shared) && readers == 3,
        "5 ms after three readers started: {inside} inside b, status says {mode:?} with \
         {readers} readers"
    );
    let writer = m.try_acquire(["b"]);
    ensure!(
        matches!(&writer, Err(Error::WouldBlock { lock }) if lock.name() == "b"),
        "an exclusive try of b while three readers hold it gave {writer:?}"
    );
    match m.try_acquire_shared(["b"]) {
        Ok(fourth) => {
            let (_, readers) = shared_status(m, "b");
            ensure!(
                fourth.mode("b") == Some(Mode::Shared) && readers == 4,
                "a fourth reader joined, but status counts {readers} readers"
            );
        }
        Err(e) => rt::fail(format_args!(
            "a fourth reader's try_acquire_shared of b failed: {e}"
        )),
    }
    for _ in 0..3 {
        READ.receive().await;
    }
    let took = ticks_since(start);
    let most = MOST_READERS.load(SeqCst);
    ensure!(
        // Held one after another, the three holdings would take 30 ms; together, 10 ms plus
        // the time the readers take to start, which on the slower Cortex-M0 reached 14 ms.
        most == 3 && took < 20,
        "three readers holding b for 10 ms each: at most {most} inside at once, done after \
         {took} ms"
    );
    ensure!(!is_locked(m, "b"), "b is still held after the readers left");
    rt::pass(format_args!(
        "three tasks held b shared at once (status: Shared, 3 readers), a fourth joined by \
         try_acquire_shared while an exclusive try was refused (WouldBlock); the three 10 ms \
         holdings took {took} ms in all"
    ));
}

/// What a [`waiter`] asks for.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// `b` exclusive, 100 ms timeout.
    Writer,
    /// `[b, c]` shared, 100 ms timeout.
    Readers,
    /// `b` shared, 200 ms timeout.
    Reader,
}

/// What a [`waiter`] saw when its acquire returned.
#[derive(Debug, Clone, Copy)]
struct Waited {
    got: bool,
    /// Emulated ms since the start it was given.
    at: u64,
    /// `HOLDING` at that moment.
    holding: u32,
    /// How its guard holds b and c.
    modes: (Option<Mode>, Option<Mode>),
    /// How status shows b.
    b: (Option<Mode>, u32),
}

/// How many holdings of b the main task has that a [`waiter`] must wait for.
static HOLDING: AtomicU32 = AtomicU32::new(0);
static WAITER_DONE: Signal<CriticalSectionRawMutex, Waited> = Signal::new();

/// Waits in a task of its own, so that only a wake-up meant for it gets it polled again (a
/// future joined with others in one task is polled whenever any of them is woken).
#[embassy_executor::task(pool_size = 2)]
async fn waiter(m: &'static Locks, want: Want, start: Instant) {
    let acquired = match want {
        Want::Writer => m.acquire(["b"]).timeout(Duration::from_millis(100)),
        Want::Readers => m
            .acquire_shared(["b", "c"])
            .timeout(Duration::from_millis(100)),
        Want::Reader => m.acquire_shared(["b"]).timeout(Duration::from_millis(200)),
    }
    .owner("waiter")
    .await;
    let at = ticks_since(start);
    let holding = HOLDING.load(SeqCst);
    let b = shared_status(m, "b");
    let (got, modes) = match &acquired {
        Ok(g) => (true, (g.mode("b"), g.mode("c"))),
        Err(_) => (false, (None, None)),
    };
    drop(acquired);
    WAITER_DONE.signal(Waited {
        got,
        at,
        holding,
        modes,
        b,
    });
}

fn spawn_waiter(spawner: Spawner, m: &'static Locks, want: Want, start: Instant) {
    match waiter(m, want, start) {
        Ok(token) => spawner.spawn(token),
        Err(e) => rt::fail(format_args!("spawn waiter: {e}")),
    }
}

async fn shared_exclusion(spawner: Spawner, m: &'static Locks) {
    rt::check("shared-exclusion");
    // Two readers hold b: a writer waits until the last one has left.
    let first = match m.acquire_shared(["b"]).owner("first").await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    let second = match m.try_acquire_shared(["b"]) {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("a second reader of b: {e}")),
    };
    HOLDING.store(2, SeqCst);
    let busy = m.try_acquire(["b"]);
    ensure!(
        matches!(&busy, Err(Error::WouldBlock { lock }) if lock.name() == "b"),
        "an exclusive try of b while two readers hold it gave {busy:?}"
    );
    let start = Instant::now();
    spawn_waiter(spawner, m, Want::Writer, start);
    Timer::after_millis(10).await;
    HOLDING.store(1, SeqCst);
    drop(first);
    Timer::after_millis(10).await;
    HOLDING.store(0, SeqCst);
    drop(second);
    let waited = WAITER_DONE.wait().await;
    ensure!(
        waited.got
            && waited.holding == 0
            && (20..=21).contains(&waited.at)
            && waited.modes.0 == Some(Mode::Exclusive)
            && waited.b == (Some(Mode::Exclusive), 0),
        "a writer waiting for two readers of b (leaving at 10 and 20 ms): {waited:?}"
    );
    let writer_at = waited.at;
    // A writer holds b: readers wait until it leaves.
    let writer = match m.acquire(["b"]).owner("writer").await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    HOLDING.store(1, SeqCst);
    let refused = m.try_acquire_shared(["b"]);
    ensure!(
        matches!(&refused, Err(Error::WouldBlock { lock }) if lock.name() == "b"),
        "try_acquire_shared of b while a writer holds it gave {refused:?}"
    );
    let start = Instant::now();
    spawn_waiter(spawner, m, Want::Readers, start);
    Timer::after_ticks(1).await;
    ensure!(
        !is_locked(m, "c"),
        "a reader of [b, c] waiting for b took c, above it"
    );
    Timer::after_millis(9).await;
    HOLDING.store(0, SeqCst);
    drop(writer);
    let reader = WAITER_DONE.wait().await;
    ensure!(
        reader.got
            && reader.holding == 0
            && (10..=11).contains(&reader.at)
            && reader.modes == (Some(Mode::Shared), Some(Mode::Shared))
            && reader.b == (Some(Mode::Shared), 1),
        "a reader of [b, c] waiting for the writer of b (leaving at 10 ms): {reader:?}"
    );
    ensure!(
        !is_locked(m, "b") && !is_locked(m, "c"),
        "b or c is still held"
    );
    rt::pass(format_args!(
        "with two readers in b an exclusive try was refused and a writer's task waited until \
         the second left ({} ms); with the writer in, try_acquire_shared was refused and a \
         reader of [b, c] waited, holding nothing, until it left ({} ms)",
        writer_at, reader.at
    ));
}

/// Once a writer has queued for b, which is held shared: a new reader's try is refused, and a
/// reader's task starts waiting behind the writer.
async fn reader_behind_waiting_writer(spawner: Spawner, m: &'static Locks, start: Instant) {
    yield_now().await;
    let tried = m.try_acquire_shared(["b"]);
    ensure!(
        matches!(&tried, Err(Error::WouldBlock { lock }) if lock.name() == "b"),
        "with a writer waiting for b, held shared, try_acquire_shared gave {tried:?}"
    );
    spawn_waiter(spawner, m, Want::Reader, start);
}

async fn writer_preference(spawner: Spawner, m: &'static Locks) {
    rt::check("writer-preference");
    let reader = match m.acquire_shared(["b"]).owner("reader").await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    HOLDING.store(1, SeqCst);
    // A writer waits for b (held shared): a new reader yields to it, until it times out.
    let start = Instant::now();
    let (writer, ()) = join(
        m.acquire(["b"])
            .timeout(Duration::from_millis(30))
            .owner("writer"),
        reader_behind_waiting_writer(spawner, m, start),
    )
    .await;
    ensure!(
        matches!(&writer, Err(Error::Timeout { lock }) if lock.name() == "b"),
        "the writer waiting for b, held shared, gave {writer:?} (timeout 30 ms)"
    );
    let late = WAITER_DONE.wait().await;
    ensure!(
        late.got && (30..=31).contains(&late.at) && late.b == (Some(Mode::Shared), 2),
        "a reader that yielded to a writer waiting for b, which timed out at 30 ms: {late:?}"
    );
    // The same with a writer cancelled by a select against a timer.
    let start = Instant::now();
    let (cancelled, ()) = join(
        select(m.acquire(["b"]).no_timeout(), Timer::after_millis(30)),
        reader_behind_waiting_writer(spawner, m, start),
    )
    .await;
    ensure!(
        cancelled.is_second(),
        "the writer waiting for b was not cancelled"
    );
    let rejoined = WAITER_DONE.wait().await;
    ensure!(
        rejoined.got && (30..=31).contains(&rejoined.at) && rejoined.b == (Some(Mode::Shared), 2),
        "a reader that yielded to a writer waiting for b, cancelled at 30 ms: {rejoined:?}"
    );
    let again = m.try_acquire_shared(["b"]);
    ensure!(
        again.is_ok(),
        "with no writer waiting any more, try_acquire_shared of b gave {again:?}"
    );
    drop(again);
    HOLDING.store(0, SeqCst);
    drop(reader);
    ensure!(!is_locked(m, "b"), "b is still held");
    rt::pass(format_args!(
        "while a writer waited for b (held shared), try_acquire_shared was refused and a new \
         reader's task waited; when the writer timed out ({} ms) and when another was cancelled \
         by a select ({} ms), that reader got in at once, beside the first",
        late.at, rejoined.at
    ));
}

/// The mixed-mode sets the mixers take, as (exclusive, shared), listed against the order.
const MIXES: [(&[&str], &[&str]); 4] = [
    (&["c"], &["b", "a"]),
    (&[], &["c", "a"]),
    (&["a"], &["c"]),
    (&["d"], &["b"]),
];
const MIX_ROUNDS: u32 = 20;
/// Per lock a, b, c, d: writers and readers inside, and the most readers seen at once.
static WRITERS: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
static READERS: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
static MOST_SHARED: AtomicU32 = AtomicU32::new(0);
static MIX_WAITED: AtomicU32 = AtomicU32::new(0);
static MIXED: Channel<CriticalSectionRawMutex, usize, 4> = Channel::new();

fn lock_number(name: &str) -> usize {
    match name {
        "a" => 0,
        "b" => 1,
        "c" => 2,
        "d" => 3,
        _ => rt::fail(format_args!("no counter for {name}")),
    }
}

#[embassy_executor::task(pool_size = 4)]
async fn mixer(m: &'static Locks, id: usize) {
    let (exclusive, shared) = MIXES[id];
    for round in 0..MIX_ROUNDS {
        let guard = match m.acquire(exclusive).shared(shared).try_now() {
            Ok(guard) => guard,
            Err(Error::WouldBlock { .. }) => {
                MIX_WAITED.fetch_add(1, SeqCst);
                match m.acquire(exclusive).shared(shared).owner("mixer").await {
                    Ok(guard) => guard,
                    Err(e) => rt::fail(format_args!("mixer {id}, round {round}: {e}")),
                }
            }
            Err(e) => rt::fail(format_args!("mixer {id}, round {round}: {e}")),
        };
        for name in exclusive {
            let n = lock_number(name);
            ensure!(
                guard.mode(*name) == Some(Mode::Exclusive),
                "mixer {id}: {name} held as {:?}",
                guard.mode(*name)
            );
            let writers = WRITERS[n].fetch_add(1, SeqCst);
            let readers = READERS[n].load(SeqCst);
            ensure!(
                writers == 0 && readers == 0,
                "mixer {id}, round {round}: took {name} exclusive beside {writers} writers and \
                 {readers} readers"
            );
        }
        for name in shared {
            let n = lock_number(name);
            ensure!(
                guard.mode(*name) == Some(Mode::Shared),
                "mixer {id}: {name} held as {:?}",
                guard.mode(*name)
            );
            let readers = READERS[n].fetch_add(1, SeqCst) + 1;
            let writers = WRITERS[n].load(SeqCst);
            ensure!(
                writers == 0,
                "mixer {id}, round {round}: took {name} shared beside a writer"
            );
            MOST_SHARED.fetch_max(readers, SeqCst);
        }
        Timer::after_ticks(1 + (round as u64 + id as u64) % 2).await;
        for name in exclusive {
            WRITERS[lock_number(name)].fetch_sub(1, SeqCst);
        }
        for name in shared {
            READERS[lock_number(name)].fetch_sub(1, SeqCst);
        }
        drop(guard);
    }
    MIXED.send(id).await;
}

async fn mixed_mode_set(spawner: Spawner, m: &'static Locks) {
    rt::check("mixed-mode-set");
    let g = match m.acquire(["a"]).shared(["c", "b"]).owner("mixed").await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    let modes = [g.mode("a"), g.mode("b"), g.mode("c"), g.mode("d")];
    ensure!(
        modes
            == [
                Some(Mode::Exclusive),
                Some(Mode::Shared),
                Some(Mode::Shared),
                None
            ],
        "acquire([a]).shared([c, b]) holds a, b, c, d as {modes:?}"
    );
    match m.try_acquire_shared(["c", "b"]) {
        Ok(other) => {
            let statuses = [
                shared_status(m, "a"),
                shared_status(m, "b"),
                shared_status(m, "c"),
            ];
            ensure!(
                statuses
                    == [
                        (Some(Mode::Exclusive), 0),
                        (Some(Mode::Shared), 2),
                        (Some(Mode::Shared), 2),
                    ],
                "status of a, b, c with a mixed set and a reader of [b, c]: {statuses:?}"
            );
            drop(other);
        }
        Err(e) => rt::fail(format_args!(
            "a reader of [c, b] beside the mixed set's shared b and c: {e}"
        )),
    }
    let refused = [
        m.try_acquire_shared(["a"]).err(),
        m.try_acquire(["c"]).err(),
    ];
    ensure!(
        matches!(&refused, [Some(Error::WouldBlock { lock: a }), Some(Error::WouldBlock { lock: c })]
            if a.name() == "a" && c.name() == "c"),
        "beside the mixed set, a shared try of a and an exclusive try of c gave {refused:?}"
    );
    drop(g);
    match m.acquire(["c"]).shared(["c", "b"]).try_now() {
        Ok(both) => ensure!(
            both.mode("c") == Some(Mode::Exclusive) && both.mode("b") == Some(Mode::Shared),
            "c asked both ways is held as {:?}",
            both.mode("c")
        ),
        Err(e) => rt::fail(format_args!("acquire([c]).shared([c, b]): {e}")),
    }
    // Tasks with mixed-mode sets, listed in conflicting orders, asking again at once.
    let start = Instant::now();
    for id in 0..MIXES.len() {
        match mixer(m, id) {
            Ok(token) => spawner.spawn(token),
            Err(e) => rt::fail(format_args!("spawn mixer {id}: {e}")),
        }
    }
    for _ in 0..MIXES.len() {
        MIXED.receive().await;
    }
    let waited = MIX_WAITED.load(SeqCst);
    let most = MOST_SHARED.load(SeqCst);
    let total = MIX_ROUNDS * MIXES.len() as u32;
    ensure!(
        waited >= total / 4 && most >= 2,
        "only {waited} of {total} mixed acquisitions waited and at most {most} readers shared \
         a lock: the tasks hardly contended"
    );
    for name in ["a", "b", "c", "d"] {
        ensure!(!is_locked(m, name), "{name} is still held after the mixers");
    }
    rt::pass(format_args!(
        "acquire([a]).shared([c, b]) held a exclusive, b and c shared beside another reader \
         (status: 2 readers); a key asked both ways was exclusive; 4 tasks took [c]+shared[b,a], \
         shared[c,a], [a]+shared[c], [d]+shared[b] {MIX_ROUNDS} times each: {waited} of {total} \
         waited, up to {most} readers shared a lock, never a writer beside anyone, no deadlock \
         ({} ms)",
        ticks_since(start)
    ));
}

async fn upgrade_refused(m: &'static Locks) {
    rt::check("upgrade-refused");
    let mut g = match m.acquire_shared(["b"]).owner("reader").await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    // Polled once by hand: the refusal must come at the first poll, without waiting.
    for keys in [&["b"][..], &["c", "b"][..]] {
        let mut nested = pin!(g.acquire(keys));
        let first_poll = poll_fn(|cx| Poll::Ready(nested.as_mut().poll(cx))).await;
        ensure!(
            matches!(&first_poll, Poll::Ready(Err(Error::UpgradeRefused { lock }))
                if lock.name() == "b"),
            "nested exclusive {keys:?} under shared b gave {first_poll:?} at its first poll"
        );
    }
    {
        let refused = g.try_acquire(["b"]);
        ensure!(
            matches!(&refused, Err(Error::UpgradeRefused { lock }) if lock.name() == "b"),
            "nested exclusive try of b under shared b gave {refused:?}"
        );
    }
    ensure!(
        !is_locked(m, "c") && shared_status(m, "b") == (Some(Mode::Shared), 1),
        "after the refusals, c locked: {}, b: {:?}",
        is_locked(m, "c"),
        shared_status(m, "b")
    );
    match g.acquire_shared(["b", "c"]).await {
        Ok(inner) => ensure!(
            inner.mode("b") == Some(Mode::Shared)
                && inner.mode("c") == Some(Mode::Shared)
                && shared_status(m, "b") == (Some(Mode::Shared), 1),
            "nested shared [b, c] under shared b: b {:?}, c {:?}, status of b {:?}",
            inner.mode("b"),
            inner.mode("c"),
            shared_status(m, "b")
        ),
        Err(e) => rt::fail(format_args!("nested shared [b, c] under shared b: {e}")),
    }
    ensure!(
        !is_locked(m, "c") && is_locked(m, "b"),
        "dropping the nested guard did not release exactly c"
    );
    drop(g);
    let mut w = match m.acquire(["b"]).await {
        Ok(w) => w,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    match w.acquire_shared(["b"]).await {
        Ok(inner) => ensure!(
            inner.mode("b") == Some(Mode::Exclusive),
            "nested shared b under exclusive b: {:?}",
            inner.mode("b")
        ),
        Err(e) => rt::fail(format_args!("nested shared b under exclusive b: {e}")),
    }
    drop(w);
    ensure!(!is_locked(m, "b"), "b is still held");
    rt::pass(format_args!(
        "under a shared b, nested exclusive requests for b (alone, with c, tried) were refused \
         at their first poll with UpgradeRefused {{ lock: b }}, taking nothing; a nested shared [b, c] took \
         only c; under an exclusive b, a nested shared b stayed exclusive"
    ));
}

// === An interrupt handler takes and releases locks ===

const COMMAND_NONE: u8 = 0;
const COMMAND_TRY_BUS: u8 = 1;
const COMMAND_TAKE_DMA: u8 = 2;
const COMMAND_RELEASE_DMA: u8 = 3;

/// What the interrupt handler does on its next run.
static COMMAND: AtomicU8 = AtomicU8::new(COMMAND_NONE);
static RUNS: AtomicU32 = AtomicU32::new(0);
static OUTCOME: Mutex<Cell<Outcome>> = Mutex::new(Cell::new(Outcome::Nothing));
/// The guard the interrupt handler holds between its runs.
static INTERRUPT_GUARD: Mutex<RefCell<Option<Guard<'static, EmbassyTimer>>>> =
    Mutex::new(RefCell::new(None));

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Nothing,
    Refused,
    Took,
    Released,
    Wrong(&'static str),
}

fn outcome() -> Outcome {
    critical_section::with(|cs| OUTCOME.borrow(cs).replace(Outcome::Nothing))
}

#[cortex_m_rt::exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == rt::HIGH_IRQ.0 as i16 {
        // SAFETY: this is the interrupt `HIGH` was started on, and it is started before the
        // interrupt is unmasked (by `start`).
        unsafe { HIGH.on_interrupt() };
        return;
    }
    if irqn != rt::TEST_IRQ.0 as i16 {
        rt::fail(format_args!("unexpected exception or interrupt {irqn}"));
    }
    rt::in_test_irq(test_irq);
}

/// The test interrupt's work: what the task's last command asked for.
fn test_irq() {
    RUNS.fetch_add(1, SeqCst);
    let m = locks();
    let outcome = match COMMAND.swap(COMMAND_NONE, SeqCst) {
        COMMAND_TRY_BUS => match m.try_acquire(["bus"]) {
            Err(Error::WouldBlock { lock }) if lock.name() == "bus" => Outcome::Refused,
            Ok(_) => Outcome::Wrong("try_acquire took bus, which a task holds"),
            Err(_) => Outcome::Wrong("try_acquire of bus failed with another error"),
        },
        COMMAND_TAKE_DMA => match m.try_acquire(["dma"]) {
            Ok(g) => {
                critical_section::with(|cs| INTERRUPT_GUARD.borrow_ref_mut(cs).replace(g));
                Outcome::Took
            }
            Err(_) => Outcome::Wrong("try_acquire of a free dma failed"),
        },
        COMMAND_RELEASE_DMA => {
            // Dropped outside the critical section: the release itself must cope.
            match critical_section::with(|cs| INTERRUPT_GUARD.borrow_ref_mut(cs).take()) {
                Some(g) => {
                    drop(g);
                    Outcome::Released
                }
                None => Outcome::Wrong("no guard to release"),
            }
        }
        _ => Outcome::Wrong("pended without a command"),
    };
    critical_section::with(|cs| OUTCOME.borrow(cs).set(outcome));
}

async fn interrupt_try_acquire(m: &'static Locks) {
    rt::check("interrupt-try-acquire");
    let bus = match m.acquire(["bus"]).owner("task").await {
        Ok(g) => g,
        Err(e) => rt::fail(format_args!("{e}")),
    };
    let runs = RUNS.load(SeqCst);
    COMMAND.store(COMMAND_TRY_BUS, SeqCst);
    rt::pend_test_irq();
    let refused = outcome();
    ensure!(
        refused == Outcome::Refused,
        "in the interrupt handler, try_acquire of the task's bus gave {refused:?}"
    );
    COMMAND.store(COMMAND_TAKE_DMA, SeqCst);
    rt::pend_test_irq();
    let took = outcome();
    ensure!(
        took == Outcome::Took && is_locked(m, "dma"),
        "in the interrupt handler, try_acquire of a free dma gave {took:?}"
    );
    ensure!(
        RUNS.load(SeqCst) - runs == 2,
        "the interrupt handler ran {} times for 2 pends",
        RUNS.load(SeqCst) - runs
    );
    let busy = m.try_acquire(["dma"]);
    ensure!(
        matches!(&busy, Err(Error::WouldBlock { lock }) if lock.name() == "dma"),
        "a task's try_acquire of the handler's dma gave {busy:?}"
    );
    drop(bus);
    rt::pass(format_args!(
        "from the interrupt handler, try_acquire refused the task's bus (WouldBlock) and took \
         dma; the task then found dma busy"
    ));
}

/// Set to make the next clone of a [`PendOnRegister`] waker pend the test interrupt.
static HOOK_ARMED: AtomicBool = AtomicBool::new(false);
/// Whether interrupts were masked when the hook pended the interrupt.
static HOOK_MASKED: AtomicBool = AtomicBool::new(false);
/// The task's own waker, which the hook's waker forwards to.
static TASK_WAKER: Mutex<RefCell<Option<Waker>>> = Mutex::new(RefCell::new(None));

static HOOK_VTABLE: RawWakerVTable =
    RawWakerVTable::new(hook_clone, hook_wake, hook_wake, hook_drop);

/// A waiter list clones the waker of a listener it registers *inside* its lock:
/// pending the interrupt there makes the handler run exactly when the list is locked (with the
/// `critical-section` feature: right after, since the critical section masks interrupts).
unsafe fn hook_clone(_: *const ()) -> RawWaker {
    if HOOK_ARMED.swap(false, SeqCst) {
        HOOK_MASKED.store(rt::interrupts_masked(), SeqCst);
        rt::pend_test_irq();
    }
    RawWaker::new(ptr::null(), &HOOK_VTABLE)
}

unsafe fn hook_wake(_: *const ()) {
    critical_section::with(|cs| {
        if let Some(waker) = TASK_WAKER.borrow_ref(cs).as_ref() {
            waker.wake_by_ref();
        }
    });
}

unsafe fn hook_drop(_: *const ()) {}

/// Polls a future with a waker whose first clone, once armed, pends the test interrupt.
struct PendOnRegister<F>(Pin<Box<F>>);

impl<F: Future> Future for PendOnRegister<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        critical_section::with(|cs| {
            TASK_WAKER.borrow_ref_mut(cs).replace(cx.waker().clone());
        });
        // SAFETY: the vtable's functions ignore the data pointer and uphold RawWaker's contract
        // (clone returns an equivalent waker; wake forwards to the task's waker).
        let waker = unsafe { Waker::from_raw(RawWaker::new(ptr::null(), &HOOK_VTABLE)) };
        self.0.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

async fn interrupt_releases_into_waiting_task(m: &'static Locks) {
    rt::check("interrupt-releases-into-waiting-task");
    ensure!(
        is_locked(m, "dma"),
        "the interrupt handler does not hold dma"
    );
    let runs = RUNS.load(SeqCst);
    COMMAND.store(COMMAND_RELEASE_DMA, SeqCst);
    HOOK_ARMED.store(true, SeqCst);
    let start = Instant::now();
    let waiting = PendOnRegister(Box::pin(m.acquire(["dma"]).no_timeout()));
    let got = match select(waiting, Timer::after_millis(100)).await {
        Either::First(Ok(g)) => g,
        Either::First(Err(e)) => rt::fail(format_args!("{e}")),
        Either::Second(()) => rt::fail(format_args!(
            "the task did not get dma within 100 ms of the interrupt handler's release: its \
             wake-up was lost"
        )),
    };
    let waited = ticks_since(start);
    ensure!(
        !HOOK_ARMED.load(SeqCst),
        "the task never registered a waker: it did not wait for dma"
    );
    ensure!(
        HOOK_MASKED.load(SeqCst),
        "the waker was registered with interrupts enabled: the waiter list is not \
         under a critical section"
    );
    let released = outcome();
    ensure!(
        released == Outcome::Released && RUNS.load(SeqCst) - runs == 1,
        "the interrupt handler gave {released:?} in {} runs",
        RUNS.load(SeqCst) - runs
    );
    ensure!(got.holds("dma"), "the guard does not cover dma");
    drop(got);
    ensure!(!is_locked(m, "dma"), "dma is still held");
    rt::pass(format_args!(
        "the interrupt, pended while the task registered its waker inside the waiter list's \
         critical section, ran right after it, released dma and woke the task, which took dma \
         after {waited} ms"
    ));
}

// === Preemption across priorities ===

/// An executor in an interrupt above thread mode (and below SysTick).
static HIGH: InterruptExecutor = InterruptExecutor::new();
/// Wakes the high-priority task: SysTick signals it on every tick.
static TICK: Signal<CriticalSectionRawMutex, ()> = Signal::new();
/// Where the thread-mode task is: outside, acquiring, holding, releasing.
static PHASE: AtomicU8 = AtomicU8::new(PHASE_OUTSIDE);
const PHASE_OUTSIDE: u8 = 0;
const PHASE_ACQUIRING: u8 = 1;
const PHASE_HOLDING: u8 = 2;
const PHASE_RELEASING: u8 = 3;
/// Rounds of the high-priority task that began while the thread-mode task was in each phase.
static HIGH_RUNS: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
/// How many tasks are inside `b` right now, and the most seen.
static IN_B: AtomicU32 = AtomicU32::new(0);
static MOST_IN_B: AtomicU32 = AtomicU32::new(0);
const HIGH_ROUNDS: u32 = 200;

fn enter_b() {
    let inside = IN_B.fetch_add(1, SeqCst) + 1;
    MOST_IN_B.fetch_max(inside, SeqCst);
}

fn leave_b() {
    IN_B.fetch_sub(1, SeqCst);
}

/// On each tick, from SysTick: let the high-priority task run once (it preempts thread mode as
/// soon as SysTick returns, wherever the thread-mode task is).
fn signal_high() {
    TICK.signal(());
}

/// Runs in `HIGH`'s interrupt: on each tick, takes `[b, c]` and gives it back.
#[embassy_executor::task]
async fn high(m: &'static Locks) {
    for round in 0..HIGH_ROUNDS {
        TICK.wait().await;
        let phase = PHASE.load(SeqCst);
        let guard = match m.acquire(["b", "c"]).owner("high").await {
            Ok(guard) => guard,
            Err(e) => rt::fail(format_args!("high-priority task, round {round}: {e}")),
        };
        enter_b();
        leave_b();
        drop(guard);
        HIGH_RUNS[usize::from(phase)].fetch_add(1, SeqCst);
    }
    rt::on_tick(None);
}

async fn preemption(m: &'static Locks) {
    rt::check("preemption");
    match high(m) {
        Ok(token) => HIGH.start(rt::HIGH_IRQ).spawn(token),
        Err(e) => rt::fail(format_args!("spawn high: {e}")),
    }
    rt::on_tick(Some(signal_high));
    let done = || HIGH_RUNS.iter().map(|r| r.load(SeqCst)).sum::<u32>() >= HIGH_ROUNDS;
    let mut rounds = 0u32;
    // Thread mode takes [a, b] and gives it back without pause: the ticks land anywhere in it.
    while !done() {
        PHASE.store(PHASE_ACQUIRING, SeqCst);
        let guard = match m.acquire(["a", "b"]).owner("thread").await {
            Ok(guard) => guard,
            Err(e) => rt::fail(format_args!("thread-mode task, round {rounds}: {e}")),
        };
        PHASE.store(PHASE_HOLDING, SeqCst);
        enter_b();
        leave_b();
        PHASE.store(PHASE_RELEASING, SeqCst);
        drop(guard);
        PHASE.store(PHASE_OUTSIDE, SeqCst);
        // A pause of a different length each round: under `-icount` the loop is otherwise so
        // regular that its period can lock to the tick's, and every tick lands in the same phase.
        for _ in 0..(rounds * 37) % 211 {
            core::hint::spin_loop();
        }
        rounds += 1;
    }
    let runs = HIGH_RUNS.each_ref().map(|r| r.load(SeqCst));
    ensure!(
        MOST_IN_B.load(SeqCst) == 1,
        "b had {} holders at once",
        MOST_IN_B.load(SeqCst)
    );
    ensure!(
        runs[usize::from(PHASE_ACQUIRING)] > 0 && runs[usize::from(PHASE_RELEASING)] > 0,
        "the high-priority task never ran while the thread-mode task was inside an acquire or \
         a release (runs by phase: outside, acquiring, holding, releasing: {runs:?}; {rounds} \
         rounds of the thread-mode task)"
    );
    ensure!(
        ["a", "b", "c"].iter().all(|name| !is_locked(m, name)),
        "a lock is still held after both tasks finished"
    );
    rt::pass(format_args!(
        "a task in an InterruptExecutor above thread mode took [b, c] {HIGH_ROUNDS} times, \
         woken by SysTick wherever the thread-mode task was in its {rounds} rounds of [a, b]: \
         inside an acquire {} times, holding {} times (it waited), inside a release {} times, \
         between rounds {} times; b never had two holders, no deadlock, no timeout",
        runs[usize::from(PHASE_ACQUIRING)],
        runs[usize::from(PHASE_HOLDING)],
        runs[usize::from(PHASE_RELEASING)],
        runs[usize::from(PHASE_OUTSIDE)],
    ));
}
