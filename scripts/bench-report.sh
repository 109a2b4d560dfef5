#!/usr/bin/env bash
# Run the performance race (benches/race.rs) and regenerate BENCHMARKS.md from it.
#
#   bash scripts/bench-report.sh            # full run (about 15 minutes)
#   bash scripts/bench-report.sh --quick    # about a minute (criterion --quick)
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
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
    esac
done

if [ "$quick" = 1 ]; then
    bench_args=(--quick --measurement-time 1 --noplot)
else
    bench_args=(--noplot)
fi
command="cargo bench --bench race -- ${bench_args[*]}"

export CRITERION_HOME="$PWD/target/race-criterion"
rm -rf "$CRITERION_HOME"
mkdir -p target

cargo bench --bench race --no-run -q
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "==> $command   (load average: $load_before)"
if ! cargo bench --bench race -- "${bench_args[@]}" > target/race.log 2>&1; then
    tail -n 40 target/race.log >&2
    echo "the race bench failed (full log: target/race.log)" >&2
    exit 1
fi
grep -cE '^ +time:' target/race.log | sed 's/$/ benchmarks measured (log: target\/race.log)/'
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "==> instructions per operation (callgrind)"
instr_tsv=target/race-instructions.tsv
if command -v valgrind >/dev/null; then
    bash scripts/instructions.sh --tsv | tee "$instr_tsv"
else
    echo "valgrind not installed: no instruction counts" >&2
    : > "$instr_tsv"
fi

python3 scripts/bench_report.py "$CRITERION_HOME" "$instr_tsv" BENCHMARKS.md \
    --command "$command" --load-before "$load_before" --load-after "$load_after"
