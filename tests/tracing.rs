//! Feature `tracing`: a subscriber at `TRACE` sees the waits, timeouts, refusals and long holds,
//! each event naming its lock, on the thread that polls.
#![cfg(all(feature = "tracing", not(loom)))]

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::future::Future;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Keeps every event as one line: `LEVEL message field=value ...`.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Subscriber for Lines {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = format!("{} {}", event.metadata().level(), event.metadata().target());
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Lines {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn one(lines: &[String], level: Level, start: &str) -> String {
    let found: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with(&format!("{level} lockorder")) && l.contains(start))
        .collect();
    assert_eq!(found.len(), 1, "{start:?} in {lines:#?}");
    found[0].clone()
}

#[test]
fn a_contended_acquire_is_seen_waiting_and_getting_the_lock() {
    let lines = Lines::default();
    tracing::subscriber::with_default(lines.clone(), || {
        let (m, timer) = common::timed(&[("ledger", 1), ("acct-3", 2)]);
        let held = m.acquire(["acct-3"]).owner("worker-3").try_now().unwrap();
        // Uncontended: no event.
        drop(m.try_acquire(["ledger"]).unwrap());
        assert_eq!(lines.take(), Vec::<String>::new());
        let mut task =
            common::Task::new(m.acquire(["ledger"]).shared(["acct-3"]).owner("transfer-9"));
        task.pending();
        let lines_now = lines.take();
        let wait = one(&lines_now, Level::DEBUG, "waiting for lock acct-3");
        for field in ["lock=acct-3", "mode=shared", "owner=transfer-9", "holds=1"] {
            assert!(wait.contains(field), "{field} in {wait}");
        }
        timer.advance(Duration::from_millis(250));
        drop(held);
        let g = task.ready().unwrap();
        let got = one(
            &lines.take(),
            Level::DEBUG,
            "acquired lock acct-3 after waiting",
        );
        assert!(got.contains("waited=250ms"), "{got}");
        assert!(got.contains("owner=transfer-9"), "{got}");
        drop(g);
    });
}

#[test]
fn a_timeout_and_a_busy_try_name_the_lock_and_its_holder() {
    let lines = Lines::default();
    tracing::subscriber::with_default(lines.clone(), || {
        let (m, timer) = common::timed(&[("db", 1)]);
        let _held = m.acquire(["db"]).owner("migration").try_now().unwrap();
        let mut task = common::Task::new(m.acquire(["db"]).timeout(Duration::from_secs(1)));
        task.pending();
        timer.advance(Duration::from_secs(2));
        assert!(task.ready().is_err());
        let lines_now = lines.take();
        let timeout = one(&lines_now, Level::DEBUG, "timed out waiting for lock db");
        assert!(timeout.contains("lock=db"), "{timeout}");
        assert!(timeout.contains("migration"), "names the holder: {timeout}");
        assert!(m.try_acquire(["db"]).is_err());
        let busy = one(&lines.take(), Level::TRACE, "lock db is busy");
        assert!(busy.contains("migration"), "{busy}");
    });
}

#[test]
fn refusals_and_long_holds_are_warnings() {
    let lines = Lines::default();
    tracing::subscriber::with_default(lines.clone(), || {
        let (m, timer) = common::timed(&[("low", 1), ("high", 2)]);
        let mut g = m.acquire(["high"]).owner("stuck").try_now().unwrap();
        assert!(g.try_acquire(["low"]).is_err());
        let refusal = one(&lines.take(), Level::WARN, "order violation");
        assert!(
            refusal.contains("lock=low") && refusal.contains("held=high"),
            "{refusal}"
        );
        // The watchdog: one check after its period, the holding longer than the threshold.
        timer.advance(Duration::from_secs(60));
        let reports = std::cell::Cell::new(0);
        let mut watchdog = Box::pin(m.watchdog(Duration::ZERO, Duration::from_secs(30), |_| {
            reports.set(reports.get() + 1)
        }));
        let waker = std::task::Waker::noop();
        for _ in 0..3 {
            let _ = watchdog
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker));
        }
        assert_eq!(reports.get(), 1);
        let hold = one(&lines.take(), Level::WARN, "potential deadlock: lock high");
        assert!(
            hold.contains("owner=stuck") && hold.contains("held_for=60s"),
            "{hold}"
        );
        drop(watchdog);
        drop(g);
    });
}

/// A subscriber that panics on every event whose line contains `panics_on`, after keeping it.
struct PanicsOn(Lines, &'static str);

impl Subscriber for PanicsOn {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, a: &Attributes<'_>) -> Id {
        self.0.new_span(a)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        self.0.event(event);
        if self.0 .0.lock().unwrap().last().unwrap().contains(self.1) {
            panic!("the subscriber panicked");
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// A subscriber that panics on the event of a take after waiting: the event comes after the
/// walk's bookkeeping, so the writer is counted off the lock it waited for, and a new reader of
/// the lock, free again once the future is dropped, does not yield to a writer that is gone.
#[test]
fn a_subscriber_panicking_after_a_waited_take_leaves_no_waiting_writer() {
    let mut b = lockorder::LockManager::builder();
    b.register("a", 1).unwrap();
    let m = b.build();
    let lines = Lines::default();
    tracing::subscriber::with_default(PanicsOn(lines.clone(), "after waiting"), || {
        let h = m.try_acquire(["a"]).unwrap();
        let mut x = Box::pin(m.acquire(["a"]));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(x.as_mut().poll(&mut cx).is_pending());
        drop(h);
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| x.as_mut().poll(&mut cx)));
        assert!(
            polled.is_err(),
            "the subscriber's panic came out of the poll"
        );
        drop(x);
    });
    assert!(
        lines.take().iter().any(|l| l.contains("after waiting")),
        "the event was emitted"
    );
    assert!(!m.is_locked("a").unwrap(), "the lock taken was released");
    assert!(
        m.try_acquire_shared(["a"]).is_ok(),
        "a new reader does not yield to a writer that is gone"
    );
}
