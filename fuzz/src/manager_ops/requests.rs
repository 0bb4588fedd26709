//! Requests, made on the real manager and on the model at once: a new acquire future, a poll, a
//! single try, each checked against what the model predicts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use lockorder::futures::Acquire;
use lockorder::{Key, ManualTimer};

use super::input::{KeyKind, Request, Wait};
use super::model::Outcome;
use super::world::World;
use super::{Manager, G, UNKNOWN};

/// The real acquire future of a request: from the manager, or through `parent`.
pub(crate) fn open<'a>(
    w: &World<'_>,
    m: &'a Manager,
    parent: Option<&'a mut G<'_>>,
    keys: &[Option<usize>],
    kind: KeyKind,
    wait: Wait,
    label: Option<&str>,
) -> Acquire<'a, ManualTimer> {
    pub(crate) fn start<'a, K: Key>(
        m: &'a Manager,
        parent: Option<&'a mut G<'_>>,
        keys: Vec<K>,
    ) -> Acquire<'a, ManualTimer> {
        match parent {
            None => m.acquire(keys),
            Some(g) => g.acquire(keys),
        }
    }
    let names = &w.model.names;
    let fut = match kind {
        KeyKind::Name => start(
            m,
            parent,
            keys.iter()
                .map(|k| k.map_or(UNKNOWN, |i| names[i].as_str()))
                .collect(),
        ),
        KeyKind::Owned => start(
            m,
            parent,
            keys.iter()
                .map(|k| k.map_or(UNKNOWN, |i| names[i].as_str()).to_string())
                .collect(),
        ),
        KeyKind::Id => start(
            m,
            parent,
            keys.iter()
                .enumerate()
                .map(|(at, k)| k.map_or(w.foreign[at % w.foreign.len()], |i| w.ids[i]))
                .collect(),
        ),
    };
    let fut = match wait {
        Wait::Default => fut,
        Wait::Forever => fut.no_timeout(),
        Wait::Zero => fut.timeout(Duration::ZERO),
        Wait::Millis(ms) => fut.timeout(Duration::from_millis(ms.into())),
        Wait::Max => fut.timeout(Duration::MAX),
    };
    match label {
        Some(label) => fut.owner(label),
        None => fut,
    }
}

/// A new acquire future and its model (`pid`: the model id of `parent`).
pub(crate) fn begin<'a>(
    w: &mut World<'_>,
    m: &'a Manager,
    pid: Option<u64>,
    parent: Option<&'a mut G<'_>>,
    req: &Request,
) -> (u64, Acquire<'a, ManualTimer>) {
    let keys = w.keys(&req.keys);
    // The label is a fresh string, dropped before the future is polled: the library copies it.
    let label = w.label(req.label);
    let fut = open(w, m, parent, &keys, req.kind, req.wait, label.as_deref());
    let id = w.model.new_future(&keys, req.kind, pid, req.wait, label);
    (id, fut)
}

/// Polls future `id` and checks the outcome against the model: the guard, if it was granted.
pub(crate) fn poll_one<'a>(
    w: &mut World<'_>,
    id: u64,
    fut: Pin<&mut Acquire<'a, ManualTimer>>,
    fresh_waker: bool,
) -> Option<(u64, G<'a>)> {
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

/// A single try, from the manager or through `parent`, checked against the model.
pub(crate) fn try_one<'a>(
    w: &mut World<'_>,
    m: &'a Manager,
    pid: Option<u64>,
    parent: Option<&'a mut G<'_>>,
    req: &Request,
) -> Option<(u64, G<'a>)> {
    let keys = w.keys(&req.keys);
    let (real, label) = if req.via_future {
        let label = w.label(req.label);
        let fut = open(w, m, parent, &keys, req.kind, req.wait, label.as_deref());
        (fut.try_now(), label)
    } else {
        let names = keys
            .iter()
            .map(|k| k.map_or(UNKNOWN, |i| w.model.names[i].as_str()));
        let real = match (parent, req.kind) {
            // The shorthands, which must be the same as `acquire(..).try_now()`.
            (None, KeyKind::Name) => m.try_acquire(names),
            (Some(g), KeyKind::Name) => g.try_acquire(names),
            (parent, kind) => open(w, m, parent, &keys, kind, Wait::Default, None).try_now(),
        };
        (real, None)
    };
    let want = w
        .model
        .resolve(&keys, req.kind, pid.map(|p| &w.model.guards[&p]));
    match (w.model.try_now(want, pid, label), real) {
        (Outcome::Granted(gid), Ok(guard)) => {
            w.check_guard(&guard, gid);
            Some((gid, guard))
        }
        (Outcome::Failed(e), Err(actual)) => {
            w.check_error(&actual, &e);
            None
        }
        (Outcome::Pending, _) => unreachable!(),
        (Outcome::Granted(_), real) => panic!("try: expected a guard, got {real:?}"),
        (Outcome::Failed(e), real) => panic!("try: expected {e:?}, got {real:?}"),
    }
}
