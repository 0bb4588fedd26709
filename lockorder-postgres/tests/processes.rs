//! Several OS processes on one hierarchy: mutual exclusion checked through the database, no
//! deadlock, and a holder killed with SIGKILL.
//!
//! The test binary is re-run as its own workers: `worker` (ignored in a normal run) does what
//! `LOCKORDER_PG_WORKER` says, against the parent's `DATABASE_URL` and namespace.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use lockorder_postgres::{Error, PgLockManager};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const WORKERS: usize = 4;
const TASKS_PER_WORKER: usize = 2;
const LOCKS: u32 = 16;

fn sixteen() -> Vec<(String, u32)> {
    (0..LOCKS)
        .map(|i| (format!("l{i:02}"), 10 * (i + 1)))
        .collect()
}

async fn sixteen_manager(ns: i32) -> PgLockManager {
    let locks = sixteen();
    let refs: Vec<(&str, u32)> = locks.iter().map(|(n, o)| (n.as_str(), *o)).collect();
    manager_in(ns, &refs).await
}

fn spawn_worker(role: &str, ns: i32, extra: &[(&str, String)]) -> Worker {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "worker",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("LOCKORDER_PG_WORKER", role)
    .env("LOCKORDER_PG_NS", ns.to_string())
    .env("DATABASE_URL", database())
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in extra {
        c.env(k, v);
    }
    Worker(Some(c.spawn().expect("re-run the test binary as a worker")))
}

/// A worker process, killed (if still running) when dropped, so a failing test leaves none.
struct Worker(Option<Child>);

impl Worker {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }

    fn take(mut self) -> Child {
        self.0.take().unwrap()
    }

    /// Reads stdout until a line with `prefix`; returns what follows it.
    fn read_line_starting(&mut self, prefix: &str) -> String {
        let out = self.child().stdout.take().unwrap();
        let mut reader = BufReader::new(out);
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).unwrap();
            if n == 0 {
                let out = self.0.take().unwrap().wait_with_output().unwrap();
                panic!(
                    "worker ended before printing {prefix}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            // The harness may have printed "test worker ... " on the same line.
            if let Some(at) = line.find(prefix) {
                return line[at + prefix.len()..].trim().to_owned();
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_with_limit(mut child: Child, limit: Duration) -> (bool, String, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "worker still running after {limit:?} (deadlock?): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The worker side. Ignored in a normal run; the tests below run it in child processes.
#[test]
#[ignore = "a worker process for the tests in this file"]
fn worker() {
    let role = std::env::var("LOCKORDER_PG_WORKER").expect("run by the tests of this file");
    let ns: i32 = std::env::var("LOCKORDER_PG_NS").unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        match role.as_str() {
            "mix" => mix(ns).await,
            "hold" => {
                let m = sixteen_manager(ns).await;
                let g = m.acquire(["l00", "l05"]).owner("doomed").await.unwrap();
                println!("HOLDING {}", g.backend_pid().unwrap());
                tokio::time::sleep(Duration::from_secs(120)).await;
                drop(g);
            }
            "paused" => paused_holder(ns).await,
            "wait" => {
                let m = sixteen_manager(ns).await;
                println!("WAITING");
                let g = m.acquire(["l01", "l05"]).owner("doomed-waiter").await;
                println!("GOT {:?}", g.map(|g| g.backend_pid()));
            }
            other => panic!("unknown worker role {other}"),
        }
    });
}

/// Holds `l00`, checks it, waits for a line on stdin (the test pauses this process meanwhile),
/// then writes twice, as a holder that believes it still holds the lock: in a transaction on the
/// holding session, and through another connection, fenced by its token.
async fn paused_holder(ns: i32) {
    let table = std::env::var("LOCKORDER_PG_TABLE").unwrap();
    let m = sixteen_manager(ns).await;
    let mut g = m.acquire(["l00"]).owner("paused").await.unwrap();
    g.check().await.unwrap();
    let token = g.fencing_token() as i64;
    println!("HOLDING {} {token}", g.backend_pid().unwrap());
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    // No check here: the pause came after the last one, as it can in any program.
    let on_session = async {
        let tx = g.transaction().await?;
        tx.execute(
            &format!("UPDATE {table} SET value = 'paused holder', token = $1 WHERE id = 1"),
            &[&token],
        )
        .await
        .map_err(Error::Database)?;
        tx.commit().await.map_err(Error::Database)
    }
    .await;
    match on_session {
        Ok(()) => println!("SESSION committed"),
        Err(e) => println!("SESSION refused: {}", e.to_string().replace('\n', " ")),
    }
    let other = client().await;
    let n = other
        .execute(
            &format!(
                "UPDATE {table} SET value = 'paused holder, fenced', token = $1
                 WHERE id = 1 AND token <= $1"
            ),
            &[&token],
        )
        .await
        .unwrap();
    println!("FENCED {n}");
}

/// Random overlapping sets in random request orders, some locks shared, some nesting, until
/// the deadline. Each holding is checked in the table: an exclusive holder claims a row only if
/// nobody holds or reads it, a reader only if nobody holds it.
async fn mix(ns: i32) {
    let millis: u64 = std::env::var("LOCKORDER_PG_MILLIS")
        .unwrap()
        .parse()
        .unwrap();
    let seed: u64 = std::env::var("LOCKORDER_PG_SEED").unwrap().parse().unwrap();
    let table = std::env::var("LOCKORDER_PG_TABLE").unwrap();
    let m = sixteen_manager(ns).await;
    let deadline = Instant::now() + Duration::from_millis(millis);
    let tasks: Vec<_> = (0..TASKS_PER_WORKER)
        .map(|t| {
            let m = m.clone();
            let table = table.clone();
            tokio::spawn(async move {
                let me = (seed * 100 + t as u64) as i32;
                let check = client().await;
                let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (t as u64 + 1));
                let mut ops = 0u64;
                let mut incs = vec![0u64; LOCKS as usize];
                let mut worst = Duration::ZERO;
                while Instant::now() < deadline {
                    // 1 to 4 distinct locks in random order; about a quarter of them shared.
                    let mut set: Vec<u32> = Vec::new();
                    while set.len() < 1 + rng.below(4) as usize {
                        let l = rng.below(u64::from(LOCKS)) as u32;
                        if !set.contains(&l) {
                            set.push(l);
                        }
                    }
                    let (shared, exclusive): (Vec<u32>, Vec<u32>) =
                        set.iter().partition(|_| rng.below(4) == 0);
                    let name = |l: &u32| format!("l{l:02}");
                    let start = Instant::now();
                    let mut g = m
                        .acquire(exclusive.iter().map(name).collect::<Vec<_>>())
                        .shared(shared.iter().map(name).collect::<Vec<_>>())
                        .owner(&format!("worker-{me}"))
                        .timeout(Duration::from_secs(30))
                        .await
                        .unwrap_or_else(|e| panic!("worker {me}: {e}"));
                    worst = worst.max(start.elapsed());
                    let mut held: Vec<(u32, bool)> = exclusive
                        .iter()
                        .map(|&l| (l, true))
                        .chain(shared.iter().map(|&l| (l, false)))
                        .collect();
                    // Sometimes one more lock, above all held, through the guard.
                    let top = *set.iter().max().unwrap();
                    let extra = (top + 1 < LOCKS && rng.below(3) == 0).then(|| top + 1);
                    let inner = match extra {
                        Some(l) => {
                            held.push((l, true));
                            Some(g.acquire([name(&l)]).await.unwrap())
                        }
                        None => None,
                    };
                    for &(l, excl) in &held {
                        let sql = if excl {
                            format!("UPDATE {table} SET holder = $2 WHERE lock = $1 AND holder IS NULL AND readers = 0")
                        } else {
                            format!("UPDATE {table} SET readers = readers + 1 WHERE lock = $1 AND holder IS NULL AND $2::int4 IS NOT NULL")
                        };
                        let n = check.execute(&sql, &[&(l as i32), &me]).await.unwrap();
                        assert_eq!(n, 1, "worker {me}: lock l{l:02} (exclusive: {excl}) was not free for its holder");
                    }
                    tokio::time::sleep(Duration::from_micros(rng.below(2000))).await;
                    for &(l, excl) in &held {
                        let sql = if excl {
                            format!("UPDATE {table} SET holder = NULL, count = count + 1 WHERE lock = $1 AND holder = $2")
                        } else {
                            format!("UPDATE {table} SET readers = readers - 1 WHERE lock = $1 AND holder IS NULL AND $2::int4 IS NOT NULL")
                        };
                        let n = check.execute(&sql, &[&(l as i32), &me]).await.unwrap();
                        assert_eq!(n, 1, "worker {me}: lock l{l:02} changed hands while held");
                        if excl {
                            incs[l as usize] += 1;
                        }
                    }
                    drop(inner);
                    // Release or drop, both must free the locks.
                    if rng.below(2) == 0 {
                        g.release().await.unwrap();
                    } else {
                        drop(g);
                    }
                    ops += 1;
                }
                (ops, incs, worst)
            })
        })
        .collect();
    let mut ops = 0;
    let mut incs = vec![0u64; LOCKS as usize];
    let mut worst = Duration::ZERO;
    for t in tasks {
        let (o, i, w) = t.await.unwrap();
        ops += o;
        worst = worst.max(w);
        for (a, b) in incs.iter_mut().zip(i) {
            *a += b;
        }
    }
    let incs: Vec<String> = incs.iter().map(u64::to_string).collect();
    println!("RESULT {ops} {} {}", worst.as_micros(), incs.join(","));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_take_random_overlapping_sets_without_deadlock_or_overlap() -> Result {
    let ns = namespace("processes-mix");
    let _m = sixteen_manager(ns).await; // records the hierarchy once
    let table = format!("lockorder_test_counters_{}", ns.unsigned_abs());
    let c = client().await;
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} (lock int4 PRIMARY KEY, holder int4, readers int4 NOT NULL DEFAULT 0,
                               count int8 NOT NULL DEFAULT 0);
         INSERT INTO {table} (lock) SELECT generate_series(0, {})",
        LOCKS - 1
    ))
    .await?;
    let millis = 3000;
    let children: Vec<Worker> = (0..WORKERS)
        .map(|i| {
            spawn_worker(
                "mix",
                ns,
                &[
                    ("LOCKORDER_PG_MILLIS", millis.to_string()),
                    ("LOCKORDER_PG_SEED", (i + 1).to_string()),
                    ("LOCKORDER_PG_TABLE", table.clone()),
                ],
            )
        })
        .collect();
    let mut total_ops = 0u64;
    let mut incs = vec![0u64; LOCKS as usize];
    for child in children {
        let (ok, out, err) = wait_with_limit(child.take(), Duration::from_millis(millis + 60_000));
        assert!(ok, "a worker failed:\n{out}\n{err}");
        let line = out
            .lines()
            .find_map(|l| l.find("RESULT ").map(|at| &l[at + "RESULT ".len()..]))
            .unwrap_or_else(|| panic!("no result from a worker:\n{out}\n{err}"));
        let mut parts = line.split(' ');
        let ops: u64 = parts.next().unwrap().parse()?;
        assert!(ops > 0, "a worker made no progress");
        total_ops += ops;
        parts.next(); // worst wait, reported by the benchmark
        for (a, b) in incs.iter_mut().zip(parts.next().unwrap().split(',')) {
            *a += b.parse::<u64>()?;
        }
    }
    let rows = c
        .query(
            &format!("SELECT lock, holder, readers, count FROM {table} ORDER BY lock"),
            &[],
        )
        .await?;
    for (row, expected) in rows.iter().zip(&incs) {
        let lock: i32 = row.get(0);
        assert_eq!(
            row.get::<_, Option<i32>>(1),
            None,
            "l{lock:02} still claimed"
        );
        assert_eq!(row.get::<_, i32>(2), 0, "l{lock:02} still read");
        assert_eq!(
            row.get::<_, i64>(3) as u64,
            *expected,
            "l{lock:02}: lost updates"
        );
    }
    assert!(incs.iter().sum::<u64>() > 0);
    eprintln!("{WORKERS} processes x {TASKS_PER_WORKER} tasks: {total_ops} sets in {millis} ms");
    c.batch_execute(&format!("DROP TABLE {table}")).await?;
    assert_eq!(advisory(&c, ns).await, [], "nothing left held");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_with_sigkill_frees_its_locks_for_the_others() -> Result {
    let ns = namespace("processes-sigkill");
    let m = sixteen_manager(ns).await;
    let c = client().await;
    let mut holder = spawn_worker("hold", ns, &[]);
    let pid: i32 = holder.read_line_starting("HOLDING ").parse()?;
    assert_eq!(advisory(&c, ns).await, [(10, true, pid), (60, true, pid)]);
    let status = m.status().await?;
    assert_eq!(status[0].holders[0].label, "doomed");
    let waiter = tokio::spawn({
        let m = m.clone();
        async move {
            m.acquire(["l00", "l05"])
                .timeout(Duration::from_secs(30))
                .await
                .map(drop)
        }
    });
    eventually(Duration::from_secs(5), "the waiter waits", || async {
        advisory(&c, ns).await.iter().any(|&(_, g, _)| !g)
    })
    .await;
    assert!(!waiter.is_finished());
    holder.child().kill()?; // SIGKILL
    holder.child().wait()?;
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the others proceed once the holder is killed")??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_killed_with_sigkill_leaves_no_waiting_backend() -> Result {
    let ns = namespace("processes-sigkill-waiter");
    let m = sixteen_manager(ns).await;
    let c = client().await;
    let g = m.acquire(["l05"]).await?;
    let mut waiter = spawn_worker("wait", ns, &[]);
    waiter.read_line_starting("WAITING");
    eventually(
        Duration::from_secs(10),
        "the worker holds l01 and waits for l05",
        || async { advisory(&c, ns).await.len() == 3 },
    )
    .await;
    waiter.child().kill()?; // SIGKILL
    waiter.child().wait()?;
    // Its backend notices the vanished client within the check interval (250 ms), ends, and
    // frees l01.
    eventually(Duration::from_secs(3), "only our l05 remains", || async {
        advisory(&c, ns).await == [(60, true, g.backend_pid().unwrap())]
    })
    .await;
    g.release().await?;
    let again = m.try_acquire(["l01", "l05"]).await?;
    again.release().await?;
    match m.try_acquire(["zz"]).await {
        Err(Error::Lock(lockorder::Error::UnknownLock { .. })) => {}
        other => panic!("{other:?}"),
    }
    Ok(())
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// The pause scenario: a holder is stopped (SIGSTOP) after checking its guard, its backend is
/// terminated, another process takes the lock and writes; the holder resumes (SIGCONT) and
/// writes as if it still held the lock. Both of its writes are refused: the transaction on its
/// dead session, and the fenced write through another connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_holders_writes_are_refused_after_its_locks_moved_on() -> Result {
    use std::io::Write as _;
    let ns = namespace("processes-pause");
    let m = sixteen_manager(ns).await;
    let c = client().await;
    let table = format!("lockorder_test_fenced_{}", ns.unsigned_abs());
    c.batch_execute(&format!(
        "CREATE TABLE {table} (id int4 PRIMARY KEY, value text NOT NULL, token int8 NOT NULL);
         INSERT INTO {table} VALUES (1, 'nobody', 0)"
    ))
    .await?;
    let mut holder = spawn_worker("paused", ns, &[("LOCKORDER_PG_TABLE", table.clone())]);
    let mut out = BufReader::new(holder.child().stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("HOLDING ") {
        line.clear();
        assert!(out.read_line(&mut line)? > 0, "the holder ended early");
    }
    let mut words = line[line.find("HOLDING ").unwrap() + 8..].split_whitespace();
    let pid: i32 = words.next().unwrap().parse()?;
    let token: u64 = words.next().unwrap().parse()?;
    let child = holder.child().id();

    signal(child, "-STOP");
    // Read once it resumes: it writes at once then.
    writeln!(holder.child().stdin.as_mut().unwrap(), "go")?;
    let terminated: bool = c
        .query_one("SELECT pg_terminate_backend($1, 5000)", &[&pid])
        .await?
        .get(0);
    assert!(terminated);
    let mut g = m.acquire(["l00"]).timeout(Duration::from_secs(10)).await?;
    assert!(g.fencing_token() > token);
    let mine = g.fencing_token() as i64;
    let tx = g.transaction().await?;
    let n = tx
        .execute(
            &format!(
                "UPDATE {table} SET value = 'new holder', token = $1 WHERE id = 1 AND token <= $1"
            ),
            &[&mine],
        )
        .await?;
    assert_eq!(n, 1);
    tx.commit().await?;
    g.release().await?;

    signal(child, "-CONT");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest)?;
    let (ok, _, err) = wait_with_limit(holder.take(), Duration::from_secs(30));
    assert!(ok, "the paused holder failed: {rest}\n{err}");
    eprintln!("the paused holder, resumed: {rest}");
    assert!(
        rest.contains("SESSION refused"),
        "its transaction on the dead session went through: {rest}"
    );
    assert!(
        rest.contains("FENCED 0"),
        "its fenced write went through: {rest}"
    );
    let value: String = c
        .query_one(&format!("SELECT value FROM {table}"), &[])
        .await?
        .get(0);
    assert_eq!(value, "new holder");
    c.batch_execute(&format!("DROP TABLE {table}")).await?;
    Ok(())
}
