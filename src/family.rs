//! Lock families: per-entity locks inside the frozen table.
//!
//! A family is `stripes` ordinary locks at consecutive orders, named `name#0`, `name#1`, ….
//! An entity id (an account number, a row id) maps to one of them by a fixed function of
//! `(stripes, id)`, so entities created at run time get a lock without registering anything.
//! Plain data: the arithmetic and the checks, tested without a manager.

use alloc::format;
use alloc::string::String;

use crate::error::Error;

/// A family as the frozen index keeps it: where its members start and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Family {
    /// The position of `name#0`. Members sit at consecutive positions: their orders are
    /// consecutive, and no other lock can have an order between them.
    pub(crate) first_pos: u32,
    /// How many members the family has (at least one).
    pub(crate) stripes: u32,
}

impl Family {
    /// The position of the member that holds entity `id`.
    #[inline]
    pub(crate) fn position(&self, id: u64) -> usize {
        self.first_pos as usize + stripe(self.stripes, id) as usize
    }
}

/// The stripe (member index, `0..stripes`) of entity `id`: `id % stripes`.
///
/// Fixed and documented, so every process and every build maps an id to the same member (a
/// lock service keyed by order, such as `lockorder-postgres`, relies on it): no hasher, no seed.
/// Sequential ids land on consecutive stripes, so `stripes` sequential ids never share a lock.
/// `stripes` is never zero (refused at registration); zero yields stripe 0 rather than a panic.
#[inline]
pub(crate) fn stripe(stripes: u32, id: u64) -> u32 {
    match u64::from(stripes) {
        0 => 0,
        // The remainder is below `stripes`, a u32.
        n => (id % n) as u32,
    }
}

/// The name of member `stripe` of family `name`.
pub(crate) fn member_name(name: &str, stripe: u32) -> String {
    format!("{name}#{stripe}")
}

/// The most members a family may have: each is a lock of the table, with its slot and its bit
/// in every lock set of the manager.
pub(crate) const MAX_STRIPES: u32 = 1 << 16;

/// Checks a family's shape before anything is registered: a name, between one and
/// [`MAX_STRIPES`] stripes, and orders that fit in a `u32`. Returns the last member's order.
pub(crate) fn check(name: &str, first_order: u32, stripes: u32) -> Result<u32, Error> {
    if name.is_empty() {
        return Err(Error::EmptyName { order: first_order });
    }
    match stripes
        .checked_sub(1)
        .filter(|_| stripes <= MAX_STRIPES)
        .and_then(|last| first_order.checked_add(last))
    {
        Some(last) => Ok(last),
        None => Err(Error::InvalidFamily {
            name: name.into(),
            first_order,
            stripes,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn sequential_ids_take_every_stripe_once() {
        let stripes: Vec<u32> = (0..64).map(|id| stripe(64, id)).collect();
        assert_eq!(stripes, (0..64).collect::<Vec<_>>());
        assert_eq!(stripe(64, 64), 0);
        assert_eq!(stripe(64, 17), 17);
        assert_eq!(stripe(10, 1_000_003), 3);
    }

    #[test]
    fn ids_on_one_stripe_fold_into_one_member() {
        let f = Family {
            first_pos: 5,
            stripes: 8,
        };
        assert_eq!(f.position(3), f.position(11));
        assert_ne!(f.position(3), f.position(4));
        assert_eq!(f.position(0), 5);
        assert_eq!(f.position(7), 12);
    }

    #[test]
    fn extreme_ids_and_stripe_counts_stay_in_range() {
        assert_eq!(stripe(1, u64::MAX), 0);
        assert_eq!(
            stripe(u32::MAX, u64::MAX),
            (u64::MAX % u64::from(u32::MAX)) as u32
        );
        assert!(stripe(u32::MAX, u64::MAX) < u32::MAX);
        assert_eq!(stripe(7, u64::MAX), (u64::MAX % 7) as u32);
        assert_eq!(stripe(0, 5), 0);
        let f = Family {
            first_pos: 0,
            stripes: 3,
        };
        assert!(f.position(u64::MAX) < 3);
    }

    #[test]
    fn shapes_are_checked() {
        assert_eq!(check("a", 100, 64), Ok(163));
        assert_eq!(check("a", u32::MAX, 1), Ok(u32::MAX));
        assert_eq!(check("a", 0, MAX_STRIPES), Ok(MAX_STRIPES - 1));
        let huge = check("a", 0, u32::MAX).unwrap_err();
        assert!(matches!(
            huge,
            Error::InvalidFamily {
                stripes: u32::MAX,
                ..
            }
        ));
        let overflow = check("a", u32::MAX - 2, 4).unwrap_err();
        assert!(matches!(overflow, Error::InvalidFamily { stripes: 4, .. }));
        let empty = check("a", 1, 0).unwrap_err();
        assert!(matches!(empty, Error::InvalidFamily { stripes: 0, .. }));
        assert_eq!(check("", 1, 2), Err(Error::EmptyName { order: 1 }));
    }

    #[test]
    fn members_are_named_after_their_stripe() {
        assert_eq!(member_name("account", 17), "account#17");
    }
}
