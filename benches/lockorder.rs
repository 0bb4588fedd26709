//! `lockorder` against plain async mutexes taken in ascending order, and a bare atomic floor.
//!
//! Run with `cargo bench --bench lockorder`. Workloads:
//!
//! * **W1, uncontended**: one task takes and releases the same K locks (K = 1, 4, 16). Futures
//!   are polled once with a no-op waker, so only the lock path is measured. Reported per lock.
//! * **W2, contended**: T tasks (T = 2, 8, 64) on a 2-worker tokio runtime share 16 locks; each
//!   repeatedly takes a random 3 of them, asked for in random order (peers sort, then lock
//!   upward), runs a tiny critical section that yields to the scheduler once while holding the
//!   locks (so that tasks on the same worker meet held locks), and releases. Reported per
//!   operation (one 3-lock acquisition). After the timed runs, a separate instrumented run per
//!   row prints wait percentiles, the share of acquisitions that had to wait, CPU use and the
//!   busier worker's share of operations, and writes them to `target/criterion/w2-stats.json`.
//!   Its rounds alternate between the rows, and its throughput is the median round.
//! * **W3, nested**: a guard of 2 locks nests a guard of 2 more (peers take 4 in order).
//!
//! Criterion measures one row after another, so on a shared machine a burst of load from
//! elsewhere can land on one row only. After the criterion runs, W1 and W3 are therefore timed
//! again with the rows of each table interleaved, keeping each row's fastest round; that table
//! (also in `target/criterion/w1-interleaved.json`) is the one to take ratios from.
//! `benches/chart.py` draws the criterion estimates.

mod common;

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use lockorder::{LockId, LockManager};

use common::{manager, names, ready, Peer, LOCKS};

type AsyncLock = async_lock::Mutex<()>;
type TokioMutex = tokio::sync::Mutex<()>;
type FuturesMutex = futures::lock::Mutex<()>;
type MaitakeMutex = maitake_sync::Mutex<()>;

const W1_KS: [usize; 3] = [1, 4, 16];
const W2_TASKS: [usize; 3] = [2, 8, 64];
/// Operations (3-lock acquisitions) per timed W2 iteration, split evenly over the tasks.
const W2_OPS: usize = 4096;
/// Operations per instrumented W2 row, split into rounds that alternate between the rows.
const W2_STATS_OPS: usize = 262_144;
const W2_STATS_ROUNDS: usize = 16;
const W2_PICK: usize = 3;

// === W1: uncontended ===

fn w1(c: &mut Criterion) {
    let mut g = c.benchmark_group("W1_uncontended");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40);
    let (m, ids) = manager();
    let names = names();
    for k in W1_KS {
        g.throughput(Throughput::Elements(k as u64));
        g.bench_with_input(BenchmarkId::new("lockorder-id", k), &k, |b, &k| {
            b.iter(|| drop(black_box(ready(m.acquire(&ids[..k])).unwrap())));
        });
        g.bench_with_input(BenchmarkId::new("lockorder-name", k), &k, |b, &k| {
            b.iter(|| {
                let keys = names[..k].iter().map(String::as_str);
                drop(black_box(ready(m.acquire(keys)).unwrap()))
            });
        });
        w1_peer::<AsyncLock>(&mut g, k);
        w1_peer::<TokioMutex>(&mut g, k);
        w1_peer::<FuturesMutex>(&mut g, k);
        w1_peer::<MaitakeMutex>(&mut g, k);
        let flags: Vec<AtomicBool> = (0..LOCKS).map(|_| AtomicBool::new(false)).collect();
        g.bench_with_input(BenchmarkId::new("atomic-floor", k), &k, |b, &k| {
            b.iter(|| atomic_floor(&flags[..k]));
        });
    }
    g.finish();
}

fn w1_peer<M: Peer>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    k: usize,
) {
    let locks: Vec<M> = (0..LOCKS).map(|_| M::new()).collect();
    let mut guards = Vec::with_capacity(LOCKS);
    g.bench_with_input(BenchmarkId::new(M::NAME, k), &k, |b, &k| {
        b.iter(|| {
            for l in &locks[..k] {
                guards.push(ready(l.lock()));
            }
            while let Some(guard) = guards.pop() {
                drop(black_box(guard));
            }
        });
    });
}

/// The floor: one compare-and-swap to take each flag, one store to give it back.
#[inline]
fn atomic_floor(flags: &[AtomicBool]) {
    for f in flags {
        assert!(f
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok());
    }
    for f in flags.iter().rev() {
        f.store(false, Ordering::Release);
    }
}

// === W3: nested ===

fn w3(c: &mut Criterion) {
    let mut g = c.benchmark_group("W3_nested");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(40)
        .throughput(Throughput::Elements(4));
    let (m, ids) = manager();
    g.bench_function("lockorder-id", |b| {
        b.iter(|| {
            let mut outer = ready(m.acquire(&ids[0..2])).unwrap();
            let inner = ready(outer.acquire(&ids[2..4])).unwrap();
            drop(black_box(inner));
            drop(black_box(outer));
        });
    });
    w3_peer::<AsyncLock>(&mut g);
    w3_peer::<TokioMutex>(&mut g);
    w3_peer::<FuturesMutex>(&mut g);
    w3_peer::<MaitakeMutex>(&mut g);
    let flags: Vec<AtomicBool> = (0..LOCKS).map(|_| AtomicBool::new(false)).collect();
    g.bench_function("atomic-floor", |b| b.iter(|| atomic_floor(&flags[..4])));
    g.finish();
}

fn w3_peer<M: Peer>(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let locks: Vec<M> = (0..LOCKS).map(|_| M::new()).collect();
    let mut guards = Vec::with_capacity(LOCKS);
    g.bench_function(M::NAME, |b| {
        b.iter(|| {
            for l in &locks[..4] {
                guards.push(ready(l.lock()));
            }
            while let Some(guard) = guards.pop() {
                drop(black_box(guard));
            }
        });
    });
}

// === W1 and W3, interleaved ===

/// A batch of `n` iterations of one W1/W3 row.
type Batch = Box<dyn FnMut(u64)>;

fn lockorder_batch(k: usize) -> Batch {
    let (m, ids) = manager();
    Box::new(move |n| {
        for _ in 0..n {
            drop(black_box(ready(m.acquire(&ids[..k])).unwrap()));
        }
    })
}

fn lockorder_name_batch(k: usize) -> Batch {
    let (m, _) = manager();
    let names = names();
    Box::new(move |n| {
        for _ in 0..n {
            let keys = names[..k].iter().map(String::as_str);
            drop(black_box(ready(m.acquire(keys)).unwrap()));
        }
    })
}

fn lockorder_nested_batch() -> Batch {
    let (m, ids) = manager();
    Box::new(move |n| {
        for _ in 0..n {
            let mut outer = ready(m.acquire(&ids[0..2])).unwrap();
            let inner = ready(outer.acquire(&ids[2..4])).unwrap();
            drop(black_box(inner));
            drop(black_box(outer));
        }
    })
}

fn peer_batch<M: Peer>(k: usize) -> Batch {
    let locks: Vec<M> = (0..LOCKS).map(|_| M::new()).collect();
    Box::new(move |n| {
        let mut guards = Vec::with_capacity(LOCKS);
        for _ in 0..n {
            for l in &locks[..k] {
                guards.push(ready(l.lock()));
            }
            while let Some(guard) = guards.pop() {
                drop(black_box(guard));
            }
        }
    })
}

fn floor_batch(k: usize) -> Batch {
    let flags: Vec<AtomicBool> = (0..LOCKS).map(|_| AtomicBool::new(false)).collect();
    Box::new(move |n| {
        for _ in 0..n {
            atomic_floor(&flags[..k]);
        }
    })
}

/// Times every row of one table in alternation, `INTERLEAVED_ROUNDS` times, and keeps each
/// row's fastest round: load from elsewhere only ever adds time, so the minimum is the estimate
/// least disturbed by a shared machine, and alternating exposes all rows to the same load.
/// Returns ns per lock.
fn interleaved(rows: &mut [(&'static str, Batch)], locks: usize) -> Vec<(&'static str, f64, f64)> {
    let n = (INTERLEAVED_LOCKS / locks) as u64;
    let mut samples: Vec<Vec<f64>> = rows.iter().map(|_| Vec::new()).collect();
    for round in 0..INTERLEAVED_ROUNDS {
        for i in 0..rows.len() {
            let i = (i + round) % rows.len();
            let start = Instant::now();
            (rows[i].1)(n);
            samples[i].push(start.elapsed().as_nanos() as f64 / (n as usize * locks) as f64);
        }
    }
    rows.iter()
        .zip(samples)
        .map(|((name, _), mut s)| {
            s.sort_by(f64::total_cmp);
            (*name, s[0], s[s.len() / 2])
        })
        .collect()
}

const INTERLEAVED_ROUNDS: usize = 60;
/// Locks taken per timed batch (about 0.5 to 2 ms).
const INTERLEAVED_LOCKS: usize = 32768;

fn w1_w3_interleaved() -> String {
    let mut out = String::new();
    let mut json = Vec::new();
    let mut report = |title: &str, param: &str, res: Vec<(&'static str, f64, f64)>| {
        let me = res[0].1;
        out += &format!("{title}\n");
        out += &format!(
            "{:<16} {:>10} {:>10} {:>16}\n",
            "impl", "min ns/lk", "med ns/lk", "lockorder-id / X"
        );
        for (name, min, med) in &res {
            out += &format!("{name:<16} {min:>10.2} {med:>10.2} {:>16.2}\n", me / min);
            json.push(format!(
                "  {{\"table\": \"{title}\", \"param\": \"{param}\", \"impl\": \"{name}\", \"min_ns_per_lock\": {min:.3}, \"median_ns_per_lock\": {med:.3}}}"
            ));
        }
        out += "\n";
    };
    for k in W1_KS {
        let mut rows: Vec<(&'static str, Batch)> = vec![
            ("lockorder-id", lockorder_batch(k)),
            ("lockorder-name", lockorder_name_batch(k)),
            (AsyncLock::NAME, peer_batch::<AsyncLock>(k)),
            (TokioMutex::NAME, peer_batch::<TokioMutex>(k)),
            (FuturesMutex::NAME, peer_batch::<FuturesMutex>(k)),
            (MaitakeMutex::NAME, peer_batch::<MaitakeMutex>(k)),
            ("atomic-floor", floor_batch(k)),
        ];
        let res = interleaved(&mut rows, k);
        report(&format!("W1 K={k}"), &k.to_string(), res);
    }
    let mut rows: Vec<(&'static str, Batch)> = vec![
        ("lockorder-id", lockorder_nested_batch()),
        (AsyncLock::NAME, peer_batch::<AsyncLock>(4)),
        (TokioMutex::NAME, peer_batch::<TokioMutex>(4)),
        (FuturesMutex::NAME, peer_batch::<FuturesMutex>(4)),
        (MaitakeMutex::NAME, peer_batch::<MaitakeMutex>(4)),
        ("atomic-floor", floor_batch(4)),
    ];
    let res = interleaved(&mut rows, 4);
    report("W3 nested 2+2", "", res);
    write_json(
        "w1-interleaved.json",
        &format!("[\n{}\n]\n", json.join(",\n")),
    );
    out
}

fn write_json(file: &str, json: &str) {
    let dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()),
    )
    .join("criterion");
    let path = dir.join(file);
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, json)) {
        Ok(()) => println!("written to {}", path.display()),
        Err(e) => println!("could not write {}: {e}", path.display()),
    }
}

// === W2: contended ===

thread_local! {
    /// The index of the runtime worker this thread is (0 or 1), `usize::MAX` elsewhere.
    static WORKER: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn runtime() -> tokio::runtime::Runtime {
    let next = Arc::new(AtomicUsize::new(0));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || WORKER.with(|w| w.set(next.fetch_add(1, Ordering::Relaxed))))
        .build()
        .expect("a tokio runtime")
}

/// xorshift64*: enough randomness to pick locks, and reproducible per task.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize % n
    }

    /// `W2_PICK` distinct lock indices, in random order.
    fn pick(&mut self) -> [usize; W2_PICK] {
        let mut out = [usize::MAX; W2_PICK];
        let mut i = 0;
        while i < W2_PICK {
            let x = self.below(LOCKS);
            if !out[..i].contains(&x) {
                out[i] = x;
                i += 1;
            }
        }
        out
    }
}

/// What one task saw in an instrumented run.
#[derive(Default)]
struct TaskStats {
    waits_ns: Vec<u64>,
    waited: u64,
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

/// The critical section: a little work, and one trip through the scheduler with the locks held.
async fn critical_section() {
    for i in 0..16u32 {
        black_box(i);
    }
    tokio::task::yield_now().await;
}

fn record(stats: &mut Option<TaskStats>, start: Option<Instant>, waited: bool) {
    if let (Some(s), Some(start)) = (stats.as_mut(), start) {
        s.waits_ns.push(start.elapsed().as_nanos() as u64);
        s.waited += u64::from(waited);
        let w = WORKER.with(Cell::get);
        if let Some(n) = s.per_worker.get_mut(w) {
            *n += 1;
        }
    }
}

async fn lockorder_task(
    m: Arc<LockManager>,
    ids: Arc<[LockId]>,
    seed: u64,
    ops: usize,
    mut stats: Option<TaskStats>,
) -> Option<TaskStats> {
    let mut rng = Rng::new(seed);
    for _ in 0..ops {
        let [a, b, c] = rng.pick();
        let start = stats.is_some().then(Instant::now);
        let (guard, waited) = counted(m.acquire([ids[a], ids[b], ids[c]])).await;
        let guard = guard.expect("known ids");
        record(&mut stats, start, waited);
        critical_section().await;
        drop(guard);
    }
    stats
}

async fn peer_task<M: Peer>(
    locks: Arc<[M]>,
    seed: u64,
    ops: usize,
    mut stats: Option<TaskStats>,
) -> Option<TaskStats> {
    let mut rng = Rng::new(seed);
    for _ in 0..ops {
        let mut want = rng.pick();
        want.sort_unstable();
        let start = stats.is_some().then(Instant::now);
        let ([g0, g1, g2], waited) = counted(async {
            let g0 = locks[want[0]].lock().await;
            let g1 = locks[want[1]].lock().await;
            let g2 = locks[want[2]].lock().await;
            [g0, g1, g2]
        })
        .await;
        record(&mut stats, start, waited);
        critical_section().await;
        drop(g2);
        drop(g1);
        drop(g0);
    }
    stats
}

/// One W2 round: `tasks` tasks share `ops` operations. Returns each task's stats if asked.
trait W2Subject: Send + Sync + 'static {
    const NAME: &'static str;
    fn new() -> Self;
    fn round(
        &self,
        rt: &tokio::runtime::Runtime,
        tasks: usize,
        ops: usize,
        stats: bool,
    ) -> Vec<TaskStats>;
}

fn run_round<F, Fut>(
    rt: &tokio::runtime::Runtime,
    tasks: usize,
    ops: usize,
    stats: bool,
    spawn: F,
) -> Vec<TaskStats>
where
    F: Fn(u64, usize, Option<TaskStats>) -> Fut,
    Fut: Future<Output = Option<TaskStats>> + Send + 'static,
{
    rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let s = stats.then(|| TaskStats {
                    waits_ns: Vec::with_capacity(ops / tasks),
                    ..TaskStats::default()
                });
                tokio::spawn(spawn(t as u64 + 1, ops / tasks, s))
            })
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.extend(h.await.expect("a W2 task panicked"));
        }
        out
    })
}

struct Lockorder {
    m: Arc<LockManager>,
    ids: Arc<[LockId]>,
}

impl W2Subject for Lockorder {
    const NAME: &'static str = "lockorder-id";

    fn new() -> Self {
        let (m, ids) = manager();
        Self {
            m: Arc::new(m),
            ids: ids.into(),
        }
    }

    fn round(
        &self,
        rt: &tokio::runtime::Runtime,
        tasks: usize,
        ops: usize,
        stats: bool,
    ) -> Vec<TaskStats> {
        run_round(rt, tasks, ops, stats, |seed, n, s| {
            lockorder_task(self.m.clone(), self.ids.clone(), seed, n, s)
        })
    }
}

struct Peers<M>(Arc<[M]>);

impl<M: Peer> W2Subject for Peers<M> {
    const NAME: &'static str = M::NAME;

    fn new() -> Self {
        Self((0..LOCKS).map(|_| M::new()).collect())
    }

    fn round(
        &self,
        rt: &tokio::runtime::Runtime,
        tasks: usize,
        ops: usize,
        stats: bool,
    ) -> Vec<TaskStats> {
        run_round(rt, tasks, ops, stats, |seed, n, s| {
            peer_task(self.0.clone(), seed, n, s)
        })
    }
}

fn w2(c: &mut Criterion) {
    let mut g = c.benchmark_group("W2_contended");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(15)
        .throughput(Throughput::Elements(W2_OPS as u64));
    let rt = runtime();
    w2_subject::<Lockorder>(&mut g, &rt);
    w2_subject::<Peers<AsyncLock>>(&mut g, &rt);
    w2_subject::<Peers<TokioMutex>>(&mut g, &rt);
    w2_subject::<Peers<FuturesMutex>>(&mut g, &rt);
    w2_subject::<Peers<MaitakeMutex>>(&mut g, &rt);
    g.finish();
}

fn w2_subject<S: W2Subject>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
) {
    let subject = S::new();
    for tasks in W2_TASKS {
        g.bench_with_input(BenchmarkId::new(S::NAME, tasks), &tasks, |b, &tasks| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    subject.round(rt, tasks, W2_OPS, false);
                }
                start.elapsed()
            });
        });
    }
}

// === W2 instrumented run ===

/// CPU time used by the threads of this process so far, in nanoseconds: the sum of the first
/// field of `/proc/self/task/*/schedstat` (`/proc/self/stat` only counts 10 ms ticks, too coarse
/// for rounds of a few milliseconds). `None` where that does not exist. Threads that have exited
/// are not counted; the runtime's workers live as long as the runtime.
fn cpu_time() -> Option<Duration> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split(' ').next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

struct StatsRow {
    name: &'static str,
    tasks: usize,
    ops: usize,
    ops_per_sec: f64,
    p50_ns: u64,
    p99_ns: u64,
    max_ns: u64,
    waited_pct: f64,
    cores: Option<f64>,
    busier_worker_pct: f64,
}

/// A W2 subject behind a pointer, so that the rows of one T can be run in alternation.
trait DynSubject {
    fn name(&self) -> &'static str;
    fn run(
        &self,
        rt: &tokio::runtime::Runtime,
        tasks: usize,
        ops: usize,
        stats: bool,
    ) -> Vec<TaskStats>;
}

impl<S: W2Subject> DynSubject for S {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn run(
        &self,
        rt: &tokio::runtime::Runtime,
        tasks: usize,
        ops: usize,
        stats: bool,
    ) -> Vec<TaskStats> {
        self.round(rt, tasks, ops, stats)
    }
}

/// What the instrumented rounds of one row add up to.
#[derive(Default)]
struct RowAcc {
    waits: Vec<u64>,
    waited: u64,
    per_worker: [u64; 2],
    wall: Duration,
    cpu: Option<Duration>,
    round_ops_per_sec: Vec<f64>,
}

fn w2_stats() {
    let rt = runtime();
    let mut rows = Vec::new();
    for tasks in W2_TASKS {
        let subjects: Vec<Box<dyn DynSubject>> = vec![
            Box::new(Lockorder::new()),
            Box::new(Peers::<AsyncLock>::new()),
            Box::new(Peers::<TokioMutex>::new()),
            Box::new(Peers::<FuturesMutex>::new()),
            Box::new(Peers::<MaitakeMutex>::new()),
        ];
        let mut acc: Vec<RowAcc> = subjects.iter().map(|_| RowAcc::default()).collect();
        for s in &subjects {
            s.run(&rt, tasks, W2_OPS, false); // warm up
        }
        // Rounds alternate between the subjects (in a rotating order) so that a burst of load
        // from elsewhere on the machine does not land on one row only.
        for round in 0..W2_STATS_ROUNDS {
            for i in 0..subjects.len() {
                let i = (i + round) % subjects.len();
                let cpu0 = cpu_time();
                let start = Instant::now();
                let stats = subjects[i].run(&rt, tasks, W2_STATS_OPS / W2_STATS_ROUNDS, true);
                let wall = start.elapsed();
                let cpu = cpu0.zip(cpu_time()).map(|(a, b)| b - a);
                let a = &mut acc[i];
                let before = a.waits.len();
                for s in &stats {
                    a.waits.extend_from_slice(&s.waits_ns);
                    a.waited += s.waited;
                    a.per_worker[0] += s.per_worker[0];
                    a.per_worker[1] += s.per_worker[1];
                }
                a.wall += wall;
                a.cpu = match (round, a.cpu, cpu) {
                    (0, _, cpu) => cpu,
                    (_, Some(sum), Some(cpu)) => Some(sum + cpu),
                    _ => None,
                };
                a.round_ops_per_sec
                    .push((a.waits.len() - before) as f64 / wall.as_secs_f64());
            }
        }
        for (s, mut a) in subjects.iter().zip(acc) {
            a.waits.sort_unstable();
            a.round_ops_per_sec.sort_by(f64::total_cmp);
            let ops = a.waits.len();
            let pct = |p: f64| a.waits[((ops - 1) as f64 * p).round() as usize];
            rows.push(StatsRow {
                name: s.name(),
                tasks,
                ops,
                ops_per_sec: a.round_ops_per_sec[a.round_ops_per_sec.len() / 2],
                p50_ns: pct(0.50),
                p99_ns: pct(0.99),
                max_ns: *a.waits.last().expect("at least one operation"),
                waited_pct: 100.0 * a.waited as f64 / ops as f64,
                cores: a.cpu.map(|c| c.as_secs_f64() / a.wall.as_secs_f64()),
                busier_worker_pct: 100.0 * a.per_worker[0].max(a.per_worker[1]) as f64
                    / (a.per_worker[0] + a.per_worker[1]) as f64,
            });
        }
    }
    println!();
    println!(
        "W2 instrumented: {W2_STATS_OPS} operations of {W2_PICK} locks per row in {W2_STATS_ROUNDS} \
         alternating rounds; ops/s = median round; wait = time to get all {W2_PICK}"
    );
    println!(
        "{:<14} {:>3} {:>10} {:>9} {:>9} {:>10} {:>8} {:>6} {:>8}",
        "impl", "T", "ops/s", "p50 ns", "p99 ns", "max ns", "waited%", "cores", "busier%"
    );
    let mut json = String::from("[\n");
    for (i, r) in rows.iter().enumerate() {
        let cores = r.cores.map_or("-".into(), |c| format!("{c:.2}"));
        println!(
            "{:<14} {:>3} {:>10.0} {:>9} {:>9} {:>10} {:>8.1} {:>6} {:>8.1}",
            r.name,
            r.tasks,
            r.ops_per_sec,
            r.p50_ns,
            r.p99_ns,
            r.max_ns,
            r.waited_pct,
            cores,
            r.busier_worker_pct
        );
        json += &format!(
            "  {{\"impl\": \"{}\", \"tasks\": {}, \"ops\": {}, \"ops_per_sec\": {:.0}, \"p50_ns\": {}, \"p99_ns\": {}, \"max_ns\": {}, \"waited_pct\": {:.2}, \"cores\": {}, \"busier_worker_pct\": {:.2}}}{}\n",
            r.name, r.tasks, r.ops, r.ops_per_sec, r.p50_ns, r.p99_ns, r.max_ns, r.waited_pct,
            r.cores.map_or("null".into(), |c| format!("{c:.3}")),
            r.busier_worker_pct,
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    json += "]\n";
    write_json("w2-stats.json", &json);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    w1(&mut c);
    w3(&mut c);
    w2(&mut c);
    c.final_summary();
    // Only a real benchmark run (not `cargo test --benches`) does the instrumented W2 run, and
    // only when no filter excludes W2.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| ["--test", "--list", "--profile-time"].contains(&a.as_str()))
        && (filters.is_empty() || filters.iter().any(|f| f.contains("W2")))
    {
        println!("\nW1 and W3 again, rows interleaved ({INTERLEAVED_ROUNDS} rounds; min = fastest round)\n");
        print!("{}", w1_w3_interleaved());
        w2_stats();
    }
}
