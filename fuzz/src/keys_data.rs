//! Target `keys_data`: differential fuzzing of task keys, lock families and `Protected` data.
//! Bytes become operations on a real manager (a family of 1 to 8 stripes between plain locks)
//! and on a plain model; every result must be the model's.
//!
//! Operations, all single tries (`try_now`), so nothing waits:
//! * acquire an owned guard for entities (by `member`, ids up to `u64::MAX`) and plain locks,
//!   each exclusive or shared, with key 0, key 1, another manager's key, or none;
//! * drop any guard (guards of one key in any order);
//! * nest a child in a guard (it inherits the guard's key), use data through the child (which
//!   reaches its ancestor's data), maybe nest a grandchild, then drop them;
//! * use data through a guard: `get`, `get_mut` (adding to the value), `get_disjoint_mut` of two
//!   values, and a `Protected` of another manager bound to a lock of the same name.
//!
//! Checked: `member` is `first + id % stripes` and a plain name is not a family; a request is
//! refused exactly as the model says, in its order of checks (`UnknownLock`; `ForeignKey`; for a
//! nested one `UpgradeRefused`, then the guard's order rule; the key's rule, naming the lowest new
//! lock and the key's highest; `WouldBlock` naming the first busy lock), and nothing is kept when
//! it is; data access succeeds or fails exactly as the model says (`NotHeld`, `UpgradeRefused`,
//! `DuplicateAccess`, each naming the lock) and every value read is the model's; at the end every
//! lock is free and every value is the model's.

use std::sync::Arc;

use lockorder::{Error, LockManager, OwnedGuard, Protected, TaskKey};

use crate::bytes::{arbitrary_via_decode, Bytes};

/// The entity ids requests name: sequential, stripe-folding and extreme.
const IDS: [u64; 12] = [
    0,
    1,
    2,
    3,
    7,
    8,
    63,
    64,
    1 << 32,
    12_345,
    u64::MAX - 1,
    u64::MAX,
];
/// Plain locks and their orders: one below the family, two above it. The family starts at 10.
const PLAIN: [(&str, u32); 3] = [("p0", 5), ("p1", 50), ("top", 200)];
const FAMILY_FIRST: u32 = 10;
/// A name no manager has.
const UNKNOWN: &str = "nope";

// === Input ===
//
//   header: STRIPES (% 8 + 1)
//   then operations: OP, then its operands
//     OP % 4 == 0: acquire  KEY REQUEST            KEY % 4: key 0, key 1, foreign, none
//     OP % 4 == 1: drop     GUARD
//     OP % 4 == 2: nest     GUARD REQUEST DATA REQUEST DATA   (a child, then a grandchild)
//     OP % 4 == 3: data     GUARD DATA
//   REQUEST: N (% 4), then N items ITEM: bit 7 shared; bits 0..6 % 16: < 12 an entity of IDS,
//            12..14 a plain lock, 15 the unknown name
//   DATA: KIND (% 4: get, get_mut, get_disjoint_mut, foreign get) A B DELTA; A, B pick values
//   GUARD: an index, modulo the guards alive

/// A lock named in a request.
#[derive(Debug, Clone, Copy)]
enum Item {
    Entity(usize),
    Plain(usize),
    Unknown,
}

#[derive(Debug, Clone)]
struct Req {
    items: Vec<(Item, bool)>,
}

#[derive(Debug, Clone, Copy)]
enum DataKind {
    Get,
    GetMut,
    Disjoint,
    Foreign,
}

#[derive(Debug, Clone, Copy)]
struct Data {
    kind: DataKind,
    a: usize,
    b: usize,
    delta: u64,
}

#[derive(Debug, Clone)]
enum Op {
    Acquire {
        key: u8,
        req: Req,
    },
    Drop {
        guard: u8,
    },
    Nest {
        guard: u8,
        child: (Req, Data),
        grandchild: (Req, Data),
    },
    Data {
        guard: u8,
        data: Data,
    },
}

/// A decoded input.
#[derive(Debug)]
pub struct Input {
    stripes: u32,
    ops: Vec<Op>,
}

arbitrary_via_decode!(Input);

impl Input {
    /// Decodes any bytes.
    pub fn decode(bytes: &[u8]) -> Self {
        let mut b = Bytes(bytes);
        let stripes = u32::from(b.byte() % 8) + 1;
        let mut ops = Vec::new();
        while !b.is_empty() && ops.len() < 200 {
            let op = match b.byte() % 4 {
                0 => Op::Acquire {
                    key: b.byte() % 4,
                    req: req(&mut b),
                },
                1 => Op::Drop { guard: b.byte() },
                2 => Op::Nest {
                    guard: b.byte(),
                    child: (req(&mut b), data(&mut b)),
                    grandchild: (req(&mut b), data(&mut b)),
                },
                _ => Op::Data {
                    guard: b.byte(),
                    data: data(&mut b),
                },
            };
            ops.push(op);
        }
        Self { stripes, ops }
    }
}

fn req(b: &mut Bytes<'_>) -> Req {
    let n = b.byte() % 4;
    let items = (0..n)
        .map(|_| {
            let x = b.byte();
            let item = match usize::from(x & 0x7f) % 16 {
                i @ 0..12 => Item::Entity(i),
                i @ 12..15 => Item::Plain(i - 12),
                _ => Item::Unknown,
            };
            (item, x & 0x80 != 0)
        })
        .collect();
    Req { items }
}

fn data(b: &mut Bytes<'_>) -> Data {
    let kind = match b.byte() % 4 {
        0 => DataKind::Get,
        1 => DataKind::GetMut,
        2 => DataKind::Disjoint,
        _ => DataKind::Foreign,
    };
    Data {
        kind,
        a: usize::from(b.byte()),
        b: usize::from(b.byte()),
        delta: u64::from(b.byte()),
    }
}

// === Model ===

/// How a lock is held, in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    Free,
    Shared(usize),
    Exclusive,
}

/// The locks one guard (or child) took, by position, with their mode (`true`: shared).
type Took = Vec<(usize, bool)>;

struct Model {
    stripes: u32,
    names: Vec<String>,
    locks: Vec<Hold>,
    /// Claimed positions per key (0 and 1).
    claims: [Vec<usize>; 2],
    /// One value per `Protected`: the entities', then the plain locks'.
    values: Vec<u64>,
}

impl Model {
    fn pos_of_entity(&self, i: usize) -> usize {
        1 + (IDS[i] % u64::from(self.stripes)) as usize
    }

    fn pos_of_plain(&self, i: usize) -> usize {
        match i {
            0 => 0,
            1 => 1 + self.stripes as usize,
            _ => 2 + self.stripes as usize,
        }
    }

    /// The lock of the `v`-th value.
    fn pos_of_value(&self, v: usize) -> usize {
        if v < IDS.len() {
            self.pos_of_entity(v)
        } else {
            self.pos_of_plain(v - IDS.len())
        }
    }

    /// The positions asked for, ascending, each with its mode (exclusive wins); `None` when a
    /// name is unknown.
    fn resolve(&self, req: &Req) -> Option<Vec<(usize, bool)>> {
        let mut want: Vec<(usize, bool)> = Vec::new();
        for &(item, shared) in &req.items {
            let pos = match item {
                Item::Entity(i) => self.pos_of_entity(i),
                Item::Plain(i) => self.pos_of_plain(i),
                Item::Unknown => return None,
            };
            match want.iter_mut().find(|(p, _)| *p == pos) {
                Some(w) => w.1 &= shared,
                None => want.push((pos, shared)),
            }
        }
        want.sort_unstable();
        Some(want)
    }

    /// The first lock of `want` that a try cannot take now.
    fn busy(&self, want: &[(usize, bool)]) -> Option<usize> {
        want.iter()
            .find(|&&(pos, shared)| match self.locks[pos] {
                Hold::Free => false,
                Hold::Shared(_) => !shared,
                Hold::Exclusive => true,
            })
            .map(|&(pos, _)| pos)
    }

    fn take(&mut self, took: &[(usize, bool)], key: Option<usize>) {
        for &(pos, shared) in took {
            self.locks[pos] = match (self.locks[pos], shared) {
                (Hold::Free, false) => Hold::Exclusive,
                (Hold::Free, true) => Hold::Shared(1),
                (Hold::Shared(n), true) => Hold::Shared(n + 1),
                other => panic!("model: taking {pos} in {other:?}"),
            };
        }
        if let Some(k) = key {
            self.claims[k].extend(took.iter().map(|t| t.0));
        }
    }

    fn release(&mut self, took: &[(usize, bool)], key: Option<usize>) {
        for &(pos, _) in took {
            self.locks[pos] = match self.locks[pos] {
                Hold::Shared(n) if n > 1 => Hold::Shared(n - 1),
                _ => Hold::Free,
            };
        }
        if let Some(k) = key {
            self.claims[k].retain(|p| !took.iter().any(|t| t.0 == *p));
        }
    }

    fn key_highest(&self, key: Option<usize>) -> Option<usize> {
        key.and_then(|k| self.claims[k].iter().copied().max())
    }
}

// === The real side ===

struct Real {
    m: Arc<LockManager>,
    keys: [TaskKey; 2],
    foreign_key: TaskKey,
    values: Vec<Protected<u64>>,
    /// Bound to the foreign manager's lock of the same name as `values[i]`'s.
    foreign_values: Vec<Protected<u64>>,
}

/// A guard alive in the harness, with what the model says it took and its key.
struct Held {
    guard: OwnedGuard,
    took: Took,
    key: Option<usize>,
}

/// The lock named by an error that names one.
fn named(e: &Error) -> String {
    match e {
        Error::OrderViolation { requested, held } => {
            format!("{}<{}", requested.name(), held.name())
        }
        Error::UpgradeRefused { lock }
        | Error::WouldBlock { lock }
        | Error::NotHeld { lock }
        | Error::DuplicateAccess { lock } => lock.name().to_owned(),
        Error::ForeignKey { lock } => lock.as_ref().map_or("-".into(), |l| l.name().to_owned()),
        Error::UnknownLock { .. } => UNKNOWN.into(),
        other => panic!("unexpected error {other:?}"),
    }
}

/// The model's verdict on a request: the locks to take, or the error's variant and names.
fn predict(
    model: &Model,
    req: &Req,
    key: Option<usize>,
    foreign: bool,
    parent: Option<&[(usize, bool)]>,
) -> Result<Took, (&'static str, String)> {
    let name = |p: usize| model.names[p].clone();
    let Some(want) = model.resolve(req) else {
        return Err(("UnknownLock", UNKNOWN.into()));
    };
    if foreign {
        return Err(("ForeignKey", want.first().map_or("-".into(), |w| name(w.0))));
    }
    let mut new = want.clone();
    if let Some(covered) = parent {
        if let Some(&(pos, _)) = want
            .iter()
            .find(|&&(p, shared)| !shared && covered.iter().any(|&(c, s)| c == p && s))
        {
            return Err(("UpgradeRefused", name(pos)));
        }
        new.retain(|&(p, _)| !covered.iter().any(|&(c, _)| c == p));
        let top = covered.iter().map(|c| c.0).max();
        if let (Some(&(first, _)), Some(top)) = (new.first(), top) {
            if first < top {
                let held = model.key_highest(key).map_or(top, |k| k.max(top));
                return Err(("OrderViolation", format!("{}<{}", name(first), name(held))));
            }
        }
    }
    if let (Some(&(first, _)), Some(held)) = (new.first(), model.key_highest(key)) {
        if first <= held {
            return Err(("OrderViolation", format!("{}<{}", name(first), name(held))));
        }
    }
    match model.busy(&new) {
        Some(pos) => Err(("WouldBlock", name(pos))),
        None => Ok(new),
    }
}

fn variant(e: &Error) -> &'static str {
    match e {
        Error::OrderViolation { .. } => "OrderViolation",
        Error::UpgradeRefused { .. } => "UpgradeRefused",
        Error::WouldBlock { .. } => "WouldBlock",
        Error::NotHeld { .. } => "NotHeld",
        Error::DuplicateAccess { .. } => "DuplicateAccess",
        Error::ForeignKey { .. } => "ForeignKey",
        Error::UnknownLock { .. } => "UnknownLock",
        other => panic!("unexpected error {other:?}"),
    }
}

#[track_caller]
fn agree<T: std::fmt::Debug, U: std::fmt::Debug>(
    real: &Result<T, Error>,
    model: &Result<U, (&'static str, String)>,
) {
    match (real, model) {
        (Ok(_), Ok(_)) => {}
        (Err(e), Err((v, n))) => {
            assert_eq!((variant(e), named(e)), (*v, n.clone()), "real {e:?}");
            assert!(!e.to_string().is_empty());
        }
        _ => panic!("real {real:?}, model {model:?}"),
    }
}

/// The keys of a request (`KEY % 4`): key 0, key 1, the foreign one, none.
fn key_of(real: &Real, key: u8) -> (Option<&TaskKey>, Option<usize>, bool) {
    match key {
        0 | 1 => (
            Some(&real.keys[usize::from(key)]),
            Some(usize::from(key)),
            false,
        ),
        2 => (Some(&real.foreign_key), None, true),
        _ => (None, None, false),
    }
}

/// Names for a real request.
fn names_of(req: &Req, real: &Real) -> (Vec<String>, Vec<String>) {
    let mut excl = Vec::new();
    let mut shared = Vec::new();
    for &(item, s) in &req.items {
        let name = match item {
            Item::Entity(i) => {
                let id = real.m.member("acct", IDS[i]).unwrap();
                real.m.info(id).unwrap().name().to_owned()
            }
            Item::Plain(i) => PLAIN[i].0.to_owned(),
            Item::Unknown => UNKNOWN.to_owned(),
        };
        if s {
            shared.push(name);
        } else {
            excl.push(name);
        }
    }
    (excl, shared)
}

/// Data access through `guard`, which covers `covered` (with its ancestors), on both sides.
fn use_data<G: Access>(
    guard: &mut G,
    covered: &[(usize, bool)],
    d: Data,
    real: &Real,
    model: &mut Model,
) {
    let n = real.values.len();
    let (a, b) = (d.a % n, d.b % n);
    let mode = |v: usize| {
        let pos = model.pos_of_value(v);
        covered.iter().find(|c| c.0 == pos).map(|c| c.1)
    };
    let lock = |v: usize| model.names[model.pos_of_value(v)].clone();
    let need = |v: usize, exclusive: bool| -> Result<(), (&'static str, String)> {
        match mode(v) {
            None => Err(("NotHeld", lock(v))),
            Some(true) if exclusive => Err(("UpgradeRefused", lock(v))),
            Some(_) => Ok(()),
        }
    };
    match d.kind {
        DataKind::Get => {
            let expected = need(a, false).map(|()| model.values[a]);
            let got = guard.get(&real.values[a]).copied();
            agree(&got, &expected);
            if let (Ok(g), Ok(e)) = (got, expected) {
                assert_eq!(g, e);
            }
        }
        DataKind::GetMut => {
            let expected = need(a, true);
            let got = guard.get_mut(&real.values[a]).map(|v| {
                *v = v.wrapping_add(d.delta);
                *v
            });
            agree(&got, &expected);
            if let Ok(v) = got {
                model.values[a] = model.values[a].wrapping_add(d.delta);
                assert_eq!(v, model.values[a]);
            }
        }
        DataKind::Disjoint => {
            let expected = need(a, true).and_then(|()| need(b, true)).and_then(|()| {
                if a == b {
                    Err(("DuplicateAccess", lock(a)))
                } else {
                    Ok(())
                }
            });
            let got = guard
                .get_disjoint_mut([&real.values[a], &real.values[b]])
                .map(|[x, y]| {
                    *x = x.wrapping_add(d.delta);
                    *y = y.wrapping_sub(d.delta);
                    (*x, *y)
                });
            agree(&got, &expected);
            if let Ok((x, y)) = got {
                model.values[a] = model.values[a].wrapping_add(d.delta);
                model.values[b] = model.values[b].wrapping_sub(d.delta);
                assert_eq!((x, y), (model.values[a], model.values[b]));
            }
        }
        DataKind::Foreign => {
            let got = guard.get(&real.foreign_values[a]).copied();
            agree(&got, &Err::<u64, _>(("NotHeld", lock(a))));
        }
    }
}

/// The data methods of both guard types, for [`use_data`].
trait Access {
    fn get<'g>(&'g self, p: &'g Protected<u64>) -> Result<&'g u64, Error>;
    fn get_mut<'g>(&'g mut self, p: &'g Protected<u64>) -> Result<&'g mut u64, Error>;
    fn get_disjoint_mut<'g>(
        &'g mut self,
        p: [&'g Protected<u64>; 2],
    ) -> Result<[&'g mut u64; 2], Error>;
}

macro_rules! access {
    ($($t:ty),*) => {$(
        impl Access for $t {
            fn get<'g>(&'g self, p: &'g Protected<u64>) -> Result<&'g u64, Error> {
                <$t>::get(self, p)
            }
            fn get_mut<'g>(&'g mut self, p: &'g Protected<u64>) -> Result<&'g mut u64, Error> {
                <$t>::get_mut(self, p)
            }
            fn get_disjoint_mut<'g>(
                &'g mut self,
                p: [&'g Protected<u64>; 2],
            ) -> Result<[&'g mut u64; 2], Error> {
                <$t>::get_disjoint_mut(self, p)
            }
        }
    )*};
}
access!(OwnedGuard, lockorder::Guard<'_>);

/// Runs one input.
pub fn run(input: Input) {
    let Input { stripes, ops } = input;
    let build = || {
        let mut b = LockManager::builder();
        for (name, order) in PLAIN {
            b.register(name, order).unwrap();
        }
        b.register_family("acct", FAMILY_FIRST, stripes).unwrap();
        b.build()
    };
    let m = Arc::new(build());
    let foreign = build();
    let names: Vec<String> = m.locks().map(|l| l.name().to_owned()).collect();
    let mut model = Model {
        stripes,
        names,
        locks: vec![Hold::Free; stripes as usize + 3],
        claims: [Vec::new(), Vec::new()],
        values: (0..IDS.len() + PLAIN.len()).map(|v| v as u64).collect(),
    };
    // Families: the documented mapping, and names that are not families.
    for (i, &id) in IDS.iter().enumerate() {
        let member = m.member("acct", id).unwrap();
        assert_eq!(
            m.lock_info(member).unwrap().name(),
            model.names[model.pos_of_entity(i)]
        );
        assert_eq!(
            m.lock_info(member).unwrap().order(),
            FAMILY_FIRST + (id % u64::from(stripes)) as u32
        );
    }
    for name in ["p0", "acct#0", UNKNOWN] {
        assert!(matches!(m.member(name, 0), Err(Error::UnknownLock { .. })));
    }
    let value_lock = |v: usize| model.names[model.pos_of_value(v)].clone();
    let real = Real {
        keys: [m.task_key(), m.task_key()],
        foreign_key: foreign.task_key(),
        values: (0..model.values.len())
            .map(|v| m.protect(value_lock(v).as_str(), v as u64).unwrap())
            .collect(),
        foreign_values: (0..model.values.len())
            .map(|v| foreign.protect(value_lock(v).as_str(), 0).unwrap())
            .collect(),
        m,
    };
    let mut guards: Vec<Held> = Vec::new();

    for op in ops {
        match op {
            Op::Acquire { key, req } => {
                let (real_key, mkey, foreign) = key_of(&real, key);
                let expected = predict(&model, &req, mkey, foreign, None);
                let (excl, shared) = names_of(&req, &real);
                let mut acq = real.m.acquire_owned(&excl).shared(&shared);
                if let Some(k) = real_key {
                    acq = acq.key(k);
                }
                let got = acq.try_now();
                agree(&got, &expected);
                if let (Ok(guard), Ok(took)) = (got, expected) {
                    model.take(&took, mkey);
                    guards.push(Held {
                        guard,
                        took,
                        key: mkey,
                    });
                }
            }
            Op::Drop { guard } if !guards.is_empty() => {
                let held = guards.remove(usize::from(guard) % guards.len());
                drop(held.guard);
                model.release(&held.took, held.key);
            }
            Op::Nest {
                guard,
                child,
                grandchild,
            } if !guards.is_empty() => {
                let i = usize::from(guard) % guards.len();
                let Held { guard, took, key } = &mut guards[i];
                let key = *key;
                let expected = predict(&model, &child.0, key, false, Some(took));
                let (excl, shared) = names_of(&child.0, &real);
                let got = guard.acquire(&excl).shared(&shared).try_now();
                agree(&got, &expected);
                let (Ok(mut c), Ok(c_took)) = (got, expected) else {
                    continue;
                };
                model.take(&c_took, key);
                let mut covered = took.clone();
                covered.extend(&c_took);
                use_data(&mut c, &covered, child.1, &real, &mut model);
                let expected = predict(&model, &grandchild.0, key, false, Some(&covered));
                let (excl, shared) = names_of(&grandchild.0, &real);
                let got = c.acquire(&excl).shared(&shared).try_now();
                agree(&got, &expected);
                if let (Ok(mut gc), Ok(gc_took)) = (got, expected) {
                    model.take(&gc_took, key);
                    let mut all = covered.clone();
                    all.extend(&gc_took);
                    use_data(&mut gc, &all, grandchild.1, &real, &mut model);
                    drop(gc);
                    model.release(&gc_took, key);
                }
                drop(c);
                model.release(&c_took, key);
            }
            Op::Data { guard, data } if !guards.is_empty() => {
                let i = usize::from(guard) % guards.len();
                let Held { guard, took, .. } = &mut guards[i];
                use_data(guard, &took.clone(), data, &real, &mut model);
            }
            Op::Drop { .. } | Op::Nest { .. } | Op::Data { .. } => {}
        }
        for (pos, hold) in model.locks.iter().enumerate() {
            let name = model.names[pos].as_str();
            assert_eq!(
                real.m.is_locked(name).unwrap(),
                *hold != Hold::Free,
                "{name}"
            );
        }
    }
    for held in guards.drain(..) {
        drop(held.guard);
        model.release(&held.took, held.key);
    }
    let every: Vec<&str> = model.names.iter().map(String::as_str).collect();
    drop(
        real.m
            .try_acquire(every)
            .expect("every lock is free at the end"),
    );
    for k in &real.keys {
        drop(
            real.m
                .acquire(["p0"])
                .key(k)
                .try_now()
                .expect("every key is empty at the end"),
        );
    }
    let values: Vec<u64> = real.values.into_iter().map(Protected::into_inner).collect();
    assert_eq!(values, model.values);
}
