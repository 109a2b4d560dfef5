#!/usr/bin/env bash
# Run the loom models in loom-tests/ (release, with debug assertions), from the
# repository root whatever the current directory.
#
#   scripts/loom.sh              # every model
#   scripts/loom.sh probe_cap    # extra arguments go to the test harness (a filter)
#   scripts/loom.sh decay_       # the decay-mark models (loom-tests/tests/decay.rs)
#
# LOOM_MAX_PREEMPTIONS=3 is only a safety net for a model that forgets to choose:
# every 2-thread model runs with no bound at all (loom-tests' `exhaustive`, which
# overrides the variable) and every 3-thread model sets a bound of 3 itself.
#
# Each model prints "loom model <file>::<test>: <N> iterations, preemption bound <B>,
# <time>" (the models count their own executions), and a summary follows the run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log="$(mktemp -t fusebox-loom.XXXXXX)"
trap 'rm -f "$log"' EXIT

start=$SECONDS
# RUSTFLAGS: CI's flags (e.g. -Dwarnings), if any, plus the loom cfg.
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg loom" \
    LOOM_MAX_PREEMPTIONS=3 \
    CARGO_TARGET_DIR=target/loom \
    CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
    cargo test -p fusebox-loom-tests --release --tests -- --test-threads=1 --nocapture "$@" \
    2>&1 | tee "$log"

echo
echo "== loom models (per-model timing) =="
grep -o 'loom model .*' "$log" || echo "(no model ran)"
echo "== total: $((SECONDS - start))s (including the build) =="
