//! `LockSet`: a set of locks as a bitset over their frozen positions.
//!
//! Positions are ranks (the frozen table is sorted by order), so walking the set from the lowest
//! bit upward *is* acquiring in order, walking it downward is releasing newest first, and asking
//! for a lock twice folds away. Plain data: no atomics, no wakers.

use alloc::boxed::Box;
use alloc::vec;

/// Managers of up to this many locks never allocate for a set.
pub(crate) const INLINE_LOCKS: usize = 128;
/// A word of a set: the target's native width, so a 32-bit MCU handles its sets with single
/// instructions, and its sets take 20 bytes instead of 24.
type Word = usize;
/// Positions per word.
const BITS: usize = Word::BITS as usize;
const INLINE_WORDS: usize = INLINE_LOCKS / BITS;

/// A set of lock positions. Inline for managers of up to [`INLINE_LOCKS`] locks.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum LockSet {
    Inline([Word; INLINE_WORDS]),
    Heap(Box<[Word]>),
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
            LockSet::Heap(vec![0; len.div_ceil(BITS)].into_boxed_slice())
        }
    }

    #[inline]
    fn words(&self) -> &[Word] {
        match self {
            LockSet::Inline(w) => w,
            LockSet::Heap(w) => w,
        }
    }

    #[inline]
    fn words_mut(&mut self) -> &mut [Word] {
        match self {
            LockSet::Inline(w) => w,
            LockSet::Heap(w) => w,
        }
    }

    /// Adds `pos`. Returns `false` when `pos` is beyond the set's capacity (nothing changes).
    #[inline]
    pub(crate) fn insert(&mut self, pos: usize) -> bool {
        if let LockSet::Inline(words) = self {
            if let Some(w) = words.get_mut(pos / BITS) {
                *w |= 1 << (pos % BITS);
                return true;
            }
            return false;
        }
        match self.words_mut().get_mut(pos / BITS) {
            Some(w) => {
                *w |= 1 << (pos % BITS);
                true
            }
            None => false,
        }
    }

    /// This (empty) set with the positions `positions` yields added, or the first error.
    ///
    /// An inline set's words are built in registers and stored once: a set written word by word
    /// in memory and then moved whole, as an acquire future moves its request, makes the move's
    /// wide load wait for the narrow stores to retire (a store-to-load forwarding stall).
    #[inline(always)]
    pub(crate) fn try_extend<E>(
        mut self,
        positions: impl IntoIterator<Item = Result<usize, E>>,
    ) -> Result<LockSet, E> {
        match &mut self {
            LockSet::Inline(words) => {
                let mut built = *words;
                for pos in positions {
                    let pos = pos?;
                    // Each word compared with a constant bound, so the words stay in
                    // registers; positions beyond the inline capacity match none.
                    if let [lo, hi] = &mut built[..] {
                        if pos < BITS {
                            *lo |= 1 << pos;
                        } else if pos < INLINE_LOCKS {
                            *hi |= 1 << (pos - BITS);
                        }
                    } else {
                        let mut low = 0;
                        for word in built.iter_mut() {
                            if pos < low + BITS {
                                *word |= 1 << (pos - low);
                                break;
                            }
                            low += BITS;
                        }
                    }
                }
                *words = built;
            }
            LockSet::Heap(_) => {
                for pos in positions {
                    self.insert(pos?);
                }
            }
        }
        Ok(self)
    }

    /// Whether `pos` is in the set (`false` beyond its capacity).
    #[inline]
    pub(crate) fn contains(&self, pos: usize) -> bool {
        self.words()
            .get(pos / BITS)
            .is_some_and(|w| w & (1 << (pos % BITS)) != 0)
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
        let mut i = from / BITS;
        let mut w = *words.get(i)? & (Word::MAX << (from % BITS));
        loop {
            if w != 0 {
                return Some(i * BITS + w.trailing_zeros() as usize);
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

    /// The lowest position both sets contain.
    pub(crate) fn first_common(&self, other: &LockSet) -> Option<usize> {
        self.words()
            .iter()
            .zip(other.words())
            .enumerate()
            .find_map(|(i, (a, b))| {
                let both = a & b;
                (both != 0).then(|| i * BITS + both.trailing_zeros() as usize)
            })
    }

    /// Removes every position that `other` contains.
    pub(crate) fn subtract(&mut self, other: &LockSet) {
        for (w, o) in self.words_mut().iter_mut().zip(other.words()) {
            *w &= !o;
        }
    }

    /// Adds every position that `other` contains (positions beyond capacity are ignored).
    ///
    /// A set too small for `other`'s positions grows first (sets of one manager may differ in
    /// capacity: an empty set can be the inline `EMPTY` while a manager of more than 128 locks
    /// uses heap words), so no position is ever dropped.
    pub(crate) fn union_with(&mut self, other: &LockSet) {
        let (mine, theirs) = (self.words().len(), other.words());
        if theirs.len() > mine && theirs[mine..].iter().any(|&w| w != 0) {
            let mut grown = vec![0; theirs.len()].into_boxed_slice();
            grown[..mine].copy_from_slice(self.words());
            *self = LockSet::Heap(grown);
        }
        for (w, o) in self.words_mut().iter_mut().zip(other.words()) {
            *w |= o;
        }
    }

    /// The positions in ascending order.
    #[inline]
    pub(crate) fn iter(&self) -> FwdIter<'_> {
        self.iter_from(0)
    }

    /// The positions at or after `from`, in ascending order: the acquisition order.
    ///
    /// Walks whole words, clearing one bit per step, like [`iter_rev_below`](Self::iter_rev_below).
    #[inline]
    pub(crate) fn iter_from(&self, from: usize) -> FwdIter<'_> {
        let words = self.words();
        let (word, bits) = match words.get(from / BITS) {
            Some(&w) => (from / BITS, w & (Word::MAX << (from % BITS))),
            None => (words.len(), 0),
        };
        FwdIter {
            words,
            cursor: Cursor { word, bits },
        }
    }

    /// The positions strictly below `before`, in descending order: the release order.
    ///
    /// Walks whole words, clearing one bit per step, so a release costs a few instructions per
    /// lock instead of a fresh search from the cursor.
    #[inline]
    pub(crate) fn iter_rev_below(&self, before: usize) -> RevIter<'_> {
        let words = self.words();
        let (word, bits) = match words.get(before / BITS) {
            Some(&w) => (before / BITS, w & !(Word::MAX << (before % BITS))),
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

impl IntoIterator for LockSet {
    type Item = usize;
    type IntoIter = IntoIter;

    /// The positions in ascending order, owning the set.
    fn into_iter(self) -> IntoIter {
        let bits = self.words().first().copied().unwrap_or(0);
        IntoIter {
            set: self,
            cursor: Cursor { word: 0, bits },
        }
    }
}

/// Where an ascending walk over a set's words is: the word `bits` came from, and what is left to
/// visit of it; words above it are visited whole. The one ascending walk, shared by the
/// borrowing and the owning iterator.
#[derive(Debug, Clone)]
struct Cursor {
    word: usize,
    bits: Word,
}

impl Cursor {
    #[inline]
    fn next(&mut self, words: &[Word]) -> Option<usize> {
        while self.bits == 0 {
            self.word += 1;
            self.bits = *words.get(self.word)?;
        }
        let bit = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.word * BITS + bit)
    }
}

/// Owning ascending iterator over a [`LockSet`].
#[derive(Debug, Clone)]
pub(crate) struct IntoIter {
    set: LockSet,
    cursor: Cursor,
}

impl Iterator for IntoIter {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        self.cursor.next(self.set.words())
    }
}

/// Ascending iterator over a [`LockSet`], from [`LockSet::iter_from`].
#[derive(Debug, Clone)]
pub(crate) struct FwdIter<'a> {
    words: &'a [Word],
    cursor: Cursor,
}

impl Iterator for FwdIter<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        self.cursor.next(self.words)
    }
}

/// Descending iterator over a [`LockSet`], from [`LockSet::iter_rev_below`].
#[derive(Debug, Clone)]
pub(crate) struct RevIter<'a> {
    words: &'a [Word],
    /// The index of the word `bits` came from.
    word: usize,
    /// What is left to visit of that word; words below it are visited whole.
    bits: Word,
}

impl Iterator for RevIter<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.word = self.word.checked_sub(1)?;
            self.bits = self.words[self.word];
        }
        let bit = BITS - 1 - self.bits.leading_zeros() as usize;
        self.bits &= !(1 << bit);
        Some(self.word * BITS + bit)
    }
}

// === Requests ===

/// How a lock is held: the mode of each lock in a request, in a guard, in a status entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Held by readers, up to 16,382 at once.
    Shared,
    /// Held by one holder alone.
    Exclusive,
}

/// What an acquisition asks for: every lock it wants, and which of them in shared mode.
///
/// Plain data: the rules that turn what a caller asked for (and what a parent guard holds) into
/// what a walk takes live here, checked without atomics or wakers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Request {
    /// Every lock to take.
    pub(crate) want: LockSet,
    /// The locks of `want` to take shared; the rest are exclusive.
    pub(crate) shared: LockSet,
}

/// Why a nested request is refused, by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A new lock (`requested`) ranks below the highest lock held (`held`).
    Order { requested: usize, held: usize },
    /// An exclusive request for a lock held shared.
    Upgrade { lock: usize },
}

impl Request {
    /// A request for `exclusive` and `shared` locks (a lock in both is taken exclusive), nested
    /// in a guard covering `covered`, of which `covered_shared` shared: covered locks are
    /// skipped, and the request is refused if it would take a new lock below the highest one
    /// covered, or ask for exclusive use of a lock held shared (upgrades deadlock: two readers
    /// upgrading wait for each other).
    #[inline]
    pub(crate) fn nested(
        exclusive: &LockSet,
        mut shared: LockSet,
        covered: &LockSet,
        covered_shared: &LockSet,
    ) -> Result<Request, Refusal> {
        if let Some(lock) = exclusive.first_common(covered_shared) {
            return Err(Refusal::Upgrade { lock });
        }
        shared.subtract(exclusive);
        let mut want = exclusive.clone();
        want.union_with(&shared);
        want.subtract(covered);
        shared.subtract(covered);
        match (want.first(), covered.last()) {
            (Some(requested), Some(held)) if requested < held => {
                Err(Refusal::Order { requested, held })
            }
            _ => Ok(Request { want, shared }),
        }
    }

    /// A top-level request: nothing is covered, nothing refused.
    #[cfg(test)]
    pub(crate) fn new(exclusive: LockSet, shared: LockSet) -> Request {
        let mut request = Request {
            want: exclusive,
            shared,
        };
        request.normalize();
        request
    }

    /// Turns "`want` exclusive, `shared` shared" into "take `want`, `shared` of them shared": a
    /// lock in both is exclusive.
    #[inline]
    pub(crate) fn normalize(&mut self) {
        if !self.shared.is_empty() {
            self.merge_shared();
        }
    }

    /// [`normalize`](Self::normalize) of a request with shared locks. Inlined with `std`;
    /// without it (firmware), out of line, so that each acquire call site carries a call.
    #[cfg_attr(feature = "std", inline)]
    #[cfg_attr(not(feature = "std"), inline(never))]
    fn merge_shared(&mut self) {
        self.shared.subtract(&self.want);
        self.want.union_with(&self.shared);
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
    fn try_extend_adds_every_position_or_stops_at_the_first_error() {
        for len in [128, 300] {
            let items = [0, 63, 64, 127, 5, 64];
            let ok: Result<LockSet, ()> = LockSet::with_len(len).try_extend(items.map(Ok));
            assert_eq!(ok, Ok(set(len, &items)), "len {len}");
            let err = LockSet::with_len(len).try_extend([Ok(1), Err("unknown"), Ok(2)]);
            assert_eq!(err, Err("unknown"));
        }
        let big = LockSet::with_len(300)
            .try_extend::<()>([Ok(299), Ok(128)])
            .unwrap();
        assert_eq!(big.iter().collect::<Vec<_>>(), [128, 299]);
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
        // Capacity is whole words: 256 positions on a 64-bit target, 224 on a 32-bit one.
        let capacity = 200usize.div_ceil(BITS) * BITS;
        let mut s = LockSet::with_len(200);
        assert!(s.insert(capacity - 1));
        assert!(!s.insert(capacity));
        assert!(!s.contains(capacity));
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
    fn first_common_finds_the_lowest_shared_position() {
        let a = set(200, &[3, 70, 150]);
        assert_eq!(a.first_common(&set(200, &[150, 70])), Some(70));
        assert_eq!(a.first_common(&set(200, &[4, 149])), None);
        assert_eq!(a.first_common(&LockSet::with_len(200)), None);
    }

    fn req(len: usize, want: &[usize], shared: &[usize]) -> Request {
        Request {
            want: set(len, want),
            shared: set(len, shared),
        }
    }

    #[test]
    fn a_lock_in_both_lists_is_taken_exclusive() {
        let r = Request::new(set(16, &[1, 2]), set(16, &[2, 3]));
        assert_eq!(r, req(16, &[1, 2, 3], &[3]));
        let r = Request::new(set(16, &[1]), LockSet::with_len(16));
        assert_eq!(r, req(16, &[1], &[]));
    }

    #[test]
    fn nested_requests_skip_covered_locks_in_either_mode() {
        // Covered: 2 exclusive, 4 shared.
        let (covered, covered_shared) = (set(16, &[2, 4]), set(16, &[4]));
        let nest = |x: &[usize], s: &[usize]| {
            Request::nested(&set(16, x), set(16, s), &covered, &covered_shared)
        };
        assert_eq!(nest(&[2, 5], &[4, 6]), Ok(req(16, &[5, 6], &[6])));
        // Shared over exclusive is covered.
        assert_eq!(nest(&[], &[2]), Ok(req(16, &[], &[])));
        // Exclusive over shared is an upgrade, refused before any order check.
        assert_eq!(nest(&[4, 1], &[]), Err(Refusal::Upgrade { lock: 4 }));
        // A new lock below the highest covered one, in either mode.
        assert_eq!(
            nest(&[], &[3, 9]),
            Err(Refusal::Order {
                requested: 3,
                held: 4
            })
        );
        assert_eq!(
            nest(&[1], &[]),
            Err(Refusal::Order {
                requested: 1,
                held: 4
            })
        );
    }

    #[test]
    fn a_union_with_a_larger_set_grows_and_keeps_every_position() {
        let mut small = LockSet::EMPTY;
        small.insert(3);
        small.union_with(&set(300, &[1, 200, 299]));
        assert_eq!(small.iter().collect::<Vec<_>>(), [1, 3, 200, 299]);
        // An empty larger set leaves a small one as it is (no allocation).
        let mut small = LockSet::EMPTY;
        small.union_with(&LockSet::with_len(300));
        assert!(matches!(small, LockSet::Inline(_)));
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
                assert_eq!(s.clone().into_iter().collect::<Vec<_>>(), model);
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

    /// Every operation at the edges of 32- and 64-bit words, against a sorted model, between
    /// sets of every size (inline and heap, of equal and of different capacities): whatever
    /// the target's word, the same positions.
    #[test]
    fn word_edges_match_a_model_in_every_operation() {
        let edges = [
            0usize, 1, 30, 31, 32, 33, 63, 64, 65, 95, 96, 127, 128, 129, 159, 160,
        ];
        let lens = [31usize, 32, 33, 63, 64, 65, 127, 128, 129, 160, 161];
        let model = |len: usize, mask: u32| -> Vec<usize> {
            edges
                .iter()
                .enumerate()
                .filter(|&(i, &p)| mask & (1 << i) != 0 && p < len)
                .map(|(_, &p)| p)
                .collect()
        };
        let items = |s: &LockSet| s.iter().collect::<Vec<_>>();
        // Under Miri (the 32-bit check), fewer patterns: every edge is still in one.
        let masks: &[u32] = if cfg!(miri) {
            &[0xffff, 0x5555, 0xaaaa, 0x8001]
        } else {
            &[
                0, 0xffff, 0x5555, 0xaaaa, 0x0f0f, 0xf0f0, 0x8001, 0x0180, 0x1248,
            ]
        };
        for &la in &lens {
            for &ma in masks {
                let a_model = model(la, ma);
                let built: LockSet = LockSet::with_len(la)
                    .try_extend::<()>(a_model.iter().map(|&p| Ok(p)))
                    .unwrap();
                let a = set(la, &a_model);
                assert_eq!(built, a, "try_extend, len {la} mask {ma:#x}");
                assert_eq!(items(&a), a_model, "len {la} mask {ma:#x}");
                for &p in &edges {
                    assert_eq!(a.contains(p), a_model.contains(&p), "len {la}: {p}");
                    let next = a_model.iter().copied().find(|&q| q >= p);
                    assert_eq!(a.next_from(p), next, "len {la}: next from {p}");
                    let prev = a_model.iter().rev().copied().find(|&q| q < p);
                    assert_eq!(a.iter_rev_below(p).next(), prev, "len {la}: below {p}");
                }
                for &lb in &lens {
                    for &mb in masks {
                        let b_model = model(lb, mb);
                        let b = set(lb, &b_model);
                        let common = a_model.iter().copied().find(|p| b_model.contains(p));
                        assert_eq!(a.first_common(&b), common, "{la}/{ma:#x} & {lb}/{mb:#x}");
                        let mut union = a.clone();
                        union.union_with(&b);
                        let mut u_model = a_model.clone();
                        u_model.extend(&b_model);
                        u_model.sort_unstable();
                        u_model.dedup();
                        assert_eq!(items(&union), u_model, "{la}/{ma:#x} | {lb}/{mb:#x}");
                        let mut diff = a.clone();
                        diff.subtract(&b);
                        let d_model: Vec<usize> = a_model
                            .iter()
                            .copied()
                            .filter(|p| !b_model.contains(p))
                            .collect();
                        assert_eq!(items(&diff), d_model, "{la}/{ma:#x} - {lb}/{mb:#x}");
                    }
                }
            }
        }
    }
}
