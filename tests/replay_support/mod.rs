//! What the two fuzz-replay tests (`fuzz_replay.rs`, `fuzz_replay_retry.rs`) share:
//! where the checked-in inputs are, reading them in a stable order, keeping the
//! hand-written seeds checked in, naming a panic, and a tiny deterministic
//! generator for the pseudo-random sweeps.

use std::fs;
use std::path::{Path, PathBuf};

/// `rel` under the crate root (where `fuzz/` lives).
pub fn dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Every regular file of `dir`, sorted by name, as (path for messages, bytes).
fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let data = fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (p.display().to_string(), data)
        })
        .collect()
}

/// Whether this is the repository (which has `fuzz/`, its corpus and artifacts) and
/// not the packaged crate, which ships the harness but leaves the fuzz workspace
/// out. In the package the corpus and seed checks have nothing to read, and say so;
/// the pseudo-random sweeps still run.
pub fn in_repository() -> bool {
    dir("fuzz/Cargo.toml").is_file()
}

/// The checked-in corpus at `rel`, which must exist and not be empty in the
/// repository (a replay of nothing would pass without checking anything). Empty in
/// the packaged crate, which does not ship the corpus.
pub fn corpus(rel: &str) -> Vec<(String, Vec<u8>)> {
    if !in_repository() {
        eprintln!("{rel}: not in the packaged crate (no fuzz/), nothing to replay");
        return Vec::new();
    }
    let corpus = dir(rel);
    assert!(
        corpus.is_dir(),
        "the corpus {} is missing",
        corpus.display()
    );
    let inputs = inputs(&corpus);
    assert!(
        !inputs.is_empty(),
        "the corpus {} is empty",
        corpus.display()
    );
    inputs
}

/// The crash artifacts at `rel`, if there are any (none is a valid state).
pub fn artifacts(rel: &str) -> Vec<(String, Vec<u8>)> {
    let artifacts = dir(rel);
    if artifacts.is_dir() {
        inputs(&artifacts)
    } else {
        Vec::new()
    }
}

/// Run `run` on every crash artifact at `rel` and fail, listing each with its
/// bytes and panic, if any still fails.
pub fn replay_artifacts(rel: &str, run: impl Fn(&[u8])) {
    let mut failures = Vec::new();
    for (name, data) in artifacts(rel) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&data)));
        if let Err(panic) = outcome {
            failures.push(format!(
                "{name} ({} bytes: {data:02x?}):\n{}",
                data.len(),
                panic_message(&*panic)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} artifact(s) still fail:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Keep a hand-written seed in the corpus at `rel`: with `FUSEBOX_WRITE_SEEDS` set,
/// write it there; otherwise assert that the checked-in file has exactly these
/// bytes. `test` names the test binary, for the command the message suggests.
pub fn write_or_check_seed(rel: &str, name: &str, data: &[u8], test: &str) {
    if !in_repository() {
        return;
    }
    let corpus = dir(rel);
    let path = corpus.join(name);
    if std::env::var_os("FUSEBOX_WRITE_SEEDS").is_some() {
        fs::create_dir_all(&corpus).expect("create the corpus dir");
        fs::write(&path, data).expect("write seed");
        return;
    }
    let fix = format!("run FUSEBOX_WRITE_SEEDS=1 cargo test --test {test} seeds");
    let on_disk = fs::read(&path)
        .unwrap_or_else(|e| panic!("seed {} is not checked in ({e}); {fix}", path.display()));
    assert_eq!(
        on_disk,
        data,
        "seed {} is out of date; {fix}",
        path.display()
    );
}

/// A caught panic's message.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic)")
}

/// xorshift64*: a tiny deterministic generator, no dependency.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
