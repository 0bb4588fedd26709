//! Benchmarks over a unix socket: `cargo bench -p lockorder-postgres --bench postgres`.
//!
//! * Uncontended acquire + release of K = 1 and K = 4 locks, against taking the same locks one
//!   by one with plain prepared `pg_advisory_lock` / `pg_advisory_unlock` statements (what users
//!   write today). Variants run in interleaved rounds; each is reported as the median of its
//!   rounds, so a noisy neighbour shifts all of them alike.
//! * Contended: 4 processes (this binary re-run), 16 locks, 3 random locks per operation in random
//!   request order, for a fixed time: throughput and wait times, against the same work with plain
//!   advisory locks taken one by one in an order sorted by hand.
//!
//! Uses `DATABASE_URL` when set, otherwise a throwaway cluster. `LOCKORDER_BENCH_QUICK=1`
//! shortens everything (a smoke run).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lockorder_postgres::{PgLockManager, TempCluster};
use tokio_postgres::{Client, NoTls};

const NS: i32 = 0x6265_6e63; // "benc"
const PLAIN_NS: i32 = 0x706c_6169; // "plai"

fn quick() -> bool {
    std::env::var_os("LOCKORDER_BENCH_QUICK").is_some()
}

fn hierarchy(n: u32) -> lockorder::Builder {
    let mut b = lockorder::LockManager::builder();
    for i in 0..n {
        b.register(&format!("l{i:02}"), 10 * (i + 1)).unwrap();
    }
    b
}

fn names(set: &[u32]) -> Vec<String> {
    set.iter().map(|i| format!("l{i:02}")).collect()
}

async fn plain_client(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    /// `k` distinct locks of `n`, in random order.
    fn set(&mut self, n: u32, k: usize) -> Vec<u32> {
        let mut set = Vec::with_capacity(k);
        while set.len() < k {
            let l = self.below(u64::from(n)) as u32;
            if !set.contains(&l) {
                set.push(l);
            }
        }
        set
    }
}

fn main() {
    if let Ok(role) = std::env::var("LOCKORDER_BENCH_WORKER") {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(worker(&role));
        return;
    }
    let (url, _cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let c = TempCluster::start().expect("a throwaway cluster (or set DATABASE_URL)");
            (c.connection_string(), Some(c))
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(uncontended(&url));
    // Dropping the runtime closes its connections. (A guard dropped without `release` queues its
    // unlock on the session, but the connection task writes it only while the runtime runs, and
    // a current-thread runtime runs only inside `block_on`.)
    drop(rt);
    contended(&url);
}

// === uncontended ===

async fn uncontended(url: &str) {
    let m = PgLockManager::builder(hierarchy(16))
        .namespace(NS)
        .connect(url.parse().unwrap())
        .await
        .unwrap();
    let plain = plain_client(url).await;
    let lock = plain
        .prepare("SELECT pg_advisory_lock($1::int4, $2::int4)")
        .await
        .unwrap();
    let unlock = plain
        .prepare("SELECT pg_advisory_unlock($1::int4, $2::int4)")
        .await
        .unwrap();
    let set1 = names(&[3]);
    let set4 = names(&[9, 3, 14, 6]);
    let orders4 = [40i32, 70, 100, 150]; // l03, l06, l09, l14 ascending

    let (rounds, iters) = if quick() { (3, 50) } else { (41, 200) };
    let variants = [
        "plain K=1 (lock + unlock)",
        "plain K=4 one by one",
        "lockorder K=1 acquire + release",
        "lockorder K=4 acquire + release",
        "lockorder K=4 acquire + drop",
        "plain K=1 lock alone (the unlock untimed)",
        "lockorder K=4 acquire alone (the release untimed)",
    ];
    let mut per_op: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    // Warm-up: sessions connected, statements prepared, server caches warm.
    for _ in 0..50 {
        m.acquire(&set4).await.unwrap().release().await.unwrap();
    }
    for _ in 0..rounds {
        for (v, times) in per_op.iter_mut().enumerate() {
            let start = Instant::now();
            // The variants that time one step of each operation add up that step alone.
            let mut step = Duration::ZERO;
            for _ in 0..iters {
                match v {
                    0 => {
                        plain.query_one(&lock, &[&PLAIN_NS, &40i32]).await.unwrap();
                        plain
                            .query_one(&unlock, &[&PLAIN_NS, &40i32])
                            .await
                            .unwrap();
                    }
                    1 => {
                        for o in orders4 {
                            plain.query_one(&lock, &[&PLAIN_NS, &o]).await.unwrap();
                        }
                        for o in orders4.iter().rev() {
                            plain.query_one(&unlock, &[&PLAIN_NS, o]).await.unwrap();
                        }
                    }
                    2 => m.acquire(&set1).await.unwrap().release().await.unwrap(),
                    3 => m.acquire(&set4).await.unwrap().release().await.unwrap(),
                    4 => drop(m.acquire(&set4).await.unwrap()),
                    5 => {
                        let t = Instant::now();
                        plain.query_one(&lock, &[&PLAIN_NS, &40i32]).await.unwrap();
                        step += t.elapsed();
                        plain
                            .query_one(&unlock, &[&PLAIN_NS, &40i32])
                            .await
                            .unwrap();
                    }
                    _ => {
                        let t = Instant::now();
                        let g = m.acquire(&set4).await.unwrap();
                        step += t.elapsed();
                        g.release().await.unwrap();
                    }
                }
            }
            let total = if v >= 5 { step } else { start.elapsed() };
            times.push(total.as_secs_f64() * 1e6 / f64::from(iters));
        }
    }
    for t in &mut per_op {
        t.sort_by(f64::total_cmp);
    }
    let medians: Vec<f64> = per_op.iter().map(|t| t[t.len() / 2]).collect();
    println!("uncontended, unix socket, {rounds} interleaved rounds x {iters} ops per variant");
    println!(
        "| variant | median µs per op | best round µs | median vs plain K=1 (lock + unlock) |"
    );
    println!("|---|---:|---:|---:|");
    for ((name, us), t) in variants.iter().zip(&medians).zip(&per_op) {
        println!(
            "| {name} | {us:.1} | {:.1} | {:.2}x |",
            t[0],
            us / medians[0]
        );
    }
    println!(
        "K=4 acquire + release vs single-lock acquire + release: {:.2}x plain, {:.2}x lockorder K=1; \
         K=4 acquire alone vs a plain single-lock round trip: {:.2}x (target <= 1.3x)",
        medians[3] / medians[0],
        medians[3] / medians[2],
        medians[6] / medians[5]
    );
    println!();
}

// === contended ===

const PROCESSES: usize = 4;

fn contended(url: &str) {
    let millis: u64 = if quick() { 1000 } else { 5000 };
    println!(
        "contended: {PROCESSES} processes, 16 locks, 3 random locks per op in random request \
         order, {millis} ms"
    );
    // Per variant, per process: its waits in the order of its operations.
    let mut runs: Vec<(&str, Vec<Vec<u64>>)> = Vec::new();
    for role in ["lockorder", "plain-sorted"] {
        let children: Vec<_> = (0..PROCESSES)
            .map(|i| {
                Command::new(std::env::current_exe().unwrap())
                    .env("LOCKORDER_BENCH_WORKER", role)
                    .env("LOCKORDER_BENCH_SEED", (i + 1).to_string())
                    .env("LOCKORDER_BENCH_MILLIS", millis.to_string())
                    .env("DATABASE_URL", url)
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut per_process = Vec::new();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "a {role} worker failed");
            let text = String::from_utf8(out.stdout).unwrap();
            let mut parts = text.trim().split(' ');
            parts.next(); // the count
            per_process.push(parts.map(|w| w.parse::<u64>().unwrap()).collect::<Vec<_>>());
        }
        runs.push((role, per_process));
    }
    // The worst of more samples is larger by itself: also compare the worst among the same
    // number of operations per process (the first ones of each), so that a variant's higher
    // throughput does not count against it.
    let equal = runs
        .iter()
        .flat_map(|(_, p)| p.iter().map(Vec::len))
        .min()
        .unwrap_or(0);
    println!(
        "| variant | ops/s | mean acquire µs | p99 µs | p99.9 µs | worst µs | worst of the first \
         {equal} ops per process µs |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (role, per_process) in &runs {
        let mut waits: Vec<u64> = per_process.iter().flatten().copied().collect();
        waits.sort_unstable();
        let mean = waits.iter().sum::<u64>() as f64 / waits.len() as f64;
        let p99 = waits[waits.len() * 99 / 100];
        let p999 = waits[waits.len() * 999 / 1000];
        let worst = waits[waits.len() - 1];
        let worst_equal = per_process
            .iter()
            .flat_map(|p| p[..equal].iter())
            .max()
            .copied()
            .unwrap_or(0);
        let per_s = waits.len() as f64 / (millis as f64 / 1000.0);
        println!("| {role} | {per_s:.0} | {mean:.0} | {p99} | {p999} | {worst} | {worst_equal} |");
    }
}

/// One contended process: prints "<ops> <wait µs>..." (one wait per op).
async fn worker(role: &str) {
    let url = std::env::var("DATABASE_URL").unwrap();
    let seed: u64 = std::env::var("LOCKORDER_BENCH_SEED")
        .unwrap()
        .parse()
        .unwrap();
    let millis: u64 = std::env::var("LOCKORDER_BENCH_MILLIS")
        .unwrap()
        .parse()
        .unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut waits = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(millis);
    if role == "lockorder" {
        let m = PgLockManager::builder(hierarchy(16))
            .namespace(NS)
            .connect(url.parse().unwrap())
            .await
            .unwrap();
        while Instant::now() < deadline {
            let set = names(&rng.set(16, 3));
            let start = Instant::now();
            let g = m.acquire(&set).await.unwrap();
            waits.push(start.elapsed().as_micros() as u64);
            g.release().await.unwrap();
        }
    } else {
        let c = plain_client(&url).await;
        let lock = c
            .prepare("SELECT pg_advisory_lock($1::int4, $2::int4)")
            .await
            .unwrap();
        let unlock = c
            .prepare("SELECT pg_advisory_unlock($1::int4, $2::int4)")
            .await
            .unwrap();
        while Instant::now() < deadline {
            let mut set: Vec<i32> = rng
                .set(16, 3)
                .iter()
                .map(|&i| 10 * (i as i32 + 1))
                .collect();
            set.sort_unstable(); // by hand, or it deadlocks
            let start = Instant::now();
            for &o in &set {
                c.query_one(&lock, &[&PLAIN_NS, &o]).await.unwrap();
            }
            waits.push(start.elapsed().as_micros() as u64);
            for &o in set.iter().rev() {
                c.query_one(&unlock, &[&PLAIN_NS, &o]).await.unwrap();
            }
        }
    }
    let waits: Vec<String> = waits.iter().map(u64::to_string).collect();
    println!("{} {}", waits.len(), waits.join(" "));
}
