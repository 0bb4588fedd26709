//! `Text`: a lock's name or description, either written into the program (a hierarchy fixed at
//! compile time, built without an allocator) or registered at run time (shared, so that errors
//! and status entries take it without copying).

use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::Deref;

use crate::sync::Arc;

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
