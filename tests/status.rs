//! Status, owners, long holds, the watchdog and statistics.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use common::{manager, timed, Task, ABC};
use lockorder::{Error, LockManager, Owner, Timer};

const S: Duration = Duration::from_secs(1);

#[test]
fn status_shows_owner_and_time_of_each_holding() {
    let (m, timer) = timed(ABC);
    timer.advance(5 * S);
    let g = m.acquire(["a", "c"]).owner("worker-3").try_now().unwrap();
    timer.advance(2 * S);
    let status = m.status();
    assert_eq!(status.now(), Some(7 * S));
    let rows: Vec<_> = status
        .iter()
        .map(|s| {
            (
                s.name,
                s.order,
                s.is_locked,
                s.owner.map(|o| o.to_string()),
                s.acquired_at,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a", 10, true, Some("worker-3".into()), Some(5 * S)),
            ("b", 20, false, None, None),
            ("c", 30, true, Some("worker-3".into()), Some(5 * S)),
        ]
    );
    assert_eq!(status.held().count(), 2);
    drop(g);
    assert!(m.status().iter().all(|s| !s.is_locked && s.owner.is_none()));
}

#[test]
fn without_a_label_the_owner_is_a_holder_id_shared_by_one_acquisition() {
    let m = manager(ABC);
    let mut g1 = m.try_acquire(["a", "b"]).unwrap();
    let g2 = m.try_acquire(["c"]).unwrap();
    let status = m.status();
    let owner = |i: usize| status[i].owner.unwrap();
    assert!(matches!(owner(0), Owner::Holder(_)));
    assert_eq!(owner(0), owner(1));
    assert_ne!(owner(0), owner(2));
    assert_eq!(Some(owner(0)), g1.holder());
    assert_eq!(status[0].acquired_at, None, "no timer, no timestamps");
    // A nested guard shows as the same holder.
    drop(g2);
    let parent = g1.holder();
    let inner = g1.try_acquire(["c"]).unwrap();
    assert_eq!(m.status()[2].owner, parent);
    assert_eq!(inner.holder(), parent);
}

#[test]
fn long_holds_are_strictly_longer_than_the_threshold() {
    let (m, timer) = timed(ABC);
    let _a = m.acquire(["a"]).owner("slow").try_now().unwrap();
    timer.advance(10 * S);
    let _b = m.try_acquire(["b"]).unwrap();
    timer.advance(20 * S);
    assert!(m.long_held(30 * S).is_empty());
    let holds = m.long_held(29 * S);
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].lock, "a");
    assert_eq!(holds[0].held_for, 30 * S);
    assert_eq!(holds[0].owner.unwrap(), "slow");
    let line = holds[0].to_string();
    assert!(line.starts_with(
        "potential deadlock: lock `a` (order 10) held by slow for 30.000s (more than 29.000s)"
    ));
    assert_eq!(m.long_held(Duration::ZERO).len(), 2);
    // Without a timer there are no hold times.
    let plain = manager(ABC);
    let _g = plain.try_acquire(["a"]).unwrap();
    assert!(plain.long_held(Duration::ZERO).is_empty());
}

#[test]
fn the_watchdog_reports_each_long_holding_once() {
    let (m, timer) = timed(ABC);
    let reports = std::cell::RefCell::new(Vec::new());
    let mut dog = Task::new(m.watchdog(S, 3 * S, |h| {
        reports
            .borrow_mut()
            .push((h.lock.name().to_owned(), h.owner.map(|o| o.to_string())));
    }));
    dog.pending();
    let g = m.acquire(["b"]).owner("first").try_now().unwrap();
    for _ in 0..10 {
        timer.advance(S);
        assert!(dog.woken());
        dog.pending();
    }
    assert_eq!(
        *reports.borrow(),
        [("b".to_owned(), Some("first".to_owned()))]
    );
    drop(g);
    let _g = m.acquire(["b"]).owner("second").try_now().unwrap();
    for _ in 0..5 {
        timer.advance(S);
        dog.pending();
    }
    assert_eq!(reports.borrow().len(), 2, "a new holding is reported again");
    assert_eq!(reports.borrow()[1].1.as_deref(), Some("second"));
}

#[test]
fn the_status_table_is_readable() {
    let (m, timer) = timed(ABC);
    let _g = m.acquire(["b"]).owner("w1").try_now().unwrap();
    timer.advance(1500 * Duration::from_millis(1));
    let table = m.status().to_string();
    let held: Vec<_> = table
        .lines()
        .filter(|l| l.split_whitespace().nth(2) == Some("held"))
        .collect();
    assert_eq!(held.len(), 1, "{table}");
    assert!(held[0].contains('b') && held[0].contains("w1") && held[0].contains("1.500s"));
    assert!(table.lines().next().unwrap().contains("owner"));
}

/// Names and labels in any script, of any length allowed, and with control characters: every
/// lock stays on one line, and every column starts at the same character on every line.
#[test]
fn the_status_table_stays_aligned_whatever_the_names_and_labels() {
    let m = lockorder::LockManager::builder()
        .with_lock_described("数据库", 10, "the database")
        .unwrap()
        .with_lock_described("a\nb", 20, "tab\there")
        .unwrap()
        .with_lock("c", 30)
        .unwrap()
        .build();
    let _g1 = m
        .acquire(["数据库"])
        .owner("ünïcödé-label-that-is-long-enough")
        .try_now()
        .unwrap();
    let _g2 = m.acquire(["a\nb"]).owner("line\nbreak").try_now().unwrap();
    let table = m.status().to_string();
    let lines: Vec<&str> = table
        .lines()
        .filter(|l| !l.trim_start().starts_with("acquired"))
        .collect();
    assert_eq!(lines.len(), 4, "a title and one line per lock:\n{table}");
    let column = |line: &str, word: &str| {
        let at = line
            .find(word)
            .unwrap_or_else(|| panic!("{word:?} in {line:?}"));
        line[..at].chars().count()
    };
    // Each line's description starts where the title's does; the state column too.
    let desc = column(lines[0], "description");
    assert_eq!(column(lines[1], "the database"), desc, "{table}");
    assert_eq!(column(lines[2], "tab\\there"), desc, "{table}");
    let state = column(lines[0], "state");
    assert_eq!(column(lines[1], "held"), state, "{table}");
    assert_eq!(column(lines[3], "free"), state, "{table}");
    assert!(
        lines[2].contains("a\\nb") && lines[2].contains("line\\nbreak"),
        "{table}"
    );
}

#[test]
fn errors_name_locks_with_orders_and_where_the_held_lock_was_taken() {
    let (m, timer) = timed(ABC);
    let mut outer = m.try_acquire(["b"]).unwrap();
    let line = line!() - 1;
    let err = outer.try_acquire(["a"]).unwrap_err();
    let Error::OrderViolation { requested, held } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((requested.name(), held.name()), ("a", "b"));
    let at = held.acquired_at().unwrap();
    assert_eq!((at.file(), at.line()), (file!(), line));
    let msg = err.to_string();
    assert!(
        msg.contains("`a` (order 10)") && msg.contains("`b` (order 20)"),
        "{msg}"
    );
    assert!(msg.contains(&format!("{}:{line}", file!())), "{msg}");

    let busy = m.try_acquire(["b"]).unwrap_err().to_string();
    assert!(busy.contains("`b` (order 20)"), "{busy}");
    let mut t = Task::new(m.acquire(["b"]).timeout(S));
    t.pending();
    timer.advance(S);
    let timeout = t.ready().unwrap_err().to_string();
    assert!(timeout.contains("`b` (order 20)"), "{timeout}");
}

/// A timer whose clock tells which thread asks: thread `k` reads `k` seconds plus a counter.
struct ThreadClock;

thread_local! {
    static WHO: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}
static TICK: AtomicU64 = AtomicU64::new(0);

impl Timer for ThreadClock {
    type Sleep = std::future::Pending<()>;

    fn now(&self) -> Duration {
        let nanos = TICK.fetch_add(1, Ordering::Relaxed) % 1_000_000_000;
        Duration::new(WHO.with(|w| w.get()), nanos as u32)
    }

    fn sleep(&self, _: Duration) -> Self::Sleep {
        std::future::pending()
    }
}

#[test]
fn status_read_during_churn_never_mixes_two_holdings() {
    const LABELS: [&str; 4] = ["t0", "t1", "t2", "t3"];
    let mut b = LockManager::builder().timer(ThreadClock);
    b.register("x", 1).unwrap().register("y", 2).unwrap();
    let m = b.build();
    let stop = AtomicBool::new(false);
    let checked = AtomicU64::new(0);
    std::thread::scope(|s| {
        for (k, label) in LABELS.iter().enumerate() {
            let (m, stop) = (&m, &stop);
            s.spawn(move || {
                WHO.with(|w| w.set(k as u64));
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) || n < 1000 {
                    let set: &[&str] = if n % 3 == 0 { &["x", "y"] } else { &["y"] };
                    // Labelled on even threads, anonymous on odd ones.
                    let acquire = m.acquire(set);
                    let acquire = if k % 2 == 0 {
                        acquire.owner(label)
                    } else {
                        acquire
                    };
                    if let Ok(g) = acquire.try_now() {
                        std::hint::black_box(&g);
                    }
                    n += 1;
                }
            });
        }
        let (m, checked, stop) = (&m, &checked, &stop);
        s.spawn(move || {
            // Stops the writers however this reader ends, a failed assertion included.
            struct Stop<'a>(&'a AtomicBool);
            impl Drop for Stop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Relaxed);
                }
            }
            let _stop = Stop(stop);
            // At least 20,000 rounds, and on until a held lock was seen: on a loaded machine the
            // writers may not have run at all during the first rounds. Bounded, so a reader that
            // never sees one still fails below.
            for round in 0..2_000_000 {
                if round >= 20_000 && checked.load(Ordering::Relaxed) > 0 {
                    break;
                }
                for entry in m.status() {
                    let (Some(owner), Some(at)) = (entry.owner, entry.acquired_at) else {
                        continue;
                    };
                    let k = at.as_secs() as usize;
                    match owner {
                        Owner::Label(l) => assert_eq!(l.as_str(), LABELS[k], "torn entry"),
                        Owner::Holder(_) => assert!(k % 2 == 1, "torn entry: {owner} at {at:?}"),
                    }
                    checked.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    });
    let checked = checked.into_inner();
    println!("{checked} held entries checked");
    assert!(checked > 0, "the reader never saw a held lock");
}

#[cfg(feature = "stats")]
#[test]
fn statistics_count_acquisitions_contention_timeouts_waits_and_holds() {
    let (m, timer) = timed(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut waiter = Task::new(m.acquire(["a"]));
    waiter.pending();
    let mut quitter = Task::new(m.acquire(["a"]).timeout(S));
    quitter.pending();
    timer.advance(S);
    assert!(quitter.ready().is_err());
    timer.advance(S);
    drop(g); // held 2 s
    timer.advance(S);
    let g2 = waiter.ready().unwrap(); // waited 3 s
    timer.advance(4 * S);
    drop(g2); // held 4 s
    let stats = m.status()[0].stats;
    assert_eq!(stats.acquisitions, 2);
    assert_eq!(stats.contended, 1);
    assert_eq!(stats.timeouts, 1);
    assert_eq!(stats.max_wait, 3 * S);
    assert_eq!(stats.total_wait, 3 * S);
    assert_eq!(stats.max_hold, 4 * S);
    assert!(m
        .status()
        .to_string()
        .contains("acquired 2 times (0 shared, 1 contended, 1 timed out)"));
    // Shared acquisitions are counted as such; hold times are an exclusive holder's.
    drop(m.try_acquire_shared(["a"]).unwrap());
    let stats = m.status()[0].stats;
    assert_eq!((stats.acquisitions, stats.shared), (3, 1));
    assert!(stats.to_string().starts_with("acquired 3 times (1 shared,"));
}

#[test]
fn reading_status_does_not_wake_or_disturb_waiters() {
    let (m, _timer) = timed(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut waiter = Task::new(m.acquire(["a"]));
    waiter.pending();
    for _ in 0..10 {
        let _ = m.status();
        let _ = m.long_held(Duration::ZERO);
    }
    assert!(!waiter.woken());
    drop(g);
    assert!(matches!(waiter.poll(), Poll::Ready(Ok(_))));
}

/// Runs `f` on another thread and fails if it has not returned within ten seconds: a spin inside
/// one poll is a test failure, not a hung test run.
fn within_ten_seconds<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("did not return within ten seconds")
}

/// A zero period with a timer whose sleeps are over at once: one poll does one check, wakes its
/// own task and returns `Pending`. (It used to loop inside one poll for ever.)
#[test]
fn a_zero_period_watchdog_yields_after_each_check() {
    let (reports, wakes) = within_ten_seconds(|| {
        let (m, timer) = timed(ABC);
        let _g = m.acquire(["a"]).owner("held").try_now().unwrap();
        timer.advance(S);
        let mut reports = 0;
        let mut dog = Task::new(m.watchdog(Duration::ZERO, Duration::ZERO, |_| reports += 1));
        for _ in 0..3 {
            dog.pending();
        }
        let wakes = dog.wakes();
        drop(dog);
        (reports, wakes)
    });
    assert_eq!(reports, 1, "once per holding, however often it checks");
    assert!(wakes >= 3, "each poll that checked woke its task: {wakes}");
}

/// A callback that panics: the panic propagates out of `poll`, the holding it was reporting
/// counts as reported, and the watchdog goes on (other holdings are still reported, once).
#[test]
fn a_panicking_watchdog_callback_loses_no_report_and_repeats_none() {
    let (m, timer) = timed(ABC);
    let _a = m.acquire(["a"]).owner("first").try_now().unwrap();
    let _b = m.acquire(["b"]).owner("second").try_now().unwrap();
    let seen = std::cell::RefCell::new(Vec::new());
    let mut dog = Task::new(m.watchdog(S, S, |h| {
        seen.borrow_mut().push(h.lock.name().to_owned());
        if h.lock == "a" {
            panic!("the callback panicked");
        }
    }));
    dog.pending();
    timer.advance(2 * S);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dog.poll()));
    assert!(result.is_err());
    for _ in 0..3 {
        timer.advance(S);
        dog.pending();
    }
    assert_eq!(*seen.borrow(), ["a", "b"]);
}
