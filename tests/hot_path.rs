//! The uncontended acquire path against the general one: holder ids at the edges of their
//! fields (generation wrap, positions past the inline sets and past 16 bits), key resolution
//! into a lock set (large managers, repeats, unknown keys in the middle, every key type), and the
//! behaviours a walk must keep when it takes free locks with first tries alone (mixed modes,
//! statistics; the hand-off policy's, in `tests/handoff.rs`).

mod common;

use common::{holder_id as id, holder_parts as parts, manager, many, Task};
use lockorder::{Error, LockManager, Mode, Owner};

#[test]
fn holder_ids_follow_the_lock_generation_through_its_wrap() {
    let m = manager(&[("a", 10), ("b", 20)]);
    let mut prev: Option<(Owner, u64)> = None;
    let mut wrapped = false;
    // The generation field of the lock word is 15 bits wide: go round it twice.
    for i in 0..(2 << 15) + 3 {
        let g = if i % 2 == 0 {
            m.try_acquire(["b"]).unwrap()
        } else {
            // A shared holding is a new holding too.
            m.try_acquire_shared(["b"]).unwrap()
        };
        let owner = g.holder().unwrap();
        let (first, generation) = parts(Some(owner));
        assert_eq!(first, 1, "b is at position 1");
        assert!(
            generation < 1 << 15,
            "generation {generation} out of its field"
        );
        if let Some((prev_owner, prev_gen)) = prev {
            assert_eq!(generation, (prev_gen + 1) % (1 << 15), "take {i}");
            assert_ne!(
                owner, prev_owner,
                "take {i}: consecutive holdings share an id"
            );
            wrapped |= generation == 0;
            if generation != 0 {
                let (Owner::Holder(p), Owner::Holder(o)) = (prev_owner, owner) else {
                    unreachable!()
                };
                assert!(p < o, "take {i}: ids of one lock order by generation");
            }
        }
        if i % 4099 == 0 || generation == 0 || generation == (1 << 15) - 1 {
            assert_eq!(m.status()[1].owner, Some(owner), "take {i}");
        }
        prev = Some((owner, generation));
    }
    assert!(wrapped);
}

#[test]
fn holder_ids_past_the_inline_sets_name_the_first_position() {
    let m = many(300);
    let g = m.try_acquire(["l299", "l150", "l299"]).unwrap();
    assert_eq!(parts(g.holder()).0, 150);
    assert_eq!(g.locks().count(), 2);
    let w = m
        .acquire(["l298"])
        .shared(["l200", "l5", "l200"])
        .try_now()
        .unwrap();
    assert_eq!(parts(w.holder()).0, 5);
    assert_eq!(w.mode("l5"), Some(Mode::Shared));
    assert_eq!(w.mode("l200"), Some(Mode::Shared));
    assert_eq!(w.mode("l298"), Some(Mode::Exclusive));
    assert!(
        id(w.holder()).2 < id(g.holder()).2,
        "ids order by their first position"
    );
    let status = m.status();
    for pos in [5, 200, 298] {
        assert_eq!(status[pos].owner, w.holder(), "l{pos}");
    }
    for pos in [150, 299] {
        assert_eq!(status[pos].owner, g.holder(), "l{pos}");
    }
    assert_eq!(status.held().count(), 5);
}

#[test]
fn holder_ids_in_a_65536_member_family_name_positions_past_16_bits() {
    let m = LockManager::builder()
        .with_family("acct", 100, 65_536)
        .unwrap()
        .with_lock("top", 1_000_000)
        .unwrap()
        .build();
    let last = m.member("acct", 65_535).unwrap();
    let top = m.id("top").unwrap();
    let g = m.try_acquire([&top, &last]).unwrap();
    assert_eq!(parts(g.holder()).0, 65_535);
    drop(g);
    let g = m.try_acquire(["top"]).unwrap();
    assert_eq!(parts(g.holder()).0, 65_536);
    let h = m.try_acquire([last]).unwrap();
    assert!(id(h.holder()).2 < id(g.holder()).2);
    assert_ne!(h.holder(), g.holder());
}

#[test]
fn an_unknown_key_in_the_middle_takes_nothing_and_names_the_key() {
    for n in [3, 128, 129, 300] {
        let m = many(n);
        let top = format!("l{}", n - 1);
        let e = m.try_acquire(["l0", "nope", top.as_str()]).unwrap_err();
        assert!(
            matches!(&e, Error::UnknownLock { name } if name == "nope"),
            "{n} locks: {e:?}"
        );
        assert!(e.to_string().contains("nope"), "{e}");
        let e = block_on_ready(&m, &["l1", "ghost", "l0"]);
        assert!(
            matches!(&e, Error::UnknownLock { name } if name == "ghost"),
            "{e:?}"
        );
        assert_eq!(m.status().held().count(), 0, "{n} locks");
        // A lock id of another manager in the middle.
        let other = many(n);
        let foreign = other.id("l0").unwrap();
        let e = m
            .try_acquire([m.id("l0").unwrap(), foreign, m.id(&top).unwrap()])
            .unwrap_err();
        assert!(matches!(e, Error::UnknownLock { .. }), "{e:?}");
        assert_eq!(m.status().held().count(), 0, "{n} locks");
        // Everything is still free for everyone.
        let all: Vec<String> = (0..n).map(|i| format!("l{i}")).collect();
        assert_eq!(m.try_acquire(&all).unwrap().locks().count(), n as usize);
    }
}

/// Polls an acquire of `keys` once: an unknown key fails at the first poll.
fn block_on_ready(m: &LockManager, keys: &[&str]) -> Error {
    let mut t = Task::new(m.acquire(keys.to_vec()));
    match t.poll() {
        std::task::Poll::Ready(Err(e)) => e,
        other => panic!(
            "expected an error at once, got {:?}",
            other.map(|r| r.is_ok())
        ),
    }
}

#[test]
fn every_key_type_resolves_in_large_and_small_managers() {
    for n in [2, 64, 65, 128, 129, 300] {
        let m = many(n);
        let top = format!("l{}", n - 1);
        let strings = vec![top.clone(), String::from("l0"), top.clone()];
        let g = m.try_acquire(&strings).unwrap();
        assert_eq!(g.locks().count(), 2, "{n} locks, &String");
        drop(g);
        let g = m.try_acquire(strings.clone()).unwrap();
        assert_eq!(g.locks().count(), 2, "{n} locks, String");
        drop(g);
        let ids = [m.id(&top).unwrap(), m.id("l0").unwrap()];
        let g = m.try_acquire(ids.iter()).unwrap();
        assert!(g.holds(&top) && g.holds("l0"), "{n} locks, &LockId");
        assert_eq!(parts(g.holder()).0, 0);
        drop(g);
        let g = m.try_acquire_shared(ids.iter().rev()).unwrap();
        assert_eq!(g.mode(ids[0]), Some(Mode::Shared), "{n} locks");
        assert_eq!(g.locks().count(), 2, "{n} locks");
    }
}

#[cfg(feature = "stats")]
#[test]
fn statistics_count_only_the_lock_that_was_waited_for_as_contended() {
    let m = many(200);
    let h = m.try_acquire(["l150"]).unwrap();
    let mut t = Task::new(m.acquire(["l199"]).shared(["l3", "l150"]));
    t.pending();
    drop(h);
    let g = t.ready().unwrap();
    drop(g);
    drop(m.try_acquire(["l3", "l199"]).unwrap());
    let status = m.status();
    let s = |pos: usize| {
        let st = status[pos].stats;
        (st.acquisitions, st.shared, st.contended)
    };
    assert_eq!(s(3), (2, 1, 0), "l3");
    assert_eq!(s(150), (2, 1, 1), "l150");
    assert_eq!(s(199), (2, 0, 0), "l199");
}

/// Real threads on a manager past the inline sets: random mixed-mode requests over locks that
/// straddle the set's word boundaries, repeated keys included, so that walks keep passing from
/// first tries to waiting and back. Exclusion is checked on every lock held; a lost wake-up
/// hangs the test.
#[test]
fn threads_on_a_large_manager_keep_exclusion_in_mixed_modes() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    const HOT: [usize; 8] = [0, 63, 64, 127, 128, 200, 298, 299];
    const THREADS: u64 = 4;
    const ITERATIONS: usize = 3_000;
    let m = many(300);
    let writer: Vec<AtomicBool> = (0..300).map(|_| AtomicBool::new(false)).collect();
    let readers: Vec<AtomicUsize> = (0..300).map(|_| AtomicUsize::new(0)).collect();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (m, writer, readers) = (&m, &writer, &readers);
            s.spawn(move || {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let mut next = || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                for _ in 0..ITERATIONS {
                    let bits = next();
                    let (mut excl, mut shared) = (Vec::new(), Vec::new());
                    for (i, &pos) in HOT.iter().enumerate() {
                        match (bits >> (2 * i)) & 3 {
                            0 | 1 => {}
                            2 => excl.push(format!("l{pos}")),
                            _ => shared.push(format!("l{pos}")),
                        }
                    }
                    if let Some(k) = excl.first().cloned() {
                        excl.push(k); // a repeated key folds away
                    }
                    let g = futures_lite::future::block_on(
                        m.acquire(excl.iter()).shared(shared.iter()),
                    )
                    .unwrap();
                    let mut taken = Vec::new();
                    for &pos in &HOT {
                        match g.mode(format!("l{pos}").as_str()) {
                            Some(Mode::Exclusive) => {
                                assert!(!writer[pos].swap(true, Ordering::SeqCst), "l{pos}");
                                assert_eq!(readers[pos].load(Ordering::SeqCst), 0, "l{pos}");
                                taken.push((pos, true));
                            }
                            Some(Mode::Shared) => {
                                readers[pos].fetch_add(1, Ordering::SeqCst);
                                assert!(!writer[pos].load(Ordering::SeqCst), "l{pos}");
                                taken.push((pos, false));
                            }
                            None => {}
                        }
                    }
                    assert_eq!(taken.len(), g.locks().count());
                    if let Some(Owner::Holder(id)) = g.holder() {
                        let first = (id.as_u64() >> 32) as usize;
                        assert!(taken.iter().any(|&(p, _)| p == first), "{id} {taken:?}");
                    }
                    for &(pos, exclusive) in &taken {
                        if exclusive {
                            writer[pos].store(false, Ordering::SeqCst);
                        } else {
                            readers[pos].fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    drop(g);
                }
            });
        }
    });
    assert_eq!(m.status().held().count(), 0);
}

/// A nested acquire resolves its keys the same way: an unknown key in the middle takes nothing,
/// names the key and leaves the parent's locks held; a good one inherits the parent's holder id
/// even when its own locks are the only ones it starts.
#[test]
fn nested_acquires_resolve_keys_as_the_manager_does() {
    for n in [100, 300] {
        let m = many(n);
        let mut parent = m.try_acquire(["l10"]).unwrap();
        let top = format!("l{}", n - 1);
        let e = parent
            .try_acquire(["l50", "missing", top.as_str()])
            .unwrap_err();
        assert!(
            matches!(&e, Error::UnknownLock { name } if name == "missing"),
            "{n} locks: {e:?}"
        );
        assert_eq!(m.status().held().count(), 1, "{n} locks");
        let holder = parent.holder();
        let child = parent
            .try_acquire([top.as_str(), "l50", top.as_str()])
            .unwrap();
        assert_eq!(child.holder(), holder, "{n} locks");
        let status = m.status();
        assert_eq!(status[50].owner, holder, "{n} locks");
        assert_eq!(status[n as usize - 1].owner, holder, "{n} locks");
        drop(child);
        assert_eq!(m.status().held().count(), 1, "{n} locks");
    }
}
