//! The pool: futures and guards taken from the manager (not through a guard), borrowed or owned,
//! which interleave freely.

use std::sync::Arc;
use std::time::Duration;

use super::hostile::quietly;
use super::input::{Act, NewWaker};
use super::real::{AnyFuture, AnyGuard, Og, Source};
use super::requests::{begin, poll_one, try_one};
use super::world::World;
use super::{Manager, FUTURE_SLOTS};

pub(crate) struct Pool<'m> {
    m: &'m Arc<Manager>,
    futures: Vec<Option<(u64, AnyFuture<'m>)>>,
    guards: Vec<Option<(u64, AnyGuard<'m>)>>,
}

/// What outlives the harness's handle on the manager: owned futures and guards.
pub(crate) struct Owned {
    pub(crate) futures: Vec<(u64, AnyFuture<'static>)>,
    pub(crate) guards: Vec<(u64, Og)>,
}

impl<'m> Pool<'m> {
    pub(crate) fn new(m: &'m Arc<Manager>) -> Self {
        Self {
            m,
            futures: (0..FUTURE_SLOTS).map(|_| None).collect(),
            guards: Vec::new(),
        }
    }

    fn at_manager(&self, owned: bool) -> Source<'m, 'static> {
        Source::Manager { m: self.m, owned }
    }

    fn store(&mut self, guard: (u64, AnyGuard<'m>)) {
        match self.guards.iter_mut().find(|s| s.is_none()) {
            Some(free) => *free = Some(guard),
            None => self.guards.push(Some(guard)),
        }
    }

    /// Takes the guard in `slot` out of the pool.
    pub(crate) fn take_guard(&mut self, slot: u8) -> Option<(u64, AnyGuard<'m>)> {
        if self.guards.is_empty() {
            return None;
        }
        let at = usize::from(slot) % self.guards.len();
        self.guards[at].take()
    }

    fn drop_future(&mut self, w: &mut World, slot: usize) {
        if let Some((id, fut)) = self.futures[slot].take() {
            quietly(|| drop(fut));
            w.model.drop_future(id);
        }
    }

    fn poll(&mut self, w: &mut World, slot: usize, waker: NewWaker) {
        if let Some((id, fut)) = self.futures[slot].as_mut() {
            if let Some(guard) = poll_one(w, *id, fut, waker) {
                self.store(guard);
            }
        }
    }

    /// Polls the futures woken since their last poll.
    pub(crate) fn poll_woken(&mut self, w: &mut World) {
        for slot in 0..FUTURE_SLOTS {
            let woken = self.futures[slot]
                .as_ref()
                .is_some_and(|(id, _)| w.model.futures[id].woken());
            if woken {
                self.poll(w, slot, NewWaker::Same);
            }
        }
    }

    pub(crate) fn apply(&mut self, w: &mut World, act: &Act) {
        match *act {
            Act::Acquire { slot, ref req } => {
                let slot = usize::from(slot) % FUTURE_SLOTS;
                self.drop_future(w, slot);
                w.check();
                let fut = begin(w, self.at_manager(req.owned), None, req);
                self.futures[slot] = Some(fut);
            }
            Act::Poll { slot, waker } => self.poll(w, usize::from(slot) % FUTURE_SLOTS, waker),
            Act::PollWoken { .. } => self.poll_woken(w),
            Act::DropFuture { slot } => self.drop_future(w, usize::from(slot) % FUTURE_SLOTS),
            Act::DropGuard { slot } => {
                if let Some((id, guard)) = self.take_guard(slot) {
                    quietly(|| drop(guard));
                    w.model.drop_guard(id);
                }
            }
            Act::Try { ref req, blocking } => {
                if let Some(guard) = try_one(w, self.at_manager(req.owned), None, req, blocking) {
                    self.store(guard);
                }
            }
            Act::Unwind => self.clear(w),
            Act::Inspect => {
                let m = self.m;
                let _ = format!("{m:?}");
                let status = m.status();
                let _ = format!("{status}{status:?}");
                for hold in m.long_held(Duration::ZERO) {
                    let _ = format!("{hold}{hold:?}");
                }
                for (_, fut) in self.futures.iter().flatten() {
                    let _ = format!("{fut:?}");
                }
                for (id, guard) in self.guards.iter().flatten() {
                    let _ = format!("{guard:?}");
                    w.check_guard(guard, *id);
                }
                w.check_long_held_edges();
            }
            Act::Advance { .. } | Act::Enter { .. } => unreachable!(),
        }
    }

    /// Drops every future, then every guard, checking after each.
    pub(crate) fn clear(&mut self, w: &mut World) {
        for slot in 0..FUTURE_SLOTS {
            self.drop_future(w, slot);
            w.check();
        }
        for (id, guard) in self.guards.drain(..).flatten() {
            quietly(|| drop(guard));
            w.model.drop_guard(id);
            w.check();
        }
    }

    /// Drops every borrowed future, then every borrowed guard, checking after each; what is
    /// owned is handed back.
    pub(crate) fn into_owned(mut self, w: &mut World) -> Owned {
        let mut owned = Owned {
            futures: Vec::new(),
            guards: Vec::new(),
        };
        for slot in 0..FUTURE_SLOTS {
            match self.futures[slot].take() {
                Some((id, AnyFuture::Owned(fut))) => {
                    owned.futures.push((id, AnyFuture::Owned(fut)))
                }
                Some((id, fut)) => {
                    quietly(|| drop(fut));
                    w.model.drop_future(id);
                    w.check();
                }
                None => {}
            }
        }
        for (id, guard) in self.guards.drain(..).flatten() {
            match guard {
                AnyGuard::Owned(guard) => owned.guards.push((id, guard)),
                guard => {
                    quietly(|| drop(guard));
                    w.model.drop_guard(id);
                    w.check();
                }
            }
        }
        owned
    }
}
