//! Differential fuzzing of the lock manager: see `lockorder_fuzz::manager_ops`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockorder_fuzz::manager_ops::{run, Input};

fuzz_target!(|input: Input| run(input));
