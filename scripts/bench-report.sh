#!/usr/bin/env bash
# Run the performance race (benches/race.rs) and regenerate BENCHMARKS.md from it.
#
#   bash scripts/bench-report.sh            # full run (about 30 minutes)
#   bash scripts/bench-report.sh --quick    # a few minutes (criterion --quick)
#   bash scripts/bench-report.sh --force    # run (and write) even on a loaded machine
#   bash scripts/bench-report.sh --report-only
#       # rewrite BENCHMARKS.md from the last run's saved results (no new
#       # measurement): after a change to scripts/bench_report.py
#
# The bench writes into a fresh criterion directory (target/race-criterion, via
# CRITERION_HOME), so BENCHMARKS.md is built from this run's medians only. Then
# scripts/instructions.sh counts instructions per operation under callgrind, and
# scripts/bench_report.py writes BENCHMARKS.md (machine, command, commit, load,
# medians, ratios, scaling, the targets, instruction counts). BENCHMARKS.md is
# generated: do not edit it by hand.
#
# The machine should be otherwise idle. The 1-minute load average is read after
# the bench is built, just before the run; above LOAD_LIMIT (1.5) the script
# waits up to LOAD_WAIT seconds (180) for it to settle (the build's own load
# decays), then refuses to run, and so to write BENCHMARKS.md, unless --force is
# given: a forced run's report says it was forced, and at what load. The load
# average before and after the run and the exact commit measured (full hash,
# "-dirty" if tracked files had uncommitted changes) are saved with the run
# (target/race-meta.txt) and written into BENCHMARKS.md. --report-only applies
# the same limit to the saved run's load (--force overrides it there too).
set -euo pipefail
cd "$(dirname "$0")/.."

LOAD_LIMIT=${LOAD_LIMIT:-1.5}
LOAD_WAIT=${LOAD_WAIT:-180}

quick=0
report_only=0
force=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --report-only) report_only=1 ;;
        --force) force=1 ;;
        *) echo "usage: $0 [--quick] [--force] | --report-only [--force]" >&2; exit 2 ;;
    esac
done

export CRITERION_HOME="$PWD/target/race-criterion"
instr_tsv=target/race-instructions.tsv
meta=target/race-meta.txt

# Whether load average $1 (its first field: the 1-minute one) is above the limit.
over_limit() {
    awk -v l="${1%% *}" -v lim="$LOAD_LIMIT" 'BEGIN { exit !(l + 0 > lim + 0) }'
}

write_report() {
    # The run's facts, saved by the run, one a line: command, commit measured,
    # load before, load after, when it ended, the 1-minute load a forced run
    # started at (empty if not forced), then the machine: CPU model, cores,
    # kernel, compiler. (A run saved before a line existed lacks it: the report
    # then reads the machine as it is now.)
    local forced_at extra=() line=7 v opt
    forced_at=$(sed -n 6p "$meta")
    if [ -z "$forced_at" ] && over_limit "$(sed -n 3p "$meta")"; then
        if [ "$force" = 1 ]; then
            forced_at=$(sed -n 3p "$meta" | cut -d' ' -f1)
        else
            echo "the saved run started at load $(sed -n 3p "$meta") (1-minute above $LOAD_LIMIT):" \
                "not writing BENCHMARKS.md (--force to write it anyway, marked as forced)" >&2
            exit 1
        fi
    fi
    [ -z "$forced_at" ] || extra+=(--forced-at "$forced_at" --load-limit "$LOAD_LIMIT")
    for opt in --cpu --nproc --kernel --rustc; do
        v=$(sed -n "${line}p" "$meta")
        [ -z "$v" ] || extra+=("$opt" "$v")
        line=$((line + 1))
    done
    python3 scripts/bench_report.py "$CRITERION_HOME" "$instr_tsv" BENCHMARKS.md \
        --command "$(sed -n 1p "$meta")" --commit "$(sed -n 2p "$meta")" \
        --load-before "$(sed -n 3p "$meta")" --load-after "$(sed -n 4p "$meta")" \
        --generated "$(sed -n 5p "$meta")" "${extra[@]}"
}

if [ "$report_only" = 1 ]; then
    [ -f "$meta" ] && [ -d "$CRITERION_HOME" ] || {
        echo "no saved run (run scripts/bench-report.sh first)" >&2
        exit 1
    }
    write_report
    exit 0
fi

if [ "$quick" = 1 ]; then
    bench_args=(--quick --measurement-time 1 --noplot)
else
    bench_args=(--noplot)
fi
command="cargo bench -p fusebox-benches --bench race --features tower,registry,http -- ${bench_args[*]}"

# The exact commit measured: the full hash, "-dirty" if any tracked file differs
# from it (untracked files do not count).
commit=$(git rev-parse HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    commit="$commit-dirty"
fi

cargo bench -p fusebox-benches --bench race --features tower,registry,http --no-run -q

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
waited=0
while over_limit "$load_before" && [ "$force" = 0 ] && [ "$waited" -lt "$LOAD_WAIT" ]; do
    echo "load average $load_before (1-minute above $LOAD_LIMIT): waiting for it to settle ($waited/$LOAD_WAIT s)" >&2
    sleep 15
    waited=$((waited + 15))
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
done
forced_at=""
if over_limit "$load_before"; then
    if [ "$force" = 0 ]; then
        echo "load average $load_before: the 1-minute load is above $LOAD_LIMIT, the machine is busy." >&2
        echo "Not running the race nor writing BENCHMARKS.md (--force to run anyway; the report will say so)." >&2
        exit 1
    fi
    forced_at=${load_before%% *}
    echo "load average $load_before: above $LOAD_LIMIT, running anyway (--force); the report will say so" >&2
fi

rm -rf "$CRITERION_HOME" "$meta"
mkdir -p target
echo "==> $command   (load average: $load_before; commit $commit)"
if ! cargo bench -p fusebox-benches --bench race --features tower,registry,http -- "${bench_args[@]}" > target/race.log 2>&1; then
    tail -n 40 target/race.log >&2
    echo "the race bench failed (full log: target/race.log)" >&2
    exit 1
fi
grep -cE '^ +time:' target/race.log | sed 's/$/ benchmarks measured (log: target\/race.log)/'
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "==> instructions per operation (callgrind)"
if command -v valgrind >/dev/null; then
    bash scripts/instructions.sh --tsv | tee "$instr_tsv"
else
    echo "valgrind not installed: no instruction counts" >&2
    : > "$instr_tsv"
fi

printf '%s\n' "$command" "$commit" "$load_before" "$load_after" \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$forced_at" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(nproc)" \
    "$(uname -r)" "$(rustc -V)" > "$meta"
write_report
