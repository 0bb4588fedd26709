//! The record of each lock's current holding, and how status readers read it.
//!
//! Each slot carries a small record of its current holding (owner label or holder id, and the
//! timer's `now()` at acquisition) published by the holder right after it takes the lock, with
//! plain stores. Readers never take a lock: they read the record between two loads of the raw
//! lock's state word, whose generation names the holding, and keep it only if both loads show the
//! same holding and the record carries that generation (a sequence lock whose sequence is the
//! lock word itself). An acquirer never waits for a reader.

use core::fmt;
use core::time::Duration;

use crate::raw::{Holding, RawLock};
use crate::sync::{backoff, fence, AtomicU32, AtomicUsize, Ordering};

pub(crate) const LABEL_CAPACITY: usize = 32;
const WORD: usize = core::mem::size_of::<usize>();
const LABEL_WORDS: usize = LABEL_CAPACITY / WORD;
const NO_LABEL: u32 = u32::MAX;
const NO_TIME: u32 = u32::MAX;
/// How often a reader retries a record that changes under it before reporting the lock as held by
/// an unknown owner. Under loom a few tries explore the same races; each one multiplies the
/// interleavings to explore.
const READ_TRIES: usize = if cfg!(loom) { 2 } else { 64 };

// === Owner ===

/// An owner label as status reports keep it: up to [`Label::CAPACITY`] (32) bytes, inline (reading
/// status allocates nothing per lock for it). Longer labels are cut at a character boundary.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label {
    len: u8,
    bytes: [u8; LABEL_CAPACITY],
}

impl Label {
    /// How many bytes of a label are kept.
    pub const CAPACITY: usize = LABEL_CAPACITY;

    pub(crate) fn new(label: &str) -> Self {
        let mut len = label.len().min(LABEL_CAPACITY);
        while !label.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0; LABEL_CAPACITY];
        bytes[..len].copy_from_slice(&label.as_bytes()[..len]);
        // `len` is at most LABEL_CAPACITY (32), so it fits in a u8.
        Self {
            len: len as u8,
            bytes,
        }
    }

    /// The label text.
    pub fn as_str(&self) -> &str {
        // The bytes were copied from a `str` and cut at a character boundary; a record torn by a
        // concurrent writer is discarded before a `Label` is built from it.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    fn words(&self) -> [usize; LABEL_WORDS] {
        let mut words = [0; LABEL_WORDS];
        for (w, chunk) in words.iter_mut().zip(self.bytes.chunks_exact(WORD)) {
            let mut b = [0; WORD];
            b.copy_from_slice(chunk);
            *w = usize::from_ne_bytes(b);
        }
        words
    }

    fn from_words(len: u32, words: &[usize; LABEL_WORDS]) -> Option<Self> {
        let len = usize::try_from(len).ok().filter(|&l| l <= LABEL_CAPACITY)?;
        let mut bytes = [0; LABEL_CAPACITY];
        for (chunk, w) in bytes.chunks_exact_mut(WORD).zip(words) {
            chunk.copy_from_slice(&w.to_ne_bytes());
        }
        core::str::from_utf8(&bytes[..len]).ok()?;
        Some(Self {
            len: len as u8,
            bytes,
        })
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Identifies an acquisition that was given no owner label: the first lock it took and that
/// lock's holding generation. Unique among the holdings alive at one time; shared by every lock
/// of one acquisition and by the guards nested in it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HolderId {
    first: u32,
    generation: u32,
}

impl HolderId {
    pub(crate) fn new(first: usize, generation: u32) -> Self {
        // Positions fit in u32 (see `registry::freeze`).
        Self {
            first: first as u32,
            generation,
        }
    }

    /// The id as one number.
    pub fn as_u64(&self) -> u64 {
        (u64::from(self.first) << 32) | u64::from(self.generation)
    }
}

impl fmt::Debug for HolderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for HolderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&alloc::format!("holder-{}.{}", self.first, self.generation))
    }
}

/// Who holds a lock: the label given with
/// [`Acquire::owner`](crate::futures::Acquire::owner), or an automatic holder id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The label given at acquisition (or inherited from the parent guard).
    Label(Label),
    /// No label was given: an id naming the acquisition.
    Holder(HolderId),
}

impl Owner {
    /// The label, if one was given.
    pub fn label(&self) -> Option<&str> {
        match self {
            Owner::Label(l) => Some(l.as_str()),
            Owner::Holder(_) => None,
        }
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Label(l) => fmt::Debug::fmt(l, f),
            Owner::Holder(h) => fmt::Display::fmt(h, f),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Label(l) => fmt::Display::fmt(l, f),
            Owner::Holder(h) => fmt::Display::fmt(h, f),
        }
    }
}

impl PartialEq<str> for Owner {
    fn eq(&self, other: &str) -> bool {
        self.label() == Some(other)
    }
}

impl PartialEq<&str> for Owner {
    fn eq(&self, other: &&str) -> bool {
        self.label() == Some(*other)
    }
}

// === The per-slot record ===

/// What an acquisition publishes for each lock it takes.
#[derive(Clone, Copy)]
pub(crate) struct Publish {
    pub(crate) label: Option<Label>,
    pub(crate) at: Option<Duration>,
}

/// The record of a slot's current holding. Written only by the holder of the slot's lock.
pub(crate) struct Record {
    /// The generation of the holding whose record is complete; written last.
    tag: AtomicU32,
    holder_first: AtomicU32,
    holder_generation: AtomicU32,
    label_len: AtomicU32,
    label: [AtomicUsize; LABEL_WORDS],
    secs_hi: AtomicU32,
    secs_lo: AtomicU32,
    nanos: AtomicU32,
}

impl Record {
    pub(crate) fn new() -> Self {
        Self {
            tag: AtomicU32::new(u32::MAX),
            holder_first: AtomicU32::new(0),
            holder_generation: AtomicU32::new(0),
            label_len: AtomicU32::new(NO_LABEL),
            label: core::array::from_fn(|_| AtomicUsize::new(0)),
            secs_hi: AtomicU32::new(0),
            secs_lo: AtomicU32::new(0),
            nanos: AtomicU32::new(NO_TIME),
        }
    }

    /// Publishes the holding `generation`, which the caller has just taken.
    #[inline]
    pub(crate) fn publish(&self, generation: u32, holder: HolderId, p: &Publish) {
        // Orders the lock's compare-and-swap (which bumped the generation) before the stores
        // below: a reader that sees any of them will see the new generation in its second load.
        fence(Ordering::Release);
        self.holder_first.store(holder.first, Ordering::Relaxed);
        self.holder_generation
            .store(holder.generation, Ordering::Relaxed);
        match &p.label {
            Some(label) => {
                for (slot, w) in self.label.iter().zip(label.words()) {
                    slot.store(w, Ordering::Relaxed);
                }
                self.label_len
                    .store(u32::from(label.len), Ordering::Relaxed);
            }
            None => self.label_len.store(NO_LABEL, Ordering::Relaxed),
        }
        match p.at {
            Some(at) => {
                let secs = at.as_secs();
                self.secs_hi.store((secs >> 32) as u32, Ordering::Relaxed);
                self.secs_lo.store(secs as u32, Ordering::Relaxed);
                self.nanos.store(at.subsec_nanos(), Ordering::Relaxed);
            }
            None => self.nanos.store(NO_TIME, Ordering::Relaxed),
        }
        self.tag.store(generation, Ordering::Release);
    }

    /// The timestamp the current holder published (for the holder itself).
    pub(crate) fn acquired_at(&self) -> Option<Duration> {
        self.read_at()
    }

    fn read_at(&self) -> Option<Duration> {
        let nanos = self.nanos.load(Ordering::Relaxed);
        (nanos != NO_TIME).then(|| {
            let secs = (u64::from(self.secs_hi.load(Ordering::Relaxed)) << 32)
                | u64::from(self.secs_lo.load(Ordering::Relaxed));
            Duration::new(secs, nanos)
        })
    }
}

/// A consistent reading of one slot.
#[derive(Clone, Copy)]
pub(crate) struct Reading {
    /// The holding read (`None`: free).
    pub(crate) holding: Option<Holding>,
    pub(crate) owner: Option<Owner>,
    pub(crate) acquired_at: Option<Duration>,
}

impl Reading {
    pub(crate) fn generation(&self) -> Option<u32> {
        self.holding.map(|h| h.generation)
    }
}

/// Reads a slot without blocking its holder or any acquirer.
///
/// The record belongs to the holding whose generation it carries: the exclusive holder, or the
/// reader that made a lock shared-held (readers joining it change the count, not the
/// generation). The reading is kept if the lock word shows the same holding, in the same mode,
/// before and after the record was read.
pub(crate) fn read(raw: &RawLock, r: &Record) -> Reading {
    for _ in 0..READ_TRIES {
        let Some(holding) = raw.holding(Ordering::Acquire) else {
            return Reading {
                holding: None,
                owner: None,
                acquired_at: None,
            };
        };
        if r.tag.load(Ordering::Acquire) != holding.generation {
            // Taken, but the holder has not finished publishing yet.
            backoff();
            continue;
        }
        let label_len = r.label_len.load(Ordering::Relaxed);
        let words: [usize; LABEL_WORDS] =
            core::array::from_fn(|i| r.label[i].load(Ordering::Relaxed));
        let holder = HolderId {
            first: r.holder_first.load(Ordering::Relaxed),
            generation: r.holder_generation.load(Ordering::Relaxed),
        };
        let acquired_at = r.read_at();
        fence(Ordering::Acquire);
        let Some(after) = raw.holding(Ordering::Relaxed) else {
            continue;
        };
        if (after.generation, after.mode) != (holding.generation, holding.mode) {
            continue;
        }
        let owner = if label_len == NO_LABEL {
            Some(Owner::Holder(holder))
        } else {
            Label::from_words(label_len, &words).map(Owner::Label)
        };
        return Reading {
            holding: Some(after),
            owner,
            acquired_at,
        };
    }
    // The lock changed hands on every try, or its holder is between taking and publishing.
    Reading {
        holding: raw.holding(Ordering::Relaxed),
        owner: None,
        acquired_at: None,
    }
}

pub(crate) struct Secs(pub(crate) Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = alloc::format!("{}.{:03}s", self.0.as_secs(), self.0.subsec_millis());
        f.pad(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn labels_round_trip_through_words_and_cut_at_char_boundaries() {
        let l = Label::new("worker-3");
        assert_eq!(l.as_str(), "worker-3");
        assert_eq!(Label::from_words(u32::from(l.len), &l.words()), Some(l));
        let long = "ü".repeat(20); // 40 bytes, 2 per char
        let cut = Label::new(&long);
        assert_eq!(cut.as_str(), "ü".repeat(16));
        let odd = alloc::format!("a{}", "ü".repeat(20)); // a boundary falls at 33
        assert_eq!(Label::new(&odd).as_str().len(), 31);
        assert_eq!(Label::from_words(40, &l.words()), None);
    }

    #[test]
    fn owners_display_their_label_or_holder() {
        assert_eq!(Owner::Label(Label::new("w1")).to_string(), "w1");
        assert_eq!(Owner::Holder(HolderId::new(3, 7)).to_string(), "holder-3.7");
        assert!(Owner::Label(Label::new("w1")) == "w1");
        assert!(Owner::Holder(HolderId::new(3, 7)) != "holder-3.7");
        assert_eq!(HolderId::new(1, 2).as_u64(), (1 << 32) | 2);
    }

    use crate::raw::Turn;
    use crate::set::Mode;

    #[test]
    fn records_publish_and_read_back() {
        let slot = crate::table::tests_support::slot("db", 10);
        assert!(read(&slot.raw, &slot.record).generation().is_none());
        let taken = slot.raw.try_lock(Mode::Exclusive, Turn::New).unwrap();
        let holder = HolderId::new(0, taken.generation);
        let at = Duration::new(5_000_000_000, 7);
        slot.record.publish(
            taken.generation,
            holder,
            &Publish {
                label: Some(Label::new("w")),
                at: Some(at),
            },
        );
        let r = read(&slot.raw, &slot.record);
        assert_eq!(r.generation(), Some(taken.generation));
        assert_eq!(r.holding.map(|h| h.mode), Some(Mode::Exclusive));
        assert_eq!(r.owner, Some(Owner::Label(Label::new("w"))));
        assert_eq!(r.acquired_at, Some(at));
        slot.raw.unlock(Mode::Exclusive);
        assert!(read(&slot.raw, &slot.record).owner.is_none());
    }

    #[test]
    fn a_shared_holding_reads_as_its_first_readers_record_with_the_current_count() {
        let slot = crate::table::tests_support::slot("db", 10);
        let first = slot.raw.try_lock(Mode::Shared, Turn::New).unwrap();
        assert!(first.first);
        slot.record.publish(
            first.generation,
            HolderId::new(0, first.generation),
            &Publish {
                label: Some(Label::new("reader-1")),
                at: Some(Duration::from_secs(3)),
            },
        );
        let joined = slot.raw.try_lock(Mode::Shared, Turn::New).unwrap();
        assert!(!joined.first);
        let r = read(&slot.raw, &slot.record);
        let h = r.holding.unwrap();
        assert_eq!((h.mode, h.readers), (Mode::Shared, 2));
        assert_eq!(r.owner, Some(Owner::Label(Label::new("reader-1"))));
        assert_eq!(r.acquired_at, Some(Duration::from_secs(3)));
        // The first reader leaves: the holding, and its record, go on.
        slot.raw.unlock(Mode::Shared);
        assert_eq!(
            read(&slot.raw, &slot.record).acquired_at,
            Some(Duration::from_secs(3))
        );
        slot.raw.unlock(Mode::Shared);
        assert!(read(&slot.raw, &slot.record).holding.is_none());
    }

    #[test]
    fn an_unpublished_holding_reads_as_held_by_nobody_known() {
        let slot = crate::table::tests_support::slot("db", 10);
        slot.raw.try_lock(Mode::Exclusive, Turn::New).unwrap();
        let r = read(&slot.raw, &slot.record);
        assert!(r.generation().is_some());
        assert_eq!(r.owner, None);
        assert_eq!(r.acquired_at, None);
    }
}
