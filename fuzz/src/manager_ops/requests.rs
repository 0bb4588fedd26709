//! Requests, made on the real manager and on the model at once: a new acquire future, a poll, a
//! single try or a blocking wait, each checked against what the model predicts.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::input::{KeyKind, Request, Wait};
use super::model::Outcome;
use super::real::{AnyFuture, AnyGuard, Fresh, Source};
use super::world::World;
use super::UNKNOWN;

/// The real future of a request, with its options.
fn open<'a>(
    w: &World,
    src: Source<'a, '_>,
    keys: &[Option<usize>],
    kind: KeyKind,
    wait: Wait,
    label: Option<&str>,
) -> Fresh<'a> {
    let names = &w.model.names;
    let name = |k: &Option<usize>| k.map_or(UNKNOWN, |i| names[i].as_str());
    let fut = match kind {
        KeyKind::Name => src.acquire(keys.iter().map(name).collect()),
        KeyKind::Owned => src.acquire(keys.iter().map(|k| name(k).to_string()).collect()),
        KeyKind::Id => src.acquire(
            keys.iter()
                .enumerate()
                .map(|(at, k)| k.map_or(w.foreign[at % w.foreign.len()], |i| w.ids[i]))
                .collect(),
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
    let keys = w.keys(&req.keys);
    // Each acquisition's label is its own, so a status entry showing another holding's is caught.
    let label = w.label(req.label);
    let fut = open(w, src, &keys, req.kind, req.wait, label.as_deref());
    let id = w.model.new_future(&keys, req.kind, pid, req.wait, label);
    (id, fut.pin())
}

/// Polls future `id` and checks the outcome against the model: the guard, if it was granted.
pub(crate) fn poll_one<'a>(
    w: &mut World,
    id: u64,
    fut: &mut AnyFuture<'a>,
    fresh_waker: bool,
) -> Option<(u64, AnyGuard<'a>)> {
    let f = w.model.futures.get_mut(&id).unwrap();
    if fresh_waker {
        f.waker = Arc::default();
    }
    f.seen = f.waker.count();
    let waker = Waker::from(f.waker.clone());
    let real = fut.poll(&mut Context::from_waker(&waker));
    match (w.model.poll(id), real) {
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
    let keys = w.keys(&req.keys);
    let want = w
        .model
        .resolve(&keys, req.kind, pid.map(|p| &w.model.guards[&p]));
    let (real, expected) = if blocking {
        let timeout = w.model.timeout_of(req.wait);
        if w.model.would_block(&want, timeout) {
            return None;
        }
        let label = w.label(req.label);
        let real = open(w, src, &keys, req.kind, req.wait, label.as_deref()).wait();
        (real, w.model.wait_now(want, pid, label))
    } else if req.via_future {
        let label = w.label(req.label);
        let real = open(w, src, &keys, req.kind, req.wait, label.as_deref()).try_now();
        (real, w.model.try_now(want, pid, label))
    } else {
        let real = match req.kind {
            // The shorthands, which must be the same as `acquire(..).try_now()`.
            KeyKind::Name => src.try_acquire(
                keys.iter()
                    .map(|k| k.map_or(UNKNOWN, |i| w.model.names[i].as_str())),
            ),
            kind => open(w, src, &keys, kind, Wait::Default, None).try_now(),
        };
        (real, w.model.try_now(want, pid, None))
    };
    let what = if blocking { "wait" } else { "try" };
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
