//! Property fuzz target: `fusebox::Guard::call` with an arbitrary `Retry` (built
//! from raw, possibly hostile values), breaker, budget and attempt script, checked
//! against the documented rules. The logic lives in `tests/fuzz_harness/retry_ops.rs`
//! so that `tests/fuzz_replay_retry.rs` can replay the corpus on stable without
//! libFuzzer.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/retry_ops.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
