#!/usr/bin/env bash
# Run the performance race (benches/race.rs) and regenerate BENCHMARKS.md from it.
#
#   bash scripts/bench-report.sh            # full run (about 15 minutes)
#   bash scripts/bench-report.sh --quick    # about a minute (criterion --quick)
#   bash scripts/bench-report.sh --report-only
#       # rewrite BENCHMARKS.md from the last run's saved results (no new
#       # measurement): after a change to scripts/bench_report.py
#
# The bench writes into a fresh criterion directory (target/race-criterion, via
# CRITERION_HOME), so BENCHMARKS.md is built from this run's medians only. Then
# scripts/instructions.sh counts instructions per operation under callgrind, and
# scripts/bench_report.py writes BENCHMARKS.md (machine, command, medians, ratios,
# scaling, the targets, instruction counts). BENCHMARKS.md is generated: do not
# edit it by hand. The machine should be otherwise idle: the load average before
# and after the run is recorded in the report.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
report_only=0
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --report-only) report_only=1 ;;
        *) echo "usage: $0 [--quick | --report-only]" >&2; exit 2 ;;
    esac
done

export CRITERION_HOME="$PWD/target/race-criterion"
instr_tsv=target/race-instructions.tsv
meta=target/race-meta.txt

write_report() {
    # The run's facts (command, commit measured, load) were saved by the run.
    python3 scripts/bench_report.py "$CRITERION_HOME" "$instr_tsv" BENCHMARKS.md \
        --command "$(sed -n 1p "$meta")" --commit "$(sed -n 2p "$meta")" \
        --load-before "$(sed -n 3p "$meta")" --load-after "$(sed -n 4p "$meta")" \
        --generated "$(sed -n 5p "$meta")"
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

rm -rf "$CRITERION_HOME" "$meta"
mkdir -p target
commit=$(git rev-parse --short HEAD)
if [ -n "$(git status --porcelain --untracked-files=no -- src benches examples Cargo.toml Cargo.lock)" ]; then
    commit="$commit (with uncommitted changes)"
fi

cargo bench -p fusebox-benches --bench race --features tower,registry,http --no-run -q
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "==> $command   (load average: $load_before)"
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
    "$(date -u '+%Y-%m-%d %H:%M UTC')" > "$meta"
write_report
