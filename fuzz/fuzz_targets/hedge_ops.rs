//! Differential fuzz target: `fusebox::HedgedGuard::call_async_outcome` with a
//! hedging policy, retry, breaker, budget and a script of attempt latencies and
//! results, driven on a manual clock by a tiny executor and checked call by call
//! against a reference model of the documented hedging rules. The logic lives in
//! `tests/fuzz_harness/hedge_ops.rs` so that `tests/fuzz_replay_hedge.rs` can
//! replay the corpus on stable without libFuzzer.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/hedge_ops.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
