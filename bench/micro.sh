#!/usr/bin/env bash
# Micro-benchmarks of the codec and the cache hit path, plus heap allocations per operation.
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

# Allocation counts: an LD_PRELOAD counter (bench/clients/malloc_count.c) around loops of 0 and N iterations.
# (valgrind cannot read the Swift toolchain's debug information on this machine.)
counter=$(mktemp -d)/malloc_count.so
gcc -O2 -shared -fPIC -o "$counter" bench/clients/malloc_count.c
allocs() {
    LD_PRELOAD="$counter" "$bench" "alloc-$1" "$2" 2>&1 | awk '/^allocations/ { print $2 }'
}
n=10000
echo "heap allocations per operation ($n iterations, LD_PRELOAD counter):"
for loop in view decode hit door-hit; do
    base=$(allocs "$loop" 0)
    with=$(allocs "$loop" "$n")
    awk -v l="$loop" -v a="$base" -v b="$with" -v n="$n" 'BEGIN { printf "  %-9s %6.2f\n", l, (b - a) / n }'
done
echo "  (view: header+question in place; decode: a full DNSMessage; hit: an answer as an array;"
echo "   door-hit: packet -> key -> hit -> render into a reused buffer; the DNS door adds its send buffer)"
