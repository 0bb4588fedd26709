//! Differential fuzzing of registration: see `lockorder_fuzz::registration`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockorder_fuzz::registration::{run, Input};

fuzz_target!(|input: Input| run(input));
