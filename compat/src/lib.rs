//! Nothing here: this package holds the runtime compatibility tests and examples.
