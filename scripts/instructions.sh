#!/usr/bin/env bash
# Instructions per operation on fusebox's hot paths, counted by callgrind.
#
# Builds examples/instructions.rs in release and runs each path under
# `valgrind --tool=callgrind` for N1 and N2 iterations; the instructions per
# operation are (count(N2) - count(N1)) / (N2 - N1), so start-up and shutdown cost
# (and the breaker's construction) cancel. Each iteration includes the loop's own
# increment and branch and a `black_box` store.
#
# Usage: [FEATURES=tracing,metrics] bash scripts/instructions.sh [PATH...]   (default: floor checked healthy owned healthy-after-failure fail guard mix1 mix5 mix1-raw clock budget)
# Output: one line per path, "PATH  <instructions per op>", and with --tsv the
# same as tab-separated values (used by scripts/bench-report.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

N1=${N1:-1000000}
N2=${N2:-3000000}
tsv=0
paths=()
for arg in "$@"; do
    case "$arg" in
        --tsv) tsv=1 ;;
        *) paths+=("$arg") ;;
    esac
done
[ ${#paths[@]} -gt 0 ] || paths=(floor checked healthy owned healthy-after-failure fail guard mix1 mix5 mix1-raw clock budget)

command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
# FEATURES: build with these cargo features (to check that an integration adds
# nothing to the healthy path).
cargo build --release --example instructions -q ${FEATURES:+--features "$FEATURES"}
bin=target/release/examples/instructions

# The "Collected" line of callgrind's summary: total instructions executed.
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
        | sed -n 's/^==[0-9]*== Collected : \([0-9]*\).*/\1/p'
}

[ "$tsv" = 1 ] || printf '%-22s %12s   (N1=%d, N2=%d)\n' path 'instr/op' "$N1" "$N2"
for p in "${paths[@]}"; do
    c1=$(count "$p" "$N1")
    c2=$(count "$p" "$N2")
    per=$(python3 -c "print(f'{($c2 - $c1) / ($N2 - $N1):.2f}')")
    if [ "$tsv" = 1 ]; then
        printf '%s\t%s\n' "$p" "$per"
    else
        printf '%-22s %12s\n' "$p" "$per"
    fi
done
