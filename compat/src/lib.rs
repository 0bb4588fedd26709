//! Nothing here but the README: this package holds lockorder's runtime compatibility tests and
//! runtime examples, and compiles the README's snippets, which need those runtimes.

// The README's Rust snippets are compiled (and, unless marked `no_run`, run) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
