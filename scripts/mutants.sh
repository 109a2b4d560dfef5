#!/usr/bin/env bash
# Mutation testing with cargo-mutants (https://mutants.rs, v27 or later), in two passes.
#
#   bash scripts/mutants.sh                      # the core: src/state.rs, src/breaker/, src/budget.rs, src/guard/
#   bash scripts/mutants.sh src/budget.rs        # only the files named
#   MUTANTS_JOBS=1 bash scripts/mutants.sh       # one scratch build at a time (default 2)
#   MUTANTS_EXTRA_TESTS="stop_reasons" bash scripts/mutants.sh src/guard/call.rs  # more tests
#   MUTANTS_LOOM=0 bash scripts/mutants.sh       # pass 1 only
#   MUTANTS_ONLY_LOOM=1 bash scripts/mutants.sh  # pass 2 only, on the missed list of an earlier pass 1
#   MUTANTS_LOOM_LIST=f bash scripts/mutants.sh  # pass 2 on the mutant names in file f (one a line)
#   MUTANTS_LOOM_REV=loom bash scripts/mutants.sh # pass 2 in that commit's tree (its loom models)
#
# Pass 1, per file: every mutant of the file against the fast, meaningful test set
#   (debug, --all-features): the unit tests (--lib) and the integration tests
#   config_errors, fuzz_replay, fuzz_replay_retry (the fuzz corpus/artifacts/seed/sweep
#   replays), guard_rules, guard_async, health_arithmetic, seed_scenarios, no_alloc,
#   mutants_gaps (the tests that close the gaps mutation testing found).
#   Left out: the doctests (compile ~24 snippets per mutant, and check examples only),
#   the outage lab's test (examples/lab/tests/outage_lab.rs, ~18 s, a timing
#   demonstration, in a package of its own) and tests/stress.rs (a nondeterministic
#   thread race; a flaky "caught" is worth nothing).
#   Output: mutants.out/<file>/mutants.out/{caught,missed,unviable,timeout}.txt.
#
# Pass 2: every mutant MISSED by pass 1 (all files together) against the loom models
#   (package fusebox-loom-tests, RUSTFLAGS="--cfg loom", release with debug assertions,
#   the same settings as scripts/loom.sh). A mutant caught here counts as caught.
#   Output: mutants.out/loom/{caught,missed}.txt and one log per mutant.
#   (Under --cfg loom the main crate's own unit tests do not build, hence a separate pass.)
#
# Each pass prints cargo-mutants' own summary; the totals at the end combine both passes.
# Results are recorded in docs/MUTANTS.md. mutants.out/ is gitignored.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(src/state.rs src/breaker/{mod,admit,record,decay,operator,permit,cas}.rs src/budget.rs
        src/guard/{mod,outcome,call,sync,async_call}.rs)
fi
jobs="${MUTANTS_JOBS:-2}"
out=mutants.out

tests=(--lib --test config_errors --test fuzz_replay --test fuzz_replay_retry --test guard_rules
    --test guard_async --test health_arithmetic --test seed_scenarios --test no_alloc
    --test mutants_gaps)
# MUTANTS_EXTRA_TESTS="stop_reasons tower_layer": more integration tests for pass 1.
for t in ${MUTANTS_EXTRA_TESTS:-}; do tests+=(--test "$t"); done
# --cargo-arg, not --cargo-test-arg: cargo-mutants builds with a separate
# `cargo test --no-run`, which would otherwise build (and link) every test target and
# example for each mutant; --cargo-arg restricts the build to the targets that run.
test_args=()
for t in "${tests[@]}"; do test_args+=("--cargo-arg=$t"); done

mkdir -p "$out"

# One output folder per file: src/breaker/decay.rs -> breaker-decay.
mutant_dir() { local p="${1#src/}"; p="${p%.rs}"; echo "${p//\//-}"; }

# ---- pass 1 ----------------------------------------------------------------------------
if [ "${MUTANTS_ONLY_LOOM:-0}" != 1 ]; then
    # Prebuild the test set in ./target so that every scratch copy starts warm (--copy-target).
    cargo test --all-features "${tests[@]}" --no-run
    first=1
    for f in "${files[@]}"; do
        name="$(mutant_dir "$f")"
        rm -rf "${out:?}/$name"
        # The first file runs the unmutated baseline (and cargo-mutants sets the timeout
        # from it); later files skip it and use a fixed test timeout: the set takes ~8 s.
        baseline=(--baseline run)
        [ $first = 1 ] || baseline=(--baseline skip --timeout 90 --build-timeout 600)
        first=0
        start=$SECONDS
        cargo mutants -f "$f" --all-features -j "$jobs" --copy-target true \
            "${baseline[@]}" --minimum-test-timeout 60 \
            "${test_args[@]}" -o "$out/$name" --no-shuffle --colors never || true
        echo "== pass 1 $f: $((SECONDS - start))s =="
    done
fi

# ---- pass 2 ----------------------------------------------------------------------------
# cargo-mutants cannot run this pass itself: its build step always builds the mutated
# package's own tests (`cargo test --no-run --package=fusebox`), which do not compile
# under --cfg loom. So each missed mutant's diff (from `cargo mutants --list --diff`) is
# applied in a scratch copy of the tree, mutants.out/loom-tree, and scripts/loom.sh runs
# there (its target/loom stays warm between mutants).
if [ "${MUTANTS_LOOM:-1}" != 0 ]; then
    missed=()
    if [ -n "${MUTANTS_LOOM_LIST:-}" ]; then
        mapfile -t missed < "$MUTANTS_LOOM_LIST"
    else
        for f in "${files[@]}"; do
            m="$out/$(mutant_dir "$f")/mutants.out/missed.txt"
            [ -f "$m" ] && mapfile -t -O ${#missed[@]} missed < "$m"
        done
    fi
    if [ ${#missed[@]} -eq 0 ]; then
        echo "== pass 2: no missed mutant to run against loom =="
    else
        start=$SECONDS
        tree="$out/loom-tree"
        res="$out/loom"
        mkdir -p "$tree" "$res"
        : > "$res/caught.txt"
        : > "$res/missed.txt"
        : > "$res/error.txt"
        find "$tree" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
        if [ -n "${MUTANTS_LOOM_REV:-}" ]; then
            # Another commit's tree (e.g. a branch with newer loom models); each mutant's
            # diff is then applied to its files by context (patch), and one whose
            # context is gone is reported as not applicable.
            git archive "$MUTANTS_LOOM_REV" | tar -xf - -C "$tree"
        else
            # The working tree as it is (like cargo-mutants' copy), without build output.
            tar --exclude=./target --exclude=./mutants.out --exclude=./.git \
                --exclude=./fuzz/target --exclude=./loom-tests/target -cf - . | tar -xf - -C "$tree"
        fi
        echo "== pass 2: unmutated baseline =="
        if ! (cd "$tree" && timeout 1800 bash scripts/loom.sh) > "$res/baseline.log" 2>&1; then
            echo "the loom models fail on the unmutated tree: see $res/baseline.log" >&2
            exit 1
        fi
        cargo mutants --list --json --diff "${files[@]/#/--file=}" > "$res/mutants.json"
        for name in "${missed[@]}"; do
            [ -n "$name" ] || continue
            file="${name%%:*}"
            python3 -c 'import json, sys
for m in json.load(open(sys.argv[1])):
    if m["name"] == sys.argv[2]:
        sys.stdout.write(m["diff"])
        break
else:
    sys.exit("no such mutant: " + sys.argv[2])' "$res/mutants.json" "$name" > "$res/current.diff" || {
                echo "$name" >> "$res/error.txt"; continue; }
            cp "$tree/$file" "$res/pristine.rs"
            if ! patch -s --no-backup-if-mismatch -r - "$tree/$file" < "$res/current.diff" > /dev/null; then
                cp "$res/pristine.rs" "$tree/$file"
                echo "$name" >> "$res/error.txt"
                echo "loom: not applicable (the diff does not apply): $name"
                continue
            fi
            log="$res/$(echo "$name" | tr -c 'A-Za-z0-9._-' '_').log"
            t0=$SECONDS
            # 124 is timeout's status: a mutant that makes a model hang counts as caught.
            if (cd "$tree" && timeout 1800 bash scripts/loom.sh) > "$log" 2>&1; then
                echo "$name" >> "$res/missed.txt"; verdict=missed
            else
                echo "$name" >> "$res/caught.txt"; verdict=caught
            fi
            cp "$res/pristine.rs" "$tree/$file"
            echo "loom: $verdict in $((SECONDS - t0))s: $name"
        done
        echo "== pass 2 (loom, ${#missed[@]} mutants): $((SECONDS - start))s =="
    fi
fi

# ---- totals ------------------------------------------------------------------------------
count() { if [ -f "$1" ]; then grep -c . "$1" || true; else echo 0; fi; }
loom_caught="$out/loom/caught.txt"
printf '%-16s %7s %7s %9s %8s %7s\n' file caught missed unviable timeout loom
for f in "${files[@]}"; do
    d="$out/$(basename "$f" .rs)/mutants.out"
    [ -d "$d" ] || continue
    by_loom=0
    [ -f "$loom_caught" ] && by_loom="$(grep -c "^$f:" "$loom_caught" || true)"
    printf '%-16s %7s %7s %9s %8s %7s\n' "$f" \
        "$(($(count "$d/caught.txt") + by_loom))" "$(($(count "$d/missed.txt") - by_loom))" \
        "$(count "$d/unviable.txt")" "$(count "$d/timeout.txt")" "$by_loom"
done
echo "(caught includes the loom column: mutants missed by pass 1 and caught by the loom models)"
