//! Nothing here but the README and `docs/`: this package holds lockorder's runtime compatibility
//! tests and runtime examples, and compiles the Rust snippets of the README and of `docs/`, which
//! need those runtimes.

// The README's Rust snippets are compiled (and, unless marked `no_run`, run) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

// The same for the snippets that live in `docs/` (runtimes, readers and writers, status, embedded).
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide.md")]
struct GuideDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../docs/embedded.md")]
struct EmbeddedDoctests;
