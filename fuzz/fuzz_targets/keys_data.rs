//! Differential fuzzing of task keys, lock families and `Protected` data: see
//! `lockorder_fuzz::keys_data`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockorder_fuzz::keys_data::{run, Input};

fuzz_target!(|input: Input| run(input));
