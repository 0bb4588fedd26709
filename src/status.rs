//! What status reports show: one entry per lock (`LockStatus`), the snapshot of all of them
//! (`Status`, a table when printed), and long holds (`LongHold`).

use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::error::LockRef;
use crate::manager::LockManager;
use crate::record::{self, Owner, Secs};
use crate::set::Mode;
use crate::timer::MaybeTimer;

// === Status ===

/// The state of one lock at the moment [`LockManager::status`](crate::LockManager::status) read
/// it. All fields describe one holding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockStatus<'a> {
    /// The lock's name.
    pub name: &'a str,
    /// The lock's order.
    pub order: u32,
    /// The lock's description.
    pub description: &'a str,
    /// Who holds it: the exclusive holder, or the reader that made it shared-held (other readers
    /// may have joined, and that one may have left since). `None` when free (or, rarely, while a
    /// new holder is still publishing).
    pub owner: Option<Owner>,
    /// The timer's `now()` when it was taken exclusively, or when it became shared-held; `None`
    /// without a timer or when free.
    pub acquired_at: Option<Duration>,
    /// Whether it is held, in either mode.
    pub is_locked: bool,
    /// How it is held (`None` when free).
    pub mode: Option<Mode>,
    /// How many readers hold it (0 unless held shared).
    pub readers: u32,
    /// The lock's statistics since the manager was built.
    #[cfg(feature = "stats")]
    #[cfg_attr(docsrs, doc(cfg(feature = "stats")))]
    pub stats: crate::stats::LockStats,
}

/// A snapshot of every lock, in ascending order. Iterate it, index it, or print it as a table.
///
/// ```
/// # use lockorder::{LockManager, ManualTimer};
/// # use core::time::Duration;
/// let timer = ManualTimer::new();
/// let mut b = LockManager::builder().timer(timer.clone());
/// b.register_with("db", 10, "database")?.register("cache", 20)?;
/// let m = b.build();
/// let g = m.acquire(["db"]).owner("worker-3").try_now()?;
/// timer.advance(Duration::from_secs(2));
/// let status = m.status();
/// assert!(status[0].is_locked && status[0].owner.unwrap() == "worker-3");
/// assert_eq!(status[0].acquired_at, Some(Duration::ZERO));
/// assert!(!status[1].is_locked);
/// println!("{status}");
/// # drop(g);
/// # Ok::<(), lockorder::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status<'a> {
    locks: Vec<LockStatus<'a>>,
    now: Option<Duration>,
}

impl<'a> Status<'a> {
    pub(crate) fn new(locks: Vec<LockStatus<'a>>, now: Option<Duration>) -> Self {
        Self { locks, now }
    }

    /// The timer's `now()` when the snapshot was taken (`None` without a timer).
    pub fn now(&self) -> Option<Duration> {
        self.now
    }

    /// The locks that are held.
    pub fn held(&self) -> impl Iterator<Item = &LockStatus<'a>> {
        self.locks.iter().filter(|s| s.is_locked)
    }
}

impl<'a> core::ops::Deref for Status<'a> {
    type Target = [LockStatus<'a>];

    fn deref(&self) -> &[LockStatus<'a>] {
        &self.locks
    }
}

impl<'a> IntoIterator for Status<'a> {
    type Item = LockStatus<'a>;
    type IntoIter = alloc::vec::IntoIter<LockStatus<'a>>;

    fn into_iter(self) -> Self::IntoIter {
        self.locks.into_iter()
    }
}

impl<'s, 'a> IntoIterator for &'s Status<'a> {
    type Item = &'s LockStatus<'a>;
    type IntoIter = core::slice::Iter<'s, LockStatus<'a>>;

    fn into_iter(self) -> Self::IntoIter {
        self.locks.iter()
    }
}

/// A table, one line per lock (and its statistics with feature `stats`). Columns are as wide as
/// their widest cell, counted in characters; control characters in names, owners and
/// descriptions are escaped (`\n`), so every lock stays on its line.
impl fmt::Display for Status<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use alloc::string::String;

        let rows: Vec<[String; 4]> = self
            .locks
            .iter()
            .map(|s| {
                let state = match (s.mode, s.readers) {
                    (Some(Mode::Exclusive), _) => "held".into(),
                    (Some(Mode::Shared), n) => alloc::format!("shared({n})"),
                    (None, _) => "free".into(),
                };
                let owner = match (&s.owner, s.is_locked) {
                    (Some(o), _) => cell(&alloc::format!("{o}")),
                    (None, true) => "?".into(),
                    (None, false) => "-".into(),
                };
                let held_for = match (s.acquired_at, self.now) {
                    (Some(at), Some(now)) => alloc::format!("{}", Secs(now.saturating_sub(at))),
                    _ => "-".into(),
                };
                [cell(s.name), state, owner, held_for]
            })
            .collect();
        let width = |col: usize, title: &str| {
            rows.iter()
                .map(|r| r[col].chars().count())
                .chain([title.chars().count()])
                .max()
                .unwrap_or(0)
        };
        let (name_w, state_w, owner_w) =
            (width(0, "lock"), width(1, "shared(1)"), width(2, "owner"));
        writeln!(
            f,
            "{:>10}  {:<name_w$}  {:<state_w$}  {:<owner_w$}  {:>10}  description",
            "order", "lock", "state", "owner", "held for"
        )?;
        for (s, [name, state, owner, held_for]) in self.locks.iter().zip(&rows) {
            writeln!(
                f,
                "{:>10}  {name:<name_w$}  {state:<state_w$}  {owner:<owner_w$}  {held_for:>10}  {}",
                s.order,
                cell(s.description)
            )?;
            #[cfg(feature = "stats")]
            writeln!(f, "{:>10}  {}", "", s.stats)?;
        }
        Ok(())
    }
}

/// Text for one cell of the status table: control characters escaped (`\n`, `\t`, `\u{1b}`).
fn cell(text: &str) -> alloc::string::String {
    let mut out = alloc::string::String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

// === Long holds ===

/// A lock held longer than a threshold: see
/// [`LockManager::long_held`](crate::LockManager::long_held).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LongHold {
    /// The lock (name and order).
    pub lock: LockRef,
    /// Who holds it, if known.
    pub owner: Option<Owner>,
    /// How long it has been held.
    pub held_for: Duration,
    /// The threshold it exceeds.
    pub threshold: Duration,
    /// The generation of the holding: with the lock, it names one holding.
    pub(crate) generation: u32,
}

impl fmt::Display for LongHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "potential deadlock: lock {} held", self.lock)?;
        if let Some(owner) = &self.owner {
            write!(f, " by {owner}")?;
        }
        write!(
            f,
            " for {} (more than {}); check that its holder is not stuck",
            Secs(self.held_for),
            Secs(self.threshold)
        )
    }
}

// === Reading them from a manager ===

impl<T: MaybeTimer> LockManager<T> {
    /// A snapshot of every lock: who holds it, since when, and (feature `stats`) its statistics.
    ///
    /// Reading never blocks an acquirer and takes no lock: each lock costs the reader a handful
    /// of atomic loads, and the fields of each entry are checked to belong to one holding. It is
    /// not free for acquirers, though: the reader pulls the slots' cache lines to its core, and a
    /// holder must pull them back. Read at a watchdog's pace (once a millisecond), that costs
    /// nothing measurable; read in a tight loop from another core, it made an uncontended
    /// 4-lock acquire 3 to 14 times slower in our runs (`cargo bench --bench status`). See
    /// [`Status`] for an example.
    pub fn status(&self) -> Status<'_> {
        let now = self.timer.now_opt();
        let locks = self
            .table
            .slots
            .iter()
            .map(|slot| {
                let reading = record::read(&slot.raw, &slot.record);
                LockStatus {
                    name: slot.info.name(),
                    order: slot.info.order(),
                    description: slot.info.description(),
                    owner: reading.owner,
                    acquired_at: reading.acquired_at,
                    is_locked: reading.holding.is_some(),
                    mode: reading.holding.map(|h| h.mode),
                    readers: reading
                        .holding
                        .filter(|h| h.mode == Mode::Shared)
                        .map_or(0, |h| h.readers),
                    #[cfg(feature = "stats")]
                    stats: slot.stats.snapshot(),
                }
            })
            .collect();
        Status::new(locks, now)
    }

    /// The locks held strictly longer than `threshold`, in ascending order.
    ///
    /// Hold times come from the timer, so a manager without one ([`NoTimer`](crate::NoTimer)) reports none. The
    /// seed of this crate warned at 30 seconds; here the caller chooses. To be told of each long
    /// hold once, as it happens, run a [`Watchdog`](crate::futures::Watchdog).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use lockorder::{LockManager, ManualTimer};
    /// let timer = ManualTimer::new();
    /// let mut b = LockManager::builder().timer(timer.clone());
    /// b.register("db", 10)?;
    /// let m = b.build();
    /// let g = m.acquire(["db"]).owner("worker-3").try_now()?;
    /// timer.advance(Duration::from_secs(30));
    /// assert!(m.long_held(Duration::from_secs(30)).is_empty()); // not strictly longer
    /// timer.advance(Duration::from_millis(1));
    /// let warnings = m.long_held(Duration::from_secs(30));
    /// assert_eq!(
    ///     warnings[0].to_string(),
    ///     "potential deadlock: lock `db` (order 10) held by worker-3 for 30.001s \
    ///      (more than 30.000s); check that its holder is not stuck"
    /// );
    /// # drop(g);
    /// # Ok::<(), lockorder::Error>(())
    /// ```
    pub fn long_held(&self, threshold: Duration) -> Vec<LongHold> {
        let Some(now) = self.timer.now_opt() else {
            return Vec::new();
        };
        self.table
            .slots
            .iter()
            .filter_map(|slot| {
                let reading = record::read(&slot.raw, &slot.record);
                let generation = reading.generation()?;
                let held_for = now.saturating_sub(reading.acquired_at?);
                (held_for > threshold).then(|| LongHold {
                    lock: slot.info.lock_ref(),
                    owner: reading.owner,
                    held_for,
                    threshold,
                    generation,
                })
            })
            .collect()
    }
}
