//! `hierarchy!` at its edges: names of the hidden items it declares, shapes of declaration
//! (no lock, one lock, orders at the ends of `u32`, texts with unusual characters), and a
//! declared manager with the features that assume a built one (families, task keys, status).
#![cfg(not(loom))]

use core::time::Duration;

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll};
use futures_lite::future::block_on;

use lockorder::{hierarchy, Error, LockId, LockManager, NoTimer, Timer};

/// A clock that can be built in const context, moved by hand. Its sleeps are ready once polled
/// after their deadline (the test polls again after moving the clock).
struct Clock(AtomicU64);

impl Clock {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

struct Sleep<'a>(&'a Clock, Duration);

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if Duration::from_millis(self.0 .0.load(Ordering::SeqCst)) >= self.1 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Timer for &'static Clock {
    type Sleep = Sleep<'static>;

    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::SeqCst))
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        Sleep(self, self.now() + duration)
    }
}

static CLOCK: Clock = Clock::new();

/// Names a caller may well use for its own items, and that the expansion must not capture.
mod hidden_names {
    use lockorder::{hierarchy, LockManager, NoTimer};

    pub(crate) const SLOTS: u32 = 5;

    hierarchy! {
        pub(crate) static ORDERS: LockManager<NoTimer> = NoTimer;
        pub(crate) const A = ("a", SLOTS);
        pub(crate) const B = ("b", SLOTS + 1);
    }

    hierarchy! {
        pub(crate) static NAMES: LockManager<NoTimer> = NoTimer;
        pub(crate) const C = ("c", 1);
    }

    pub(crate) mod inner {
        lockorder::hierarchy! {
            pub(crate) static SLOTS: lockorder::LockManager<lockorder::NoTimer> =
                lockorder::NoTimer;
            pub(crate) const D = ("d", 1);
        }
    }
}

#[test]
fn hidden_items_do_not_capture_the_callers_names() {
    use hidden_names::{inner, A, B, C, NAMES, ORDERS};
    assert_eq!(ORDERS.info(A).unwrap().order(), 5);
    assert_eq!(ORDERS.info(B).unwrap().order(), 6);
    assert_eq!(NAMES.info(C).unwrap().name(), "c");
    assert_eq!(inner::SLOTS.info(inner::D).unwrap().name(), "d");
    assert!(ORDERS.try_acquire([A, B]).is_ok());
    assert!(NAMES.info(A).is_none() && inner::SLOTS.info(C).is_none());
}

hierarchy! {
    static EMPTY: LockManager<NoTimer> = NoTimer;
}

hierarchy! {
    /// Orders at both ends, texts that are not plain ASCII words.
    pub(crate) static ENDS: LockManager<NoTimer> = NoTimer;
    /// Order zero.
    pub(crate) const LOW = ("läuft \"quoted\" ✓", 0, r"raw \n text");
    const MID = ("with space", 1 << 16,);
    pub(crate) const HIGH = ("max", u32::MAX);
}

#[test]
fn no_lock_and_the_ends_of_u32() {
    assert!(EMPTY.is_empty());
    assert_eq!(EMPTY.locks().count(), 0);
    assert!(matches!(EMPTY.id("x"), Err(Error::UnknownLock { .. })));
    assert!(EMPTY.try_acquire(Vec::<LockId>::new()).is_ok());
    assert!(EMPTY.info(LOW).is_none());

    let locks: Vec<_> = ENDS.locks().map(|l| (l.name(), l.order())).collect();
    assert_eq!(
        locks,
        [
            ("läuft \"quoted\" ✓", 0),
            ("with space", 1 << 16),
            ("max", u32::MAX)
        ]
    );
    assert_eq!(ENDS.info(LOW).unwrap().description(), r"raw \n text");
    assert_eq!(ENDS.info(MID).unwrap().description(), "");
    assert_eq!(ENDS.id("läuft \"quoted\" ✓").unwrap(), LOW);
    let mut g = ENDS.try_acquire([HIGH, LOW]).unwrap();
    assert!(g.holds(LOW) && g.holds("max"));
    // Below the highest held lock: refused, naming both.
    let e = g.try_acquire([MID]).map(|_| ()).unwrap_err();
    assert!(matches!(e, Error::OrderViolation { .. }), "{e:?}");
    assert!(
        e.to_string().contains("with space") && e.to_string().contains("max"),
        "{e}"
    );
}

#[test]
fn declared_in_a_function_body() {
    hierarchy! {
        static LOCAL: LockManager<NoTimer> = NoTimer;
        const ONE = ("one", 1);
    }
    let g = LOCAL.try_acquire([ONE]).unwrap();
    assert!(LOCAL.is_locked(ONE).unwrap());
    drop(g);
    assert!(!LOCAL.is_locked("one").unwrap());
    assert!(LOCAL.info(LOW).is_none());
}

hierarchy! {
    static TIMED: LockManager<&'static Clock> = &CLOCK,
        default_timeout = Duration::from_millis(30);
    const T1 = ("t1", 1);
    const T2 = ("t2", 2);
}

#[test]
fn a_declared_default_timeout_ends_a_wait() {
    assert_eq!(TIMED.default_timeout(), Some(Duration::from_millis(30)));
    let _held = TIMED.try_acquire([T2]).unwrap();
    let mut waiting = core::pin::pin!(TIMED.acquire([T1, T2]));
    assert!(block_on(futures_lite::future::poll_once(&mut waiting)).is_none());
    CLOCK.advance(Duration::from_millis(31));
    let e = block_on(waiting).map(|_| ()).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(
        !TIMED.is_locked(T1).unwrap(),
        "a timed-out wait gives back what it took"
    );
    // Status and long holds name declared locks.
    CLOCK.advance(Duration::from_millis(100));
    let long = TIMED.long_held(Duration::from_millis(50));
    assert_eq!(long.len(), 1, "{long:?}");
    assert!(format!("{long:?}").contains("t2"), "{long:?}");
    assert!(format!("{:?}", TIMED.status()).contains("t2"));
}

#[test]
fn families_and_task_keys_with_declared_managers() {
    assert!(matches!(
        ENDS.member("max", 0),
        Err(Error::UnknownLock { name }) if name.contains("max")
    ));
    let built = LockManager::builder()
        .with_family("account", 100, 4)
        .unwrap()
        .build();
    let member = built.member("account", 1).unwrap();
    assert!(ENDS.info(member).is_none());
    assert!(matches!(
        ENDS.try_acquire([member]),
        Err(Error::UnknownLock { .. })
    ));

    // A task key of one declared manager is foreign to another declared one and to a built one.
    let key = ENDS.task_key();
    let e = TIMED
        .acquire([T1])
        .key(&key)
        .try_now()
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::ForeignKey { .. }), "{e:?}");
    let e = built
        .acquire([member])
        .key(&key)
        .try_now()
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::ForeignKey { .. }), "{e:?}");
    let theirs = built.task_key();
    let e = ENDS
        .acquire([LOW])
        .key(&theirs)
        .try_now()
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::ForeignKey { .. }), "{e:?}");
    // Its own key works, and checks the order across guards.
    let first = ENDS.acquire([MID]).key(&key).try_now().unwrap();
    let e = ENDS
        .acquire([LOW])
        .key(&key)
        .try_now()
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e, Error::OrderViolation { .. }), "{e:?}");
    drop(first);
}

#[test]
fn built_ids_are_never_declared_ones() {
    // However many managers are built, their ids do not open a declared manager's locks.
    for _ in 0..64 {
        let built = LockManager::builder().with_lock("max", 1).unwrap().build();
        let id = built.id("max").unwrap();
        assert!(ENDS.info(id).is_none());
        assert!(built.info(LOW).is_none() && built.info(HIGH).is_none());
        assert_ne!(id, LOW);
    }
}
