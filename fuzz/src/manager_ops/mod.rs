//! Target `manager_ops`: differential fuzzing of the lock manager. Bytes become a sequence of
//! operations (create an acquire, borrowed or owned, each key exclusive or shared, poll it, drop
//! it, drop a guard, nest through a guard, try once, wait on the thread, move the virtual
//! clock). Each runs on a real `Arc<LockManager<ManualTimer>>` and on a plain model; any
//! disagreement is a crash. The model knows the lock protocol (see [`lock`]): reader/writer
//! exclusion, writer preference (a waiting writer stops new readers; the last one to stop
//! waiting lets them in), bounded waiting (a woken waiter that finds a newcomer in reserves the
//! lock, one reservation at a time, and the next holding is its) and which listeners each
//! release, give-up and hand-on wakes, so it predicts every poll and try exactly.
//!
//! Checked after every operation:
//! * every lock is held exactly when and how the model says (one writer, or readers only; locks
//!   taken in ascending order and stopped at the first refusal, nothing held once its guard or
//!   future is gone);
//! * every poll, try and guard agrees with the model: which locks a guard covers and owns and in
//!   which mode (`mode()`, also through its ancestors), its owner label (cut to 32 bytes at a
//!   character boundary), `Timeout`/`WouldBlock` naming the refusing lock, `OrderViolation`
//!   exactly when a nested request asks for a new lock below the highest one held,
//!   `UpgradeRefused` when it asks for exclusive use of a lock held shared, `UnknownLock`,
//!   `PolledAfterCompletion`;
//! * timeouts: the sleep is created at the first contended poll (and only then), a future is not
//!   timed out before that time plus its timeout and is timed out when polled at or after it while
//!   still blocked; a zero timeout tries once; the timer's parked sleeps are exactly those of the
//!   futures (blocked, or granted and not yet dropped) whose deadline is still ahead;
//! * no stranded waiter: every listener the model says was notified has had its waker woken since
//!   it registered, a free lock that anyone listens for has a notified listener, a lock held
//!   shared with no writer waiting and no reservation has no reader asleep, and a blocked
//!   future whose deadline has passed has been woken;
//! * `status()`: one entry per lock, ascending, each with the model's name, order, `is_locked`,
//!   `mode` and `readers`; a held lock's owner is the label of the acquisition that started the
//!   holding (the writer, or the first reader, even after it left; given or inherited, cut to 32
//!   bytes at a character boundary), or else its holder id, which is the same for every holding
//!   one acquisition and the guards nested in it start, differs between chains, never changes
//!   while a chain lives, and is what every guard's `holder()` says (`None` for a chain that only
//!   joined shared holdings); its `acquired_at` is the clock at the poll or try that started the
//!   holding (a walk that waits keeps the earlier times of the locks it took before); a free lock
//!   has neither owner nor time;
//! * `long_held(t)`: exactly the held locks with `now - acquired_at > t`, ascending, with that
//!   hold time and the same owner as status, and a message naming the lock, the owner and the
//!   hold time (`1.250s`); checked after every clock move with `t` = the advance, and at `Inspect`
//!   at each hold time and just below it, at zero and at the maximum;
//! * every guard names its manager (`manager()`), and a blocking `wait()` that cannot block
//!   agrees with the model (a busy lock with a zero timeout is `Timeout`, nothing kept, no sleep
//!   created).
//!
//! At the end the tasks unwind and the pool drops what is borrowed; then the harness drops its
//! `Arc`: the owned futures and guards left keep the manager alive and working (checked through
//! a `Weak`, each future polled once more), and the manager goes exactly with the last of them.
//!
//! Shapes: a nested acquire borrows its parent guard mutably, so a guard has at most one child
//! (an in-flight future or a guard) and nesting is a stack. The harness drives every shape that
//! compiles: a *pool* of futures and guards taken from the manager (borrowed, or owned through
//! its `Arc`), which interleave freely, and a few *tasks*, each a stack of guards (its root, of
//! either kind, taken from the manager or moved in from the pool, each further guard nested in
//! the one below) with at most one in-flight future at its top. Operations on the pool and on the tasks interleave freely, so a nested future can wait on
//! a lock held by a pool guard or by another task and be woken when that is dropped. Each task is
//! an `async` stack of recursive frames (one frame per guard, so the borrows are the compiler's
//! to check), driven one command at a time; it polls its acquire futures with the harness's
//! counting wakers.
//!
//! Modules: [`input`] decodes the bytes into operations, [`model`] predicts, [`world`] holds the
//! real manager beside the model and compares them, [`real`] puts borrowed and owned futures
//! and guards behind one face, [`requests`] makes one request on both,
//! [`pool`] and [`task`] hold the futures and guards in the shapes above; [`seeds`] is the book
//! the committed seeds are written from.

use std::cell::RefCell;
use std::sync::Arc;

use lockorder::{Guard, LockManager, ManualTimer};

mod hostile;
mod input;
mod lock;
mod model;
mod pool;
mod real;
mod requests;
pub mod seeds;
mod task;
mod world;

pub use input::Input;

use input::{Act, NewWaker, Op, Target};
use model::Model;
use pool::{Owned, Pool};
use real::AnyGuard;
use requests::poll_one;
use task::{level, poll_task_if_woken, send, Cmd, Shared, Task, TaskBox};
use world::World;

type Manager = LockManager<ManualTimer>;
type G<'a> = Guard<'a, ManualTimer>;

/// Future slots of the pool.
const FUTURE_SLOTS: usize = 4;
const TASKS: usize = 3;
/// Guards on one task's stack, at most.
const MAX_DEPTH: usize = 6;
/// Labels are built per acquisition, each its own: `owner-<n>`.
const OWNER: &str = "owner-";
/// Longer than a status label keeps (32 bytes), with characters across the cut: status shows a
/// prefix of `<n>-long-owner-...` cut at a character boundary, which moves with the digits of n.
const LONG_OWNER: &str = "-long-owner-label-\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}\u{e4}";
const UNKNOWN: &str = "no-such-lock";

/// Runs one input: builds the manager, applies every operation with the checks after each, then
/// unwinds the tasks and clears the pool; what is owned outlives the harness's `Arc` (see
/// [`outlive`]). Nothing may be left held, parked or waiting.
pub fn run(input: Input) {
    hostile::quiet_hook();
    let Input {
        orders,
        default_timeout,
        ops,
    } = input;
    let n = orders.len();
    let names: Vec<String> = (0..n).map(|i| format!("lock{i}")).collect();

    let timer = ManualTimer::new();
    let mut b = LockManager::builder().timer(timer.clone());
    let mut foreign = LockManager::builder();
    for (name, &order) in names.iter().zip(&orders) {
        b.register(name, order).unwrap();
        foreign.register(name, order).unwrap();
    }
    if let Some(t) = default_timeout {
        b = b.default_timeout(t);
    }
    let m = Arc::new(b.build());
    let foreign = foreign.build();
    assert_eq!(m.default_timeout(), default_timeout);

    let world = World::new(
        &m,
        timer,
        &foreign,
        Model::new(names, orders, default_timeout),
    );
    let (mut w, owned) = play(&m, world, &ops);
    drop(m);
    outlive(&mut w, owned);
    assert!(w.model.futures.is_empty() && w.model.guards.is_empty());
    assert!(w
        .model
        .locks
        .iter()
        .all(|l| l.is_free() && l.readers.entries.is_empty() && l.writers.entries.is_empty()));
    assert_eq!(w.timer.parked(), 0, "a sleep outlived its future");
}

/// Applies the operations to a pool and tasks on `m`, then unwinds the tasks and drops every
/// borrowed future and guard of the pool; the owned ones are handed back.
fn play(m: &Arc<Manager>, world: World, ops: &[Op]) -> (World, Owned) {
    let shared = Shared {
        m,
        world: RefCell::new(world),
        tasks: (0..TASKS).map(|_| TaskBox::default()).collect(),
    };
    let sh = &shared;
    let mut pool = Pool::new(m);
    let mut tasks: Vec<Task<'_>> = (0..TASKS)
        .map(|t| -> Task<'_> {
            Box::pin(async move {
                level(sh, t, None).await;
                unreachable!("the root frame never returns");
            })
        })
        .collect();
    apply(sh, &mut pool, &mut tasks, ops);
    for t in 0..TASKS {
        send(sh, &mut tasks, t, Cmd::Unwind);
        assert_eq!(sh.tasks[t].depth.get(), 0);
        assert_eq!(sh.tasks[t].future.get(), None);
    }
    let owned = pool.into_owned(&mut sh.world.borrow_mut());
    drop(tasks);
    (shared.world.into_inner(), owned)
}

/// With the harness's `Arc` gone, owned futures and guards keep the manager alive and working
/// (each future is polled once more), and the manager goes with the last of them.
fn outlive(w: &mut World, owned: Owned) {
    let Owned {
        mut futures,
        mut guards,
    } = owned;
    let alive = |w: &World| w.manager.strong_count() > 0;
    assert_eq!(
        alive(w),
        !futures.is_empty() || !guards.is_empty(),
        "the manager lives exactly while an owned future or guard does"
    );
    if !alive(w) {
        return;
    }
    w.check();
    for (id, fut) in &mut futures {
        if let Some((gid, guard)) = poll_one(w, *id, fut, NewWaker::Same) {
            let AnyGuard::Owned(guard) = guard else {
                unreachable!("an owned future gives an owned guard")
            };
            guards.push((gid, guard));
        }
        w.check();
    }
    let mut left = futures.len() + guards.len();
    for (id, fut) in futures {
        hostile::quietly(|| drop(fut));
        w.model.drop_future(id);
        left -= 1;
        if left > 0 {
            w.check();
        }
    }
    for (id, guard) in guards {
        hostile::quietly(|| drop(guard));
        w.model.drop_guard(id);
        left -= 1;
        if left > 0 {
            w.check();
        }
    }
    assert!(!alive(w), "the manager outlived its last owned guard");
}

/// Applies the operations, checking after each.
///
/// With `LOCKORDER_FUZZ_TRACE` set, each operation is printed with the model's lock holders and
/// futures after it (to read a crashing input: `cargo test` or the fuzz binary on the file).
fn apply<'m>(sh: &Shared<'m>, pool: &mut Pool<'m>, tasks: &mut [Task<'_>], ops: &[Op]) {
    let trace = sh.world.borrow().trace;
    for op in ops {
        match (op.target, &op.act) {
            (_, Act::Advance { millis }) => sh.world.borrow_mut().advance(*millis),
            (_, Act::PollWoken { everywhere: true }) => {
                pool.poll_woken(&mut sh.world.borrow_mut());
                for t in 0..TASKS {
                    poll_task_if_woken(sh, tasks, t);
                }
            }
            (Target::Pool, Act::Enter { .. }) => {}
            (Target::Pool, act) => pool.apply(&mut sh.world.borrow_mut(), act),
            (Target::Task(t), Act::PollWoken { .. }) => poll_task_if_woken(sh, tasks, t),
            (Target::Task(t), Act::Enter { slot }) => {
                let task = &sh.tasks[t];
                if task.depth.get() == 0 && task.future.get().is_none() {
                    if let Some((id, guard)) = pool.take_guard(*slot) {
                        send(sh, tasks, t, Cmd::Enter(id, guard));
                    }
                }
            }
            (Target::Task(t), act) => {
                let cmd = match act {
                    Act::Acquire { req, .. } => Cmd::Acquire(req.clone()),
                    &Act::Poll { waker, .. } => Cmd::Poll { waker },
                    Act::DropFuture { .. } => Cmd::DropFuture,
                    Act::DropGuard { .. } => Cmd::Pop,
                    &Act::Try { ref req, blocking } => Cmd::Try(req.clone(), blocking),
                    Act::Unwind => Cmd::Unwind,
                    Act::Inspect => Cmd::Inspect,
                    Act::Advance { .. } | Act::PollWoken { .. } | Act::Enter { .. } => {
                        unreachable!()
                    }
                };
                send(sh, tasks, t, cmd);
                if matches!(act, Act::Inspect) {
                    sh.world.borrow().check_long_held_edges();
                }
            }
        }
        let w = sh.world.borrow();
        w.check();
        if trace {
            eprintln!("{op:?}\n    {}", w.model.trace());
        }
    }
}
