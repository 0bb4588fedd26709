//! `Text`: a lock's name or description, either written into the program (a hierarchy fixed at
//! compile time, built without an allocator) or registered at run time (shared, so that errors
//! and status entries take it without copying).

use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::Deref;

use crate::sync::Arc;

/// Whether two strings are equal, in const context (where `==` on `str` is not available).
pub(crate) const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A string that is either `'static` or shared; cloning never allocates.
#[derive(Clone)]
pub(crate) enum Text {
    /// From a [`hierarchy!`](crate::hierarchy): part of the program.
    Static(&'static str),
    /// Registered with a [`Builder`](crate::Builder).
    Shared(Arc<str>),
}

impl Deref for Text {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
        }
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Self {
        Text::Shared(s)
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

// === Label ===

pub(crate) const LABEL_CAPACITY: usize = 32;
const WORD: usize = core::mem::size_of::<usize>();
pub(crate) const LABEL_WORDS: usize = LABEL_CAPACITY / WORD;

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

    /// The length in bytes, as the record stores it.
    pub(crate) fn len_byte(&self) -> u8 {
        self.len
    }

    pub(crate) fn words(&self) -> [usize; LABEL_WORDS] {
        let mut words = [0; LABEL_WORDS];
        for (w, chunk) in words.iter_mut().zip(self.bytes.chunks_exact(WORD)) {
            let mut b = [0; WORD];
            b.copy_from_slice(chunk);
            *w = usize::from_ne_bytes(b);
        }
        words
    }

    pub(crate) fn from_words(len: u32, words: &[usize; LABEL_WORDS]) -> Option<Self> {
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

impl fmt::Write for Label {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let len = usize::from(self.len);
        let room = LABEL_CAPACITY - len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[len..len + take].copy_from_slice(&s.as_bytes()[..take]);
        // At most LABEL_CAPACITY (32): fits in a u8.
        self.len = (len + take) as u8;
        Ok(())
    }
}
