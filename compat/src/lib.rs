//! Nothing here but the README and `docs/`: this package holds lockorder's runtime compatibility
//! tests and runtime examples, and compiles the Rust snippets of the README and of the `docs/`
//! files that have any (`guide.md`, `embedded.md`), which need those runtimes. A file of `docs/`
//! that gains a Rust snippet is added here.

// The README's Rust snippets are compiled (and, unless marked `no_run`, run) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

// The same for the snippets that live in `docs/guide.md` (runtimes, readers and writers, status)
// and `docs/embedded.md`.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide.md")]
struct GuideDoctests;

#[cfg(doctest)]
#[doc = include_str!("../../docs/embedded.md")]
struct EmbeddedDoctests;
