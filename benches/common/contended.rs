//! The contended workloads (W2, W4): T tasks on a 2-worker tokio runtime share [`LOCKS`] locks;
//! each operation takes a random [`PICK`] of them, asked for in random order, runs a tiny critical
//! section that yields to the scheduler once while holding them (so that tasks on the same worker
//! meet held locks), and releases. A [`Mix`] says which operations read and which write.
//!
//! One task loop over [`Locks`], which `lockorder` implements with one call for the whole set and
//! the peers one lock at a time, sorted ascending; the instrumented rounds that alternate between
//! subjects; and a watchdog that ends the run when a round stalls.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::Poll;
use std::time::{Duration, Instant};

use lockorder::{LockId, LockManager};

use super::{manager, Peer, LOCKS};

/// Locks per operation.
pub(crate) const PICK: usize = 3;

/// Index of [`TaskStats`]' per-class figures: operations that take every lock shared.
pub(crate) const READERS: usize = 0;
/// Index of [`TaskStats`]' per-class figures: operations that take at least one lock exclusive.
pub(crate) const WRITERS: usize = 1;

thread_local! {
    /// The index of the runtime worker this thread is (0 or 1), `usize::MAX` elsewhere.
    static WORKER: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The runtime every contended workload runs on: tokio, multi-threaded, 2 workers.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    let next = Arc::new(AtomicUsize::new(0));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || WORKER.with(|w| w.set(next.fetch_add(1, Ordering::Relaxed))))
        .build()
        .expect("a tokio runtime")
}

// === operations ===

/// Which operations of a workload write.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mix {
    /// Percent of operations that write; the others take all their locks shared.
    pub(crate) write_pct: usize,
    /// Whether a writing operation takes one of its locks exclusive and the others shared
    /// (`acquire([a]).shared([b, c])`), rather than all of them exclusive.
    pub(crate) one_writer: bool,
    /// Whether the critical section yields to the scheduler once while holding the locks (the
    /// default), or runs straight through (W2's no-yield variant: tasks meet held locks only
    /// when the two workers collide).
    pub(crate) hold_yield: bool,
}

impl Mix {
    /// Every operation takes all its locks exclusive (W2).
    pub(crate) const EXCLUSIVE: Mix = Mix {
        write_pct: 100,
        one_writer: false,
        hold_yield: true,
    };
    /// As [`EXCLUSIVE`](Self::EXCLUSIVE), with no yield while holding (W2's second variant).
    pub(crate) const EXCLUSIVE_NO_YIELD: Mix = Mix {
        hold_yield: false,
        ..Mix::EXCLUSIVE
    };
}

/// How one operation takes its locks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// All shared.
    Read,
    /// All exclusive.
    Write,
    /// The first lock picked exclusive, the others shared.
    OneWriter,
}

/// One operation: [`PICK`] distinct lock indices in the order they were picked, and how.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    pub(crate) locks: [usize; PICK],
    pub(crate) kind: Kind,
}

impl Op {
    /// Whether this operation takes lock `index` exclusive.
    pub(crate) fn writes(&self, index: usize) -> bool {
        match self.kind {
            Kind::Read => false,
            Kind::Write => true,
            Kind::OneWriter => index == self.locks[0],
        }
    }

    /// [`READERS`] or [`WRITERS`].
    pub(crate) fn class(&self) -> usize {
        if self.kind == Kind::Read {
            READERS
        } else {
            WRITERS
        }
    }
}

/// xorshift64*: enough randomness to pick locks, and reproducible per task.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize % n
    }

    /// The next operation. An all-writing mix draws no number for the kind, so that its lock
    /// picks are the same sequence whatever the mix code around them.
    pub(crate) fn op(&mut self, mix: Mix) -> Op {
        let mut locks = [usize::MAX; PICK];
        let mut i = 0;
        while i < PICK {
            let x = self.below(LOCKS);
            if !locks[..i].contains(&x) {
                locks[i] = x;
                i += 1;
            }
        }
        let kind = if mix.write_pct < 100 && self.below(100) >= mix.write_pct {
            Kind::Read
        } else if mix.one_writer {
            Kind::OneWriter
        } else {
            Kind::Write
        };
        Op { locks, kind }
    }
}

// === what a task measures ===

/// What one task saw in an instrumented round, by class ([`READERS`], [`WRITERS`]).
#[derive(Default)]
pub(crate) struct TaskStats {
    /// Time to get all [`PICK`] locks, per operation.
    waits_ns: [Vec<u64>; 2],
    /// Operations whose acquisition returned `Pending` at least once.
    waited: [u64; 2],
    /// Operations completed on each runtime worker.
    per_worker: [u64; 2],
}

/// Awaits `fut`, also telling whether it ever returned `Pending`.
async fn counted<F: Future>(fut: F) -> (F::Output, bool) {
    let mut fut = pin!(fut);
    let mut waited = false;
    let out = poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(out) => Poll::Ready(out),
        Poll::Pending => {
            waited = true;
            Poll::Pending
        }
    })
    .await;
    (out, waited)
}

/// The critical section: a little work, and (if `hold_yield`) one trip through the scheduler with
/// the locks held.
pub(crate) async fn critical_section(hold_yield: bool) {
    for i in 0..16u32 {
        black_box(i);
    }
    if hold_yield {
        tokio::task::yield_now().await;
    }
}

/// Takes `op`'s locks through `acquire`, runs the critical section, releases (when `acquire`'s
/// output drops), and records the wait if asked.
async fn operation<F: Future>(op: Op, mix: Mix, acquire: F, stats: &mut Option<TaskStats>) {
    let start = stats.is_some().then(Instant::now);
    let (held, waited) = counted(acquire).await;
    if let (Some(s), Some(start)) = (stats.as_mut(), start) {
        let class = op.class();
        s.waits_ns[class].push(start.elapsed().as_nanos() as u64);
        s.waited[class] += u64::from(waited);
        if let Some(n) = s.per_worker.get_mut(WORKER.with(Cell::get)) {
            *n += 1;
        }
    }
    critical_section(mix.hold_yield).await;
    drop(held);
}

// === subjects ===

/// An async reader-writer lock over `()`, taken the plain way: one lock at a time, in the
/// caller's order.
pub(crate) trait RwPeer: Send + Sync + 'static {
    /// The name shown in reports.
    const NAME: &'static str;
    type Read<'a>: Send
    where
        Self: 'a;
    type Write<'a>: Send
    where
        Self: 'a;

    fn new() -> Self;
    fn read(&self) -> impl Future<Output = Self::Read<'_>> + Send;
    fn write(&self) -> impl Future<Output = Self::Write<'_>> + Send;
}

/// A mutex as a reader-writer lock that has no shared mode: every request is exclusive.
pub(crate) struct Exclusive<M>(M);

impl<M: Peer> RwPeer for Exclusive<M> {
    const NAME: &'static str = M::NAME;
    type Read<'a> = M::Guard<'a>;
    type Write<'a> = M::Guard<'a>;

    fn new() -> Self {
        Self(M::new())
    }
    fn read(&self) -> impl Future<Output = Self::Read<'_>> + Send {
        self.0.lock()
    }
    fn write(&self) -> impl Future<Output = Self::Write<'_>> + Send {
        self.0.lock()
    }
}

impl RwPeer for async_lock::RwLock<()> {
    const NAME: &'static str = "async-lock";
    type Read<'a> = async_lock::RwLockReadGuard<'a, ()>;
    type Write<'a> = async_lock::RwLockWriteGuard<'a, ()>;

    fn new() -> Self {
        async_lock::RwLock::new(())
    }
    fn read(&self) -> impl Future<Output = Self::Read<'_>> + Send {
        async_lock::RwLock::read(self)
    }
    fn write(&self) -> impl Future<Output = Self::Write<'_>> + Send {
        async_lock::RwLock::write(self)
    }
}

impl RwPeer for tokio::sync::RwLock<()> {
    const NAME: &'static str = "tokio";
    type Read<'a> = tokio::sync::RwLockReadGuard<'a, ()>;
    type Write<'a> = tokio::sync::RwLockWriteGuard<'a, ()>;

    fn new() -> Self {
        tokio::sync::RwLock::new(())
    }
    fn read(&self) -> impl Future<Output = Self::Read<'_>> + Send {
        tokio::sync::RwLock::read(self)
    }
    fn write(&self) -> impl Future<Output = Self::Write<'_>> + Send {
        tokio::sync::RwLock::write(self)
    }
}

impl RwPeer for maitake_sync::RwLock<()> {
    const NAME: &'static str = "maitake-sync";
    type Read<'a> = maitake_sync::RwLockReadGuard<'a, ()>;
    type Write<'a> = maitake_sync::RwLockWriteGuard<'a, ()>;

    fn new() -> Self {
        maitake_sync::RwLock::new(())
    }
    fn read(&self) -> impl Future<Output = Self::Read<'_>> + Send {
        maitake_sync::RwLock::read(self)
    }
    fn write(&self) -> impl Future<Output = Self::Write<'_>> + Send {
        maitake_sync::RwLock::write(self)
    }
}

/// A peer's guard in either mode; it is only ever dropped.
pub(crate) enum Held<R, W> {
    Read(R),
    Write(W),
}

async fn take<P: RwPeer>(lock: &P, write: bool) -> Held<P::Read<'_>, P::Write<'_>> {
    if write {
        Held::Write(lock.write().await)
    } else {
        Held::Read(lock.read().await)
    }
}

/// [`LOCKS`] locks and the way to take an operation's set of them.
pub(crate) trait Locks: Send + Sync + 'static {
    /// The name shown in reports.
    const NAME: &'static str;
    /// Holds the set; releases it on drop.
    type Held<'a>: Send
    where
        Self: 'a;

    fn new() -> Self;
    fn take(&self, op: Op) -> impl Future<Output = Self::Held<'_>> + Send;
}

/// `lockorder` by id: the whole set in one call, in the order the locks were picked, built and
/// awaited inside the `async fn`, as the peers build theirs and as a caller writes
/// `m.acquire(ids).await`.
pub(crate) struct ById {
    m: LockManager,
    ids: Vec<LockId>,
}

impl Locks for ById {
    const NAME: &'static str = "lockorder-id";
    type Held<'a> = lockorder::Guard<'a>;

    fn new() -> Self {
        let (m, ids) = manager();
        Self { m, ids }
    }

    async fn take(&self, op: Op) -> Self::Held<'_> {
        // Not shared with `ByIdMoved` through a helper that returns the future: built by such a
        // helper and then awaited, the future was copied once more (W2's operation without a
        // yield on one thread, `benches/moves.rs`: 163 ns against 131-140).
        let [a, b, c] = op.locks.map(|i| self.ids[i]);
        match op.kind {
            Kind::Write => self.m.acquire([a, b, c]).await,
            Kind::Read => self.m.acquire_shared([a, b, c]).await,
            Kind::OneWriter => self.m.acquire([a]).shared([b, c]).await,
        }
        .expect("known ids")
    }
}

/// [`ById`], but the acquire future is built before the `async` block that awaits it, which
/// captures it: the future is then moved with every future around it (into the block, out of
/// `take`, into the operation). Measures what moving the acquire future costs
/// (`benches/moves.rs`).
pub(crate) struct ByIdMoved(ById);

impl Locks for ByIdMoved {
    const NAME: &'static str = "lockorder-id-moved";
    type Held<'a> = lockorder::Guard<'a>;

    fn new() -> Self {
        Self(ById::new())
    }

    fn take(&self, op: Op) -> impl Future<Output = Self::Held<'_>> + Send {
        let [a, b, c] = op.locks.map(|i| self.0.ids[i]);
        let acquire = match op.kind {
            Kind::Write => self.0.m.acquire([a, b, c]),
            Kind::Read => self.0.m.acquire_shared([a, b, c]),
            Kind::OneWriter => self.0.m.acquire([a]).shared([b, c]),
        };
        async { acquire.await.expect("known ids") }
    }
}

/// Peer locks, taken one by one in ascending order.
pub(crate) struct OneByOne<P>(Vec<P>);

impl<P: RwPeer> Locks for OneByOne<P> {
    const NAME: &'static str = P::NAME;
    /// Newest first: an array drops its elements in index order.
    type Held<'a> = [Held<P::Read<'a>, P::Write<'a>>; PICK];

    fn new() -> Self {
        Self((0..LOCKS).map(|_| P::new()).collect())
    }

    async fn take(&self, op: Op) -> Self::Held<'_> {
        let mut want = op.locks;
        want.sort_unstable();
        let [a, b, c] = want;
        let g0 = take(&self.0[a], op.writes(a)).await;
        let g1 = take(&self.0[b], op.writes(b)).await;
        let g2 = take(&self.0[c], op.writes(c)).await;
        [g2, g1, g0]
    }
}

/// What a contended workload runs: `lockorder` or a peer.
pub(crate) trait Subject: Send + Sync {
    /// The name shown in reports.
    fn name(&self) -> &'static str;
    /// One round: `tasks` tasks share `ops` operations of `mix`. Returns each task's stats if
    /// asked.
    fn round(
        &self,
        rt: &tokio::runtime::Runtime,
        tasks: usize,
        ops: usize,
        mix: Mix,
        stats: bool,
    ) -> Vec<TaskStats>;
}

/// A set of [`Locks`] that the tasks of a round share.
pub(crate) struct Contended<L>(Arc<L>);

/// `lockorder` by id.
pub(crate) type Lockorder = Contended<ById>;
/// A peer, one lock at a time.
pub(crate) type Peers<P> = Contended<OneByOne<P>>;

impl<L: Locks> Contended<L> {
    pub(crate) fn new() -> Self {
        Self(Arc::new(L::new()))
    }
}

async fn task<L: Locks>(
    locks: Arc<L>,
    mix: Mix,
    seed: u64,
    ops: usize,
    mut stats: Option<TaskStats>,
) -> Option<TaskStats> {
    let mut rng = Rng::new(seed);
    for _ in 0..ops {
        let op = rng.op(mix);
        operation(op, mix, locks.take(op), &mut stats).await;
    }
    stats
}

impl<L: Locks> Subject for Contended<L> {
    fn name(&self) -> &'static str {
        L::NAME
    }

    fn round(
        &self,
        rt: &tokio::runtime::Runtime,
        tasks: usize,
        ops: usize,
        mix: Mix,
        stats: bool,
    ) -> Vec<TaskStats> {
        watch(Some((L::NAME, tasks, mix)));
        let out = rt.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let s = stats.then(|| TaskStats {
                        waits_ns: [
                            Vec::with_capacity(ops / tasks),
                            Vec::with_capacity(ops / tasks),
                        ],
                        ..TaskStats::default()
                    });
                    tokio::spawn(task(self.0.clone(), mix, t as u64 + 1, ops / tasks, s))
                })
                .collect();
            let mut out = Vec::new();
            for h in handles {
                out.extend(h.await.expect("a benchmark task panicked"));
            }
            out
        });
        watch(None);
        out
    }
}

// === stall watchdog ===

/// How long a round may go without finishing before the watchdog ends the run. A round takes
/// milliseconds, even on a loaded machine.
const STALL: Duration = Duration::from_secs(30);

/// A round: subject, tasks, mix.
type RoundId = (&'static str, usize, Mix);

/// The round under way, and a count of the rounds started and finished.
static WATCHED: Mutex<(Option<RoundId>, u64)> = Mutex::new((None, 0));

/// Tells the watchdog that a round starts (`Some`) or finished (`None`), starting the watchdog
/// on first use. If a round stalls, the watchdog prints which, and whether the process used
/// any CPU meanwhile, and exits: a lock that loses a wake-up would otherwise hang the run with
/// every worker parked and nothing said.
fn watch(round: Option<RoundId>) {
    static START: Once = Once::new();
    START.call_once(|| {
        std::thread::spawn(|| {
            let mut last = (u64::MAX, Instant::now(), cpu_time());
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let (round, count) = *WATCHED.lock().unwrap_or_else(|e| e.into_inner());
                if count != last.0 || round.is_none() {
                    last = (count, Instant::now(), cpu_time());
                    continue;
                }
                if last.1.elapsed() < STALL {
                    continue;
                }
                let (name, tasks, mix) = round.expect("checked above");
                let cpu = last.2.zip(cpu_time()).map_or("unknown".into(), |(a, b)| {
                    format!("{:.3} s", (b - a).as_secs_f64())
                });
                eprintln!(
                    "\nSTALLED: a round of {name} with T = {tasks} and {mix:?} has not finished \
                     in {} s; CPU used meanwhile: {cpu}. Tasks that wait with the CPU idle wait \
                     for a wake-up that never comes.",
                    STALL.as_secs()
                );
                std::process::exit(3);
            }
        });
    });
    let mut watched = WATCHED.lock().unwrap_or_else(|e| e.into_inner());
    *watched = (round, watched.1 + 1);
}

// === instrumented rounds ===

/// CPU time used by the threads of this process so far, in nanoseconds: the sum of the first
/// field of `/proc/self/task/*/schedstat` (`/proc/self/stat` only counts 10 ms ticks, too coarse
/// for rounds of a few milliseconds). `None` where that does not exist. Threads that have exited
/// are not counted; the runtime's workers live as long as the runtime.
pub(crate) fn cpu_time() -> Option<Duration> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split(' ').next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

/// Wait figures of a set of operations.
pub(crate) struct Waits {
    pub(crate) ops: usize,
    pub(crate) p50_ns: u64,
    pub(crate) p99_ns: u64,
    pub(crate) max_ns: u64,
    /// Share of the operations that returned `Pending` at least once, in percent.
    pub(crate) waited_pct: f64,
}

impl Waits {
    /// `None` for no operations.
    fn of(mut waits: Vec<u64>, waited: u64) -> Option<Self> {
        waits.sort_unstable();
        let ops = waits.len();
        let pct = |p: f64| waits[((ops - 1) as f64 * p).round() as usize];
        let max_ns = *waits.last()?;
        Some(Self {
            ops,
            p50_ns: pct(0.50),
            p99_ns: pct(0.99),
            max_ns,
            waited_pct: 100.0 * waited as f64 / ops as f64,
        })
    }

    /// As JSON members, `"p50_ns": .., ..`, prefixed with `prefix`.
    pub(crate) fn json(&self, prefix: &str) -> String {
        format!(
            "\"{prefix}ops\": {}, \"{prefix}p50_ns\": {}, \"{prefix}p99_ns\": {}, \"{prefix}max_ns\": {}, \"{prefix}waited_pct\": {:.2}",
            self.ops, self.p50_ns, self.p99_ns, self.max_ns, self.waited_pct
        )
    }
}

/// What the instrumented rounds of one subject add up to.
pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) tasks: usize,
    /// The median round's operations per second.
    pub(crate) ops_per_sec: f64,
    /// Every operation.
    pub(crate) all: Waits,
    /// By class: [`READERS`], [`WRITERS`]; `None` for a class with no operations.
    pub(crate) class: [Option<Waits>; 2],
    /// CPU time / wall time, where the platform tells CPU time.
    pub(crate) cores: Option<f64>,
    /// The busier worker's share of operations, in percent.
    pub(crate) busier_worker_pct: f64,
}

/// Runs `ops` operations of `mix` per subject, split into `rounds` rounds that alternate between
/// the subjects in a rotating order, so that a burst of load from elsewhere on the machine does
/// not land on one subject only. A warm-up round of `warm_up` operations each comes first.
pub(crate) fn alternating(
    rt: &tokio::runtime::Runtime,
    subjects: &[Box<dyn Subject>],
    tasks: usize,
    mix: Mix,
    warm_up: usize,
    ops: usize,
    rounds: usize,
) -> Vec<Row> {
    #[derive(Default)]
    struct Acc {
        waits: [Vec<u64>; 2],
        waited: [u64; 2],
        per_worker: [u64; 2],
        wall: Duration,
        cpu: Option<Duration>,
        round_ops_per_sec: Vec<f64>,
    }
    let mut acc: Vec<Acc> = subjects.iter().map(|_| Acc::default()).collect();
    for s in subjects {
        s.round(rt, tasks, warm_up, mix, false);
    }
    for round in 0..rounds {
        for i in 0..subjects.len() {
            let i = (i + round) % subjects.len();
            let cpu0 = cpu_time();
            let start = Instant::now();
            let stats = subjects[i].round(rt, tasks, ops / rounds, mix, true);
            let wall = start.elapsed();
            let cpu = cpu0.zip(cpu_time()).map(|(a, b)| b - a);
            let a = &mut acc[i];
            let mut done = 0;
            for s in &stats {
                for class in [READERS, WRITERS] {
                    a.waits[class].extend_from_slice(&s.waits_ns[class]);
                    a.waited[class] += s.waited[class];
                    done += s.waits_ns[class].len();
                }
                a.per_worker[0] += s.per_worker[0];
                a.per_worker[1] += s.per_worker[1];
            }
            a.wall += wall;
            a.cpu = match (round, a.cpu, cpu) {
                (0, _, cpu) => cpu,
                (_, Some(sum), Some(cpu)) => Some(sum + cpu),
                _ => None,
            };
            a.round_ops_per_sec.push(done as f64 / wall.as_secs_f64());
        }
    }
    subjects
        .iter()
        .zip(acc)
        .map(|(s, mut a)| {
            a.round_ops_per_sec.sort_by(f64::total_cmp);
            let all: Vec<u64> = a.waits.iter().flatten().copied().collect();
            let [readers, writers] = a.waits;
            Row {
                name: s.name(),
                tasks,
                ops_per_sec: a.round_ops_per_sec[a.round_ops_per_sec.len() / 2],
                all: Waits::of(all, a.waited[READERS] + a.waited[WRITERS])
                    .expect("at least one operation"),
                class: [
                    Waits::of(readers, a.waited[READERS]),
                    Waits::of(writers, a.waited[WRITERS]),
                ],
                cores: a.cpu.map(|c| c.as_secs_f64() / a.wall.as_secs_f64()),
                busier_worker_pct: 100.0 * a.per_worker[0].max(a.per_worker[1]) as f64
                    / (a.per_worker[0] + a.per_worker[1]) as f64,
            }
        })
        .collect()
}
