//! Target `registration`: differential fuzzing of registration. arbitrary names (empty, repeated, any UTF-8) and orders
//! (repeated, 0, `u32::MAX`) go to a `Builder` and to a plain model.
//!
//! Checked: nothing panics; `register` fails exactly when the model says, with exactly the
//! model's error (`EmptyName`, then `DuplicateName`, then `DuplicateOrder` naming the earlier
//! lock); a failed registration changes nothing; switching the builder to a timer keeps what was
//! registered; the built manager lists exactly the accepted locks in ascending order, and `id`,
//! `info`, `LockInfo::id` and `is_locked` agree with that list; an unknown name or an id of another
//! manager is `UnknownLock`, never another lock; every accepted lock can be taken.

use std::collections::{BTreeMap, HashMap};

use lockorder::{Builder, Error, LockManager, ManualTimer, MaybeTimer};

use crate::bytes::{arbitrary_via_decode, Bytes};

// === Input ===
//
// A small byte format, so that seeds can be written by hand. Missing bytes read as zero.
//
//   header: SWITCH  the builder gets a timer after SWITCH >> 1 registrations if bit 0 is set
//   then registrations: NAME ORDER FLAGS
//     NAME  < 0xf0: a name from a small pool (NAMES), by index modulo its size;
//           else LEN (% 16) then LEN bytes, read as lossy UTF-8
//     ORDER < 0xf0: ORDER % 16;  0xf0..=0xf7: u32::MAX - (ORDER - 0xf0);  else 4 bytes, little endian
//     FLAGS bit 0: `register_with` a description, else `register`

const NAMES: [&str; 8] = ["", "a", "b", "db", "cache", "a.b", "\u{e4}", " "];

#[derive(Debug)]
pub(crate) struct Registration {
    name: String,
    order: u32,
    description: Option<String>,
}

/// A decoded input: registrations, and when the builder gets a timer.
#[derive(Debug)]
pub struct Input {
    switch_at: Option<usize>,
    registrations: Vec<Registration>,
}

arbitrary_via_decode!(Input);

impl Input {
    /// Decodes any bytes.
    pub fn decode(bytes: &[u8]) -> Self {
        let mut b = Bytes(bytes);
        let switch = b.byte();
        let switch_at = (switch & 1 != 0).then_some(usize::from(switch >> 1));
        let mut registrations = Vec::new();
        while !b.is_empty() {
            let name = match b.byte() {
                n @ 0..0xf0 => NAMES[usize::from(n) % NAMES.len()].to_string(),
                _ => {
                    let len = b.byte() % 16;
                    let bytes: Vec<u8> = (0..len).map(|_| b.byte()).collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                }
            };
            let order = match b.byte() {
                o @ 0..0xf0 => u32::from(o % 16),
                o @ 0xf0..=0xf7 => u32::MAX - u32::from(o - 0xf0),
                _ => u32::from_le_bytes([b.byte(), b.byte(), b.byte(), b.byte()]),
            };
            let i = registrations.len();
            let description = (b.byte() & 1 != 0).then(|| format!("description {i}"));
            registrations.push(Registration {
                name,
                order,
                description,
            });
        }
        Input {
            switch_at,
            registrations,
        }
    }
}

// === The model ===

#[derive(Default)]
struct Model {
    /// name -> (order, description)
    by_name: HashMap<String, (u32, String)>,
    /// order -> name
    by_order: BTreeMap<u32, String>,
}

impl Model {
    fn register(&mut self, r: &Registration) -> Result<(), Error> {
        if r.name.is_empty() {
            return Err(Error::EmptyName { order: r.order });
        }
        if self.by_name.contains_key(&r.name) {
            return Err(Error::DuplicateName {
                name: r.name.clone(),
            });
        }
        if let Some(existing) = self.by_order.get(&r.order) {
            return Err(Error::DuplicateOrder {
                order: r.order,
                name: r.name.clone(),
                existing: existing.clone(),
            });
        }
        let description = r.description.clone().unwrap_or_default();
        self.by_name.insert(r.name.clone(), (r.order, description));
        self.by_order.insert(r.order, r.name.clone());
        Ok(())
    }
}

fn register_all<T>(b: &mut Builder<T>, model: &mut Model, registrations: &[Registration]) {
    for r in registrations {
        let expected = model.register(r);
        let actual = match &r.description {
            Some(d) => b.register_with(&r.name, r.order, d).map(|_| ()),
            None => b.register(&r.name, r.order).map(|_| ()),
        };
        assert_eq!(actual, expected, "register({:?}, {})", r.name, r.order);
        if let Err(e) = &actual {
            let text = e.to_string();
            let named = match e {
                Error::EmptyName { order } => text.contains(&order.to_string()),
                Error::DuplicateName { name } => text.contains(name.as_str()),
                Error::DuplicateOrder { name, existing, .. } => {
                    text.contains(name.as_str()) && text.contains(existing.as_str())
                }
                _ => false,
            };
            assert!(named, "the message does not name the lock: {text}");
        }
        assert_eq!(b.len(), model.by_name.len(), "builder length");
        assert_eq!(b.is_empty(), model.by_name.is_empty());
        assert_eq!(b.contains(&r.name), model.by_name.contains_key(&r.name));
    }
}

fn check_manager<T: MaybeTimer>(m: &LockManager<T>, model: &Model, input: &Input) {
    let _ = format!("{m:?}");
    assert_eq!(m.len(), model.by_order.len());
    assert_eq!(m.is_empty(), model.by_order.is_empty());

    // Exactly the accepted locks, ascending.
    let listed: Vec<(&str, u32, &str)> = m
        .locks()
        .map(|l| (l.name(), l.order(), l.description()))
        .collect();
    let expected: Vec<(&str, u32, &str)> = model
        .by_order
        .iter()
        .map(|(&order, name)| (name.as_str(), order, model.by_name[name].1.as_str()))
        .collect();
    assert_eq!(listed, expected, "locks()");
    let backwards: Vec<&str> = m.locks().rev().map(|l| l.name()).collect();
    assert!(backwards.iter().rev().eq(listed.iter().map(|l| &l.0)));

    // id, info and LockInfo::id agree.
    let mut ids = Vec::new();
    for info in m.locks() {
        let id = m.id(info.name()).expect("a listed lock has an id");
        assert_eq!(info.id(), id);
        let again = m.info(id).expect("an id of this manager has info");
        assert!(std::ptr::eq(again, info), "info(id) is another lock");
        assert_eq!(m.is_locked(id), Ok(false));
        assert!(!ids.contains(&id), "two locks share an id");
        ids.push(id);
    }

    // Unknown names: rejected ones and some never given.
    for r in &input.registrations {
        if !model.by_name.contains_key(&r.name) {
            assert_eq!(
                m.id(&r.name),
                Err(Error::UnknownLock {
                    name: r.name.clone()
                })
            );
        }
    }
    assert!(matches!(m.id(""), Err(Error::UnknownLock { .. })));

    // Every accepted lock can be taken, all at once, in ascending order.
    let names: Vec<&str> = listed.iter().rev().map(|l| l.0).collect();
    let guard = m.try_acquire(&names).expect("nothing else holds a lock");
    assert!(guard
        .locks()
        .map(|l| l.name())
        .eq(listed.iter().map(|l| l.0)));
    assert!(ids.iter().all(|&id| m.is_locked(id) == Ok(true)));
    drop(guard);
    assert!(ids.iter().all(|&id| m.is_locked(id) == Ok(false)));
}

/// An id of `m` is unknown to another manager, even one with the same locks.
fn check_twin<T: MaybeTimer>(m: &LockManager<T>) {
    let mut twin = LockManager::builder();
    for info in m.locks() {
        twin.register(info.name(), info.order()).unwrap();
    }
    let twin = twin.build();
    for info in m.locks() {
        assert!(twin.info(info.id()).is_none(), "an id of another manager");
        assert!(matches!(
            twin.is_locked(info.id()),
            Err(Error::UnknownLock { .. })
        ));
    }
}

/// Runs one input: registers on a builder and on the model, builds, and checks the manager.
pub fn run(input: Input) {
    let mut model = Model::default();
    let mut b = LockManager::builder();
    let split = input.switch_at.map_or(input.registrations.len(), |at| {
        at.min(input.registrations.len())
    });
    let (first, second) = input.registrations.split_at(split);
    register_all(&mut b, &mut model, first);
    if input.switch_at.is_some() {
        let mut b = b.timer(ManualTimer::new());
        register_all(&mut b, &mut model, second);
        let _ = format!("{b:?}");
        let m = b.build();
        check_manager(&m, &model, &input);
        check_twin(&m);
    } else {
        let _ = format!("{b:?}");
        let m = b.build();
        check_manager(&m, &model, &input);
        check_twin(&m);
    }
}
