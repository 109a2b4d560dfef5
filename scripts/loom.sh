#!/usr/bin/env bash
# Run the loom models in loom-tests/ (release, with debug assertions), from the
# repository root whatever the current directory.
#
#   scripts/loom.sh              # every model
#   scripts/loom.sh probe_cap    # extra arguments go to the test harness (a filter)
#   scripts/loom.sh decay_       # the decay-mark models (loom-tests/tests/decay.rs)
#   LOOM_JOBS=2 scripts/loom.sh  # two test files at a time (CI: one per core)
#
# LOOM_MAX_PREEMPTIONS=3 is only a safety net for a model that forgets to choose:
# every 2-thread model runs with no bound at all (loom-tests' `exhaustive`, which
# overrides the variable) and every 3-thread model sets a bound of 3 itself.
#
# Each model prints "loom model <file>::<test>: <N> iterations, preemption bound <B>,
# <time>" (the models count their own executions), and a summary follows the run.
# Every model runs on one thread; with LOOM_JOBS=N (default 1), N test files run at
# once, and each file's output is printed whole when it ends.
#
# loom logs through tracing-subscriber's EnvFilter (LOOM_LOG), which brings the
# regex crates; they are built without optimisation (the models never use them
# unless LOOM_LOG is set), which takes a minute of CPU off the build.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log="$(mktemp -t fusebox-loom.XXXXXX)"
runs="$(mktemp -d -t fusebox-loom-runs.XXXXXX)"
trap 'rm -rf "$log" "$runs"' EXIT

parallel="${LOOM_JOBS:-1}"
start=$SECONDS
unoptimised=()
for crate in regex-syntax regex-automata matchers tracing-subscriber; do
    unoptimised+=(--config "profile.release.package.$crate.opt-level=0")
done

# RUSTFLAGS: CI's flags (e.g. -Dwarnings), if any, plus the loom cfg.
loom_cargo() {
    RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg loom" \
        LOOM_MAX_PREEMPTIONS=3 \
        CARGO_TARGET_DIR=target/loom \
        CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
        cargo test -p fusebox-loom-tests --release --tests "${unoptimised[@]}" "$@"
}

if ((parallel <= 1)); then
    loom_cargo -- --test-threads=1 --nocapture "$@" 2>&1 | tee "$log"
else
    # Build once, then run the test executables N at a time, each into its own log.
    loom_cargo --no-run --message-format=json-render-diagnostics >"$runs/build.json"
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' "$runs/build.json" | sort >"$runs/executables"
    run_one() {
        local exe=$1 out rc=0
        shift
        out="$runs/$(basename "$exe")"
        (cd loom-tests && LOOM_MAX_PREEMPTIONS=3 "$exe" --test-threads=1 --nocapture "$@") \
            >"$out.log" 2>&1 || rc=$?
        echo "$rc" >"$out.rc"
    }
    while read -r exe; do
        while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
        run_one "$exe" "$@" &
    done <"$runs/executables"
    wait
    failed=()
    while read -r exe; do
        out="$runs/$(basename "$exe")"
        printf '\n     Running %s\n' "$exe"
        cat "$out.log"
    done <"$runs/executables" >"$log"
    cat "$log"
    while read -r exe; do
        [[ $(cat "$runs/$(basename "$exe").rc" 2>/dev/null) == 0 ]] || failed+=("$(basename "$exe")")
    done <"$runs/executables"
    if ((${#failed[@]} > 0)); then
        echo "loom: FAILED: ${failed[*]} (see above)" >&2
        exit 1
    fi
fi

echo
echo "== loom models (per-model timing) =="
grep -o 'loom model .*' "$log" || echo "(no model ran)"
echo "== total: $((SECONDS - start))s (including the build) =="
