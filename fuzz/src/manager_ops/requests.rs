//! Requests, made on the real manager and on the model at once: a new acquire future, a poll, a
//! single try or a blocking wait, each checked against what the model predicts.

use std::sync::Arc;
use std::task::{Context, Poll};

use lockorder::Error;

use super::hostile::{catching, Counter, Panics};
use super::input::{KeyKind, NewWaker, Request, Wait};
use super::model::Outcome;
use super::real::{AnyFuture, AnyGuard, Fresh, Source};
use super::world::World;
use super::UNKNOWN;

/// The real future of a request, with its options (`as_option`: see [`Source::acquire`]).
fn open<'a>(
    w: &World,
    src: Source<'a, '_>,
    keys: &[(Option<usize>, bool)],
    kind: KeyKind,
    (wait, label, as_option): (Wait, Option<&str>, bool),
) -> Fresh<'a> {
    let names = &w.model.names;
    let name = |k: Option<usize>| k.map_or(UNKNOWN, |i| names[i].as_str());
    let id =
        |(at, k): (usize, Option<usize>)| k.map_or(w.foreign[at % w.foreign.len()], |i| w.ids[i]);
    let split = |shared: bool| {
        keys.iter()
            .enumerate()
            .filter(move |k| k.1 .1 == shared)
            .map(|(at, k)| (at, k.0))
    };
    let fut = match kind {
        KeyKind::Name => src.acquire(
            split(false).map(|k| name(k.1)).collect(),
            split(true).map(|k| name(k.1)).collect(),
            as_option,
        ),
        KeyKind::Owned => src.acquire(
            split(false).map(|k| name(k.1).to_string()).collect(),
            split(true).map(|k| name(k.1).to_string()).collect(),
            as_option,
        ),
        KeyKind::Id => src.acquire(
            split(false).map(id).collect(),
            split(true).map(id).collect(),
            as_option,
        ),
    };
    fut.with(wait, label)
}

/// A new acquire future and its model (`pid`: the model id of the guard `src` nests in).
pub(crate) fn begin<'a>(
    w: &mut World,
    src: Source<'a, '_>,
    pid: Option<u64>,
    req: &Request,
) -> (u64, AnyFuture<'a>) {
    let keys = w.keys(req);
    // Each acquisition's label is its own, so a status entry showing another holding's is caught.
    let label = w.label(req.label);
    let options = (req.wait, label.as_deref(), req.via_future);
    let fut = open(w, src, &keys, req.kind, options);
    let want = w
        .model
        .resolve(&keys, req.kind, w.model.parent(pid).as_ref());
    let timeout = w.model.timeout_of(req.wait);
    let id = w.model.new_future(want, pid, timeout, label);
    (id, fut.pin())
}

/// Polls future `id` and checks the outcome against the model: the guard, if it was granted.
///
/// A poll may unwind from a hostile waker: its own, cloned as it registers, or another
/// future's, woken by the timeout's release or by a reserving reader's take. The library
/// finishes its step first, so the harness polls once more with a new, well-behaved waker and
/// checks that second poll: a grant or refusal the model predicted for the first poll must come
/// now (or, if the future already finished, `PolledAfterCompletion`), and a pending future is
/// polled again in the model too.
pub(crate) fn poll_one<'a>(
    w: &mut World,
    id: u64,
    fut: &mut AnyFuture<'a>,
    new_waker: NewWaker,
) -> Option<(u64, AnyGuard<'a>)> {
    let f = w.model.futures.get_mut(&id).unwrap();
    match new_waker {
        NewWaker::Same => {}
        NewWaker::Fresh => f.waker = Arc::default(),
        NewWaker::PanicsInWake => f.waker = Counter::new(Panics::InWake),
        NewWaker::PanicsInClone => f.waker = Counter::new(Panics::InClone),
    }
    f.seen = f.waker.count();
    let waker = f.waker.waker();
    let real = catching(|| fut.poll(&mut Context::from_waker(&waker)));
    drop(waker);
    if w.trace {
        eprintln!("  poll {id}: {real:?}");
    }
    let expected = w.model.poll(id);
    let real = match real {
        Some(real) => real,
        None => {
            let f = w.model.futures.get_mut(&id).unwrap();
            f.waker = Arc::default();
            f.seen = 0;
            let waker = f.waker.waker();
            let again = fut.poll(&mut Context::from_waker(&waker));
            if w.trace {
                eprintln!("  poll {id} unwound; again: {again:?}");
            }
            match (&expected, again) {
                (Outcome::Pending, again) => {
                    let expected = w.model.poll(id);
                    return check_poll(w, id, expected, again);
                }
                (Outcome::Failed(_), Poll::Ready(Err(Error::PolledAfterCompletion))) => {
                    return None
                }
                (_, again) => again,
            }
        }
    };
    check_poll(w, id, expected, real)
}

fn check_poll<'a>(
    w: &mut World,
    id: u64,
    expected: Outcome,
    real: Poll<Result<AnyGuard<'a>, Error>>,
) -> Option<(u64, AnyGuard<'a>)> {
    match (expected, real) {
        (Outcome::Pending, Poll::Pending) => None,
        (Outcome::Granted(gid), Poll::Ready(Ok(guard))) => {
            w.check_guard(&guard, gid);
            Some((gid, guard))
        }
        (Outcome::Failed(e), Poll::Ready(Err(actual))) => {
            w.check_error(&actual, &e);
            None
        }
        (Outcome::Pending, real) => panic!("future {id}: expected Pending, got {real:?}"),
        (Outcome::Granted(_), real) => panic!("future {id}: expected a guard, got {real:?}"),
        (Outcome::Failed(e), real) => panic!("future {id}: expected {e:?}, got {real:?}"),
    }
}

/// A single try (`blocking`: a `wait()` that cannot block, else nothing), from the manager or
/// through a guard, checked against the model.
pub(crate) fn try_one<'a>(
    w: &mut World,
    src: Source<'a, '_>,
    pid: Option<u64>,
    req: &Request,
    blocking: bool,
) -> Option<(u64, AnyGuard<'a>)> {
    let keys = w.keys(req);
    let want = w
        .model
        .resolve(&keys, req.kind, w.model.parent(pid).as_ref());
    let (real, expected) = if blocking {
        let timeout = w.model.timeout_of(req.wait);
        if w.model.would_block(&want, timeout) {
            return None;
        }
        let label = w.label(req.label);
        let options = (req.wait, label.as_deref(), false);
        let fresh = open(w, src, &keys, req.kind, options);
        let real = catching(|| fresh.wait());
        (real, w.model.wait_now(want, pid, label))
    } else if req.via_future {
        let label = w.label(req.label);
        let options = (req.wait, label.as_deref(), false);
        let fresh = open(w, src, &keys, req.kind, options);
        let real = catching(|| fresh.try_now());
        (real, w.model.try_now(want, pid, label))
    } else {
        let exclusive = keys.iter().filter(|k| !k.1).count();
        let real = catching(|| match req.kind {
            // The shorthands, which must be the same as `acquire(..).try_now()`.
            KeyKind::Name if src.has_try_shorthand(exclusive, keys.len() - exclusive) => {
                let name =
                    |k: &(Option<usize>, bool)| k.0.map_or(UNKNOWN, |i| w.model.names[i].as_str());
                src.try_acquire(
                    keys.iter().filter(|k| !k.1).map(name).collect(),
                    keys.iter().filter(|k| k.1).map(name).collect(),
                )
            }
            kind => open(w, src, &keys, kind, (Wait::Default, None, false)).try_now(),
        });
        (real, w.model.try_now(want, pid, None))
    };
    let what = if blocking { "wait" } else { "try" };
    if w.trace {
        eprintln!("  {what}: {real:?}");
    }
    let Some(real) = real else {
        // A refused try released what it had taken, and a waker it woke panicked.
        assert!(
            matches!(expected, Outcome::Failed(_)),
            "{what}: a waker panicked, yet the model expected {:?}",
            matches!(expected, Outcome::Granted(_)).then_some("a guard")
        );
        return None;
    };
    match (expected, real) {
        (Outcome::Granted(gid), Ok(guard)) => {
            w.check_guard(&guard, gid);
            Some((gid, guard))
        }
        (Outcome::Failed(e), Err(actual)) => {
            w.check_error(&actual, &e);
            None
        }
        (Outcome::Pending, _) => unreachable!(),
        (Outcome::Granted(_), real) => panic!("{what}: expected a guard, got {real:?}"),
        (Outcome::Failed(e), real) => panic!("{what}: expected {e:?}, got {real:?}"),
    }
}
