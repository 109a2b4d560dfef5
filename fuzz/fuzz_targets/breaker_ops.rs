//! Differential fuzz target: the real `fusebox::Breaker` against a reference
//! model, operation by operation. The logic lives in `tests/fuzz_harness/breaker_ops.rs`
//! so that `tests/fuzz_replay.rs` can replay the corpus on stable without libFuzzer.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/breaker_ops.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
