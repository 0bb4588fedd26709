//! `lockorder` against plain async mutexes taken in ascending order, and a bare atomic floor.
//!
//! Run with `cargo bench --bench lockorder`. Workloads:
//!
//! * **W1, uncontended**: one task takes and releases the same K locks (K = 1, 4, 16). Futures
//!   are polled once with a no-op waker, so only the lock path is measured. Reported per lock.
//!   `lockorder-shared` takes the same set with `acquire_shared`. The interleaved pass (below) also
//!   times two earlier cores of the library by id, vendored under `benches/vendor/`:
//!   `lockorder-phase1` (commit 8fc23f1) and `lockorder-prev` (0688add, the core before the current
//!   hot path), so that a hot-path change is judged in time against what it replaces, in one run.
//! * **W2, contended**: T tasks (T = 2, 8, 64) on a 2-worker tokio runtime share 16 locks; each
//!   repeatedly takes a random 3 of them, asked for in random order (peers sort, then lock
//!   upward), runs a tiny critical section that yields to the scheduler once while holding the
//!   locks (so that tasks on the same worker meet held locks), and releases. Reported per
//!   operation (one 3-lock acquisition). `lockorder-id` builds and awaits its acquire future
//!   inside its `async fn take`, as the peers build theirs; `lockorder-id-moved` builds it first
//!   and awaits it in an `async` block that captures it, so that it is moved with the futures
//!   around it (`benches/moves.rs`). The instrumented run also does a second variant with no
//!   yield while holding (the workers meet held locks only when they collide). After the timed
//!   runs, a separate instrumented run per
//!   row prints wait percentiles, the share of acquisitions that had to wait, CPU use and the
//!   busier worker's share of operations, and writes them to `target/criterion/w2-stats.json`.
//!   Its rounds alternate between the rows, and its throughput is the median round.
//! * **W3, nested**: a guard of 2 locks nests a guard of 2 more (peers take 4 in order).
//! * **W4, read-mostly**: W2's workload at T = 8 and 64 with 90 % of the operations taking their 3
//!   locks shared. In `W4_read_mostly` the other 10 % take all 3 exclusive; in `W4_one_writer`
//!   they take one exclusive and two shared (`acquire([a]).shared([b, c])`), the mixed sets
//!   `lockorder` exists for. Peers are `async_lock::RwLock`, `tokio::sync::RwLock` and
//!   `maitake_sync::RwLock`, taken one by one in ascending order with `read()` or `write()`.
//!   The instrumented run (rounds alternating as in W2, `target/criterion/w4-stats.json`)
//!   reports writers' and readers' waits apart: a read-mostly lock is judged by how long its
//!   writers wait.
//!
//! Criterion measures one row after another, so on a shared machine a burst of load from
//! elsewhere can land on one row only. After the criterion runs, W1 and W3 are therefore timed
//! again with the rows of each table interleaved, keeping each row's fastest round; that table
//! (also in `target/criterion/w1-interleaved.json`) is the one to take ratios from.
//! `benches/chart.py` draws the criterion estimates.
//!
//! A filter (`cargo bench --bench lockorder -- W4`) selects criterion rows as usual, and the
//! passes after them whose workload it names (`W1` or `W3`: the interleaved pass; `W2`, `W4`: the
//! instrumented runs); a filter that names none of them, such as `W4-stats`, runs only the
//! passes it names.
//!
//! The quick comparison (about a minute on an idle 2-core machine): every interleaved and
//! instrumented pass, no criterion row, since no criterion row's name contains the filter:
//!
//! ```text
//! cargo bench -p lockorder-benches --bench lockorder -- passes-W1-W2-W4
//! python3 benches/chart.py      # docs/performance.md's tables from target/criterion/*.json
//! ```

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};

use common::contended::{
    alternating, runtime, ByIdMoved, Contended, Exclusive, Lockorder, Mix, Peers, Row, Subject,
    PICK, READERS, WRITERS,
};
use common::{lock_each, manager, manager_of, names, ready, Peer, LOCKS};

type AsyncLock = async_lock::Mutex<()>;
type TokioMutex = tokio::sync::Mutex<()>;
type FuturesMutex = futures::lock::Mutex<()>;
type MaitakeMutex = maitake_sync::Mutex<()>;

const W1_KS: [usize; 3] = [1, 4, 16];
/// W1's rows for earlier cores of the library, vendored under `benches/vendor/`: the phase-1 core
/// (commit 8fc23f1) and the core before the hot-path work that this table judges (0688add).
const PHASE1: &str = "lockorder-phase1";
const PREV: &str = "lockorder-prev";
const W2_TASKS: [usize; 3] = [2, 8, 64];
/// Operations (3-lock acquisitions) per timed W2 iteration, split evenly over the tasks.
const W2_OPS: usize = 4096;
/// Operations per instrumented W2 row, split into rounds that alternate between the rows.
const W2_STATS_OPS: usize = 262_144;
const W2_STATS_ROUNDS: usize = 16;
const W4_TASKS: [usize; 2] = [8, 64];
/// W4's two workloads: criterion group, label, mix.
const W4_MIXES: [(&str, &str, Mix); 2] = [
    (
        "W4_read_mostly",
        "all 3 exclusive",
        Mix {
            write_pct: 10,
            one_writer: false,
            hold_yield: true,
        },
    ),
    (
        "W4_one_writer",
        "1 exclusive + 2 shared",
        Mix {
            write_pct: 10,
            one_writer: true,
            hold_yield: true,
        },
    ),
];

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
        g.bench_with_input(BenchmarkId::new("lockorder-shared", k), &k, |b, &k| {
            b.iter(|| drop(black_box(ready(m.acquire_shared(&ids[..k])).unwrap())));
        });
        g.bench_with_input(BenchmarkId::new("lockorder-name", k), &k, |b, &k| {
            b.iter(|| {
                let keys = names[..k].iter().map(String::as_str);
                drop(black_box(ready(m.acquire(keys)).unwrap()))
            });
        });
        peer_row::<AsyncLock>(&mut g, k, false);
        peer_row::<TokioMutex>(&mut g, k, false);
        peer_row::<FuturesMutex>(&mut g, k, false);
        peer_row::<MaitakeMutex>(&mut g, k, false);
        let flags: Vec<AtomicBool> = (0..LOCKS).map(|_| AtomicBool::new(false)).collect();
        g.bench_with_input(BenchmarkId::new("atomic-floor", k), &k, |b, &k| {
            b.iter(|| atomic_floor(&flags[..k]));
        });
    }
    g.finish();
}

/// A peer's W1 row (parameter K), or its W3 row (no parameter) when `k` is 4 and `w3` is set.
fn peer_row<M: Peer>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    k: usize,
    w3: bool,
) {
    let locks: Vec<M> = (0..LOCKS).map(|_| M::new()).collect();
    let mut guards = Vec::with_capacity(LOCKS);
    let run = |b: &mut criterion::Bencher<'_>| b.iter(|| lock_each(&locks[..k], &mut guards));
    if w3 {
        g.bench_function(M::NAME, run);
    } else {
        g.bench_function(BenchmarkId::new(M::NAME, k), run);
    }
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
    peer_row::<AsyncLock>(&mut g, 4, true);
    peer_row::<TokioMutex>(&mut g, 4, true);
    peer_row::<FuturesMutex>(&mut g, 4, true);
    peer_row::<MaitakeMutex>(&mut g, 4, true);
    let flags: Vec<AtomicBool> = (0..LOCKS).map(|_| AtomicBool::new(false)).collect();
    g.bench_function("atomic-floor", |b| b.iter(|| atomic_floor(&flags[..4])));
    g.finish();
}

// === W1 and W3, interleaved ===

/// A batch of `n` iterations of one W1/W3 row.
type Batch = Box<dyn FnMut(u64)>;

/// W1 by id on the core `$core` (`lockorder`, or a vendored earlier core): the same loop for each,
/// so that they differ by the library alone.
macro_rules! by_id_batch {
    ($core:ident, $k:expr) => {{
        let k = $k;
        let (m, ids) = manager_of!($core);
        Box::new(move |n: u64| {
            for _ in 0..n {
                drop(black_box(ready(m.acquire(&ids[..k])).unwrap()));
            }
        }) as Batch
    }};
}

fn lockorder_batch(k: usize) -> Batch {
    by_id_batch!(lockorder, k)
}

fn lockorder_shared_batch(k: usize) -> Batch {
    let (m, ids) = manager();
    Box::new(move |n| {
        for _ in 0..n {
            drop(black_box(ready(m.acquire_shared(&ids[..k])).unwrap()));
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
            lock_each(&locks[..k], &mut guards);
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
    let mut report = |title: &str,
                      param: &str,
                      locks: usize,
                      res: Vec<(&'static str, f64, f64)>| {
        let me = res[0].1;
        out += &format!("{title}\n");
        out += &format!(
            "{:<16} {:>10} {:>10} {:>10} {:>16}\n",
            "impl", "min ns/lk", "med ns/lk", "min ns/set", "lockorder-id / X"
        );
        for (name, min, med) in &res {
            out += &format!(
                "{name:<16} {min:>10.2} {med:>10.2} {:>10.1} {:>16.2}\n",
                min * locks as f64,
                me / min
            );
            json.push(format!(
                "  {{\"table\": \"{title}\", \"param\": \"{param}\", \"impl\": \"{name}\", \"min_ns_per_lock\": {min:.3}, \"median_ns_per_lock\": {med:.3}}}"
            ));
        }
        out += "\n";
    };
    for k in W1_KS {
        let mut rows: Vec<(&'static str, Batch)> = vec![
            ("lockorder-id", lockorder_batch(k)),
            (PHASE1, by_id_batch!(lockorder_phase1, k)),
            (PREV, by_id_batch!(lockorder_prev, k)),
            ("lockorder-shared", lockorder_shared_batch(k)),
            ("lockorder-name", lockorder_name_batch(k)),
            (AsyncLock::NAME, peer_batch::<AsyncLock>(k)),
            (TokioMutex::NAME, peer_batch::<TokioMutex>(k)),
            (FuturesMutex::NAME, peer_batch::<FuturesMutex>(k)),
            (MaitakeMutex::NAME, peer_batch::<MaitakeMutex>(k)),
            ("atomic-floor", floor_batch(k)),
        ];
        let res = interleaved(&mut rows, k);
        report(&format!("W1 K={k}"), &k.to_string(), k, res);
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
    report("W3 nested 2+2", "", 4, res);
    write_json(
        "w1-interleaved.json",
        &format!("[\n{}\n]\n", json.join(",\n")),
    );
    out
}

/// Writes `json` to `criterion/<file>` in the target directory criterion itself writes to.
fn write_json(file: &str, json: &str) {
    let dir = target_dir().join("criterion");
    let path = dir.join(file);
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, json)) {
        Ok(()) => println!("written to {}", path.display()),
        Err(e) => println!("could not write {}: {e}", path.display()),
    }
}

/// The workspace's target directory, found the way criterion finds it: `CARGO_TARGET_DIR`, else
/// `cargo metadata`. `cargo bench` runs this binary in the package's folder, `benches/`, so a
/// relative `target` would be `benches/target`, where `chart.py` does not look.
fn target_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return dir.into();
    }
    let metadata = std::env::var_os("CARGO").and_then(|cargo| {
        std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .ok()
    });
    let key = "\"target_directory\":\"";
    metadata
        .and_then(|out| {
            let text = String::from_utf8(out.stdout).ok()?;
            let rest = &text[text.find(key)? + key.len()..];
            Some(rest[..rest.find('"')?].replace("\\\\", "\\"))
        })
        .map_or_else(|| "target".into(), Into::into)
}

// === W2: contended ===

fn w2(c: &mut Criterion) {
    let mut g = c.benchmark_group("W2_contended");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(15)
        .throughput(Throughput::Elements(W2_OPS as u64));
    let rt = runtime();
    for subject in w2_subjects() {
        for tasks in W2_TASKS {
            contended_row(&mut g, &rt, &*subject, tasks, Mix::EXCLUSIVE);
        }
    }
    g.finish();
}

fn w2_subjects() -> Vec<Box<dyn Subject>> {
    vec![
        Box::new(Lockorder::new()),
        // The same library with its acquire future built before the `async` block that awaits
        // it, and moved with the futures around it (see `benches/moves.rs`).
        Box::new(Contended::<ByIdMoved>::new()),
        Box::new(Peers::<Exclusive<AsyncLock>>::new()),
        Box::new(Peers::<Exclusive<TokioMutex>>::new()),
        Box::new(Peers::<Exclusive<FuturesMutex>>::new()),
        Box::new(Peers::<Exclusive<MaitakeMutex>>::new()),
    ]
}

/// One timed criterion row of a contended workload: `W2_OPS` operations per iteration.
fn contended_row(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    subject: &dyn Subject,
    tasks: usize,
    mix: Mix,
) {
    g.bench_with_input(
        BenchmarkId::new(subject.name(), tasks),
        &tasks,
        |b, &tasks| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    subject.round(rt, tasks, W2_OPS, mix, false);
                }
                start.elapsed()
            });
        },
    );
}

// === W2 instrumented run ===

/// The instrumented rows of one workload: the `subjects` in alternating rounds, at each of `tasks`.
fn instrumented(
    rt: &tokio::runtime::Runtime,
    subjects: fn() -> Vec<Box<dyn Subject>>,
    tasks: &[usize],
    mix: Mix,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for &t in tasks {
        rows.extend(alternating(
            rt,
            &subjects(),
            t,
            mix,
            W2_OPS,
            W2_STATS_OPS,
            W2_STATS_ROUNDS,
        ));
    }
    rows
}

/// W2's two variants in the instrumented run: label, JSON tag, mix.
const W2_VARIANTS: [(&str, &str, Mix); 2] = [
    ("one yield while holding", "yield", Mix::EXCLUSIVE),
    (
        "no yield while holding",
        "no-yield",
        Mix::EXCLUSIVE_NO_YIELD,
    ),
];

fn w2_stats() {
    let rt = runtime();
    let mut json = Vec::new();
    for (label, tag, mix) in W2_VARIANTS {
        let rows = instrumented(&rt, w2_subjects, &W2_TASKS, mix);
        println!();
        println!(
            "W2 instrumented, {label}: {W2_STATS_OPS} operations of {PICK} locks per row in \
             {W2_STATS_ROUNDS} alternating rounds; ops/s = median round; wait = time to get all \
             {PICK}"
        );
        println!(
            "{:<18} {:>3} {:>10} {:>9} {:>9} {:>10} {:>8} {:>6} {:>8}",
            "impl", "T", "ops/s", "p50 ns", "p99 ns", "max ns", "waited%", "cores", "busier%"
        );
        for r in &rows {
            let w = &r.all;
            println!(
                "{:<18} {:>3} {:>10.0} {:>9} {:>9} {:>10} {:>8.1} {:>6} {:>8.1}",
                r.name,
                r.tasks,
                r.ops_per_sec,
                w.p50_ns,
                w.p99_ns,
                w.max_ns,
                w.waited_pct,
                r.cores.map_or("-".into(), |c| format!("{c:.2}")),
                r.busier_worker_pct
            );
            json.push(format!(
                "  {{\"variant\": \"{tag}\", \"impl\": \"{}\", \"tasks\": {}, \"ops_per_sec\": {:.0}, {}, \"cores\": {}, \"busier_worker_pct\": {:.2}}}",
                r.name,
                r.tasks,
                r.ops_per_sec,
                w.json(""),
                r.cores.map_or("null".into(), |c| format!("{c:.3}")),
                r.busier_worker_pct,
            ));
        }
    }
    write_json("w2-stats.json", &format!("[\n{}\n]\n", json.join(",\n")));
}

// === W4: read-mostly ===

type AsyncRwLock = async_lock::RwLock<()>;
type TokioRwLock = tokio::sync::RwLock<()>;
type MaitakeRwLock = maitake_sync::RwLock<()>;

fn w4(c: &mut Criterion) {
    let rt = runtime();
    for (group, _, mix) in W4_MIXES {
        let mut g = c.benchmark_group(group);
        g.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .sample_size(15)
            .throughput(Throughput::Elements(W2_OPS as u64));
        for subject in w4_subjects() {
            for tasks in W4_TASKS {
                contended_row(&mut g, &rt, &*subject, tasks, mix);
            }
        }
        g.finish();
    }
}

fn w4_subjects() -> Vec<Box<dyn Subject>> {
    vec![
        Box::new(Lockorder::new()),
        Box::new(Peers::<AsyncRwLock>::new()),
        Box::new(Peers::<TokioRwLock>::new()),
        Box::new(Peers::<MaitakeRwLock>::new()),
    ]
}

fn w4_stats() {
    let rt = runtime();
    let mut json = Vec::new();
    for (group, label, mix) in W4_MIXES {
        let rows = instrumented(&rt, w4_subjects, &W4_TASKS, mix);
        println!();
        println!(
            "{group} instrumented: {W2_STATS_OPS} operations of {PICK} locks per row in \
             {W2_STATS_ROUNDS} alternating rounds, {}% writing ({label}); ops/s = median round",
            mix.write_pct
        );
        println!(
            "{:<14} {:>3} {:>10} | {:>9} {:>9} {:>10} {:>8} | {:>9} {:>10} | {:>6} {:>8}",
            "impl",
            "T",
            "ops/s",
            "w p50 ns",
            "w p99 ns",
            "w max ns",
            "w wait%",
            "r p99 ns",
            "r max ns",
            "cores",
            "busier%"
        );
        for r in &rows {
            let writers = r.class[WRITERS].as_ref().map_or_else(
                || format!("{:>9} {:>9} {:>10} {:>8}", "-", "-", "-", "-"),
                |w| {
                    format!(
                        "{:>9} {:>9} {:>10} {:>8.1}",
                        w.p50_ns, w.p99_ns, w.max_ns, w.waited_pct
                    )
                },
            );
            let readers = r.class[READERS].as_ref().map_or_else(
                || format!("{:>9} {:>10}", "-", "-"),
                |w| format!("{:>9} {:>10}", w.p99_ns, w.max_ns),
            );
            println!(
                "{:<14} {:>3} {:>10.0} | {writers} | {readers} | {:>6} {:>8.1}",
                r.name,
                r.tasks,
                r.ops_per_sec,
                r.cores.map_or("-".into(), |c| format!("{c:.2}")),
                r.busier_worker_pct
            );
            let mut members = vec![
                format!("\"workload\": \"{group}\""),
                format!("\"impl\": \"{}\"", r.name),
                format!("\"tasks\": {}", r.tasks),
                format!("\"write_pct\": {}", mix.write_pct),
                format!("\"ops_per_sec\": {:.0}", r.ops_per_sec),
                r.all.json(""),
            ];
            for (class, prefix) in [(READERS, "reader_"), (WRITERS, "writer_")] {
                members.extend(r.class[class].as_ref().map(|w| w.json(prefix)));
            }
            members.push(format!(
                "\"cores\": {}",
                r.cores.map_or("null".into(), |c| format!("{c:.3}"))
            ));
            members.push(format!("\"busier_worker_pct\": {:.2}", r.busier_worker_pct));
            json.push(format!("  {{{}}}", members.join(", ")));
        }
    }
    write_json("w4-stats.json", &format!("[\n{}\n]\n", json.join(",\n")));
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    w1(&mut c);
    w3(&mut c);
    w2(&mut c);
    w4(&mut c);
    c.final_summary();
    // Only a real benchmark run (not `cargo test --benches`) does the passes after criterion's,
    // and only those that no filter excludes.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let real = args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| ["--test", "--list", "--profile-time"].contains(&a.as_str()));
    let wants = |tag: &str| real && (filters.is_empty() || filters.iter().any(|f| f.contains(tag)));
    if wants("W1") || wants("W3") {
        println!("\nW1 and W3 again, rows interleaved ({INTERLEAVED_ROUNDS} rounds; min = fastest round)\n");
        print!("{}", w1_w3_interleaved());
    }
    if wants("W2") {
        w2_stats();
    }
    if wants("W4") {
        w4_stats();
    }
}
