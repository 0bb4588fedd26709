//! `LockSet`: a set of locks as a bitset over their frozen positions.
//!
//! Positions are ranks (the frozen table is sorted by order), so walking the set from the lowest
//! bit upward *is* acquiring in order, walking it downward is releasing newest first, and asking
//! for a lock twice folds away. Plain data: no atomics, no wakers.

use alloc::boxed::Box;
use alloc::vec;

/// Managers of up to this many locks never allocate for a set.
pub(crate) const INLINE_LOCKS: usize = 128;
const INLINE_WORDS: usize = INLINE_LOCKS / 64;

/// A set of lock positions. Inline for managers of up to [`INLINE_LOCKS`] locks.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum LockSet {
    Inline([u64; INLINE_WORDS]),
    Heap(Box<[u64]>),
}

impl LockSet {
    /// The empty set; never allocates.
    pub(crate) const EMPTY: LockSet = LockSet::Inline([0; INLINE_WORDS]);

    /// An empty set able to hold positions `0..len`.
    #[inline]
    pub(crate) fn with_len(len: usize) -> Self {
        if len <= INLINE_LOCKS {
            Self::EMPTY
        } else {
            LockSet::Heap(vec![0; len.div_ceil(64)].into_boxed_slice())
        }
    }

    #[inline]
    fn words(&self) -> &[u64] {
        match self {
            LockSet::Inline(w) => w,
            LockSet::Heap(w) => w,
        }
    }

    #[inline]
    fn words_mut(&mut self) -> &mut [u64] {
        match self {
            LockSet::Inline(w) => w,
            LockSet::Heap(w) => w,
        }
    }

    /// Adds `pos`. Returns `false` when `pos` is beyond the set's capacity (nothing changes).
    #[inline]
    pub(crate) fn insert(&mut self, pos: usize) -> bool {
        if let LockSet::Inline(words) = self {
            if let Some(w) = words.get_mut(pos / 64) {
                *w |= 1 << (pos % 64);
                return true;
            }
            return false;
        }
        match self.words_mut().get_mut(pos / 64) {
            Some(w) => {
                *w |= 1 << (pos % 64);
                true
            }
            None => false,
        }
    }

    /// Whether `pos` is in the set (`false` beyond its capacity).
    #[inline]
    pub(crate) fn contains(&self, pos: usize) -> bool {
        self.words()
            .get(pos / 64)
            .is_some_and(|w| w & (1 << (pos % 64)) != 0)
    }

    /// Whether the set is empty.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.words().iter().all(|&w| w == 0)
    }

    /// How many positions are in the set.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.words().iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The lowest position at or after `from`.
    #[inline]
    pub(crate) fn next_from(&self, from: usize) -> Option<usize> {
        let words = self.words();
        let mut i = from / 64;
        let mut w = *words.get(i)? & (u64::MAX << (from % 64));
        loop {
            if w != 0 {
                return Some(i * 64 + w.trailing_zeros() as usize);
            }
            i += 1;
            w = *words.get(i)?;
        }
    }

    /// The lowest position in the set.
    pub(crate) fn first(&self) -> Option<usize> {
        self.next_from(0)
    }

    /// The highest position in the set.
    pub(crate) fn last(&self) -> Option<usize> {
        self.iter_rev_below(usize::MAX).next()
    }

    /// Removes every position that `other` contains.
    pub(crate) fn subtract(&mut self, other: &LockSet) {
        for (w, o) in self.words_mut().iter_mut().zip(other.words()) {
            *w &= !o;
        }
    }

    /// Adds every position that `other` contains (positions beyond capacity are ignored).
    pub(crate) fn union_with(&mut self, other: &LockSet) {
        for (w, o) in self.words_mut().iter_mut().zip(other.words()) {
            *w |= o;
        }
    }

    /// The positions in ascending order.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter { set: self, next: 0 }
    }

    /// The positions at or after `from`, in ascending order: the acquisition order.
    ///
    /// Walks whole words, clearing one bit per step, like [`iter_rev_below`](Self::iter_rev_below).
    #[inline]
    pub(crate) fn iter_from(&self, from: usize) -> FwdIter<'_> {
        let words = self.words();
        let (word, bits) = match words.get(from / 64) {
            Some(&w) => (from / 64, w & (u64::MAX << (from % 64))),
            None => (words.len(), 0),
        };
        FwdIter { words, word, bits }
    }

    /// The positions strictly below `before`, in descending order: the release order.
    ///
    /// Walks whole words, clearing one bit per step, so a release costs a few instructions per
    /// lock instead of a fresh search from the cursor.
    #[inline]
    pub(crate) fn iter_rev_below(&self, before: usize) -> RevIter<'_> {
        let words = self.words();
        let (word, bits) = match words.get(before / 64) {
            Some(&w) => (before / 64, w & !(u64::MAX << (before % 64))),
            None => (words.len(), 0),
        };
        RevIter { words, word, bits }
    }
}

impl core::fmt::Debug for LockSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Ascending iterator over a [`LockSet`].
#[derive(Debug, Clone)]
pub(crate) struct Iter<'a> {
    set: &'a LockSet,
    next: usize,
}

impl Iterator for Iter<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let pos = self.set.next_from(self.next)?;
        self.next = pos + 1;
        Some(pos)
    }
}

/// Ascending iterator over a [`LockSet`], from [`LockSet::iter_from`].
#[derive(Debug, Clone)]
pub(crate) struct FwdIter<'a> {
    words: &'a [u64],
    /// The index of the word `bits` came from.
    word: usize,
    /// What is left to visit of that word; words above it are visited whole.
    bits: u64,
}

impl Iterator for FwdIter<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.word += 1;
            self.bits = *self.words.get(self.word)?;
        }
        let bit = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.word * 64 + bit)
    }
}

/// Descending iterator over a [`LockSet`], from [`LockSet::iter_rev_below`].
#[derive(Debug, Clone)]
pub(crate) struct RevIter<'a> {
    words: &'a [u64],
    /// The index of the word `bits` came from.
    word: usize,
    /// What is left to visit of that word; words below it are visited whole.
    bits: u64,
}

impl Iterator for RevIter<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.word = self.word.checked_sub(1)?;
            self.bits = self.words[self.word];
        }
        let bit = 63 - self.bits.leading_zeros() as usize;
        self.bits &= !(1 << bit);
        Some(self.word * 64 + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn set(len: usize, items: &[usize]) -> LockSet {
        let mut s = LockSet::with_len(len);
        for &i in items {
            assert!(s.insert(i));
        }
        s
    }

    #[test]
    fn small_sets_are_inline_large_ones_heap() {
        assert!(matches!(LockSet::with_len(0), LockSet::Inline(_)));
        assert!(matches!(LockSet::with_len(128), LockSet::Inline(_)));
        assert!(matches!(LockSet::with_len(129), LockSet::Heap(_)));
    }

    #[test]
    fn duplicates_fold_and_iteration_ascends() {
        let s = set(16, &[9, 3, 9, 0, 15, 3]);
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 3, 9, 15]);
        assert_eq!(s.len(), 4);
        assert_eq!(s.first(), Some(0));
        assert_eq!(s.last(), Some(15));
    }

    #[test]
    fn insert_beyond_capacity_is_refused() {
        let mut s = LockSet::with_len(200);
        assert!(s.insert(255));
        assert!(!s.insert(256));
        assert!(!s.contains(256));
        let mut small = LockSet::EMPTY;
        assert!(!small.insert(128));
        assert!(small.is_empty());
    }

    #[test]
    fn next_and_prev_cross_word_boundaries() {
        for len in [128, 300] {
            let s = set(len, &[0, 63, 64, 127]);
            assert_eq!(s.next_from(1), Some(63));
            assert_eq!(s.next_from(64), Some(64));
            assert_eq!(s.next_from(65), Some(127));
            assert_eq!(s.next_from(128), None);
            assert_eq!(s.next_from(10_000), None);
            let below = |before| s.iter_rev_below(before).next();
            assert_eq!(below(128), Some(127));
            assert_eq!(below(127), Some(64));
            assert_eq!(below(64), Some(63));
            assert_eq!(below(63), Some(0));
            assert_eq!(below(0), None);
            assert_eq!(below(10_000), Some(127));
        }
    }

    #[test]
    fn empty_set_has_no_ends() {
        let s = LockSet::with_len(300);
        assert!(s.is_empty());
        assert_eq!(s.first(), None);
        assert_eq!(s.last(), None);
        assert_eq!(s.iter_rev_below(300).next(), None);
    }

    #[test]
    fn subtract_and_union() {
        let mut a = set(100, &[1, 2, 70, 99]);
        let b = set(100, &[2, 99, 5]);
        a.subtract(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), [1, 70]);
        a.union_with(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), [1, 2, 5, 70, 99]);
    }

    #[test]
    fn matches_a_sorted_model_on_many_sets() {
        // A small deterministic generator: every subset pattern of a few positions per word.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in [1usize, 64, 65, 128, 129, 300] {
            for _ in 0..200 {
                let mut model = Vec::new();
                let mut s = LockSet::with_len(len);
                for _ in 0..(seed % 9) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let p = (seed % len as u64) as usize;
                    s.insert(p);
                    model.push(p);
                }
                model.sort_unstable();
                model.dedup();
                assert_eq!(s.iter().collect::<Vec<_>>(), model);
                assert_eq!(s.last(), model.last().copied());
                let mut down: Vec<usize> = s.iter_rev_below(len).collect();
                down.reverse();
                assert_eq!(down, model);
                for before in [0, 1, 63, 64, 65, len / 2, len, len + 64, usize::MAX] {
                    let below: Vec<usize> = model
                        .iter()
                        .rev()
                        .copied()
                        .filter(|&p| p < before)
                        .collect();
                    assert_eq!(
                        s.iter_rev_below(before).collect::<Vec<_>>(),
                        below,
                        "before {before}"
                    );
                    let from = before;
                    let above: Vec<usize> = model.iter().copied().filter(|&p| p >= from).collect();
                    assert_eq!(s.iter_from(from).collect::<Vec<_>>(), above, "from {from}");
                }
            }
        }
    }
}
