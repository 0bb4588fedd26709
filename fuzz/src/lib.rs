//! The differential fuzz harness of lockorder, shared by the cargo-fuzz targets in
//! `fuzz_targets/` (each a few lines that hand the decoded input to [`manager_ops::run`] or
//! [`registration::run`]).
//!
//! * [`bytes`]: the byte reader both targets decode their input with.
//! * [`manager_ops`]: acquires, polls, drops, nesting, tries and the clock, on a real manager and
//!   on a model.
//! * [`registration`]: registration on a real builder and on a model.
//! * [`keys_data`]: task keys, lock families and `Protected` data on a real manager and on a
//!   model.

pub mod bytes;
pub mod keys_data;
pub mod manager_ops;
pub mod registration;
