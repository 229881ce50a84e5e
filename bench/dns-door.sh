#!/usr/bin/env bash
# The DNS door against unbound, side by side in one run, in a private network namespace.
#
#   sudo bash bench/dns-door.sh [--duration SECONDS] [--names N] [--rate QPS] [--static]
#
# --static measures the binary as Dockerfile.sidecar ships it: release, Swift runtime linked statically
# (`--scratch-path .build-static`), which maps far fewer pages at rest.
#
# Both caches forward to the same Knot DNS upstream and are warmed with the same N names; then dnsperf
# (-c 2 -q 200) measures each in turn, twice, and a fixed-rate dnsperf run (-Q RATE) gives p50/p99 latency.
# Prints a markdown table with the ratios. Nothing leaves the namespace.
set -euo pipefail

duration=10
names=1000
rate=20000
static=""
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --names) names=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --static) static=1; shift ;;
        *) echo "usage: $0 [--duration S] [--names N] [--rate QPS] [--static]" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
if [ -z "${SIDECACHE_BENCH_INSIDE:-}" ]; then
    if [ "$(id -u)" != 0 ]; then echo "bench/dns-door.sh: needs root for a network namespace" >&2; exit 1; fi
    for tool in dnsperf unbound knotd unshare ip; do
        command -v "$tool" >/dev/null || { echo "missing $tool: run bash .ci/install-deps" >&2; exit 1; }
    done
    if [ -n "$static" ]; then
        (cd "$root" && swift build -c release --static-swift-stdlib --product sidecache --scratch-path .build-static >/dev/null)
        binary="$root/.build-static/release/sidecache"
    else
        (cd "$root" && swift build -c release --product sidecache >/dev/null)
        binary="$root/.build/release/sidecache"
    fi
    exec unshare -n -m --propagation private env SIDECACHE_BENCH_INSIDE=1 SIDECACHE_BENCH_BINARY="$binary" \
        bash "$0" --duration "$duration" --names "$names" --rate "$rate"
fi

ip link set lo up
ip addr add 127.0.0.2/32 dev lo
work=$(mktemp -d /tmp/sidecache-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The upstream: Knot DNS with N names.
write_bench_upstream "$work" "$names" "127.0.0.53@53"
knotd -c "$work/knot.conf" 2>"$work/knot.log" & pids+=($!)

# unbound: 2 threads, SO_REUSEPORT, forwarding to the same upstream (the reference in performance-notes.md).
write_unbound_conf "$work/unbound.conf" "$work" 127.0.0.2 127.0.0.53@53
unbound -d -c "$work/unbound.conf" 2>"$work/unbound.log" & pids+=($!)

mkdir -p "$work/nscd"
"$SIDECACHE_BENCH_BINARY" serve --upstream 127.0.0.53:53 --dns-listen 127.0.0.1:53 --nscd-socket "$work/nscd/socket" \
    --log-level warning --shared-map off \
    2>"$work/sidecache.log" & sidecache_pid=$!
pids+=($sidecache_pid)

wait_for() {
    for _ in $(seq 1 100); do
        dig @"$1" +time=1 +tries=1 +short n0.bench.test A >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server at $1 did not answer" >&2
    exit 1
}
wait_for 127.0.0.53; wait_for 127.0.0.2; wait_for 127.0.0.1

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
idle_rss=$(rss_kib "$sidecache_pid")

for ((i = 0; i < names; i++)); do echo "n$i.bench.test A"; done > "$work/queries"
# Warm both caches with every name.
dnsperf -s 127.0.0.1 -d "$work/queries" -n 1 -c 2 -q 200 >/dev/null 2>&1
dnsperf -s 127.0.0.2 -d "$work/queries" -n 1 -c 2 -q 200 >/dev/null 2>&1

qps() {
    dnsperf -s "$1" -d "$work/queries" -l "$duration" -c 2 -q 200 2>/dev/null | awk '/Queries per second/ { print $4 }'
}
latency() {
    # Fixed load; -v prints one line per answer ending in its latency in seconds.
    dnsperf -s "$1" -d "$work/queries" -l 5 -c 2 -q 200 -Q "$rate" -v 2>/dev/null \
        | awk '$1 == ">" { print $NF }' | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a n/a"; exit }
               printf "%.0f %.0f\n", v[int(NR * 0.50) + 1] * 1e6, v[int(NR * 0.99) + 1] * 1e6 }'
}

s1=$(qps 127.0.0.1); u1=$(qps 127.0.0.2); s2=$(qps 127.0.0.1); u2=$(qps 127.0.0.2)
read -r s_p50 s_p99 < <(latency 127.0.0.1)
read -r u_p50 u_p99 < <(latency 127.0.0.2)
busy_rss=$(rss_kib "$sidecache_pid")

s_qps=$(awk -v a="$s1" -v b="$s2" 'BEGIN { printf "%.0f", (a + b) / 2 }')
u_qps=$(awk -v a="$u1" -v b="$u2" 'BEGIN { printf "%.0f", (a + b) / 2 }')
ratio=$(awk -v a="$s_qps" -v b="$u_qps" 'BEGIN { printf "%.2f", a / b }')

echo "## DNS door vs unbound ($(date -u +%Y-%m-%d), $names cached names, dnsperf -c 2 -q 200 -l $duration, two runs each, $(basename "$(dirname "$(dirname "$SIDECACHE_BENCH_BINARY")")"))"
echo
echo "| server | QPS (runs) | p50 us at $rate qps | p99 us at $rate qps | RSS |"
echo "|---|---|---|---|---|"
echo "| sidecache | $s_qps ($s1, $s2) | $s_p50 | $s_p99 | idle $((idle_rss / 1024)) MiB, after $((busy_rss / 1024)) MiB |"
echo "| unbound 2 threads | $u_qps ($u1, $u2) | $u_p50 | $u_p99 | |"
echo
echo "QPS ratio sidecache/unbound: $ratio"
