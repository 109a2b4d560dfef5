#!/usr/bin/env bash
# The fuzz smoke step: run each fuzz target briefly, so that a harness that
# cannot run (a target that stops building, a model that panics on something it
# was never taught, a disagreement the corpus replay cannot see) fails CI.
#
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  targets to run (default: "breaker_ops retry_ops hedge_ops")
#
# Installs cargo-fuzz if it is absent. Builds on the stable toolchain
# (RUSTC_BOOTSTRAP=1, --sanitizer none: the crate forbids unsafe code, so what we
# look for is disagreement, not memory errors) into its own target directory,
# fuzz/target-smoke. Each target starts from a scratch copy of its checked-in
# corpus, so the run never writes into fuzz/corpus; a crash input goes to
# fuzz/target-smoke/artifacts/<target>/ and is printed. Exits non-zero if a
# target does not build, crashes, or runs no input at all.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-breaker_ops retry_ops hedge_ops}"
target_dir="$PWD/target-smoke"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

began=$SECONDS
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version
installed=$SECONDS

echo "==> fuzz-smoke: building $targets"
for target in $targets; do
    cargo fuzz build "$target" --sanitizer none --target-dir "$target_dir"
done
built=$SECONDS
echo "fuzz-smoke: install $((installed - began))s, build $((built - installed))s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

failed=()
for target in $targets; do
    echo
    echo "==> fuzz-smoke: $target for ${seconds}s"
    corpus="$scratch/corpus-$target"
    artifacts="$target_dir/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    if [ -d "corpus/$target" ]; then
        cp -R "corpus/$target/." "$corpus/"
    fi
    log="$scratch/$target.log"
    status=0
    cargo fuzz run "$target" --sanitizer none --target-dir "$target_dir" "$corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    # The run's own closing lines: the last coverage line and the statistics.
    grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 || true
    grep -E '^stat::' "$log" || true
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    if [ "$status" -ne 0 ]; then
        echo "fuzz-smoke: $target FAILED (exit $status); the end of its log:"
        tail -n 60 "$log"
        for crash in "$artifacts"/*; do
            [ -f "$crash" ] || continue
            echo "crash input $crash:"
            od -An -tx1 -v "$crash"
        done
        failed+=("$target")
    elif [ -z "$runs" ] || [ "$runs" -eq 0 ]; then
        echo "fuzz-smoke: $target ran no input; the end of its log:"
        tail -n 60 "$log"
        failed+=("$target")
    else
        echo "fuzz-smoke: $target ok ($runs executions)"
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo
    echo "fuzz-smoke: failed: ${failed[*]}"
    exit 1
fi
echo
echo "fuzz-smoke: every target ran ${seconds}s without a disagreement ($((SECONDS - began))s in all)"
