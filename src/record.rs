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
pub use crate::text::Label;
use crate::text::LABEL_WORDS;

const NO_LABEL: u32 = u32::MAX;
const NO_TIME: u32 = u32::MAX;
/// How often a reader retries a record that changes under it before reporting the lock as held by
/// an unknown owner. Under loom a few tries explore the same races; each one multiplies the
/// interleavings to explore.
const READ_TRIES: usize = if cfg!(loom) { 2 } else { 64 };

// === Owner ===

/// Identifies an acquisition that was given no owner label: the first lock it took and that
/// lock's holding generation. Unique among the holdings alive at one time; shared by every lock
/// of one acquisition and by the guards nested in it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HolderId {
    /// `!(first << 32 | generation)`: one word, never zero, so that an `Option<HolderId>` is one
    /// word too, written and read with one access (a tag beside two halves, written apart and
    /// copied whole, stalls the copy on the uncontended path).
    packed: Packed,
}

/// The packed form of a [`HolderId`], ordered as the pair (`first`, `generation`) is: the
/// complement reverses the order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Packed(core::num::NonZeroU64);

impl PartialOrd for Packed {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Packed {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        other.0.cmp(&self.0)
    }
}

impl HolderId {
    #[inline]
    pub(crate) fn new(first: usize, generation: u32) -> Self {
        // Positions fit in u32 (see `registry::freeze`).
        Self::from_parts(first as u32, generation)
    }

    #[inline]
    fn from_parts(first: u32, generation: u32) -> Self {
        let id = (u64::from(first) << 32) | u64::from(generation);
        // Zero only for `first == u32::MAX`, a position no table of locks reaches.
        let packed = core::num::NonZeroU64::new(!id).unwrap_or(core::num::NonZeroU64::MIN);
        Self {
            packed: Packed(packed),
        }
    }

    #[inline]
    fn first(&self) -> u32 {
        (self.as_u64() >> 32) as u32
    }

    #[inline]
    fn generation(&self) -> u32 {
        self.as_u64() as u32
    }

    /// The id as one number.
    pub fn as_u64(&self) -> u64 {
        !self.packed.0.get()
    }
}

impl fmt::Debug for HolderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for HolderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&alloc::format!(
            "holder-{}.{}",
            self.first(),
            self.generation()
        ))
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

    /// The owner as text, kept inline: the label, or the holder id written out (`holder-N.M`
    /// fits a label's capacity). Allocates nothing, so an error can name a holder on a target
    /// whose allocator refuses.
    pub(crate) fn text(&self) -> Label {
        match self {
            Owner::Label(l) => *l,
            Owner::Holder(h) => {
                let mut text = Label::new("");
                // A holder id is at most `holder-` and two u32s: shorter than the capacity;
                // anything past it would be cut, never overflow.
                let _ = fmt::write(
                    &mut text,
                    format_args!("holder-{}.{}", h.first(), h.generation()),
                );
                text
            }
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

/// A timestamp as the record keeps it: three 32-bit words, `nanos` [`NO_TIME`] for none.
///
/// Twelve bytes aligned to four, where an `Option<Duration>` takes sixteen aligned to eight on
/// a 32-bit MCU; split once per acquisition rather than once per lock published.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    secs_hi: u32,
    secs_lo: u32,
    nanos: u32,
}

impl Stamp {
    /// No timestamp (a manager without a timer).
    pub(crate) const NONE: Stamp = Stamp {
        secs_hi: 0,
        secs_lo: 0,
        nanos: NO_TIME,
    };

    #[inline]
    pub(crate) fn new(at: Option<Duration>) -> Self {
        match at {
            Some(at) => {
                let secs = at.as_secs();
                Stamp {
                    secs_hi: (secs >> 32) as u32,
                    secs_lo: secs as u32,
                    nanos: at.subsec_nanos(),
                }
            }
            None => Self::NONE,
        }
    }

    /// The timestamp. Cannot panic (unlike `Duration::new`), so that a caller that drops it,
    /// as the walk does when statistics are compiled out, costs nothing.
    #[inline]
    pub(crate) fn get(self) -> Option<Duration> {
        (self.nanos != NO_TIME).then(|| {
            let secs = (u64::from(self.secs_hi) << 32) | u64::from(self.secs_lo);
            Duration::from_secs(secs).saturating_add(Duration::from_nanos(u64::from(self.nanos)))
        })
    }
}

impl fmt::Debug for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
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

/// The label's words, all zero.
#[cfg(not(loom))]
const fn zeroed_words() -> [AtomicUsize; LABEL_WORDS] {
    [const { AtomicUsize::new(0) }; LABEL_WORDS]
}

#[cfg(loom)]
fn zeroed_words() -> [AtomicUsize; LABEL_WORDS] {
    core::array::from_fn(|_| AtomicUsize::new(0))
}

impl Record {
    crate::sync::loom_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                tag: AtomicU32::new(u32::MAX),
                holder_first: AtomicU32::new(0),
                holder_generation: AtomicU32::new(0),
                label_len: AtomicU32::new(NO_LABEL),
                label: zeroed_words(),
                secs_hi: AtomicU32::new(0),
                secs_lo: AtomicU32::new(0),
                nanos: AtomicU32::new(NO_TIME),
            }
        }
    }

    /// Publishes the holding `generation`, which the caller has just taken, with the
    /// acquisition's label and the timestamp of the step that took it.
    #[inline]
    pub(crate) fn publish(
        &self,
        generation: u32,
        holder: HolderId,
        label: &Option<Label>,
        at: Stamp,
    ) {
        // Orders the lock's compare-and-swap (which bumped the generation) before the stores
        // below: a reader that sees any of them will see the new generation in its second load.
        fence(Ordering::Release);
        self.holder_first.store(holder.first(), Ordering::Relaxed);
        self.holder_generation
            .store(holder.generation(), Ordering::Relaxed);
        match label {
            Some(label) => {
                for (slot, w) in self.label.iter().zip(label.words()) {
                    slot.store(w, Ordering::Relaxed);
                }
                self.label_len
                    .store(u32::from(label.len_byte()), Ordering::Relaxed);
            }
            None => self.label_len.store(NO_LABEL, Ordering::Relaxed),
        }
        if at.nanos != NO_TIME {
            self.secs_hi.store(at.secs_hi, Ordering::Relaxed);
            self.secs_lo.store(at.secs_lo, Ordering::Relaxed);
        }
        self.nanos.store(at.nanos, Ordering::Relaxed);
        self.tag.store(generation, Ordering::Release);
    }

    /// The timestamp the current holder published (for the holder itself).
    pub(crate) fn acquired_at(&self) -> Option<Duration> {
        self.read_at()
    }

    fn read_at(&self) -> Option<Duration> {
        let nanos = self.nanos.load(Ordering::Relaxed);
        if nanos == NO_TIME {
            return None;
        }
        Stamp {
            secs_hi: self.secs_hi.load(Ordering::Relaxed),
            secs_lo: self.secs_lo.load(Ordering::Relaxed),
            nanos,
        }
        .get()
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
        let holder = HolderId::from_parts(
            r.holder_first.load(Ordering::Relaxed),
            r.holder_generation.load(Ordering::Relaxed),
        );
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
        assert_eq!(
            Label::from_words(u32::from(l.len_byte()), &l.words()),
            Some(l)
        );
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
        assert!(
            HolderId::new(1, 9) < HolderId::new(2, 0),
            "ordered by first lock"
        );
        assert!(
            HolderId::new(2, 1) < HolderId::new(2, 3),
            "then by generation"
        );
        assert_eq!(core::mem::size_of::<Option<HolderId>>(), 8);
    }

    use crate::raw::{RawLock, Turn};
    use crate::set::Mode;

    /// A lock and its record, as a manager's slot holds them.
    struct Slot {
        raw: RawLock,
        record: Record,
    }

    fn slot() -> Slot {
        Slot {
            raw: RawLock::new(),
            record: Record::new(),
        }
    }

    #[test]
    fn a_stamp_gives_back_the_time_it_was_made_of() {
        assert_eq!(Stamp::NONE.get(), None);
        assert_eq!(Stamp::new(None), Stamp::NONE);
        for at in [
            Duration::ZERO,
            Duration::new(5_000_000_000, 7),
            Duration::new(u64::from(u32::MAX), 999_999_999),
            Duration::MAX,
        ] {
            assert_eq!(Stamp::new(Some(at)).get(), Some(at), "{at:?}");
        }
    }

    #[test]
    fn records_publish_and_read_back() {
        let slot = slot();
        assert!(read(&slot.raw, &slot.record).generation().is_none());
        let taken = slot.raw.try_lock(Mode::Exclusive, Turn::New).unwrap();
        let holder = HolderId::new(0, taken.generation());
        let at = Duration::new(5_000_000_000, 7);
        slot.record.publish(
            taken.generation(),
            holder,
            &Some(Label::new("w")),
            Stamp::new(Some(at)),
        );
        let r = read(&slot.raw, &slot.record);
        assert_eq!(r.generation(), Some(taken.generation()));
        assert_eq!(r.holding.map(|h| h.mode), Some(Mode::Exclusive));
        assert_eq!(r.owner, Some(Owner::Label(Label::new("w"))));
        assert_eq!(r.acquired_at, Some(at));
        slot.raw.unlock(Mode::Exclusive);
        assert!(read(&slot.raw, &slot.record).owner.is_none());
    }

    #[test]
    fn a_shared_holding_reads_as_its_first_readers_record_with_the_current_count() {
        let slot = slot();
        let first = slot.raw.try_lock(Mode::Shared, Turn::New).unwrap();
        assert!(first.first());
        slot.record.publish(
            first.generation(),
            HolderId::new(0, first.generation()),
            &Some(Label::new("reader-1")),
            Stamp::new(Some(Duration::from_secs(3))),
        );
        let joined = slot.raw.try_lock(Mode::Shared, Turn::New).unwrap();
        assert!(!joined.first());
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
        let slot = slot();
        slot.raw.try_lock(Mode::Exclusive, Turn::New).unwrap();
        let r = read(&slot.raw, &slot.record);
        assert!(r.generation().is_some());
        assert_eq!(r.owner, None);
        assert_eq!(r.acquired_at, None);
    }
}
