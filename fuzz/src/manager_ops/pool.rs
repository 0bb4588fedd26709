//! The pool: futures and guards taken from the manager (not through a guard), which interleave
//! freely.

use std::pin::Pin;
use std::time::Duration;

use lockorder::futures::Acquire;
use lockorder::ManualTimer;

use super::input::Act;
use super::requests::{begin, poll_one, try_one};
use super::world::World;
use super::{Manager, FUTURE_SLOTS, G};

pub(crate) struct FutSlot<'m> {
    pub(crate) id: u64,
    pub(crate) fut: Pin<Box<Acquire<'m, ManualTimer>>>,
}

pub(crate) struct Pool<'m> {
    pub(crate) m: &'m Manager,
    pub(crate) futures: Vec<Option<FutSlot<'m>>>,
    pub(crate) guards: Vec<Option<(u64, G<'m>)>>,
}

impl<'m> Pool<'m> {
    pub(crate) fn new(m: &'m Manager) -> Self {
        Self {
            m,
            futures: (0..FUTURE_SLOTS).map(|_| None).collect(),
            guards: Vec::new(),
        }
    }

    pub(crate) fn store(&mut self, guard: (u64, G<'m>)) {
        match self.guards.iter_mut().find(|s| s.is_none()) {
            Some(free) => *free = Some(guard),
            None => self.guards.push(Some(guard)),
        }
    }

    /// Takes the guard in `slot` out of the pool.
    pub(crate) fn take_guard(&mut self, slot: u8) -> Option<(u64, G<'m>)> {
        if self.guards.is_empty() {
            return None;
        }
        let at = usize::from(slot) % self.guards.len();
        self.guards[at].take()
    }

    pub(crate) fn drop_future(&mut self, w: &mut World<'_>, slot: usize) {
        if let Some(s) = self.futures[slot].take() {
            drop(s.fut);
            w.model.drop_future(s.id);
        }
    }

    pub(crate) fn poll(&mut self, w: &mut World<'_>, slot: usize, fresh_waker: bool) {
        if let Some(s) = self.futures[slot].as_mut() {
            if let Some(guard) = poll_one(w, s.id, s.fut.as_mut(), fresh_waker) {
                self.store(guard);
            }
        }
    }

    /// Polls the futures woken since their last poll.
    pub(crate) fn poll_woken(&mut self, w: &mut World<'_>) {
        for slot in 0..FUTURE_SLOTS {
            let woken = self.futures[slot]
                .as_ref()
                .is_some_and(|s| w.model.futures[&s.id].woken());
            if woken {
                self.poll(w, slot, false);
            }
        }
    }

    pub(crate) fn apply(&mut self, w: &mut World<'_>, act: &Act) {
        match *act {
            Act::Acquire { slot, ref req } => {
                let slot = usize::from(slot) % FUTURE_SLOTS;
                self.drop_future(w, slot);
                w.check();
                let (id, fut) = begin(w, self.m, None, None, req);
                self.futures[slot] = Some(FutSlot {
                    id,
                    fut: Box::pin(fut),
                });
            }
            Act::Poll { slot, fresh_waker } => {
                self.poll(w, usize::from(slot) % FUTURE_SLOTS, fresh_waker)
            }
            Act::PollWoken { .. } => self.poll_woken(w),
            Act::DropFuture { slot } => self.drop_future(w, usize::from(slot) % FUTURE_SLOTS),
            Act::DropGuard { slot } => {
                if let Some((id, guard)) = self.take_guard(slot) {
                    drop(guard);
                    w.model.drop_guard(id);
                }
            }
            Act::Try { ref req } => {
                if let Some(guard) = try_one(w, self.m, None, None, req) {
                    self.store(guard);
                }
            }
            Act::Unwind => self.clear(w),
            Act::Inspect => {
                let _ = format!("{:?}", self.m);
                let status = self.m.status();
                let _ = format!("{status}{status:?}");
                for hold in self.m.long_held(Duration::ZERO) {
                    let _ = format!("{hold}{hold:?}");
                }
                for s in self.futures.iter().flatten() {
                    let _ = format!("{:?}", s.fut);
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
    pub(crate) fn clear(&mut self, w: &mut World<'_>) {
        for slot in 0..FUTURE_SLOTS {
            self.drop_future(w, slot);
            w.check();
        }
        for (id, guard) in self.guards.drain(..).flatten() {
            drop(guard);
            w.model.drop_guard(id);
            w.check();
        }
    }
}
