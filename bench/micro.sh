#!/usr/bin/env bash
# Micro-benchmarks of the codec and the cache hit path, plus heap allocations per operation counted with valgrind.
#
#   bash bench/micro.sh [ITERATIONS]
#
# Rates are wall-clock on this machine (they drift by +-20% here: compare runs made back to back). Allocation
# counts are exact: valgrind's heap total with N iterations minus with 0, divided by N.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
iterations=${1:-2000000}
cd "$root"
swift build -c release --product sidecache-bench >/dev/null
bench=.build/release/sidecache-bench

"$bench" codec "$iterations"
"$bench" cache "$iterations"
"$bench" memory

if command -v valgrind >/dev/null; then
    allocs() {
        valgrind --tool=memcheck --leak-check=no "$bench" "alloc-$1" "$2" 2>&1 \
            | awk '/total heap usage/ { gsub(",", "", $5); print $5 }'
    }
    n=10000
    echo "allocations per operation (valgrind, $n iterations):"
    for loop in view decode hit door-hit; do
        base=$(allocs "$loop" 0)
        with=$(allocs "$loop" "$n")
        awk -v l="$loop" -v a="$base" -v b="$with" -v n="$n" 'BEGIN { printf "  %-9s %6.2f\n", l, (b - a) / n }'
    done
else
    echo "valgrind not installed: allocation counts skipped"
fi
